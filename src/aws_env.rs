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
    if settings.dummy_credentials {
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
