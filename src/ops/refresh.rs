//! Classifying records: live, stale, expired, unknown or malformed.

use crate::gateway::{GatewayError, ManagementApi};
use crate::model::{ConnectionInfo, ConnectionRecord};
use crate::ops::probe::probe_records;
use crate::ops::rate::RateLimiter;
use serde::Serialize;
use std::sync::Arc;
use time::OffsetDateTime;

/// API Gateway closes every connection after two hours.
pub const MAX_CONNECTION_AGE: time::Duration = time::Duration::hours(2);
/// And after ten minutes without traffic.
pub const IDLE_TIMEOUT: time::Duration = time::Duration::minutes(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionState {
    /// Not probed yet.
    Unprobed,
    Live,
    /// GetConnection answered Gone.
    Stale,
    /// Older than the 2 h limit: dead without asking.
    Expired,
    /// The probe failed for another reason (kept in `error`).
    Unknown,
    Malformed,
}

impl ConnectionState {
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionState::Unprobed => "unprobed",
            ConnectionState::Live => "live",
            ConnectionState::Stale => "stale",
            ConnectionState::Expired => "expired",
            ConnectionState::Unknown => "unknown",
            ConnectionState::Malformed => "malformed",
        }
    }
}

/// A record and what is known about its connection.
#[derive(Debug, Clone, Serialize)]
pub struct ProbedRecord {
    #[serde(flatten)]
    pub record: ConnectionRecord,
    pub state: ConnectionState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub info: Option<ConnectionInfo>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

pub fn is_expired(record: &ConnectionRecord, now: OffsetDateTime) -> bool {
    now - record.connected_at > MAX_CONNECTION_AGE
}

/// The state a probe answer implies.
pub fn state_of(answer: &Result<ConnectionInfo, GatewayError>) -> ConnectionState {
    match answer {
        Ok(_) => ConnectionState::Live,
        Err(GatewayError::Gone) => ConnectionState::Stale,
        Err(_) => ConnectionState::Unknown,
    }
}

/// Probe every record that is not already expired; expired ones are classified without a call.
pub async fn classify_records(
    gateway: Arc<dyn ManagementApi>,
    records: Vec<ConnectionRecord>,
    concurrency: usize,
    limiter: Option<Arc<RateLimiter>>,
) -> Vec<ProbedRecord> {
    let now = OffsetDateTime::now_utc();
    let (expired, to_probe): (Vec<_>, Vec<_>) =
        records.into_iter().partition(|r| is_expired(r, now));
    let mut out: Vec<ProbedRecord> = expired
        .into_iter()
        .map(|record| ProbedRecord {
            record,
            state: ConnectionState::Expired,
            info: None,
            error: None,
        })
        .collect();
    for result in probe_records(gateway, to_probe, concurrency, limiter).await {
        out.push(ProbedRecord {
            state: state_of(&result.answer),
            error: result
                .answer
                .as_ref()
                .err()
                .filter(|e| **e != GatewayError::Gone)
                .map(|e| e.to_string()),
            info: result.answer.ok(),
            record: result.record,
        });
    }
    out.sort_by(|a, b| a.record.user_id.cmp(&b.record.user_id));
    out
}
