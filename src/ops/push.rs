//! Push fan-out: deliver one payload to many connections, concurrently, classifying every result.
//! Gone means the record is stale, so it is deleted, conditionally, never touching a newer record.

use crate::management::{GatewayError, ManagementApi};
use crate::model::{now_utc_millis, ConnectionRecord, DeliveryClass, DeliveryOutcome};
use crate::ops::audit::AuditLog;
use crate::ops::delete::delete_record_audited;
use crate::ops::pacing::Pacing;
use crate::shutdown::StopRequest;
use crate::store::{ConnectionStore, DeleteOutcome};
use bytes::Bytes;
use futures_util::stream::{self, StreamExt};
use rand::Rng;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedSender;

pub use crate::model::{MAX_FRAME_BYTES, MAX_MESSAGE_BYTES};

#[derive(Clone)]
pub struct PushOptions {
    pub concurrency: usize,
    /// Delete the record (conditionally) when the connection is Gone.
    pub delete_gone: bool,
    /// Give up retrying throttled or failed calls after this long.
    pub deadline: Duration,
    pub max_attempts: u32,
    /// The process's rate controller and the lane pushes call in.
    pub pacing: Option<Pacing>,
    /// Receives every outcome as soon as it is known (the dashboard shows them live).
    pub progress: Option<UnboundedSender<DeliveryOutcome>>,
    /// Every push and every Gone delete is recorded here before it happens.
    pub audit: Option<Arc<AuditLog>>,
    /// Checked before each message: a stop leaves the rest unsent, never one half done.
    pub stop: StopRequest,
}

impl Default for PushOptions {
    fn default() -> Self {
        Self {
            concurrency: 64,
            delete_gone: true,
            deadline: Duration::from_secs(10),
            max_attempts: 4,
            pacing: None,
            progress: None,
            audit: None,
            stop: StopRequest::never(),
        }
    }
}

/// One connection to push to, and what the operator asked for (a user id, a connection id):
/// the label outcomes carry.
#[derive(Debug, Clone, PartialEq)]
pub struct PushTarget {
    pub target: String,
    pub record: Option<ConnectionRecord>,
    pub connection_id: String,
}

impl PushTarget {
    pub fn record(record: ConnectionRecord, target: impl Into<String>) -> Self {
        Self {
            target: target.into(),
            connection_id: record.connection_id.clone(),
            record: Some(record),
        }
    }

    pub fn connection(connection_id: impl Into<String>) -> Self {
        let connection_id = connection_id.into();
        Self {
            target: connection_id.clone(),
            record: None,
            connection_id,
        }
    }
}

/// What pushing to users found.
#[derive(Debug, Clone, Default)]
pub struct PushReport {
    pub outcomes: Vec<DeliveryOutcome>,
    /// Users with no record: not an error, they are simply offline.
    pub not_connected: Vec<String>,
}

/// Every connection the store holds for each user (one per open tab in a table keyed by user
/// and connection), and the users it holds none for.
pub async fn targets_of_users(
    store: &dyn ConnectionStore,
    user_ids: &[String],
) -> Result<(Vec<PushTarget>, Vec<String>), crate::store::StoreError> {
    let mut targets = Vec::new();
    let mut not_connected = Vec::new();
    for user in user_ids {
        let records = store.find_all_by_user(user).await?;
        if records.is_empty() {
            not_connected.push(user.clone());
        }
        targets.extend(
            records
                .into_iter()
                .map(|record| PushTarget::record(record, user.clone())),
        );
    }
    Ok((targets, not_connected))
}

/// Push to users by looking their connections up in the store.
pub async fn push_to_users(
    gateway: Arc<dyn ManagementApi>,
    store: Arc<dyn ConnectionStore>,
    user_ids: &[String],
    payload: Bytes,
    options: PushOptions,
) -> Result<PushReport, crate::store::StoreError> {
    let (targets, not_connected) = targets_of_users(store.as_ref(), user_ids).await?;
    let outcomes = push_to_targets(gateway, Some(store), targets, payload, options).await;
    Ok(PushReport {
        outcomes,
        not_connected,
    })
}

/// Push to every target concurrently; the outcomes come back in completion order.
pub async fn push_to_targets(
    gateway: Arc<dyn ManagementApi>,
    store: Option<Arc<dyn ConnectionStore>>,
    targets: Vec<PushTarget>,
    payload: Bytes,
    options: PushOptions,
) -> Vec<DeliveryOutcome> {
    let concurrency = options.concurrency.max(1);
    if let Some(audit) = &options.audit {
        let mut intent = audit.entry("push", "intent");
        intent.detail = Some(serde_json::json!({
            "connections": targets.iter().map(|t| &t.connection_id).collect::<Vec<_>>(),
            "bytes": payload.len(),
            "payload": String::from_utf8_lossy(&payload[..payload.len().min(512)]),
        }));
        if let Err(e) = audit.append(&intent) {
            // Nothing is sent when the push cannot be recorded.
            return targets
                .into_iter()
                .map(|t| refused(t, format!("{e}")))
                .collect();
        }
    }
    let outcomes: Vec<DeliveryOutcome> = stream::iter(targets)
        .map(|target| {
            let gateway = gateway.clone();
            let store = store.clone();
            let payload = payload.clone();
            let options = options.clone();
            async move {
                let outcome = push_one(
                    gateway.as_ref(),
                    store.as_deref(),
                    target,
                    payload,
                    &options,
                )
                .await;
                if let Some(progress) = &options.progress {
                    let _ = progress.send(outcome.clone());
                }
                outcome
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    if let Some(audit) = &options.audit {
        let mut result = audit.entry("push", "result");
        let mut counts = std::collections::BTreeMap::new();
        for o in &outcomes {
            *counts.entry(o.class.as_str()).or_insert(0u64) += 1;
        }
        result.detail = Some(serde_json::json!({ "outcomes": counts }));
        let _ = audit.append(&result);
    }
    outcomes
}

/// The error of a message left unsent because a stop was requested.
pub const NOT_SENT_STOPPED: &str = "not sent: stopped by a signal";

/// An outcome for a push that was never attempted.
fn refused(target: PushTarget, error: String) -> DeliveryOutcome {
    DeliveryOutcome {
        user_id: target.record.as_ref().map(|r| r.user_id.clone()),
        target: target.target,
        connection_id: target.connection_id,
        class: DeliveryClass::Other,
        status: None,
        latency_ms: 0.0,
        attempts: 0,
        at: now_utc_millis(),
        error: Some(error),
        cause: Some("not_sent".into()),
        record_deleted: false,
    }
}

async fn push_one(
    gateway: &dyn ManagementApi,
    store: Option<&dyn ConnectionStore>,
    target: PushTarget,
    payload: Bytes,
    options: &PushOptions,
) -> DeliveryOutcome {
    if options.stop.is_requested() {
        return refused(target, NOT_SENT_STOPPED.into());
    }
    let started = Instant::now();
    let mut attempts = 0;
    let result = loop {
        if let Some(pacing) = &options.pacing {
            pacing.acquire().await;
        }
        attempts += 1;
        let result = gateway
            .post_to_connection(&target.connection_id, payload.clone())
            .await;
        if let Some(pacing) = &options.pacing {
            pacing.observe(&result);
        }
        match &result {
            // A 429 means "later", not "broken": it is retried until the deadline, however many
            // attempts that takes; other retryable failures get `max_attempts`.
            Err(e)
                if e.is_retryable()
                    && (attempts < options.max_attempts.max(1)
                        || matches!(e, GatewayError::Throttled(_))) =>
            {
                let backoff = jittered_backoff(attempts);
                if started.elapsed() + backoff > options.deadline {
                    break result;
                }
                tokio::time::sleep(backoff).await;
            }
            _ => break result,
        }
    };
    let latency = started.elapsed();
    let mut record_deleted = false;
    let mut error = result.as_ref().err().map(|e| e.to_string());
    let cause = result.as_ref().err().map(|e| e.cause().to_string());
    if matches!(result, Err(GatewayError::Gone)) && options.delete_gone {
        if let (Some(store), Some(record)) = (store, &target.record) {
            match delete_record_audited(store, record, options.audit.as_deref(), "gone on push")
                .await
            {
                Ok(DeleteOutcome::Deleted) => record_deleted = true,
                Ok(_) => {}
                Err(e) => error = Some(format!("gone, and deleting the stale record failed: {e}")),
            }
        }
    }
    DeliveryOutcome {
        user_id: target.record.as_ref().map(|r| r.user_id.clone()),
        target: target.target,
        connection_id: target.connection_id,
        class: match &result {
            Ok(()) => DeliveryClass::Delivered,
            Err(e) => e.class(),
        },
        status: match &result {
            Ok(()) => Some(200),
            Err(e) => e.status(),
        },
        latency_ms: latency.as_secs_f64() * 1000.0,
        attempts,
        at: now_utc_millis(),
        error,
        cause,
        record_deleted,
    }
}

/// Full jitter: a random wait up to 50 ms · 2^attempt, capped at 2 s.
fn jittered_backoff(attempt: u32) -> Duration {
    let cap = (50u64 << attempt.min(6)).min(2_000);
    Duration::from_millis(rand::rng().random_range(cap / 4..=cap))
}

/// Problems with a payload found before anything is sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("payload is {0} bytes; API Gateway refuses messages above {max} bytes", max = MAX_MESSAGE_BYTES)]
    TooLarge(usize),
    #[error("payload is not valid JSON: {0}")]
    InvalidJson(String),
}

/// Check a payload before sending. Returns a warning for sizes that will be split into frames.
pub fn check_payload(payload: &[u8], must_be_json: bool) -> Result<Option<String>, PayloadError> {
    if payload.len() > MAX_MESSAGE_BYTES {
        return Err(PayloadError::TooLarge(payload.len()));
    }
    if must_be_json {
        serde_json::from_slice::<serde_json::Value>(payload)
            .map_err(|e| PayloadError::InvalidJson(e.to_string()))?;
    }
    Ok((payload.len() > MAX_FRAME_BYTES).then(|| {
        format!(
            "payload is {} bytes: above 32 KB, API Gateway delivers it in several frames",
            payload.len()
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_checked_before_sending() {
        assert_eq!(check_payload(br#"{"type":"x"}"#, true), Ok(None));
        assert!(matches!(
            check_payload(b"{nope", true),
            Err(PayloadError::InvalidJson(_))
        ));
        assert_eq!(check_payload(b"{nope", false), Ok(None));
        let big = vec![b' '; MAX_MESSAGE_BYTES + 1];
        assert_eq!(
            check_payload(&big, false),
            Err(PayloadError::TooLarge(MAX_MESSAGE_BYTES + 1))
        );
        let framed = vec![b' '; MAX_FRAME_BYTES + 1];
        assert!(check_payload(&framed, false).unwrap().is_some());
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        for attempt in 1..20 {
            assert!(jittered_backoff(attempt) <= Duration::from_secs(2));
        }
    }
}
