//! DynamoDB scan benchmark against moto_server: 100,000 items, parallel segments, items/s, with
//! boto3's Scan paginator measured in the same run as the anchor.
//!
//! `cargo bench --bench store` (WSDASH_BENCH_ITEMS changes the 100,000).

// The tests' harness; a bench uses only part of it.
#[allow(dead_code)]
#[path = "../tests/it/common/mod.rs"]
mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;
use std::process::Command;
use std::time::{Duration, Instant};
use wsdash::store::{ConnectionStore, DynamoStore};

#[tokio::main]
async fn main() {
    let items: usize = std::env::var("WSDASH_BENCH_ITEMS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let moto = common::Moto::start();
    let url = moto.url.clone();
    let client = common::dynamo::dynamo(&moto).await;
    let sdk = wsdash::aws_env::load_sdk_config(&wsdash::aws_env::AwsSettings {
        dummy_credentials: true,
        call_timeout: Some(Duration::from_secs(120)),
        ..Default::default()
    })
    .await;
    common::dynamo::create_table(&client, "bench", "user_id", None).await;
    let load = Instant::now();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let records: Vec<HashMap<String, AttributeValue>> = (0..items)
        .map(|i| {
            HashMap::from([
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
                    AttributeValue::N((now - (i as i64 % 7000)).to_string()),
                ),
            ])
        })
        .collect();
    common::dynamo::put_many(&client, "bench", &records).await;
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
