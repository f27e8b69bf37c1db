//! `wsdash exporter`: the probes' picture of one or more environments as a Prometheus /
//! OpenMetrics endpoint, for the alerts an on-call team wants before anyone opens a terminal.
//! Each environment is watched by its own task with its own rate controller (`ops::watch`),
//! written into the families (`observe`) whose names are in `metrics`.

pub mod exposition;
pub mod metrics;
pub mod observe;

use crate::commands::context::{failed, usage, CommandError, Context, GlobalArgs};
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, clap::Args)]
pub struct ExporterArgs {
    /// Environments to watch (from the config file); none: the one --env (or the default)
    /// names.
    pub environments: Vec<String>,
    /// Address to serve /metrics on.
    #[arg(long, default_value = "127.0.0.1:9464", env = "WSDASH_EXPORTER_LISTEN")]
    pub listen: String,
    /// Seconds between two sweeps of an environment (a read of the store, then probes).
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..))]
    pub every_secs: u64,
}

pub async fn run(global: &GlobalArgs, args: &ExporterArgs) -> Result<(), CommandError> {
    let names: Vec<Option<String>> = if args.environments.is_empty() {
        vec![global.env.clone()]
    } else {
        args.environments.iter().cloned().map(Some).collect()
    };
    let metrics = metrics::Metrics::default();
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    let stop = CancellationToken::new();
    let tasks = tokio_util::task::TaskTracker::new();
    let mut watching = Vec::new();
    for name in names {
        let scoped = GlobalArgs {
            env: name,
            ..global.clone()
        };
        let (labels, watched) = open(&scoped).await?;
        watching.push(labels.env.clone());
        let observer = Arc::new(observe::MetricsObserver {
            labels,
            metrics: metrics.clone(),
        });
        tasks.spawn(crate::ops::watch::watch(
            watched,
            observer,
            Duration::from_secs(args.every_secs),
            stop.clone(),
        ));
    }
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|e| usage(format!("--listen {}: {e}", args.listen)))?;
    let address = listener.local_addr().map_err(failed)?;
    println!("wsdash exporter: http://{address}/metrics");
    println!("watching:        {}", watching.join(", "));
    let registry = Arc::new(registry);
    let app = axum::Router::new()
        .route(
            "/metrics",
            axum::routing::get({
                let registry = registry.clone();
                move |headers: axum::http::HeaderMap| async move {
                    let accept = headers
                        .get(axum::http::header::ACCEPT)
                        .and_then(|v| v.to_str().ok());
                    render(&registry, exposition::wants_openmetrics(accept))
                }
            }),
        )
        .route(
            "/",
            axum::routing::get(|| async { "wsdash exporter: the metrics are at /metrics\n" }),
        );
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(crate::shutdown::wait_for_shutdown_signal())
        .await;
    stop.cancel();
    tasks.close();
    tasks.wait().await;
    served.map_err(failed)
}

/// The metrics in the format the scraper asked for.
fn render(registry: &Registry, openmetrics: bool) -> axum::response::Response {
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, registry) {
        Ok(()) if openmetrics => ([(CONTENT_TYPE, exposition::OPENMETRICS)], body).into_response(),
        Ok(()) => (
            [(CONTENT_TYPE, exposition::CLASSIC)],
            exposition::classic(&body),
        )
            .into_response(),
        Err(e) => (
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            format!("encoding the metrics failed: {e}"),
        )
            .into_response(),
    }
}

/// The clients one environment is watched through, and its labels.
pub async fn open(
    global: &GlobalArgs,
) -> Result<(metrics::EnvLabels, crate::ops::watch::Watched), CommandError> {
    let context = Context::new(global).await?;
    let gateway = context.management()?;
    let store = context.store().await?;
    let endpoint = context.env.endpoint().map_err(usage)?.to_string();
    let parsed = crate::doctor::parse_execute_api_endpoint(&endpoint);
    let labels = metrics::EnvLabels {
        env: context.env.name.clone(),
        api_id: parsed
            .as_ref()
            .map(|(api, _, _)| api.clone())
            .unwrap_or_else(|| "local".into()),
        stage: crate::doctor::stage_of_endpoint(&endpoint).unwrap_or_default(),
        region: parsed
            .as_ref()
            .map(|(_, region, _)| region.clone())
            .or_else(|| context.env.region.clone())
            .unwrap_or_else(|| "local".into()),
    };
    let access_logs = context.env.log_group.as_ref().map(|group| {
        Arc::new(crate::access_logs::CloudWatchAccessLogs::new(
            &context.sdk,
            None,
            group,
        )) as Arc<dyn crate::access_logs::AccessLogSource>
    });
    Ok((
        labels,
        crate::ops::watch::Watched {
            store,
            gateway,
            rate: context.rate(),
            concurrency: context.env.probe_concurrency,
            access_logs,
        },
    ))
}
