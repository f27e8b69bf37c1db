//! The emulated stage's access logging: every `$connect` (refused ones included, with their
//! status, as AWS logs them), message and `$disconnect` becomes one JSON line
//! (`crate::access_logs::AccessLogEntry`) in a file, in a CloudWatch Logs group, and in a ring
//! of recent lines the admin API serves to the demo's dashboard.

use crate::access_logs::{AccessLogEntry, CloudWatchAccessLogs, LogQuery, TermPattern};
use std::collections::VecDeque;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How many recent lines the admin API can serve.
const RECENT_LINES: usize = 10_000;
/// Lines are shipped to CloudWatch at least this often, or per this many.
const SHIP_EVERY: Duration = Duration::from_millis(500);
const SHIP_BATCH: usize = 1_000;

/// Where the access log goes; the same flags for `wsdash gateway` and `wsdash demo`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AccessLogOptions {
    /// Append the access log (one JSON line per $connect, message and $disconnect) to this file.
    #[arg(long)]
    pub access_log: Option<std::path::PathBuf>,
    /// Ship the access log to this CloudWatch Logs group, as a stage with access logging does.
    #[arg(long)]
    pub log_group: Option<String>,
    /// The CloudWatch Logs endpoint for --log-group (e.g. moto_server); AWS when not given.
    #[arg(long)]
    pub logs_endpoint: Option<String>,
}

/// Where access-log lines go.
#[derive(Default)]
pub struct AccessLog {
    /// The stage's per-minute CloudWatch metrics, counted from the same lines.
    pub metrics: super::cloudwatch::StageMetrics,
    recent: Mutex<VecDeque<AccessLogEntry>>,
    file: Option<Mutex<std::fs::File>>,
    cloudwatch: Option<mpsc::UnboundedSender<AccessLogEntry>>,
}

impl AccessLog {
    pub fn new(
        file: Option<std::fs::File>,
        cloudwatch: Option<mpsc::UnboundedSender<AccessLogEntry>>,
    ) -> Self {
        AccessLog {
            metrics: Default::default(),
            recent: Mutex::default(),
            file: file.map(Mutex::new),
            cloudwatch,
        }
    }

    pub fn record(&self, entry: AccessLogEntry) {
        self.metrics.observe(&entry);
        if let Some(file) = &self.file {
            if let (Ok(line), Ok(mut file)) = (serde_json::to_string(&entry), file.lock()) {
                // A log that cannot be written must not stop the gateway.
                let _ = writeln!(file, "{line}");
            }
        }
        if let Some(cloudwatch) = &self.cloudwatch {
            let _ = cloudwatch.send(entry.clone());
        }
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        if recent.len() == RECENT_LINES {
            recent.pop_front();
        }
        recent.push_back(entry);
    }

    /// The newest `limit` lines that answer `query` and `pattern`, oldest first.
    pub fn recent(
        &self,
        query: &LogQuery,
        pattern: Option<&TermPattern>,
        limit: usize,
    ) -> Vec<AccessLogEntry> {
        let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        let mut lines: Vec<AccessLogEntry> = recent
            .iter()
            .rev()
            .filter(|e| {
                query.since_ms.is_none_or(|t| e.request_time_epoch >= t)
                    && query
                        .connection_id
                        .as_ref()
                        .is_none_or(|id| e.connection_id == *id)
                    && query.event_type.as_ref().is_none_or(|t| e.event_type == *t)
            })
            .filter(|e| match pattern {
                // The pattern is matched against the line as it is logged, as CloudWatch does.
                Some(pattern) => pattern.matches(&serde_json::to_string(e).unwrap_or_default()),
                None => true,
            })
            .take(limit)
            .cloned()
            .collect();
        lines.reverse();
        lines
    }
}

/// Ship lines to `logs` (stream `stream`) in batches until `shutdown`, then the rest. Failures
/// are logged and the batch dropped: access logging must never slow the gateway down.
pub fn ship_to_cloudwatch(
    logs: CloudWatchAccessLogs,
    stream: String,
    shutdown: CancellationToken,
) -> mpsc::UnboundedSender<AccessLogEntry> {
    let (tx, mut rx) = mpsc::unbounded_channel::<AccessLogEntry>();
    tokio::spawn(async move {
        if let Err(e) = logs.ensure_stream(&stream).await {
            tracing::warn!(
                "access logs: cannot create {}: {e}",
                logs_name(&logs, &stream)
            );
        }
        let mut batch = Vec::new();
        let mut tick = tokio::time::interval(SHIP_EVERY);
        loop {
            tokio::select! {
                entry = rx.recv() => match entry {
                    Some(entry) => {
                        batch.push(entry);
                        if batch.len() >= SHIP_BATCH {
                            ship(&logs, &stream, &mut batch).await;
                        }
                    }
                    None => {
                        ship(&logs, &stream, &mut batch).await;
                        return;
                    }
                },
                _ = tick.tick() => ship(&logs, &stream, &mut batch).await,
                _ = shutdown.cancelled() => {
                    while let Ok(entry) = rx.try_recv() {
                        batch.push(entry);
                    }
                    ship(&logs, &stream, &mut batch).await;
                    return;
                }
            }
        }
    });
    tx
}

fn logs_name(logs: &CloudWatchAccessLogs, stream: &str) -> String {
    use crate::access_logs::AccessLogSource;
    format!("{} stream {stream}", logs.describe())
}

async fn ship(logs: &CloudWatchAccessLogs, stream: &str, batch: &mut Vec<AccessLogEntry>) {
    if batch.is_empty() {
        return;
    }
    if let Err(e) = logs.put(stream, batch).await {
        tracing::warn!(
            "access logs: {} line(s) not shipped to {}: {e}",
            batch.len(),
            logs_name(logs, stream)
        );
    }
    batch.clear();
}
