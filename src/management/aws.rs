//! [`ManagementApi`] over aws-sdk-apigatewaymanagement: real API Gateway, or the emulator via its URL.

use super::{GatewayError, ManagementApi};
use crate::model::ConnectionInfo;
use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_apigatewaymanagement::config::http::HttpResponse;
use aws_sdk_apigatewaymanagement::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_apigatewaymanagement::primitives::{Blob, DateTime};
use aws_sdk_apigatewaymanagement::Client;
use bytes::Bytes;
use time::OffsetDateTime;

pub struct AwsManagementApi {
    client: Client,
    endpoint: String,
}

impl AwsManagementApi {
    /// `endpoint` is the stage URL, e.g. `https://abc.execute-api.eu-west-1.amazonaws.com/production`.
    pub fn new(sdk_config: &SdkConfig, endpoint: &str) -> Self {
        let endpoint = endpoint.trim_end_matches('/').to_string();
        let config = aws_sdk_apigatewaymanagement::config::Builder::from(sdk_config)
            .endpoint_url(&endpoint)
            .build();
        Self {
            client: Client::from_conf(config),
            endpoint,
        }
    }
}

/// Refuse ids the SDK cannot put into a path (it would fail with a URI error, or worse).
fn check_id(connection_id: &str) -> Result<(), GatewayError> {
    match crate::model::connection_id_problem(connection_id) {
        Some(problem) => Err(GatewayError::InvalidConnectionId(problem)),
        None => Ok(()),
    }
}

fn to_time(t: Option<&DateTime>) -> Option<OffsetDateTime> {
    let t = t?;
    OffsetDateTime::from_unix_timestamp_nanos(t.as_nanos()).ok()
}

/// The one place an SDK error becomes a [`GatewayError`].
fn classify_sdk_error<E>(err: SdkError<E, HttpResponse>, endpoint: &str) -> GatewayError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let unanswered = || crate::aws_env::describe_unanswered_call(&err, endpoint);
    match &err {
        SdkError::TimeoutError(_) => GatewayError::Timeout(unanswered()),
        SdkError::DispatchFailure(failure) => {
            if failure.is_timeout() {
                GatewayError::Timeout(unanswered())
            } else {
                GatewayError::Network(unanswered())
            }
        }
        SdkError::ResponseError(ctx) => GatewayError::Other {
            status: ctx.raw().status().as_u16(),
            message: format!("unreadable response: {}", DisplayErrorContext(&err)),
        },
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status().as_u16();
            let message = ctx
                .err()
                .message()
                .map(str::to_string)
                .unwrap_or_else(|| DisplayErrorContext(ctx.err()).to_string());
            GatewayError::from_code_and_status(ctx.err().code(), status, message)
        }
        _ => GatewayError::Other {
            status: 0,
            message: DisplayErrorContext(&err).to_string(),
        },
    }
}

#[async_trait]
impl ManagementApi for AwsManagementApi {
    async fn post_to_connection(
        &self,
        connection_id: &str,
        data: Bytes,
    ) -> Result<(), GatewayError> {
        check_id(connection_id)?;
        self.client
            .post_to_connection()
            .connection_id(connection_id)
            .data(Blob::new(data.to_vec()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify_sdk_error(e, &self.endpoint))
    }

    async fn get_connection(&self, connection_id: &str) -> Result<ConnectionInfo, GatewayError> {
        check_id(connection_id)?;
        let out = self
            .client
            .get_connection()
            .connection_id(connection_id)
            .send()
            .await
            .map_err(|e| classify_sdk_error(e, &self.endpoint))?;
        Ok(ConnectionInfo {
            connected_at: to_time(out.connected_at()),
            last_active_at: to_time(out.last_active_at()),
            source_ip: out
                .identity()
                .and_then(|i| i.source_ip())
                .map(str::to_string),
            user_agent: out
                .identity()
                .and_then(|i| i.user_agent())
                .map(str::to_string),
        })
    }

    async fn delete_connection(&self, connection_id: &str) -> Result<(), GatewayError> {
        check_id(connection_id)?;
        self.client
            .delete_connection()
            .connection_id(connection_id)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| classify_sdk_error(e, &self.endpoint))
    }

    fn endpoint(&self) -> &str {
        &self.endpoint
    }
}
