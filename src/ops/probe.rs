//! Probing records with GetConnection: the only way to learn whether a stored connection still exists.

use crate::management::{GatewayError, ManagementApi};
use crate::model::{ConnectionInfo, ConnectionRecord};
use crate::ops::pacing::Pacing;
use futures_util::stream::{self, StreamExt};
use std::sync::Arc;

/// The answer for one record.
#[derive(Debug, Clone)]
pub struct ProbeResult {
    pub record: ConnectionRecord,
    pub answer: Result<ConnectionInfo, GatewayError>,
}

/// Probe every record with bounded concurrency, paced (when given) by the process's controller.
pub async fn probe_records(
    gateway: Arc<dyn ManagementApi>,
    records: Vec<ConnectionRecord>,
    concurrency: usize,
    pacing: Option<Pacing>,
) -> Vec<ProbeResult> {
    stream::iter(records)
        .map(|record| {
            let gateway = gateway.clone();
            let pacing = pacing.clone();
            async move {
                if let Some(pacing) = &pacing {
                    pacing.acquire().await;
                }
                let answer = gateway.get_connection(&record.connection_id).await;
                if let Some(pacing) = &pacing {
                    pacing.observe(&answer);
                }
                ProbeResult { record, answer }
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await
}
