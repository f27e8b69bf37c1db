//! Live changes of Redis connection records from keyspace notifications: the server publishes
//! each change of a `ws:*` key on `__keyspace@DB__:ws:…`, and the feed reads the key again
//! (Put) or reports it gone (Removed), so the dashboard follows the keys instead of scanning.
//! Servers send them only when `notify-keyspace-events` asks for them (doctor says how).

use super::changes::{ChangeFeed, ItemKey, StoreChange};
use super::redis_connect::classify;
use super::redis_store::RedisStore;
use super::{MalformedRecord, StoreError};
use async_trait::async_trait;
use futures_util::StreamExt;
use std::collections::BTreeSet;
use std::time::Duration;
use tokio::sync::mpsc;

/// The notification classes the feed needs: keyspace events (K) for strings ($), hashes (h),
/// generic commands such as DEL and EXPIRE (g) and expiries (x); `A` stands for all of them.
pub fn enough(events: &str) -> bool {
    events.contains('K')
        && (events.contains('A') || ['$', 'h', 'g', 'x'].iter().all(|c| events.contains(*c)))
}

/// What to set when they are missing.
pub const SETTING: &str = "notify-keyspace-events K$hgx";

const WAIT: Duration = Duration::from_secs(1);

pub struct KeyspaceFeed {
    store: RedisStore,
    keys: mpsc::UnboundedReceiver<Result<String, StoreError>>,
    listener: tokio::task::JoinHandle<()>,
}

impl Drop for KeyspaceFeed {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

/// The database number a URL names (`redis://host:6379/3`), 0 by default.
fn database(url: &str) -> u32 {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.path().trim_start_matches('/').parse().ok())
        .unwrap_or(0)
}

impl KeyspaceFeed {
    pub async fn open(store: RedisStore) -> Result<Self, StoreError> {
        let client = super::redis_connect::client_for(store.url())?;
        let mut pubsub = client.get_async_pubsub().await.map_err(classify)?;
        let prefix = format!("__keyspace@{}__:", database(store.url()));
        pubsub
            .psubscribe(format!("{prefix}{}", store.record_key().pattern()))
            .await
            .map_err(classify)?;
        let (tx, keys) = mpsc::unbounded_channel();
        let listener = tokio::spawn(async move {
            let mut messages = pubsub.into_on_message();
            while let Some(message) = messages.next().await {
                if let Some(key) = message.get_channel_name().strip_prefix(&prefix) {
                    if tx.send(Ok(key.to_string())).is_err() {
                        return;
                    }
                }
            }
            let _ = tx.send(Err(StoreError::Network(
                "the keyspace notification connection to Redis closed".into(),
            )));
        });
        Ok(Self {
            store,
            keys,
            listener,
        })
    }

    /// The key as it is now: its record, malformed, or gone.
    async fn change_of(&self, key: &str) -> Result<Option<StoreChange>, StoreError> {
        let Some(connection) = self.store.record_key().value_of(key) else {
            return Ok(None);
        };
        let item_key = ItemKey {
            user_id: None,
            connection_id: Some(connection.to_string()),
        };
        Ok(Some(match self.store.read(key).await? {
            None => StoreChange::Removed { key: item_key },
            Some(Ok((stored, _))) => StoreChange::Put {
                key: item_key,
                item: self.store.parse(key, &stored),
            },
            Some(Err(kind)) => StoreChange::Put {
                key: item_key,
                item: Err(MalformedRecord {
                    raw: serde_json::json!({"key": key, "type": kind}),
                    user_id: None,
                    connection_id: Some(connection.to_string()),
                    reason: format!("the key is a {kind}, not a hash or a JSON string"),
                }),
            },
        }))
    }
}

#[async_trait]
impl ChangeFeed for KeyspaceFeed {
    async fn next_changes(&mut self) -> Result<Vec<StoreChange>, StoreError> {
        let first = match tokio::time::timeout(WAIT, self.keys.recv()).await {
            Err(_) => return Ok(Vec::new()),
            Ok(None) => {
                return Err(StoreError::Network(
                    "the keyspace notification connection to Redis closed".into(),
                ))
            }
            Ok(Some(key)) => key?,
        };
        // A key changed several times is read once, as it is now.
        let mut keys = BTreeSet::from([first]);
        while let Ok(more) = self.keys.try_recv() {
            keys.insert(more?);
        }
        let mut changes = Vec::with_capacity(keys.len());
        for key in keys {
            changes.extend(self.change_of(&key).await?);
        }
        Ok(changes)
    }

    fn describe(&self) -> String {
        format!(
            "keyspace notifications of {}",
            self.store.record_key().pattern()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_feed_needs_keyspace_events_for_strings_hashes_deletes_and_expiries() {
        assert!(enough("K$hgx"));
        assert!(enough("AK"));
        assert!(enough("KEA"));
        assert!(!enough(""));
        assert!(!enough("Ex"), "keyevent notifications name no key's space");
        assert!(!enough("K$"), "hashes and deletes would be missed");
    }
}
