//! [`ChangeFeed`] from a DynamoDB table's stream: every open shard is read from "now" (LATEST),
//! shards that open later (a shard closes about every four hours and its children take over) from
//! their start, and a child only once its parent has been read to the end, so that the changes
//! to one key always arrive in the order they were made.

use super::changes::{ChangeFeed, ItemKey, StoreChange};
use super::dynamo_calls::{send_retrying, store_error};
use super::schema::{KeyedBy, TableSchema};
use super::StoreError;
use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodbstreams::types::{
    AttributeValue as StreamValue, OperationType, Record, ShardIteratorType,
};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// How long to wait before asking again when a poll found nothing. DynamoDB Streams allows five
/// GetRecords calls per second per shard; one per second leaves room for a Lambda on the stream.
const POLL_EVERY: Duration = Duration::from_secs(1);
/// How often to look for shards that opened since.
const DISCOVER_EVERY: Duration = Duration::from_secs(10);
/// The most records GetRecords returns in one call.
const RECORDS_PER_CALL: i32 = 1000;

/// The Streams client goes where the table's client goes: moto and DynamoDB Local serve both on
/// one endpoint. AWS_ENDPOINT_URL_DYNAMODB_STREAMS still wins, as the SDK documents.
pub fn streams_client(sdk: &SdkConfig, endpoint: Option<&str>) -> aws_sdk_dynamodbstreams::Client {
    let mut config = aws_sdk_dynamodbstreams::config::Builder::from(sdk);
    if std::env::var_os("AWS_ENDPOINT_URL_DYNAMODB_STREAMS").is_none() {
        if let Some(endpoint) = endpoint {
            config = config.endpoint_url(endpoint);
        }
    }
    aws_sdk_dynamodbstreams::Client::from_conf(config.build())
}

pub struct DynamoStreamFeed {
    streams: aws_sdk_dynamodbstreams::Client,
    /// For streams that carry keys only: the new item is read from the table.
    table_client: aws_sdk_dynamodb::Client,
    table: String,
    schema: TableSchema,
    arn: String,
    carries_new_image: bool,
    /// The shards being read, with the iterator for the next read.
    reading: Vec<(String, String)>,
    /// Shards already being read or read to the end, or closed before the feed opened.
    known: HashSet<String>,
    next_discovery: Instant,
}

struct ShardInfo {
    id: String,
    parent: Option<String>,
    open: bool,
}

impl DynamoStreamFeed {
    /// Start following the table's changes from now; `None` when the table has no stream.
    pub async fn open(
        table_client: &aws_sdk_dynamodb::Client,
        streams: &aws_sdk_dynamodbstreams::Client,
        table: &str,
        schema: &TableSchema,
    ) -> Result<Option<Self>, StoreError> {
        let request = table_client.describe_table().table_name(table);
        let described = send_retrying(|| request.clone().send())
            .await
            .map_err(|e| store_error(e, table))?;
        let Some(description) = described.table() else {
            return Ok(None);
        };
        let Some(spec) = description
            .stream_specification()
            .filter(|s| s.stream_enabled())
        else {
            return Ok(None);
        };
        let Some(arn) = description.latest_stream_arn() else {
            return Ok(None);
        };
        let carries_new_image = matches!(
            spec.stream_view_type().map(|v| v.as_str()),
            Some("NEW_IMAGE") | Some("NEW_AND_OLD_IMAGES")
        );
        let mut feed = Self {
            streams: streams.clone(),
            table_client: table_client.clone(),
            table: table.to_string(),
            schema: schema.clone(),
            arn: arn.to_string(),
            carries_new_image,
            reading: Vec::new(),
            known: HashSet::new(),
            next_discovery: Instant::now() + DISCOVER_EVERY,
        };
        for shard in feed.shards().await? {
            if shard.open {
                let iterator = feed.iterator(&shard.id, ShardIteratorType::Latest).await?;
                feed.reading.push((shard.id.clone(), iterator));
            }
            feed.known.insert(shard.id);
        }
        Ok(Some(feed))
    }

    async fn shards(&self) -> Result<Vec<ShardInfo>, StoreError> {
        let mut shards = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let request = self
                .streams
                .describe_stream()
                .stream_arn(&self.arn)
                .set_exclusive_start_shard_id(after.clone());
            let out = send_retrying(|| request.clone().send())
                .await
                .map_err(|e| store_error(e, &self.table))?;
            let Some(description) = out.stream_description() else {
                return Ok(shards);
            };
            for shard in description.shards() {
                let Some(id) = shard.shard_id() else { continue };
                shards.push(ShardInfo {
                    id: id.to_string(),
                    parent: shard.parent_shard_id().map(str::to_string),
                    open: shard
                        .sequence_number_range()
                        .and_then(|r| r.ending_sequence_number())
                        .is_none(),
                });
            }
            match description.last_evaluated_shard_id() {
                Some(last) if !last.is_empty() => after = Some(last.to_string()),
                _ => return Ok(shards),
            }
        }
    }

    async fn iterator(&self, shard: &str, kind: ShardIteratorType) -> Result<String, StoreError> {
        let request = self
            .streams
            .get_shard_iterator()
            .stream_arn(&self.arn)
            .shard_id(shard)
            .shard_iterator_type(kind);
        let out = send_retrying(|| request.clone().send())
            .await
            .map_err(|e| store_error(e, &self.table))?;
        out.shard_iterator().map(str::to_string).ok_or_else(|| {
            StoreError::Other(format!(
                "the stream of {} gave no iterator for shard {shard}",
                self.table
            ))
        })
    }

    /// Start reading shards that opened since, from their first record. A child waits until its
    /// parent is read to the end.
    async fn discover(&mut self) -> Result<(), StoreError> {
        self.next_discovery = Instant::now() + DISCOVER_EVERY;
        let being_read: HashSet<String> = self.reading.iter().map(|(id, _)| id.clone()).collect();
        for shard in self.shards().await? {
            if self.known.contains(&shard.id)
                || shard
                    .parent
                    .as_ref()
                    .is_some_and(|p| being_read.contains(p))
            {
                continue;
            }
            let iterator = self
                .iterator(&shard.id, ShardIteratorType::TrimHorizon)
                .await?;
            self.reading.push((shard.id.clone(), iterator));
            self.known.insert(shard.id);
        }
        Ok(())
    }

    async fn change_of(&self, record: &Record) -> Result<Option<StoreChange>, StoreError> {
        let (Some(kind), Some(data)) = (record.event_name(), record.dynamodb()) else {
            return Ok(None);
        };
        let keys = data.keys().map(to_table_item).unwrap_or_default();
        let text = |name: &str| keys.get(name).and_then(|v| v.as_s().ok()).cloned();
        let names = &self.schema.names;
        let key = match self.schema.keyed_by {
            KeyedBy::User => ItemKey {
                user_id: text(&names.user_id),
                connection_id: None,
            },
            KeyedBy::Connection => ItemKey {
                user_id: None,
                connection_id: text(&names.connection_id),
            },
            KeyedBy::UserThenConnection => ItemKey {
                user_id: text(&names.user_id),
                connection_id: text(&names.connection_id),
            },
        };
        match kind {
            OperationType::Insert | OperationType::Modify => {
                let item = match data.new_image().filter(|_| self.carries_new_image) {
                    Some(image) => Some(to_table_item(image)),
                    // A KEYS_ONLY or OLD_IMAGE stream: read what the item is now.
                    None => self.read_item(keys).await?,
                };
                Ok(Some(match item {
                    Some(item) => StoreChange::Put {
                        key,
                        item: self.schema.parse(&item),
                    },
                    None => StoreChange::Removed { key },
                }))
            }
            OperationType::Remove => Ok(Some(StoreChange::Removed { key })),
            _ => Ok(None),
        }
    }

    async fn read_item(
        &self,
        key: HashMap<String, AttributeValue>,
    ) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        super::dynamo_calls::get_item(&self.table_client, &self.table, key).await
    }
}

#[async_trait]
impl ChangeFeed for DynamoStreamFeed {
    async fn next_changes(&mut self) -> Result<Vec<StoreChange>, StoreError> {
        if Instant::now() >= self.next_discovery {
            self.discover().await?;
        }
        let mut changes = Vec::new();
        let mut more_waiting = false;
        let mut still_open = Vec::with_capacity(self.reading.len());
        for (shard, iterator) in std::mem::take(&mut self.reading) {
            let request = self
                .streams
                .get_records()
                .shard_iterator(&iterator)
                .limit(RECORDS_PER_CALL);
            let out = send_retrying(|| request.clone().send())
                .await
                .map_err(|e| store_error(e, &self.table))?;
            more_waiting |= out.records().len() >= RECORDS_PER_CALL as usize;
            for record in out.records() {
                changes.extend(self.change_of(record).await?);
            }
            match out.next_shard_iterator() {
                Some(next) => still_open.push((shard, next.to_string())),
                // Read to the end: its children can start now.
                None => self.next_discovery = Instant::now(),
            }
        }
        self.reading = still_open;
        if changes.is_empty() && !more_waiting {
            tokio::time::sleep(POLL_EVERY).await;
        }
        Ok(changes)
    }

    fn describe(&self) -> String {
        format!("the stream of {}", self.table)
    }
}

fn to_table_item(item: &HashMap<String, StreamValue>) -> HashMap<String, AttributeValue> {
    item.iter()
        .map(|(name, value)| (name.clone(), to_table_value(value)))
        .collect()
}

/// The Streams SDK has its own copy of DynamoDB's attribute type; the schema parses the table's.
fn to_table_value(value: &StreamValue) -> AttributeValue {
    match value {
        StreamValue::S(s) => AttributeValue::S(s.clone()),
        StreamValue::N(n) => AttributeValue::N(n.clone()),
        StreamValue::B(b) => AttributeValue::B(b.clone()),
        StreamValue::Bool(b) => AttributeValue::Bool(*b),
        StreamValue::Null(b) => AttributeValue::Null(*b),
        StreamValue::Ss(v) => AttributeValue::Ss(v.clone()),
        StreamValue::Ns(v) => AttributeValue::Ns(v.clone()),
        StreamValue::Bs(v) => AttributeValue::Bs(v.clone()),
        StreamValue::L(v) => AttributeValue::L(v.iter().map(to_table_value).collect()),
        StreamValue::M(m) => AttributeValue::M(to_table_item(m)),
        // A type newer than this build: kept visible as null rather than failing the feed.
        _ => AttributeValue::Null(true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_stream_values_convert_to_table_values() {
        let image = HashMap::from([(
            "meta".to_string(),
            StreamValue::M(HashMap::from([(
                "tags".to_string(),
                StreamValue::L(vec![StreamValue::S("a".into()), StreamValue::N("2".into())]),
            )])),
        )]);
        let converted = to_table_item(&image);
        let expected = AttributeValue::M(HashMap::from([(
            "tags".to_string(),
            AttributeValue::L(vec![
                AttributeValue::S("a".into()),
                AttributeValue::N("2".into()),
            ]),
        )]));
        assert_eq!(converted.get("meta"), Some(&expected));
    }
}
