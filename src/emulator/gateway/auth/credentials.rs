//! The keys the emulator accepts: any well-formed key (the default, as local AWS stand-ins do), or
//! exactly the ones in a `--credentials FILE`, each with its secret and, for temporary
//! credentials, its session token and expiry.

use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;
use time::OffsetDateTime;

/// One access key the emulator knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownKey {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Temporary credentials carry a token, which must come with every request.
    pub session_token: Option<String>,
    /// After this instant the session token is refused with ExpiredTokenException.
    pub expires_at: Option<OffsetDateTime>,
    /// The principal, as IAM denials name it.
    pub arn: String,
}

/// Which keys pass. Known keys always have their signatures verified; with `strict` (a
/// `--credentials` file) every other key is refused, else it passes with only the signature's
/// form, service, region and clock checked, as local AWS stand-ins do.
#[derive(Debug, Clone, Default)]
pub struct CredentialSet {
    known: HashMap<String, KnownKey>,
    strict: bool,
}

/// What the set says of an access key.
pub enum Lookup<'a> {
    AnyKey,
    Unknown,
    Known(&'a KnownKey),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntry {
    access_key_id: String,
    secret_access_key: String,
    #[serde(default)]
    session_token: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    expires_at: Option<OffsetDateTime>,
    /// The IAM user name (default: the access key id) or a full principal ARN.
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    arn: Option<String>,
}

/// A credentials file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsFileError {
    #[error("--credentials {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("--credentials {path}: not a JSON list of {{\"access_key_id\", \"secret_access_key\", optional \"session_token\", \"expires_at\" (RFC 3339), \"user\" or \"arn\"}}: {source}")]
    Json {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("--credentials {path}: no keys in it; every request would be refused")]
    Empty { path: String },
}

impl CredentialSet {
    /// Read a `--credentials` file: a JSON list of keys.
    pub fn load(path: &Path, account_id: &str) -> Result<Self, CredentialsFileError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| CredentialsFileError::Read {
            path: shown.clone(),
            source,
        })?;
        let entries: Vec<KeyEntry> =
            serde_json::from_str(&text).map_err(|source| CredentialsFileError::Json {
                path: shown.clone(),
                source,
            })?;
        if entries.is_empty() {
            return Err(CredentialsFileError::Empty { path: shown });
        }
        let keys = entries
            .into_iter()
            .map(|entry| {
                let arn = entry.arn.unwrap_or_else(|| {
                    let user = entry.user.as_deref().unwrap_or(&entry.access_key_id);
                    format!("arn:aws:iam::{account_id}:user/{user}")
                });
                let key = KnownKey {
                    access_key_id: entry.access_key_id,
                    secret_access_key: entry.secret_access_key,
                    session_token: entry.session_token,
                    expires_at: entry.expires_at,
                    arn,
                };
                (key.access_key_id.clone(), key)
            })
            .collect();
        Ok(CredentialSet {
            known: keys,
            strict: true,
        })
    }

    /// Any key passes.
    pub fn any_key() -> Self {
        Self::default()
    }

    /// Verify `key`'s signatures too (the demo's own key).
    pub fn with_key(mut self, key: KnownKey) -> Self {
        self.known.insert(key.access_key_id.clone(), key);
        self
    }

    /// Whether the gateway has this key's secret, and so verifies its signatures.
    pub fn knows(&self, access_key_id: &str) -> bool {
        self.known.contains_key(access_key_id)
    }

    pub fn lookup(&self, access_key_id: &str) -> Lookup<'_> {
        match self.known.get(access_key_id) {
            Some(key) => Lookup::Known(key),
            None if self.strict => Lookup::Unknown,
            None => Lookup::AnyKey,
        }
    }

    pub fn describe(&self) -> String {
        match (self.strict, self.known.len()) {
            (true, n) => format!("only the {n} key(s) of --credentials, signatures verified"),
            (false, 0) => "any key (signature form, service, region and clock checked)".into(),
            (false, n) => format!("any key ({n} known, whose signatures are verified)"),
        }
    }
}
