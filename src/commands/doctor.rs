//! `wsdash doctor`: configuration checks with fixes; exit 1 when any check fails.

use super::context::{usage, CommandError, Context, GlobalArgs, OutputFormat};
use super::output::{print_json, print_table};
use crate::config::is_local_endpoint;
use crate::doctor::e2e::{websocket_url_for, RecordSource};
use crate::doctor::{
    access, api_config, e2e, parse_execute_api_endpoint, stage_of_endpoint, Check, Status,
};
use std::sync::Arc;

#[derive(Debug, Clone, Default, clap::Args)]
pub struct DoctorArgs {
    /// The WebSocket API's id (derived from an execute-api --endpoint when not given).
    #[arg(long)]
    pub api_id: Option<String>,
    /// The stage (derived from --endpoint when not given).
    #[arg(long)]
    pub stage: Option<String>,
    /// Also open a real connection and follow it through the system (needs --token).
    #[arg(long, requires = "token")]
    pub e2e: bool,
    /// Token for --e2e, as a client would send it in ?token=.
    #[arg(long, env = "WSDASH_DOCTOR_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// WebSocket URL for --e2e (default: the endpoint with wss://).
    #[arg(long)]
    pub websocket_url: Option<String>,
    /// For --e2e without a table: the backend whose GET /debug/ws-connections lists the records.
    #[arg(long)]
    pub backend: Option<String>,
    /// Bearer token for --backend's debug endpoints.
    #[arg(long, env = "WSDASH_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
}

pub async fn run(global: &GlobalArgs, args: &DoctorArgs) -> Result<(), CommandError> {
    let context = Context::new(global).await?;
    let checks = collect_checks(&context, args).await?;
    print_checks(&checks, global.output);
    let failures = checks.iter().filter(|c| c.status == Status::Fail).count();
    if failures > 0 {
        return Err(CommandError::Failed(format!("{failures} check(s) failed")));
    }
    Ok(())
}

/// Run every check for the context's environment (the dashboard's `:doctor` calls this too).
pub async fn collect_checks(
    context: &Context,
    args: &DoctorArgs,
) -> Result<Vec<Check>, CommandError> {
    let env = &context.env;
    let endpoint = env.endpoint.clone();
    let local = endpoint.as_deref().is_some_and(is_local_endpoint);
    let parsed = endpoint.as_deref().and_then(parse_execute_api_endpoint);
    let api_id = args
        .api_id
        .clone()
        .or_else(|| parsed.as_ref().map(|p| p.0.clone()))
        .or_else(|| local.then(|| crate::emulator::config_api::API_ID.to_string()))
        .ok_or_else(|| {
            usage("doctor needs the API: pass --api-id ID, or an execute-api --endpoint")
        })?;
    let stage = args
        .stage
        .clone()
        .or_else(|| endpoint.as_deref().and_then(stage_of_endpoint))
        .ok_or_else(|| usage("doctor needs the stage: pass --stage NAME or --endpoint"))?;
    // An execute-api host names the API's region; it wins over the profile's, as in signing.
    let region = parsed
        .as_ref()
        .map(|p| p.1.clone())
        .or_else(|| env.region.clone())
        .or_else(|| context.sdk.region().map(|r| r.to_string()))
        .unwrap_or_else(|| "us-east-1".into());

    let mut checks: Vec<Check> = Vec::new();
    let sts_configured =
        std::env::var("AWS_ENDPOINT_URL_STS").is_ok() || std::env::var("AWS_ENDPOINT_URL").is_ok();
    let account = if local && !sts_configured {
        checks.push(Check::pass(
            "credentials",
            "local emulator: no AWS credentials needed",
        ));
        None
    } else {
        let (check, account) = access::credentials(&context.sdk).await;
        checks.push(check);
        account
    };

    let mut v2 = aws_sdk_apigatewayv2::config::Builder::from(&context.sdk);
    let mut v2_endpoint = std::env::var("AWS_ENDPOINT_URL_APIGATEWAYV2").ok();
    if local && v2_endpoint.is_none() {
        // The emulator answers the apigatewayv2 calls for its own configuration.
        v2_endpoint = endpoint
            .as_deref()
            .and_then(|e| e.rsplit_once('/').map(|(b, _)| b.to_string()));
    }
    if let Some(base) = &v2_endpoint {
        v2 = v2.endpoint_url(base);
    }
    let v2 = aws_sdk_apigatewayv2::Client::from_conf(v2.build());
    let mut config = api_config::fetch(&v2, &api_id, &stage, &region).await;
    // The fixes doctor prints must reach the same API when pasted.
    config.endpoint_url = v2_endpoint;
    config.account = account.clone();
    checks.extend(api_config::evaluate(&config, endpoint.as_deref()));

    checks.extend(match &env.store_url {
        Some(url) if crate::commands::context::is_redis_url(url) => {
            crate::doctor::redis::store(url, &env.schema).await
        }
        Some(url) => {
            crate::doctor::postgres::table(&env.name, url, env.table.as_deref(), &env.schema).await
        }
        None => {
            access::table(
                &context.sdk,
                env.dynamodb_endpoint.as_deref(),
                env.table.as_deref(),
                env.schema.clone(),
                &region,
            )
            .await
        }
    });

    let gateway: Option<Arc<dyn crate::management::ManagementApi>> = match &endpoint {
        Some(endpoint) => {
            let client = context.aws_management()?;
            let (signing, from_host) = client.signing_region();
            checks.push(access::signing_region(signing, from_host, endpoint));
            Some(Arc::new(client))
        }
        None => None,
    };
    match &gateway {
        Some(gateway) => checks.extend(
            access::verbs(
                gateway.as_ref(),
                &api_id,
                &region,
                &stage,
                account.as_deref(),
            )
            .await,
        ),
        None => checks.push(Check::warn(
            "manage connections",
            "no management endpoint configured, so the permission is not checked",
            Some("--endpoint URL".into()),
        )),
    }

    if args.e2e {
        let token = args.token.clone().unwrap_or_default();
        match (&gateway, &endpoint) {
            (Some(gateway), Some(endpoint)) => {
                let source = match (&env.table, &args.backend) {
                    (Some(_), _) => Some(RecordSource::Table(context.store().await?)),
                    (None, Some(url)) => Some(RecordSource::BackendDebug {
                        url: url.clone(),
                        admin_token: args.admin_token.clone().unwrap_or_default(),
                    }),
                    (None, None) => None,
                };
                match source {
                    Some(source) => {
                        let url = args
                            .websocket_url
                            .clone()
                            .unwrap_or_else(|| websocket_url_for(endpoint));
                        checks.extend(e2e::run(Arc::clone(gateway), source, &url, &token).await);
                    }
                    None => checks.push(Check::fail(
                        "e2e record",
                        "--e2e needs the records: a --table, or --backend URL with --admin-token",
                        "--table NAME",
                    )),
                }
            }
            _ => checks.push(Check::fail(
                "e2e connect",
                "--e2e needs --endpoint",
                "--endpoint URL",
            )),
        }
    }

    Ok(checks)
}

fn print_checks(checks: &[Check], output: OutputFormat) {
    if output == OutputFormat::Json {
        print_json(&serde_json::json!({ "checks": checks }));
    } else {
        let rows: Vec<Vec<String>> = checks
            .iter()
            .map(|c| {
                vec![
                    c.status.as_str().to_string(),
                    c.name.clone(),
                    c.detail.clone(),
                ]
            })
            .collect();
        print_table(&["STATUS", "CHECK", "FOUND"], &rows);
        for check in checks.iter().filter(|c| c.status != Status::Pass) {
            if let Some(fix) = &check.fix {
                println!(
                    "\nfix for {} ({}):\n  {fix}",
                    check.name,
                    check.status.as_str()
                );
            }
        }
    }
}
