//! The command line: clap definitions only. What each command starts is in `launch`.

use crate::commands::disconnect::DisconnectArgs;
use crate::commands::purge::PurgeArgs;
use crate::commands::push::PushArgs;
use crate::commands::restore::RestoreArgs;
use crate::commands::GlobalArgs;
use crate::emulator::backend::StoreKind;
use crate::emulator::demo::DemoArgs;
use crate::emulator::gateway::GatewayArgs;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "wsdash",
    version,
    about = "Dashboard and toolkit for WebSocket push on AWS API Gateway"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub global: GlobalArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run an API Gateway WebSocket emulator in front of an HTTP backend.
    Gateway(Box<GatewayArgs>),
    /// Run the guide's reference backend.
    Backend(BackendArgs),
    /// Run gateway, backend and a client swarm together.
    Demo(DemoArgs),
    /// List the records in the connection table.
    List,
    /// Probe every record with GetConnection: live, stale, expired, unknown, malformed.
    Probe,
    /// Push a message to users, connections or every matching record.
    Push(PushArgs),
    /// Close connections (DeleteConnection).
    Disconnect(DisconnectArgs),
    /// Delete stale records: probes every record, shows the plan (only Gone ones), asks, deletes.
    Purge(PurgeArgs),
    /// Put deleted records back from the audit log.
    Restore(RestoreArgs),
    /// Check the API's configuration, the table and the permissions; --e2e follows a real connection.
    Doctor(crate::commands::doctor::DoctorArgs),
    /// Connections the gateway holds that the store has lost (from the access log); --disconnect closes them.
    Orphans(crate::commands::orphans::OrphansArgs),
    /// One row per environment (live, stale, coverage, rate, refusals, what fails); Enter opens its dashboard.
    Overview(OverviewArgs),
    /// Play a recorded session (--record) in the dashboard, read-only; --at T prints the table then.
    Replay(ReplayArgs),
    /// Serve Prometheus / OpenMetrics metrics of one or more environments (read-only).
    Exporter(crate::exporter::ExporterArgs),
    /// Set up the connection store (PostgreSQL: the trigger for live refresh).
    #[command(subcommand)]
    Store(crate::commands::store::StoreCommand),
    /// Print a shell completion script: `source <(wsdash completions bash)`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff): `wsdash man > wsdash.1 && man ./wsdash.1`.
    Man,
}

/// Completion scripts and the man page, generated from the same clap definitions as `--help`.
pub fn print_completions(shell: clap_complete::Shell) {
    use clap::CommandFactory;
    clap_complete::generate(shell, &mut Cli::command(), "wsdash", &mut std::io::stdout());
}

pub fn print_man_page() -> std::io::Result<()> {
    use clap::CommandFactory;
    clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout())
}

#[derive(Debug, Clone, clap::Args)]
pub struct ReplayArgs {
    /// The recording (`wsdash --record FILE`).
    pub file: std::path::PathBuf,
    /// Print the table as it stood at this time (11:32, 11:32:05, RFC 3339, or +SECONDS from
    /// the start) instead of playing it.
    #[arg(long)]
    pub at: Option<String>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct OverviewArgs {
    /// Environments to show (from the config file), one row each.
    #[arg(required = true)]
    pub environments: Vec<String>,
    /// Seconds between two sweeps of an environment (a read of the store, then probes).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub every_secs: u64,
}

#[derive(Debug, Clone, clap::Args)]
pub struct BackendArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8000", env = "WSDASH_BACKEND_LISTEN")]
    pub listen: String,
    /// Management API endpoint (the stage URL), e.g. http://127.0.0.1:4510/production.
    #[arg(long, env = "WSDASH_ENDPOINT")]
    pub gateway: String,
    /// Bearer token for the debug endpoints (random and printed when not given).
    #[arg(long, env = "WSDASH_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    /// Accept `dev:<user_id>` tokens (local development only).
    #[arg(long)]
    pub dev_tokens: bool,
    /// Accept HS256 JWTs signed with this secret; `sub` is the user id.
    #[arg(long, env = "WSDASH_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Where connection records live (dynamodb uses --table and --dynamodb-endpoint).
    #[arg(long, value_enum, default_value = "memory")]
    pub store: StoreKind,
}
