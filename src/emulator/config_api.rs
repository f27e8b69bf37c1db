//! The apigatewayv2 read calls for the emulator's own configuration (GetApi, GetRoutes,
//! GetIntegrations, GetStage, GetDeployments), so `wsdash doctor` works against the demo.
//! The configuration is the guide's: three routes, HTTP_PROXY integrations with the mapping.

use super::gateway::{aws_error, GatewayState};
use crate::model::iso_millis;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use std::sync::Arc;

/// The one API the emulator serves, as `aws apigatewayv2` and `wsdash doctor` name it.
pub const API_ID: &str = "wsdash";

pub fn router() -> Router<Arc<GatewayState>> {
    Router::new()
        .route("/{api_id}", get(get_api))
        .route("/{api_id}/routes", get(get_routes))
        .route("/{api_id}/integrations", get(get_integrations))
        .route("/{api_id}/stages/{stage}", get(get_stage))
        .route("/{api_id}/deployments", get(get_deployments))
}

fn not_found(what: &str) -> Response {
    aws_error(
        StatusCode::NOT_FOUND,
        "NotFoundException",
        &format!("Invalid {what} identifier specified"),
    )
}

const ROUTES: [(&str, &str, &str); 3] = [
    ("$connect", "connect", "/ws/connect"),
    ("$disconnect", "disconnect", "/ws/disconnect"),
    ("$default", "default", "/ws/message"),
];

async fn get_api(State(state): State<Arc<GatewayState>>, Path(api_id): Path<String>) -> Response {
    if api_id != API_ID {
        return not_found("API");
    }
    Json(json!({
        "apiId": API_ID,
        "name": "wsdash emulator",
        "protocolType": "WEBSOCKET",
        "routeSelectionExpression": "$request.body.action",
        "createdDate": iso_millis(state.started_at),
    }))
    .into_response()
}

async fn get_routes(Path(api_id): Path<String>) -> Response {
    if api_id != API_ID {
        return not_found("API");
    }
    let items: Vec<_> = ROUTES
        .iter()
        .map(|(key, id, _)| json!({"routeId": format!("route-{id}"), "routeKey": key, "target": format!("integrations/{id}")}))
        .collect();
    Json(json!({ "items": items })).into_response()
}

async fn get_integrations(
    State(state): State<Arc<GatewayState>>,
    Path(api_id): Path<String>,
) -> Response {
    if api_id != API_ID {
        return not_found("API");
    }
    let items: Vec<_> = ROUTES
        .iter()
        .map(|(_, id, path)| {
            json!({
                "integrationId": id,
                "integrationType": "HTTP_PROXY",
                "integrationMethod": "POST",
                "integrationUri": format!("{}{path}", state.integration.backend()),
                "passthroughBehavior": "WHEN_NO_MATCH",
                "requestParameters": {"integration.request.header.connectionId": "context.connectionId"},
            })
        })
        .collect();
    Json(json!({ "items": items })).into_response()
}

async fn get_stage(
    State(state): State<Arc<GatewayState>>,
    Path((api_id, stage)): Path<(String, String)>,
) -> Response {
    if api_id != API_ID {
        return not_found("API");
    }
    if stage != state.config.stage {
        return not_found("stage");
    }
    let at = iso_millis(state.started_at);
    Json(json!({"stageName": stage, "autoDeploy": true, "deploymentId": "local", "createdDate": at, "lastUpdatedDate": at})).into_response()
}

async fn get_deployments(
    State(state): State<Arc<GatewayState>>,
    Path(api_id): Path<String>,
) -> Response {
    if api_id != API_ID {
        return not_found("API");
    }
    Json(json!({"items": [{"deploymentId": "local", "deploymentStatus": "DEPLOYED", "createdDate": iso_millis(state.started_at)}]})).into_response()
}
