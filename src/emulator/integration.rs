//! The HTTP_PROXY integrations: how the emulator calls the backend for `$connect`, messages and
//! `$disconnect`, as the deployed configuration says (`api_definition`): the URI, the method,
//! and the request parameters (the guide's §1.2 connectionId header among them).

use super::api_config::ApiConfigStore;
use super::api_definition::{ApiDefinition, CallContext};
use axum::http::StatusCode;
use bytes::Bytes;
use std::sync::Arc;
use std::time::Duration;

/// API Gateway gives an integration at most 29 s.
const INTEGRATION_TIMEOUT: Duration = Duration::from_secs(29);

#[derive(Clone)]
pub struct Integration {
    http: reqwest::Client,
    /// The stage and the host clients reach it at, for `context.stage` and `context.domainName`.
    stage: String,
    domain_name: String,
    /// Routes and integrations: each call reads the deployed snapshot.
    pub api: Arc<ApiConfigStore>,
}

/// Why `$connect` refused the handshake.
#[derive(Debug, Clone)]
pub struct ConnectRefused {
    pub status: StatusCode,
    pub body: String,
    /// The backend's own status, when it answered at all.
    pub integration_status: Option<u16>,
}

/// What became of a client message.
#[derive(Debug, Clone)]
pub struct MessageOutcome {
    pub route_key: String,
    /// The backend's status; `None` when no integration was called or it did not answer.
    pub integration_status: Option<u16>,
    /// What goes back to the client.
    pub reply: Option<Bytes>,
}

/// Who is on the other end of the socket, for the headers API Gateway adds to every
/// integration request, and (on `$connect`) the client's own handshake headers.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub source_ip: String,
    pub user_agent: String,
    /// When the connection was accepted, epoch milliseconds (`context.connectedAt`).
    pub connected_at_ms: i64,
    /// The handshake's headers as the client sent them; empty after `$connect`.
    pub handshake_headers: Vec<(String, String)>,
    /// The handshake's query string (the client's token among it): passed through on
    /// `$connect` only, and never logged.
    pub handshake_query: Option<String>,
}

/// Headers of the handshake that are the connection's own, not the client's to pass on.
const HOP_BY_HOP: [&str; 8] = [
    "host",
    "connection",
    "upgrade",
    "content-length",
    "transfer-encoding",
    "user-agent",
    "keep-alive",
    "te",
];

/// What API Gateway adds to an integration request (HTTP_PROXY): its own User-Agent, the API
/// id, a trace id and the X-Forwarded-* trio of the client's connection (on AWS always https
/// on 443), then, on `$connect`, the client's handshake headers (Origin, Cookie,
/// Sec-WebSocket-*), which HTTP_PROXY passes through.
pub fn gateway_headers(api_id: &str, client: &ClientInfo) -> Vec<(String, String)> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let trace = format!(
        "Root=1-{now:08x}-{}",
        &(crate::token::random_token() + &crate::token::random_token())[..24]
    );
    let mut headers: Vec<(String, String)> = client
        .handshake_headers
        .iter()
        .filter(|(name, _)| !HOP_BY_HOP.contains(&name.to_ascii_lowercase().as_str()))
        .cloned()
        .collect();
    headers.extend([
        (
            "User-Agent".to_string(),
            format!("AmazonAPIGateway_{api_id}"),
        ),
        ("X-Amzn-Apigateway-Api-Id".to_string(), api_id.to_string()),
        ("X-Amzn-Trace-Id".to_string(), trace),
        ("X-Forwarded-For".to_string(), client.source_ip.clone()),
        ("X-Forwarded-Port".to_string(), "443".to_string()),
        ("X-Forwarded-Proto".to_string(), "https".to_string()),
    ]);
    headers
}

/// The client's handshake query string as pairs (for `route.request.querystring.*`).
fn query_pairs(raw_query: Option<&str>) -> Vec<(String, String)> {
    raw_query
        .map(|query| {
            form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

impl Integration {
    pub fn new(api: Arc<ApiConfigStore>, stage: &str, domain_name: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(INTEGRATION_TIMEOUT)
            .pool_max_idle_per_host(64)
            .build()
            .unwrap_or_default();
        Self {
            http,
            api,
            stage: stage.to_string(),
            domain_name: domain_name.to_string(),
        }
    }

    /// The request for `route_key`'s integration, or `None` when the deployed API has no such
    /// route or it targets nothing.
    fn request(
        &self,
        api: &ApiDefinition,
        route_key: &str,
        event_type: &str,
        connection_id: &str,
        client: &ClientInfo,
    ) -> Option<(String, reqwest::RequestBuilder)> {
        let integration = api.integration_for(route_key)?;
        let pass_query = client.handshake_query.as_deref();
        let client_query = query_pairs(pass_query);
        let client_query = client_query.as_slice();
        let request_id = crate::token::random_token();
        let call = integration.call(&CallContext {
            connection_id,
            route_key,
            event_type,
            request_id: &request_id,
            query: client_query,
            headers: &client.handshake_headers,
            source_ip: &client.source_ip,
            user_agent: &client.user_agent,
            api_id: super::config_api::API_ID,
            stage: &self.stage,
            domain_name: &self.domain_name,
            connected_at_ms: client.connected_at_ms,
            request_time_ms: time::OffsetDateTime::now_utc().unix_timestamp() * 1000,
        });
        // HTTP_PROXY passes the client's own query string through; mapped ones are added.
        let mut url = call.uri.clone();
        let mut separator = if url.contains('?') { '&' } else { '?' };
        if let Some(q) = pass_query.filter(|q| !q.is_empty()) {
            url.push(separator);
            url.push_str(q);
            separator = '&';
        }
        if !call.query.is_empty() {
            let mapped = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&call.query)
                .finish();
            url.push(separator);
            url.push_str(&mapped);
        }
        let method = reqwest::Method::from_bytes(integration.method.as_bytes())
            .unwrap_or(reqwest::Method::POST);
        let mut request = self
            .http
            .request(method, &url)
            .timeout(Duration::from_millis(integration.timeout_ms));
        for (name, value) in gateway_headers(super::config_api::API_ID, client) {
            request = request.header(name, value);
        }
        // Mapped parameters last: a mapping names exactly what the backend gets.
        for (name, value) in &call.headers {
            request = request.header(name, value);
        }
        Some((integration.uri.clone(), request))
    }

    /// `$connect`: no body, the client's query string passed through; any non-2xx refuses. With
    /// no `$connect` route deployed, every handshake is accepted, as API Gateway does.
    pub async fn connect(
        &self,
        connection_id: &str,
        client: &ClientInfo,
    ) -> Result<Option<u16>, ConnectRefused> {
        let api = self.api.deployed();
        let Some((uri, request)) = self.request(&api, "$connect", "CONNECT", connection_id, client)
        else {
            return Ok(None);
        };
        // No body, but a Content-Length of 0, as AWS sends it.
        let response = bodiless(request).send().await.map_err(|e| ConnectRefused {
            integration_status: None,
            // API Gateway answers a backend that takes longer than the integration's timeout
            // with 504; one it cannot reach with 502.
            status: if e.is_timeout() {
                StatusCode::GATEWAY_TIMEOUT
            } else {
                StatusCode::BAD_GATEWAY
            },
            // reqwest's message includes the URL, and with it the token: say only what failed.
            body: format!(
                "backend unreachable for $connect at {uri}: {}",
                short_reason(&e)
            ),
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(Some(status.as_u16()));
        }
        let body = response.text().await.unwrap_or_default();
        Err(ConnectRefused {
            status: StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::BAD_GATEWAY),
            body,
            integration_status: Some(status.as_u16()),
        })
    }

    /// A client message, routed by the route selection expression: on a two-way route (one
    /// with a `$default` route response) the backend's answer goes back to the client; on a
    /// one-way route it is dropped, as API Gateway drops it. With no route for the message
    /// (and no `$default`), the client is told "Forbidden", as API Gateway does.
    pub async fn message(
        &self,
        connection_id: &str,
        body: Bytes,
        client: &ClientInfo,
    ) -> MessageOutcome {
        let api = self.api.deployed();
        let route_key = api.select_route(&body).to_string();
        let Some((_, request)) = self.request(&api, &route_key, "MESSAGE", connection_id, client)
        else {
            let answer = serde_json::json!({
                "message": "Forbidden",
                "connectionId": connection_id,
                "requestId": crate::token::random_token(),
            });
            return MessageOutcome {
                route_key,
                integration_status: None,
                reply: Some(Bytes::from(answer.to_string())),
            };
        };
        let two_way = api.route(&route_key).is_some_and(|route| route.two_way());
        match request.body(body).send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                let answer = r.bytes().await.ok().filter(|b| !b.is_empty());
                MessageOutcome {
                    route_key,
                    integration_status: Some(status),
                    reply: answer.filter(|_| two_way),
                }
            }
            Err(e) => {
                tracing::warn!(
                    connection_id,
                    route_key,
                    "backend unreachable for a message: {}",
                    short_reason(&e)
                );
                MessageOutcome {
                    route_key,
                    integration_status: None,
                    reply: None,
                }
            }
        }
    }

    /// `$disconnect`: best effort, like the real one. The backend's status, if it answered.
    pub async fn disconnect(&self, connection_id: &str, client: &ClientInfo) -> Option<u16> {
        let api = self.api.deployed();
        let (_, request) =
            self.request(&api, "$disconnect", "DISCONNECT", connection_id, client)?;
        match bodiless(request).send().await {
            Ok(response) => Some(response.status().as_u16()),
            Err(e) => {
                tracing::warn!(
                    connection_id,
                    "backend unreachable for $disconnect: {}",
                    short_reason(&e)
                );
                None
            }
        }
    }
}

/// `$connect` and `$disconnect` carry no body, and say so with `Content-Length: 0` as API Gateway
/// does (hyper leaves the header out of an empty body; some frameworks refuse a POST without it).
fn bodiless(request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    request
        .header(reqwest::header::CONTENT_LENGTH, "0")
        .body(Vec::new())
}

fn short_reason(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection refused"
    } else {
        "request failed"
    }
}
