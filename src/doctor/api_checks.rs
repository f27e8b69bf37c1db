//! Doctor's judgement of the API's configuration, one function per check: the API's type, the
//! three routes, each route's integration (the connectionId mapping above all), the stage and
//! its deployment, access logging, and whether the configured management endpoint matches.

use super::api_config::{
    ApiConfig, IntegrationInfo, StageInfo, MAPPING_KEY, MAPPING_VALUE, ROUTES,
};
use super::Check;
use std::collections::HashMap;

/// Judge the configuration.
pub fn evaluate(config: &ApiConfig, configured_endpoint: Option<&str>) -> Vec<Check> {
    let mut checks = Vec::new();
    match api_type(config) {
        Ok(check) => checks.push(check),
        Err(check) => {
            checks.push(check);
            return checks;
        }
    }
    let integrations = integrations_by_id(config, &mut checks);
    for (key, integration_id) in route_checks(config, &mut checks) {
        checks.extend(integration_check(
            config,
            &integrations,
            key,
            &integration_id,
        ));
    }
    checks.push(stage_check(config));
    if let Ok(Some(stage)) = &config.stage {
        checks.push(access_logging(config, stage));
    }
    checks.push(endpoint_check(config, configured_endpoint));
    checks
}

/// A WEBSOCKET API; `Err` when it cannot even be read, and nothing else can be judged.
fn api_type(config: &ApiConfig) -> Result<Check, Check> {
    let id = &config.api_id;
    match &config.protocol {
        Ok(p) if p == "WEBSOCKET" => Ok(Check::pass("api", format!("{id} is a WEBSOCKET API"))),
        Ok(p) => Ok(Check::fail(
            "api",
            format!("{id} is a {p} API, not WEBSOCKET"),
            "point wsdash at the WebSocket API: --api-id ID (aws apigatewayv2 get-apis lists them)",
        )),
        Err(e) => Err(Check::fail(
            "api",
            format!("cannot read API {id}: {e}"),
            "check --api-id, the region and the credentials (aws apigatewayv2 get-apis)",
        )),
    }
}

fn integrations_by_id(
    config: &ApiConfig,
    checks: &mut Vec<Check>,
) -> HashMap<String, IntegrationInfo> {
    match &config.integrations {
        Ok(list) => list.iter().map(|i| (i.id.clone(), i.clone())).collect(),
        Err(e) => {
            checks.push(Check::warn(
                "integrations",
                format!("cannot list integrations: {e}"),
                None,
            ));
            HashMap::new()
        }
    }
}

/// `$connect`, `$disconnect` and `$default` exist and target an integration; the routes and
/// the integrations they target.
fn route_checks(config: &ApiConfig, checks: &mut Vec<Check>) -> Vec<(&'static str, String)> {
    let id = &config.api_id;
    let routes = match &config.routes {
        Ok(routes) => routes,
        Err(e) => {
            checks.push(Check::warn(
                "routes",
                format!("cannot list routes: {e}"),
                None,
            ));
            return Vec::new();
        }
    };
    let mut used = Vec::new();
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
    used
}

/// The integration a route targets: HTTP_PROXY, POST, and the connectionId header mapped.
fn integration_check(
    config: &ApiConfig,
    integrations: &HashMap<String, IntegrationInfo>,
    key: &str,
    integration_id: &str,
) -> Option<Check> {
    let id = &config.api_id;
    let name = format!("integration {key}");
    let Some(integration) = integrations.get(integration_id) else {
        return config.integrations.is_ok().then(|| {
            Check::fail(
                &name,
                format!("route {key} targets {integration_id}, which does not exist"),
                cli(config, &format!("get-integrations --api-id {id}")),
            )
        });
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
    Some(if !mapped {
        Check::fail(
            &name,
            format!("{}; RequestParameters lack {MAPPING_KEY} = {MAPPING_VALUE}: the backend gets no connectionId header", notes.join("; ")),
            format!(
                "{} && {}",
                cli(config, &format!("update-integration --api-id {id} --integration-id {integration_id} --request-parameters '{{\"{MAPPING_KEY}\": \"{MAPPING_VALUE}\"}}'")),
                cli(config, &format!("create-deployment --api-id {id} --stage-name {}", config.stage_name))
            ),
        )
    } else if notes.len() > 1 {
        Check::warn(&name, notes.join("; "), None)
    } else {
        Check::pass(&name, format!("{}; connectionId mapped", notes[0]))
    })
}

/// The stage exists, and what is known of its deployment (the API cannot prove the deployed
/// configuration is the current one; `--e2e` can).
fn stage_check(config: &ApiConfig) -> Check {
    let redeploy = cli(
        config,
        &format!(
            "create-deployment --api-id {} --stage-name {}",
            config.api_id, config.stage_name
        ),
    );
    match &config.stage {
        Ok(None) => Check::fail(
            "stage",
            format!("stage {} does not exist", config.stage_name),
            redeploy,
        ),
        Ok(Some(stage)) => {
            let deployed = match &config.latest_deployment {
                Ok(Some(at)) => format!("latest deployment {at}"),
                Ok(None) => "no deployment found".into(),
                Err(e) => format!("deployments unavailable ({e})"),
            };
            Check::warn(
                "stage deployment",
                format!(
                    "stage {} exists, AutoDeploy {}, last updated {}, {deployed}. The API cannot prove that the deployed configuration equals the current one; --e2e proves it",
                    config.stage_name,
                    if stage.auto_deploy { "on" } else { "off" },
                    stage.last_updated.clone().unwrap_or_else(|| "unknown".into()),
                ),
                Some(redeploy),
            )
        }
        Err(e) => Check::warn(
            "stage deployment",
            format!("cannot read stage {}: {e}", config.stage_name),
            Some(redeploy),
        ),
    }
}

/// The configured management endpoint is the API's and stage's.
fn endpoint_check(config: &ApiConfig, configured_endpoint: Option<&str>) -> Check {
    let id = &config.api_id;
    let derived = format!(
        "https://{id}.execute-api.{}.amazonaws.com/{}",
        config.region, config.stage_name
    );
    match configured_endpoint {
        None => Check::warn("endpoint", format!("no management endpoint configured; it would be {derived}"), Some(format!("--endpoint {derived}"))),
        Some(e) if e.trim_end_matches('/') == derived => Check::pass("endpoint", format!("{e} matches the API and stage")),
        Some(e) if super::parse_execute_api_endpoint(e).is_some() => Check::fail(
            "endpoint",
            format!("configured {e}, but API {id} stage {} is at {derived}", config.stage_name),
            format!("--endpoint {derived}"),
        ),
        Some(e) => Check::warn("endpoint", format!("{e} is not an execute-api URL (custom domain or local emulator); expected {derived} on AWS"), None),
    }
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
