//! The emulated API's configuration as the apigatewayv2 calls edit it: the API itself
//! (CreateApi), its stage, routes, route responses and integrations. Changes go to a draft; the
//! stage serves the last deployment, and the stage does not deploy by itself: a change takes
//! effect only after CreateDeployment, as the guide's §1.4 warns. That is what lets the guide's
//! most common failure (the connectionId mapping missing from an integration) be reproduced,
//! diagnosed and fixed locally with the AWS CLI.
//!
//! Longer than most files, for one job: the draft/deployment model and every rule AWS applies to
//! an edit, side by side so that one call's checks cannot drift from another's; a third of it
//! is tests.

use super::api_definition::{
    check_mapping, check_route_selection, ApiDefinition, ConfigError, IntegrationDef, Route,
    RouteResponse, DEFAULT_ROUTE_RESPONSE, MAX_INTEGRATION_TIMEOUT_MS,
};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use time::OffsetDateTime;

/// Changes to an integration (UpdateIntegration); `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct IntegrationPatch {
    pub integration_type: Option<String>,
    pub method: Option<String>,
    pub uri: Option<String>,
    /// Merged into the integration's parameters; an empty value removes that parameter.
    pub request_parameters: Option<BTreeMap<String, String>>,
    pub timeout_ms: Option<u64>,
}

/// AWS takes 50 to 29,000 ms and refuses anything else.
fn check_timeout(timeout_ms: Option<u64>) -> Result<(), ConfigError> {
    match timeout_ms {
        Some(ms) if !(50..=MAX_INTEGRATION_TIMEOUT_MS).contains(&ms) => {
            Err(ConfigError::BadRequest(format!(
                "Invalid timeout specified: TimeoutInMillis must be between 50 and 29000, got {ms}"
            )))
        }
        _ => Ok(()),
    }
}

/// Changes to a route (CreateRoute, UpdateRoute); `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct RoutePatch {
    pub route_key: Option<String>,
    /// `Some("")` removes the target.
    pub target: Option<String>,
    /// `Some("")` removes it; WebSocket routes take only `$default`.
    pub route_response_selection_expression: Option<String>,
}

/// What CreateApi is asked for.
#[derive(Debug, Default)]
pub struct NewApi {
    pub name: Option<String>,
    pub protocol_type: Option<String>,
    pub route_selection_expression: Option<String>,
    pub api_key_selection_expression: Option<String>,
    pub description: Option<String>,
}

/// The API itself, as GetApi shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiMeta {
    pub name: String,
    pub description: Option<String>,
    pub api_key_selection_expression: String,
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    pub id: String,
    pub created_at: OffsetDateTime,
    pub description: Option<String>,
    /// What the deployment froze: the stage serves it once it points at this deployment.
    definition: Arc<ApiDefinition>,
}

/// The one stage, once it exists: which deployment it serves.
#[derive(Debug, Clone, PartialEq)]
pub struct StageInfo {
    pub name: String,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    /// The deployment it serves; `None` until one is deployed to it.
    pub deployment_id: Option<String>,
}

struct Versions {
    /// `None` until CreateApi, for a gateway started without an API.
    api: Option<ApiMeta>,
    draft: ApiDefinition,
    stage: Option<StageInfo>,
    deployments: Vec<Deployment>,
    next_id: u64,
}

impl Versions {
    fn next_id(&mut self, prefix: &str) -> String {
        let id = format!("{prefix}-{}", self.next_id);
        self.next_id += 1;
        id
    }

    fn route_mut(&mut self, id: &str) -> Result<&mut Route, ConfigError> {
        self.draft
            .routes
            .iter_mut()
            .find(|r| r.id == id)
            .ok_or(ConfigError::NotFound("Route"))
    }
}

/// The configuration behind the emulated API: edited through the apigatewayv2 calls, read by
/// the gateway (the deployed snapshot) on every connect, message and disconnect.
pub struct ApiConfigStore(RwLock<Versions>);

/// What the stage serves before anything is deployed to it: nothing.
fn nothing_deployed() -> Arc<ApiDefinition> {
    static EMPTY: std::sync::OnceLock<Arc<ApiDefinition>> = std::sync::OnceLock::new();
    EMPTY
        .get_or_init(|| Arc::new(ApiDefinition::empty(super::api_definition::BODY_ACTION)))
        .clone()
}

impl ApiConfigStore {
    /// An API that exists already: `definition`, deployed once at `now` to `stage` (the guide's
    /// API of a gateway started with a backend).
    pub fn new(definition: ApiDefinition, stage: &str, now: OffsetDateTime) -> Self {
        let deployment = Deployment {
            id: "initial".into(),
            created_at: now,
            description: Some("the guide's configuration".into()),
            definition: Arc::new(definition.clone()),
        };
        ApiConfigStore(RwLock::new(Versions {
            api: Some(ApiMeta {
                name: "wsdash emulator".into(),
                description: None,
                api_key_selection_expression: "$request.header.x-api-key".into(),
                created_at: now,
            }),
            draft: definition,
            stage: Some(StageInfo {
                name: stage.to_string(),
                created_at: now,
                updated_at: now,
                deployment_id: Some(deployment.id.clone()),
            }),
            deployments: vec![deployment],
            next_id: 1,
        }))
    }

    /// No API yet: the backend creates it (CreateApi, routes, CreateStage, CreateDeployment),
    /// as it would on AWS.
    pub fn without_api() -> Self {
        ApiConfigStore(RwLock::new(Versions {
            api: None,
            draft: ApiDefinition::empty(super::api_definition::BODY_ACTION),
            stage: None,
            deployments: Vec::new(),
            next_id: 1,
        }))
    }

    fn read<T>(&self, f: impl FnOnce(&Versions) -> T) -> T {
        match self.0.read() {
            Ok(versions) => f(&versions),
            Err(poisoned) => f(&poisoned.into_inner()),
        }
    }

    fn write<T>(&self, f: impl FnOnce(&mut Versions) -> T) -> T {
        match self.0.write() {
            Ok(mut versions) => f(&mut versions),
            Err(poisoned) => f(&mut poisoned.into_inner()),
        }
    }

    /// The API, once it exists.
    pub fn api(&self) -> Option<ApiMeta> {
        self.read(|v| v.api.clone())
    }

    /// CreateApi. The emulator serves one WebSocket API: a second one is refused, saying so.
    pub fn create_api(
        &self,
        request: NewApi,
        now: OffsetDateTime,
    ) -> Result<(ApiMeta, String), ConfigError> {
        let name = request
            .name
            .filter(|n| !n.is_empty())
            .ok_or_else(|| ConfigError::BadRequest("Name is required".into()))?;
        match request.protocol_type.as_deref() {
            Some("WEBSOCKET") => {}
            Some("HTTP") => {
                return Err(ConfigError::BadRequest(
                    "the emulator serves WebSocket APIs only: ProtocolType must be WEBSOCKET"
                        .into(),
                ))
            }
            other => {
                return Err(ConfigError::BadRequest(format!(
                    "Invalid protocol type specified: {}: must be WEBSOCKET or HTTP",
                    other.unwrap_or("(none)")
                )))
            }
        }
        let selection = request.route_selection_expression.ok_or_else(|| {
            ConfigError::BadRequest(
                "RouteSelectionExpression is required for a WEBSOCKET API".into(),
            )
        })?;
        check_route_selection(&selection)?;
        self.write(|v| {
            if let Some(existing) = &v.api {
                return Err(ConfigError::Conflict(format!(
                    "the emulator serves one API, and {:?} exists already (made at start from --backend, or by an earlier CreateApi): restart `wsdash gateway` without --backend to create a new one",
                    existing.name
                )));
            }
            let api = ApiMeta {
                name,
                description: request.description,
                api_key_selection_expression: request
                    .api_key_selection_expression
                    .unwrap_or_else(|| "$request.header.x-api-key".into()),
                created_at: now,
            };
            v.api = Some(api.clone());
            v.draft = ApiDefinition::empty(&selection);
            Ok((api, selection))
        })
    }

    /// What the stage serves now (nothing before the first deployment to it).
    pub fn deployed(&self) -> Arc<ApiDefinition> {
        self.read(|v| {
            let id = v.stage.as_ref().and_then(|s| s.deployment_id.as_deref());
            v.deployments
                .iter()
                .find(|d| Some(d.id.as_str()) == id)
                .map(|d| d.definition.clone())
                .unwrap_or_else(nothing_deployed)
        })
    }

    /// Whether the stage exists and serves a deployment: only then does its URL answer.
    pub fn serving(&self) -> bool {
        self.read(|v| v.stage.as_ref().is_some_and(|s| s.deployment_id.is_some()))
    }

    /// What GetRoutes and GetIntegrations show: the latest edits, deployed or not.
    pub fn draft(&self) -> ApiDefinition {
        self.read(|v| v.draft.clone())
    }

    pub fn deployments(&self) -> Vec<Deployment> {
        self.read(|v| v.deployments.clone())
    }

    /// The stage, once it exists.
    pub fn stage(&self) -> Option<StageInfo> {
        self.read(|v| v.stage.clone())
    }

    /// CreateStage: the emulator serves one stage, the one it was started with (`--stage`).
    pub fn create_stage(
        &self,
        name: &str,
        served: &str,
        now: OffsetDateTime,
    ) -> Result<StageInfo, ConfigError> {
        if name != served {
            return Err(ConfigError::BadRequest(format!(
                "the emulator serves one stage, {served:?} (its --stage), not {name:?}"
            )));
        }
        self.write(|v| {
            if v.stage.is_some() {
                return Err(ConfigError::Conflict(format!(
                    "Stage already exists: {name}"
                )));
            }
            let stage = StageInfo {
                name: name.to_string(),
                created_at: now,
                updated_at: now,
                deployment_id: None,
            };
            v.stage = Some(stage.clone());
            Ok(stage)
        })
    }

    pub fn update_integration(
        &self,
        id: &str,
        patch: IntegrationPatch,
    ) -> Result<IntegrationDef, ConfigError> {
        if let Some(parameters) = &patch.request_parameters {
            for (target, source) in parameters.iter().filter(|(_, s)| !s.is_empty()) {
                check_mapping(target, source)?;
            }
        }
        check_timeout(patch.timeout_ms)?;
        self.write(|v| {
            let integration = v
                .draft
                .integrations
                .iter_mut()
                .find(|i| i.id == id)
                .ok_or(ConfigError::NotFound("Integration"))?;
            if let Some(kind) = patch.integration_type {
                integration.integration_type = kind;
            }
            if let Some(method) = patch.method {
                integration.method = method;
            }
            if let Some(uri) = patch.uri {
                integration.uri = uri;
            }
            if let Some(ms) = patch.timeout_ms {
                integration.timeout_ms = ms;
            }
            for (target, source) in patch.request_parameters.unwrap_or_default() {
                if source.is_empty() {
                    integration.request_parameters.remove(&target);
                } else {
                    integration.request_parameters.insert(target, source);
                }
            }
            Ok(integration.clone())
        })
    }

    pub fn create_integration(
        &self,
        patch: IntegrationPatch,
    ) -> Result<IntegrationDef, ConfigError> {
        let Some(uri) = patch.uri else {
            return Err(ConfigError::BadRequest(
                "IntegrationUri is required for HTTP_PROXY integrations".into(),
            ));
        };
        let parameters = patch.request_parameters.unwrap_or_default();
        for (target, source) in &parameters {
            check_mapping(target, source)?;
        }
        check_timeout(patch.timeout_ms)?;
        self.write(|v| {
            let id = format!("integ-{}", v.next_id);
            v.next_id += 1;
            let integration = IntegrationDef {
                id,
                integration_type: patch
                    .integration_type
                    .unwrap_or_else(|| "HTTP_PROXY".into()),
                method: patch.method.unwrap_or_else(|| "POST".into()),
                uri,
                request_parameters: parameters,
                timeout_ms: patch.timeout_ms.unwrap_or(MAX_INTEGRATION_TIMEOUT_MS),
            };
            v.draft.integrations.push(integration.clone());
            Ok(integration)
        })
    }

    pub fn update_route(&self, id: &str, patch: RoutePatch) -> Result<Route, ConfigError> {
        check_route_response_selection(patch.route_response_selection_expression.as_deref())?;
        self.write(|v| {
            if let Some(key) = &patch.route_key {
                if v.draft.routes.iter().any(|r| &r.route_key == key && r.id != id) {
                    return Err(ConfigError::Conflict(format!(
                        "Unable to complete operation due to concurrent modification. Route key {key} already exists"
                    )));
                }
            }
            let route = v.route_mut(id)?;
            if let Some(key) = patch.route_key {
                route.route_key = key;
            }
            if let Some(target) = patch.target {
                route.target = (!target.is_empty()).then_some(target);
            }
            if let Some(expression) = patch.route_response_selection_expression {
                route.route_response_selection_expression =
                    (!expression.is_empty()).then_some(expression);
            }
            Ok(route.clone())
        })
    }

    pub fn create_route(&self, patch: RoutePatch) -> Result<Route, ConfigError> {
        let Some(key) = patch.route_key.filter(|k| !k.is_empty()) else {
            return Err(ConfigError::BadRequest("RouteKey is required".into()));
        };
        check_route_response_selection(patch.route_response_selection_expression.as_deref())?;
        self.write(|v| {
            if v.draft.route(&key).is_some() {
                return Err(ConfigError::Conflict(format!(
                    "Route with key {key} already exists for this API"
                )));
            }
            let route = Route {
                id: v.next_id("route"),
                route_key: key,
                target: patch.target.filter(|t| !t.is_empty()),
                route_response_selection_expression: patch
                    .route_response_selection_expression
                    .filter(|e| !e.is_empty()),
                responses: Vec::new(),
            };
            v.draft.routes.push(route.clone());
            Ok(route)
        })
    }

    /// CreateRouteResponse: with `$default` as the route's route response selection
    /// expression, it makes the route two-way once deployed.
    pub fn create_route_response(
        &self,
        route_id: &str,
        key: Option<String>,
    ) -> Result<RouteResponse, ConfigError> {
        let key =
            key.ok_or_else(|| ConfigError::BadRequest("RouteResponseKey is required".into()))?;
        if key != DEFAULT_ROUTE_RESPONSE {
            return Err(ConfigError::BadRequest(format!(
                "Invalid route response key specified: {key}: WebSocket routes take only the {DEFAULT_ROUTE_RESPONSE} route response"
            )));
        }
        self.write(|v| {
            let id = v.next_id("rr");
            let route = v.route_mut(route_id)?;
            if route.responses.iter().any(|r| r.key == key) {
                return Err(ConfigError::Conflict(format!(
                    "Route response with key {key} already exists for this route"
                )));
            }
            let response = RouteResponse { id, key };
            route.responses.push(response.clone());
            Ok(response)
        })
    }

    /// DeleteRouteResponse: the route is one-way again once deployed.
    pub fn delete_route_response(&self, route_id: &str, id: &str) -> Result<(), ConfigError> {
        self.write(|v| {
            let route = v.route_mut(route_id)?;
            let before = route.responses.len();
            route.responses.retain(|r| r.id != id);
            if route.responses.len() == before {
                return Err(ConfigError::NotFound("RouteResponse"));
            }
            Ok(())
        })
    }

    /// CreateDeployment: the draft as it is now, frozen; with a stage name, that stage serves it.
    pub fn deploy(
        &self,
        description: Option<String>,
        stage: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Deployment, ConfigError> {
        self.write(|v| {
            if v.api.is_none() {
                return Err(ConfigError::NotFound("API"));
            }
            if let Some(name) = stage {
                if v.stage.as_ref().map(|s| s.name.as_str()) != Some(name) {
                    return Err(ConfigError::NotFound("Stage"));
                }
            }
            let deployment = Deployment {
                id: v.next_id("deploy"),
                created_at: now,
                description,
                definition: Arc::new(v.draft.clone()),
            };
            v.deployments.push(deployment.clone());
            if let (Some(_), Some(current)) = (stage, v.stage.as_mut()) {
                current.deployment_id = Some(deployment.id.clone());
                current.updated_at = now;
            }
            Ok(deployment)
        })
    }
}

/// A WebSocket route's route response selection expression is `$default` or nothing.
fn check_route_response_selection(expression: Option<&str>) -> Result<(), ConfigError> {
    match expression {
        None | Some("") | Some(DEFAULT_ROUTE_RESPONSE) => Ok(()),
        Some(other) => Err(ConfigError::BadRequest(format!(
            "Invalid route response selection expression specified: {other}: WebSocket routes take only {DEFAULT_ROUTE_RESPONSE}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::emulator::api_definition::{CallContext, CONNECTION_ID_MAPPING};

    fn context<'a>() -> CallContext<'a> {
        CallContext {
            connection_id: "Abc123=",
            route_key: "$connect",
            event_type: "CONNECT",
            request_id: "req-1",
            query: &[],
            headers: &[],
            source_ip: "203.0.113.9",
            user_agent: "Mozilla/5.0",
            api_id: "wsdash",
            stage: "production",
            domain_name: "127.0.0.1:4510",
            connected_at_ms: 1_000,
            request_time_ms: 2_000,
        }
    }

    #[test]
    fn a_change_takes_effect_only_once_deployed() {
        let store = ApiConfigStore::new(
            ApiDefinition::guide("http://127.0.0.1:8000"),
            "production",
            OffsetDateTime::now_utc(),
        );
        let removed = store
            .update_integration(
                "connect",
                IntegrationPatch {
                    request_parameters: Some(BTreeMap::from([(
                        CONNECTION_ID_MAPPING.0.to_string(),
                        String::new(),
                    )])),
                    ..Default::default()
                },
            )
            .expect("update");
        assert!(removed.request_parameters.is_empty());
        let serving = |store: &ApiConfigStore| {
            store
                .deployed()
                .integration_for("$connect")
                .expect("integration")
                .call(&context())
                .headers
        };
        assert_eq!(serving(&store), [("connectionId".into(), "Abc123=".into())]);
        store
            .deploy(None, Some("production"), OffsetDateTime::now_utc())
            .expect("deploy");
        assert!(serving(&store).is_empty());
        assert_eq!(store.deployments().len(), 2);
    }

    #[test]
    fn mappings_the_gateway_cannot_carry_out_are_refused() {
        let store = ApiConfigStore::new(
            ApiDefinition::guide("http://b"),
            "production",
            OffsetDateTime::now_utc(),
        );
        for (target, source) in [
            (
                "integration.request.header.connectionId",
                "context.nonsense",
            ),
            ("request.header.x", "context.connectionId"),
            ("integration.request.header.", "'x'"),
        ] {
            let result = store.update_integration(
                "default",
                IntegrationPatch {
                    request_parameters: Some(BTreeMap::from([(target.into(), source.into())])),
                    ..Default::default()
                },
            );
            assert!(
                matches!(result, Err(ConfigError::BadRequest(_))),
                "{target} = {source}"
            );
        }
        assert!(matches!(
            store.update_integration("nope", IntegrationPatch::default()),
            Err(ConfigError::NotFound(_))
        ));
    }

    #[test]
    fn a_backend_creates_the_api_and_the_stage_serves_only_what_is_deployed() {
        let now = OffsetDateTime::now_utc();
        let store = ApiConfigStore::without_api();
        assert!(store.api().is_none() && !store.serving());
        assert!(matches!(
            store.deploy(None, Some("production"), now),
            Err(ConfigError::NotFound("API"))
        ));
        let request = || NewApi {
            name: Some("chat".into()),
            protocol_type: Some("WEBSOCKET".into()),
            route_selection_expression: Some("$request.body.action".into()),
            ..Default::default()
        };
        assert!(matches!(
            store.create_api(
                NewApi {
                    protocol_type: Some("HTTP".into()),
                    ..request()
                },
                now
            ),
            Err(ConfigError::BadRequest(_))
        ));
        store.create_api(request(), now).expect("create");
        assert!(matches!(
            store.create_api(request(), now),
            Err(ConfigError::Conflict(_))
        ));
        assert!(matches!(
            store.create_stage("dev", "production", now),
            Err(ConfigError::BadRequest(_))
        ));
        store
            .create_stage("production", "production", now)
            .expect("stage");
        assert!(matches!(
            store.create_stage("production", "production", now),
            Err(ConfigError::Conflict(_))
        ));
        assert!(
            !store.serving(),
            "a stage without a deployment serves nothing"
        );
        let route = store
            .create_route(RoutePatch {
                route_key: Some("$default".into()),
                route_response_selection_expression: Some("$default".into()),
                ..Default::default()
            })
            .expect("route");
        // A deployment without a stage name leaves the stage as it was.
        store.deploy(None, None, now).expect("deploy");
        assert!(!store.serving());
        store.deploy(None, Some("production"), now).expect("deploy");
        assert!(store.serving());
        assert!(!store.deployed().routes[0].two_way());
        assert!(matches!(
            store.create_route_response(&route.id, Some("$other".into())),
            Err(ConfigError::BadRequest(_))
        ));
        let response = store
            .create_route_response(&route.id, Some("$default".into()))
            .expect("route response");
        assert!(!store.deployed().routes[0].two_way(), "not deployed yet");
        store.deploy(None, Some("production"), now).expect("deploy");
        assert!(store.deployed().routes[0].two_way());
        store
            .delete_route_response(&route.id, &response.id)
            .expect("delete");
        store.deploy(None, Some("production"), now).expect("deploy");
        assert!(!store.deployed().routes[0].two_way());
    }
}
