//! The whole push system on one machine: gateway emulator, reference backend (in-memory store),
//! client swarm and a stream of notifications, all talking over real loopback sockets.

use super::auth::TokenAuth;
use super::backend::{spawn_backend, BackendState};
use super::error::{ensure, EmulatorError};
use super::faults::Faults;
use super::gateway::{start_gateway, GatewayHandle, GatewayOptions};
use super::notifications::run_notification_stream;
use super::swarm::{spawn_swarm, SwarmConfig, SwarmStats};
use crate::aws_env::{load_sdk_config, AwsSettings};
use crate::management::{AwsManagementApi, ManagementApi};
use crate::store::{ConnectionStore, MemoryStore};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, clap::Args)]
pub struct DemoArgs {
    /// Simulated browser clients.
    #[arg(long, default_value_t = 40)]
    pub clients: usize,
    /// Gateway address (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub gateway_listen: String,
    /// Backend address (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub backend_listen: String,
    /// Fraction of $disconnect calls the gateway loses, leaving stale records behind.
    #[arg(long, default_value_t = 0.3, value_parser = crate::flags::fraction)]
    pub drop_disconnect: f64,
    /// Fraction of departing clients that vanish without a close frame.
    #[arg(long, default_value_t = 0.3, value_parser = crate::flags::fraction)]
    pub vanish: f64,
    /// Mean seconds a simulated client stays connected before leaving (0: never leave).
    #[arg(long, default_value_t = 45)]
    pub lifetime_secs: u64,
    /// Mean seconds a client that left stays away (its stale record stays visible meanwhile).
    #[arg(long, default_value_t = 60)]
    pub offline_secs: u64,
    /// Milliseconds between the backend's notification pushes (0: none).
    #[arg(long, default_value_t = 1000)]
    pub push_every_ms: u64,
    /// Speed up every limit and timer (60: minutes become seconds).
    #[arg(long, default_value_t = 1.0, value_parser = crate::flags::time_scale)]
    pub time_scale: f64,
    /// Bearer token for the backend's debug endpoints (random when not given).
    #[arg(long, env = "WSDASH_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Run without the dashboard: print the URLs and serve until Ctrl-C.
    #[arg(long)]
    pub headless: bool,
    /// Misbehaving clients for `f` to show (only with --clients > 0): each reconnects every few
    /// seconds, and every fourth session its token expires and it retries every 5 s (401s).
    #[arg(long, default_value_t = 1)]
    pub flappers: usize,
    /// Clients whose first record the backend "forgets" (accepted, never stored): orphans,
    /// open sockets no push reaches, for `wsdash orphans` and the exporter to find.
    #[arg(long, default_value_t = 1)]
    pub forgotten: usize,
    #[command(flatten)]
    pub access_logs: super::access_log::AccessLogOptions,
    /// New connections per second before the gateway answers handshakes 429 (API Gateway's
    /// default account quota is 500).
    #[arg(long, default_value_t = 500.0, value_parser = crate::flags::rate)]
    pub connect_rate: f64,
    /// The audit log of the backend's stale endpoint (set from the global --audit-log).
    #[arg(skip)]
    pub audit_log: Option<std::path::PathBuf>,
}

impl Default for DemoArgs {
    fn default() -> Self {
        Self {
            clients: 40,
            gateway_listen: "127.0.0.1:0".into(),
            backend_listen: "127.0.0.1:0".into(),
            drop_disconnect: 0.3,
            vanish: 0.3,
            lifetime_secs: 45,
            offline_secs: 60,
            push_every_ms: 1000,
            time_scale: 1.0,
            admin_token: None,
            headless: false,
            flappers: 1,
            forgotten: 1,
            access_logs: Default::default(),
            connect_rate: 500.0,
            audit_log: None,
        }
    }
}

/// A running demo; everything stops when `shutdown` is cancelled.
pub struct Demo {
    /// How many simulated clients the swarm runs.
    pub clients: usize,
    pub gateway: GatewayHandle,
    pub backend_url: String,
    pub admin_token: String,
    pub store: Arc<dyn ConnectionStore>,
    pub management: Arc<dyn ManagementApi>,
    /// The stage's CloudWatch metrics, read with GetMetricData from the emulator (signed with
    /// the demo's key), as the dashboard reads them from AWS.
    pub metrics: Arc<crate::gateway_metrics::CloudWatchMetrics>,
    pub swarm: Arc<SwarmStats>,
    pub shutdown: CancellationToken,
    /// The backend server and the notification stream, awaited on stop.
    pub tasks: tokio_util::task::TaskTracker,
}

/// The users of the demo's clients whose records the backend forgets.
const FORGOTTEN_PREFIX: &str = "forgotten-";

/// How long a stop waits for servers to finish what they are doing.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Cancel `shutdown`, then wait (at most a few seconds) for `tasks` to end.
pub async fn stop(shutdown: &CancellationToken, tasks: &tokio_util::task::TaskTracker) {
    shutdown.cancel();
    tasks.close();
    if tokio::time::timeout(STOP_GRACE, tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!("servers did not stop within {}s", STOP_GRACE.as_secs());
    }
}

impl Demo {
    pub fn describe(&self) -> String {
        format!(
            "wsdash demo: API Gateway emulator, reference backend and {} simulated clients\n\
             websocket:            {}?token=dev:<user>\n\
             management endpoint:  {}\n\
             backend:              {}\n\
             backend admin token:  {}\n\
             emulator admin API:   {}/ (not part of AWS)\n\
             store:                {}\n\
             browser client:       {}\n\
             try: curl -H 'Authorization: Bearer {}' {}/debug/ws-connections",
            self.clients,
            self.gateway.websocket_url(),
            self.gateway.management_url(),
            self.backend_url,
            self.admin_token,
            self.gateway.admin_url(),
            self.store.describe(),
            self.client_page_url(),
            self.admin_token,
            self.backend_url,
        )
    }

    /// The guide's browser client, served by the emulator.
    pub fn client_page_url(&self) -> String {
        format!("{}/client?token=dev:you", self.gateway.admin_url())
    }
}

/// Numbers that would make the demo crash or spin, refused with the flag's name.
fn check_args(args: &DemoArgs) -> Result<(), EmulatorError> {
    super::gateway::check_time_scale(args.time_scale)?;
    for (flag, value) in [
        ("--drop-disconnect", args.drop_disconnect),
        ("--vanish", args.vanish),
    ] {
        ensure((0.0..=1.0).contains(&value), || {
            format!("{flag} is a fraction between 0 and 1, got {value}")
        })?;
    }
    ensure(args.clients <= MAX_DEMO_CLIENTS, || {
        format!(
            "--clients is at most {MAX_DEMO_CLIENTS} (each is a real socket), got {}",
            args.clients
        )
    })
}

/// Each simulated client is a socket and a task; beyond this the laptop, not the demo, is tested.
pub const MAX_DEMO_CLIENTS: usize = 20_000;

/// Start the demo; its backend keeps the records in `store` (the in-memory store when `None`;
/// PostgreSQL or Redis with a store URL).
pub async fn start_demo(
    args: &DemoArgs,
    store: Option<Arc<dyn ConnectionStore>>,
) -> Result<Demo, EmulatorError> {
    check_args(args)?;
    if let Ok(addr) = args.gateway_listen.parse::<std::net::SocketAddr>() {
        super::gateway::check_admin_exposure(addr, args.admin_token.as_deref())?;
    }
    let shutdown = CancellationToken::new();
    let gateway_listener = bind(&args.gateway_listen, "--gateway-listen").await?;
    let gateway_addr = gateway_listener.local_addr()?;
    let backend_listener = bind(&args.backend_listen, "--backend-listen").await?;
    let backend_url = format!("http://{}", backend_listener.local_addr()?);
    let demo_key = super::gateway::auth::credentials::KnownKey {
        access_key_id: format!("AKIAWSDASHDEMO{}", &crate::token::random_token()[..6])
            .to_uppercase(),
        secret_access_key: crate::token::random_token(),
        session_token: None,
        expires_at: None,
        arn: format!(
            "arn:aws:iam::{}:user/wsdash-demo",
            super::gateway::auth::DEFAULT_ACCOUNT_ID
        ),
    };
    let options = GatewayOptions {
        time_scale: args.time_scale,
        faults: Faults {
            drop_disconnect: args.drop_disconnect,
            ..Faults::default()
        },
        // Beyond loopback the emulator's admin API takes the same token as the backend's.
        admin_token: if gateway_addr.ip().is_loopback() {
            None
        } else {
            args.admin_token.clone()
        },
        access_logs: args.access_logs.clone(),
        connect_rate: args.connect_rate,
        // The demo's dashboard and backend sign with the demo's own key, whose signatures the
        // gateway verifies; other tools may sign with any key, as with local AWS stand-ins.
        auth: super::gateway::auth::AuthOptions {
            own_key: Some(demo_key.clone()),
            ..Default::default()
        },
        ..GatewayOptions::default()
    };
    let gateway = start_gateway(
        gateway_listener,
        Some(&backend_url),
        &options,
        shutdown.clone(),
    )
    .await?;

    let sdk = load_sdk_config(&AwsSettings {
        static_key: Some((
            demo_key.access_key_id.clone(),
            demo_key.secret_access_key.clone(),
        )),
        region: Some(super::gateway::auth::DEFAULT_REGION.into()),
        call_timeout: Some(Duration::from_secs(5)),
        ..AwsSettings::default()
    })
    .await;
    let management: Arc<dyn ManagementApi> =
        Arc::new(AwsManagementApi::new(&sdk, &gateway.management_url()));
    let metrics = Arc::new(crate::gateway_metrics::CloudWatchMetrics::new(
        &sdk,
        Some(&format!("http://{}", gateway.addr)),
        super::config_api::API_ID,
        &gateway.stage,
    ));
    let store: Arc<dyn ConnectionStore> = store.unwrap_or_else(|| Arc::new(MemoryStore::new()));
    let admin_token = args
        .admin_token
        .clone()
        .unwrap_or_else(crate::token::random_token);
    let backend = Arc::new(BackendState {
        store: store.clone(),
        gateway: management.clone(),
        auth: TokenAuth::new(None, true),
        admin_token: admin_token.clone(),
        audit: match &args.audit_log {
            Some(path) => Some(Arc::new(crate::ops::audit::AuditLog::open(path, "demo")?)),
            None => None,
        },
        forget_users: (args.clients > 0 && args.forgotten > 0)
            .then(|| FORGOTTEN_PREFIX.to_string()),
        forgotten: Default::default(),
    });
    let tasks = tokio_util::task::TaskTracker::new();
    let gateway_server = gateway.server.clone();
    tasks.spawn(async move { gateway_server.wait().await });
    let backend_server = spawn_backend(backend_listener, backend, shutdown.clone());
    tasks.spawn(async move {
        let _ = backend_server.await;
    });

    let mut swarm = SwarmConfig::new(gateway.websocket_url(), args.clients);
    swarm.time_scale = args.time_scale;
    swarm.vanish_fraction = args.vanish;
    swarm.mean_offline = Duration::from_secs(args.offline_secs.max(1));
    swarm.mean_lifetime = (args.lifetime_secs > 0).then(|| Duration::from_secs(args.lifetime_secs));
    let swarm = spawn_swarm(swarm, shutdown.clone());
    if args.clients > 0 && args.flappers > 0 {
        // Clients that reconnect every few seconds, and whose token expires every fourth
        // session and is retried every 5 s: a reconnect storm and a run of 401s for `f` and the
        // details view to show. Their own User-Agent lets the access log tie both together.
        let mut flapper = SwarmConfig::new(gateway.websocket_url(), args.flappers);
        flapper.user_prefix = "flapper-".into();
        flapper.time_scale = args.time_scale;
        flapper.mean_lifetime = Some(Duration::from_secs(8));
        flapper.mean_offline = Duration::from_secs(1);
        flapper.user_agent = Some("swarm/1.0 Edge/131 (flapper)".into());
        flapper.expiring_token = Some(super::swarm::ExpiringToken {
            good_sessions: 4,
            refused_attempts: 4,
            retry: Duration::from_secs(5),
        });
        spawn_swarm(flapper, shutdown.clone());
    }
    if args.clients > 0 && args.forgotten > 0 {
        let mut forgotten = SwarmConfig::new(gateway.websocket_url(), args.forgotten);
        forgotten.user_prefix = FORGOTTEN_PREFIX.into();
        forgotten.time_scale = args.time_scale;
        forgotten.mean_lifetime = None;
        // Closed by an operator, it comes back at once, as a browser tab would.
        forgotten.mean_offline = Duration::from_secs(1);
        forgotten.user_agent = Some("swarm/1.0 Firefox/133 (forgotten)".into());
        spawn_swarm(forgotten, shutdown.clone());
    }
    if args.push_every_ms > 0 {
        tasks.spawn(run_notification_stream(
            management.clone(),
            store.clone(),
            Duration::from_millis(args.push_every_ms),
            shutdown.clone(),
        ));
    }
    Ok(Demo {
        clients: args.clients,
        gateway,
        backend_url,
        admin_token,
        store,
        management,
        metrics,
        swarm,
        shutdown,
        tasks,
    })
}

pub async fn bind(addr: &str, flag: &str) -> Result<TcpListener, EmulatorError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| EmulatorError::Bind {
            addr: addr.to_string(),
            flag: flag.to_string(),
            source,
        })
}
