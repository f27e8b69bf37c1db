//! The WebSocket API's configuration as doctor reads it (apigatewayv2): type, routes,
//! integrations, stage, deployments. Fetching only; `api_checks` judges what was fetched, on
//! plain data, so the judging is tested without AWS.

use aws_sdk_apigatewayv2::error::ProvideErrorMetadata;
use aws_sdk_apigatewayv2::Client;
use std::collections::HashMap;

pub const MAPPING_KEY: &str = "integration.request.header.connectionId";
pub const MAPPING_VALUE: &str = "context.connectionId";
pub(super) const ROUTES: [&str; 3] = ["$connect", "$disconnect", "$default"];

#[derive(Debug, Clone, Default)]
pub struct IntegrationInfo {
    pub id: String,
    pub kind: String,
    pub method: String,
    pub uri: String,
    pub request_parameters: HashMap<String, String>,
}

#[derive(Debug, Clone, Default)]
pub struct StageInfo {
    pub auto_deploy: bool,
    /// Where the stage's access log goes (a CloudWatch Logs group ARN), if anywhere.
    pub access_log_destination: Option<String>,
    pub last_updated: Option<String>,
    pub deployment_id: Option<String>,
}

/// What the API says about itself; each part may have failed on its own.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    pub api_id: String,
    pub stage_name: String,
    pub region: String,
    pub protocol: Result<String, String>,
    pub routes: Result<Vec<(String, Option<String>)>, String>,
    pub integrations: Result<Vec<IntegrationInfo>, String>,
    pub stage: Result<Option<StageInfo>, String>,
    pub latest_deployment: Result<Option<String>, String>,
    /// A non-AWS apigatewayv2 endpoint (the emulator, moto): the printed fixes name it.
    pub endpoint_url: Option<String>,
    /// The account, when the credentials check found it: fixes name ARNs in full.
    pub account: Option<String>,
}

fn describe<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static>(
    err: &aws_sdk_apigatewayv2::error::SdkError<
        E,
        aws_sdk_apigatewayv2::config::http::HttpResponse,
    >,
) -> String {
    let status = err.raw_response().map(|r| r.status().as_u16());
    match (err.code(), status) {
        (Some(code), _) => format!("{code}: {}", err.message().unwrap_or_default()),
        (None, Some(404)) => "HTTP 404: this endpoint does not implement the call".into(),
        (None, Some(s)) => format!("HTTP {s}"),
        _ => crate::aws_env::describe_unanswered_call(err, "the apigatewayv2 endpoint"),
    }
}

fn is_not_found<E: ProvideErrorMetadata>(
    err: &aws_sdk_apigatewayv2::error::SdkError<
        E,
        aws_sdk_apigatewayv2::config::http::HttpResponse,
    >,
) -> bool {
    err.code() == Some("NotFoundException")
}

/// Every route (following NextToken), as (route key, target).
async fn fetch_routes(
    client: &Client,
    api_id: &str,
) -> Result<Vec<(String, Option<String>)>, String> {
    let mut routes = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = client
            .get_routes()
            .api_id(api_id)
            .max_results("500")
            .set_next_token(next.take())
            .send()
            .await
            .map_err(|e| describe(&e))?;
        routes.extend(page.items().iter().map(|r| {
            (
                r.route_key().unwrap_or_default().to_string(),
                r.target().map(str::to_string),
            )
        }));
        match page.next_token() {
            Some(token) if !token.is_empty() => next = Some(token.to_string()),
            _ => return Ok(routes),
        }
    }
}

/// Every integration (following NextToken).
async fn fetch_integrations(client: &Client, api_id: &str) -> Result<Vec<IntegrationInfo>, String> {
    let mut integrations = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let page = client
            .get_integrations()
            .api_id(api_id)
            .max_results("500")
            .set_next_token(next.take())
            .send()
            .await
            .map_err(|e| describe(&e))?;
        integrations.extend(page.items().iter().map(|i| {
            IntegrationInfo {
                id: i.integration_id().unwrap_or_default().to_string(),
                kind: i
                    .integration_type()
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_default(),
                method: i.integration_method().unwrap_or_default().to_string(),
                uri: i.integration_uri().unwrap_or_default().to_string(),
                request_parameters: i.request_parameters().cloned().unwrap_or_default(),
            }
        }));
        match page.next_token() {
            Some(token) if !token.is_empty() => next = Some(token.to_string()),
            _ => return Ok(integrations),
        }
    }
}

pub async fn fetch(client: &Client, api_id: &str, stage_name: &str, region: &str) -> ApiConfig {
    let protocol = client
        .get_api()
        .api_id(api_id)
        .send()
        .await
        .map(|a| {
            a.protocol_type()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default()
        })
        .map_err(|e| describe(&e));
    let routes = fetch_routes(client, api_id).await;
    let integrations = fetch_integrations(client, api_id).await;
    let stage = match client
        .get_stage()
        .api_id(api_id)
        .stage_name(stage_name)
        .send()
        .await
    {
        Ok(s) => Ok(Some(StageInfo {
            auto_deploy: s.auto_deploy().unwrap_or(false),
            access_log_destination: s
                .access_log_settings()
                .and_then(|a| a.destination_arn())
                .filter(|d| !d.is_empty())
                .map(str::to_string),
            last_updated: s
                .last_updated_date()
                .or(s.created_date())
                .map(|d| d.to_string()),
            deployment_id: s.deployment_id().map(str::to_string),
        })),
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(describe(&e)),
    };
    let latest_deployment = client
        .get_deployments()
        .api_id(api_id)
        .send()
        .await
        .map(|d| {
            d.items()
                .iter()
                .filter_map(|d| d.created_date())
                .max_by_key(|d| d.as_nanos())
                .map(|d| d.to_string())
        })
        .map_err(|e| describe(&e));
    ApiConfig {
        api_id: api_id.to_string(),
        stage_name: stage_name.to_string(),
        region: region.to_string(),
        protocol,
        routes,
        integrations,
        stage,
        latest_deployment,
        endpoint_url: None,
        account: None,
    }
}

pub use super::api_checks::evaluate;
