//! DynamoDB test fixtures on moto: a client, tables keyed either way, and bulk writes.

use super::Moto;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, PutRequest, ScalarAttributeType, WriteRequest,
};
use std::collections::HashMap;

pub async fn dynamo(moto: &Moto) -> aws_sdk_dynamodb::Client {
    let sdk = wsdash::aws_env::load_sdk_config(&wsdash::aws_env::AwsSettings {
        dummy_credentials: true,
        ..Default::default()
    })
    .await;
    aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .endpoint_url(&moto.url)
            .build(),
    )
}

pub async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
    key: &str,
    index_on: Option<&str>,
) {
    let attribute = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("attr")
    };
    let hash = |n: &str| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(KeyType::Hash)
            .build()
            .expect("key")
    };
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(hash(key))
        .attribute_definitions(attribute(key));
    if let Some(other) = index_on {
        request = request
            .attribute_definitions(attribute(other))
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(format!("by_{other}"))
                    .key_schema(hash(other))
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()
                    .expect("gsi"),
            );
    }
    request.send().await.expect("create table");
}

pub fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

pub fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub async fn put(client: &aws_sdk_dynamodb::Client, table: &str, item: &[(&str, AttributeValue)]) {
    client
        .put_item()
        .table_name(table)
        .set_item(Some(
            item.iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        ))
        .send()
        .await
        .expect("put item");
}

/// Put `items` with batch writes (25 a request), as fast as moto takes them.
/// Write `items` in batches of 25, eight batches in flight (moto serves one at a time, but
/// the round trips overlap).
pub async fn put_many(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    items: &[HashMap<String, AttributeValue>],
) {
    use futures_util::StreamExt;
    futures_util::stream::iter(items.chunks(25))
        .for_each_concurrent(8, |chunk| async move {
            let requests: Vec<WriteRequest> = chunk
                .iter()
                .map(|item| {
                    WriteRequest::builder()
                        .put_request(
                            PutRequest::builder()
                                .set_item(Some(item.clone()))
                                .build()
                                .expect("put"),
                        )
                        .build()
                })
                .collect();
            client
                .batch_write_item()
                .request_items(table, requests)
                .send()
                .await
                .expect("batch write");
        })
        .await;
}

pub async fn stored_users(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> std::collections::BTreeSet<String> {
    let mut users = std::collections::BTreeSet::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan");
        for item in page.items() {
            if let Some(AttributeValue::S(user)) = item.get("user_id") {
                users.insert(user.clone());
            }
        }
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            return users;
        }
    }
}

/// Turn on the table's stream (moto keeps one as DynamoDB does); `view` is the StreamViewType,
/// e.g. "NEW_AND_OLD_IMAGES" or "KEYS_ONLY".
pub async fn enable_stream(client: &aws_sdk_dynamodb::Client, table: &str, view: &str) {
    client
        .update_table()
        .table_name(table)
        .stream_specification(
            aws_sdk_dynamodb::types::StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(aws_sdk_dynamodb::types::StreamViewType::from(view))
                .build()
                .expect("stream specification"),
        )
        .send()
        .await
        .expect("enable the stream");
}

/// A table keyed by user (partition) and connection (sort): one record per open tab.
pub async fn create_table_by_user_and_connection(client: &aws_sdk_dynamodb::Client, name: &str) {
    let key = |attribute: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(attribute)
            .key_type(kind)
            .build()
            .expect("key")
    };
    let attribute = |attribute: &str| {
        AttributeDefinition::builder()
            .attribute_name(attribute)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("attribute")
    };
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("user_id", KeyType::Hash))
        .key_schema(key("connection_id", KeyType::Range))
        .attribute_definitions(attribute("user_id"))
        .attribute_definitions(attribute("connection_id"))
        .send()
        .await
        .expect("create table");
}
