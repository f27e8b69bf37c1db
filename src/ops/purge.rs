//! Purging stale records: a plan (probe every record, keep the ones the gateway says are Gone)
//! and its execution (audited, conditional deletes, so a user who reconnected meanwhile keeps the new record).

use crate::management::ManagementApi;
use crate::model::ConnectionRecord;
use crate::ops::audit::AuditLog;
use crate::ops::classify::{classify_records, ConnectionState};
use crate::ops::delete::{delete_read_records, read_items, StoredItems};
use crate::ops::pacing::Pacing;
use crate::shutdown::StopRequest;
use crate::store::{ConnectionStore, DeleteOutcome, ScannedItems, StoreError};
use serde::Serialize;
use std::sync::Arc;
use time::OffsetDateTime;

/// A plan older than this is probed again before anything is deleted.
pub const PLAN_MAX_AGE: time::Duration = time::Duration::minutes(3);

/// Why a record is in the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StaleReason {
    /// GetConnection answered 410. The only evidence a purge acts on: a record's age is not
    /// (its `connected_at` may be wrong while the user is connected).
    Gone,
}

#[derive(Debug, Clone, Serialize)]
pub struct StaleRecord {
    #[serde(flatten)]
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
    /// The stale records' items as the scan read them, for the audit intents (empty when the
    /// store gave none: the purge reads them before deleting).
    #[serde(skip)]
    pub scanned: ScannedItems,
}

impl PurgePlan {
    /// Keep the scan's items of the plan's stale records, for the intents.
    pub fn with_scanned_items(mut self, mut scanned: ScannedItems) -> PurgePlan {
        scanned.retain_records(self.stale.iter().map(|s| &s.record));
        self.scanned = scanned;
        self
    }
}

/// What executing a plan did, record by record.
#[derive(Debug, Clone, Serialize, Default)]
pub struct PurgeReport {
    pub deleted: Vec<ConnectionRecord>,
    /// The record changed since the plan (the user reconnected): left alone.
    pub changed: Vec<ConnectionRecord>,
    pub missing: Vec<ConnectionRecord>,
    /// Alive again when the old plan was re-checked.
    pub alive_on_recheck: Vec<ConnectionRecord>,
    pub failed: Vec<(ConnectionRecord, String)>,
    /// Never tried: a stop was requested (a signal) before their turn.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_attempted: Vec<ConnectionRecord>,
}

/// Probe every record and list the stale ones.
pub async fn plan_purge(
    gateway: Arc<dyn ManagementApi>,
    records: Vec<ConnectionRecord>,
    concurrency: usize,
    pacing: Option<Pacing>,
) -> PurgePlan {
    let checked = records.len();
    let mut stale = Vec::new();
    let mut undecided = Vec::new();
    for probed in classify_records(gateway, records, concurrency, pacing).await {
        match probed.state {
            ConnectionState::Stale => stale.push(StaleRecord {
                record: probed.record,
                reason: StaleReason::Gone,
            }),
            ConnectionState::Unknown => {
                undecided.push((probed.record, probed.error.unwrap_or_default()))
            }
            _ => {}
        }
    }
    stale.sort_by(|a, b| a.record.user_id.cmp(&b.record.user_id));
    PurgePlan {
        made_at: OffsetDateTime::now_utc(),
        checked,
        stale,
        undecided,
        scanned: ScannedItems::default(),
    }
}

/// Delete the plan's records, each audited first and only if it still holds the same connection id.
/// A plan older than [`PLAN_MAX_AGE`] is re-probed first. A stop request ends the run between
/// two deletes, never inside one, so each started delete has its result in the audit log.
pub async fn execute_purge(
    gateway: Arc<dyn ManagementApi>,
    store: &dyn ConnectionStore,
    plan: &PurgePlan,
    audit: Option<&AuditLog>,
    stop: &StopRequest,
    concurrency: usize,
) -> PurgeReport {
    let mut report = PurgeReport::default();
    let mut stale = plan.stale.clone();
    // The intents take the scan's items while the plan is fresh; the result of each delete
    // records the item exactly as deleted where the store gives it back.
    let mut scanned = Some(&plan.scanned).filter(|s| !s.is_empty());
    if OffsetDateTime::now_utc() - plan.made_at > PLAN_MAX_AGE {
        // Items as old as the plan are read again, like its records are probed again.
        scanned = None;
        let records: Vec<_> = stale.iter().map(|s| s.record.clone()).collect();
        let fresh = plan_purge(gateway, records.clone(), concurrency, None).await;
        report.alive_on_recheck = records
            .into_iter()
            .filter(|r| !fresh.stale.iter().any(|s| &s.record == r))
            .collect();
        stale = fresh.stale;
    }
    // Batches: a signal stops the run between two batches, and the one in flight finishes
    // with its results on disk. Without the scan's items, the next batch's stored items are
    // read while this one is deleted, so the store always has work queued (moto answers one
    // request at a time: a pause between batches was a fifth of a purge's time).
    let batches: Vec<Vec<ConnectionRecord>> = stale
        .chunks(concurrency.max(1) * 4)
        .map(|batch| batch.iter().map(|s| s.record.clone()).collect())
        .collect();
    let mut read_ahead: Option<StoredItems> = None;
    for (n, records) in batches.iter().enumerate() {
        if stop.is_requested() {
            report.not_attempted.extend(records.iter().cloned());
            continue;
        }
        let items = match (read_ahead.take(), audit) {
            (Some(items), _) => items,
            (None, Some(_)) => match scanned.and_then(|s| StoredItems::from_scan(records, s)) {
                Some(items) => items,
                None => read_items(store, records, concurrency).await,
            },
            (None, None) => StoredItems::default(),
        };
        // With the scan's items nothing is read ahead (a batch the scan missed, if any, is
        // read in its turn).
        let next = batches
            .get(n + 1)
            .filter(|_| audit.is_some() && scanned.is_none());
        let (outcomes, ahead) = tokio::join!(
            delete_read_records(store, records, items, audit, "gone", concurrency),
            async {
                match next {
                    Some(next) => Some(read_items(store, next, concurrency).await),
                    None => None,
                }
            }
        );
        read_ahead = ahead;
        let records = records.clone();
        for (record, outcome) in records.into_iter().zip(outcomes) {
            match outcome {
                Ok(DeleteOutcome::Deleted) => report.deleted.push(record),
                Ok(DeleteOutcome::Changed) => report.changed.push(record),
                Ok(DeleteOutcome::Missing) => report.missing.push(record),
                Err(e) => report.failed.push((record, e.to_string())),
            }
        }
    }
    report
}

/// Plan and execute in one go, for the backend's debug endpoint.
pub async fn purge_stale(
    gateway: Arc<dyn ManagementApi>,
    store: Arc<dyn ConnectionStore>,
    concurrency: usize,
    audit: Option<&AuditLog>,
) -> Result<(PurgePlan, PurgeReport), StoreError> {
    let (snapshot, scanned) = store.scan_with_items().await?;
    let plan = plan_purge(gateway.clone(), snapshot.records, concurrency, None)
        .await
        .with_scanned_items(scanned);
    let report = execute_purge(
        gateway,
        store.as_ref(),
        &plan,
        audit,
        &StopRequest::never(),
        concurrency,
    )
    .await;
    Ok((plan, report))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::delete::StoredItems;

    fn stale(user: &str, connection: &str) -> StaleRecord {
        StaleRecord {
            record: ConnectionRecord::new(user, connection),
            reason: StaleReason::Gone,
        }
    }

    #[test]
    fn a_plan_keeps_the_scanned_items_of_its_stale_records_only() {
        let live = ConnectionRecord::new("bo", "LIVE");
        let gone = stale("ada", "GONE");
        let mut scanned = ScannedItems::default();
        scanned.insert(&live, serde_json::json!({"who": "bo"}));
        scanned.insert(&gone.record, serde_json::json!({"who": "ada"}));
        // Another user's item under the same connection id is not ada's.
        scanned.insert(
            &ConnectionRecord::new("cy", "GONE"),
            serde_json::json!({"who": "cy"}),
        );
        let plan = PurgePlan {
            made_at: OffsetDateTime::now_utc(),
            checked: 3,
            stale: vec![gone.clone()],
            undecided: Vec::new(),
            scanned: ScannedItems::default(),
        }
        .with_scanned_items(scanned);
        assert_eq!(plan.scanned.len(), 1);
        assert_eq!(
            plan.scanned.get(&gone.record),
            Some(&serde_json::json!({"who": "ada"}))
        );
    }

    #[test]
    fn items_come_from_the_scan_only_when_it_read_every_record_of_the_batch() {
        let ada = ConnectionRecord::new("ada", "A");
        let bo = ConnectionRecord::new("bo", "B");
        let mut scanned = ScannedItems::default();
        scanned.insert(&ada, serde_json::json!({"who": "ada"}));
        assert!(StoredItems::from_scan(std::slice::from_ref(&ada), &scanned).is_some());
        assert!(StoredItems::from_scan(&[ada.clone(), bo.clone()], &scanned).is_none());
        scanned.insert(&bo, serde_json::json!({"who": "bo"}));
        assert!(StoredItems::from_scan(&[ada, bo], &scanned).is_some());
    }
}
