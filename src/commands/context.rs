//! What every headless command needs: the resolved environment and clients built from it.

use crate::aws_env::{load_sdk_config, AwsSettings};
use crate::config::is_local_endpoint;
use crate::config::{
    default_audit_path, default_config_path, load_config, resolve, Environment, Overrides,
};
use crate::management::{AwsManagementApi, ManagementApi};
use crate::ops::audit::AuditLog;
use crate::ops::pacing::RateController;
use crate::store::postgres::PostgresStore;
use crate::store::redis_store::RedisStore;
use crate::store::{ConnectionStore, DynamoStore, StoreError};
use std::path::PathBuf;
use std::sync::Arc;

/// Flags every command accepts; each also reads `WSDASH_<FLAG>`.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Global options (every command; each also reads WSDASH_<FLAG>)")]
pub struct GlobalArgs {
    /// Named environment from the config file.
    #[arg(long, global = true, env = "WSDASH_ENV")]
    pub env: Option<String>,
    /// Config file (default: ~/.config/wsdash/config.toml).
    #[arg(long, global = true, env = "WSDASH_CONFIG")]
    pub config: Option<PathBuf>,
    #[arg(long, global = true, env = "WSDASH_REGION")]
    pub region: Option<String>,
    #[arg(long, global = true, env = "WSDASH_PROFILE")]
    pub profile: Option<String>,
    /// Connection table (DynamoDB, or in the --store-url database).
    #[arg(long, global = true, env = "WSDASH_TABLE")]
    pub table: Option<String>,
    /// The connection store when it is not DynamoDB: postgres://USER:PASSWORD@HOST:PORT/DB.
    #[arg(long, global = true, env = "WSDASH_STORE_URL", hide_env_values = true)]
    pub store_url: Option<String>,
    /// Management API endpoint (stage URL), e.g. https://abc.execute-api.us-east-1.amazonaws.com/production
    #[arg(long, global = true, env = "WSDASH_ENDPOINT")]
    pub endpoint: Option<String>,
    /// DynamoDB endpoint (moto_server, DynamoDB Local); AWS_ENDPOINT_URL_DYNAMODB works too.
    #[arg(long, global = true, env = "WSDASH_DYNAMODB_ENDPOINT")]
    pub dynamodb_endpoint: Option<String>,
    /// Disable every mutation (WSDASH_READONLY=1|true|yes|on); cannot be undone from inside.
    #[arg(
        long,
        global = true,
        env = "WSDASH_READONLY",
        action = clap::ArgAction::SetTrue,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub readonly: bool,
    /// table (for people) or json (for scripts).
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "table",
        env = "WSDASH_OUTPUT"
    )]
    pub output: OutputFormat,
    /// Audit log of every mutation (JSON lines).
    #[arg(long, global = true, env = "WSDASH_AUDIT_LOG")]
    pub audit_log: Option<PathBuf>,
    /// Record the dashboard session to this file (JSON lines) for `wsdash replay`.
    #[arg(long, global = true, env = "WSDASH_RECORD")]
    pub record: Option<PathBuf>,
    /// With --record: hash user ids, source IPs and user agents in the recording.
    #[arg(long, global = true, env = "WSDASH_REDACT", action = clap::ArgAction::SetTrue, value_parser = clap::builder::BoolishValueParser::new())]
    pub redact: bool,
    /// Management API calls per second at most, or "unlimited" (default: unlimited on
    /// loopback endpoints, 500 against AWS; `api_rate` in the environment).
    #[arg(long, global = true, env = "WSDASH_RATE", value_parser = crate::flags::ceiling)]
    pub rate: Option<crate::flags::Ceiling>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum OutputFormat {
    #[default]
    Table,
    Json,
}

/// Why a command failed, and so its exit code.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// Exit 2: the command line or the configuration is wrong.
    #[error("{0}")]
    Usage(String),
    /// Exit 1: the operation ran and failed.
    #[error("{0}")]
    Failed(String),
    /// Exit 130: a signal stopped the command between two operations; the rest was not tried.
    #[error("{0}")]
    Interrupted(String),
}

impl CommandError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CommandError::Usage(_) => 2,
            CommandError::Failed(_) => 1,
            CommandError::Interrupted(_) => 130,
        }
    }
}

pub fn usage(e: impl std::fmt::Display) -> CommandError {
    CommandError::Usage(e.to_string())
}

pub fn failed(e: impl std::fmt::Display) -> CommandError {
    CommandError::Failed(e.to_string())
}

/// The error of a command a signal stopped after `done` of `total` operations.
pub fn interrupted(done: usize, total: usize, rerun: &str) -> CommandError {
    CommandError::Interrupted(format!(
        "stopped by a signal after {done} of {total}; each started operation finished and its result is in the audit log; {rerun}"
    ))
}

impl GlobalArgs {
    pub fn environment(&self) -> Result<Environment, CommandError> {
        let (path, explicit) = match &self.config {
            Some(p) => (p.clone(), true),
            None => (default_config_path(), false),
        };
        let file = load_config(&path, explicit).map_err(usage)?;
        resolve(
            &file,
            &path,
            self.env.as_deref(),
            &Overrides {
                region: self.region.clone(),
                profile: self.profile.clone(),
                table: self.table.clone(),
                store_url: self.store_url.clone(),
                endpoint: self.endpoint.clone(),
                dynamodb_endpoint: self.dynamodb_endpoint.clone(),
                readonly: self.readonly,
                rate: self.rate,
            },
        )
        .map_err(usage)
    }

    pub fn audit_path(&self) -> PathBuf {
        self.audit_log.clone().unwrap_or_else(default_audit_path)
    }
}

/// Clients for one environment.
pub struct Context {
    pub env: Environment,
    pub sdk: aws_config::SdkConfig,
    pub audit_path: PathBuf,
}

impl Context {
    pub async fn new(args: &GlobalArgs) -> Result<Self, CommandError> {
        let env = args.environment()?;
        let dynamo_endpoint = env
            .dynamodb_endpoint
            .clone()
            .or_else(|| std::env::var("AWS_ENDPOINT_URL_DYNAMODB").ok());
        // Against the emulator and moto, any credentials do; never invent them for real AWS.
        let all_local = env.endpoint.as_deref().is_none_or(is_local_endpoint)
            && dynamo_endpoint.as_deref().is_some_and(is_local_endpoint)
            || env.endpoint.as_deref().is_some_and(is_local_endpoint)
                && (env.table.is_none() || env.store_url.is_some());
        let dummy = all_local
            && std::env::var("AWS_ACCESS_KEY_ID").is_err()
            && crate::aws_env::profile_in_use(env.profile.as_deref()).is_none();
        // With no region given, the endpoint's execute-api host names it (no IMDS lookup).
        let region = env.region.clone().or_else(|| {
            env.endpoint
                .as_deref()
                .and_then(crate::management::endpoint::region_in_host)
        });
        let sdk = load_sdk_config(&AwsSettings {
            region,
            profile: env.profile.clone(),
            dummy_credentials: dummy,
            ..AwsSettings::default()
        })
        .await;
        Ok(Self {
            env,
            sdk,
            audit_path: args.audit_path(),
        })
    }

    pub fn management(&self) -> Result<Arc<dyn ManagementApi>, CommandError> {
        Ok(Arc::new(self.aws_management()?))
    }

    /// The Management API client itself, for what only it knows (the region it signs for).
    pub fn aws_management(&self) -> Result<AwsManagementApi, CommandError> {
        let endpoint = self.env.endpoint().map_err(usage)?;
        Ok(AwsManagementApi::new(&self.sdk, endpoint).with_profile(self.env.profile.as_deref()))
    }

    /// The environment's connection store: PostgreSQL or Redis when it has a store URL, else
    /// DynamoDB.
    pub async fn store(&self) -> Result<Arc<dyn ConnectionStore>, CommandError> {
        let opened = match url_store(&self.env).await? {
            Some(store) => Ok(store),
            None => self
                .dynamo_store()
                .await
                .map(|store| store as Arc<dyn ConnectionStore>),
        };
        opened.map_err(store_refused)
    }

    /// The DynamoDB table itself, for what only DynamoDB has (its key schema, TTL, streams).
    pub async fn dynamo_store(&self) -> Result<Arc<DynamoStore>, StoreError> {
        let table = self
            .env
            .table()
            .map_err(|e| StoreError::TableNotFound(e.to_string()))?;
        DynamoStore::connect(
            &self.sdk,
            self.env.dynamodb_endpoint.as_deref(),
            table,
            self.env.schema.clone(),
            self.env.scan_segments,
        )
        .await
        .map(Arc::new)
    }

    /// A rate controller for this environment's Management API calls: the background ceiling
    /// for sweeps, the operator's for pushes and disconnects. Build it once per process and
    /// share it.
    pub fn rate(&self) -> Arc<RateController> {
        Arc::new(
            RateController::new(self.env.api_rate).with_operator_ceiling(self.env.operator_rate),
        )
    }

    pub fn audit(&self) -> Result<AuditLog, CommandError> {
        AuditLog::open(&self.audit_path, &self.env.name).map_err(failed)
    }

    pub fn refuse_if_readonly(&self, what: &str) -> Result<(), CommandError> {
        if self.env.readonly {
            return Err(usage(format!(
                "{what} is disabled: environment {:?} is read-only",
                self.env.name
            )));
        }
        Ok(())
    }
}

/// The store an environment's store URL names (PostgreSQL or Redis), opened; `None` without a
/// URL (DynamoDB, which needs the AWS SDK). A Redis store has no table: its keys are named by
/// `schema.record_key`.
pub async fn url_store(
    env: &Environment,
) -> Result<Option<Arc<dyn ConnectionStore>>, CommandError> {
    let Some(url) = &env.store_url else {
        return Ok(None);
    };
    let opened: Arc<dyn ConnectionStore> = if is_redis_url(url) {
        Arc::new(
            RedisStore::connect(url, &env.schema)
                .await
                .map_err(store_refused)?,
        )
    } else {
        let table = env.table().map_err(usage)?;
        Arc::new(
            PostgresStore::connect(url, table, &env.schema)
                .await
                .map_err(store_refused)?,
        )
    };
    Ok(Some(opened))
}

/// A table that is not there, or does not fit, is a configuration mistake, not a failed
/// operation.
fn store_refused(e: StoreError) -> CommandError {
    match e {
        StoreError::TableNotFound(_) | StoreError::Schema(_) => usage(e),
        other => failed(other),
    }
}

/// Whether a store URL names Redis (`redis://`).
pub fn is_redis_url(url: &str) -> bool {
    url.starts_with("redis://") || url.starts_with("rediss://")
}

/// Ask on a terminal; refuse without one.
pub fn confirm(question: &str, yes: bool) -> Result<(), CommandError> {
    use std::io::{BufRead, IsTerminal, Write};
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(usage(format!(
            "{question}: refusing without --yes because stdin is not a terminal"
        )));
    }
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(failed)?;
    if matches!(answer.trim(), "y" | "Y" | "yes") {
        Ok(())
    } else {
        Err(failed("cancelled; nothing was changed"))
    }
}
