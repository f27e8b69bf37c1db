//! Deleting one record the safe way: write the full item to the audit log first, then delete
//! only if the record still holds the same connection id.

use crate::model::ConnectionRecord;
use crate::ops::audit::AuditLog;
use crate::store::{ConnectionStore, DeleteOutcome};

/// `reason` says why (gone, expired, disconnect) and goes into the audit log.
pub async fn delete_record_audited(
    store: &dyn ConnectionStore,
    record: &ConnectionRecord,
    audit: Option<&AuditLog>,
    reason: &str,
) -> Result<DeleteOutcome, String> {
    if let Some(audit) = audit {
        let item = store.raw_item(record).await.map_err(|e| e.to_string())?;
        if item.is_none() {
            // Nothing with this connection id is stored any more: there is nothing to delete.
            return Ok(match store.find_by_user(&record.user_id).await {
                Ok(Some(_)) => DeleteOutcome::Changed,
                _ => DeleteOutcome::Missing,
            });
        }
        let mut intent = audit.entry("delete", "intent");
        intent.record = Some(record.clone());
        intent.item = item;
        intent.detail = Some(serde_json::json!({ "reason": reason }));
        audit.append(&intent).map_err(|e| e.to_string())?;
    }
    let outcome = store
        .delete_if_current(record)
        .await
        .map_err(|e| e.to_string());
    if let Some(audit) = audit {
        let mut result = audit.entry("delete", "result");
        result.record = Some(record.clone());
        result.outcome = Some(match &outcome {
            Ok(DeleteOutcome::Deleted) => "deleted".into(),
            Ok(DeleteOutcome::Changed) => "changed".into(),
            Ok(DeleteOutcome::Missing) => "missing".into(),
            Err(e) => format!("failed: {e}"),
        });
        // The intent is already on disk; a failure here loses only the confirmation.
        let _ = audit.append(&result);
    }
    outcome
}
