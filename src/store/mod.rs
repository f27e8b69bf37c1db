//! The connection store: wherever the backend keeps `{user_id, connection_id, connected_at}`.
//!
//! It is the only list of connections that exists (API Gateway has no "list connections" call), which
//! is why stale records accumulate in it and why every delete here is conditional.

pub mod changes;
pub mod dynamo;
pub mod dynamo_calls;
pub mod dynamo_stream;
pub mod memory;
pub mod postgres;
pub mod postgres_connect;
pub mod postgres_notify;
pub mod postgres_schema;
pub mod postgres_sql;
pub mod redis_connect;
pub mod redis_keyspace;
pub mod redis_layout;
pub mod redis_scripts;
pub mod redis_store;
pub mod schema;

use crate::model::ConnectionRecord;
use async_trait::async_trait;
use serde::Serialize;

pub use dynamo::DynamoStore;
pub use memory::MemoryStore;

/// An item that exists in the store but is not a usable record; never dropped silently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct MalformedRecord {
    /// The raw item, as JSON, for the operator to read.
    pub raw: serde_json::Value,
    pub user_id: Option<String>,
    pub connection_id: Option<String>,
    pub reason: String,
}

/// Everything a full read of the store found.
#[derive(Debug, Clone, Default)]
pub struct StoreSnapshot {
    pub records: Vec<ConnectionRecord>,
    pub malformed: Vec<MalformedRecord>,
    /// Rows a soft-delete column marks closed: kept by the backend, not connections any more,
    /// so neither shown as records nor probed.
    pub closed: usize,
    /// When records expire by themselves (Redis TTLs), by connection id; empty for stores
    /// without expiry.
    pub expires: std::collections::HashMap<String, time::OffsetDateTime>,
}

/// Items as a scan read them (DynamoDB JSON for DynamoDB), by record: a purge's audit intents
/// take them from here rather than reading every item a second time before its delete.
#[derive(Debug, Clone, Default)]
pub struct ScannedItems(std::collections::HashMap<(String, String), serde_json::Value>);

impl ScannedItems {
    pub fn insert(&mut self, record: &ConnectionRecord, item: serde_json::Value) {
        self.0
            .insert((record.user_id.clone(), record.connection_id.clone()), item);
    }

    /// The item the scan read for `record` (same user, same connection).
    pub fn get(&self, record: &ConnectionRecord) -> Option<&serde_json::Value> {
        // A borrowed tuple key cannot be built without cloning: the map is small (a plan's
        // stale records) by the time it is asked.
        self.0
            .get(&(record.user_id.clone(), record.connection_id.clone()))
    }

    /// Only the items of `records`: a plan keeps its stale records' items, not the table's.
    pub fn retain_records<'a>(&mut self, records: impl IntoIterator<Item = &'a ConnectionRecord>) {
        let keep: std::collections::HashSet<(&str, &str)> = records
            .into_iter()
            .map(|r| (r.user_id.as_str(), r.connection_id.as_str()))
            .collect();
        self.0
            .retain(|(user, connection), _| keep.contains(&(user.as_str(), connection.as_str())));
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

/// What a conditional delete did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeleteOutcome {
    Deleted,
    /// The record now holds another connection (the user reconnected): left alone.
    Changed,
    /// There was nothing to delete.
    Missing,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("table not found: {0}; check the table name and region")]
    TableNotFound(String),
    #[error("access denied to the connection store: {0}")]
    AccessDenied(String),
    #[error("throttled by the connection store: {0}")]
    Throttled(String),
    #[error("cannot reach the connection store: {0}")]
    Network(String),
    /// No request could be signed: the credentials are missing or could not be refreshed.
    #[error("cannot sign requests to the connection store: {0}")]
    Credentials(String),
    /// The table or its columns do not fit the configured mapping.
    #[error("the connection table does not fit: {0}")]
    Schema(String),
    #[error("connection store error: {0}")]
    Other(String),
}

impl StoreError {
    /// The kind of failure, for metrics and scripts.
    pub fn kind(&self) -> &'static str {
        match self {
            StoreError::TableNotFound(_) => "table_not_found",
            StoreError::AccessDenied(_) => "access_denied",
            StoreError::Throttled(_) => "throttled",
            StoreError::Network(_) => "network",
            StoreError::Credentials(_) => "credentials",
            StoreError::Schema(_) => "schema",
            StoreError::Other(_) => "other",
        }
    }
}

#[async_trait]
pub trait ConnectionStore: Send + Sync {
    /// Read every item.
    async fn scan(&self) -> Result<StoreSnapshot, StoreError>;
    /// `scan`, with each record's item as stored, for a purge that writes them to its audit
    /// intents. The default gives no items (the purge reads them just before deleting): right for
    /// stores that read a batch's items in one cheap query.
    async fn scan_with_items(&self) -> Result<(StoreSnapshot, ScannedItems), StoreError> {
        Ok((self.scan().await?, ScannedItems::default()))
    }
    /// The user's newest record.
    async fn find_by_user(&self, user_id: &str) -> Result<Option<ConnectionRecord>, StoreError>;
    /// Every record of the user: a table keyed by user and connection holds one per open tab,
    /// and a push to the user must reach them all.
    async fn find_all_by_user(&self, user_id: &str) -> Result<Vec<ConnectionRecord>, StoreError> {
        Ok(self.find_by_user(user_id).await?.into_iter().collect())
    }
    async fn find_by_connection(
        &self,
        connection_id: &str,
    ) -> Result<Option<ConnectionRecord>, StoreError>;
    /// Store a record; one connection per user, so this replaces (and returns) the user's previous one.
    async fn put(&self, record: ConnectionRecord) -> Result<Option<ConnectionRecord>, StoreError>;
    /// Delete `record` only if the store still holds it with the same connection id.
    async fn delete_if_current(
        &self,
        record: &ConnectionRecord,
    ) -> Result<DeleteOutcome, StoreError>;
    /// `delete_if_current`, with the item exactly as it was deleted when the store gives it back
    /// in the same call (DynamoDB's `ReturnValues=ALL_OLD`), for the audit log's result. The
    /// default gives none.
    async fn delete_returning_item(
        &self,
        record: &ConnectionRecord,
    ) -> Result<(DeleteOutcome, Option<serde_json::Value>), StoreError> {
        Ok((self.delete_if_current(record).await?, None))
    }
    /// The item as stored (DynamoDB JSON for DynamoDB), for the audit log before a delete.
    async fn raw_item(
        &self,
        record: &ConnectionRecord,
    ) -> Result<Option<serde_json::Value>, StoreError>;
    /// `raw_item` for many records at once, in order. DynamoDB reads 100 per BatchGetItem call,
    /// so a purge of 5,000 records costs 50 reads instead of 5,000.
    async fn raw_items(
        &self,
        records: &[ConnectionRecord],
    ) -> Result<Vec<Option<serde_json::Value>>, StoreError> {
        let mut items = Vec::with_capacity(records.len());
        for record in records {
            items.push(self.raw_item(record).await?);
        }
        Ok(items)
    }
    /// Put a deleted record back (`raw` is the item from the audit log) unless the user has a record
    /// as new or newer now: restores never overwrite newer data. True when it was put back.
    async fn restore(
        &self,
        record: &ConnectionRecord,
        raw: Option<&serde_json::Value>,
    ) -> Result<bool, StoreError>;
    /// A feed of the store's changes from now on, when the store keeps one (a DynamoDB table with
    /// a stream); `None` when it does not, and then the store is scanned at a pace instead.
    async fn changes(&self) -> Result<Option<Box<dyn changes::ChangeFeed>>, StoreError> {
        Ok(None)
    }
    /// A short description for headers and messages (table name, "memory").
    fn describe(&self) -> String;
    /// The table and how its items map to records, for the dashboard's header.
    fn mapping(&self) -> String {
        self.describe()
    }
}
