//! What `wsdash gateway` and the demo are started with: the listen address and backend, the
//! stage, limits and faults, and the limits in force once scaled.

use super::super::error::{ensure, EmulatorError};
use super::super::faults::Faults;
use crate::flags::TIME_SCALE_RANGE;
use crate::model::{MAX_FRAME_BYTES, MAX_MESSAGE_BYTES};
use std::net::SocketAddr;
use std::time::Duration;

#[derive(Debug, Clone, clap::Args)]
pub struct GatewayArgs {
    /// Address to listen on (127.0.0.1 unless you mean otherwise).
    #[arg(long, default_value = "127.0.0.1:4510", env = "WSDASH_GATEWAY_LISTEN")]
    pub listen: String,
    /// Base URL of the HTTP backend that receives $connect, $disconnect and $default (the
    /// guide's API, deployed at start). Without it there is no API until a backend creates one
    /// with the apigatewayv2 calls, as on AWS.
    #[arg(long, env = "WSDASH_BACKEND")]
    pub backend: Option<String>,
    /// Bearer token for the admin API (/_wsdash/*); required to listen beyond loopback.
    #[arg(long, env = "WSDASH_GATEWAY_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: Option<String>,
    #[command(flatten)]
    pub options: GatewayOptions,
}

/// The admin API kills sockets and injects faults: beyond loopback, only with a token.
pub fn check_admin_exposure(
    addr: SocketAddr,
    admin_token: Option<&str>,
) -> Result<(), EmulatorError> {
    if addr.ip().is_loopback() {
        return Ok(());
    }
    match admin_token {
        None => Err(EmulatorError::AdminTokenRequired(addr)),
        Some(token) if token.len() < 8 => Err(EmulatorError::AdminTokenTooShort(addr)),
        Some(_) => Ok(()),
    }
}

/// Stage, limits and faults; shared by `wsdash gateway` and the demo.
#[derive(Debug, Clone, clap::Args)]
pub struct GatewayOptions {
    /// Stage name: the WebSocket URL is ws://ADDR/STAGE and the management endpoint http://ADDR/STAGE.
    #[arg(long, default_value = "production")]
    pub stage: String,
    /// Run the clock faster: 60 makes the 10 min idle timeout 10 s (for tests).
    #[arg(long, default_value_t = 1.0, value_parser = crate::flags::time_scale)]
    pub time_scale: f64,
    /// Idle timeout in seconds before time scaling (0 disables it).
    #[arg(long, default_value_t = 600)]
    pub idle_timeout_secs: u64,
    /// Maximum connection duration in seconds before time scaling (0 disables it).
    #[arg(long, default_value_t = 7200)]
    pub max_duration_secs: u64,
    /// Accept client messages above 128 KB instead of closing with 1009.
    #[arg(long)]
    pub no_message_limit: bool,
    /// Accept client frames above 32 KB instead of closing with 1009 (API Gateway's frame quota).
    #[arg(long)]
    pub no_frame_limit: bool,
    /// New connections per second before handshakes are answered 429 (API Gateway's default
    /// account quota is 500).
    #[arg(long, default_value_t = 500.0, value_parser = crate::flags::rate)]
    pub connect_rate: f64,
    /// Accept handshakes at any rate.
    #[arg(long)]
    pub no_connect_limit: bool,
    #[command(flatten)]
    pub access_logs: crate::emulator::access_log::AccessLogOptions,
    /// Limit @connections calls to this many per second (answers 429 above it); off by default.
    #[arg(long, value_parser = crate::flags::rate)]
    pub rate_limit: Option<f64>,
    /// Burst allowed by --rate-limit.
    #[arg(long, default_value_t = 5000)]
    pub rate_burst: u32,
    #[command(flatten)]
    pub faults: Faults,
    #[command(flatten)]
    pub auth: super::auth::AuthOptions,
    /// When set, every admin call but the client page needs `Authorization: Bearer TOKEN`.
    #[arg(skip)]
    pub admin_token: Option<String>,
}

impl Default for GatewayOptions {
    fn default() -> Self {
        Self {
            stage: "production".into(),
            time_scale: 1.0,
            idle_timeout_secs: 600,
            max_duration_secs: 7200,
            no_message_limit: false,
            no_frame_limit: false,
            connect_rate: 500.0,
            no_connect_limit: false,
            access_logs: Default::default(),
            rate_limit: None,
            rate_burst: 5000,
            faults: Faults::default(),
            auth: Default::default(),
            admin_token: None,
        }
    }
}

/// The limits in force, already scaled.
#[derive(Debug, Clone)]
pub struct GatewayLimits {
    pub stage: String,
    pub time_scale: f64,
    pub idle_timeout: Option<Duration>,
    pub max_duration: Option<Duration>,
    pub max_message_bytes: Option<usize>,
    pub max_frame_bytes: Option<usize>,
    /// New connections per second (`None`: no limit).
    pub connect_rate: Option<f64>,
}

impl GatewayOptions {
    pub fn limits(&self) -> Result<GatewayLimits, EmulatorError> {
        check_time_scale(self.time_scale)?;
        ensure(!self.stage.is_empty() && !self.stage.contains('/'), || {
            format!(
                "--stage must be a single path segment, got {:?}",
                self.stage
            )
        })?;
        self.faults.validate().map_err(EmulatorError::BadOption)?;
        if let Some(rate) = self.rate_limit {
            ensure(rate.is_finite() && rate > 0.0, || {
                format!("--rate-limit must be a number of calls per second above 0, got {rate}")
            })?;
        }
        ensure(self.rate_burst >= 1, || {
            "--rate-burst must be at least 1".into()
        })?;
        let scaled = |secs: u64| {
            (secs > 0).then(|| {
                Duration::try_from_secs_f64(secs as f64 / self.time_scale).unwrap_or(Duration::MAX)
            })
        };
        Ok(GatewayLimits {
            stage: self.stage.clone(),
            time_scale: self.time_scale,
            idle_timeout: scaled(self.idle_timeout_secs),
            max_duration: scaled(self.max_duration_secs),
            max_message_bytes: (!self.no_message_limit).then_some(MAX_MESSAGE_BYTES),
            max_frame_bytes: (!self.no_frame_limit).then_some(MAX_FRAME_BYTES),
            connect_rate: (!self.no_connect_limit).then_some(self.connect_rate),
        })
    }
}

pub fn check_time_scale(time_scale: f64) -> Result<(), EmulatorError> {
    ensure(TIME_SCALE_RANGE.contains(&time_scale), || {
        format!(
            "--time-scale must be between {} and {}, got {time_scale}",
            TIME_SCALE_RANGE.start(),
            TIME_SCALE_RANGE.end()
        )
    })
}
