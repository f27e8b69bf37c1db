//! Emulator benchmarks: push/probe throughput on loopback, the guide's boto3 loop as anchor,
//! and the gateway's memory while holding many idle WebSocket clients.
//!
//! `cargo bench --bench emulator` (set WSDASH_BENCH_CLIENTS to change the 10,000 clients).

// The tests' harness; a bench uses only part of it.
#[allow(dead_code)]
#[path = "../tests/it/common/mod.rs"]
mod common;

use bytes::Bytes;
use common::measure::{percentile, rss_mb};
use common::{free_port, DemoUrls, Running};
use futures_util::StreamExt;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wsdash::aws_env::{load_sdk_config, AwsSettings};
use wsdash::management::{AwsManagementApi, ManagementApi};
use wsdash::model::{ConnectionRecord, DeliveryClass};
use wsdash::ops::probe::probe_records;
use wsdash::ops::push::{push_to_targets, PushOptions, PushTarget};

struct Run {
    calls: usize,
    seconds: f64,
    p50: f64,
    p99: f64,
    failures: usize,
}

impl Run {
    fn rate(&self) -> f64 {
        self.calls as f64 / self.seconds
    }
    fn print(&self, name: &str) {
        let latency = if self.p50.is_nan() {
            String::new()
        } else {
            format!("  p50 {:>6.2} ms  p99 {:>6.2} ms", self.p50, self.p99)
        };
        println!(
            "{name:<46} {:>7} calls {:>8.0} calls/s{latency}  failures {}",
            self.calls,
            self.rate(),
            self.failures
        );
    }
}

async fn push_run(
    api: &Arc<dyn ManagementApi>,
    ids: &[String],
    calls: usize,
    concurrency: usize,
) -> Run {
    let targets: Vec<PushTarget> = (0..calls)
        .map(|i| PushTarget::connection(ids[i % ids.len()].clone()))
        .collect();
    let options = PushOptions {
        concurrency,
        delete_gone: false,
        max_attempts: 1,
        ..PushOptions::default()
    };
    let started = Instant::now();
    let outcomes = push_to_targets(
        api.clone(),
        None,
        targets,
        Bytes::from_static(br#"{"type":"heartbeat"}"#),
        options,
    )
    .await;
    let seconds = started.elapsed().as_secs_f64();
    let mut latencies: Vec<f64> = outcomes.iter().map(|o| o.latency_ms).collect();
    Run {
        calls,
        seconds,
        p50: percentile(&mut latencies, 0.5),
        p99: percentile(&mut latencies, 0.99),
        failures: outcomes
            .iter()
            .filter(|o| o.class != DeliveryClass::Delivered)
            .count(),
    }
}

async fn probe_run(
    api: &Arc<dyn ManagementApi>,
    ids: &[String],
    calls: usize,
    concurrency: usize,
) -> Run {
    let records: Vec<ConnectionRecord> = (0..calls)
        .map(|i| ConnectionRecord::new(format!("u{i}"), ids[i % ids.len()].clone()))
        .collect();
    let started = Instant::now();
    let results = probe_records(api.clone(), records, concurrency, None).await;
    let seconds = started.elapsed().as_secs_f64();
    Run {
        calls,
        seconds,
        p50: f64::NAN,
        p99: f64::NAN,
        failures: results.iter().filter(|r| r.answer.is_err()).count(),
    }
}

fn guide_loop(endpoint: &str, id: &str, calls: usize) -> f64 {
    let out = Command::new("python3")
        .args([
            concat!(env!("CARGO_MANIFEST_DIR"), "/benches/guide_loop.py"),
            endpoint,
            id,
            &calls.to_string(),
        ])
        .output()
        .expect("python3 with boto3");
    let parsed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "guide loop failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    parsed["calls_per_second"].as_f64().unwrap_or(f64::NAN)
}

#[tokio::main]
async fn main() {
    let clients: usize = std::env::var("WSDASH_BENCH_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let (gw_port, be_port) = (free_port(), free_port());
    let gw_addr = format!("127.0.0.1:{gw_port}");
    let be_url = format!("http://127.0.0.1:{be_port}");
    let management = format!("http://127.0.0.1:{gw_port}/production");
    let admin = format!("http://127.0.0.1:{gw_port}/_wsdash");
    let gateway = Running::start(
        // The bench measures memory and throughput, not the 500/s handshake quota.
        &[
            "gateway",
            "--listen",
            &gw_addr,
            "--backend",
            &be_url,
            "--no-connect-limit",
        ],
        "backend:",
    );
    let be_addr = format!("127.0.0.1:{be_port}");
    let _backend = Running::start(
        &[
            "backend",
            "--listen",
            &be_addr,
            "--gateway",
            &management,
            "--dev-tokens",
            "--admin-token",
            "b",
        ],
        "admin token:",
    );
    let rss_empty = rss_mb(gateway.pid());

    // Connect the idle clients; each counts what it receives.
    let received = Arc::new(AtomicU64::new(0));
    let connect_started = Instant::now();
    let ws = format!("ws://{gw_addr}/production");
    let mut connecting = futures_util::stream::iter(0..clients)
        .map(|i| {
            let url = format!("{ws}?token=dev:bench-{i}");
            async move { tokio_tungstenite::connect_async(url).await }
        })
        .buffer_unordered(200);
    let mut sockets = 0;
    while let Some(result) = connecting.next().await {
        let (socket, _) = result.expect("connect");
        let received = received.clone();
        tokio::spawn(async move {
            let (_sink, mut stream) = socket.split();
            while let Some(Ok(_)) = stream.next().await {
                received.fetch_add(1, Ordering::Relaxed);
            }
        });
        sockets += 1;
    }
    let connect_seconds = connect_started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_loaded = rss_mb(gateway.pid());
    println!(
        "== emulator benchmark ({} cores) ==",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    println!(
        "connected {sockets} idle clients in {connect_seconds:.2} s ({:.0}/s)",
        sockets as f64 / connect_seconds
    );
    println!("gateway RSS: {rss_empty:.1} MB empty, {rss_loaded:.1} MB with {sockets} clients (budget < 300 MB)");

    let sdk = load_sdk_config(&AwsSettings {
        dummy_credentials: true,
        call_timeout: Some(Duration::from_secs(30)),
        ..AwsSettings::default()
    })
    .await;
    let api: Arc<dyn ManagementApi> = Arc::new(AwsManagementApi::new(&sdk, &management));
    let urls = DemoUrls {
        websocket: ws.clone(),
        management: management.clone(),
        admin: admin.clone(),
    };
    let ids = urls.live_ids().await;
    assert_eq!(ids.len(), sockets, "every client is live");

    // Push to all: one message per client, until every client has it.
    let before = received.load(Ordering::Relaxed);
    let started = Instant::now();
    let all = push_run(&api, &ids, ids.len(), 256).await;
    while received.load(Ordering::Relaxed) - before < ids.len() as u64
        && started.elapsed() < Duration::from_secs(30)
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let delivered_in = started.elapsed().as_secs_f64();
    all.print("push to all clients (concurrency 256)");
    println!("  every client had its message after {delivered_in:.2} s (budget <= 2 s)");

    // The gateway's own CPU per call (user + system of its process across the run), so the
    // figures above are known to measure wsdash rather than the emulator.
    let gateway_cpu = || common::measure::process_cpu_secs(gateway.pid());
    let cpu_before = gateway_cpu();
    let sustained = push_run(&api, &ids, 20_000, 64).await;
    let push_cpu = gateway_cpu() - cpu_before;
    sustained.print("push throughput, loopback (concurrency 64)");
    println!(
        "  the gateway's CPU per relayed push: {:.1} µs",
        push_cpu / sustained.calls as f64 * 1e6
    );
    let cpu_before = gateway_cpu();
    let probes = probe_run(&api, &ids, 20_000, 64).await;
    let probe_cpu = gateway_cpu() - cpu_before;
    probes.print("probe (GetConnection) throughput, loopback");
    println!(
        "  the gateway's CPU per probe: {:.1} µs",
        probe_cpu / probes.calls as f64 * 1e6
    );
    let guide_plain = guide_loop(&management, &ids[0], 2_000);
    println!(
        "{:<46} {:>8.0} calls/s  -> wsdash push is {:.1}x",
        "guide's boto3 loop, loopback",
        guide_plain,
        sustained.rate() / guide_plain
    );

    urls.set_faults(r#"{"latency_ms": 10}"#).await;
    let slow = push_run(&api, &ids, 20_000, 512).await;
    slow.print("push with 10 ms injected latency (conc. 512)");
    let guide_slow = guide_loop(&management, &ids[0], 200);
    println!(
        "{:<46} {:>8.0} calls/s  -> wsdash push is {:.1}x (budget >= 20x)",
        "guide's boto3 loop, 10 ms latency",
        guide_slow,
        slow.rate() / guide_slow
    );
    urls.set_faults(r#"{"latency_ms": 0}"#).await;
}
