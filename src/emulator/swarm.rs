//! Simulated browser clients following the guide's §4: token in the query, dispatch on `type`,
//! reconnect with backoff 5 s → 60 s, a silence watchdog, churn, and clients that vanish without
//! a close frame (the way real tabs and phones leave).

use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::{sleep, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
pub struct SwarmConfig {
    /// `ws://host:port/stage`
    pub websocket_url: String,
    pub clients: usize,
    /// Users are `{prefix}{n}` and connect with `dev:{prefix}{n}`.
    pub user_prefix: String,
    /// Divides every timing (backoff, watchdog, lifetimes): 60 turns minutes into seconds.
    pub time_scale: f64,
    /// Mean time a client stays before leaving (churn); None keeps clients forever.
    pub mean_lifetime: Option<Duration>,
    /// Mean time a client that left stays away.
    pub mean_offline: Duration,
    /// Fraction of departures that drop TCP without a close frame.
    pub vanish_fraction: f64,
    /// Spread the first connections over this long, so a big swarm does not stampede.
    pub ramp_up: Duration,
    /// Clients whose token expires now and then (see `ExpiringToken`).
    pub expiring_token: Option<ExpiringToken>,
    /// A User-Agent for every client instead of the three browser-like ones.
    pub user_agent: Option<String>,
}

/// A misbehaving client, as a tab with a stuck retry loop is: after `good_sessions` sessions
/// its token expires; it retries the stale token every `retry` (ignoring the backoff),
/// `refused_attempts` times, before it "logs in again" with a good one.
#[derive(Debug, Clone, Copy)]
pub struct ExpiringToken {
    pub good_sessions: u32,
    pub refused_attempts: u32,
    pub retry: Duration,
}

/// The token a client with an expiring one sends once it has expired.
pub const EXPIRED_TOKEN: &str = "expired-token";

impl SwarmConfig {
    pub fn new(websocket_url: impl Into<String>, clients: usize) -> Self {
        Self {
            websocket_url: websocket_url.into(),
            clients,
            user_prefix: "user-".into(),
            time_scale: 1.0,
            mean_lifetime: None,
            mean_offline: Duration::from_secs(10),
            vanish_fraction: 0.0,
            ramp_up: Duration::from_millis(500),
            expiring_token: None,
            user_agent: None,
        }
    }
}

/// The guide's client timings, before scaling.
const FIRST_BACKOFF: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
const SILENCE_TIMEOUT: Duration = Duration::from_secs(120);
const WATCHDOG_INTERVAL: Duration = Duration::from_secs(30);

#[derive(Default)]
pub struct SwarmStats {
    pub connected_now: AtomicU64,
    pub connects: AtomicU64,
    pub connect_failures: AtomicU64,
    pub closed_by_server: AtomicU64,
    pub left_cleanly: AtomicU64,
    pub vanished: AtomicU64,
    pub watchdog_pings: AtomicU64,
    by_type: Mutex<BTreeMap<String, u64>>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SwarmStatsView {
    pub connected_now: u64,
    pub connects: u64,
    pub connect_failures: u64,
    pub closed_by_server: u64,
    pub left_cleanly: u64,
    pub vanished: u64,
    pub watchdog_pings: u64,
    pub messages_by_type: BTreeMap<String, u64>,
}

impl SwarmStats {
    fn count_message(&self, text: &str) {
        let kind = serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_string))
            .unwrap_or_else(|| "unknown".into());
        *self
            .by_type
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(kind)
            .or_default() += 1;
    }

    pub fn view(&self) -> SwarmStatsView {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        SwarmStatsView {
            connected_now: load(&self.connected_now),
            connects: load(&self.connects),
            connect_failures: load(&self.connect_failures),
            closed_by_server: load(&self.closed_by_server),
            left_cleanly: load(&self.left_cleanly),
            vanished: load(&self.vanished),
            watchdog_pings: load(&self.watchdog_pings),
            messages_by_type: self
                .by_type
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        }
    }
}

/// Start the swarm; clients stop when `shutdown` is cancelled.
pub fn spawn_swarm(config: SwarmConfig, shutdown: CancellationToken) -> Arc<SwarmStats> {
    let stats = Arc::new(SwarmStats::default());
    let config = Arc::new(config);
    for n in 0..config.clients {
        let start_delay = config
            .ramp_up
            .mul_f64(n as f64 / config.clients.max(1) as f64);
        tokio::spawn(run_client(
            config.clone(),
            n,
            start_delay,
            stats.clone(),
            shutdown.clone(),
        ));
    }
    stats
}

/// How a connected session ended.
enum SessionEnd {
    ServerClosed,
    Left,
    Shutdown,
}

async fn run_client(
    config: Arc<SwarmConfig>,
    n: usize,
    start_delay: Duration,
    stats: Arc<SwarmStats>,
    shutdown: CancellationToken,
) {
    let scale = |d: Duration| d.div_f64(config.time_scale);
    let good_token = format!("dev:{}{n}", config.user_prefix);
    let url_with = |token: &str| {
        format!(
            "{}?token={}",
            config.websocket_url,
            percent_encoding::utf8_percent_encode(token, percent_encoding::NON_ALPHANUMERIC)
        )
    };
    let mut backoff = FIRST_BACKOFF;
    // Sessions since the last (re)login, and refused tries since the token expired.
    let (mut sessions, mut refusals) = (0u32, 0u32);
    if !pause(start_delay, &shutdown).await {
        return;
    }
    loop {
        let expired = config
            .expiring_token
            .is_some_and(|e| sessions >= e.good_sessions);
        let token = if expired {
            EXPIRED_TOKEN
        } else {
            good_token.as_str()
        };
        let url = url_with(token);
        let socket = tokio::select! {
            _ = shutdown.cancelled() => return,
            result = connect(&url, n, config.user_agent.as_deref()) => result,
        };
        let refused = socket.is_err();
        let end = match socket {
            Ok(socket) => {
                backoff = FIRST_BACKOFF;
                stats.connects.fetch_add(1, Ordering::Relaxed);
                stats.connected_now.fetch_add(1, Ordering::Relaxed);
                sessions += 1;
                let end = run_session(&config, socket, token, &stats, &shutdown).await;
                stats.connected_now.fetch_sub(1, Ordering::Relaxed);
                end
            }
            Err(_) => {
                stats.connect_failures.fetch_add(1, Ordering::Relaxed);
                SessionEnd::ServerClosed
            }
        };
        let wait = match (end, config.expiring_token) {
            (SessionEnd::Shutdown, _) => return,
            (SessionEnd::ServerClosed, Some(expiring)) if refused && expired => {
                refusals += 1;
                if refusals >= expiring.refused_attempts {
                    // Logged in again: a fresh token, a fresh run of sessions.
                    (sessions, refusals) = (0, 0);
                }
                scale(expiring.retry)
            }
            (SessionEnd::Left, _) => random_around(config.mean_offline.div_f64(config.time_scale)),
            (SessionEnd::ServerClosed, _) => {
                let wait = scale(backoff);
                backoff = (backoff * 2).min(MAX_BACKOFF);
                wait
            }
        };
        if !pause(wait, &shutdown).await {
            return;
        }
    }
}

async fn run_session<S>(
    config: &SwarmConfig,
    mut socket: tokio_tungstenite::WebSocketStream<S>,
    token: &str,
    stats: &SwarmStats,
    shutdown: &CancellationToken,
) -> SessionEnd
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let silence = SILENCE_TIMEOUT.div_f64(config.time_scale);
    let mut watchdog = tokio::time::interval(WATCHDOG_INTERVAL.div_f64(config.time_scale));
    watchdog.tick().await;
    let mut last_message = Instant::now();
    let leave_at = config
        .mean_lifetime
        .map(|mean| Instant::now() + random_around(mean.div_f64(config.time_scale)));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => {
                let _ = socket.close(None).await;
                return SessionEnd::Shutdown;
            }
            incoming = socket.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    last_message = Instant::now();
                    stats.count_message(&text);
                }
                Some(Ok(Message::Binary(_))) => {
                    last_message = Instant::now();
                    stats.count_message("");
                }
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                    stats.closed_by_server.fetch_add(1, Ordering::Relaxed);
                    return SessionEnd::ServerClosed;
                }
                Some(Ok(_)) => {}
            },
            _ = watchdog.tick() => {
                if last_message.elapsed() > silence {
                    stats.watchdog_pings.fetch_add(1, Ordering::Relaxed);
                    let ping = serde_json::json!({"action": "ping", "token": token}).to_string();
                    if socket.send(Message::Text(ping.into())).await.is_err() {
                        stats.closed_by_server.fetch_add(1, Ordering::Relaxed);
                        return SessionEnd::ServerClosed;
                    }
                }
            }
            _ = wait_until(leave_at) => {
                if rand::rng().random::<f64>() < config.vanish_fraction {
                    // Dropping the stream closes TCP with no close frame: the tab just died.
                    stats.vanished.fetch_add(1, Ordering::Relaxed);
                    drop(socket);
                } else {
                    stats.left_cleanly.fetch_add(1, Ordering::Relaxed);
                    let _ = socket.close(None).await;
                }
                return SessionEnd::Left;
            }
        }
    }
}

/// Open a socket with a browser-like User-Agent (or `agent`), so GetConnection's Identity and
/// the access log have one to show.
async fn connect(
    url: &str,
    n: usize,
    agent: Option<&str>,
) -> Result<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    tokio_tungstenite::tungstenite::Error,
> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = url.into_client_request()?;
    const AGENTS: [&str; 3] = [
        "swarm/1.0 Chrome/131",
        "swarm/1.0 Firefox/133",
        "swarm/1.0 Safari/18",
    ];
    if let Ok(agent) = agent.unwrap_or(AGENTS[n % AGENTS.len()]).parse() {
        request.headers_mut().insert("user-agent", agent);
    }
    // A small read buffer: tungstenite's default (128 KiB) is zeroed again on reads, which was
    // most of the demo's CPU while pushing to 2,000 clients (perf); the gateway's sockets use
    // the same size. Messages larger than it still arrive whole.
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(4 * 1024);
    tokio_tungstenite::connect_async_with_config(request, Some(config), false)
        .await
        .map(|(socket, _)| socket)
}

/// Sleep unless shut down first; false means stop.
async fn pause(d: Duration, shutdown: &CancellationToken) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => false,
        _ = sleep(d) => true,
    }
}

async fn wait_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Exponentially distributed around `mean`, bounded to [mean/10, 4·mean] so nothing is instant or endless.
fn random_around(mean: Duration) -> Duration {
    let u: f64 = rand::rng().random_range(0.0001..1.0);
    let factor = (-u.ln()).clamp(0.1, 4.0);
    mean.mul_f64(factor)
}
