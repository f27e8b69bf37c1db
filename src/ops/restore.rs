//! Putting deleted records back from the audit log, never over a newer record.

use crate::ops::audit::{read_audit_log, AuditEntry, AuditError, AuditLog};
use crate::store::ConnectionStore;
use serde::Serialize;
use std::path::Path;
use time::OffsetDateTime;

#[derive(Debug, Clone, Serialize, Default)]
pub struct RestoreReport {
    pub restored: Vec<crate::model::ConnectionRecord>,
    /// The user has a record as new or newer now.
    pub skipped_newer_exists: Vec<crate::model::ConnectionRecord>,
    pub failed: Vec<(crate::model::ConnectionRecord, String)>,
    pub unreadable_lines: Vec<String>,
}

/// Deletes that really happened (an intent followed by a `deleted` result), since `since`.
pub fn deleted_entries(entries: &[AuditEntry], since: Option<OffsetDateTime>) -> Vec<AuditEntry> {
    let confirmed = |intent: &AuditEntry| {
        entries.iter().any(|e| {
            e.op == "delete"
                && e.phase == "result"
                && e.outcome.as_deref() == Some("deleted")
                && e.record == intent.record
                && e.at >= intent.at
        })
    };
    entries
        .iter()
        .filter(|e| e.op == "delete" && e.phase == "intent" && e.record.is_some())
        .filter(|e| {
            since.is_none_or(|since| crate::model::parse_iso(&e.at).is_some_and(|at| at >= since))
        })
        .filter(|e| confirmed(e))
        .cloned()
        .collect()
}

pub async fn restore_from_audit(
    store: &dyn ConnectionStore,
    path: &Path,
    since: Option<OffsetDateTime>,
    audit: Option<&AuditLog>,
) -> Result<RestoreReport, AuditError> {
    let (entries, unreadable_lines) = read_audit_log(path)?;
    let mut report = RestoreReport {
        unreadable_lines,
        ..RestoreReport::default()
    };
    for entry in deleted_entries(&entries, since) {
        let Some(record) = entry.record.clone() else {
            continue;
        };
        match store.restore(&record, entry.item.as_ref()).await {
            Ok(true) => {
                if let Some(audit) = audit {
                    let mut done = audit.entry("restore", "result");
                    done.record = Some(record.clone());
                    done.outcome = Some("restored".into());
                    let _ = audit.append(&done);
                }
                report.restored.push(record)
            }
            Ok(false) => report.skipped_newer_exists.push(record),
            Err(e) => report.failed.push((record, e.to_string())),
        }
    }
    Ok(report)
}
