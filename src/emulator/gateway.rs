//! The API Gateway WebSocket emulator: one port serving the WebSocket endpoint, the Management API
//! (`@connections`) that boto3 and the AWS SDKs talk to unchanged, and a non-AWS admin API.

// Handlers return early with a ready axum Response; boxing it would only add noise.
#![allow(clippy::result_large_err)]

use super::faults::{FaultSwitch, Faults, FaultsPatch, InjectedFailure};
use super::ids::new_connection_id;
use super::integration::Integration;
use super::registry::{LiveConnection, ManagementOp, Registry, SocketCommand, SocketEvent};
use super::socket::{as_message, finish, run_socket};
use super::throttle::RateLimiter;
use crate::access_logs::TermPattern;
use crate::model::{iso_millis, DeliveryClass};
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::model::{MAX_FRAME_BYTES, MAX_MESSAGE_BYTES};

#[derive(Debug, Clone, clap::Args)]
pub struct GatewayArgs {
    /// Address to listen on (127.0.0.1 unless you mean otherwise).
    #[arg(long, default_value = "127.0.0.1:4510", env = "WSDASH_GATEWAY_LISTEN")]
    pub listen: String,
    /// Base URL of the HTTP backend that receives $connect, $disconnect and $default.
    #[arg(long, env = "WSDASH_BACKEND")]
    pub backend: String,
    /// Bearer token for the admin API (/_wsdash/*); required to listen beyond loopback.
    #[arg(long, env = "WSDASH_GATEWAY_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    #[command(flatten)]
    pub options: GatewayOptions,
}

/// The admin API kills sockets and injects faults: beyond loopback, only with a token.
pub fn check_admin_exposure(
    addr: SocketAddr,
    admin_token: Option<&str>,
) -> Result<(), EmulatorError> {
    if addr.ip().is_loopback() {
        return Ok(());
    }
    match admin_token {
        None => Err(EmulatorError::AdminTokenRequired(addr)),
        Some(token) if token.len() < 8 => Err(EmulatorError::AdminTokenTooShort(addr)),
        Some(_) => Ok(()),
    }
}

/// Stage, limits and faults; shared by `wsdash gateway` and the demo.
#[derive(Debug, Clone, clap::Args)]
pub struct GatewayOptions {
    /// Stage name: the WebSocket URL is ws://ADDR/STAGE and the management endpoint http://ADDR/STAGE.
    #[arg(long, default_value = "production")]
    pub stage: String,
    /// Run the clock faster: 60 makes the 10 min idle timeout 10 s (for tests).
    #[arg(long, default_value_t = 1.0, value_parser = crate::flags::time_scale)]
    pub time_scale: f64,
    /// Idle timeout in seconds before time scaling (0 disables it).
    #[arg(long, default_value_t = 600)]
    pub idle_timeout_secs: u64,
    /// Maximum connection duration in seconds before time scaling (0 disables it).
    #[arg(long, default_value_t = 7200)]
    pub max_duration_secs: u64,
    /// Accept client messages above 128 KB instead of closing with 1009.
    #[arg(long)]
    pub no_message_limit: bool,
    /// Accept client frames above 32 KB instead of closing with 1009 (API Gateway's frame quota).
    #[arg(long)]
    pub no_frame_limit: bool,
    /// New connections per second before handshakes are answered 429 (API Gateway's default
    /// account quota is 500).
    #[arg(long, default_value_t = 500.0, value_parser = crate::flags::rate)]
    pub connect_rate: f64,
    /// Accept handshakes at any rate.
    #[arg(long)]
    pub no_connect_limit: bool,
    #[command(flatten)]
    pub access_logs: super::access_log::AccessLogOptions,
    /// Limit @connections calls to this many per second (answers 429 above it); off by default.
    #[arg(long, value_parser = crate::flags::rate)]
    pub rate_limit: Option<f64>,
    /// Burst allowed by --rate-limit.
    #[arg(long, default_value_t = 5000)]
    pub rate_burst: u32,
    #[command(flatten)]
    pub faults: Faults,
    #[command(flatten)]
    pub auth: super::front_door::AuthOptions,
    /// When set, every admin call but the client page needs `Authorization: Bearer TOKEN`.
    #[arg(skip)]
    pub admin_token: Option<String>,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        Self {
            stage: "production".into(),
            time_scale: 1.0,
            idle_timeout_secs: 600,
            max_duration_secs: 7200,
            no_message_limit: false,
            no_frame_limit: false,
            connect_rate: 500.0,
            no_connect_limit: false,
            access_logs: Default::default(),
            rate_limit: None,
            rate_burst: 5000,
            faults: Faults::default(),
            auth: Default::default(),
            admin_token: None,
        }
    }
}

/// The limits in force, already scaled.
#[derive(Debug, Clone)]
pub struct GatewayLimits {
    pub stage: String,
    pub time_scale: f64,
    pub idle_timeout: Option<Duration>,
    pub max_duration: Option<Duration>,
    pub max_message_bytes: Option<usize>,
    pub max_frame_bytes: Option<usize>,
    /// New connections per second (`None`: no limit).
    pub connect_rate: Option<f64>,
}

impl GatewayOptions {
    pub fn limits(&self) -> Result<GatewayLimits, EmulatorError> {
        check_time_scale(self.time_scale)?;
        ensure(!self.stage.is_empty() && !self.stage.contains('/'), || {
            format!(
                "--stage must be a single path segment, got {:?}",
                self.stage
            )
        })?;
        self.faults.validate().map_err(EmulatorError::BadOption)?;
        if let Some(rate) = self.rate_limit {
            ensure(rate.is_finite() && rate > 0.0, || {
                format!("--rate-limit must be a number of calls per second above 0, got {rate}")
            })?;
        }
        ensure(self.rate_burst >= 1, || {
            "--rate-burst must be at least 1".into()
        })?;
        let scaled = |secs: u64| {
            (secs > 0).then(|| {
                Duration::try_from_secs_f64(secs as f64 / self.time_scale).unwrap_or(Duration::MAX)
            })
        };
        Ok(GatewayLimits {
            stage: self.stage.clone(),
            time_scale: self.time_scale,
            idle_timeout: scaled(self.idle_timeout_secs),
            max_duration: scaled(self.max_duration_secs),
            max_message_bytes: (!self.no_message_limit).then_some(MAX_MESSAGE_BYTES),
            max_frame_bytes: (!self.no_frame_limit).then_some(MAX_FRAME_BYTES),
            connect_rate: (!self.no_connect_limit).then_some(self.connect_rate),
        })
    }
}

use super::error::{ensure, EmulatorError};
use crate::access_logs::AccessLogEntry;
use crate::flags::TIME_SCALE_RANGE;

pub fn check_time_scale(time_scale: f64) -> Result<(), EmulatorError> {
    ensure(TIME_SCALE_RANGE.contains(&time_scale), || {
        format!(
            "--time-scale must be between {} and {}, got {time_scale}",
            TIME_SCALE_RANGE.start(),
            TIME_SCALE_RANGE.end()
        )
    })
}

pub struct GatewayState {
    pub config: GatewayLimits,
    admin_token: Option<String>,
    pub registry: Registry,
    pub faults: FaultSwitch,
    pub integration: Integration,
    limiter: Option<RateLimiter>,
    /// New connections per second, as the account quota caps them.
    connect_limiter: Option<RateLimiter>,
    pub access_log: super::access_log::AccessLog,
    /// SigV4 and IAM as API Gateway checks them; `None` with `--no-auth`.
    pub front_door: Option<super::front_door::FrontDoor>,
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

/// Start the gateway on `listener`; it stops when `shutdown` is cancelled.
pub async fn start_gateway(
    listener: TcpListener,
    backend: &str,
    options: &GatewayOptions,
    shutdown: CancellationToken,
) -> Result<GatewayHandle, EmulatorError> {
    let config = options.limits()?;
    let addr = listener.local_addr()?;
    check_admin_exposure(addr, options.admin_token.as_deref())?;
    let front_door = super::front_door::FrontDoor::from_options(&options.auth)?;
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
        integration: Integration::new(Arc::new(super::api_definition::ApiConfigStore::new(
            super::api_definition::ApiDefinition::guide(backend),
            crate::model::now_utc_millis(),
        ))),
        registry: Registry::default(),
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
    let connections = get(get_connection)
        .post(post_to_connection)
        .delete(delete_connection);
    Router::new()
        // Browsers ask for it when they open the client page; without this it would hit /{stage}.
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/{stage}", get(websocket))
        // A path without the stage is answered Forbidden by the front door, as API Gateway does.
        .route("/{stage}/@connections/{id}", connections)
        // The client page is for browsers and needs no token; the rest of the admin API does.
        .route("/_wsdash/client", get(client_page))
        // The index as printed at start (with the slash, which the nest below does not match).
        .route(
            "/_wsdash/",
            get(admin_index).route_layer(axum::middleware::from_fn_with_state(
                state.clone(),
                require_admin_token,
            )),
        )
        .nest("/_wsdash", admin_router(state.clone()))
        .nest("/v2/apis", super::config_api::router())
        .route(
            super::cloudwatch::GET_METRIC_DATA_PATH,
            post(get_metric_data),
        )
        .route("/", post(aws_json_operation))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            super::front_door::authenticate,
        ))
        .with_state(state)
}

async fn require_admin_token(
    State(state): State<Arc<GatewayState>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let Some(expected) = &state.admin_token else {
        return next.run(request).await;
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if constant_time_eq(given.as_bytes(), expected.as_bytes()) {
        next.run(request).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            Json(serde_json::json!({"message": "the emulator's admin API needs Authorization: Bearer <admin token>"})),
        )
            .into_response()
    }
}

use super::sigv4::constant_time_eq;

// ---------- WebSocket endpoint ----------

async fn websocket(
    State(state): State<Arc<GatewayState>>,
    Path(stage): Path<String>,
    RawQuery(query): RawQuery,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    if stage != state.config.stage {
        return aws_error(StatusCode::FORBIDDEN, "ForbiddenException", "Forbidden");
    }
    let Ok(upgrade) = upgrade else {
        return (
            StatusCode::UPGRADE_REQUIRED,
            "this is a WebSocket endpoint: connect with ws://",
        )
            .into_response();
    };
    let id = new_connection_id();
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let log_connect =
        |status: u16, integration: Option<u16>, latency: Option<u64>, error: Option<String>| {
            let mut line = AccessLogEntry::now(&id, "CONNECT", "$connect", status);
            line.integration_status = integration;
            line.integration_latency = latency;
            line.error_message = error;
            line.source_ip = peer.ip().to_string();
            line.user_agent = user_agent.clone();
            state.access_log.record(line);
        };
    if let Some(limiter) = &state.connect_limiter {
        if !limiter.try_acquire() {
            state.registry.stats.record(SocketEvent::ConnectThrottled);
            log_connect(429, None, None, Some("Too Many Requests".into()));
            return aws_error(
                StatusCode::TOO_MANY_REQUESTS,
                "LimitExceededException",
                "Too many new connections: the account allows 500 per second",
            );
        }
    }
    // The query holds the token: it is forwarded, never logged.
    let started = std::time::Instant::now();
    let connected = state.integration.connect(&id, query.as_deref()).await;
    let latency = Some(started.elapsed().as_millis() as u64);
    match connected {
        Err(refused) => {
            state.registry.stats.record(SocketEvent::ConnectRefused);
            tracing::info!(connection_id = %id, status = refused.status.as_u16(), "$connect refused the handshake");
            let reason: String = refused.body.chars().take(200).collect();
            log_connect(
                refused.status.as_u16(),
                refused.integration_status,
                latency,
                Some(reason),
            );
            return (refused.status, refused.body).into_response();
        }
        Ok(integration) => log_connect(200, integration, latency, None),
    }
    let (commands, inbox) = mpsc::unbounded_channel();
    let connection = Arc::new(LiveConnection::new(
        id.clone(),
        peer.ip().to_string(),
        user_agent,
        commands,
    ));
    state.registry.insert(connection.clone());
    state.registry.stats.record(SocketEvent::Connected);
    tracing::debug!(connection_id = %id, "connected");

    let on_failure = state.clone();
    let failed_id = id.clone();
    // Room for a 128 KB message plus framing; larger ones are closed with 1009 by the socket task.
    // Small buffers: tungstenite's default 128 KiB read buffer per socket would make 10,000 idle
    // clients cost over a gigabyte; they grow on demand for large messages.
    let max_frame = state
        .config
        .max_frame_bytes
        .unwrap_or(MAX_MESSAGE_BYTES * 8);
    upgrade
        .max_message_size(MAX_MESSAGE_BYTES * 8)
        .max_frame_size(max_frame)
        .read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .on_failed_upgrade(move |_| {
            tokio::spawn(
                async move { finish(&on_failure, &failed_id, SocketEvent::DeadPeer).await },
            );
        })
        .on_upgrade(move |socket| run_socket(state, connection, socket, inbox))
}

// ---------- Management API ----------

#[derive(Deserialize)]
struct StagePath {
    stage: String,
    id: String,
}

/// `/{stage}/@connections/{id}`, on this gateway's stage.
struct ConnectionPath(String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for ConnectionPath
where
    Arc<GatewayState>: axum::extract::FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Response> {
        let gateway: Arc<GatewayState> = axum::extract::FromRef::from_ref(state);
        match Path::<StagePath>::from_request_parts(parts, state).await {
            Ok(Path(p)) if p.stage == gateway.config.stage => Ok(ConnectionPath(p.id)),
            Ok(_) => Err(aws_error(
                StatusCode::FORBIDDEN,
                "ForbiddenException",
                "Forbidden",
            )),
            Err(e) => Err(aws_error(
                StatusCode::BAD_REQUEST,
                "BadRequestException",
                &e.body_text(),
            )),
        }
    }
}

/// Latency, rate limit and injected failures, applied to every @connections call.
async fn admit(state: &GatewayState, op: ManagementOp) -> Result<(), Response> {
    let latency = state.faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    if let Some(limiter) = &state.limiter {
        if !limiter.try_acquire() {
            state
                .registry
                .stats
                .record_call(op, DeliveryClass::Throttled);
            return Err(aws_error(
                StatusCode::TOO_MANY_REQUESTS,
                "LimitExceededException",
                "Rate exceeded",
            ));
        }
    }
    let injected = state.faults.roll_call_failure();
    let response = match injected {
        None => return Ok(()),
        Some(InjectedFailure::Forbidden) => {
            state
                .registry
                .stats
                .record_call(op, DeliveryClass::Forbidden);
            aws_error(
                StatusCode::FORBIDDEN,
                "ForbiddenException",
                "Forbidden (injected fault)",
            )
        }
        Some(InjectedFailure::Throttled) => {
            state
                .registry
                .stats
                .record_call(op, DeliveryClass::Throttled);
            aws_error(
                StatusCode::TOO_MANY_REQUESTS,
                "LimitExceededException",
                "Rate exceeded (injected fault)",
            )
        }
        Some(InjectedFailure::ServerError) => {
            state.registry.stats.record_call(op, DeliveryClass::Other);
            aws_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerErrorException",
                "Internal server error (injected fault)",
            )
        }
    };
    Err(response)
}

fn gone(state: &GatewayState, op: ManagementOp) -> Response {
    state.registry.stats.record_call(op, DeliveryClass::Gone);
    aws_error(StatusCode::GONE, "GoneException", "Gone")
}

async fn post_to_connection(
    State(state): State<Arc<GatewayState>>,
    ConnectionPath(id): ConnectionPath,
    body: Bytes,
) -> Response {
    let op = ManagementOp::Post;
    if let Err(response) = admit(&state, op).await {
        return response;
    }
    if body.len() > MAX_MESSAGE_BYTES {
        state
            .registry
            .stats
            .record_call(op, DeliveryClass::PayloadTooLarge);
        return aws_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLargeException",
            &format!(
                "Payload of {} bytes exceeds the limit of {MAX_MESSAGE_BYTES} bytes",
                body.len()
            ),
        );
    }
    match state.registry.get(&id) {
        Some(connection) if connection.command(SocketCommand::Send(as_message(body))) => {
            state
                .registry
                .stats
                .record_call(op, DeliveryClass::Delivered);
            state.access_log.metrics.message_sent();
            StatusCode::OK.into_response()
        }
        _ => gone(&state, op),
    }
}

async fn get_connection(
    State(state): State<Arc<GatewayState>>,
    ConnectionPath(id): ConnectionPath,
) -> Response {
    let op = ManagementOp::Get;
    if let Err(response) = admit(&state, op).await {
        return response;
    }
    let Some(connection) = state.registry.get(&id) else {
        return gone(&state, op);
    };
    state
        .registry
        .stats
        .record_call(op, DeliveryClass::Delivered);
    Json(serde_json::json!({
        "connectedAt": iso_millis(connection.connected_at),
        "lastActiveAt": iso_millis(connection.last_active_at()),
        "identity": {
            "sourceIp": connection.source_ip,
            "userAgent": connection.user_agent,
        }
    }))
    .into_response()
}

async fn delete_connection(
    State(state): State<Arc<GatewayState>>,
    ConnectionPath(id): ConnectionPath,
) -> Response {
    let op = ManagementOp::Delete;
    if let Err(response) = admit(&state, op).await {
        return response;
    }
    match state.registry.get(&id) {
        Some(connection)
            if connection.command(SocketCommand::Close(1000, "Connection deleted".into())) =>
        {
            // Gone at once for later calls, as with the real API.
            state.registry.remove(&id);
            state
                .registry
                .stats
                .record_call(op, DeliveryClass::Delivered);
            StatusCode::NO_CONTENT.into_response()
        }
        _ => gone(&state, op),
    }
}

/// CloudWatch's GetMetricData for this stage's metrics, in RPC v2 CBOR (the Rust SDK).
async fn get_metric_data(State(state): State<Arc<GatewayState>>, body: Bytes) -> Response {
    super::cloudwatch::get_metric_data(
        super::cloudwatch::Protocol::RpcV2Cbor,
        &state.access_log.metrics,
        super::config_api::API_ID,
        &state.config.stage,
        &body,
    )
}

/// `POST /` in AWS JSON 1.0: GetMetricData (botocore), by its `X-Amz-Target`.
async fn aws_json_operation(
    State(state): State<Arc<GatewayState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok());
    if target != Some(super::cloudwatch::GET_METRIC_DATA_TARGET) {
        return aws_error(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            "the emulator serves GetMetricData only",
        );
    }
    super::cloudwatch::get_metric_data(
        super::cloudwatch::Protocol::AwsJson1_0,
        &state.access_log.metrics,
        super::config_api::API_ID,
        &state.config.stage,
        &body,
    )
}

/// An error the AWS SDKs recognise: the type in `x-amzn-ErrorType` and a JSON body.
pub fn aws_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    let mut response = (status, Json(serde_json::json!({ "message": message }))).into_response();
    if let Ok(value) = HeaderValue::from_str(error_type) {
        response.headers_mut().insert("x-amzn-ErrorType", value);
    }
    response
}

// ---------- Admin API (wsdash only, not part of AWS) ----------

fn admin_router(state: Arc<GatewayState>) -> Router<Arc<GatewayState>> {
    Router::new()
        .route("/", get(admin_index))
        .route("/connections", get(admin_connections))
        .route("/stats", get(admin_stats))
        .route("/faults", get(admin_faults).put(admin_update_faults))
        .route("/kill", post(admin_kill))
        .route("/logs", get(admin_logs))
        .route_layer(axum::middleware::from_fn_with_state(
            state,
            require_admin_token,
        ))
}

/// The guide's browser client, with this gateway's WebSocket URL filled in.
const CLIENT_PAGE: &str = include_str!("../../assets/client/index.html");

async fn client_page(State(state): State<Arc<GatewayState>>, headers: HeaderMap) -> Response {
    // The page connects back to the host the browser used, so it works through port forwards too.
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            h.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | ':' | '-' | '[' | ']'))
        })
        .unwrap_or("127.0.0.1");
    let url = format!("ws://{host}/{}", state.config.stage);
    let html = CLIENT_PAGE.replace("{{WS_URL}}", &url);
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
}

async fn admin_index() -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "note": "wsdash emulator admin API: not part of AWS API Gateway",
        "endpoints": {
            "GET /_wsdash/connections": "live connections",
            "GET /_wsdash/stats": "counters of every @connections call by outcome, and socket events",
            "GET /_wsdash/faults": "current fault injection",
            "PUT /_wsdash/faults": "change faults: {forbidden, throttle, server_error, latency_ms, drop_disconnect, kill_socket}",
            "POST /_wsdash/kill": "kill sockets without a close frame: {\"connection_ids\": [...]} or {\"fraction\": 0.5}",
            "GET /_wsdash/client?token=dev:alice": "the guide's browser client, connected to this gateway",
        }
    }))
}

async fn admin_connections(State(state): State<Arc<GatewayState>>) -> Response {
    Json(state.registry.views()).into_response()
}

async fn admin_stats(State(state): State<Arc<GatewayState>>) -> Response {
    Json(state.registry.stats.view(state.registry.len())).into_response()
}

async fn admin_faults(State(state): State<Arc<GatewayState>>) -> Json<Faults> {
    Json(state.faults.get())
}

async fn admin_update_faults(State(state): State<Arc<GatewayState>>, body: Bytes) -> Response {
    let patch: FaultsPatch = match serde_json::from_slice(&body) {
        Ok(patch) => patch,
        Err(e) => {
            return (StatusCode::BAD_REQUEST, format!("bad faults JSON: {e}")).into_response()
        }
    };
    match state.faults.update(patch) {
        Ok(faults) => {
            tracing::info!(?faults, "faults changed");
            Json(faults).into_response()
        }
        Err(e) => (StatusCode::BAD_REQUEST, e).into_response(),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct KillRequest {
    #[serde(default)]
    connection_ids: Vec<String>,
    fraction: Option<f64>,
}

async fn admin_kill(State(state): State<Arc<GatewayState>>, body: Bytes) -> Response {
    let request: KillRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("bad kill JSON: {e}")).into_response(),
    };
    let mut victims = request.connection_ids.clone();
    if let Some(fraction) = request.fraction {
        use rand::Rng;
        let mut rng = rand::rng();
        victims.extend(
            state
                .registry
                .all()
                .iter()
                .filter(|_| rng.random::<f64>() < fraction)
                .map(|c| c.id.clone()),
        );
    }
    let killed: Vec<String> = victims
        .into_iter()
        .filter(|id| {
            state
                .registry
                .get(id)
                .is_some_and(|c| c.command(SocketCommand::Kill))
        })
        .collect();
    Json(serde_json::json!({ "killed": killed })).into_response()
}

/// The access log's recent lines, as `crate::access_logs::LogQuery` selects them (the demo's
/// dashboard reads a connection's, the handshakes, and its logs panel here).
async fn admin_logs(
    State(state): State<Arc<GatewayState>>,
    axum::extract::Query(query): axum::extract::Query<crate::access_logs::LogQuery>,
) -> Response {
    let limit = query.limit.unwrap_or(200).min(10_000);
    let pattern = match query.pattern.as_deref().map(TermPattern::parse).transpose() {
        Ok(pattern) => pattern,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    Json(state.access_log.recent(&query, pattern.as_ref(), limit)).into_response()
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
