//! The WebSocket endpoint (`ws://ADDR/STAGE`): the handshake, the `$connect` integration and
//! its access-log line, then the socket's own task.

use super::{aws_error, GatewayState};
use crate::access_logs::AccessLogEntry;
use crate::emulator::ids::new_connection_id;
use crate::emulator::registry::{LiveConnection, SocketEvent};
use crate::emulator::socket::{finish, run_socket};
use crate::model::MAX_MESSAGE_BYTES;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::mpsc;

pub(super) async fn websocket(
    State(state): State<Arc<GatewayState>>,
    Path(stage): Path<String>,
    RawQuery(query): RawQuery,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    // A stage that does not exist, or serves no deployment yet, answers nothing but Forbidden.
    if stage != state.config.stage || !state.integration.api.serving() {
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
    let client = crate::emulator::integration::ClientInfo {
        source_ip: peer.ip().to_string(),
        user_agent: user_agent.clone(),
        connected_at_ms: crate::model::now_utc_millis().unix_timestamp_nanos() as i64 / 1_000_000,
        handshake_headers: headers
            .iter()
            .filter_map(|(name, value)| Some((name.to_string(), value.to_str().ok()?.to_string())))
            .collect(),
        handshake_query: query,
    };
    let connected = state.integration.connect(&id, &client).await;
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
