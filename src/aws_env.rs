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
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3).min(timeout))
                .operation_attempt_timeout(timeout)
                .operation_timeout(timeout)
                .build(),
        );
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
        loader =
            loader.credentials_provider(aws_sdk_apigatewaymanagement::config::Credentials::new(
                key,
                secret,
                None,
                None,
                "wsdash-static",
            ));
    } else if settings.dummy_credentials {
        loader =
            loader.credentials_provider(aws_sdk_apigatewaymanagement::config::Credentials::new(
                "wsdash-local",
                "wsdash-local",
                None,
                None,
                "wsdash-dummy",
            ));
    }
    let config = loader.load().await;
    if config.region().is_none() {
        // Without a region the SDK refuses to build requests; the emulator does not care which.
        return config
            .into_builder()
            .region(Region::new("us-east-1"))
            .build();
    }
    config
}

/// Why an SDK call never got an answer, in an operator's words: the chain of causes without the
/// SDK's debug dump, and what to do for the usual ones (no credentials, nothing listening,
/// an unknown host).
pub fn describe_unanswered_call(err: &(dyn std::error::Error + 'static), endpoint: &str) -> String {
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
    let chain = causes.join(": ");
    let lower = chain.to_lowercase();
    if lower.contains("no credentials")
        || lower.contains("credential provider")
        || lower.contains("loading credentials")
    {
        return "no AWS credentials found (environment, profile, SSO, web identity, container and instance roles were tried): run `aws sso login`, pass --profile NAME or set AWS_PROFILE, or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".into();
    }
    if lower.contains("connection refused") {
        return format!("nothing answers at {endpoint} (connection refused): is it running, and is the URL right?");
    }
    if lower.contains("dns error") || lower.contains("failed to lookup") {
        return format!("cannot resolve the host of {endpoint}: check the URL and the network");
    }
    if lower.contains("timeout") || lower.contains("timed out") {
        return format!(
            "no answer from {endpoint} in time ({chain}): check the network and the endpoint"
        );
    }
    format!("{chain} (endpoint {endpoint})")
}
