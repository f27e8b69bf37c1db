//! The emulator's front door: every Management API and configuration API request is
//! authenticated (SigV4) and, for `@connections`, authorised (IAM) before any handler runs, with
//! the error types and messages API Gateway answers. WebSocket handshakes and the admin API are
//! not AWS-signed and pass untouched.

pub mod credentials;
pub mod iam;
pub mod sigv4;

use super::{aws_error, GatewayState};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use credentials::{CredentialSet, KnownKey};
use iam::{connection_resource, Decision, Policy, MANAGE_CONNECTIONS};
use sigv4::{ReceivedRequest, Service, Verifier};
use std::path::PathBuf;
use std::sync::Arc;

/// The account id in the emulator's ARNs unless `--account-id` says otherwise.
pub const DEFAULT_ACCOUNT_ID: &str = "123456789012";

/// The region the emulator's API lives in unless the global `--region` says otherwise.
pub const DEFAULT_REGION: &str = "us-east-1";

/// How the emulator authenticates; on by default in "any key" mode.
#[derive(Debug, Clone, clap::Args)]
pub struct AuthOptions {
    /// Accept only the keys in this JSON file and verify every signature: a list of
    /// {"access_key_id", "secret_access_key", "session_token", "expires_at", "user"}.
    /// Without it any key passes, but the signature's form, service, region (the global
    /// --region, default us-east-1) and clock are still checked.
    #[arg(long, value_name = "FILE")]
    pub credentials: Option<PathBuf>,
    /// IAM identity policy for @connections calls: a policy JSON file, or `guide` for the
    /// guide's POST-only policy. Without it every signed call is allowed.
    #[arg(long, value_name = "FILE|guide")]
    pub iam_policy: Option<String>,
    /// Accept unsigned requests (no SigV4, no IAM), as the emulator did before it checked them.
    #[arg(long, conflicts_with_all = ["credentials", "iam_policy"])]
    pub no_auth: bool,
    /// The AWS account id in ARNs and IAM messages.
    #[arg(long, default_value = DEFAULT_ACCOUNT_ID)]
    pub account_id: String,
    /// Run the gateway's clock this many seconds ahead of the machine's (negative: behind), in
    /// its signature checks and its answers' Date header: a client with a skewed clock, for tests.
    #[arg(long, default_value_t = 0, allow_hyphen_values = true)]
    pub clock_offset_secs: i64,
    /// The region requests must be signed for (from the global --region).
    #[arg(skip)]
    pub region: Option<String>,
    /// A key accepted beside the file's (the demo signs with its own random key).
    #[arg(skip)]
    pub own_key: Option<KnownKey>,
}

impl Default for AuthOptions {
    fn default() -> Self {
        Self {
            credentials: None,
            iam_policy: None,
            no_auth: false,
            account_id: DEFAULT_ACCOUNT_ID.into(),
            clock_offset_secs: 0,
            region: None,
            own_key: None,
        }
    }
}

/// What the front door checks against, loaded once at start.
#[derive(Debug, Clone)]
pub struct FrontDoor {
    pub region: String,
    pub account_id: String,
    /// The gateway's clock minus the machine's.
    pub clock_offset: time::Duration,
    pub credentials: CredentialSet,
    pub policy: Policy,
}

impl FrontDoor {
    /// `None` with `--no-auth`.
    pub fn from_options(
        options: &AuthOptions,
    ) -> Result<Option<Self>, crate::emulator::error::EmulatorError> {
        use crate::emulator::error::EmulatorError::BadOption;
        if options.no_auth {
            return Ok(None);
        }
        let mut credentials = match &options.credentials {
            Some(path) => CredentialSet::load(path, &options.account_id)
                .map_err(|e| BadOption(e.to_string()))?,
            None => CredentialSet::any_key(),
        };
        if let Some(key) = &options.own_key {
            credentials = credentials.with_key(key.clone());
        }
        let policy = match &options.iam_policy {
            Some(spec) => Policy::load(spec).map_err(|e| BadOption(e.to_string()))?,
            None => Policy::allow_all(),
        };
        Ok(Some(Self {
            region: options
                .region
                .clone()
                .unwrap_or_else(|| DEFAULT_REGION.into()),
            account_id: options.account_id.clone(),
            clock_offset: time::Duration::seconds(options.clock_offset_secs),
            credentials,
            policy,
        }))
    }

    pub fn describe(&self) -> String {
        format!(
            "SigV4 for region {}, {}; IAM policy: {}",
            self.region,
            self.credentials.describe(),
            self.policy.describe()
        )
    }
}

/// Bodies above this are refused before they are read (PostToConnection's limit is 128 KB; the
/// handler answers 413 for anything between).
const MAX_SIGNED_BODY: usize = 8 * 1024 * 1024;

/// What a path is, for authentication.
enum Target<'a> {
    /// A Management API call on the configured stage: the connection id, percent-decoded.
    Connection { stage: &'a str, id: String },
    /// `@connections` without the stage, or on another stage: API Gateway answers Forbidden.
    WrongStage,
    /// The configuration API (apigatewayv2).
    ConfigApi,
    /// CloudWatch's GetMetricData, in either protocol.
    CloudWatch(crate::emulator::cloudwatch::Protocol),
    /// WebSocket handshakes, the admin API, the client page: not SigV4.
    Unsigned,
}

fn target<'a>(path: &'a str, amz_target: Option<&str>, stage: &str) -> Target<'a> {
    use crate::emulator::cloudwatch::Protocol;
    if path.starts_with("/v2/") {
        return Target::ConfigApi;
    }
    if path.starts_with("/service/GraniteServiceVersion20100801/") {
        return Target::CloudWatch(Protocol::RpcV2Cbor);
    }
    if path == "/" && amz_target.is_some_and(|t| t.starts_with("GraniteServiceVersion20100801.")) {
        return Target::CloudWatch(Protocol::AwsJson1_0);
    }
    let Some((before, id)) = path.split_once("/@connections/") else {
        return Target::Unsigned;
    };
    let Some(given_stage) = before.strip_prefix('/') else {
        return Target::WrongStage;
    };
    if given_stage != stage {
        return Target::WrongStage;
    }
    let id = percent_encoding::percent_decode_str(id)
        .decode_utf8_lossy()
        .into_owned();
    Target::Connection {
        stage: given_stage,
        id,
    }
}

fn refuse(status: u16, error_type: &str, message: &str) -> Response {
    aws_error(
        StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN),
        error_type,
        message,
    )
}

/// The axum middleware in front of every route.
pub async fn authenticate(
    State(state): State<Arc<GatewayState>>,
    request: Request,
    next: Next,
) -> Response {
    let amz_target = request
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok());
    let mut cloudwatch = None;
    let (service, connection) = match target(request.uri().path(), amz_target, &state.config.stage)
    {
        Target::Unsigned => return next.run(request).await,
        Target::WrongStage => return refuse(403, "ForbiddenException", "Forbidden"),
        Target::ConfigApi => (Service::ApiGateway, None),
        Target::CloudWatch(protocol) => {
            cloudwatch = Some(protocol);
            (Service::Monitoring, None)
        }
        Target::Connection { stage, id } => (Service::ExecuteApi, Some((stage.to_string(), id))),
    };
    let Some(door) = &state.front_door else {
        return next.run(request).await;
    };
    let (parts, body) = request.into_parts();
    // Only a key whose secret the gateway knows has its signature recomputed, and only that
    // needs the body (its hash is signed); any other request's body passes on unread.
    let verified =
        sigv4::access_key_of(&parts.headers).is_some_and(|key| door.credentials.knows(key));
    let (body, read) = if verified {
        let Ok(bytes) = axum::body::to_bytes(body, MAX_SIGNED_BODY).await else {
            return refuse(
                413,
                "PayloadTooLargeException",
                "Request body too large or unreadable",
            );
        };
        (Body::from(bytes.clone()), Some(bytes))
    } else {
        (body, None)
    };
    let now = crate::model::now_utc_millis() + door.clock_offset;
    let verifier = Verifier {
        region: &door.region,
        account_id: &door.account_id,
        credentials: &door.credentials,
        now,
    };
    let received = ReceivedRequest {
        method: &parts.method,
        uri: &parts.uri,
        headers: &parts.headers,
        body: read.as_deref().unwrap_or_default(),
    };
    let caller = match verifier.verify(&received, service) {
        Ok(caller) => caller,
        Err(refusal) => {
            tracing::info!(
                error_type = refusal.error_type,
                path = parts.uri.path(),
                "request refused: {}",
                refusal.message
            );
            let mut response = if let Some(protocol) = cloudwatch {
                // CloudWatch's clients read the error's type from the body.
                crate::emulator::cloudwatch::error_response(
                    protocol,
                    StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::FORBIDDEN),
                    refusal.error_type,
                    &refusal.message,
                )
            } else {
                refuse(refusal.status, refusal.error_type, &refusal.message)
            };
            // AWS dates every answer by its own clock: what a client compares its clock with.
            let date = httpdate::fmt_http_date(std::time::SystemTime::from(now));
            if let Ok(date) = axum::http::HeaderValue::from_str(&date) {
                response
                    .headers_mut()
                    .insert(axum::http::header::DATE, date);
            }
            return response;
        }
    };
    if let Some((stage, id)) = connection {
        let resource = connection_resource(
            &door.region,
            &door.account_id,
            crate::emulator::config_api::API_ID,
            &stage,
            parts.method.as_str(),
            &id,
        );
        let decision = door.policy.decide(MANAGE_CONNECTIONS, &resource);
        if decision != Decision::Allowed {
            let explicit = if decision == Decision::ExplicitDeny {
                " with an explicit deny"
            } else {
                ""
            };
            return refuse(
                403,
                "AccessDeniedException",
                &format!(
                    "User: {} is not authorized to perform: {MANAGE_CONNECTIONS} on resource: {resource}{explicit}",
                    caller.arn
                ),
            );
        }
    }
    next.run(Request::from_parts(parts, body)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_told_apart_by_stage_and_api() {
        assert!(matches!(
            target("/production/@connections/abc%3D", None, "production"),
            Target::Connection { stage: "production", ref id } if id == "abc="
        ));
        assert!(matches!(
            target("/@connections/abc", None, "production"),
            Target::WrongStage
        ));
        assert!(matches!(
            target("/dev/@connections/abc", None, "production"),
            Target::WrongStage
        ));
        assert!(matches!(
            target("/v2/apis", None, "production"),
            Target::ConfigApi
        ));
        assert!(matches!(
            target("/production", None, "production"),
            Target::Unsigned
        ));
        assert!(matches!(
            target("/_wsdash/stats", None, "production"),
            Target::Unsigned
        ));
    }
}
