//! Classifying records: live, stale, expired, unknown or malformed.

use crate::management::{GatewayError, ManagementApi};
use crate::model::{ConnectionInfo, ConnectionRecord};
use crate::ops::pacing::Pacing;
use crate::ops::probe::probe_records;
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
    /// Not probed yet and older than the 2 h limit: probably dead. A hint only: nothing is
    /// deleted for its age, because `connected_at` can be wrong while the user is connected.
    Expired,
    /// The probe failed for another reason (kept in `error`).
    Unknown,
    Malformed,
}

impl ConnectionState {
    pub const ALL: [ConnectionState; 6] = [
        ConnectionState::Unprobed,
        ConnectionState::Live,
        ConnectionState::Stale,
        ConnectionState::Expired,
        ConnectionState::Unknown,
        ConnectionState::Malformed,
    ];

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
    /// Why the probe failed, for scripts (`iam_denied`, `expired_session`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<&'static str>,
}

pub fn is_expired(connected_at: OffsetDateTime, now: OffsetDateTime) -> bool {
    now - connected_at > MAX_CONNECTION_AGE
}

/// The state a probe answer implies.
pub fn state_of(answer: &Result<ConnectionInfo, GatewayError>) -> ConnectionState {
    match answer {
        Ok(_) => ConnectionState::Live,
        Err(GatewayError::Gone) => ConnectionState::Stale,
        Err(_) => ConnectionState::Unknown,
    }
}

/// What is wrong with a record's data, whatever its state: shown beside it, never acted on.
pub fn data_warning(
    record: &ConnectionRecord,
    state: ConnectionState,
    now: OffsetDateTime,
) -> Option<String> {
    if record.connected_at - now > FUTURE_TOLERANCE {
        return Some(
            "connected_at is in the future: clock skew, or a time in the wrong units or zone"
                .into(),
        );
    }
    if state == ConnectionState::Live && is_expired(record.connected_at, now) {
        return Some(
            "live but older than 2 h by connected_at: the backend's connected_at is wrong (clock skew, a zone-less time, or a re-register that kept the first time)"
                .into(),
        );
    }
    None
}

/// Clocks of different machines disagree a little; only more than this is worth a warning.
const FUTURE_TOLERANCE: time::Duration = time::Duration::minutes(1);

/// Probe every record with GetConnection. Age decides nothing here: only the gateway's answer
/// says whether a connection is gone.
pub async fn classify_records(
    gateway: Arc<dyn ManagementApi>,
    records: Vec<ConnectionRecord>,
    concurrency: usize,
    pacing: Option<Pacing>,
) -> Vec<ProbedRecord> {
    let mut out = Vec::with_capacity(records.len());
    for result in probe_records(gateway, records, concurrency, pacing).await {
        out.push(ProbedRecord {
            state: state_of(&result.answer),
            error: result
                .answer
                .as_ref()
                .err()
                .filter(|e| **e != GatewayError::Gone)
                .map(|e| e.to_string()),
            cause: result
                .answer
                .as_ref()
                .err()
                .filter(|e| **e != GatewayError::Gone)
                .map(GatewayError::cause),
            info: result.answer.ok(),
            record: result.record,
        });
    }
    out.sort_by(|a, b| a.record.user_id.cmp(&b.record.user_id));
    out
}
