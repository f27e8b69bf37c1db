//! `wsdash purge --yes` as users run it: the release binary as a process, default
//! configuration, deleting 5,000 stale records from a DynamoDB table (moto_server) whose
//! connections the gateway emulator answers Gone, side by side in one run with a boto3 cleanup
//! script (scan, get_connection, conditional delete on Gone), one record at a time and with
//! `ThreadPoolExecutor(64)`.
//!
//! moto_server answers one request at a time, so it sets a floor under any purge against it:
//! the benchmark measures that floor too (the 5,000 DeleteItem calls wsdash sends, conditional
//! and returning the deleted item, from the Rust SDK, 16 at once), so the figures say where the
//! remaining time goes; and the same calls without the item returned, for its cost on moto.
//! Every figure is taken on a fresh moto_server, and the budget (≤ 1.15× the floor) is judged
//! on the median of floor/wsdash pairs run back to back.
//!
//! `cargo bench --bench purge_cli` (WSDASH_BENCH_RECORDS changes the table size,
//! WSDASH_BENCH_ROUNDS the number of pairs, 5 by default).

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
    // Each figure is taken on a moto_server of its own: one that has served a few purges
    // answers more slowly (its floor rose from 10.6 to 16.3 s within one run of this bench),
    // and the order of the contenders would decide the ratios.
    let fresh = || {
        let moto = common::Moto::start();
        let client = runtime.block_on(async {
            let client = dynamo(&moto).await;
            create_table(&client, TABLE, "connection_id", Some("user_id")).await;
            client
        });
        (moto, client)
    };
    let demo = common::quiet_demo(&[]);
    let management = demo.demo_urls().management;
    let scratch = std::env::temp_dir().join(format!("wsdash-bench-purge-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/purge/purge_boto3.py");

    let wsdash = |moto_url: &str| {
        let mut command = Command::new(common::BIN);
        command
            .args(["purge", "--yes", "--output", "json", "--table", TABLE])
            .args(["--endpoint", &management, "--dynamodb-endpoint", moto_url])
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
    let boto3 = |mode: &str, moto_url: &str| {
        let mut command = Command::new("python3");
        command
            .arg(&script)
            .args([mode, &management, moto_url, TABLE]);
        command
    };
    type MakeCommand<'a> = Box<dyn Fn(&str) -> Command + 'a>;
    let contenders: Vec<(&str, MakeCommand)> = vec![
        ("wsdash purge --yes (default)", Box::new(wsdash)),
        (
            "boto3 ThreadPoolExecutor(64)",
            Box::new(move |url| boto3("pool", url)),
        ),
        (
            "boto3 cleanup loop",
            Box::new(move |url| boto3("loop", url)),
        ),
    ];

    // The floor: moto's own time for the deletes alone, the same calls wsdash sends
    // (conditional on the connection id, the item returned for the audit log), from 16
    // concurrent SDK callers; and the same without the item returned, to show its cost.
    let deletes = |round: usize, return_item: bool| {
        let (_moto, client) = fresh();
        runtime.block_on(put_many(&client, TABLE, &stale_items(records, round)));
        let ids: Vec<String> = (0..records)
            .map(|i| format!("R{round:02}x{i:012}="))
            .collect();
        let started = Instant::now();
        runtime.block_on(
            futures_util::stream::iter(ids)
                .map(|id| {
                    let client = client.clone();
                    async move {
                        let mut request = client
                            .delete_item()
                            .table_name(TABLE)
                            .key("connection_id", s(&id))
                            .condition_expression("#c = :expected")
                            .expression_attribute_names("#c", "connection_id")
                            .expression_attribute_values(":expected", s(&id));
                        if return_item {
                            request =
                                request.return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld);
                        }
                        request.send().await.expect("delete")
                    }
                })
                .buffer_unordered(16)
                .for_each(|_| async {}),
        );
        started.elapsed().as_secs_f64()
    };
    let contender = |round: usize, command: &MakeCommand| {
        let (moto, client) = fresh();
        runtime.block_on(put_many(&client, TABLE, &stale_items(records, round)));
        timed(&runtime, &client, command(&moto.url)).map(|t| t.as_secs_f64())
    };
    let row = |name: &str, secs: f64, note: &str| {
        println!(
            "{name:<32} {secs:>10.3} {:>12.0}   {note}",
            records as f64 / secs
        )
    };

    // The machine's speed drifts by a third within minutes: the budget is judged on pairs,
    // wsdash and the floor back to back, and the median of their ratios.
    let pairs: usize = std::env::var("WSDASH_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    println!("purge of {records} stale records (moto_server + gateway emulator), each run on a fresh moto_server");
    println!("{:<32} {:>10} {:>12}", "contender", "seconds", "records/s");
    let mut ratios = Vec::new();
    let mut ours = Vec::new();
    for pair in 0..pairs {
        let floor = deletes(10 + pair, true);
        row(
            "floor: the deletes on moto",
            floor,
            &format!("(moto alone: {records} DeleteItem calls as wsdash sends them, conditional, ALL_OLD, 16 at once; {:.2} ms a call)", floor * 1000.0 / records as f64),
        );
        match contender(20 + pair, &contenders[0].1) {
            Ok(secs) => {
                row(
                    contenders[0].0,
                    secs,
                    &format!("({:.2}x the floor before it)", secs / floor),
                );
                ratios.push(secs / floor);
                ours.push(secs);
            }
            Err(e) => println!("{:<32} failed: {e}", contenders[0].0),
        }
    }
    let mut peers = Vec::new();
    for (round, (name, command)) in contenders.iter().enumerate().skip(1) {
        match contender(round, command) {
            Ok(secs) => {
                row(name, secs, "");
                peers.push(secs);
            }
            Err(e) => println!("{name:<32} failed: {e}"),
        }
    }
    let bare = deletes(99, false);
    row(
        "deletes without ALL_OLD",
        bare,
        "(the same calls without ReturnValues; DynamoDB charges nothing for ALL_OLD)",
    );
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied()
    };
    if let (Some(ratio), Some(ours), &[pool, lp]) =
        (median(ratios.clone()), median(ours), &peers[..])
    {
        println!(
            "wsdash purge: {:.1}x the boto3 loop, {:.1}x boto3 with 64 threads (median run); {ratio:.2}x moto's floor, median of {} pairs {:?} (budget ≤ 1.15x: {})",
            lp / ours,
            pool / ours,
            ratios.len(),
            ratios.iter().map(|r| format!("{r:.2}")).collect::<Vec<_>>(),
            if ratio <= 1.15 { "met" } else { "NOT MET" }
        );
    }
    std::fs::remove_dir_all(&scratch).ok();
}
