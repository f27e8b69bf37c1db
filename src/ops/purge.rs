//! Purging stale records: a plan (probe every record, keep the Gone ones) and its execution
//! (conditional deletes, so a user who reconnected meanwhile keeps the new record).

use crate::gateway::{GatewayError, ManagementApi};
use crate::model::ConnectionRecord;
use crate::ops::probe::probe_records;
use crate::ops::rate::RateLimiter;
use crate::store::{ConnectionStore, DeleteOutcome, StoreError};
use serde::Serialize;
use std::sync::Arc;
use time::OffsetDateTime;

/// Why a record is in the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StaleReason {
    /// GetConnection answered 410.
    Gone,
}

#[derive(Debug, Clone, Serialize)]
pub struct StaleRecord {
    pub record: ConnectionRecord,
    pub reason: StaleReason,
}

/// What a purge would delete, and what it could not decide.
#[derive(Debug, Clone, Serialize)]
pub struct PurgePlan {
    #[serde(with = "time::serde::rfc3339")]
    pub made_at: OffsetDateTime,
    pub checked: usize,
    pub stale: Vec<StaleRecord>,
    /// Records whose probe failed for another reason: never deleted.
    pub undecided: Vec<(ConnectionRecord, String)>,
}

/// What executing a plan did, record by record.
#[derive(Debug, Clone, Serialize, Default)]
pub struct PurgeReport {
    pub deleted: Vec<ConnectionRecord>,
    /// The record changed since the plan (the user reconnected): left alone.
    pub changed: Vec<ConnectionRecord>,
    pub missing: Vec<ConnectionRecord>,
    pub failed: Vec<(ConnectionRecord, String)>,
}

/// Probe every record and list the stale ones.
pub async fn plan_purge(
    gateway: Arc<dyn ManagementApi>,
    records: Vec<ConnectionRecord>,
    concurrency: usize,
    limiter: Option<Arc<RateLimiter>>,
) -> PurgePlan {
    let checked = records.len();
    let mut stale = Vec::new();
    let mut undecided = Vec::new();
    for result in probe_records(gateway, records, concurrency, limiter).await {
        match result.answer {
            Ok(_) => {}
            Err(GatewayError::Gone) => stale.push(StaleRecord {
                record: result.record,
                reason: StaleReason::Gone,
            }),
            Err(e) => undecided.push((result.record, e.to_string())),
        }
    }
    stale.sort_by(|a, b| a.record.user_id.cmp(&b.record.user_id));
    PurgePlan {
        made_at: OffsetDateTime::now_utc(),
        checked,
        stale,
        undecided,
    }
}

/// Delete the plan's records, each only if it still holds the same connection id.
pub async fn execute_purge(store: &dyn ConnectionStore, plan: &PurgePlan) -> PurgeReport {
    let mut report = PurgeReport::default();
    for stale in &plan.stale {
        let record = stale.record.clone();
        match store.delete_if_current(&record).await {
            Ok(DeleteOutcome::Deleted) => report.deleted.push(record),
            Ok(DeleteOutcome::Changed) => report.changed.push(record),
            Ok(DeleteOutcome::Missing) => report.missing.push(record),
            Err(e) => report.failed.push((record, e.to_string())),
        }
    }
    report
}

/// Plan and execute in one go, for the backend's debug endpoint.
pub async fn purge_stale(
    gateway: Arc<dyn ManagementApi>,
    store: Arc<dyn ConnectionStore>,
    concurrency: usize,
) -> Result<(PurgePlan, PurgeReport), StoreError> {
    let snapshot = store.scan().await?;
    let plan = plan_purge(gateway, snapshot.records, concurrency, None).await;
    let report = execute_purge(store.as_ref(), &plan).await;
    Ok((plan, report))
}
