//! The apigatewayv2 calls for the emulator's own configuration, on the gateway's port under
//! `/v2/apis`, so the AWS CLI (`--endpoint-url`), `wsdash doctor` and a backend that sets up
//! its own API (as Django's `createApiGateway` does) work against it: CreateApi, GetApis,
//! GetApi; GetRoutes, GetRoute, CreateRoute, UpdateRoute; CreateRouteResponse,
//! GetRouteResponses, GetRouteResponse, DeleteRouteResponse; GetIntegrations, GetIntegration,
//! CreateIntegration, UpdateIntegration; CreateStage, GetStages, GetStage; GetDeployments,
//! GetDeployment, CreateDeployment. Edits change a draft; the stage serves what was last
//! deployed (`api_config`).
//!
//! Longer than most files, for one job: each handler is a few lines of request shape and AWS's
//! answer shape for one call; the rules they enforce live in `api_config`.

use super::api_config::IntegrationPatch;
use super::api_config::{ApiMeta, NewApi, RoutePatch, StageInfo};
use super::api_definition::{ConfigError, IntegrationDef, Route, RouteResponse};
use super::gateway::{aws_error, GatewayState};
use crate::model::iso_millis;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The one API the emulator serves, as `aws apigatewayv2` and `wsdash doctor` name it.
pub const API_ID: &str = "wsdash";

type Shared = State<Arc<GatewayState>>;

pub fn router() -> Router<Arc<GatewayState>> {
    Router::new()
        .route("/", get(get_apis).post(create_api))
        .route("/{api_id}", get(get_api))
        .route("/{api_id}/routes", get(get_routes).post(create_route))
        .route(
            "/{api_id}/routes/{route_id}",
            get(get_route).patch(update_route),
        )
        .route(
            "/{api_id}/routes/{route_id}/routeresponses",
            get(get_route_responses).post(create_route_response),
        )
        .route(
            "/{api_id}/routes/{route_id}/routeresponses/{response_id}",
            get(get_route_response).delete(delete_route_response),
        )
        .route(
            "/{api_id}/integrations",
            get(get_integrations).post(create_integration),
        )
        .route(
            "/{api_id}/integrations/{integration_id}",
            get(get_integration).patch(update_integration),
        )
        .route("/{api_id}/stages", get(get_stages).post(create_stage))
        .route("/{api_id}/stages/{stage}", get(get_stage))
        .route(
            "/{api_id}/deployments",
            get(get_deployments).post(create_deployment),
        )
        .route("/{api_id}/deployments/{deployment_id}", get(get_deployment))
}

fn not_found(what: &str) -> Response {
    aws_error(
        StatusCode::NOT_FOUND,
        "NotFoundException",
        &format!("Invalid {what} identifier specified"),
    )
}

fn refused(error: ConfigError) -> Response {
    match error {
        ConfigError::NotFound(what) => not_found(what),
        ConfigError::BadRequest(message) => {
            aws_error(StatusCode::BAD_REQUEST, "BadRequestException", &message)
        }
        ConfigError::Conflict(message) => {
            aws_error(StatusCode::CONFLICT, "ConflictException", &message)
        }
    }
}

/// A handler's outcome as the wire shows it: its answer, or AWS's error shape.
fn answer(result: Result<Response, ConfigError>) -> Response {
    result.unwrap_or_else(refused)
}

/// The request body as JSON; the CLI and the SDKs do not all say `application/json`.
fn body_json(body: &Bytes) -> Result<Value, ConfigError> {
    if body.is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_slice(body)
        .map_err(|e| ConfigError::BadRequest(format!("the request body is not JSON: {e}")))
}

fn text(body: &Value, field: &str) -> Option<String> {
    body.get(field).and_then(Value::as_str).map(str::to_string)
}

fn api_json(state: &GatewayState, api: &ApiMeta) -> Value {
    let mut out = json!({
        "apiId": API_ID,
        "name": api.name,
        "protocolType": "WEBSOCKET",
        "routeSelectionExpression": state.integration.api.draft().route_selection_expression,
        "apiKeySelectionExpression": api.api_key_selection_expression,
        "disableSchemaValidation": true,
        "createdDate": iso_millis(api.created_at),
        // AWS: wss://API_ID.execute-api.REGION.amazonaws.com; the emulator speaks plain ws.
        "apiEndpoint": format!("ws://{}", state.addr),
    });
    if let Some(description) = &api.description {
        out["description"] = json!(description);
    }
    out
}

fn route_json(route: &Route) -> Value {
    let mut out = json!({
        "routeId": route.id,
        "routeKey": route.route_key,
        "authorizationType": "NONE",
        "apiKeyRequired": false,
    });
    if let Some(target) = &route.target {
        out["target"] = json!(target);
    }
    if let Some(expression) = &route.route_response_selection_expression {
        out["routeResponseSelectionExpression"] = json!(expression);
    }
    out
}

fn route_response_json(response: &RouteResponse) -> Value {
    json!({
        "routeResponseId": response.id,
        "routeResponseKey": response.key,
    })
}

fn integration_json(integration: &IntegrationDef) -> Value {
    let mut out = json!({
        "integrationId": integration.id,
        "integrationType": integration.integration_type,
        "integrationMethod": integration.method,
        "integrationUri": integration.uri,
        "connectionType": "INTERNET",
        "passthroughBehavior": "WHEN_NO_MATCH",
        "timeoutInMillis": integration.timeout_ms,
    });
    if !integration.request_parameters.is_empty() {
        out["requestParameters"] = json!(integration.request_parameters);
    }
    out
}

/// Every handler answers only for the emulator's API id, once the API exists; it gives the API.
macro_rules! this_api {
    ($state:expr, $api_id:expr) => {
        match $state.integration.api.api() {
            Some(api) if $api_id == API_ID => api,
            _ => return not_found("API"),
        }
    };
}

async fn create_api(State(state): Shared, body: Bytes) -> Response {
    let body = match body_json(&body) {
        Ok(body) => body,
        Err(e) => return refused(e),
    };
    // RouteKey and Target (quick create) are for HTTP APIs; a WebSocket API starts empty.
    let request = NewApi {
        name: text(&body, "name"),
        protocol_type: text(&body, "protocolType"),
        route_selection_expression: text(&body, "routeSelectionExpression"),
        api_key_selection_expression: text(&body, "apiKeySelectionExpression"),
        description: text(&body, "description"),
    };
    match state
        .integration
        .api
        .create_api(request, crate::model::now_utc_millis())
    {
        Ok((api, _)) => {
            tracing::info!(name = %api.name, "API created");
            (StatusCode::CREATED, Json(api_json(&state, &api))).into_response()
        }
        Err(e) => refused(e),
    }
}

async fn get_apis(State(state): Shared) -> Response {
    let items: Vec<Value> = state
        .integration
        .api
        .api()
        .iter()
        .map(|api| api_json(&state, api))
        .collect();
    Json(json!({ "items": items })).into_response()
}

async fn get_api(State(state): Shared, Path(api_id): Path<String>) -> Response {
    let api = this_api!(state, api_id);
    Json(api_json(&state, &api)).into_response()
}

async fn get_routes(State(state): Shared, Path(api_id): Path<String>) -> Response {
    this_api!(state, api_id);
    let routes = state.integration.api.draft().routes;
    Json(json!({ "items": routes.iter().map(route_json).collect::<Vec<_>>() })).into_response()
}

async fn get_route(
    State(state): Shared,
    Path((api_id, route_id)): Path<(String, String)>,
) -> Response {
    this_api!(state, api_id);
    match state
        .integration
        .api
        .draft()
        .routes
        .iter()
        .find(|r| r.id == route_id)
    {
        Some(route) => Json(route_json(route)).into_response(),
        None => not_found("Route"),
    }
}

fn route_patch(body: &Value) -> RoutePatch {
    RoutePatch {
        route_key: text(body, "routeKey"),
        target: text(body, "target"),
        route_response_selection_expression: text(body, "routeResponseSelectionExpression"),
    }
}

fn find_route(state: &GatewayState, route_id: &str) -> Option<Route> {
    state
        .integration
        .api
        .draft()
        .routes
        .into_iter()
        .find(|r| r.id == route_id)
}

async fn get_route_responses(
    State(state): Shared,
    Path((api_id, route_id)): Path<(String, String)>,
) -> Response {
    this_api!(state, api_id);
    match find_route(&state, &route_id) {
        Some(route) => Json(json!({
            "items": route.responses.iter().map(route_response_json).collect::<Vec<_>>()
        }))
        .into_response(),
        None => not_found("Route"),
    }
}

async fn get_route_response(
    State(state): Shared,
    Path((api_id, route_id, response_id)): Path<(String, String, String)>,
) -> Response {
    this_api!(state, api_id);
    let Some(route) = find_route(&state, &route_id) else {
        return not_found("Route");
    };
    match route.responses.iter().find(|r| r.id == response_id) {
        Some(response) => Json(route_response_json(response)).into_response(),
        None => not_found("RouteResponse"),
    }
}

async fn create_route_response(
    State(state): Shared,
    Path((api_id, route_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    this_api!(state, api_id);
    answer(
        body_json(&body)
            .and_then(|body| {
                state
                    .integration
                    .api
                    .create_route_response(&route_id, text(&body, "routeResponseKey"))
            })
            .map(|response| {
                (StatusCode::CREATED, Json(route_response_json(&response))).into_response()
            }),
    )
}

async fn delete_route_response(
    State(state): Shared,
    Path((api_id, route_id, response_id)): Path<(String, String, String)>,
) -> Response {
    this_api!(state, api_id);
    answer(
        state
            .integration
            .api
            .delete_route_response(&route_id, &response_id)
            .map(|()| StatusCode::NO_CONTENT.into_response()),
    )
}

async fn create_route(State(state): Shared, Path(api_id): Path<String>, body: Bytes) -> Response {
    this_api!(state, api_id);
    answer(
        body_json(&body)
            .and_then(|body| state.integration.api.create_route(route_patch(&body)))
            .map(|route| (StatusCode::CREATED, Json(route_json(&route))).into_response()),
    )
}

async fn update_route(
    State(state): Shared,
    Path((api_id, route_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    this_api!(state, api_id);
    answer(
        body_json(&body)
            .and_then(|body| {
                state
                    .integration
                    .api
                    .update_route(&route_id, route_patch(&body))
            })
            .map(|route| Json(route_json(&route)).into_response()),
    )
}

async fn get_integrations(State(state): Shared, Path(api_id): Path<String>) -> Response {
    this_api!(state, api_id);
    let integrations = state.integration.api.draft().integrations;
    Json(json!({ "items": integrations.iter().map(integration_json).collect::<Vec<_>>() }))
        .into_response()
}

async fn get_integration(
    State(state): Shared,
    Path((api_id, integration_id)): Path<(String, String)>,
) -> Response {
    this_api!(state, api_id);
    match state
        .integration
        .api
        .draft()
        .integrations
        .iter()
        .find(|i| i.id == integration_id)
    {
        Some(integration) => Json(integration_json(integration)).into_response(),
        None => not_found("Integration"),
    }
}

fn integration_patch(body: &Value) -> Result<IntegrationPatch, ConfigError> {
    let request_parameters = match body.get("requestParameters") {
        None | Some(Value::Null) => None,
        Some(Value::Object(map)) => Some(
            map.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect::<BTreeMap<_, _>>(),
        ),
        Some(_) => {
            return Err(ConfigError::BadRequest(
                "requestParameters must be a map of strings".into(),
            ))
        }
    };
    Ok(IntegrationPatch {
        integration_type: text(body, "integrationType"),
        method: text(body, "integrationMethod"),
        uri: text(body, "integrationUri"),
        request_parameters,
        timeout_ms: body.get("timeoutInMillis").and_then(Value::as_u64),
    })
}

async fn create_integration(
    State(state): Shared,
    Path(api_id): Path<String>,
    body: Bytes,
) -> Response {
    this_api!(state, api_id);
    answer(
        body_json(&body)
            .and_then(|b| integration_patch(&b))
            .and_then(|patch| state.integration.api.create_integration(patch))
            .map(|integration| {
                (StatusCode::CREATED, Json(integration_json(&integration))).into_response()
            }),
    )
}

async fn update_integration(
    State(state): Shared,
    Path((api_id, integration_id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    this_api!(state, api_id);
    answer(
        body_json(&body)
            .and_then(|b| integration_patch(&b))
            .and_then(|patch| {
                state
                    .integration
                    .api
                    .update_integration(&integration_id, patch)
            })
            .map(|integration| Json(integration_json(&integration)).into_response()),
    )
}

fn stage_json(state: &GatewayState, stage: &StageInfo) -> Value {
    let mut out = json!({
        "stageName": stage.name,
        // Like a stage made with the CLI: changes wait for CreateDeployment.
        "autoDeploy": false,
        "createdDate": iso_millis(stage.created_at),
        "lastUpdatedDate": iso_millis(stage.updated_at),
    });
    if let Some(id) = &stage.deployment_id {
        out["deploymentId"] = json!(id);
    }
    if let Some(group) = &state.log_group {
        out["accessLogSettings"] = json!({
            "destinationArn": format!("arn:aws:logs:us-east-1:000000000000:log-group:{group}"),
            "format": crate::access_logs::ACCESS_LOG_FORMAT,
        });
    }
    out
}

async fn create_stage(State(state): Shared, Path(api_id): Path<String>, body: Bytes) -> Response {
    this_api!(state, api_id);
    answer(
        body_json(&body)
            .and_then(|body| {
                let name = text(&body, "stageName")
                    .ok_or_else(|| ConfigError::BadRequest("StageName is required".into()))?;
                state.integration.api.create_stage(
                    &name,
                    &state.config.stage,
                    crate::model::now_utc_millis(),
                )
            })
            .map(|stage| (StatusCode::CREATED, Json(stage_json(&state, &stage))).into_response()),
    )
}

async fn get_stages(State(state): Shared, Path(api_id): Path<String>) -> Response {
    this_api!(state, api_id);
    let items: Vec<Value> = state
        .integration
        .api
        .stage()
        .iter()
        .map(|stage| stage_json(&state, stage))
        .collect();
    Json(json!({ "items": items })).into_response()
}

async fn get_stage(State(state): Shared, Path((api_id, name)): Path<(String, String)>) -> Response {
    this_api!(state, api_id);
    match state.integration.api.stage() {
        Some(stage) if stage.name == name => Json(stage_json(&state, &stage)).into_response(),
        _ => not_found("Stage"),
    }
}

fn deployment_json(d: &super::api_config::Deployment) -> Value {
    json!({
        "deploymentId": d.id,
        "deploymentStatus": "DEPLOYED",
        "createdDate": iso_millis(d.created_at),
        "description": d.description,
        "autoDeployed": false,
    })
}

async fn get_deployments(State(state): Shared, Path(api_id): Path<String>) -> Response {
    this_api!(state, api_id);
    let items: Vec<Value> = state
        .integration
        .api
        .deployments()
        .iter()
        .map(deployment_json)
        .collect();
    Json(json!({ "items": items })).into_response()
}

async fn get_deployment(
    State(state): Shared,
    Path((api_id, deployment_id)): Path<(String, String)>,
) -> Response {
    this_api!(state, api_id);
    match state
        .integration
        .api
        .deployments()
        .iter()
        .find(|d| d.id == deployment_id)
    {
        Some(d) => Json(deployment_json(d)).into_response(),
        None => not_found("Deployment"),
    }
}

async fn create_deployment(
    State(state): Shared,
    Path(api_id): Path<String>,
    body: Bytes,
) -> Response {
    this_api!(state, api_id);
    answer(
        body_json(&body)
            .and_then(|body| {
                state.integration.api.deploy(
                    text(&body, "description"),
                    text(&body, "stageName").as_deref(),
                    crate::model::now_utc_millis(),
                )
            })
            .map(|deployment| {
                tracing::info!(deployment_id = %deployment.id, "new deployment");
                (StatusCode::CREATED, Json(deployment_json(&deployment))).into_response()
            }),
    )
}
