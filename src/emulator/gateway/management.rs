//! The Management API (`/{stage}/@connections/{id}`: PostToConnection, GetConnection,
//! DeleteConnection) with its limits and injected faults, and CloudWatch's GetMetricData for
//! the stage. Authentication happens before, in [`super::auth`].

use super::{aws_error, GatewayState};
use crate::emulator::faults::InjectedFailure;
use crate::emulator::registry::{ManagementOp, SocketCommand};
use crate::emulator::socket::as_message;
use crate::model::{iso_millis, DeliveryClass, MAX_MESSAGE_BYTES};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde::Deserialize;
use std::sync::Arc;

#[derive(Deserialize)]
struct StagePath {
    stage: String,
    id: String,
}

/// `/{stage}/@connections/{id}`, on this gateway's stage.
pub(super) struct ConnectionPath(String);

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

pub(super) async fn post_to_connection(
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

pub(super) async fn get_connection(
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

pub(super) async fn delete_connection(
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
pub(super) async fn get_metric_data(
    State(state): State<Arc<GatewayState>>,
    body: Bytes,
) -> Response {
    crate::emulator::cloudwatch::get_metric_data(
        crate::emulator::cloudwatch::Protocol::RpcV2Cbor,
        &state.access_log.metrics,
        crate::emulator::config_api::API_ID,
        &state.config.stage,
        &body,
    )
}

/// `POST /` in AWS JSON 1.0: GetMetricData (botocore), by its `X-Amz-Target`.
pub(super) async fn aws_json_operation(
    State(state): State<Arc<GatewayState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok());
    if target != Some(crate::emulator::cloudwatch::GET_METRIC_DATA_TARGET) {
        return aws_error(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            "the emulator serves GetMetricData only",
        );
    }
    crate::emulator::cloudwatch::get_metric_data(
        crate::emulator::cloudwatch::Protocol::AwsJson1_0,
        &state.access_log.metrics,
        crate::emulator::config_api::API_ID,
        &state.config.stage,
        &body,
    )
}
