//! Probing records with GetConnection: the only way to learn whether a stored connection still exists.

use crate::gateway::{GatewayError, ManagementApi};
use crate::model::{ConnectionInfo, ConnectionRecord};
use crate::ops::rate::RateLimiter;
use futures_util::stream::{self, StreamExt};
use std::sync::Arc;

/// The answer for one record.
#[derive(Debug, Clone)]
pub struct ProbeResult {
    pub record: ConnectionRecord,
    pub answer: Result<ConnectionInfo, GatewayError>,
}

/// Probe every record with bounded concurrency and, when given, a shared rate limit.
pub async fn probe_records(
    gateway: Arc<dyn ManagementApi>,
    records: Vec<ConnectionRecord>,
    concurrency: usize,
    limiter: Option<Arc<RateLimiter>>,
) -> Vec<ProbeResult> {
    stream::iter(records)
        .map(|record| {
            let gateway = gateway.clone();
            let limiter = limiter.clone();
            async move {
                if let Some(limiter) = &limiter {
                    limiter.acquire().await;
                }
                let answer = gateway.get_connection(&record.connection_id).await;
                ProbeResult { record, answer }
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await
}
