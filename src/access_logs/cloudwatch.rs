//! Access logs in a CloudWatch Logs group: read a connection's lines with FilterLogEvents (the
//! dashboard), write lines with PutLogEvents (the emulator, as API Gateway's stage would).

use super::{AccessLogEntry, AccessLogSource, LogLine, LogsError};
use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_cloudwatchlogs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use aws_sdk_cloudwatchlogs::Client;

/// How far back the details view looks.
const LOOK_BACK_MS: i64 = 24 * 3600 * 1000;
/// The newest this many lines for one connection.
const CONNECTION_LINES: usize = 300;
/// The newest this many handshakes.
const HANDSHAKE_LINES: usize = 5_000;
/// The newest this many CONNECT (and as many DISCONNECT) lines, for the orphan search.
const SESSION_LINES: usize = 50_000;
/// The newest this many lines in the logs panel.
const TAIL_LINES: usize = 500;
/// Pages read at most per call: a group busier than this in the window shows its latest pages'
/// worth, and the call stays bounded.
const MAX_PAGES: usize = 20;

pub struct CloudWatchAccessLogs {
    client: Client,
    group: String,
}

fn logs_error<E, R>(err: SdkError<E, R>, group: &str) -> LogsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + 'static,
{
    let message = err
        .message()
        .map(str::to_string)
        .unwrap_or_else(|| crate::aws_env::describe_unanswered_call(&err, "CloudWatch Logs"));
    match err.code() {
        Some("ResourceNotFoundException") => LogsError::GroupNotFound(group.to_string()),
        Some("AccessDeniedException" | "UnrecognizedClientException") => {
            LogsError::AccessDenied(message)
        }
        _ if matches!(
            err,
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_)
        ) =>
        {
            LogsError::Network(message)
        }
        Some(code) => LogsError::Other(format!("{code}: {message}")),
        None => LogsError::Other(message),
    }
}

impl CloudWatchAccessLogs {
    /// FilterLogEvents with `pattern` from `since` (epoch ms): the newest `keep` lines, oldest
    /// first.
    async fn filter(
        &self,
        pattern: &str,
        since: i64,
        keep: usize,
    ) -> Result<Vec<LogLine>, LogsError> {
        let mut lines = Vec::new();
        let mut next: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let page = self
                .client
                .filter_log_events()
                .log_group_name(&self.group)
                .set_filter_pattern(Some(pattern.to_string()).filter(|p| !p.trim().is_empty()))
                .start_time(since)
                .set_next_token(next.take())
                .send()
                .await
                .map_err(|e| logs_error(e, &self.group))?;
            lines.extend(page.events().iter().map(|event| {
                LogLine::parse(
                    event.timestamp().unwrap_or_default(),
                    event.message().unwrap_or_default().to_string(),
                )
            }));
            if lines.len() > 2 * keep {
                lines.sort_by_key(|l| l.at_ms);
                lines.drain(..lines.len() - keep);
            }
            match page.next_token() {
                Some(token) if !token.is_empty() => next = Some(token.to_string()),
                _ => break,
            }
        }
        lines.sort_by_key(|l| l.at_ms);
        lines.drain(..lines.len().saturating_sub(keep));
        Ok(lines)
    }

    /// `endpoint`: moto_server or another non-AWS endpoint; AWS_ENDPOINT_URL_CLOUDWATCH_LOGS works too.
    pub fn new(sdk: &SdkConfig, endpoint: Option<&str>, group: &str) -> Self {
        let mut config = aws_sdk_cloudwatchlogs::config::Builder::from(sdk);
        if let Some(endpoint) = endpoint {
            config = config.endpoint_url(endpoint);
        }
        CloudWatchAccessLogs {
            client: Client::from_conf(config.build()),
            group: group.to_string(),
        }
    }

    /// Create the group and the stream unless they exist.
    pub async fn ensure_stream(&self, stream: &str) -> Result<(), LogsError> {
        let exists =
            |e: &dyn ProvideErrorMetadata| e.code() == Some("ResourceAlreadyExistsException");
        if let Err(e) = self
            .client
            .create_log_group()
            .log_group_name(&self.group)
            .send()
            .await
        {
            if !exists(&e) {
                return Err(logs_error(e, &self.group));
            }
        }
        if let Err(e) = self
            .client
            .create_log_stream()
            .log_group_name(&self.group)
            .log_stream_name(stream)
            .send()
            .await
        {
            if !exists(&e) {
                return Err(logs_error(e, &self.group));
            }
        }
        Ok(())
    }

    /// Append lines to `stream` (oldest first, as PutLogEvents wants them).
    pub async fn put(&self, stream: &str, entries: &[AccessLogEntry]) -> Result<(), LogsError> {
        let mut events: Vec<InputLogEvent> = entries
            .iter()
            .filter_map(|entry| {
                InputLogEvent::builder()
                    .timestamp(entry.request_time_epoch)
                    .message(serde_json::to_string(entry).ok()?)
                    .build()
                    .ok()
            })
            .collect();
        if events.is_empty() {
            return Ok(());
        }
        events.sort_by_key(|e| e.timestamp());
        self.client
            .put_log_events()
            .log_group_name(&self.group)
            .log_stream_name(stream)
            .set_log_events(Some(events))
            .send()
            .await
            .map_err(|e| logs_error(e, &self.group))?;
        Ok(())
    }
}

#[async_trait]
impl AccessLogSource for CloudWatchAccessLogs {
    async fn for_connection(&self, connection_id: &str) -> Result<Vec<LogLine>, LogsError> {
        let since = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
            - LOOK_BACK_MS;
        // A quoted term: lines holding exactly this connection id.
        self.filter(&format!("\"{connection_id}\""), since, CONNECTION_LINES)
            .await
    }

    async fn handshakes(&self, since_ms: i64) -> Result<Vec<LogLine>, LogsError> {
        let mut lines = self
            .filter("\"CONNECT\"", since_ms, HANDSHAKE_LINES)
            .await?;
        // The term also matches a MESSAGE line whose text says CONNECT.
        lines.retain(|l| l.entry.as_ref().is_some_and(|e| e.event_type == "CONNECT"));
        Ok(lines)
    }

    async fn tail(&self, pattern: &str, since_ms: i64) -> Result<Vec<LogLine>, LogsError> {
        self.filter(pattern, since_ms, TAIL_LINES).await
    }

    async fn sessions(&self, since_ms: i64) -> Result<Vec<LogLine>, LogsError> {
        // Two quoted terms rather than a JSON pattern: every CloudWatch Logs (and moto) reads
        // them. A term may match other lines too; the event type decides.
        let mut lines = self.filter("\"CONNECT\"", since_ms, SESSION_LINES).await?;
        lines.extend(
            self.filter("\"DISCONNECT\"", since_ms, SESSION_LINES)
                .await?,
        );
        lines.retain(|l| {
            l.entry
                .as_ref()
                .is_some_and(|e| e.event_type == "CONNECT" || e.event_type == "DISCONNECT")
        });
        lines.sort_by(|a, b| a.at_ms.cmp(&b.at_ms).then(a.raw.cmp(&b.raw)));
        lines.dedup_by(|a, b| a.raw == b.raw && a.at_ms == b.at_ms);
        Ok(lines)
    }

    fn describe(&self) -> String {
        format!("log group {}", self.group)
    }
}
