//! The emulator's own admin API (`/_wsdash/*`, not part of AWS): live connections, counters,
//! faults, killing sockets, the access log, and the guide's browser client page.

use super::auth::sigv4::constant_time_eq;
use super::GatewayState;
use crate::access_logs::TermPattern;
use crate::emulator::faults::{Faults, FaultsPatch};
use crate::emulator::registry::SocketCommand;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde::Deserialize;
use std::sync::Arc;

pub(super) async fn require_admin_token(
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

pub(super) fn admin_router(state: Arc<GatewayState>) -> Router<Arc<GatewayState>> {
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
const CLIENT_PAGE: &str = include_str!("../../../assets/client/index.html");

pub(super) async fn client_page(
    State(state): State<Arc<GatewayState>>,
    headers: HeaderMap,
) -> Response {
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

pub(super) async fn admin_index() -> Json<serde_json::Value> {
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
