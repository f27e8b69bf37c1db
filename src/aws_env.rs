//! Building the shared AWS SDK configuration: region, profile, credentials, timeouts.

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use std::time::Duration;

/// How to reach AWS (or a local stand-in).
#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    pub region: Option<String>,
    pub profile: Option<String>,
    /// Use fixed fake credentials: right for the emulator and moto, which do not check signatures.
    pub dummy_credentials: bool,
    /// Sign with this access key and secret (the demo's own key); wins over `dummy_credentials`.
    pub static_key: Option<(String, String)>,
    /// Per-call deadline.
    pub call_timeout: Option<Duration>,
}

/// Load the SDK configuration with the default credential chain (or dummy credentials).
/// SDK retries are off: wsdash retries itself, within deadlines, and counts every attempt.
pub async fn load_sdk_config(settings: &AwsSettings) -> SdkConfig {
    let timeout = settings.call_timeout.unwrap_or(Duration::from_secs(10));
    let behavior = BehaviorVersion::latest();
    let mut loader = aws_config::defaults(behavior)
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3).min(timeout))
                .operation_attempt_timeout(timeout)
                .operation_timeout(timeout)
                .build(),
        );
    if let Some(client) = crate::sdk_http_client::deferred_default_client(behavior) {
        loader = loader.http_client(client);
    }
    if let Some(profile) = &settings.profile {
        loader = loader.profile_name(profile);
    }
    match &settings.region {
        Some(region) => loader = loader.region(Region::new(region.clone())),
        // Local stand-ins ignore the region; naming one skips a slow lookup of the instance metadata service.
        None if settings.dummy_credentials => loader = loader.region(Region::new("us-east-1")),
        None => {}
    }
    if let Some((key, secret)) = &settings.static_key {
        loader = loader.credentials_provider(aws_credential_types::Credentials::new(
            key,
            secret,
            None,
            None,
            "wsdash-static",
        ));
    } else if settings.dummy_credentials {
        loader = loader.credentials_provider(aws_credential_types::Credentials::new(
            "wsdash-local",
            "wsdash-local",
            None,
            None,
            "wsdash-dummy",
        ));
    }
    let mut config = loader.load().await;
    if settings.static_key.is_none() && !settings.dummy_credentials {
        if let Some(inner) = config.credentials_provider() {
            config = config
                .into_builder()
                .credentials_provider(
                    aws_credential_types::provider::SharedCredentialsProvider::new(
                        NamedCredentials {
                            inner,
                            profile: profile_in_use(settings.profile.as_deref()),
                        },
                    ),
                )
                .build();
        }
    }
    if config.region().is_none() {
        // Without a region the SDK refuses to build requests; the emulator does not care which.
        return config
            .into_builder()
            .region(Region::new("us-east-1"))
            .build();
    }
    config
}

/// Why the SDK had no credentials to sign with. It travels inside the SDK's error chain (the
/// credentials provider of every [`load_sdk_config`] wraps its failures in it), so whoever
/// describes a failed call finds it by type, with the profile it concerns.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsFailure {
    #[error("no AWS credentials found (environment, profile, SSO, web identity, container and instance roles were tried): run `aws sso login`, pass --profile NAME or set AWS_PROFILE, or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")]
    NotFound,
    /// The provider exists but could not produce (or refresh) credentials: an expired SSO
    /// session, a failing `credential_process`, a role that cannot be assumed.
    #[error("the AWS credentials of {} could not be loaded or refreshed: {reason}; log in again ({}) and wsdash picks the new credentials up by itself", describe_profile(.profile.as_deref()), login_hint(.profile.as_deref()))]
    Refused {
        profile: Option<String>,
        /// The provider's own words (e.g. "Token has expired and refresh failed").
        reason: String,
    },
}

/// Whose credentials, in an operator's words: "profile `prod`", or the default chain's.
pub fn describe_profile(profile: Option<&str>) -> String {
    match profile {
        Some(p) => format!("profile `{p}`"),
        None => "the default credential chain".into(),
    }
}

/// The command that logs the profile in again.
pub fn login_command(profile: Option<&str>) -> String {
    match profile {
        Some(p) => format!("aws sso login --profile {p}"),
        None => "aws sso login".into(),
    }
}

fn login_hint(profile: Option<&str>) -> String {
    match profile {
        Some(_) => format!(
            "`{}`, or whatever the profile's credential_process or role needs",
            login_command(profile)
        ),
        None => format!(
            "`{}`, or refresh the credentials in the environment",
            login_command(profile)
        ),
    }
}

/// The profile whose credentials the SDK uses: the one named, else `AWS_PROFILE`.
pub fn profile_in_use(named: Option<&str>) -> Option<String> {
    named
        .map(str::to_string)
        .or_else(|| std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty()))
}

/// The chain of causes of `err`, first lines only, each once: what an operator reads.
pub fn cause_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut causes: Vec<String> = Vec::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        let first_line = text.lines().next().unwrap_or_default().trim().to_string();
        if !first_line.is_empty() && !causes.iter().any(|c| c.contains(&first_line)) {
            causes.push(first_line);
        }
        next = e.source();
    }
    causes.join(": ")
}

/// The credentials provider of an environment, whose failures say which profile they concern.
#[derive(Debug)]
struct NamedCredentials {
    inner: aws_credential_types::provider::SharedCredentialsProvider,
    profile: Option<String>,
}

impl aws_credential_types::provider::ProvideCredentials for NamedCredentials {
    fn provide_credentials<'a>(
        &'a self,
    ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        use aws_credential_types::provider::error::CredentialsError;
        aws_credential_types::provider::future::ProvideCredentials::new(async move {
            self.inner.provide_credentials().await.map_err(|e| {
                let failure = match &e {
                    CredentialsError::CredentialsNotLoaded(_) => CredentialsFailure::NotFound,
                    _ => CredentialsFailure::Refused {
                        profile: self.profile.clone(),
                        reason: std::error::Error::source(&e)
                            .map(cause_chain)
                            .unwrap_or_else(|| e.to_string()),
                    },
                };
                CredentialsError::provider_error(failure)
            })
        })
    }
}

/// Why an SDK call never got an answer, in an operator's words, found by the types in its
/// chain of causes: credentials that could not be had, nothing listening, a timeout; else the
/// chain itself, without the SDK's debug dump.
pub fn describe_unanswered_call(err: &(dyn std::error::Error + 'static), endpoint: &str) -> String {
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = next {
        if let Some(failure) = e.downcast_ref::<CredentialsFailure>() {
            return failure.to_string();
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused => {
                    return format!("nothing answers at {endpoint} (connection refused): is it running, and is the URL right?")
                }
                std::io::ErrorKind::TimedOut => {
                    return format!("no answer from {endpoint} in time: check the network and the endpoint")
                }
                _ => {}
            }
        }
        next = e.source();
    }
    format!("{} (endpoint {endpoint})", cause_chain(err))
}

/// Whether the chain of `err` holds a [`CredentialsFailure`]: the call was never signed.
pub fn credentials_failure<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a CredentialsFailure> {
    let mut next: Option<&'a (dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = next {
        if let Some(failure) = e.downcast_ref::<CredentialsFailure>() {
            return Some(failure);
        }
        next = e.source();
    }
    None
}
