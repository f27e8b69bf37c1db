//! One client socket's life in the emulator: deliver pushes, forward messages to `$default`,
//! enforce the idle, duration and size limits, and report `$disconnect` when it ends.

use super::gateway::GatewayState;
use super::registry::{LiveConnection, SocketCommand, SocketEvent};
use crate::access_logs::AccessLogEntry;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};

/// Close code for a message above the size limit, as API Gateway sends it.
const CLOSE_MESSAGE_TOO_BIG: u16 = 1009;
const CLOSE_GOING_AWAY: u16 = 1001;

pub async fn run_socket(
    state: Arc<GatewayState>,
    connection: Arc<LiveConnection>,
    socket: WebSocket,
    mut commands: mpsc::UnboundedReceiver<SocketCommand>,
) {
    let (mut sink, mut stream) = socket.split();
    let started = Instant::now();
    let limits = &state.config;
    let max_deadline = limits.max_duration.map(|d| started + d);
    let kill_at = state.faults.roll_kill_socket().then(|| {
        let lifetime = rand::rng().random_range(5.0..60.0) / state.config.time_scale;
        started + Duration::from_secs_f64(lifetime)
    });
    let mut last_active = Instant::now();

    let ended_by = loop {
        let idle_deadline = limits.idle_timeout.map(|d| last_active + d);
        tokio::select! {
            command = commands.recv() => match command {
                Some(SocketCommand::Send(message)) => {
                    last_active = Instant::now();
                    connection.touch();
                    if sink.send(message).await.is_err() {
                        break SocketEvent::DeadPeer;
                    }
                }
                Some(SocketCommand::Close(code, reason)) => {
                    let _ = sink.send(close_frame(code, &reason)).await;
                    break SocketEvent::DeletedByApi;
                }
                Some(SocketCommand::Kill) | None => break SocketEvent::Killed,
            },
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    if let Some(event) = on_client_message(&state, &connection, Bytes::from(text), &mut sink).await {
                        break event;
                    }
                    last_active = Instant::now();
                }
                Some(Ok(Message::Binary(data))) => {
                    if let Some(event) = on_client_message(&state, &connection, data, &mut sink).await {
                        break event;
                    }
                    last_active = Instant::now();
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {
                    last_active = Instant::now();
                    connection.touch();
                }
                Some(Ok(Message::Close(frame))) => {
                    // The close handshake: the client's code echoed, as API Gateway does (1000 for a
                    // close without one), so a clean close is seen as clean.
                    // (tungstenite queues that reply itself once a close arrives; sending it
                    // and closing the sink flushes it before the TCP connection goes.)
                    let code = frame.as_ref().map(|f| f.code).unwrap_or(1000);
                    let _ = sink.send(close_frame(code, "")).await;
                    let _ = sink.close().await;
                    break SocketEvent::ClosedByClient;
                }
                Some(Err(e)) if is_oversized(&e) => {
                    let _ = sink.send(close_frame(CLOSE_MESSAGE_TOO_BIG, "Frame too big")).await;
                    break SocketEvent::FrameTooBig;
                }
                Some(Err(_)) | None => break SocketEvent::DeadPeer,
            },
            _ = wait_for(idle_deadline) => {
                let _ = sink.send(close_frame(CLOSE_GOING_AWAY, "Going away: idle timeout")).await;
                break SocketEvent::IdleTimeout;
            }
            _ = wait_for(max_deadline) => {
                let _ = sink.send(close_frame(CLOSE_GOING_AWAY, "Going away: maximum connection duration")).await;
                break SocketEvent::MaxDuration;
            }
            _ = wait_for(kill_at) => break SocketEvent::Killed,
        }
    };
    // Dropping both halves closes TCP; for Killed this happens without a close frame.
    drop(sink);
    drop(stream);
    finish(&state, &connection.id, ended_by).await;
}

/// Remove a connection, count why it ended, and call `$disconnect` unless that call is to be lost.
pub async fn finish(state: &GatewayState, connection_id: &str, ended_by: SocketEvent) {
    let connection = state.registry.remove(connection_id);
    state.registry.stats.record(ended_by);
    tracing::debug!(connection_id, ?ended_by, "socket ended");
    if state.shutdown.is_cancelled() {
        return;
    }
    if state.faults.roll_drop_disconnect() {
        state.registry.stats.record(SocketEvent::DisconnectsDropped);
        return;
    }
    state.registry.stats.record(SocketEvent::DisconnectsSent);
    let started = std::time::Instant::now();
    let client = super::integration::ClientInfo {
        source_ip: connection
            .as_ref()
            .map(|c| c.source_ip.clone())
            .unwrap_or_default(),
        user_agent: connection
            .as_ref()
            .map(|c| c.user_agent.clone())
            .unwrap_or_default(),
        connected_at_ms: connection
            .as_ref()
            .map(|c| (c.connected_at.unix_timestamp_nanos() / 1_000_000) as i64)
            .unwrap_or_default(),
        handshake_headers: Vec::new(),
        handshake_query: None,
    };
    let integration_status = state.integration.disconnect(connection_id, &client).await;
    let mut line = AccessLogEntry::now(connection_id, "DISCONNECT", "$disconnect", 200);
    line.integration_status = integration_status;
    line.integration_latency = Some(started.elapsed().as_millis() as u64);
    line.error_message = Some(format!("{ended_by:?}"));
    // AWS logs the client's identity on $disconnect too.
    if let Some(connection) = connection {
        line.source_ip = connection.source_ip.clone();
        line.user_agent = connection.user_agent.clone();
    }
    state.access_log.record(line);
}

/// Handle one client message; returns the reason to end the socket, if it must end.
async fn on_client_message<S>(
    state: &Arc<GatewayState>,
    connection: &Arc<LiveConnection>,
    data: Bytes,
    sink: &mut S,
) -> Option<SocketEvent>
where
    S: futures_util::Sink<Message> + Unpin,
{
    if let Some(limit) = state.config.max_message_bytes {
        if data.len() > limit {
            let _ = sink
                .send(close_frame(CLOSE_MESSAGE_TOO_BIG, "Message too big"))
                .await;
            return Some(SocketEvent::MessageTooBig);
        }
    }
    connection.touch();
    state
        .registry
        .stats
        .record(SocketEvent::MessagesFromClients);
    // The integration runs beside the socket so a slow backend never stalls pushes.
    let state = state.clone();
    let connection = connection.clone();
    tokio::spawn(async move {
        let started = std::time::Instant::now();
        let client = super::integration::ClientInfo {
            source_ip: connection.source_ip.clone(),
            user_agent: connection.user_agent.clone(),
            connected_at_ms: (connection.connected_at.unix_timestamp_nanos() / 1_000_000) as i64,
            handshake_headers: Vec::new(),
            handshake_query: None,
        };
        let outcome = state
            .integration
            .message(&connection.id, data, &client)
            .await;
        let mut line = AccessLogEntry::now(&connection.id, "MESSAGE", &outcome.route_key, 200);
        line.integration_status = outcome.integration_status;
        line.integration_latency = Some(started.elapsed().as_millis() as u64);
        line.source_ip = connection.source_ip.clone();
        line.user_agent = connection.user_agent.clone();
        if outcome.integration_status.is_none() {
            line.status = if outcome.reply.is_some() { 403 } else { 502 };
            line.error_message = Some(if outcome.reply.is_some() {
                "Forbidden: no route for this message".into()
            } else {
                "Internal server error: the integration did not answer".into()
            });
        }
        state.access_log.record(line);
        if let Some(reply) = outcome.reply {
            connection.command(SocketCommand::Send(as_message(reply)));
        }
    });
    None
}

/// A frame above the frame limit (or a message far above the message limit) was refused while
/// reading: the peer is fine, it sent too much at once.
fn is_oversized(error: &axum::Error) -> bool {
    use std::error::Error as _;
    use tokio_tungstenite::tungstenite::Error;
    matches!(
        error
            .source()
            .and_then(|inner| inner.downcast_ref::<Error>()),
        Some(Error::Capacity(_))
    )
}

/// A payload becomes a text frame when it is UTF-8, a binary frame otherwise, as API Gateway does.
pub fn as_message(data: Bytes) -> Message {
    match String::from_utf8(data.to_vec()) {
        Ok(text) => Message::Text(text.into()),
        Err(_) => Message::Binary(data),
    }
}

fn close_frame(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.to_string().into(),
    }))
}

async fn wait_for(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}
