//! Putting deleted records back from the audit log, never over a newer record.
//!
//! A delete is written to the log twice: its intent (with the full item) before DeleteItem, its
//! result after (with the item as deleted, where the store gives it back). A process killed
//! between the two leaves an intent alone: that record was maybe deleted, so restore puts it
//! back when it is absent, exactly as for a confirmed delete.

use crate::model::ConnectionRecord;
use crate::ops::audit::{read_audit_log, AuditEntry, AuditError, AuditLog};
use crate::shutdown::StopRequest;
use crate::store::ConnectionStore;
use futures_util::stream::{self, StreamExt};
use serde::Serialize;
use std::collections::HashMap;
use std::path::Path;
use time::OffsetDateTime;

#[derive(Debug, Clone, Serialize, Default)]
pub struct RestoreReport {
    /// Deleted (confirmed by the log) and put back.
    pub restored: Vec<ConnectionRecord>,
    /// Maybe deleted (an intent without a result) and absent, so put back.
    pub restored_unconfirmed: Vec<ConnectionRecord>,
    /// The same record is in the table already (restored before, or never deleted).
    pub already_present: Vec<ConnectionRecord>,
    /// The user has a record as new or newer now.
    pub skipped_newer_exists: Vec<ConnectionRecord>,
    pub failed: Vec<(ConnectionRecord, String)>,
    pub unreadable_lines: Vec<String>,
    /// Never tried: a stop was requested before their turn. Run restore again.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_attempted: Vec<ConnectionRecord>,
}

/// Did a delete whose intent was logged happen?
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteEvidence {
    /// A `deleted` result follows the intent.
    Confirmed,
    /// No result (the process died) or a failed call that may have reached the table.
    Maybe,
}

/// A delete to undo: the intent (with the full item) and what the log says about it.
#[derive(Debug, Clone)]
pub struct LoggedDelete {
    pub intent: AuditEntry,
    pub evidence: DeleteEvidence,
    /// The item exactly as deleted, when the result recorded it (DynamoDB gives it back with
    /// the delete); the intent's copy may be as old as the scan that planned a purge.
    pub deleted_item: Option<serde_json::Value>,
}

impl LoggedDelete {
    /// The item to put back: as deleted when known, else as the intent saw it.
    pub fn item(&self) -> Option<&serde_json::Value> {
        self.deleted_item.as_ref().or(self.intent.item.as_ref())
    }
}

/// The deletes since `since` that may have removed a record: one per record, the latest.
pub fn deletes_to_undo(entries: &[AuditEntry], since: Option<OffsetDateTime>) -> Vec<LoggedDelete> {
    // Each record's delete results, in log order: a purge of 100,000 records must not search
    // the whole log once per intent.
    let mut results: HashMap<(&str, &str), Vec<&AuditEntry>> = HashMap::new();
    for entry in entries
        .iter()
        .filter(|e| e.op == "delete" && e.phase == "result")
    {
        if let Some(record) = &entry.record {
            results
                .entry((record.user_id.as_str(), record.connection_id.as_str()))
                .or_default()
                .push(entry);
        }
    }
    let result_after = |intent: &AuditEntry| {
        let record = intent.record.as_ref()?;
        results
            .get(&(record.user_id.as_str(), record.connection_id.as_str()))?
            .iter()
            .find(|e| e.record == intent.record && e.at >= intent.at)
            .copied()
    };
    let mut latest: HashMap<(String, String), LoggedDelete> = HashMap::new();
    let mut order = Vec::new();
    for intent in entries
        .iter()
        .filter(|e| e.op == "delete" && e.phase == "intent")
        .filter(|e| {
            since.is_none_or(|since| crate::model::parse_iso(&e.at).is_some_and(|at| at >= since))
        })
    {
        let Some(record) = &intent.record else {
            continue;
        };
        let result = result_after(intent);
        let evidence = match result.and_then(|r| r.outcome.as_deref()) {
            Some("deleted") => DeleteEvidence::Confirmed,
            // Nothing was deleted: the record had changed or was already gone.
            Some("changed") | Some("missing") => continue,
            // No result, or a failed call: the delete may have happened.
            _ => DeleteEvidence::Maybe,
        };
        let key = (record.user_id.clone(), record.connection_id.clone());
        if !latest.contains_key(&key) {
            order.push(key.clone());
        }
        latest.insert(
            key,
            LoggedDelete {
                intent: intent.clone(),
                evidence,
                deleted_item: result.and_then(|r| r.item.clone()),
            },
        );
    }
    order
        .into_iter()
        .filter_map(|key| latest.remove(&key))
        .collect()
}

/// Consecutive batches of at most `size`, none holding two records of one user, so the restores
/// of one user never race each other and keep the newest-first order.
fn batches_of_distinct_users<T>(
    pending: &[(ConnectionRecord, T)],
    size: usize,
) -> Vec<&[(ConnectionRecord, T)]> {
    let mut batches = Vec::new();
    let mut start = 0;
    let mut users = std::collections::HashSet::new();
    for (i, (record, _)) in pending.iter().enumerate() {
        if i - start == size || !users.insert(record.user_id.as_str()) {
            batches.push(&pending[start..i]);
            start = i;
            users.clear();
            users.insert(record.user_id.as_str());
        }
    }
    if start < pending.len() {
        batches.push(&pending[start..]);
    }
    batches
}

enum RestoreOutcome {
    Restored,
    AlreadyPresent,
    NewerExists,
    Failed(String),
}

async fn restore_one(
    store: &dyn ConnectionStore,
    record: &ConnectionRecord,
    item: Option<&serde_json::Value>,
) -> RestoreOutcome {
    match store.raw_item(record).await {
        Ok(Some(_)) => return RestoreOutcome::AlreadyPresent,
        Ok(None) => {}
        Err(e) => return RestoreOutcome::Failed(e.to_string()),
    }
    match store.restore(record, item).await {
        Ok(true) => RestoreOutcome::Restored,
        Ok(false) => RestoreOutcome::NewerExists,
        Err(e) => RestoreOutcome::Failed(e.to_string()),
    }
}

/// Why a restore could not start.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error("{path} is not a wsdash audit log: none of its {lines} line(s) is an audit entry (first problem: {first}); pass the file given by --audit-log (default ~/.local/state/wsdash/audit.jsonl)")]
    NotAnAuditLog {
        path: String,
        lines: usize,
        first: String,
    },
}

pub async fn restore_from_audit(
    store: &dyn ConnectionStore,
    path: &Path,
    since: Option<OffsetDateTime>,
    audit: Option<&AuditLog>,
    stop: &StopRequest,
    concurrency: usize,
) -> Result<RestoreReport, RestoreError> {
    let (entries, unreadable_lines) = read_audit_log(path)?;
    if entries.is_empty() && !unreadable_lines.is_empty() {
        return Err(RestoreError::NotAnAuditLog {
            path: path.display().to_string(),
            lines: unreadable_lines.len(),
            first: unreadable_lines[0].clone(),
        });
    }
    let mut report = RestoreReport {
        unreadable_lines,
        ..RestoreReport::default()
    };
    let mut pending: Vec<(ConnectionRecord, LoggedDelete)> = deletes_to_undo(&entries, since)
        .into_iter()
        .filter_map(|logged| Some((logged.intent.record.clone()?, logged)))
        .collect();
    // Newest first, so where a table holds one record per user the newest deleted one is the
    // one put back.
    pending.sort_by_key(|(record, _)| std::cmp::Reverse(record.connected_at));
    // Each batch runs concurrently; a stop request ends the run between two batches.
    for batch in batches_of_distinct_users(&pending, concurrency.max(1) * 4) {
        if stop.is_requested() {
            report
                .not_attempted
                .extend(batch.iter().map(|(record, _)| record.clone()));
            continue;
        }
        let outcomes: Vec<(ConnectionRecord, DeleteEvidence, RestoreOutcome)> = stream::iter(batch)
            .map(|(record, logged)| async move {
                let outcome = restore_one(store, record, logged.item()).await;
                (record.clone(), logged.evidence, outcome)
            })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
        let mut done = Vec::new();
        for (record, evidence, outcome) in outcomes {
            match outcome {
                RestoreOutcome::AlreadyPresent => report.already_present.push(record),
                RestoreOutcome::NewerExists => report.skipped_newer_exists.push(record),
                RestoreOutcome::Failed(e) => report.failed.push((record, e)),
                RestoreOutcome::Restored => {
                    if let Some(audit) = audit {
                        let mut entry = audit.entry("restore", "result");
                        entry.record = Some(record.clone());
                        entry.outcome = Some("restored".into());
                        done.push(entry);
                    }
                    match evidence {
                        DeleteEvidence::Confirmed => report.restored.push(record),
                        DeleteEvidence::Maybe => report.restored_unconfirmed.push(record),
                    }
                }
            }
        }
        if let Some(audit) = audit {
            let _ = audit.append_all(&done);
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seconds_ago: i64, phase: &str, user: &str, outcome: Option<&str>) -> AuditEntry {
        let at = crate::model::now_utc_millis() - time::Duration::seconds(seconds_ago);
        AuditEntry {
            at: crate::model::iso_millis(at),
            op: "delete".into(),
            phase: phase.into(),
            environment: "test".into(),
            actor: "test".into(),
            record: Some(ConnectionRecord::new(user, format!("{user}-conn"))),
            connection_id: None,
            item: Some(serde_json::json!({ "copy": phase })),
            detail: None,
            outcome: outcome.map(str::to_string),
        }
    }

    fn evidence(log: &[AuditEntry]) -> Vec<(String, DeleteEvidence, Option<serde_json::Value>)> {
        deletes_to_undo(log, None)
            .into_iter()
            .map(|d| {
                let user = d.intent.record.as_ref().map(|r| r.user_id.clone());
                (user.unwrap_or_default(), d.evidence, d.item().cloned())
            })
            .collect()
    }

    #[test]
    fn each_intent_is_judged_by_the_first_result_after_it() {
        let log = vec![
            // ada: an old delete confirmed, then a newer intent that died without a result.
            entry(50, "intent", "ada", None),
            entry(49, "result", "ada", Some("deleted")),
            entry(10, "intent", "ada", None),
            // bo: confirmed, its result holding the item as deleted.
            entry(9, "intent", "bo", None),
            entry(8, "result", "bo", Some("deleted")),
            // cy: the record had changed, nothing deleted.
            entry(7, "intent", "cy", None),
            entry(6, "result", "cy", Some("changed")),
            // di: the call failed, so it may have happened.
            entry(5, "intent", "di", None),
            {
                let mut failed = entry(4, "result", "di", Some("failed: network"));
                failed.item = None;
                failed
            },
        ];
        let result = serde_json::json!({ "copy": "result" });
        let intent = serde_json::json!({ "copy": "intent" });
        assert_eq!(
            evidence(&log),
            [
                (
                    "ada".to_string(),
                    DeleteEvidence::Maybe,
                    Some(intent.clone())
                ),
                ("bo".to_string(), DeleteEvidence::Confirmed, Some(result)),
                ("di".to_string(), DeleteEvidence::Maybe, Some(intent)),
            ]
        );
    }
}
