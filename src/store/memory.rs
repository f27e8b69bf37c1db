//! An in-memory [`ConnectionStore`] keyed by user, for the reference backend and the demo.

use super::{ConnectionStore, DeleteOutcome, StoreError, StoreSnapshot};
use crate::model::ConnectionRecord;
use async_trait::async_trait;
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Default)]
pub struct MemoryStore {
    by_user: Mutex<HashMap<String, ConnectionRecord>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ConnectionRecord>> {
        // A panic while holding this lock cannot leave a half-written map: every write is one insert or remove.
        self.by_user.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl ConnectionStore for MemoryStore {
    async fn scan(&self) -> Result<StoreSnapshot, StoreError> {
        let mut records: Vec<_> = self.lock().values().cloned().collect();
        records.sort_by(|a, b| a.user_id.cmp(&b.user_id));
        Ok(StoreSnapshot {
            records,
            malformed: Vec::new(),
            ..Default::default()
        })
    }

    async fn find_by_user(&self, user_id: &str) -> Result<Option<ConnectionRecord>, StoreError> {
        Ok(self.lock().get(user_id).cloned())
    }

    async fn find_by_connection(
        &self,
        connection_id: &str,
    ) -> Result<Option<ConnectionRecord>, StoreError> {
        Ok(self
            .lock()
            .values()
            .find(|r| r.connection_id == connection_id)
            .cloned())
    }

    async fn put(&self, record: ConnectionRecord) -> Result<Option<ConnectionRecord>, StoreError> {
        Ok(self.lock().insert(record.user_id.clone(), record))
    }

    async fn delete_if_current(
        &self,
        record: &ConnectionRecord,
    ) -> Result<DeleteOutcome, StoreError> {
        let mut map = self.lock();
        match map.get(&record.user_id) {
            None => Ok(DeleteOutcome::Missing),
            Some(current) if current.connection_id != record.connection_id => {
                Ok(DeleteOutcome::Changed)
            }
            Some(_) => {
                map.remove(&record.user_id);
                Ok(DeleteOutcome::Deleted)
            }
        }
    }

    async fn raw_item(
        &self,
        record: &ConnectionRecord,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        Ok(self
            .lock()
            .get(&record.user_id)
            .filter(|r| r.connection_id == record.connection_id)
            .and_then(|r| serde_json::to_value(r).ok()))
    }

    async fn restore(
        &self,
        record: &ConnectionRecord,
        _raw: Option<&serde_json::Value>,
    ) -> Result<bool, StoreError> {
        let mut map = self.lock();
        if map.contains_key(&record.user_id) {
            return Ok(false);
        }
        map.insert(record.user_id.clone(), record.clone());
        Ok(true)
    }

    fn describe(&self) -> String {
        "in-memory store".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn delete_never_removes_a_record_whose_user_reconnected() {
        let store = MemoryStore::new();
        let old = ConnectionRecord::new("alice", "OLD0000000000A=");
        store.put(old.clone()).await.unwrap();
        let new = ConnectionRecord::new("alice", "NEW0000000000A=");
        assert_eq!(store.put(new.clone()).await.unwrap(), Some(old.clone()));
        assert_eq!(
            store.delete_if_current(&old).await.unwrap(),
            DeleteOutcome::Changed
        );
        assert_eq!(
            store.find_by_user("alice").await.unwrap(),
            Some(new.clone())
        );
        assert_eq!(
            store.delete_if_current(&new).await.unwrap(),
            DeleteOutcome::Deleted
        );
        assert_eq!(
            store.delete_if_current(&new).await.unwrap(),
            DeleteOutcome::Missing
        );
    }
}
