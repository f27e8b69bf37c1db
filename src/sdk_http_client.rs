//! The AWS SDK's own default HTTPS client, with its TLS roots loaded when it first connects
//! rather than when a client is built.
//!
//! aws-config's default credential chain builds an STS client (for web identity) whether or
//! not any credentials come from there, and building it checks its HTTP client by building a
//! TLS connector: every wsdash command read the system's whole certificate directory first,
//! 40 % of the CPU of a one-call `wsdash push` (perf), about 5 ms before its first call.
//! Against a loopback endpoint no TLS is ever used. Handed this client instead, every SDK
//! client gets the very same default client (TLS provider, proxy settings from the
//! environment, connection pool), and the roots are read at the first HTTPS connection.

use aws_config::BehaviorVersion;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::runtime_components::{
    RuntimeComponents, RuntimeComponentsBuilder,
};
use aws_smithy_runtime_api::client::runtime_plugin::RuntimePlugin;
use aws_smithy_runtime_api::shared::IntoShared;
use aws_smithy_types::config_bag::ConfigBag;

/// The SDK's default HTTPS client for `behavior`, whose connector (and its TLS roots) is built
/// at the first request; `None` if this build has no default client.
pub fn deferred_default_client(behavior: BehaviorVersion) -> Option<SharedHttpClient> {
    let plugin = aws_smithy_runtime::client::defaults::default_http_client_plugin_v2(behavior)?;
    let default = plugin
        .runtime_components(&RuntimeComponentsBuilder::new("wsdash"))
        .http_client()?;
    Some(DeferredValidation(default).into_shared())
}

/// A client whose construction-time check is skipped. The SDK's check always passes: it only
/// builds a connector so that the roots load early ("so that native certs load at client
/// initialization time instead of upon first request", aws-smithy-http-client); the first
/// request builds the connector just the same.
#[derive(Debug)]
struct DeferredValidation(SharedHttpClient);

impl HttpClient for DeferredValidation {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn validate_base_client_config(
        &self,
        _runtime_components: &RuntimeComponentsBuilder,
        _cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        Ok(())
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deferred_client_is_the_sdks_default_client() {
        let client = deferred_default_client(BehaviorVersion::latest()).expect("a default client");
        let metadata = client.connector_metadata().expect("metadata");
        assert_eq!(metadata.name(), "hyper");
        assert_eq!(metadata.version().as_deref(), Some("1.x"));
        assert!(client
            .validate_base_client_config(&RuntimeComponentsBuilder::new("test"), &ConfigBag::base())
            .is_ok());
    }
}
