//! `wsdash purge --yes` as users run it: the release binary as a process, default
//! configuration, deleting 5,000 stale records from a DynamoDB table (moto_server) whose
//! connections the gateway emulator answers Gone, side by side in one run with a boto3 cleanup
//! script (scan, get_connection, conditional delete on Gone), one record at a time and with
//! `ThreadPoolExecutor(64)`.
//!
//! moto_server answers one request at a time, so it sets a floor under any purge against it:
//! the benchmark measures that floor too (5,000 conditional DeleteItem calls from the Rust SDK,
//! 16 at once), so the figures say where the remaining time goes.
//!
//! `cargo bench --bench purge_cli` (WSDASH_BENCH_RECORDS changes the table size).

// The tests' harness; a bench uses only part of it.
#[allow(dead_code)]
#[path = "../tests/it/common/mod.rs"]
mod common;

use aws_sdk_dynamodb::types::AttributeValue;
use common::dynamo::{create_table, dynamo, n, put_many, s};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TABLE: &str = "purge_bench";

fn stale_items(count: usize, round: usize) -> Vec<HashMap<String, AttributeValue>> {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    (0..count)
        .map(|i| {
            [
                ("user_id".to_string(), s(&format!("user-{round}-{i}"))),
                (
                    "connection_id".to_string(),
                    s(&format!("R{round:02}x{i:012}=")),
                ),
                ("connected_at".to_string(), n(now - 600)),
            ]
            .into_iter()
            .collect()
        })
        .collect()
}

async fn stored(client: &aws_sdk_dynamodb::Client) -> usize {
    let mut count = 0;
    let mut pages = client
        .scan()
        .table_name(TABLE)
        .select(aws_sdk_dynamodb::types::Select::Count)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        count += page.expect("scan").count() as usize;
    }
    count
}

/// Wall time of a whole process run, which must leave the table empty.
fn timed(
    runtime: &tokio::runtime::Runtime,
    client: &aws_sdk_dynamodb::Client,
    mut command: Command,
) -> Result<Duration, String> {
    let started = Instant::now();
    let out = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot start: {e}"))?;
    let elapsed = started.elapsed();
    if !out.status.success() {
        return Err(format!(
            "exit {:?}: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    match runtime.block_on(stored(client)) {
        0 => Ok(elapsed),
        left => Err(format!("{left} records left behind")),
    }
}

fn main() {
    let records = std::env::var("WSDASH_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5_000usize);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let moto = common::Moto::start();
    let client = runtime.block_on(async {
        let client = dynamo(&moto).await;
        create_table(&client, TABLE, "connection_id", Some("user_id")).await;
        client
    });
    let demo = common::quiet_demo(&[]);
    let management = demo.demo_urls().management;
    let scratch = std::env::temp_dir().join(format!("wsdash-bench-purge-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/purge/purge_boto3.py");

    let wsdash = || {
        let mut command = Command::new(common::BIN);
        command
            .args(["purge", "--yes", "--output", "json", "--table", TABLE])
            .args(["--endpoint", &management, "--dynamodb-endpoint", &moto.url])
            .arg("--audit-log")
            .arg(scratch.join("audit.jsonl"))
            // What a user gets by default: no config file, no --rate.
            .env("XDG_CONFIG_HOME", scratch.join("no-config"))
            .env("AWS_ACCESS_KEY_ID", "bench")
            .env("AWS_SECRET_ACCESS_KEY", "bench")
            .env("AWS_REGION", "us-east-1")
            .env("WSDASH_LOG", "error");
        command
    };
    let boto3 = |mode: &str| {
        let mut command = Command::new("python3");
        command
            .arg(&script)
            .args([mode, &management, &moto.url, TABLE]);
        command
    };
    type MakeCommand<'a> = Box<dyn Fn() -> Command + 'a>;
    let contenders: Vec<(&str, MakeCommand)> = vec![
        ("wsdash purge --yes (default)", Box::new(wsdash)),
        (
            "boto3 ThreadPoolExecutor(64)",
            Box::new(move || boto3("pool")),
        ),
        ("boto3 cleanup loop", Box::new(move || boto3("loop"))),
    ];

    println!("purge of {records} stale records (moto_server + gateway emulator), one run each");
    println!("{:<32} {:>10} {:>12}", "contender", "seconds", "records/s");
    let mut results = Vec::new();
    for (round, (name, command)) in contenders.iter().enumerate() {
        runtime.block_on(put_many(&client, TABLE, &stale_items(records, round)));
        match timed(&runtime, &client, command()) {
            Ok(t) => {
                let secs = t.as_secs_f64();
                println!("{name:<32} {secs:>10.3} {:>12.0}", records as f64 / secs);
                results.push((*name, secs));
            }
            Err(e) => println!("{name:<32} failed: {e}"),
        }
    }

    // The floor: moto's own time for the deletes alone, from 16 concurrent SDK callers.
    runtime.block_on(put_many(&client, TABLE, &stale_items(records, 99)));
    let ids: Vec<String> = (0..records).map(|i| format!("R99x{i:012}=")).collect();
    let started = Instant::now();
    runtime.block_on(
        futures_util::stream::iter(ids)
            .map(|id| {
                let client = client.clone();
                async move {
                    client
                        .delete_item()
                        .table_name(TABLE)
                        .key("connection_id", s(&id))
                        .condition_expression("connection_id = :c")
                        .expression_attribute_values(":c", s(&id))
                        .send()
                        .await
                        .expect("delete")
                }
            })
            .buffer_unordered(16)
            .for_each(|_| async {}),
    );
    let floor = started.elapsed().as_secs_f64();
    println!(
        "{:<32} {floor:>10.3} {:>12.0}   (moto alone: {records} conditional DeleteItem calls, 16 at once; {:.2} ms per call)",
        "floor: the deletes on moto",
        records as f64 / floor,
        floor * 1000.0 / records as f64
    );
    let time_of = |prefix: &str| {
        results
            .iter()
            .find(|(n, _)| n.starts_with(prefix))
            .map(|r| r.1)
    };
    if let (Some(ours), Some(pool), Some(lp)) = (
        time_of("wsdash"),
        time_of("boto3 Thread"),
        time_of("boto3 cleanup"),
    ) {
        let of_floor = ours / floor;
        println!(
            "wsdash purge: {:.1}x the boto3 loop, {:.1}x boto3 with 64 threads; {of_floor:.2}x moto's floor (budget ≤ 1.15x: {})",
            lp / ours,
            pool / ours,
            if of_floor <= 1.15 { "met" } else { "NOT MET" }
        );
    }
    std::fs::remove_dir_all(&scratch).ok();
}
