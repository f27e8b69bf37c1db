//! Checks of the WebSocket API's configuration (apigatewayv2): type, routes, integrations, stage,
//! and whether the management endpoint matches. Fetching and judging are separate, so the
//! judging is tested on plain data.

use super::Check;
use aws_sdk_apigatewayv2::error::ProvideErrorMetadata;
use aws_sdk_apigatewayv2::Client;
use std::collections::HashMap;

pub const MAPPING_KEY: &str = "integration.request.header.connectionId";
pub const MAPPING_VALUE: &str = "context.connectionId";
const ROUTES: [&str; 3] = ["$connect", "$disconnect", "$default"];

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

fn cli(config: &ApiConfig, rest: &str) -> String {
    let endpoint = config
        .endpoint_url
        .as_ref()
        .map(|url| format!(" --endpoint-url {url}"))
        .unwrap_or_default();
    format!(
        "aws apigatewayv2 {rest} --region {}{endpoint}",
        config.region
    )
}

/// Judge the configuration.
pub fn evaluate(config: &ApiConfig, configured_endpoint: Option<&str>) -> Vec<Check> {
    let id = &config.api_id;
    let mut checks = Vec::new();
    match &config.protocol {
        Ok(p) if p == "WEBSOCKET" => {
            checks.push(Check::pass("api", format!("{id} is a WEBSOCKET API")))
        }
        Ok(p) => checks.push(Check::fail(
            "api",
            format!("{id} is a {p} API, not WEBSOCKET"),
            "point wsdash at the WebSocket API: --api-id ID (aws apigatewayv2 get-apis lists them)",
        )),
        Err(e) => {
            checks.push(Check::fail(
                "api",
                format!("cannot read API {id}: {e}"),
                "check --api-id, the region and the credentials (aws apigatewayv2 get-apis)",
            ));
            return checks;
        }
    }

    let integrations: HashMap<String, IntegrationInfo> = match &config.integrations {
        Ok(list) => list.iter().map(|i| (i.id.clone(), i.clone())).collect(),
        Err(e) => {
            checks.push(Check::warn(
                "integrations",
                format!("cannot list integrations: {e}"),
                None,
            ));
            HashMap::new()
        }
    };
    let routes = match &config.routes {
        Ok(routes) => routes.clone(),
        Err(e) => {
            checks.push(Check::warn(
                "routes",
                format!("cannot list routes: {e}"),
                None,
            ));
            Vec::new()
        }
    };
    let mut used = Vec::new();
    if config.routes.is_ok() {
        for key in ROUTES {
            let name = format!("route {key}");
            match routes.iter().find(|(k, _)| k == key) {
                None => checks.push(Check::fail(
                    &name,
                    format!("route {key} does not exist"),
                    cli(config, &format!("create-route --api-id {id} --route-key '{key}' --target integrations/INTEGRATION_ID")),
                )),
                Some((_, None)) => checks.push(Check::fail(
                    &name,
                    format!("route {key} has no integration"),
                    cli(config, &format!("update-route --api-id {id} --route-id ROUTE_ID --target integrations/INTEGRATION_ID")),
                )),
                Some((_, Some(target))) => {
                    let integration_id = target.trim_start_matches("integrations/").to_string();
                    checks.push(Check::pass(&name, format!("targets {target}")));
                    used.push((key, integration_id));
                }
            }
        }
    }
    for (key, integration_id) in used {
        let name = format!("integration {key}");
        let Some(integration) = integrations.get(&integration_id) else {
            if config.integrations.is_ok() {
                checks.push(Check::fail(
                    &name,
                    format!("route {key} targets {integration_id}, which does not exist"),
                    cli(config, &format!("get-integrations --api-id {id}")),
                ));
            }
            continue;
        };
        let mut notes = vec![format!(
            "{} {} {}",
            integration.kind, integration.method, integration.uri
        )];
        if integration.kind != "HTTP_PROXY" {
            notes.push(format!(
                "the guide uses HTTP_PROXY, this is {}",
                integration.kind
            ));
        }
        if !integration.method.is_empty() && integration.method != "POST" {
            notes.push(format!(
                "method {} (the guide's backend expects POST)",
                integration.method
            ));
        }
        let mapped = integration
            .request_parameters
            .get(MAPPING_KEY)
            .map(String::as_str)
            == Some(MAPPING_VALUE);
        if !mapped {
            checks.push(Check::fail(
                &name,
                format!("{}; RequestParameters lack {MAPPING_KEY} = {MAPPING_VALUE}: the backend gets no connectionId header", notes.join("; ")),
                format!(
                    "{} && {}",
                    cli(config, &format!("update-integration --api-id {id} --integration-id {integration_id} --request-parameters '{{\"{MAPPING_KEY}\": \"{MAPPING_VALUE}\"}}'")),
                    cli(config, &format!("create-deployment --api-id {id} --stage-name {}", config.stage_name))
                ),
            ));
        } else if notes.len() > 1 {
            checks.push(Check::warn(&name, notes.join("; "), None));
        } else {
            checks.push(Check::pass(
                &name,
                format!("{}; connectionId mapped", notes[0]),
            ));
        }
    }

    let redeploy = cli(
        config,
        &format!(
            "create-deployment --api-id {id} --stage-name {}",
            config.stage_name
        ),
    );
    match &config.stage {
        Ok(None) => checks.push(Check::fail(
            "stage",
            format!("stage {} does not exist", config.stage_name),
            redeploy.clone(),
        )),
        Ok(Some(stage)) => {
            let deployed = match &config.latest_deployment {
                Ok(Some(at)) => format!("latest deployment {at}"),
                Ok(None) => "no deployment found".into(),
                Err(e) => format!("deployments unavailable ({e})"),
            };
            checks.push(Check::warn(
                "stage deployment",
                format!(
                    "stage {} exists, AutoDeploy {}, last updated {}, {deployed}. The API cannot prove that the deployed configuration equals the current one; --e2e proves it",
                    config.stage_name,
                    if stage.auto_deploy { "on" } else { "off" },
                    stage.last_updated.clone().unwrap_or_else(|| "unknown".into()),
                ),
                Some(redeploy.clone()),
            ));
        }
        Err(e) => checks.push(Check::warn(
            "stage deployment",
            format!("cannot read stage {}: {e}", config.stage_name),
            Some(redeploy),
        )),
    }

    if let Ok(Some(stage)) = &config.stage {
        checks.push(access_logging(config, stage));
    }

    let derived = format!(
        "https://{id}.execute-api.{}.amazonaws.com/{}",
        config.region, config.stage_name
    );
    match configured_endpoint {
        None => checks.push(Check::warn("endpoint", format!("no management endpoint configured; it would be {derived}"), Some(format!("--endpoint {derived}")))),
        Some(e) if e.trim_end_matches('/') == derived => checks.push(Check::pass("endpoint", format!("{e} matches the API and stage"))),
        Some(e) if super::parse_execute_api_endpoint(e).is_some() => checks.push(Check::fail(
            "endpoint",
            format!("configured {e}, but API {id} stage {} is at {derived}", config.stage_name),
            format!("--endpoint {derived}"),
        )),
        Some(e) => checks.push(Check::warn("endpoint", format!("{e} is not an execute-api URL (custom domain or local emulator); expected {derived} on AWS"), None)),
    }
    checks
}

/// Without access logs, "client keeps reconnecting" (the guide's §5.2) has no evidence: the
/// 401s of a bad token on $connect are only in them.
fn access_logging(config: &ApiConfig, stage: &StageInfo) -> Check {
    if let Some(destination) = &stage.access_log_destination {
        return Check::pass(
            "access logging",
            format!("stage {} logs access to {destination}", config.stage_name),
        );
    }
    let group = format!("/aws/apigateway/{}/{}", config.api_id, config.stage_name);
    let format = crate::access_logs::ACCESS_LOG_FORMAT;
    let settings = serde_json::json!({
        "DestinationArn": format!("arn:aws:logs:{}:{}:log-group:{group}", config.region, config.account.as_deref().unwrap_or("ACCOUNT_ID")),
        "Format": format,
    });
    Check::warn(
        "access logging",
        format!(
            "stage {} has no access log: refused handshakes (a bad token's 401s on $connect) and integration errors leave no trace",
            config.stage_name
        ),
        Some(format!(
            "aws logs create-log-group --log-group-name {group} --region {} && {}",
            config.region,
            cli(
                config,
                &format!(
                    "update-stage --api-id {} --stage-name {} --access-log-settings '{settings}'",
                    config.api_id, config.stage_name
                )
            )
        )),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;

    fn good() -> ApiConfig {
        let mapping = HashMap::from([(MAPPING_KEY.to_string(), MAPPING_VALUE.to_string())]);
        let integration = |id: &str| IntegrationInfo {
            id: id.into(),
            kind: "HTTP_PROXY".into(),
            method: "POST".into(),
            uri: format!("https://api/ws/{id}"),
            request_parameters: mapping.clone(),
        };
        ApiConfig {
            api_id: "abc".into(),
            stage_name: "production".into(),
            region: "eu-west-1".into(),
            endpoint_url: None,
            account: None,
            protocol: Ok("WEBSOCKET".into()),
            routes: Ok(ROUTES
                .iter()
                .zip(["i1", "i2", "i3"])
                .map(|(k, i)| (k.to_string(), Some(format!("integrations/{i}"))))
                .collect()),
            integrations: Ok(vec![
                integration("i1"),
                integration("i2"),
                integration("i3"),
            ]),
            stage: Ok(Some(StageInfo::default())),
            latest_deployment: Err("HTTP 404".into()),
        }
    }

    fn failed(checks: &[Check]) -> Vec<&str> {
        checks
            .iter()
            .filter(|c| c.status == Status::Fail)
            .map(|c| c.name.as_str())
            .collect()
    }

    #[test]
    fn a_correct_api_has_no_failure() {
        let checks = evaluate(
            &good(),
            Some("https://abc.execute-api.eu-west-1.amazonaws.com/production"),
        );
        assert!(failed(&checks).is_empty(), "{checks:#?}");
    }

    #[test]
    fn a_missing_mapping_fails_with_the_update_command() {
        let mut config = good();
        if let Ok(list) = &mut config.integrations {
            list[1].request_parameters.clear();
        }
        let checks = evaluate(&config, None);
        assert_eq!(failed(&checks), ["integration $disconnect"]);
        let fix = checks
            .iter()
            .find(|c| c.status == Status::Fail)
            .and_then(|c| c.fix.clone())
            .unwrap();
        assert!(
            fix.contains("update-integration --api-id abc --integration-id i2"),
            "{fix}"
        );
        assert!(
            fix.contains("create-deployment --api-id abc --stage-name production"),
            "{fix}"
        );
    }

    #[test]
    fn a_route_without_integration_and_a_wrong_endpoint_fail() {
        let mut config = good();
        if let Ok(routes) = &mut config.routes {
            routes[2].1 = None;
        }
        let checks = evaluate(
            &config,
            Some("https://zzz.execute-api.eu-west-1.amazonaws.com/production"),
        );
        assert_eq!(failed(&checks), ["route $default", "endpoint"]);
    }
}
