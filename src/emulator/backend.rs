//! The guide's §3 backend in Rust: `$connect`/`$disconnect`/`$default` handlers, the push
//! service, and the debug endpoints, over any [`ConnectionStore`] and [`ManagementApi`].

// Handlers return early with a ready axum Response; boxing it would only add noise.
#![allow(clippy::result_large_err)]

use super::auth::TokenAuth;
use crate::management::ManagementApi;
use crate::model::ConnectionRecord;
use crate::ops::purge::purge_stale;
use crate::ops::push::{push_to_users, PushOptions};
use crate::store::ConnectionStore;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub struct BackendState {
    pub store: Arc<dyn ConnectionStore>,
    pub gateway: Arc<dyn ManagementApi>,
    pub auth: TokenAuth,
    pub admin_token: String,
    /// Where the stale endpoint's deletes are recorded first, as the CLI's are.
    pub audit: Option<Arc<crate::ops::audit::AuditLog>>,
    /// The demo's fault: the first `$connect` of each user with this prefix is accepted but
    /// its record is never written, as when a store write is lost after `$connect` answered.
    /// The socket is an orphan until it is closed; the client's next connection registers.
    pub forget_users: Option<String>,
    /// The users whose first record was forgotten already.
    pub forgotten: std::sync::Mutex<std::collections::HashSet<String>>,
}

pub fn router(state: Arc<BackendState>) -> Router {
    Router::new()
        .route("/ws/connect", post(on_connect))
        .route("/ws/disconnect", post(on_disconnect))
        .route("/ws/message", post(on_message))
        .route("/debug/ws-connections", get(debug_connections))
        .route("/debug/ws-push-test/{user_id}", post(debug_push_test))
        .route("/debug/ws-connections/stale", delete(debug_purge_stale))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(state)
}

/// Serve the backend on `listener` until `shutdown` is cancelled.
/// Serve until `shutdown` is cancelled; the task ends when in-flight requests have finished.
pub fn spawn_backend(
    listener: TcpListener,
    state: Arc<BackendState>,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let server =
            axum::serve(listener, router(state)).with_graceful_shutdown(shutdown.cancelled_owned());
        if let Err(e) = server.await {
            tracing::error!("backend stopped: {e}");
        }
    })
}

fn connection_id(headers: &HeaderMap) -> Result<String, Response> {
    headers
        .get("connectionId")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .ok_or_else(|| {
            (
                StatusCode::BAD_REQUEST,
                "connectionId header missing: map integration.request.header.connectionId = context.connectionId on this integration, then redeploy the stage",
            )
                .into_response()
        })
}

fn store_failure(e: impl std::fmt::Display) -> Response {
    tracing::error!("connection store failed: {e}");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        format!("connection store failed: {e}"),
    )
        .into_response()
}

/// Store the new record; one connection per user, so an older connection is closed.
async fn register(
    state: &BackendState,
    user_id: String,
    connection_id: String,
) -> Result<(), Response> {
    let forget = state
        .forget_users
        .as_deref()
        .is_some_and(|prefix| user_id.starts_with(prefix))
        && state
            .forgotten
            .lock()
            .map(|mut users| users.insert(user_id.clone()))
            .unwrap_or(false);
    if forget {
        tracing::debug!(%connection_id, %user_id, "record forgotten (demo fault)");
        return Ok(());
    }
    let record = ConnectionRecord::new(user_id, connection_id.clone());
    let replaced = state.store.put(record).await.map_err(store_failure)?;
    if let Some(old) = replaced.filter(|old| old.connection_id != connection_id) {
        let gateway = state.gateway.clone();
        tokio::spawn(async move {
            // Gone is fine: the old socket may already be closed.
            let _ = gateway.delete_connection(&old.connection_id).await;
        });
    }
    Ok(())
}

async fn on_connect(
    State(state): State<Arc<BackendState>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let connection_id = match connection_id(&headers) {
        Ok(id) => id,
        Err(response) => return response,
    };
    let user_id = match state
        .auth
        .authenticate(query.get("token").map(String::as_str))
    {
        Ok(user) => user,
        Err(e) => {
            tracing::info!(%connection_id, "refused connect: {e}");
            return (StatusCode::UNAUTHORIZED, e.to_string()).into_response();
        }
    };
    match register(&state, user_id, connection_id).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(response) => response,
    }
}

async fn on_disconnect(State(state): State<Arc<BackendState>>, headers: HeaderMap) -> Response {
    let connection_id = match connection_id(&headers) {
        Ok(id) => id,
        Err(response) => return response,
    };
    let record = match state.store.find_by_connection(&connection_id).await {
        Ok(Some(record)) => record,
        Ok(None) => return StatusCode::OK.into_response(),
        Err(e) => return store_failure(e),
    };
    match state.store.delete_if_current(&record).await {
        Ok(_) => StatusCode::OK.into_response(),
        Err(e) => store_failure(e),
    }
}

#[derive(Deserialize, Default)]
struct ClientMessage {
    action: Option<String>,
    token: Option<String>,
}

async fn on_message(
    State(state): State<Arc<BackendState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let connection_id = match connection_id(&headers) {
        Ok(id) => id,
        Err(response) => return response,
    };
    let message: ClientMessage = match serde_json::from_slice(&body) {
        Ok(m) => m,
        Err(e) => {
            return answer(
                &state,
                connection_id,
                json!({"type": "error", "error": format!("messages must be JSON objects: {e}")}),
            )
        }
    };
    let known = match state.store.find_by_connection(&connection_id).await {
        Ok(record) => record.is_some(),
        Err(e) => return store_failure(e),
    };
    if !known {
        // The guide's re-registration: an unknown connection may identify itself with its token.
        let Some(token) = message.token.as_deref() else {
            return answer(
                &state,
                connection_id,
                json!({"type": "error", "error": "unknown connection: send {\"token\": ...} to re-register"}),
            );
        };
        let user_id = match state.auth.authenticate(Some(token)) {
            Ok(user) => user,
            Err(e) => {
                return answer(
                    &state,
                    connection_id,
                    json!({"type": "error", "error": e.to_string()}),
                )
            }
        };
        if let Err(response) = register(&state, user_id, connection_id.clone()).await {
            return response;
        }
        return answer(
            &state,
            connection_id,
            json!({"type": "heartbeat", "registered": true}),
        );
    }
    match message.action.as_deref() {
        Some("ping") => answer(
            &state,
            connection_id,
            json!({"type": "heartbeat", "reply_to": "ping"}),
        ),
        _ => StatusCode::OK.into_response(),
    }
}

/// Answer the client that sent a message. The guide's routes are one-way (no route response), so
/// API Gateway drops an integration's response body: the answer is pushed through
/// `@connections`, as a backend on AWS must, and the HTTP answer is a bare 200.
fn answer(
    state: &Arc<BackendState>,
    connection_id: String,
    message: serde_json::Value,
) -> Response {
    let gateway = state.gateway.clone();
    tokio::spawn(async move {
        let data = Bytes::from(message.to_string());
        if let Err(e) = gateway.post_to_connection(&connection_id, data).await {
            tracing::info!(%connection_id, "could not answer a client message: {e}");
        }
    });
    StatusCode::OK.into_response()
}

fn authorized(state: &BackendState, headers: &HeaderMap) -> Result<(), Response> {
    let expected = format!("Bearer {}", state.admin_token);
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    // As the gateway's admin API does: timing says nothing about the token.
    if crate::emulator::gateway::auth::sigv4::constant_time_eq(
        given.as_bytes(),
        expected.as_bytes(),
    ) {
        Ok(())
    } else {
        Err((
            StatusCode::UNAUTHORIZED,
            "debug endpoints need Authorization: Bearer <admin token>",
        )
            .into_response())
    }
}

async fn debug_connections(State(state): State<Arc<BackendState>>, headers: HeaderMap) -> Response {
    if let Err(response) = authorized(&state, &headers) {
        return response;
    }
    match state.store.scan().await {
        Ok(snapshot) => Json(snapshot.records).into_response(),
        Err(e) => store_failure(e),
    }
}

async fn debug_push_test(
    State(state): State<Arc<BackendState>>,
    Path(user_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(response) = authorized(&state, &headers) {
        return response;
    }
    let payload = if body.iter().all(u8::is_ascii_whitespace) {
        json!({"type": "status_update", "status": "test", "message": "wsdash test push"})
            .to_string()
    } else {
        match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(v) => v.to_string(),
            Err(e) => {
                return (StatusCode::BAD_REQUEST, format!("body must be JSON: {e}")).into_response()
            }
        }
    };
    let report = match push_to_users(
        state.gateway.clone(),
        state.store.clone(),
        std::slice::from_ref(&user_id),
        Bytes::from(payload),
        PushOptions::default(),
    )
    .await
    {
        Ok(report) => report,
        Err(e) => return store_failure(e),
    };
    match report.outcomes.into_iter().next() {
        Some(outcome) => Json(outcome).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({"user_id": user_id, "class": "not_connected"})),
        )
            .into_response(),
    }
}

async fn debug_purge_stale(State(state): State<Arc<BackendState>>, headers: HeaderMap) -> Response {
    if let Err(response) = authorized(&state, &headers) {
        return response;
    }
    // The same plan and deletes as `wsdash purge`: probed, Gone only, audited, conditional.
    match purge_stale(
        state.gateway.clone(),
        state.store.clone(),
        16,
        state.audit.as_deref(),
    )
    .await
    {
        Ok((plan, report)) => Json(json!({
            "checked": plan.checked,
            "removed": report.deleted,
            "changed_meanwhile": report.changed,
            "audit_log": state.audit.as_ref().map(|a| a.path().display().to_string()),
            "undecided": plan.undecided.iter().map(|(r, e)| json!({"record": r, "error": e})).collect::<Vec<_>>(),
            "failed": report.failed.iter().map(|(r, e)| json!({"record": r, "error": e})).collect::<Vec<_>>(),
        }))
        .into_response(),
        Err(e) => store_failure(e),
    }
}

/// Stores that can back the reference backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StoreKind {
    Memory,
    Dynamodb,
    /// The table in the --store-url database (it must exist: the backend writes its mapped
    /// columns only).
    Postgres,
    /// The --store-url Redis: a JSON string per connection under the schema's record_key.
    Redis,
}
