//! The demo's access log, read from the emulator's admin API (`GET /_wsdash/logs`).

use super::{AccessLogEntry, AccessLogSource, LogLine, LogsError};
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
}

#[async_trait]
impl AccessLogSource for EmulatorAccessLogs {
    async fn for_connection(&self, connection_id: &str) -> Result<Vec<LogLine>, LogsError> {
        let url = format!("{}/logs", self.admin_url);
        let answer = self
            .http
            .get(url)
            .query(&[("connection_id", connection_id), ("limit", "200")])
            .send()
            .await
            .map_err(|e| LogsError::Network(e.without_url().to_string()))?;
        if !answer.status().is_success() {
            return Err(LogsError::Other(format!(
                "the emulator answered {}",
                answer.status()
            )));
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

    async fn refused_handshakes(&self, since_ms: i64) -> Result<Vec<LogLine>, LogsError> {
        let answer = self
            .http
            .get(format!("{}/logs", self.admin_url))
            .query(&[("limit", "5000")])
            .send()
            .await
            .map_err(|e| LogsError::Network(e.without_url().to_string()))?;
        let entries: Vec<AccessLogEntry> = answer
            .json()
            .await
            .map_err(|e| LogsError::Other(e.without_url().to_string()))?;
        Ok(entries
            .into_iter()
            .filter(|e| e.request_time_epoch >= since_ms)
            .map(|entry| LogLine {
                at_ms: entry.request_time_epoch,
                raw: String::new(),
                entry: Some(entry),
            })
            .filter(super::is_refused_handshake)
            .collect())
    }

    fn describe(&self) -> String {
        "the emulator's access log".into()
    }
}
