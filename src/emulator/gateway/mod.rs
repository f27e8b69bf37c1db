//! The API Gateway WebSocket emulator: one port serving the WebSocket endpoint, the Management API
//! (`@connections`) that boto3 and the AWS SDKs talk to unchanged, and a non-AWS admin API.
//!
//! One file a job: [`options`] (what it starts with), [`auth`] (SigV4 and IAM, in front of
//! everything AWS signs), [`websocket`] (the handshake), [`management`] (`@connections` and
//! GetMetricData), [`admin`] (the non-AWS admin API). This file holds the state they share and
//! the router that ties them together.

// Handlers return early with a ready axum Response; boxing it would only add noise.
#![allow(clippy::result_large_err)]

mod admin;
pub mod auth;
mod management;
pub mod options;
mod websocket;

pub use options::{
    check_admin_exposure, check_time_scale, GatewayArgs, GatewayLimits, GatewayOptions,
};

use super::error::EmulatorError;
use super::faults::FaultSwitch;
use super::integration::Integration;
use super::registry::{Registry, SocketCommand};
use super::throttle::RateLimiter;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub struct GatewayState {
    pub config: GatewayLimits,
    /// Where it listens: GetApi's `ApiEndpoint` names it.
    pub addr: SocketAddr,
    admin_token: Option<String>,
    pub registry: Registry,
    pub faults: FaultSwitch,
    pub integration: Integration,
    limiter: Option<RateLimiter>,
    /// New connections per second, as the account quota caps them.
    connect_limiter: Option<RateLimiter>,
    pub access_log: super::access_log::AccessLog,
    /// SigV4 and IAM as API Gateway checks them; `None` with `--no-auth`.
    pub front_door: Option<auth::FrontDoor>,
    /// The CloudWatch Logs group the access log goes to, for GetStage.
    pub log_group: Option<String>,
    /// Once cancelled, ending sockets no longer call `$disconnect`: the backend is going away too.
    pub shutdown: CancellationToken,
    pub started_at: time::OffsetDateTime,
}

/// A running gateway.
pub struct GatewayHandle {
    pub addr: SocketAddr,
    pub stage: String,
    pub state: Arc<GatewayState>,
    /// `server.wait()` ends once the shutdown token is cancelled and the listener has closed.
    pub server: tokio_util::task::TaskTracker,
}

impl GatewayHandle {
    pub fn websocket_url(&self) -> String {
        format!("ws://{}/{}", self.addr, self.stage)
    }
    pub fn management_url(&self) -> String {
        format!("http://{}/{}", self.addr, self.stage)
    }
    pub fn admin_url(&self) -> String {
        format!("http://{}/_wsdash", self.addr)
    }
}

/// Start the gateway on `listener`; it stops when `shutdown` is cancelled. With a `backend`, it
/// serves the guide's API in front of it; without, no API until one is created through the
/// apigatewayv2 calls (CreateApi, CreateIntegration, CreateRoute, CreateStage,
/// CreateDeployment), as a backend that sets up its own API does on AWS.
pub async fn start_gateway(
    listener: TcpListener,
    backend: Option<&str>,
    options: &GatewayOptions,
    shutdown: CancellationToken,
) -> Result<GatewayHandle, EmulatorError> {
    let config = options.limits()?;
    let addr = listener.local_addr()?;
    check_admin_exposure(addr, options.admin_token.as_deref())?;
    let front_door = auth::FrontDoor::from_options(&options.auth)?;
    let access_log = open_access_log(options, &shutdown).await?;
    let state = Arc::new(GatewayState {
        access_log,
        front_door,
        log_group: options.access_logs.log_group.clone(),
        admin_token: options.admin_token.clone(),
        limiter: options
            .rate_limit
            .map(|rps| RateLimiter::new(rps, options.rate_burst)),
        faults: FaultSwitch::new(options.faults.clone()),
        connect_limiter: config
            .connect_rate
            .map(|rate| RateLimiter::new(rate, rate.ceil() as u32)),
        integration: Integration::new(
            Arc::new(match backend {
                Some(backend) => super::api_config::ApiConfigStore::new(
                    super::api_definition::ApiDefinition::guide(backend),
                    &config.stage,
                    crate::model::now_utc_millis(),
                ),
                None => super::api_config::ApiConfigStore::without_api(),
            }),
            &config.stage,
            &addr.to_string(),
        ),
        registry: Registry::default(),
        addr,
        config,
        shutdown: shutdown.clone(),
        started_at: crate::model::now_utc_millis(),
    });
    let app = router(state.clone());
    let closing = state.clone();
    let stop = shutdown.clone();
    let server = tokio_util::task::TaskTracker::new();
    server.spawn(async move {
        let server = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            stop.cancelled().await;
            // Upgraded sockets do not end with the listener: close them as a stage deletion would.
            for connection in closing.registry.all() {
                connection.command(SocketCommand::Close(1001, "Going away".into()));
            }
        });
        if let Err(e) = server.await {
            tracing::error!("gateway stopped: {e}");
        }
    });
    server.close();
    Ok(GatewayHandle {
        addr,
        stage: options.stage.clone(),
        state,
        server,
    })
}

fn router(state: Arc<GatewayState>) -> Router {
    let connections = get(management::get_connection)
        .post(management::post_to_connection)
        .delete(management::delete_connection);
    Router::new()
        // Browsers ask for it when they open the client page; without this it would hit /{stage}.
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/{stage}", get(websocket::websocket))
        // A path without the stage is answered Forbidden by the front door, as API Gateway does.
        .route("/{stage}/@connections/{id}", connections)
        // The client page is for browsers and needs no token; the rest of the admin API does.
        .route("/_wsdash/client", get(admin::client_page))
        // The index as printed at start (with the slash, which the nest below does not match).
        .route(
            "/_wsdash/",
            get(admin::admin_index).route_layer(axum::middleware::from_fn_with_state(
                state.clone(),
                admin::require_admin_token,
            )),
        )
        .nest("/_wsdash", admin::admin_router(state.clone()))
        .nest("/v2/apis", super::config_api::router())
        .route(
            super::cloudwatch::GET_METRIC_DATA_PATH,
            post(management::get_metric_data),
        )
        .route("/", post(management::aws_json_operation))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .with_state(state)
}

/// An error the AWS SDKs recognise: the type in `x-amzn-ErrorType` and a JSON body.
pub fn aws_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    let mut response = (status, Json(serde_json::json!({ "message": message }))).into_response();
    if let Ok(value) = HeaderValue::from_str(error_type) {
        response.headers_mut().insert("x-amzn-ErrorType", value);
    }
    response
}

/// The access log's file and CloudWatch group, as the options say.
async fn open_access_log(
    options: &GatewayOptions,
    shutdown: &CancellationToken,
) -> Result<super::access_log::AccessLog, EmulatorError> {
    let stage = options.stage.clone();
    let options = &options.access_logs;
    let file = match &options.access_log {
        Some(path) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| {
                    EmulatorError::BadOption(format!("--access-log {}: {e}", path.display()))
                })?,
        ),
        None => None,
    };
    let cloudwatch = match &options.log_group {
        Some(group) => {
            let local = options
                .logs_endpoint
                .as_deref()
                .is_some_and(crate::config::is_local_endpoint);
            let sdk = crate::aws_env::load_sdk_config(&crate::aws_env::AwsSettings {
                dummy_credentials: local && std::env::var("AWS_ACCESS_KEY_ID").is_err(),
                ..Default::default()
            })
            .await;
            let logs = crate::access_logs::CloudWatchAccessLogs::new(
                &sdk,
                options.logs_endpoint.as_deref(),
                group,
            );
            Some(super::access_log::ship_to_cloudwatch(
                logs,
                stage,
                shutdown.clone(),
            ))
        }
        None => None,
    };
    Ok(super::access_log::AccessLog::new(file, cloudwatch))
}
