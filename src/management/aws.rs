//! [`ManagementApi`] over aws-sdk-apigatewaymanagement: real API Gateway, or the emulator via its URL.

use super::denial::{CallContext, Verb};
use super::{GatewayError, ManagementApi};
use crate::model::ConnectionInfo;
use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_apigatewaymanagement::config::http::HttpResponse;
use aws_sdk_apigatewaymanagement::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_apigatewaymanagement::primitives::{Blob, DateTime};
use aws_sdk_apigatewaymanagement::Client;
use bytes::Bytes;
use time::OffsetDateTime;

pub struct AwsManagementApi {
    client: Client,
    endpoint: String,
    /// What every refusal is explained with: the region signed for, and whose credentials.
    context: CallContext,
}

impl AwsManagementApi {
    /// `endpoint` is the stage URL, e.g. `https://abc.execute-api.eu-west-1.amazonaws.com/production`.
    /// Calls are signed for the region its host names, whatever the profile's region: AWS
    /// refuses any other. For other hosts (a custom domain, the emulator) the SDK's region.
    pub fn new(sdk_config: &SdkConfig, endpoint: &str) -> Self {
        let endpoint = endpoint.trim_end_matches('/').to_string();
        let host_region = super::endpoint::region_in_host(&endpoint);
        let region = host_region
            .clone()
            .or_else(|| sdk_config.region().map(|r| r.to_string()))
            .unwrap_or_else(|| "us-east-1".into());
        let config = aws_sdk_apigatewaymanagement::config::Builder::from(sdk_config)
            .endpoint_url(&endpoint)
            .region(aws_config::Region::new(region.clone()))
            .build();
        Self {
            client: Client::from_conf(config),
            endpoint,
            context: CallContext {
                verb: Verb::Post,
                region,
                region_from_host: host_region.is_some(),
                profile: crate::aws_env::profile_in_use(None),
                clock_offset_secs: None,
            },
        }
    }

    /// Name the profile in refusals (the environment's, when it names one).
    pub fn with_profile(mut self, profile: Option<&str>) -> Self {
        self.context.profile = crate::aws_env::profile_in_use(profile);
        self
    }

    /// The region calls are signed for, and whether the endpoint's host named it.
    pub fn signing_region(&self) -> (&str, bool) {
        (&self.context.region, self.context.region_from_host)
    }

    fn context(&self, verb: Verb) -> CallContext {
        CallContext {
            verb,
            ..self.context.clone()
        }
    }
}

/// The gateway's clock minus ours, from an answer's `Date` header.
fn clock_offset_secs(response: &HttpResponse) -> Option<i64> {
    let date = response.headers().get("date")?;
    let theirs = httpdate::parse_http_date(date).ok()?;
    let ours = std::time::SystemTime::now();
    Some(match theirs.duration_since(ours) {
        Ok(ahead) => ahead.as_secs() as i64,
        Err(behind) => -(behind.duration().as_secs() as i64),
    })
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
fn classify_sdk_error<E>(
    err: SdkError<E, HttpResponse>,
    endpoint: &str,
    mut context: CallContext,
) -> GatewayError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if let Some(failure) = crate::aws_env::credentials_failure(&err) {
        return GatewayError::Credentials(failure.to_string());
    }
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
            message: format!(
                "the answer from {endpoint} is not the Management API's: {}",
                crate::aws_env::cause_chain(&err)
            ),
        },
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status().as_u16();
            context.clock_offset_secs = clock_offset_secs(ctx.raw());
            let message = match (ctx.err().message(), ctx.err().code()) {
                (Some(message), _) => message.to_string(),
                (None, Some(code)) => code.to_string(),
                // An answer with neither a type nor a message is not API Gateway's.
                (None, None) => format!(
                    "no AWS error type in the answer: is {endpoint} a stage URL of a WebSocket API?"
                ),
            };
            GatewayError::from_code_and_status(ctx.err().code(), status, message, &context)
        }
        _ => GatewayError::Other {
            status: 0,
            message: crate::aws_env::cause_chain(&err),
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
            .map_err(|e| classify_sdk_error(e, &self.endpoint, self.context(Verb::Post)))
    }

    async fn get_connection(&self, connection_id: &str) -> Result<ConnectionInfo, GatewayError> {
        check_id(connection_id)?;
        let out = self
            .client
            .get_connection()
            .connection_id(connection_id)
            .send()
            .await
            .map_err(|e| classify_sdk_error(e, &self.endpoint, self.context(Verb::Get)))?;
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
            .map_err(|e| classify_sdk_error(e, &self.endpoint, self.context(Verb::Delete)))
    }

    fn endpoint(&self) -> &str {
        &self.endpoint
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sdk(region: &str) -> SdkConfig {
        SdkConfig::builder()
            .region(aws_config::Region::new(region.to_string()))
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build()
    }

    #[test]
    fn an_execute_api_host_wins_over_the_profiles_region() {
        let api = AwsManagementApi::new(
            &sdk("us-east-1"),
            "https://abc123.execute-api.eu-west-1.amazonaws.com/production",
        );
        assert_eq!(api.signing_region(), ("eu-west-1", true));
        let local = AwsManagementApi::new(&sdk("ap-south-1"), "http://127.0.0.1:4510/production");
        assert_eq!(local.signing_region(), ("ap-south-1", false));
    }
}
