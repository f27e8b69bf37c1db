//! API Gateway's access log: the line format (`$context` variables as JSON), and where the
//! dashboard reads a connection's lines from: a CloudWatch Logs group (AWS, moto_server) or the
//! emulator's admin API (the demo).

pub mod clients;
pub mod cloudwatch;
pub mod emulator;
pub mod query;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use cloudwatch::CloudWatchAccessLogs;
pub use emulator::EmulatorAccessLogs;
pub use query::{LogQuery, TermPattern};

/// The access-log format (a stage's AccessLogSettings.Format) whose lines parse as
/// `AccessLogEntry`: what the emulator writes and what doctor proposes.
pub const ACCESS_LOG_FORMAT: &str = r#"{"requestId":"$context.requestId","connectionId":"$context.connectionId","eventType":"$context.eventType","routeKey":"$context.routeKey","status":"$context.status","errorMessage":"$context.error.message","integrationStatus":"$context.integrationStatus","integrationLatency":"$context.integrationLatency","sourceIp":"$context.identity.sourceIp","userAgent":"$context.identity.userAgent","requestTime":"$context.requestTime","requestTimeEpoch":"$context.requestTimeEpoch"}"#;

/// One access-log line, in the fields of the guide's access-log format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessLogEntry {
    pub request_id: String,
    pub connection_id: String,
    /// CONNECT, MESSAGE or DISCONNECT.
    pub event_type: String,
    pub route_key: String,
    #[serde(deserialize_with = "number::required")]
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "number::optional"
    )]
    pub integration_status: Option<u16>,
    /// Milliseconds the integration took.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "number::optional"
    )]
    pub integration_latency: Option<u64>,
    #[serde(default)]
    pub source_ip: String,
    #[serde(default)]
    pub user_agent: String,
    /// `26/Nov/2026:09:42:09 +0000`, as $context.requestTime writes it.
    #[serde(default)]
    pub request_time: String,
    #[serde(default, deserialize_with = "number::or_zero")]
    pub request_time_epoch: i64,
}

/// API Gateway writes every `$context` value as a string, "-" when it has none; the emulator
/// writes numbers. Both read the same.
mod number {
    use serde::{Deserialize, Deserializer};
    use std::str::FromStr;

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(serde_json::Number),
        Text(String),
        Null(()),
    }

    fn parse<T: FromStr>(raw: Raw) -> Option<T> {
        match raw {
            Raw::Number(n) => n.to_string().parse().ok(),
            Raw::Text(t) => t.trim().parse().ok(),
            Raw::Null(()) => None,
        }
    }

    pub fn optional<'de, D: Deserializer<'de>, T: FromStr>(d: D) -> Result<Option<T>, D::Error> {
        Ok(parse(Raw::deserialize(d)?))
    }

    pub fn required<'de, D: Deserializer<'de>, T: FromStr>(d: D) -> Result<T, D::Error> {
        parse(Raw::deserialize(d)?).ok_or_else(|| serde::de::Error::custom("expected a number"))
    }

    pub fn or_zero<'de, D: Deserializer<'de>, T: FromStr + Default>(d: D) -> Result<T, D::Error> {
        Ok(parse(Raw::deserialize(d)?).unwrap_or_default())
    }
}

impl AccessLogEntry {
    /// A line for an event happening now; the caller fills in the outcome.
    pub fn now(connection_id: &str, event_type: &str, route_key: &str, status: u16) -> Self {
        let now = time::OffsetDateTime::now_utc();
        let request_time = now
            .format(time::macros::format_description!(
                "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"
            ))
            .unwrap_or_default();
        AccessLogEntry {
            request_id: crate::token::random_token(),
            connection_id: connection_id.to_string(),
            event_type: event_type.to_string(),
            route_key: route_key.to_string(),
            status,
            error_message: None,
            integration_status: None,
            integration_latency: None,
            source_ip: String::new(),
            user_agent: String::new(),
            request_time,
            request_time_epoch: (now.unix_timestamp_nanos() / 1_000_000) as i64,
        }
    }

    /// `09:42:09 CONNECT $connect 401 (integration 401, 3 ms): Unauthorized`, for the details view.
    pub fn summary(&self) -> String {
        let clock = self
            .request_time
            .split(':')
            .skip(1)
            .take(3)
            .collect::<Vec<_>>()
            .join(":");
        let clock = clock.split(' ').next().unwrap_or_default();
        let integration = match (self.integration_status, self.integration_latency) {
            (Some(status), Some(ms)) => format!(" (integration {status}, {ms} ms)"),
            (Some(status), None) => format!(" (integration {status})"),
            _ => String::new(),
        };
        let error = self
            .error_message
            .as_deref()
            .map(|e| format!(": {e}"))
            .unwrap_or_default();
        format!(
            "{clock} {} {} {}{integration}{error}",
            self.event_type, self.route_key, self.status
        )
    }
}

/// A line as read back: parsed when it is in the format above, the raw text otherwise.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    pub at_ms: i64,
    pub entry: Option<AccessLogEntry>,
    pub raw: String,
}

/// A refused handshake: a CONNECT line with a status of 400 or more.
pub fn is_refused_handshake(line: &LogLine) -> bool {
    line.entry
        .as_ref()
        .is_some_and(|e| e.event_type == "CONNECT" && e.status >= 400)
}

impl LogLine {
    pub fn parse(at_ms: i64, raw: String) -> Self {
        LogLine {
            at_ms,
            entry: serde_json::from_str(&raw).ok(),
            raw,
        }
    }

    pub fn summary(&self) -> String {
        match &self.entry {
            Some(entry) => entry.summary(),
            None => self.raw.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogsError {
    #[error("log group {0} not found; check the environment's log_group and region")]
    GroupNotFound(String),
    #[error("access denied to the access logs: {0} (logs:FilterLogEvents is needed)")]
    AccessDenied(String),
    #[error("cannot reach the access logs: {0}")]
    Network(String),
    #[error("access logs: {0}")]
    Other(String),
    #[error("the filter pattern: {0}")]
    Pattern(String),
}

impl LogsError {
    /// The kind of failure, for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            LogsError::GroupNotFound(_) => "group_not_found",
            LogsError::AccessDenied(_) => "access_denied",
            LogsError::Network(_) => "network",
            LogsError::Other(_) => "other",
            LogsError::Pattern(_) => "pattern",
        }
    }
}

/// Where the dashboard reads access-log lines.
#[async_trait]
pub trait AccessLogSource: Send + Sync {
    /// The connection's lines of the last day, oldest first (at most a few hundred).
    async fn for_connection(&self, connection_id: &str) -> Result<Vec<LogLine>, LogsError>;
    /// Every handshake (CONNECT line) since `since_ms` (epoch milliseconds), oldest first: the
    /// accepted ones tie a user to its source, the refused ones (a run of 401s is a client with
    /// a bad token retrying) are counted and tied back to it.
    async fn handshakes(&self, since_ms: i64) -> Result<Vec<LogLine>, LogsError>;
    /// The newest lines matching `pattern` (a CloudWatch filter pattern; "" for all) since
    /// `since_ms`, oldest first: the logs panel.
    async fn tail(&self, pattern: &str, since_ms: i64) -> Result<Vec<LogLine>, LogsError>;
    /// CONNECT and DISCONNECT lines since `since_ms`, oldest first: who came and who left.
    async fn sessions(&self, since_ms: i64) -> Result<Vec<LogLine>, LogsError>;
    /// For the header and messages: the group or the emulator.
    fn describe(&self) -> String;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_reads_back_and_sums_up() {
        let mut entry = AccessLogEntry::now("Abc123=", "CONNECT", "$connect", 401);
        entry.request_time = "26/Nov/2026:09:42:09 +0000".into();
        entry.integration_status = Some(401);
        entry.integration_latency = Some(3);
        entry.error_message = Some("Unauthorized".into());
        let line = LogLine::parse(1, serde_json::to_string(&entry).expect("json"));
        assert_eq!(line.entry.as_ref(), Some(&entry));
        assert_eq!(
            line.summary(),
            "09:42:09 CONNECT $connect 401 (integration 401, 3 ms): Unauthorized"
        );
        assert_eq!(
            LogLine::parse(2, "plain text".into()).summary(),
            "plain text"
        );
    }
}
