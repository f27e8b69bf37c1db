//! The nouns every part of wsdash shares: connection records, probe answers and delivery outcomes.

/// API Gateway's quotas for WebSocket APIs: a message (Management API or client) is at most
/// 128 KB; it travels in frames of at most 32 KB.
pub const MAX_MESSAGE_BYTES: usize = 131_072;
pub const MAX_FRAME_BYTES: usize = 32 * 1024;

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
    /// Why it failed, for scripts: `iam_denied`, `expired_session`, `gone`, … (see
    /// `GatewayError::cause`); absent when delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    /// True when a Gone answer led to the record being deleted (conditionally).
    pub record_deleted: bool,
}

/// UTC now, truncated to milliseconds so it round-trips through ISO-8601 strings unchanged.
pub fn now_utc_millis() -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    now.replace_nanosecond(now.millisecond() as u32 * 1_000_000)
        .unwrap_or(now)
}

/// `09:42:09` (UTC): a time of day on screen.
pub fn clock(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!("{:02}:{:02}:{:02}", t.hour(), t.minute(), t.second())
}

/// `clock` of an epoch-milliseconds instant (a log line's); empty if it is out of range.
pub fn clock_of_millis(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .map(clock)
        .unwrap_or_default()
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

/// RFC 3339, or an ISO-8601 time without a zone, read as UTC: Python's
/// `datetime.utcnow().isoformat()` writes `2026-11-25T01:25:15.123456`, and backends that store
/// it mean UTC.
pub fn parse_iso(s: &str) -> Option<OffsetDateTime> {
    use time::macros::format_description;
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t);
    }
    let zoneless = format_description!(
        version = 2,
        "[first [[year]-[month]-[day]T][[year]-[month]-[day] ]][hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    time::PrimitiveDateTime::parse(s, zoneless)
        .ok()
        .map(|t| t.assume_utc())
}

/// The longest connection id wsdash sends to the Management API. AWS issues 16-character ids;
/// 128 leaves room for emulators and id formats we have not seen, and keeps a corrupted
/// 65 KB value out of a URL path.
pub const MAX_CONNECTION_ID_LEN: usize = 128;

/// Why an id cannot be a connection id, if it cannot: checked before anything reaches the
/// Management API, so a bad stored value is reported instead of breaking a request.
pub fn connection_id_problem(id: &str) -> Option<String> {
    if id.is_empty() {
        return Some("connection_id is empty".into());
    }
    if id.len() > MAX_CONNECTION_ID_LEN {
        return Some(format!(
            "connection_id is {} bytes long (AWS ids are 16; wsdash accepts up to {MAX_CONNECTION_ID_LEN})",
            id.len()
        ));
    }
    if id.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Some("connection_id contains whitespace or control characters".into());
    }
    None
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

/// The age of something that started at `since`, for tables: `future` when it has not started
/// yet by our clock (a wrong `connected_at` must not look brand new).
pub fn age_since(now: OffsetDateTime, since: OffsetDateTime) -> String {
    if since - now > time::Duration::minutes(1) {
        "future".into()
    } else {
        format_age(now - since)
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
    fn zone_less_iso_times_read_as_utc() {
        let expected = parse_iso("2026-11-25T01:25:15.123456Z");
        assert!(expected.is_some());
        assert_eq!(parse_iso("2026-11-25T01:25:15.123456"), expected);
        assert_eq!(parse_iso("2026-11-25 01:25:15.123456"), expected);
        assert_eq!(
            parse_iso("2026-11-25T01:25:15"),
            parse_iso("2026-11-25T01:25:15Z")
        );
        assert_eq!(parse_iso("last tuesday"), None);
    }

    #[test]
    fn connection_ids_that_cannot_go_into_a_path_are_named() {
        assert_eq!(connection_id_problem("L0SM9cOFvHcCIhw="), None);
        for bad in ["", "a b", "x\u{1b}[2J", &"A".repeat(65_000)] {
            assert!(connection_id_problem(bad).is_some(), "{bad:.20}");
        }
    }

    #[test]
    fn ages_are_compact() {
        assert_eq!(format_age(time::Duration::seconds(3720)), "1h02m");
        assert_eq!(format_age(time::Duration::seconds(245)), "4m05s");
        assert_eq!(format_age(time::Duration::seconds(-3)), "0s");
    }
}

/// The admin API's `/_wsdash/stats` answer.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Default)]
pub struct StatsView {
    pub live_connections: usize,
    pub post_to_connection: std::collections::BTreeMap<String, u64>,
    pub get_connection: std::collections::BTreeMap<String, u64>,
    pub delete_connection: std::collections::BTreeMap<String, u64>,
    pub sockets: std::collections::BTreeMap<String, u64>,
}
