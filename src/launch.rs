//! Starting what the command line asks for: the emulator, the backend, the demo and the
//! dashboards, wired to their stores and Management API clients.

use crate::aws_env::{load_sdk_config, AwsSettings};
use crate::cli::BackendArgs;
use crate::commands::{Context, GlobalArgs};
use crate::emulator::auth::TokenAuth;
use crate::emulator::backend::{spawn_backend, BackendState, StoreKind};
use crate::emulator::demo::{bind, start_demo, DemoArgs};
use crate::emulator::gateway::{start_gateway, GatewayArgs, GatewayOptions};
use crate::management::{AwsManagementApi, ManagementApi};
use crate::store::{ConnectionStore, MemoryStore};
use crate::token::random_token;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Loopback endpoints are the emulator or moto: they need no real credentials.
pub async fn run_gateway(global: &GlobalArgs, args: GatewayArgs) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    // Refuse before binding, so a refused address is never opened even for a moment.
    if let Ok(addr) = args.listen.parse::<std::net::SocketAddr>() {
        crate::emulator::gateway::check_admin_exposure(addr, args.admin_token.as_deref())?;
    }
    let listener = bind(&args.listen, "--listen").await?;
    let mut options = GatewayOptions {
        admin_token: args.admin_token.clone(),
        ..args.options.clone()
    };
    // The API lives in one region: requests must be signed for it (the global --region).
    options.auth.region = global.region.clone();
    let handle = start_gateway(
        listener,
        args.backend.as_deref(),
        &options,
        shutdown.clone(),
    )
    .await?;
    println!("wsdash gateway (API Gateway WebSocket emulator)");
    println!("websocket: {}", handle.websocket_url());
    println!("management endpoint: {}", handle.management_url());
    println!("admin API: {}/ (not part of AWS)", handle.admin_url());
    println!(
        "authentication: {}",
        handle
            .state
            .front_door
            .as_ref()
            .map(|door| door.describe())
            .unwrap_or_else(|| "off (--no-auth): unsigned requests accepted".into())
    );
    match &args.backend {
        Some(backend) => println!("backend: {backend}"),
        None => println!(
            "backend: none yet: create the API with the apigatewayv2 calls at http://{}/v2/apis (CreateApi, CreateIntegration, CreateRoute, CreateStage {}, CreateDeployment)",
            handle.addr, handle.stage
        ),
    }
    crate::shutdown::wait_for_shutdown_signal().await;
    crate::emulator::demo::stop(&shutdown, &handle.server).await;
    Ok(())
}

pub async fn run_backend(global: &GlobalArgs, args: BackendArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.dev_tokens || args.jwt_secret.is_some(),
        "the backend accepts no token at all: pass --dev-tokens, --jwt-secret S, or both"
    );
    let shutdown = CancellationToken::new();
    let listener = bind(&args.listen, "--listen").await?;
    let sdk = load_sdk_config(&AwsSettings {
        region: global.region.clone(),
        profile: global.profile.clone(),
        dummy_credentials: crate::config::is_local_endpoint(&args.gateway)
            && std::env::var("AWS_ACCESS_KEY_ID").is_err(),
        ..AwsSettings::default()
    })
    .await;
    let stage = crate::management::endpoint::stage_url(&args.gateway, "--gateway")?;
    let gateway: Arc<dyn ManagementApi> =
        Arc::new(AwsManagementApi::new(&sdk, &stage.url).with_profile(global.profile.as_deref()));
    let store: Arc<dyn ConnectionStore> = match args.store {
        StoreKind::Memory => Arc::new(MemoryStore::new()),
        StoreKind::Dynamodb | StoreKind::Postgres | StoreKind::Redis => {
            let named = match &global.store_url {
                None => StoreKind::Dynamodb,
                Some(url) if crate::commands::context::is_redis_url(url) => StoreKind::Redis,
                Some(_) => StoreKind::Postgres,
            };
            anyhow::ensure!(
                named == args.store,
                "--store {:?} does not match the store URL: --store postgres and --store redis take theirs from --store-url (or WSDASH_STORE_URL), --store dynamodb none",
                args.store
            );
            let context = Context::new(global)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            context.store().await.map_err(|e| anyhow::anyhow!("{e}"))?
        }
    };
    let admin_token = args.admin_token.clone().unwrap_or_else(random_token);
    let addr = listener.local_addr()?;
    let server = spawn_backend(
        listener,
        Arc::new(BackendState {
            store,
            gateway,
            auth: TokenAuth::new(args.jwt_secret.clone(), args.dev_tokens),
            admin_token: admin_token.clone(),
            audit: Some(Arc::new(crate::ops::audit::AuditLog::open(
                &global.audit_path(),
                "backend",
            )?)),
            forget_users: None,
            forgotten: Default::default(),
        }),
        shutdown.clone(),
    );
    println!("wsdash reference backend");
    println!("backend: http://{addr}");
    println!("management endpoint: {}", args.gateway);
    println!("admin token: {admin_token}");
    crate::shutdown::wait_for_shutdown_signal().await;
    let tasks = tokio_util::task::TaskTracker::new();
    tasks.spawn(async move {
        let _ = server.await;
    });
    crate::emulator::demo::stop(&shutdown, &tasks).await;
    Ok(())
}

pub async fn run_demo_headless(global: &GlobalArgs, args: DemoArgs) -> anyhow::Result<()> {
    let args = DemoArgs {
        audit_log: Some(global.audit_path()),
        ..args
    };
    let demo = start_demo(&args, demo_store(global).await?).await?;
    println!("{}", demo.describe());
    println!("Ctrl-C to stop.");
    crate::shutdown::wait_for_shutdown_signal().await;
    crate::emulator::demo::stop(&demo.shutdown, &demo.tasks).await;
    Ok(())
}

/// The store the demo's backend writes: the in-memory one (`None`), or the `--store-url`
/// database's `--table` (or Redis keys), so the whole demo runs on PostgreSQL or Redis.
async fn demo_store(global: &GlobalArgs) -> anyhow::Result<Option<Arc<dyn ConnectionStore>>> {
    if global.store_url.is_none() {
        return Ok(None);
    }
    let env = global.environment().map_err(|e| anyhow::anyhow!("{e}"))?;
    crate::commands::context::url_store(&env)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// True when nothing names an environment: `wsdash` then opens the built-in demo.
pub fn wants_demo(global: &GlobalArgs) -> bool {
    if global.env.is_some() || global.table.is_some() || global.endpoint.is_some() {
        return false;
    }
    match global.environment() {
        Ok(env) => env.name == "default" && env.table.is_none(),
        Err(_) => false,
    }
}

/// The dashboard on the built-in demo.
pub async fn run_demo_dashboard(global: &GlobalArgs, args: DemoArgs) -> anyhow::Result<()> {
    use crate::tui::app::EnvironmentInfo;
    use crate::tui::runtime::{run_dashboard, Backend};
    let initial = EnvironmentInfo {
        name: "demo".into(),
        color: "green".into(),
        endpoint: "starting the emulator…".into(),
        table: "-".into(),
        readonly: global.readonly,
        ..EnvironmentInfo::default()
    };
    let audit_path = global.audit_path();
    let args = DemoArgs {
        audit_log: Some(audit_path.clone()),
        ..args
    };
    // The same flag and variable as every other command (clap reads WSDASH_READONLY for it).
    let readonly = global.readonly;
    let shutdown = Arc::new(std::sync::Mutex::new(
        None::<(CancellationToken, tokio_util::task::TaskTracker)>,
    ));
    let keep = shutdown.clone();
    let store = demo_store(global).await?;
    let recorder = open_recorder(global, None).map_err(|e| anyhow::anyhow!("{e}"))?;
    let result = run_dashboard(
        initial,
        async move {
            let in_memory = store.is_none();
            let demo = start_demo(&args, store).await?;
            if let Ok(mut slot) = keep.lock() {
                *slot = Some((demo.shutdown.clone(), demo.tasks.clone()));
            }

            let env = EnvironmentInfo {
                name: "demo".into(),
                color: "green".into(),
                endpoint: demo.gateway.management_url(),
                table: if in_memory {
                    format!("in-memory store of the demo backend {}", demo.backend_url)
                } else {
                    demo.store.mapping()
                },
                readonly,
                api_rate: None,
                emulator_admin: Some(demo.gateway.admin_url()),
                access_logs: Some("the emulator's access log".into()),
                // The emulator answers GetMetricData: the same code path as on AWS.
                metrics: Some(format!(
                    "CloudWatch AWS/ApiGateway {}/{}, served by the emulator",
                    crate::emulator::config_api::API_ID,
                    demo.gateway.stage
                )),
                // Set once the setup reports the page (below).
                client_page: None,
                replay: None,
            };
            let backend = Backend {
                store: demo.store.clone(),
                gateway: demo.management.clone(),
                // The emulator shares no quota: no ceiling, as for any loopback endpoint.
                rate: crate::ops::pacing::RateController::unlimited(),
                concurrency: 16,
                audit: Some(Arc::new(crate::ops::audit::AuditLog::open(
                    &audit_path,
                    "demo",
                )?)),
                emulator_admin: Some(demo.gateway.admin_url()),
                access_logs: Some(Arc::new(crate::access_logs::EmulatorAccessLogs::new(
                    &demo.gateway.admin_url(),
                ))),
                metrics: Some(demo.metrics.clone()),
                doctor: Some(doctor_job(
                    GlobalArgs {
                        endpoint: Some(demo.gateway.management_url()),
                        // The demo is its own environment: a user's config file must not leak in.
                        config: Some("/dev/null".into()),
                        ..GlobalArgs::default()
                    },
                    crate::commands::doctor::DoctorArgs {
                        backend: Some(demo.backend_url.clone()),
                        admin_token: Some(demo.admin_token.clone()),
                        ..Default::default()
                    },
                )),
            };
            Ok((env, backend, Some(demo.client_page_url())))
        },
        Some(environment_opener(global)),
        recorder,
    )
    .await;
    let running = shutdown.lock().ok().and_then(|s| s.clone());
    if let Some((token, tasks)) = running {
        crate::emulator::demo::stop(&token, &tasks).await;
    }
    Ok(result?)
}

/// Clients and header facts for one configured environment.
async fn open_environment(
    global: &GlobalArgs,
) -> Result<
    (
        crate::tui::app::EnvironmentInfo,
        crate::tui::runtime::Backend,
    ),
    crate::commands::CommandError,
> {
    use crate::tui::app::EnvironmentInfo;
    use crate::tui::runtime::Backend;
    let context = Context::new(global).await?;
    let gateway = context.management()?;
    let store = context.store().await?;
    let audit = Arc::new(context.audit()?);
    // An execute-api endpoint names the API and stage whose CloudWatch metrics to read.
    let stage = context
        .env
        .endpoint()
        .ok()
        .and_then(crate::doctor::parse_execute_api_endpoint);
    let env = EnvironmentInfo {
        metrics: stage
            .as_ref()
            .map(|(api, _, stage)| format!("CloudWatch AWS/ApiGateway {api}/{stage}")),
        name: context.env.name.clone(),
        color: context.env.color.clone(),
        endpoint: context
            .env
            .endpoint()
            .map(str::to_string)
            .unwrap_or_default(),
        table: store.mapping(),
        readonly: context.env.readonly,
        api_rate: context.env.api_rate,
        emulator_admin: None,
        access_logs: context
            .env
            .log_group
            .as_ref()
            .map(|group| format!("log group {group}")),
        client_page: None,
        replay: None,
    };
    let backend = Backend {
        store: store.clone(),
        gateway,
        rate: context.rate(),
        concurrency: context.env.probe_concurrency,
        audit: Some(audit),
        emulator_admin: None,
        // AWS_ENDPOINT_URL_CLOUDWATCH_LOGS points it elsewhere (moto), as for every SDK client.
        access_logs: context.env.log_group.as_ref().map(|group| {
            Arc::new(crate::access_logs::CloudWatchAccessLogs::new(
                &context.sdk,
                None,
                group,
            )) as Arc<dyn crate::access_logs::AccessLogSource>
        }),
        metrics: stage.map(|(api, _, stage)| {
            Arc::new(crate::gateway_metrics::CloudWatchMetrics::new(
                &context.sdk,
                None,
                &api,
                &stage,
            ))
        }),
        doctor: Some(doctor_job(global.clone(), Default::default())),
    };
    Ok((env, backend))
}

/// `:env NAME`: the same flags, but the named environment's table and endpoints.
fn environment_opener(global: &GlobalArgs) -> crate::tui::runtime::EnvironmentOpener {
    let base = global.clone();
    Arc::new(move |name: String| {
        let global = GlobalArgs {
            env: Some(name),
            region: None,
            profile: None,
            table: None,
            endpoint: None,
            dynamodb_endpoint: None,
            ..base.clone()
        };
        Box::pin(async move { open_environment(&global).await.map_err(|e| e.to_string()) })
    })
}

/// The dashboard on a configured environment.
pub async fn run_env_dashboard(global: &GlobalArgs) -> Result<(), crate::commands::CommandError> {
    use crate::commands::context::failed;
    let (env, backend) = open_environment(global).await?;
    let configured = global.environment().ok().and_then(|e| e.record);
    let recorder = open_recorder(global, configured)?;
    crate::tui::runtime::run_dashboard(
        env.clone(),
        async move { Ok((env, backend, None)) },
        Some(environment_opener(global)),
        recorder,
    )
    .await
    .map_err(failed)
}

/// The recorder `--record` (or the environment's `record`) asks for.
fn open_recorder(
    global: &GlobalArgs,
    configured: Option<std::path::PathBuf>,
) -> Result<Option<crate::tui::recording::Recorder>, crate::commands::CommandError> {
    let Some(path) = global.record.clone().or(configured) else {
        return Ok(None);
    };
    crate::tui::recording::Recorder::open(&path, global.redact)
        .map(Some)
        .map_err(|e| crate::commands::context::usage(format!("--record {}: {e}", path.display())))
}

/// `:doctor` in a dashboard: the same checks as `wsdash doctor` with these arguments.
fn doctor_job(
    global: GlobalArgs,
    args: crate::commands::doctor::DoctorArgs,
) -> crate::tui::runtime::DoctorJob {
    Arc::new(move || {
        let (global, args) = (global.clone(), args.clone());
        Box::pin(async move {
            let context = Context::new(&global).await.map_err(|e| e.to_string())?;
            crate::commands::doctor::collect_checks(&context, &args)
                .await
                .map_err(|e| e.to_string())
        })
    })
}

/// `wsdash overview A B …`: each environment watched by its own task (its own rate
/// controller), one row each; `Enter` opens the environment's dashboard.
pub async fn run_overview(
    global: &GlobalArgs,
    args: &crate::cli::OverviewArgs,
) -> Result<(), crate::commands::CommandError> {
    use crate::tui::overview::{DashboardOpener, EnvRow, RowObserver};
    use std::sync::Mutex;
    let stop = CancellationToken::new();
    let mut rows = Vec::new();
    for name in &args.environments {
        let scoped = GlobalArgs {
            env: Some(name.clone()),
            ..global.clone()
        };
        let env = scoped.environment()?;
        let (_, watched) = crate::exporter::open(&scoped).await?;
        let row = Arc::new(Mutex::new(EnvRow {
            name: env.name.clone(),
            color: env.color.clone(),
            readonly: env.readonly,
            ..Default::default()
        }));
        tokio::spawn(crate::ops::watch::watch(
            watched,
            Arc::new(RowObserver(row.clone())),
            std::time::Duration::from_secs(args.every_secs),
            stop.clone(),
        ));
        rows.push(row);
    }
    let global = global.clone();
    let open: DashboardOpener = Arc::new(move |name: String| {
        let scoped = GlobalArgs {
            env: Some(name),
            ..global.clone()
        };
        Box::pin(async move { run_env_dashboard(&scoped).await.map_err(|e| e.to_string()) })
    });
    let result = crate::tui::overview::run(rows, open)
        .await
        .map_err(crate::commands::context::failed);
    stop.cancel();
    result
}

/// `wsdash replay FILE [--at T]`.
pub async fn run_replay(
    global: &GlobalArgs,
    args: &crate::cli::ReplayArgs,
) -> Result<(), crate::commands::CommandError> {
    use crate::commands::context::{failed, usage};
    use crate::tui::replay::{table_json, Replay};
    let replay = Replay::load(&args.file).map_err(usage)?;
    if replay.unreadable > 0 {
        eprintln!(
            "note: {} line(s) of {} could not be read (a recorder stopped mid-line) and were skipped",
            replay.unreadable,
            args.file.display()
        );
    }
    let Some(at) = &args.at else {
        return crate::tui::replay::run(replay).await.map_err(failed);
    };
    let at_ms = replay.parse_time(at).ok_or_else(|| {
        usage(format!(
            "--at {at:?}: not a time (11:32, 11:32:05, RFC 3339, or +SECONDS from the start)"
        ))
    })?;
    let app = replay.state_at(at_ms);
    let table = table_json(&app);
    if global.output == crate::commands::context::OutputFormat::Json {
        crate::commands::output::print_json(&table);
    } else {
        let rows: Vec<Vec<String>> = table
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| {
                [
                    "user_id",
                    "connection_id",
                    "connected_at",
                    "state",
                    "last_outcome",
                ]
                .iter()
                .map(|k| r[*k].as_str().unwrap_or_default().to_string())
                .collect()
            })
            .collect();
        crate::commands::output::print_table(
            &[
                "USER",
                "CONNECTION",
                "CONNECTED_AT",
                "STATE",
                "LAST OUTCOME",
            ],
            &rows,
        );
    }
    Ok(())
}
