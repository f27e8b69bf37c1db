//! The emulated API's configuration: routes, integrations and deployments, as apigatewayv2 keeps
//! them. Changes go to a draft; the stage serves the last deployment, and the stage does not
//! deploy by itself: a change takes effect only after CreateDeployment, as the guide's §1.4
//! warns. That is what lets the guide's most common failure (the connectionId mapping missing
//! from an integration) be reproduced, diagnosed and fixed locally with the AWS CLI.

use std::collections::BTreeMap;

pub const CONNECTION_ID_MAPPING: (&str, &str) = (
    "integration.request.header.connectionId",
    "context.connectionId",
);

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Route {
    pub id: String,
    pub route_key: String,
    /// `integrations/ID`, or none (a route that goes nowhere).
    pub target: Option<String>,
    /// `$default` (the only value a WebSocket route takes) or none.
    pub route_response_selection_expression: Option<String>,
    /// The route's responses (CreateRouteResponse); a WebSocket route has at most `$default`.
    pub responses: Vec<RouteResponse>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RouteResponse {
    pub id: String,
    pub key: String,
}

impl Route {
    /// A two-way route: its integration's answer goes back to the client. API Gateway relays
    /// it only when the route selects a route response (`RouteResponseSelectionExpression`
    /// `$default`) and that response exists; any other route is one-way and the answer is
    /// dropped, so a backend must push (`@connections`) to reach the client.
    pub fn two_way(&self) -> bool {
        self.route_response_selection_expression.as_deref() == Some(DEFAULT_ROUTE_RESPONSE)
            && self
                .responses
                .iter()
                .any(|r| r.key == DEFAULT_ROUTE_RESPONSE)
    }
}

/// The one route response key (and route response selection expression) WebSocket APIs take.
pub const DEFAULT_ROUTE_RESPONSE: &str = "$default";

/// The route selection expression of the guide's API, and the default.
pub const BODY_ACTION: &str = "$request.body.action";

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
    /// `$request.body.PATH`: the JSON field of a client message that names its route.
    pub route_selection_expression: String,
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
            route_selection_expression: BODY_ACTION.into(),
            // One-way routes, as the guide's commands create them: the backend answers the
            // client by pushing, never through the integration's response.
            routes: routes
                .iter()
                .map(|(key, id, _)| Route {
                    id: format!("route-{id}"),
                    route_key: key.to_string(),
                    target: Some(format!("integrations/{id}")),
                    ..Default::default()
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

    /// An empty API, as CreateApi makes it: no routes, no integrations.
    pub fn empty(route_selection_expression: &str) -> Self {
        ApiDefinition {
            route_selection_expression: route_selection_expression.to_string(),
            routes: Vec::new(),
            integrations: Vec::new(),
        }
    }

    /// The route a client message takes under `$request.body.PATH`: the route the JSON body's
    /// field names, when there is one, else `$default`.
    pub fn select_route(&self, body: &[u8]) -> &str {
        let path =
            selection_path(&self.route_selection_expression).unwrap_or_else(|| vec!["action"]);
        let key = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|mut value| {
                for field in &path {
                    value = value.get_mut(*field)?.take();
                }
                match value {
                    serde_json::Value::String(s) => Some(s),
                    serde_json::Value::Null => None,
                    other => Some(other.to_string()),
                }
            });
        match key.and_then(|k| self.route(&k)) {
            Some(route) if !route.route_key.starts_with('$') => &route.route_key,
            _ => "$default",
        }
    }
}

/// The fields of `$request.body.a.b` (`["a", "b"]`); `None` for any other expression.
fn selection_path(expression: &str) -> Option<Vec<&str>> {
    let path: Vec<&str> = expression
        .strip_prefix("$request.body.")?
        .split('.')
        .collect();
    path.iter().all(|f| !f.is_empty()).then_some(path)
}

/// A route selection expression the gateway can carry out: `$request.body.` and a field path,
/// as WebSocket APIs take them.
pub fn check_route_selection(expression: &str) -> Result<(), ConfigError> {
    match selection_path(expression) {
        Some(_) => Ok(()),
        None => Err(ConfigError::BadRequest(format!(
            "Invalid route selection expression specified: {expression}: a WebSocket API selects routes with $request.body.FIELD (e.g. {BODY_ACTION})"
        ))),
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
pub(super) fn check_mapping(target: &str, source: &str) -> Result<(), ConfigError> {
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
    fn the_body_action_selects_a_custom_route_else_default() {
        let mut api = ApiDefinition::guide("http://b");
        api.routes.push(Route {
            id: "r".into(),
            route_key: "subscribe".into(),
            target: Some("integrations/default".into()),
            ..Default::default()
        });
        assert_eq!(api.select_route(br#"{"action":"subscribe"}"#), "subscribe");
        assert_eq!(api.select_route(br#"{"action":"other"}"#), "$default");
        assert_eq!(api.select_route(br#"{"action":"$connect"}"#), "$default");
        assert_eq!(api.select_route(b"not json"), "$default");
        // Another selection expression, a nested field.
        api.route_selection_expression = "$request.body.meta.kind".into();
        assert_eq!(
            api.select_route(br#"{"action":"x","meta":{"kind":"subscribe"}}"#),
            "subscribe"
        );
        assert_eq!(api.select_route(br#"{"action":"subscribe"}"#), "$default");
        assert!(check_route_selection("$request.body.meta.kind").is_ok());
        for refused in [
            "$request.header.x",
            "$request.body.",
            "action",
            "$request.body.a..b",
        ] {
            assert!(check_route_selection(refused).is_err(), "{refused}");
        }
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
