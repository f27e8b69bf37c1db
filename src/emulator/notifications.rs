//! The demo's stream of realistic pushes, in the guide's message types (`crate::messages`).

use crate::management::ManagementApi;
use crate::messages::template;
use crate::ops::push::{push_to_users, PushOptions};
use crate::store::ConnectionStore;
use bytes::Bytes;
use rand::seq::IndexedRandom;
use rand::Rng;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Push a realistic mix of notifications to random connected users until cancelled,
/// as an application using the guide's push service would.
pub async fn run_notification_stream(
    gateway: Arc<dyn ManagementApi>,
    store: Arc<dyn ConnectionStore>,
    every: Duration,
    shutdown: CancellationToken,
) {
    // Weights: most traffic is content and counts, alerts are rare.
    const MIX: [(&str, u32); 6] = [
        ("new_content", 30),
        ("new_comment", 25),
        ("status_update", 15),
        ("alert_triggered", 5),
        ("unread_counts", 20),
        ("heartbeat", 5),
    ];
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let Ok(snapshot) = store.scan().await else {
            continue;
        };
        if snapshot.records.is_empty() {
            continue;
        }
        let (message_type, recipients) = {
            let mut rng = rand::rng();
            let message_type = MIX
                .choose_weighted(&mut rng, |(_, w)| *w)
                .map(|(t, _)| *t)
                .unwrap_or("heartbeat");
            let count = rng.random_range(1..=snapshot.records.len().clamp(1, 3));
            let recipients: Vec<String> = snapshot
                .records
                .choose_multiple(&mut rng, count)
                .map(|r| r.user_id.clone())
                .collect();
            (message_type, recipients)
        };
        let Some(payload) = template(message_type) else {
            continue;
        };
        let payload = Bytes::from(payload.to_string());
        let _ = push_to_users(
            gateway.clone(),
            store.clone(),
            &recipients,
            payload,
            PushOptions::default(),
        )
        .await;
    }
}
