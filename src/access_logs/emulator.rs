//! The demo's access log, read from the emulator's admin API (`GET /_wsdash/logs`).

use super::{AccessLogEntry, AccessLogSource, LogLine, LogQuery, LogsError};
use async_trait::async_trait;

pub struct EmulatorAccessLogs {
    admin_url: String,
    http: reqwest::Client,
}

impl EmulatorAccessLogs {
    pub fn new(admin_url: &str) -> Self {
        EmulatorAccessLogs {
            admin_url: admin_url.trim_end_matches('/').to_string(),
            http: reqwest::Client::new(),
        }
    }

    async fn query(&self, query: &LogQuery) -> Result<Vec<LogLine>, LogsError> {
        let answer = self
            .http
            .get(format!("{}/logs", self.admin_url))
            .query(query)
            .send()
            .await
            .map_err(|e| LogsError::Network(e.without_url().to_string()))?;
        let status = answer.status();
        if status == reqwest::StatusCode::BAD_REQUEST {
            // The emulator says what it could not understand in the pattern.
            let reason = answer.text().await.unwrap_or_default();
            return Err(LogsError::Pattern(reason));
        }
        if !status.is_success() {
            return Err(LogsError::Other(format!("the emulator answered {status}")));
        }
        let entries: Vec<AccessLogEntry> = answer
            .json()
            .await
            .map_err(|e| LogsError::Other(e.without_url().to_string()))?;
        Ok(entries
            .into_iter()
            .map(|entry| LogLine {
                at_ms: entry.request_time_epoch,
                raw: serde_json::to_string(&entry).unwrap_or_default(),
                entry: Some(entry),
            })
            .collect())
    }
}

#[async_trait]
impl AccessLogSource for EmulatorAccessLogs {
    async fn for_connection(&self, connection_id: &str) -> Result<Vec<LogLine>, LogsError> {
        self.query(&LogQuery {
            connection_id: Some(connection_id.to_string()),
            limit: Some(200),
            ..Default::default()
        })
        .await
    }

    async fn handshakes(&self, since_ms: i64) -> Result<Vec<LogLine>, LogsError> {
        self.query(&LogQuery {
            event_type: Some("CONNECT".into()),
            since_ms: Some(since_ms),
            limit: Some(5_000),
            ..Default::default()
        })
        .await
    }

    async fn tail(&self, pattern: &str, since_ms: i64) -> Result<Vec<LogLine>, LogsError> {
        self.query(&LogQuery {
            pattern: Some(pattern.to_string()).filter(|p| !p.trim().is_empty()),
            since_ms: Some(since_ms),
            limit: Some(500),
            ..Default::default()
        })
        .await
    }

    async fn sessions(&self, since_ms: i64) -> Result<Vec<LogLine>, LogsError> {
        let mut lines = Vec::new();
        for event in ["CONNECT", "DISCONNECT"] {
            lines.extend(
                self.query(&LogQuery {
                    event_type: Some(event.into()),
                    since_ms: Some(since_ms),
                    limit: Some(50_000),
                    ..Default::default()
                })
                .await?,
            );
        }
        lines.sort_by_key(|l| l.at_ms);
        Ok(lines)
    }

    fn describe(&self) -> String {
        "the emulator's access log".into()
    }
}
