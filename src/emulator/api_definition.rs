//! The emulated API's configuration: routes, integrations and deployments, as apigatewayv2 keeps
//! them. Changes go to a draft; the stage serves the last deployment, and the stage does not
//! deploy by itself: a change takes effect only after CreateDeployment, as the guide's §1.4
//! warns. That is what lets the guide's most common failure (the connectionId mapping missing
//! from an integration) be reproduced, diagnosed and fixed locally with the AWS CLI.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use time::OffsetDateTime;

pub const CONNECTION_ID_MAPPING: (&str, &str) = (
    "integration.request.header.connectionId",
    "context.connectionId",
);

#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub id: String,
    pub route_key: String,
    /// `integrations/ID`, or none (a route that goes nowhere).
    pub target: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IntegrationDef {
    pub id: String,
    pub integration_type: String,
    pub method: String,
    pub uri: String,
    /// `integration.request.header.NAME` / `integration.request.querystring.NAME` to a source:
    /// a `context.*` variable of [`CONTEXT_VARIABLES`], `route.request.querystring.NAME`,
    /// `route.request.header.NAME` (the handshake's, so on `$connect`), or a 'literal'.
    pub request_parameters: BTreeMap<String, String>,
    /// How long the gateway waits for the backend (TimeoutInMillis: 50 to 29,000 ms).
    pub timeout_ms: u64,
}

/// API Gateway's longest (and default) integration timeout.
pub const MAX_INTEGRATION_TIMEOUT_MS: u64 = 29_000;

/// Routes and integrations: a draft being edited, or a deployed snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiDefinition {
    pub routes: Vec<Route>,
    pub integrations: Vec<IntegrationDef>,
}

/// What a request to the backend is made of, besides the body.
#[derive(Debug, Clone, PartialEq)]
pub struct BackendCall {
    pub uri: String,
    pub headers: Vec<(String, String)>,
    pub query: Vec<(String, String)>,
}

/// What the gateway knows when it calls an integration.
pub struct CallContext<'a> {
    pub connection_id: &'a str,
    pub route_key: &'a str,
    pub event_type: &'a str,
    pub request_id: &'a str,
    /// The client's handshake query string (for `route.request.querystring.*`).
    pub query: &'a [(String, String)],
    /// The client's handshake headers (for `route.request.header.*`; empty after `$connect`).
    pub headers: &'a [(String, String)],
    pub source_ip: &'a str,
    pub user_agent: &'a str,
    pub api_id: &'a str,
    pub stage: &'a str,
    pub domain_name: &'a str,
    /// Epoch milliseconds.
    pub connected_at_ms: i64,
    pub request_time_ms: i64,
}

/// The `$context` variables a WebSocket API's request parameters may map (AWS's list for
/// WebSocket APIs; `authorizer.*` and the Cognito ones have no value without an authorizer).
pub const CONTEXT_VARIABLES: [&str; 14] = [
    "context.connectionId",
    "context.routeKey",
    "context.eventType",
    "context.requestId",
    "context.extendedRequestId",
    "context.apiId",
    "context.stage",
    "context.domainName",
    "context.connectedAt",
    "context.requestTimeEpoch",
    "context.messageDirection",
    "context.identity.sourceIp",
    "context.identity.userAgent",
    "context.requestTime",
];

impl ApiDefinition {
    /// The guide's API (§1.1, §1.2): three routes, each an HTTP_PROXY POST to the backend with
    /// the connectionId mapping.
    pub fn guide(backend: &str) -> Self {
        let backend = backend.trim_end_matches('/');
        let routes = [
            ("$connect", "connect", "/ws/connect"),
            ("$disconnect", "disconnect", "/ws/disconnect"),
            ("$default", "default", "/ws/message"),
        ];
        ApiDefinition {
            routes: routes
                .iter()
                .map(|(key, id, _)| Route {
                    id: format!("route-{id}"),
                    route_key: key.to_string(),
                    target: Some(format!("integrations/{id}")),
                })
                .collect(),
            integrations: routes
                .iter()
                .map(|(_, id, path)| IntegrationDef {
                    id: id.to_string(),
                    integration_type: "HTTP_PROXY".into(),
                    method: "POST".into(),
                    uri: format!("{backend}{path}"),
                    request_parameters: BTreeMap::from([(
                        CONNECTION_ID_MAPPING.0.to_string(),
                        CONNECTION_ID_MAPPING.1.to_string(),
                    )]),
                    timeout_ms: MAX_INTEGRATION_TIMEOUT_MS,
                })
                .collect(),
        }
    }

    pub fn route(&self, route_key: &str) -> Option<&Route> {
        self.routes.iter().find(|r| r.route_key == route_key)
    }

    /// The integration a route targets, if the route exists and targets one that exists.
    pub fn integration_for(&self, route_key: &str) -> Option<&IntegrationDef> {
        let target = self.route(route_key)?.target.as_deref()?;
        let id = target.strip_prefix("integrations/").unwrap_or(target);
        self.integrations.iter().find(|i| i.id == id)
    }

    /// The route a client message takes under `$request.body.action`: the route named by the
    /// JSON body's `action`, when there is one, else `$default`.
    pub fn select_route(&self, body: &[u8]) -> &str {
        let action = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("action")?.as_str().map(str::to_string));
        match action.and_then(|a| self.route(&a)) {
            Some(route) if !route.route_key.starts_with('$') => &route.route_key,
            _ => "$default",
        }
    }
}

impl IntegrationDef {
    /// The backend request for this integration in `context`: parameters whose source is not
    /// available (a header the client did not send) are left out, as API Gateway does.
    pub fn call(&self, context: &CallContext) -> BackendCall {
        let mut call = BackendCall {
            uri: self.uri.clone(),
            headers: Vec::new(),
            query: Vec::new(),
        };
        for (target, source) in &self.request_parameters {
            let Some(value) = source_value(source, context) else {
                continue;
            };
            if let Some(name) = target.strip_prefix("integration.request.header.") {
                call.headers.push((name.to_string(), value));
            } else if let Some(name) = target.strip_prefix("integration.request.querystring.") {
                call.query.push((name.to_string(), value));
            }
        }
        call
    }
}

fn source_value(source: &str, context: &CallContext) -> Option<String> {
    if let Some(literal) = source.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
        return Some(literal.to_string());
    }
    if let Some(name) = source.strip_prefix("route.request.querystring.") {
        return context
            .query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone());
    }
    if let Some(name) = source.strip_prefix("route.request.header.") {
        // Header names are case-insensitive.
        return context
            .headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone());
    }
    let text = |s: &str| (!s.is_empty()).then(|| s.to_string());
    match source {
        "context.connectionId" => Some(context.connection_id.to_string()),
        "context.routeKey" => Some(context.route_key.to_string()),
        "context.eventType" => Some(context.event_type.to_string()),
        "context.requestId" | "context.extendedRequestId" => Some(context.request_id.to_string()),
        "context.apiId" => Some(context.api_id.to_string()),
        "context.stage" => Some(context.stage.to_string()),
        "context.domainName" => text(context.domain_name),
        "context.connectedAt" => Some(context.connected_at_ms.to_string()),
        "context.requestTimeEpoch" => Some(context.request_time_ms.to_string()),
        "context.requestTime" => {
            time::OffsetDateTime::from_unix_timestamp(context.request_time_ms / 1000)
                .ok()
                .and_then(|t| {
                    t.format(time::macros::format_description!(
                        "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"
                    ))
                    .ok()
                })
        }
        "context.messageDirection" => Some("IN".to_string()),
        "context.identity.sourceIp" => text(context.source_ip),
        "context.identity.userAgent" => text(context.user_agent),
        _ => None,
    }
}

/// Why a change to the configuration was refused, as apigatewayv2 says it.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigError {
    NotFound(&'static str),
    BadRequest(String),
    Conflict(String),
}

/// A mapping the emulator can carry out; anything else is refused when it is set, not when a
/// client connects.
fn check_mapping(target: &str, source: &str) -> Result<(), ConfigError> {
    let target_ok = [
        "integration.request.header.",
        "integration.request.querystring.",
    ]
    .iter()
    .any(|p| target.strip_prefix(p).is_some_and(|name| !name.is_empty()));
    let named = |prefix: &str| source.strip_prefix(prefix).is_some_and(|n| !n.is_empty());
    let source_ok = (source.len() >= 2 && source.starts_with('\'') && source.ends_with('\''))
        || named("route.request.querystring.")
        || named("route.request.header.")
        || CONTEXT_VARIABLES.contains(&source);
    if target_ok && source_ok {
        Ok(())
    } else {
        Err(ConfigError::BadRequest(format!(
            "Invalid mapping expression specified: Validation Result: warnings : [], errors : [Invalid mapping expression specified: {target} = {source}]"
        )))
    }
}

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

/// Changes to a route (UpdateRoute).
#[derive(Debug, Default)]
pub struct RoutePatch {
    pub route_key: Option<String>,
    /// `Some("")` removes the target.
    pub target: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    pub id: String,
    pub created_at: OffsetDateTime,
    pub description: Option<String>,
}

struct Versions {
    draft: ApiDefinition,
    deployed: Arc<ApiDefinition>,
    deployments: Vec<Deployment>,
    stage_updated: OffsetDateTime,
    next_id: u64,
}

/// The configuration behind the emulated API: edited through the apigatewayv2 calls, read by
/// the gateway (the deployed snapshot) on every connect, message and disconnect.
pub struct ApiConfigStore(RwLock<Versions>);

impl ApiConfigStore {
    /// `definition`, deployed once at `now` (the stage's first deployment).
    pub fn new(definition: ApiDefinition, now: OffsetDateTime) -> Self {
        ApiConfigStore(RwLock::new(Versions {
            deployed: Arc::new(definition.clone()),
            draft: definition,
            deployments: vec![Deployment {
                id: "initial".into(),
                created_at: now,
                description: Some("the guide's configuration".into()),
            }],
            stage_updated: now,
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

    /// What the stage serves now.
    pub fn deployed(&self) -> Arc<ApiDefinition> {
        self.read(|v| v.deployed.clone())
    }

    /// What GetRoutes and GetIntegrations show: the latest edits, deployed or not.
    pub fn draft(&self) -> ApiDefinition {
        self.read(|v| v.draft.clone())
    }

    pub fn deployments(&self) -> Vec<Deployment> {
        self.read(|v| v.deployments.clone())
    }

    /// The deployment the stage serves and when the stage last changed.
    pub fn stage(&self) -> (String, OffsetDateTime) {
        self.read(|v| {
            let id = v
                .deployments
                .last()
                .map(|d| d.id.clone())
                .unwrap_or_default();
            (id, v.stage_updated)
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
        self.write(|v| {
            if let Some(key) = &patch.route_key {
                if v.draft.routes.iter().any(|r| &r.route_key == key && r.id != id) {
                    return Err(ConfigError::Conflict(format!(
                        "Unable to complete operation due to concurrent modification. Route key {key} already exists"
                    )));
                }
            }
            let route = v
                .draft
                .routes
                .iter_mut()
                .find(|r| r.id == id)
                .ok_or(ConfigError::NotFound("Route"))?;
            if let Some(key) = patch.route_key {
                route.route_key = key;
            }
            if let Some(target) = patch.target {
                route.target = (!target.is_empty()).then_some(target);
            }
            Ok(route.clone())
        })
    }

    pub fn create_route(&self, patch: RoutePatch) -> Result<Route, ConfigError> {
        let Some(key) = patch.route_key.filter(|k| !k.is_empty()) else {
            return Err(ConfigError::BadRequest("RouteKey is required".into()));
        };
        self.write(|v| {
            if v.draft.route(&key).is_some() {
                return Err(ConfigError::Conflict(format!(
                    "Route with key {key} already exists for this API"
                )));
            }
            let route = Route {
                id: format!("route-{}", v.next_id),
                route_key: key,
                target: patch.target.filter(|t| !t.is_empty()),
            };
            v.next_id += 1;
            v.draft.routes.push(route.clone());
            Ok(route)
        })
    }

    /// CreateDeployment: the stage serves the draft as it is now.
    pub fn deploy(&self, description: Option<String>, now: OffsetDateTime) -> Deployment {
        self.write(|v| {
            let deployment = Deployment {
                id: format!("deploy-{}", v.next_id),
                created_at: now,
                description,
            };
            v.next_id += 1;
            v.deployed = Arc::new(v.draft.clone());
            v.deployments.push(deployment.clone());
            v.stage_updated = now;
            deployment
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context<'a>(query: &'a [(String, String)]) -> CallContext<'a> {
        CallContext {
            connection_id: "Abc123=",
            route_key: "$connect",
            event_type: "CONNECT",
            request_id: "req-1",
            query,
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
    fn every_documented_source_maps_and_headers_match_whatever_their_case() {
        let headers = vec![("Origin".to_string(), "https://app.example.com".to_string())];
        let mut ctx = context(&[]);
        ctx.headers = &headers;
        for (source, expected) in [
            (
                "route.request.header.origin",
                Some("https://app.example.com"),
            ),
            ("route.request.header.Cookie", None),
            ("context.identity.sourceIp", Some("203.0.113.9")),
            ("context.identity.userAgent", Some("Mozilla/5.0")),
            ("context.apiId", Some("wsdash")),
            ("context.stage", Some("production")),
            ("context.domainName", Some("127.0.0.1:4510")),
            ("context.connectedAt", Some("1000")),
            ("context.requestTimeEpoch", Some("2000")),
            ("context.messageDirection", Some("IN")),
        ] {
            assert_eq!(source_value(source, &ctx).as_deref(), expected, "{source}");
            check_mapping("integration.request.header.x", source).expect(source);
        }
        assert!(check_mapping("integration.request.header.x", "route.request.header.").is_err());
        assert!(check_mapping(
            "integration.request.header.x",
            "context.authorizer.principalId"
        )
        .is_err());
    }

    #[test]
    fn a_change_takes_effect_only_once_deployed() {
        let store = ApiConfigStore::new(
            ApiDefinition::guide("http://127.0.0.1:8000"),
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
                .call(&context(&[]))
                .headers
        };
        assert_eq!(serving(&store), [("connectionId".into(), "Abc123=".into())]);
        store.deploy(None, OffsetDateTime::now_utc());
        assert!(serving(&store).is_empty());
        assert_eq!(store.deployments().len(), 2);
    }

    #[test]
    fn mappings_the_gateway_cannot_carry_out_are_refused() {
        let store =
            ApiConfigStore::new(ApiDefinition::guide("http://b"), OffsetDateTime::now_utc());
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
    fn the_body_action_selects_a_custom_route_else_default() {
        let mut api = ApiDefinition::guide("http://b");
        api.routes.push(Route {
            id: "r".into(),
            route_key: "subscribe".into(),
            target: Some("integrations/default".into()),
        });
        assert_eq!(api.select_route(br#"{"action":"subscribe"}"#), "subscribe");
        assert_eq!(api.select_route(br#"{"action":"other"}"#), "$default");
        assert_eq!(api.select_route(br#"{"action":"$connect"}"#), "$default");
        assert_eq!(api.select_route(b"not json"), "$default");
    }

    #[test]
    fn parameters_map_literals_and_the_client_query() {
        let integration = IntegrationDef {
            id: "i".into(),
            integration_type: "HTTP_PROXY".into(),
            method: "POST".into(),
            uri: "http://b/x".into(),
            timeout_ms: MAX_INTEGRATION_TIMEOUT_MS,
            request_parameters: BTreeMap::from([
                (
                    "integration.request.header.X-Env".into(),
                    "'staging'".into(),
                ),
                (
                    "integration.request.querystring.t".into(),
                    "route.request.querystring.token".into(),
                ),
                (
                    "integration.request.header.Missing".into(),
                    "route.request.querystring.nope".into(),
                ),
            ]),
        };
        let query = [("token".to_string(), "dev:alice".to_string())];
        let call = integration.call(&context(&query));
        assert_eq!(call.headers, [("X-Env".to_string(), "staging".to_string())]);
        assert_eq!(call.query, [("t".to_string(), "dev:alice".to_string())]);
    }
}
