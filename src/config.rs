//! Named environments: a TOML file, overridden by `WSDASH_*` environment variables and flags.
//!
//! ```toml
//! default_env = "prod"
//! [env.prod]
//! region = "eu-west-1"
//! table = "ws_connections"
//! endpoint = "https://abc123.execute-api.eu-west-1.amazonaws.com/production"
//! ```

use crate::store::schema::SchemaOverrides;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `api_rate = 500` or `api_rate = "unlimited"`.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum RateSetting {
    PerSecond(f64),
    Word(String),
}

/// One environment as written in the file; every key is optional.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EnvironmentFile {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub table: Option<String>,
    /// Where the connection table lives when it is not DynamoDB: `postgres://…`.
    pub store: Option<String>,
    /// Management API endpoint (the stage URL).
    pub endpoint: Option<String>,
    pub dynamodb_endpoint: Option<String>,
    pub readonly: Option<bool>,
    pub color: Option<String>,
    /// Management API calls per second at most (`probe_rate` is its old name).
    #[serde(alias = "probe_rate")]
    pub api_rate: Option<RateSetting>,
    /// The ceiling of the operator's own pushes and disconnects (default 2,000/s against AWS).
    pub operator_rate: Option<RateSetting>,
    pub probe_concurrency: Option<usize>,
    pub scan_segments: Option<u32>,
    pub schema: Option<SchemaOverrides>,
    /// The CloudWatch Logs group the stage's access log goes to (the details view reads it).
    pub log_group: Option<String>,
    /// Record every dashboard session of this environment to this file (`wsdash replay`).
    pub record: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub default_env: Option<String>,
    #[serde(default)]
    pub env: BTreeMap<String, EnvironmentFile>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {message}\n  fix the key named above; see assets/wsdash.example.toml for every key")]
    Invalid { path: PathBuf, message: String },
    #[error("environment {name:?} is not in {path} (known: {known}); add an [env.{name}] section or pick another with --env")]
    UnknownEnvironment {
        name: String,
        path: PathBuf,
        known: String,
    },
    #[error("{0}")]
    Missing(String),
    #[error("{0}")]
    BadEndpoint(String),
}

/// Where the config file lives unless `--config` says otherwise.
pub fn default_config_path() -> PathBuf {
    dirs::config_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("wsdash")
        .join("config.toml")
}

/// Where the audit log goes unless `--audit-log` says otherwise.
pub fn default_audit_path() -> PathBuf {
    dirs::state_dir()
        .or_else(dirs::data_local_dir)
        .unwrap_or_else(|| PathBuf::from("."))
        .join("wsdash")
        .join("audit.jsonl")
}

/// Read the config file; a missing file at the default location is an empty config.
pub fn load_config(path: &Path, explicit: bool) -> Result<ConfigFile, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {
            return Ok(ConfigFile::default())
        }
        Err(source) => {
            return Err(ConfigError::Unreadable {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    parse_config(&text, path)
}

pub fn parse_config(text: &str, path: &Path) -> Result<ConfigFile, ConfigError> {
    toml::from_str(text).map_err(|e| ConfigError::Invalid {
        path: path.to_path_buf(),
        message: e.to_string().trim().replace('\n', "\n  "),
    })
}

/// Values given on the command line or in `WSDASH_*` variables (they win over the file).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub region: Option<String>,
    pub profile: Option<String>,
    pub table: Option<String>,
    pub store_url: Option<String>,
    pub endpoint: Option<String>,
    pub dynamodb_endpoint: Option<String>,
    pub readonly: bool,
    /// `--rate`: over the file's `api_rate`.
    pub rate: Option<crate::flags::Ceiling>,
}

/// Everything an operation needs to know about where it runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Environment {
    pub name: String,
    pub region: Option<String>,
    pub profile: Option<String>,
    pub table: Option<String>,
    /// The connection store when it is not DynamoDB (`postgres://…`); `None`: DynamoDB.
    pub store_url: Option<String>,
    pub endpoint: Option<String>,
    /// Said once when the endpoint given was not the stage URL itself (the console's
    /// @connections or WebSocket URL).
    pub endpoint_note: Option<String>,
    pub dynamodb_endpoint: Option<String>,
    pub readonly: bool,
    pub color: String,
    /// Management API calls per second at most; None: no ceiling.
    pub api_rate: Option<f64>,
    /// The operator's own pushes and disconnects, per second at most; None: no ceiling.
    pub operator_rate: Option<f64>,
    pub probe_concurrency: usize,
    pub scan_segments: u32,
    pub schema: SchemaOverrides,
    /// The stage's access-log group, when the environment names one.
    pub log_group: Option<String>,
    /// Where its dashboard sessions are recorded, if anywhere.
    pub record: Option<std::path::PathBuf>,
}

impl Environment {
    pub fn table(&self) -> Result<&str, ConfigError> {
        self.table.as_deref().ok_or_else(|| {
            ConfigError::Missing(format!(
                "no connection table for environment {:?}: pass --table NAME, set WSDASH_TABLE, or add table = \"...\" to its [env] section",
                self.name
            ))
        })
    }

    pub fn endpoint(&self) -> Result<&str, ConfigError> {
        self.endpoint.as_deref().ok_or_else(|| {
            ConfigError::Missing(format!(
                "no management endpoint for environment {:?}: pass --endpoint https://API_ID.execute-api.REGION.amazonaws.com/STAGE, set WSDASH_ENDPOINT, or add endpoint = \"...\" to its [env] section",
                self.name
            ))
        })
    }
}

/// Safe defaults for a shared production account.
/// The default ceiling against AWS. Management API calls count against the account's
/// 10,000 requests/s shared by every API in the region (production pushes included): wsdash
/// takes at most 5% of it unless told otherwise.
pub const DEFAULT_API_RATE: f64 = 500.0;
/// The default ceiling of the operator's own pushes and disconnects against AWS: 20% of the
/// account's 10,000 requests/s, with AIMD on 429 protecting production traffic.
pub const DEFAULT_OPERATOR_RATE: f64 = 2000.0;
pub const DEFAULT_PROBE_CONCURRENCY: usize = 16;

/// Pick the environment (`--env`, else the file's default, else the flags alone) and apply overrides.
pub fn resolve(
    file: &ConfigFile,
    path: &Path,
    name: Option<&str>,
    overrides: &Overrides,
) -> Result<Environment, ConfigError> {
    let chosen = name
        .map(str::to_string)
        .or_else(|| file.default_env.clone());
    let (name, base) = match chosen {
        Some(name) => match file.env.get(&name) {
            Some(env) => (name, env.clone()),
            None => {
                return Err(ConfigError::UnknownEnvironment {
                    known: if file.env.is_empty() {
                        "none".into()
                    } else {
                        file.env.keys().cloned().collect::<Vec<_>>().join(", ")
                    },
                    name,
                    path: path.to_path_buf(),
                })
            }
        },
        None => ("default".to_string(), EnvironmentFile::default()),
    };
    let invalid = |message: String| ConfigError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    let rate_setting = |key: &str, setting: &Option<RateSetting>| {
        let given = match setting {
            None => return Ok(None),
            Some(RateSetting::PerSecond(rate)) => rate.to_string(),
            Some(RateSetting::Word(word)) => word.clone(),
        };
        crate::flags::ceiling(&given).map(Some).map_err(|_| {
            invalid(format!(
                "env.{name}.{key} must be a number above 0 (calls per second) or \"unlimited\", got {given:?}"
            ))
        })
    };
    let file_rate = rate_setting("api_rate", &base.api_rate)?;
    let file_operator_rate = rate_setting("operator_rate", &base.operator_rate)?;
    if base.probe_concurrency == Some(0) {
        return Err(invalid(format!(
            "env.{name}.probe_concurrency must be at least 1, got 0"
        )));
    }
    if base.scan_segments == Some(0) {
        return Err(invalid(format!(
            "env.{name}.scan_segments must be at least 1, got 0"
        )));
    }
    let store_url = overrides.store_url.clone().or(base.store);
    if let Some(url) = &store_url {
        check_store_url(url)?;
    }
    let table = overrides.table.clone().or(base.table);
    if let (Some(table), None) = (&table, &store_url) {
        check_table_name(table)?;
    }
    let given_endpoint = overrides.endpoint.clone().or(base.endpoint);
    let stage = given_endpoint
        .as_deref()
        .map(|url| {
            crate::management::endpoint::stage_url(url, "--endpoint (management endpoint)")
                .map_err(|e| ConfigError::BadEndpoint(e.to_string()))
        })
        .transpose()?;
    let endpoint_note = stage.as_ref().and_then(|stage| {
        stage
            .rewritten_from
            .map(|from| format!("{from} given: using its stage URL {}", stage.url))
    });
    let endpoint = stage.map(|stage| stage.url);
    let dynamodb_endpoint = overrides
        .dynamodb_endpoint
        .clone()
        .or(base.dynamodb_endpoint);
    if let Some(url) = &dynamodb_endpoint {
        check_endpoint_url(url, "--dynamodb-endpoint")?;
    }
    // Loopback endpoints (the emulator, moto) share no quota with anyone: no ceiling.
    let api_rate = match overrides.rate.or(file_rate) {
        Some(crate::flags::Ceiling(rate)) => rate,
        None if endpoint.as_deref().is_some_and(is_local_endpoint) => None,
        None => Some(DEFAULT_API_RATE),
    };
    // `--rate` is the operator's word for every call; else the operator's own ceiling.
    let operator_rate = match overrides.rate.or(file_operator_rate) {
        Some(crate::flags::Ceiling(rate)) => rate,
        None if endpoint.as_deref().is_some_and(is_local_endpoint) => None,
        None => Some(DEFAULT_OPERATOR_RATE),
    };
    Ok(Environment {
        region: overrides.region.clone().or(base.region),
        profile: overrides.profile.clone().or(base.profile),
        table,
        store_url,
        endpoint,
        endpoint_note,
        dynamodb_endpoint,
        readonly: overrides.readonly || base.readonly.unwrap_or(false),
        color: base.color.unwrap_or_else(|| {
            if name.contains("prod") {
                "red".into()
            } else {
                "cyan".into()
            }
        }),
        api_rate,
        operator_rate,
        probe_concurrency: base.probe_concurrency.unwrap_or(DEFAULT_PROBE_CONCURRENCY),
        scan_segments: base.scan_segments.unwrap_or(4),
        schema: base.schema.unwrap_or_default(),
        log_group: base.log_group,
        record: base.record,
        name,
    })
}

/// A store URL wsdash can open: PostgreSQL's (`postgres://`, `postgresql://`) or Redis's
/// (`redis://`, `rediss://` for TLS).
fn check_store_url(url: &str) -> Result<(), ConfigError> {
    let scheme = url.split_once("://").map(|(scheme, _)| scheme);
    match scheme {
        Some("postgres" | "postgresql" | "redis" | "rediss") => Ok(()),
        _ => Err(ConfigError::BadEndpoint(format!(
            "--store-url {}: not a store URL; use postgres://USER:PASSWORD@HOST:PORT/DATABASE or redis://[:PASSWORD@]HOST:PORT[/DB] (rediss:// for TLS), or leave it out for DynamoDB",
            crate::store::postgres_connect::redact(url)
        ))),
    }
}

/// DynamoDB table names: 3 to 255 of `a-z A-Z 0-9 _ - .` (checked here so a typo reads as a
/// configuration mistake instead of an SDK validation dump).
fn check_table_name(table: &str) -> Result<(), ConfigError> {
    let valid_chars = table
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if (3..=255).contains(&table.len()) && valid_chars {
        return Ok(());
    }
    Err(ConfigError::Missing(format!(
        "--table {table:?} is not a DynamoDB table name: use 3 to 255 letters, digits, '_', '-' or '.' (e.g. --table ws_connections)"
    )))
}

/// An endpoint must be an http(s) URL with a host; anything else fails here, not in the SDK.
fn check_endpoint_url(url: &str, what: &str) -> Result<(), ConfigError> {
    match url::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() => {
            Ok(())
        }
        _ => Err(ConfigError::Missing(format!(
            "{what} {url:?} is not an http(s) URL; expected e.g. https://abc123.execute-api.eu-west-1.amazonaws.com/production or http://127.0.0.1:4510/production"
        ))),
    }
}

/// Loopback endpoints (the emulator, moto, DynamoDB Local): no AWS credentials or quota involved.
pub fn is_local_endpoint(endpoint: &str) -> bool {
    let Ok(url) = url::Url::parse(endpoint) else {
        return false;
    };
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = include_str!("../assets/wsdash.example.toml");

    #[test]
    fn the_example_config_parses_and_flags_win() {
        let file = parse_config(EXAMPLE, Path::new("example.toml")).unwrap();
        let env = resolve(
            &file,
            Path::new("x"),
            Some("prod"),
            &Overrides {
                table: Some("other".into()),
                ..Overrides::default()
            },
        )
        .unwrap();
        assert_eq!(env.table.as_deref(), Some("other"));
        assert!(env.readonly);
        assert_eq!(env.color, "red");
    }

    #[test]
    fn bad_config_names_the_file_and_the_key() {
        let err = parse_config("[env.prod]\ntabel = \"x\"\n", Path::new("/etc/w.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/etc/w.toml") && err.contains("tabel"),
            "{err}"
        );
        let err = resolve(
            &ConfigFile::default(),
            Path::new("/etc/w.toml"),
            Some("prod"),
            &Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("prod") && err.contains("[env.prod]"), "{err}");
    }

    #[test]
    fn loopback_endpoints_are_local_in_every_spelling() {
        for url in [
            "http://127.0.0.1:4510/production",
            "http://localhost:8000",
            "http://[::1]:4510/production",
            "http://127.0.0.2:9",
        ] {
            assert!(is_local_endpoint(url), "{url}");
        }
        for url in [
            "https://abc.execute-api.eu-west-1.amazonaws.com/production",
            "http://127.0.0.1.example.com/",
            "not a url",
        ] {
            assert!(!is_local_endpoint(url), "{url}");
        }
    }

    #[test]
    fn bad_values_are_refused_with_the_value_named() {
        let resolve_with = |overrides: Overrides, file: &str| {
            let file = parse_config(file, Path::new("c.toml")).unwrap();
            resolve(&file, Path::new("c.toml"), None, &overrides)
                .map(|_| ())
                .unwrap_err()
                .to_string()
        };
        let err = resolve_with(
            Overrides {
                endpoint: Some("not a url".into()),
                ..Overrides::default()
            },
            "",
        );
        assert!(
            err.contains("\"not a url\"") && err.contains("--endpoint"),
            "{err}"
        );
        let err = resolve_with(
            Overrides {
                table: Some(String::new()),
                ..Overrides::default()
            },
            "",
        );
        assert!(err.contains("--table \"\""), "{err}");
        for (value, key) in [
            ("probe_rate = nan", "api_rate"),
            ("api_rate = -1.0", "api_rate"),
            ("api_rate = \"fast\"", "api_rate"),
            ("probe_concurrency = 0", "probe_concurrency"),
        ] {
            let err = resolve_with(
                Overrides::default(),
                &format!("default_env = \"e\"\n[env.e]\n{value}\n"),
            );
            assert!(
                err.contains(key) && err.contains("c.toml"),
                "{value}: {err}"
            );
        }
    }

    #[test]
    fn the_rate_ceiling_is_unlimited_on_loopback_and_a_share_of_the_quota_on_aws() {
        let path = Path::new("c.toml");
        let rate = |text: &str, overrides: Overrides| {
            let file = parse_config(text, path).expect("config");
            resolve(&file, path, None, &overrides)
                .expect("env")
                .api_rate
        };
        let aws = "https://abc123.execute-api.eu-west-1.amazonaws.com/production";
        let endpoint = |url: &str| Overrides {
            endpoint: Some(url.into()),
            ..Overrides::default()
        };
        assert_eq!(rate("", endpoint(aws)), Some(DEFAULT_API_RATE));
        assert_eq!(rate("", endpoint("http://127.0.0.1:4510/production")), None);
        let file = "default_env = \"e\"\n[env.e]\napi_rate = 80\n";
        assert_eq!(rate(file, endpoint(aws)), Some(80.0));
        let old_name = "default_env = \"e\"\n[env.e]\nprobe_rate = 50.0\n";
        assert_eq!(rate(old_name, endpoint(aws)), Some(50.0));
        let unlimited = "default_env = \"e\"\n[env.e]\napi_rate = \"unlimited\"\n";
        assert_eq!(rate(unlimited, endpoint(aws)), None);
        let flag = Overrides {
            rate: Some(crate::flags::Ceiling(Some(7.0))),
            ..endpoint("http://127.0.0.1:4510/production")
        };
        assert_eq!(rate(file, flag), Some(7.0));
    }

    #[test]
    fn store_urls_are_postgres_or_redis_and_others_say_which_are() {
        for url in [
            "postgres://app@db:5432/app",
            "postgresql://db/app",
            "redis://cache:6379/0",
            "rediss://:secret@cache:6380",
        ] {
            assert!(check_store_url(url).is_ok(), "{url}");
        }
        let other = check_store_url("mysql://:secret@db/app")
            .unwrap_err()
            .to_string();
        assert!(
            other.contains("postgres://")
                && other.contains("redis://")
                && !other.contains("secret"),
            "{other}"
        );
    }

    #[test]
    fn missing_table_says_how_to_set_it() {
        let env = resolve(
            &ConfigFile::default(),
            Path::new("x"),
            None,
            &Overrides::default(),
        )
        .unwrap();
        assert!(env.table().unwrap_err().to_string().contains("--table"));
    }
}
