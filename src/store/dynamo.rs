//! [`ConnectionStore`] on DynamoDB: schema discovered with DescribeTable, parallel paginated scans,
//! and conditional writes so that a user who reconnected is never deleted or overwritten.
//! Calling DynamoDB (retries, error codes) is in `dynamo_calls`, its stream in `dynamo_stream`;
//! what stays here is the store's one job, each `ConnectionStore` call as DynamoDB does it.

use super::dynamo_calls::{
    get_item, is_condition_failure, send_retrying, store_error, BATCH_GET_LIMIT,
};
use super::schema::{
    detect_time_format, item_from_json, item_to_json, KeyedBy, SchemaOverrides, TableSchema,
    TimeFormat,
};
use super::{ConnectionStore, DeleteOutcome, ScannedItems, StoreError, StoreSnapshot};
use crate::model::ConnectionRecord;
use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{AttributeValue, KeyType, ReturnValue};
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;
use std::time::Duration;

type Item = HashMap<String, AttributeValue>;

/// The largest table whose scanned items a purge keeps for its intents (about 0.4 KB each).
pub const SCANNED_ITEMS_MAX: usize = 200_000;

pub struct DynamoStore {
    client: Client,
    /// DynamoDB Streams, to follow the table's changes when it has a stream.
    streams: aws_sdk_dynamodbstreams::Client,
    table: String,
    schema: TableSchema,
    segments: u32,
}

impl DynamoStore {
    /// The key attributes' values of an item or key, in the schema's key order: what matches a
    /// BatchGetItem answer back to the record that asked for it.
    fn key_values(&self, item: &Item) -> Vec<String> {
        let names = &self.schema.names;
        let value = |name: &str| match item.get(name) {
            Some(AttributeValue::S(v)) => v.clone(),
            _ => String::new(),
        };
        match self.schema.keyed_by {
            KeyedBy::User => vec![value(&names.user_id)],
            KeyedBy::Connection => vec![value(&names.connection_id)],
            KeyedBy::UserThenConnection => {
                vec![value(&names.user_id), value(&names.connection_id)]
            }
        }
    }

    /// Describe the table, work out its schema and sample its items.
    pub async fn connect(
        sdk: &SdkConfig,
        endpoint: Option<&str>,
        table: &str,
        names: SchemaOverrides,
        segments: u32,
    ) -> Result<Self, StoreError> {
        let mut config = aws_sdk_dynamodb::config::Builder::from(sdk);
        if let Some(endpoint) = endpoint {
            config = config.endpoint_url(endpoint);
        }
        let client = Client::from_conf(config.build());
        let streams = super::dynamo_stream::streams_client(sdk, endpoint);
        let describe = client.describe_table().table_name(table);
        let described = send_retrying(|| describe.clone().send())
            .await
            .map_err(|e| store_error(e, table))?;
        let description = described.table().ok_or_else(|| {
            StoreError::Other(format!("DescribeTable returned nothing for {table}"))
        })?;
        let key = |schema: &[aws_sdk_dynamodb::types::KeySchemaElement], kind: KeyType| {
            schema
                .iter()
                .find(|k| k.key_type() == &kind)
                .map(|k| k.attribute_name().to_string())
        };
        let hash = key(description.key_schema(), KeyType::Hash).unwrap_or_default();
        let range = key(description.key_schema(), KeyType::Range);
        let keyed_by = match (hash.as_str(), range.as_deref()) {
            (h, None) if h == names.user_id => KeyedBy::User,
            (h, Some(r)) if h == names.user_id && r == names.connection_id => KeyedBy::UserThenConnection,
            (h, None) if h == names.connection_id => KeyedBy::Connection,
            _ => {
                return Err(StoreError::Other(format!(
                    "table {table} is keyed on {hash}{} which matches neither the user id attribute ({}) nor the connection id attribute ({}); set schema.user_id / schema.connection_id in the config",
                    range.map(|r| format!(" + {r}")).unwrap_or_default(),
                    names.user_id,
                    names.connection_id
                )))
            }
        };
        let index_on = |attribute: &str| {
            description
                .global_secondary_indexes()
                .iter()
                .find(|i| key(i.key_schema(), KeyType::Hash).as_deref() == Some(attribute))
                .and_then(|i| i.index_name().map(str::to_string))
        };
        let user_index = index_on(&names.user_id);
        let connection_index = index_on(&names.connection_id);
        let time_format = match names.connected_at_format {
            Some(format) => format,
            None => {
                let request = client.scan().table_name(table).limit(20);
                let sample = send_retrying(|| request.clone().send())
                    .await
                    .map_err(|e| store_error(e, table))?;
                detect_time_format(sample.items(), &names.connected_at)
            }
        };
        Ok(Self {
            client,
            streams,
            table: table.to_string(),
            schema: TableSchema {
                names,
                keyed_by,
                user_index,
                connection_index,
                time_format,
            },
            segments: segments.max(1),
        })
    }

    pub fn schema(&self) -> &TableSchema {
        &self.schema
    }

    /// The table's TTL attribute, when TTL is enabled (or being enabled).
    pub async fn time_to_live(&self) -> Result<Option<String>, StoreError> {
        let request = self.client.describe_time_to_live().table_name(&self.table);
        let out = send_retrying(|| request.clone().send())
            .await
            .map_err(|e| store_error(e, &self.table))?;
        let Some(description) = out.time_to_live_description() else {
            return Ok(None);
        };
        let on = matches!(
            description.time_to_live_status().map(|s| s.as_str()),
            Some("ENABLED" | "ENABLING")
        );
        Ok(on
            .then(|| description.attribute_name().map(str::to_string))
            .flatten())
    }

    /// Parse the first `limit` items of one scan page (doctor's "a sample of items parses").
    pub async fn sample(&self, limit: i32) -> Result<StoreSnapshot, StoreError> {
        let request = self.client.scan().table_name(&self.table).limit(limit);
        let page = send_retrying(|| request.clone().send())
            .await
            .map_err(|e| store_error(e, &self.table))?;
        Ok(self.snapshot_of(page.items(), None))
    }

    /// Parse items; those that do not fit are kept as malformed, never dropped. Each record's
    /// item goes into `scanned` too when one is given.
    fn snapshot_of(&self, items: &[Item], mut scanned: Option<&mut ScannedItems>) -> StoreSnapshot {
        let mut snapshot = StoreSnapshot::default();
        for item in items {
            match self.schema.parse(item) {
                Ok(record) => {
                    if let Some(scanned) = scanned.as_deref_mut() {
                        scanned.insert(&record, item_to_json(item));
                    }
                    snapshot.records.push(record);
                }
                Err(malformed) => snapshot.malformed.push(malformed),
            }
        }
        snapshot
    }

    /// Read one scan segment to the end, backing off when throttled.
    async fn scan_segment(
        &self,
        segment: u32,
        filter: Option<(&str, &str)>,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut request = self
                .client
                .scan()
                .table_name(&self.table)
                .segment(segment as i32)
                .total_segments(self.segments as i32)
                .set_exclusive_start_key(start.clone());
            if let Some((attribute, value)) = filter {
                request = request
                    .filter_expression("#a = :v")
                    .expression_attribute_names("#a", attribute)
                    .expression_attribute_values(":v", AttributeValue::S(value.to_string()));
            }
            let page = send_retrying(|| request.clone().send())
                .await
                .map_err(|e| store_error(e, &self.table))?;
            items.extend(page.items().iter().cloned());
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => return Ok(items),
            }
        }
    }

    async fn scan_items(&self, filter: Option<(&str, &str)>) -> Result<Vec<Item>, StoreError> {
        let segments = (0..self.segments).map(|segment| self.scan_segment(segment, filter));
        let pages = futures_util::future::try_join_all(segments).await?;
        Ok(pages.into_iter().flatten().collect())
    }

    /// Query the table (`index` None: by its partition key) or one of its indexes.
    async fn query_index(
        &self,
        index: Option<&str>,
        attribute: &str,
        value: &str,
    ) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let request = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(index.map(str::to_string))
                .key_condition_expression("#a = :v")
                .expression_attribute_names("#a", attribute)
                .expression_attribute_values(":v", AttributeValue::S(value.to_string()))
                .set_exclusive_start_key(start.clone());
            let page = send_retrying(|| request.clone().send())
                .await
                .map_err(|e| store_error(e, &self.table))?;
            items.extend(page.items().iter().cloned());
            match page.last_evaluated_key() {
                Some(key) if !key.is_empty() => start = Some(key.clone()),
                _ => return Ok(items),
            }
        }
    }

    async fn get_item(&self, key: Item) -> Result<Option<Item>, StoreError> {
        get_item(&self.client, &self.table, key).await
    }

    /// Items that carry `attribute = value`, through the table key, an index, or a scan.
    async fn items_where(&self, attribute: &str, value: &str) -> Result<Vec<Item>, StoreError> {
        let names = &self.schema.names;
        let by_key =
            |k: &str| HashMap::from([(k.to_string(), AttributeValue::S(value.to_string()))]);
        match self.schema.keyed_by {
            KeyedBy::User if attribute == names.user_id => Ok(self
                .get_item(by_key(attribute))
                .await?
                .into_iter()
                .collect()),
            KeyedBy::Connection if attribute == names.connection_id => Ok(self
                .get_item(by_key(attribute))
                .await?
                .into_iter()
                .collect()),
            // The user is the partition key: one Query finds all of the user's connections.
            KeyedBy::UserThenConnection if attribute == names.user_id => {
                self.query_index(None, attribute, value).await
            }
            _ => {
                let index = if attribute == names.user_id {
                    &self.schema.user_index
                } else {
                    &self.schema.connection_index
                };
                match index {
                    Some(index) => self.query_index(Some(index), attribute, value).await,
                    None => self.scan_items(Some((attribute, value))).await,
                }
            }
        }
    }

    /// The newest well-formed record among `items`.
    fn newest(&self, items: &[Item]) -> Option<ConnectionRecord> {
        items
            .iter()
            .filter_map(|i| self.schema.parse(i).ok())
            .max_by_key(|r| r.connected_at)
    }
}

#[async_trait]
impl ConnectionStore for DynamoStore {
    async fn scan(&self) -> Result<StoreSnapshot, StoreError> {
        let items = self.scan_items(None).await?;
        Ok(self.snapshot_of(&items, None))
    }

    /// The scan's items kept for a purge's intents: reading them again (BatchGetItem) was a
    /// tenth of a purge's time on moto, which answers one request at a time. A table larger
    /// than [`SCANNED_ITEMS_MAX`] keeps none (its items would be held through the whole probe);
    /// the purge then reads each batch's items before deleting it.
    async fn scan_with_items(&self) -> Result<(StoreSnapshot, ScannedItems), StoreError> {
        let items = self.scan_items(None).await?;
        let mut scanned = ScannedItems::default();
        let keep = Some(&mut scanned).filter(|_| items.len() <= SCANNED_ITEMS_MAX);
        let snapshot = self.snapshot_of(&items, keep);
        Ok((snapshot, scanned))
    }

    async fn find_by_user(&self, user_id: &str) -> Result<Option<ConnectionRecord>, StoreError> {
        let items = self
            .items_where(&self.schema.names.user_id.clone(), user_id)
            .await?;
        Ok(self.newest(&items))
    }

    async fn find_all_by_user(&self, user_id: &str) -> Result<Vec<ConnectionRecord>, StoreError> {
        let items = self
            .items_where(&self.schema.names.user_id.clone(), user_id)
            .await?;
        let mut records: Vec<_> = items
            .iter()
            .filter_map(|i| self.schema.parse(i).ok())
            .collect();
        records.sort_by_key(|r| std::cmp::Reverse(r.connected_at));
        Ok(records)
    }

    async fn find_by_connection(
        &self,
        connection_id: &str,
    ) -> Result<Option<ConnectionRecord>, StoreError> {
        let items = self
            .items_where(&self.schema.names.connection_id.clone(), connection_id)
            .await?;
        Ok(self.newest(&items))
    }

    async fn put(&self, record: ConnectionRecord) -> Result<Option<ConnectionRecord>, StoreError> {
        let previous = match self.schema.keyed_by {
            KeyedBy::User => None,
            _ => self.find_by_user(&record.user_id).await?,
        };
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.schema.item_of(&record)))
            .return_values(ReturnValue::AllOld);
        let out = send_retrying(|| request.clone().send())
            .await
            .map_err(|e| store_error(e, &self.table))?;
        if let Some(previous) = previous.filter(|p| p.connection_id != record.connection_id) {
            self.delete_if_current(&previous).await?;
            return Ok(Some(previous));
        }
        Ok(out.attributes().and_then(|old| self.schema.parse(old).ok()))
    }

    async fn delete_if_current(
        &self,
        record: &ConnectionRecord,
    ) -> Result<DeleteOutcome, StoreError> {
        Ok(self.delete_returning_item(record).await?.0)
    }

    async fn delete_returning_item(
        &self,
        record: &ConnectionRecord,
    ) -> Result<(DeleteOutcome, Option<serde_json::Value>), StoreError> {
        let key = self.schema.key_of(record);
        let request = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key.clone()))
            .condition_expression("#c = :expected")
            .expression_attribute_names("#c", &self.schema.names.connection_id)
            .expression_attribute_values(
                ":expected",
                AttributeValue::S(record.connection_id.clone()),
            )
            // The item as deleted, read atomically with the delete: the audit log's exact copy.
            .return_values(ReturnValue::AllOld);
        let result = send_retrying(|| request.clone().send()).await;
        match result {
            Ok(out) => Ok((
                DeleteOutcome::Deleted,
                out.attributes.as_ref().map(item_to_json),
            )),
            Err(e) if is_condition_failure(&e) => Ok((
                match self.get_item(key).await? {
                    Some(_) => DeleteOutcome::Changed,
                    None => DeleteOutcome::Missing,
                },
                None,
            )),
            Err(e) => Err(store_error(e, &self.table)),
        }
    }

    async fn raw_item(
        &self,
        record: &ConnectionRecord,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        // The key may be the user id alone: the item counts only while it holds this connection.
        let connection_attribute = &self.schema.names.connection_id;
        Ok(self
            .get_item(self.schema.key_of(record))
            .await?
            .filter(|item| {
                matches!(item.get(connection_attribute),
                    Some(AttributeValue::S(id)) if *id == record.connection_id)
            })
            .map(|item| item_to_json(&item)))
    }

    async fn raw_items(
        &self,
        records: &[ConnectionRecord],
    ) -> Result<Vec<Option<serde_json::Value>>, StoreError> {
        let mut found: HashMap<Vec<String>, Item> = HashMap::new();
        for chunk in records.chunks(BATCH_GET_LIMIT) {
            // DynamoDB refuses a batch that names one key twice.
            let mut keys: Vec<Item> = Vec::new();
            let mut seen = std::collections::HashSet::new();
            for record in chunk {
                let key = self.schema.key_of(record);
                if seen.insert(self.key_values(&key)) {
                    keys.push(key);
                }
            }
            let mut pending = Some(
                aws_sdk_dynamodb::types::KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| StoreError::Other(e.to_string()))?,
            );
            let mut backoff = Duration::from_millis(50);
            while let Some(request) = pending.take() {
                let request = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request);
                let out = send_retrying(|| request.clone().send())
                    .await
                    .map_err(|e| store_error(e, &self.table))?;
                for item in out
                    .responses()
                    .and_then(|r| r.get(&self.table))
                    .into_iter()
                    .flatten()
                {
                    found.insert(self.key_values(item), item.clone());
                }
                // Keys DynamoDB had no capacity for this time: asked again, after a pause.
                pending = out
                    .unprocessed_keys()
                    .and_then(|u| u.get(&self.table))
                    .filter(|k| !k.keys().is_empty())
                    .cloned();
                if pending.is_some() {
                    tokio::time::sleep(backoff.mul_f64(0.5 + rand::random::<f64>())).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
        let connection_attribute = &self.schema.names.connection_id;
        Ok(records
            .iter()
            .map(|record| {
                found
                    .get(&self.key_values(&self.schema.key_of(record)))
                    // The key may be the user id alone: the item counts only while it holds
                    // this connection.
                    .filter(|item| {
                        matches!(item.get(connection_attribute),
                            Some(AttributeValue::S(id)) if *id == record.connection_id)
                    })
                    .map(item_to_json)
            })
            .collect())
    }

    async fn restore(
        &self,
        record: &ConnectionRecord,
        raw: Option<&serde_json::Value>,
    ) -> Result<bool, StoreError> {
        // Keyed by user, the conditional put below refuses any record of the user: no read needed.
        if self.schema.keyed_by != KeyedBy::User {
            if let Some(current) = self.find_by_user(&record.user_id).await? {
                if current.connected_at >= record.connected_at {
                    return Ok(false);
                }
            }
        }
        let item = match raw.map(item_from_json) {
            Some(Ok(item)) => item,
            Some(Err(e)) => {
                return Err(StoreError::Other(format!(
                    "the audit log's item is unreadable: {e}"
                )))
            }
            None => self.schema.item_of(record),
        };
        // Guarded by the key: a record written since the check above is never overwritten.
        let key_attribute = match self.schema.keyed_by {
            KeyedBy::Connection => &self.schema.names.connection_id,
            _ => &self.schema.names.user_id,
        };
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#k)")
            .expression_attribute_names("#k", key_attribute);
        let result = send_retrying(|| request.clone().send()).await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(store_error(e, &self.table)),
        }
    }

    async fn changes(&self) -> Result<Option<Box<dyn super::changes::ChangeFeed>>, StoreError> {
        let feed = super::dynamo_stream::DynamoStreamFeed::open(
            &self.client,
            &self.streams,
            &self.table,
            &self.schema,
        )
        .await?;
        Ok(feed.map(|f| Box::new(f) as Box<dyn super::changes::ChangeFeed>))
    }

    fn describe(&self) -> String {
        format!("dynamodb:{}", self.table)
    }

    fn mapping(&self) -> String {
        format!("{} ({})", self.table, describe_schema(&self.schema))
    }
}

/// Used by the CLI to explain what was discovered.
pub fn describe_schema(schema: &TableSchema) -> String {
    let keyed = match schema.keyed_by {
        KeyedBy::User => format!("keyed by {}", schema.names.user_id),
        KeyedBy::Connection => format!("keyed by {}", schema.names.connection_id),
        KeyedBy::UserThenConnection => format!(
            "keyed by {} + {}",
            schema.names.user_id, schema.names.connection_id
        ),
    };
    let format = match schema.time_format {
        TimeFormat::Iso8601 => "ISO-8601",
        TimeFormat::EpochSeconds => "epoch seconds",
        TimeFormat::EpochMillis => "epoch milliseconds",
    };
    format!("{keyed}, {} as {format}", schema.names.connected_at)
}
