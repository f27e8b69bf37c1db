//! Kicking clients: DeleteConnection, optionally deleting their records too.

use crate::gateway::ManagementApi;
use crate::model::DeliveryClass;
use crate::ops::audit::AuditLog;
use crate::ops::delete::delete_record_audited;
use crate::store::{ConnectionStore, DeleteOutcome};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct DisconnectOutcome {
    pub connection_id: String,
    pub class: DeliveryClass,
    pub error: Option<String>,
    /// deleted | changed | missing | failed: ... (only with --delete-record)
    pub record: Option<String>,
}

impl DisconnectOutcome {
    /// Gone counts as done: the client is not connected either way.
    pub fn succeeded(&self) -> bool {
        matches!(self.class, DeliveryClass::Delivered | DeliveryClass::Gone)
            && self
                .record
                .as_deref()
                .is_none_or(|r| !r.starts_with("failed"))
    }
}

pub async fn disconnect_connections(
    gateway: &dyn ManagementApi,
    store: Option<&dyn ConnectionStore>,
    connection_ids: &[String],
    delete_record: bool,
    audit: Option<&AuditLog>,
) -> Vec<DisconnectOutcome> {
    let mut outcomes = Vec::new();
    for id in connection_ids {
        if let Some(audit) = audit {
            let mut intent = audit.entry("disconnect", "intent");
            intent.connection_id = Some(id.clone());
            if let Err(e) = audit.append(&intent) {
                outcomes.push(DisconnectOutcome {
                    connection_id: id.clone(),
                    class: DeliveryClass::Other,
                    error: Some(e.to_string()),
                    record: None,
                });
                continue;
            }
        }
        let result = gateway.delete_connection(id).await;
        let mut record = None;
        if delete_record {
            if let Some(store) = store {
                record = Some(match store.find_by_connection(id).await {
                    Ok(Some(found)) => {
                        match delete_record_audited(store, &found, audit, "disconnect").await {
                            Ok(DeleteOutcome::Deleted) => "deleted".to_string(),
                            Ok(DeleteOutcome::Changed) => "changed".to_string(),
                            Ok(DeleteOutcome::Missing) => "missing".to_string(),
                            Err(e) => format!("failed: {e}"),
                        }
                    }
                    Ok(None) => "missing".to_string(),
                    Err(e) => format!("failed: {e}"),
                });
            }
        }
        outcomes.push(DisconnectOutcome {
            connection_id: id.clone(),
            class: crate::gateway::classify(&result),
            error: result.err().map(|e| e.to_string()),
            record,
        });
    }
    outcomes
}
