//! [`ManagementApi`] for real API Gateway, or the emulator via its URL: each call one request
//! signed and sent by [`SignedHttp`], each answer classified by its AWS error type.

use super::denial::{CallContext, Verb};
use super::signed_http::{Answer, SignedHttp};
use super::{GatewayError, ManagementApi};
use crate::model::ConnectionInfo;
use async_trait::async_trait;
use aws_config::SdkConfig;
use bytes::Bytes;
use http::Method;
use percent_encoding::{AsciiSet, CONTROLS};

pub struct AwsManagementApi {
    http: SignedHttp,
    endpoint: String,
    /// What every refusal is explained with: the region signed for, and whose credentials.
    context: CallContext,
}

/// What a connection id is percent-encoded with in the path: the SDK's set for a label.
const LABEL: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'/')
    .add(b':')
    .add(b',')
    .add(b'?')
    .add(b'#')
    .add(b'[')
    .add(b']')
    .add(b'{')
    .add(b'}')
    .add(b'|')
    .add(b'@')
    .add(b'!')
    .add(b'$')
    .add(b'&')
    .add(b'\'')
    .add(b'(')
    .add(b')')
    .add(b'*')
    .add(b'+')
    .add(b';')
    .add(b'=')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'"')
    .add(b'^')
    .add(b'`')
    .add(b'\\');

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
        Self {
            http: SignedHttp::new(sdk_config, &region, &endpoint),
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

    /// One call on `@connections/{id}`: the answer when it is a success, else its error.
    async fn call(
        &self,
        verb: Verb,
        connection_id: &str,
        body: Bytes,
    ) -> Result<Answer, GatewayError> {
        // Refuse ids that cannot go into a path, before anything is signed.
        if let Some(problem) = crate::model::connection_id_problem(connection_id) {
            return Err(GatewayError::InvalidConnectionId(problem));
        }
        let method = match verb {
            Verb::Post => Method::POST,
            Verb::Get => Method::GET,
            Verb::Delete => Method::DELETE,
        };
        let uri = format!(
            "{}/@connections/{}",
            self.endpoint,
            percent_encoding::utf8_percent_encode(connection_id, LABEL)
        );
        let answer = self.http.send(method, &uri, body, &self.endpoint).await?;
        if (200..300).contains(&answer.status) {
            Ok(answer)
        } else {
            Err(self.refusal(verb, &answer))
        }
    }

    /// The one place an error answer becomes a [`GatewayError`]: by its AWS error type, else
    /// its status.
    fn refusal(&self, verb: Verb, answer: &Answer) -> GatewayError {
        let mut context = CallContext {
            verb,
            ..self.context.clone()
        };
        context.clock_offset_secs = clock_offset_secs(answer);
        let header = answer
            .headers
            .get("x-amzn-errortype")
            .and_then(|v| v.to_str().ok());
        let (error_type, message) = super::wire::error_type_and_message(header, &answer.body);
        let message = match (message, &error_type) {
            (Some(message), _) => message,
            (None, Some(error_type)) => error_type.clone(),
            // An answer with neither a type nor a message is not API Gateway's.
            (None, None) => format!(
                "no AWS error type in the answer: is {} a stage URL of a WebSocket API?",
                self.endpoint
            ),
        };
        GatewayError::from_code_and_status(error_type.as_deref(), answer.status, message, &context)
    }
}

/// The gateway's clock minus ours, from an answer's `Date` header.
fn clock_offset_secs(answer: &Answer) -> Option<i64> {
    let date = answer.headers.get("date")?.to_str().ok()?;
    let theirs = httpdate::parse_http_date(date).ok()?;
    let ours = std::time::SystemTime::now();
    Some(match theirs.duration_since(ours) {
        Ok(ahead) => ahead.as_secs() as i64,
        Err(behind) => -(behind.duration().as_secs() as i64),
    })
}

#[async_trait]
impl ManagementApi for AwsManagementApi {
    async fn post_to_connection(
        &self,
        connection_id: &str,
        data: Bytes,
    ) -> Result<(), GatewayError> {
        self.call(Verb::Post, connection_id, data).await.map(|_| ())
    }

    async fn get_connection(&self, connection_id: &str) -> Result<ConnectionInfo, GatewayError> {
        let answer = self.call(Verb::Get, connection_id, Bytes::new()).await?;
        super::wire::connection_info(&answer.body).map_err(|why| GatewayError::Other {
            status: answer.status,
            message: format!(
                "the answer from {} is not the Management API's: {why}",
                self.endpoint
            ),
        })
    }

    async fn delete_connection(&self, connection_id: &str) -> Result<(), GatewayError> {
        self.call(Verb::Delete, connection_id, Bytes::new())
            .await
            .map(|_| ())
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
