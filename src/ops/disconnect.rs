//! Kicking clients: DeleteConnection, optionally deleting their records too.
//!
//! A record is deleted only on the gateway's evidence that its connection is closed: the
//! DeleteConnection succeeded, or answered Gone. Any other answer keeps the record, because the
//! socket may still be open and its user would stop receiving pushes.

use crate::management::{GatewayError, ManagementApi};
use crate::model::DeliveryClass;
use crate::ops::audit::AuditLog;
use crate::ops::delete::delete_record_audited;
use crate::ops::pacing::Pacing;
use crate::shutdown::StopRequest;
use crate::store::{ConnectionStore, DeleteOutcome};
use futures_util::stream::{self, StreamExt};
use serde::Serialize;

/// What happened to the record of a disconnected connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "result", content = "detail")]
pub enum RecordAction {
    Deleted,
    /// The record now holds another connection (the user reconnected): left alone.
    Changed,
    Missing,
    /// DeleteConnection failed, so the connection may be open: the record stays.
    KeptConnectionMayBeOpen,
    Failed(String),
}

impl std::fmt::Display for RecordAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordAction::Deleted => f.write_str("deleted"),
            RecordAction::Changed => f.write_str("changed (user reconnected), kept"),
            RecordAction::Missing => f.write_str("missing"),
            RecordAction::KeptConnectionMayBeOpen => {
                f.write_str("kept: the connection may still be open")
            }
            RecordAction::Failed(e) => write!(f, "delete failed: {e}"),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DisconnectOutcome {
    pub connection_id: String,
    pub class: DeliveryClass,
    pub error: Option<String>,
    /// Only with --delete-record.
    pub record: Option<RecordAction>,
}

impl DisconnectOutcome {
    /// Done means the connection was closed by this call, or it was already gone and its record
    /// was cleaned up. A Gone without a record to clean is a failure, like a push to it: the
    /// operator named a connection that does not exist.
    pub fn succeeded(&self) -> bool {
        let record_ok = !matches!(
            self.record,
            Some(RecordAction::Failed(_) | RecordAction::KeptConnectionMayBeOpen)
        );
        match self.class {
            DeliveryClass::Delivered => record_ok,
            DeliveryClass::Gone => matches!(self.record, Some(RecordAction::Deleted)),
            _ => false,
        }
    }
}

/// Up to 16 at once, outcomes in the order of `connection_ids`. Stops early (fewer outcomes
/// than ids) when `stop` is requested.
pub async fn disconnect_connections(
    gateway: &dyn ManagementApi,
    store: Option<&dyn ConnectionStore>,
    connection_ids: &[String],
    delete_record: bool,
    audit: Option<&AuditLog>,
    stop: &StopRequest,
    pacing: Option<&Pacing>,
) -> Vec<DisconnectOutcome> {
    let outcomes: Vec<Option<DisconnectOutcome>> = stream::iter(0..connection_ids.len())
        .map(|i| async move {
            let id = &connection_ids[i];
            // Before a connection, never inside one: each started disconnect writes its result.
            if stop.is_requested() {
                return None;
            }
            Some(disconnect_one(gateway, store.filter(|_| delete_record), id, audit, pacing).await)
        })
        .buffered(DISCONNECT_CONCURRENCY)
        .collect()
        .await;
    // In order, up to the first one a stop left untried.
    outcomes.into_iter().map_while(|o| o).collect()
}

/// Disconnects in flight at once: each is a few calls, all paced by the rate controller.
const DISCONNECT_CONCURRENCY: usize = 16;

async fn disconnect_one(
    gateway: &dyn ManagementApi,
    store: Option<&dyn ConnectionStore>,
    id: &str,
    audit: Option<&AuditLog>,
    pacing: Option<&Pacing>,
) -> DisconnectOutcome {
    if let Some(audit) = audit {
        let mut intent = audit.entry("disconnect", "intent");
        intent.connection_id = Some(id.to_string());
        if let Err(e) = audit.append(&intent) {
            return DisconnectOutcome {
                connection_id: id.to_string(),
                class: DeliveryClass::Other,
                error: Some(e.to_string()),
                record: None,
            };
        }
    }
    if let Some(pacing) = pacing {
        pacing.acquire().await;
    }
    let result = gateway.delete_connection(id).await;
    if let Some(pacing) = pacing {
        pacing.observe(&result);
    }
    let closed = matches!(result, Ok(()) | Err(GatewayError::Gone));
    let record = match store {
        None => None,
        Some(_) if !closed => Some(RecordAction::KeptConnectionMayBeOpen),
        Some(store) => Some(delete_record_of(store, id, audit).await),
    };
    if let Some(audit) = audit {
        let mut done = audit.entry("disconnect", "result");
        done.connection_id = Some(id.to_string());
        done.outcome = Some(crate::management::classify(&result).as_str().to_string());
        // The intent is on disk; a failure here loses only the confirmation.
        let _ = audit.append(&done);
    }
    DisconnectOutcome {
        connection_id: id.to_string(),
        class: crate::management::classify(&result),
        error: result.err().map(|e| e.to_string()),
        record,
    }
}

async fn delete_record_of(
    store: &dyn ConnectionStore,
    connection_id: &str,
    audit: Option<&AuditLog>,
) -> RecordAction {
    match store.find_by_connection(connection_id).await {
        Ok(Some(found)) => match delete_record_audited(store, &found, audit, "disconnect").await {
            Ok(DeleteOutcome::Deleted) => RecordAction::Deleted,
            Ok(DeleteOutcome::Changed) => RecordAction::Changed,
            Ok(DeleteOutcome::Missing) => RecordAction::Missing,
            Err(e) => RecordAction::Failed(e.to_string()),
        },
        Ok(None) => RecordAction::Missing,
        Err(e) => RecordAction::Failed(e.to_string()),
    }
}
