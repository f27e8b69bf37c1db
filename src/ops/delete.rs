//! Deleting records the safe way: write each full item to the audit log first, then delete only
//! if the record still holds the same connection id.
//!
//! A batch costs two disk flushes (its intents, then its results) however large it is, and its
//! reads and deletes run concurrently: the guarantees are per record, the cost per batch.

use crate::model::ConnectionRecord;
use crate::ops::audit::{AuditEntry, AuditLog};
use crate::store::{ConnectionStore, DeleteOutcome, ScannedItems, StoreError};
use futures_util::stream::{self, StreamExt};

/// Why a record was not deleted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeleteError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Nothing is deleted whose intent is not on disk first.
    #[error("not deleted: the audit log could not be written ({0})")]
    AuditNotWritten(String),
}

/// How many stored items one read asks for (DynamoDB's BatchGetItem limit).
const READ_CHUNK: usize = 100;

/// `reason` says why (gone, disconnect) and goes into the audit log.
pub async fn delete_record_audited(
    store: &dyn ConnectionStore,
    record: &ConnectionRecord,
    audit: Option<&AuditLog>,
    reason: &str,
) -> Result<DeleteOutcome, DeleteError> {
    delete_records_audited(store, std::slice::from_ref(record), audit, reason, 1)
        .await
        .pop()
        .unwrap_or(Ok(DeleteOutcome::Missing))
}

/// Delete `records` (one outcome each, in order): read each stored item, append every intent
/// with one fsync, delete conditionally and concurrently, append every result with one fsync.
/// Nothing is deleted whose intent is not on disk.
pub async fn delete_records_audited(
    store: &dyn ConnectionStore,
    records: &[ConnectionRecord],
    audit: Option<&AuditLog>,
    reason: &str,
    concurrency: usize,
) -> Vec<Result<DeleteOutcome, DeleteError>> {
    let items = match audit {
        Some(_) => read_items(store, records, concurrency).await,
        None => StoredItems::default(),
    };
    delete_read_records(store, records, items, audit, reason, concurrency).await
}

/// The stored items of some records, read for their audit intents before they are deleted.
#[derive(Default)]
pub struct StoredItems(Vec<Result<Option<serde_json::Value>, StoreError>>);

impl StoredItems {
    /// The items a scan read for `records` (in order), when it read one for each of them.
    /// Only as fresh as the scan: the delete's result records the item exactly as deleted.
    pub fn from_scan(records: &[ConnectionRecord], scanned: &ScannedItems) -> Option<StoredItems> {
        records
            .iter()
            .map(|record| scanned.get(record).map(|item| Ok(Some(item.clone()))))
            .collect::<Option<Vec<_>>>()
            .map(StoredItems)
    }
}

/// Read the stored items of `records` (in order): in chunks (one BatchGetItem each on
/// DynamoDB), several chunks at a time. A purge reads the next batch while the current one is
/// being deleted (`ops::purge`).
pub async fn read_items(
    store: &dyn ConnectionStore,
    records: &[ConnectionRecord],
    concurrency: usize,
) -> StoredItems {
    let chunks: Vec<_> = stream::iter((0..records.len()).step_by(READ_CHUNK))
        .map(|start| async move {
            let chunk = &records[start..(start + READ_CHUNK).min(records.len())];
            match store.raw_items(chunk).await {
                Ok(items) => items.into_iter().map(Ok).collect::<Vec<_>>(),
                Err(e) => chunk.iter().map(|_| Err(e.clone())).collect(),
            }
        })
        .buffered(concurrency.max(1).div_ceil(READ_CHUNK).max(4))
        .collect()
        .await;
    StoredItems(chunks.into_iter().flatten().collect())
}

/// [`delete_records_audited`] with the items already read by [`read_items`] (for the same
/// records, in order): append every intent with one fsync, delete conditionally and
/// concurrently, append every result with one fsync.
pub async fn delete_read_records(
    store: &dyn ConnectionStore,
    records: &[ConnectionRecord],
    items: StoredItems,
    audit: Option<&AuditLog>,
    reason: &str,
    concurrency: usize,
) -> Vec<Result<DeleteOutcome, DeleteError>> {
    let concurrency = concurrency.max(1);
    let mut outcomes: Vec<Option<Result<DeleteOutcome, DeleteError>>> = vec![None; records.len()];
    let mut to_delete: Vec<usize> = (0..records.len()).collect();
    if let Some(audit) = audit {
        let mut items = items.0;
        // Items that were not read (none given) are read now: no intent without its item.
        if items.len() != records.len() {
            items = read_items(store, records, concurrency).await.0;
        }
        let mut intents = Vec::new();
        to_delete.clear();
        for (i, item) in items.into_iter().enumerate() {
            match item {
                Err(e) => outcomes[i] = Some(Err(DeleteError::Store(e))),
                // Nothing with this connection id is stored any more: nothing to delete.
                Ok(None) => {
                    outcomes[i] = Some(Ok(match store.find_by_user(&records[i].user_id).await {
                        Ok(Some(_)) => DeleteOutcome::Changed,
                        _ => DeleteOutcome::Missing,
                    }))
                }
                Ok(Some(item)) => {
                    let mut intent = audit.entry("delete", "intent");
                    intent.record = Some(records[i].clone());
                    intent.item = Some(item);
                    intent.detail = Some(serde_json::json!({ "reason": reason }));
                    intents.push(intent);
                    to_delete.push(i);
                }
            }
        }
        if let Err(e) = audit.append_all(&intents) {
            for i in to_delete.drain(..) {
                outcomes[i] = Some(Err(DeleteError::AuditNotWritten(e.to_string())));
            }
        }
    }
    type Deleted = Result<(DeleteOutcome, Option<serde_json::Value>), DeleteError>;
    let deleted: Vec<(usize, Deleted)> = stream::iter(to_delete)
        .map(|i| async move {
            let outcome = store
                .delete_returning_item(&records[i])
                .await
                .map_err(DeleteError::from);
            (i, outcome)
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    if let Some(audit) = audit {
        let results: Vec<AuditEntry> = deleted
            .iter()
            .map(|(i, outcome)| {
                let mut result = audit.entry("delete", "result");
                result.record = Some(records[*i].clone());
                result.outcome = Some(match outcome {
                    Ok((DeleteOutcome::Deleted, _)) => "deleted".into(),
                    Ok((DeleteOutcome::Changed, _)) => "changed".into(),
                    Ok((DeleteOutcome::Missing, _)) => "missing".into(),
                    Err(e) => format!("failed: {e}"),
                });
                // The item as deleted, when the store gave it: what restore puts back.
                result.item = outcome.as_ref().ok().and_then(|(_, item)| item.clone());
                result
            })
            .collect();
        // The intents are on disk already; a failure here loses only the confirmations, and
        // restore treats an intent without a result as "maybe deleted".
        let _ = audit.append_all(&results);
    }
    for (i, outcome) in deleted {
        outcomes[i] = Some(outcome.map(|(outcome, _)| outcome));
    }
    outcomes
        .into_iter()
        .map(|o| o.unwrap_or(Ok(DeleteOutcome::Missing)))
        .collect()
}
