//! DynamoDB scan benchmark against moto_server: 100,000 items, parallel segments, items/s, with
//! boto3's Scan paginator measured in the same run as the anchor.
//!
//! `cargo bench --bench store` (WSDASH_BENCH_ITEMS changes the 100,000).

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, PutRequest,
    ScalarAttributeType, WriteRequest,
};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use wsdash::store::{ConnectionStore, DynamoStore};

struct Moto(std::process::Child);
impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::main]
async fn main() {
    let items: usize = std::env::var("WSDASH_BENCH_ITEMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let _moto = Moto(
        Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server (pip install 'moto[server]')"),
    );
    let url = format!("http://127.0.0.1:{port}");
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sdk = wsdash::aws_env::load_sdk_config(&wsdash::aws_env::AwsSettings {
        dummy_credentials: true,
        call_timeout: Some(Duration::from_secs(120)),
        ..Default::default()
    })
    .await;
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .endpoint_url(&url)
            .build(),
    );
    client
        .create_table()
        .table_name("bench")
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("user_id")
                .key_type(KeyType::Hash)
                .build()
                .expect("key"),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("user_id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attr"),
        )
        .send()
        .await
        .expect("create table");
    let load = Instant::now();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let chunks: Vec<Vec<usize>> = (0..items)
        .collect::<Vec<_>>()
        .chunks(25)
        .map(<[usize]>::to_vec)
        .collect();
    futures_util::stream::iter(chunks)
        .for_each_concurrent(8, |chunk| {
            let client = client.clone();
            async move {
                let requests: Vec<WriteRequest> = chunk
                    .iter()
                    .map(|i| {
                        let item = HashMap::from([
                            (
                                "user_id".to_string(),
                                AttributeValue::S(format!("user-{i:06}")),
                            ),
                            (
                                "connection_id".to_string(),
                                AttributeValue::S(format!("{i:015}=")),
                            ),
                            (
                                "connected_at".to_string(),
                                AttributeValue::N((now - (*i as i64 % 7000)).to_string()),
                            ),
                        ]);
                        WriteRequest::builder()
                            .put_request(
                                PutRequest::builder()
                                    .set_item(Some(item))
                                    .build()
                                    .expect("put"),
                            )
                            .build()
                    })
                    .collect();
                client
                    .batch_write_item()
                    .request_items("bench", requests)
                    .send()
                    .await
                    .expect("batch write");
            }
        })
        .await;
    println!(
        "== DynamoDB scan benchmark (moto_server, {items} items; loaded in {:.1} s) ==",
        load.elapsed().as_secs_f64()
    );

    let out = Command::new("python3")
        .args([
            concat!(env!("CARGO_MANIFEST_DIR"), "/benches/boto3_scan.py"),
            &url,
            "bench",
        ])
        .output()
        .expect("python3");
    let anchor: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let anchor_rate = anchor["items_per_second"].as_f64().unwrap_or(f64::NAN);
    println!(
        "{:<40} {:>9.0} items/s",
        "boto3 Scan paginator (anchor)", anchor_rate
    );
    for segments in [1, 4, 8] {
        let store = DynamoStore::connect(&sdk, Some(&url), "bench", Default::default(), segments)
            .await
            .expect("store");
        let started = Instant::now();
        let snapshot = store.scan().await.expect("scan");
        let seconds = started.elapsed().as_secs_f64();
        assert_eq!(snapshot.records.len(), items);
        println!(
            "{:<40} {:>9.0} items/s  ({:.2} s, {:.1}x the anchor)",
            format!("wsdash scan, {segments} segment(s)"),
            items as f64 / seconds,
            seconds,
            items as f64 / seconds / anchor_rate
        );
    }
}
