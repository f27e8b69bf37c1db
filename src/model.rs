//! The nouns every part of wsdash shares: connection records, probe answers and delivery outcomes.

use serde::{Deserialize, Serialize};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The guide's record: one row of the connection store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionRecord {
    pub user_id: String,
    pub connection_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub connected_at: OffsetDateTime,
}

impl ConnectionRecord {
    pub fn new(user_id: impl Into<String>, connection_id: impl Into<String>) -> Self {
        Self {
            user_id: user_id.into(),
            connection_id: connection_id.into(),
            connected_at: now_utc_millis(),
        }
    }
}

/// What GetConnection says about a live connection.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ConnectionInfo {
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub connected_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    pub last_active_at: Option<OffsetDateTime>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
}

/// How one Management API call ended, in an operator's words. Every outcome in wsdash is one of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryClass {
    Delivered,
    Gone,
    Forbidden,
    PayloadTooLarge,
    Throttled,
    Timeout,
    Network,
    Other,
}

impl DeliveryClass {
    pub const ALL: [DeliveryClass; 8] = [
        DeliveryClass::Delivered,
        DeliveryClass::Gone,
        DeliveryClass::Forbidden,
        DeliveryClass::PayloadTooLarge,
        DeliveryClass::Throttled,
        DeliveryClass::Timeout,
        DeliveryClass::Network,
        DeliveryClass::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryClass::Delivered => "delivered",
            DeliveryClass::Gone => "gone",
            DeliveryClass::Forbidden => "forbidden",
            DeliveryClass::PayloadTooLarge => "payload_too_large",
            DeliveryClass::Throttled => "throttled",
            DeliveryClass::Timeout => "timeout",
            DeliveryClass::Network => "network",
            DeliveryClass::Other => "other",
        }
    }
}

/// The result of one push to one connection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryOutcome {
    /// What the operator asked for: a user id or a connection id.
    pub target: String,
    pub user_id: Option<String>,
    pub connection_id: String,
    pub class: DeliveryClass,
    /// HTTP status of the last attempt, when one came back.
    pub status: Option<u16>,
    pub latency_ms: f64,
    pub attempts: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub error: Option<String>,
    /// True when a Gone answer led to the record being deleted (conditionally).
    pub record_deleted: bool,
}

/// UTC now, truncated to milliseconds so it round-trips through ISO-8601 strings unchanged.
pub fn now_utc_millis() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.millisecond() as u32 * 1_000_000)
        .unwrap_or(now)
}

/// ISO-8601 with milliseconds and a `Z`, the shape AWS uses on the wire.
pub fn iso_millis(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

pub fn parse_iso(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// `1h02m`, `4m05s`, `12s`: compact ages for tables.
pub fn format_age(d: time::Duration) -> String {
    let secs = d.whole_seconds().max(0);
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_millis_round_trips() {
        let t = now_utc_millis();
        assert_eq!(parse_iso(&iso_millis(t)), Some(t));
    }

    #[test]
    fn ages_are_compact() {
        assert_eq!(format_age(time::Duration::seconds(3720)), "1h02m");
        assert_eq!(format_age(time::Duration::seconds(245)), "4m05s");
        assert_eq!(format_age(time::Duration::seconds(-3)), "0s");
    }
}
