//! `wsdash push` as users run it: the release binary as a process, its default configuration
//! for a local endpoint, to 2,000 live connections on the emulator with 10 ms injected latency,
//! side by side in one run with what a team would use instead:
//!
//! - the guide's loop (§3.2): boto3 `post_to_connection`, one call at a time;
//! - boto3 with `ThreadPoolExecutor(64)` and one shared client;
//! - the AWS SDK for JavaScript v3 with `Promise.all` over batches of 64.
//!
//! Every contender is timed as a whole process (start to exit), as its user would wait for it,
//! and must deliver all 2,000 messages. `cargo bench --bench push_cli`
//! (WSDASH_BENCH_CONNECTIONS, WSDASH_BENCH_LATENCY_MS and WSDASH_BENCH_ROUNDS change the setup).

// The tests' harness; a bench uses only part of it.
#[allow(dead_code)]
#[path = "../tests/it/common/mod.rs"]
mod common;

use futures_util::StreamExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `wsdash push` of a heartbeat to every id, as a user without a config file runs it.
fn wsdash_push(
    management: &str,
    ids: &[String],
    audit: &std::path::Path,
    scratch: &std::path::Path,
) -> Command {
    let mut command = Command::new(common::BIN);
    command
        .args([
            "push",
            "--endpoint",
            management,
            "--type",
            "heartbeat",
            "--output",
            "json",
        ])
        .arg("--audit-log")
        .arg(audit)
        .args(ids.iter().flat_map(|id| ["--connection", id.as_str()]))
        .env("XDG_CONFIG_HOME", scratch.join("no-config"))
        .env("AWS_ACCESS_KEY_ID", "bench")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_REGION", "us-east-1");
    command
}

/// `push_boto3.py MODE` (the guide's loop or a thread pool) to every id in `ids_file`.
fn boto3_push(
    bench_dir: &std::path::Path,
    mode: &str,
    management: &str,
    ids_file: &std::path::Path,
) -> Command {
    let mut command = Command::new("python3");
    command.arg(bench_dir.join("push_boto3.py")).args([
        mode,
        management,
        ids_file.to_str().expect("path"),
    ]);
    command
}

/// `push_js.mjs` (the JS SDK v3, `Promise.all` over 64) to every id in `ids_file`.
fn js_sdk_push(
    bench_dir: &std::path::Path,
    management: &str,
    ids_file: &std::path::Path,
) -> Command {
    let mut command = Command::new("node");
    command
        .arg(bench_dir.join("push_js.mjs"))
        .args([management, ids_file.to_str().expect("path")])
        .current_dir(bench_dir);
    command
}

struct Contender {
    name: &'static str,
    command: Command,
}

/// One run's wall time and CPU time (user + system of the process and its children).
#[derive(Clone, Copy)]
struct Timing {
    wall: Duration,
    cpu_secs: f64,
    /// What the run cost the emulator (the demo process answering every call).
    emulator_cpu_secs: f64,
}

/// Wall and CPU time of one run, and whether every message was delivered.
fn run(contender: &mut Contender, expected: usize, emulator: u32) -> Result<Timing, String> {
    let cpu_before = common::measure::children_cpu_secs();
    let emulator_before = common::measure::process_cpu_secs(emulator);
    let started = Instant::now();
    let out = contender
        .command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot start: {e}"))?;
    let elapsed = started.elapsed();
    let cpu_secs = common::measure::children_cpu_secs() - cpu_before;
    let emulator_cpu_secs = common::measure::process_cpu_secs(emulator) - emulator_before;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "exit {:?}: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let report: serde_json::Value = serde_json::from_str(stdout.trim())
        .map_err(|e| format!("unreadable output ({e}): {stdout}"))?;
    let delivered = match report.get("outcomes") {
        // wsdash: one outcome per connection.
        Some(outcomes) => outcomes
            .as_array()
            .map(|a| a.iter().filter(|o| o["class"] == "delivered").count())
            .unwrap_or(0),
        None => report["delivered"].as_u64().unwrap_or(0) as usize,
    };
    if delivered != expected {
        return Err(format!("delivered {delivered} of {expected}"));
    }
    Ok(Timing {
        wall: elapsed,
        cpu_secs,
        emulator_cpu_secs,
    })
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "NOT MET"
    }
}

/// DESIGN.md §6: one core drives the account's whole quota (10,000 calls/s).
const CPU_BUDGET_PER_CALL_US: f64 = 60.0;

fn js_sdk_ready(dir: &std::path::Path) -> Result<(), String> {
    if dir
        .join("node_modules/@aws-sdk/client-apigatewaymanagementapi")
        .exists()
    {
        return Ok(());
    }
    eprintln!("installing @aws-sdk/client-apigatewaymanagementapi (npm) for the JS contender…");
    let status = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--silent"])
        .current_dir(dir)
        .status()
        .map_err(|e| format!("npm: {e}"))?;
    status
        .success()
        .then_some(())
        .ok_or_else(|| format!("npm install failed: {status}"))
}

fn main() {
    let connections = setting("WSDASH_BENCH_CONNECTIONS", 2_000) as usize;
    let latency_ms = setting("WSDASH_BENCH_LATENCY_MS", 10);
    let rounds = setting("WSDASH_BENCH_ROUNDS", 3) as usize;
    let bench_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/push");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");

    let demo = common::quiet_demo(&[]);
    let urls = demo.demo_urls();
    let management = urls.management.clone();

    // The live connections: real WebSocket clients that read what they are sent.
    let ids: Vec<String> = runtime.block_on(async {
        let users: Vec<String> = (0..connections).map(|n| format!("bench-{n}")).collect();
        let users: Vec<&str> = users.iter().map(String::as_str).collect();
        for socket in urls.connect(&users).await {
            tokio::spawn(async move {
                let (_, mut read) = socket.split();
                while let Some(Ok(_)) = read.next().await {}
            });
        }
        urls.set_faults(&format!("{{\"latency_ms\": {latency_ms}}}"))
            .await;
        urls.live_ids().await
    });
    assert_eq!(ids.len(), connections, "every client is connected");
    let scratch = std::env::temp_dir().join(format!("wsdash-bench-push-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    let ids_file = scratch.join("ids.txt");
    std::fs::write(&ids_file, ids.join("\n")).expect("ids file");

    // What a user gets by default: no config file, no --rate.
    let mut wsdash = wsdash_push(&management, &ids, &scratch.join("audit.jsonl"), &scratch);
    wsdash.stderr(Stdio::piped());
    let python = |mode: &str| boto3_push(&bench_dir, mode, &management, &ids_file);
    let mut contenders = vec![
        Contender {
            name: "wsdash push (default)",
            command: wsdash,
        },
        Contender {
            name: "boto3 ThreadPoolExecutor(64)",
            command: python("pool"),
        },
    ];
    match js_sdk_ready(&bench_dir) {
        Ok(()) => {
            contenders.push(Contender {
                name: "JS SDK v3 Promise.all(64)",
                command: js_sdk_push(&bench_dir, &management, &ids_file),
            });
        }
        Err(e) => eprintln!("skipping the JS SDK contender: {e}"),
    }
    contenders.push(Contender {
        name: "the guide's boto3 loop",
        command: python("loop"),
    });

    println!(
        "push to {connections} live connections, {latency_ms} ms latency per call, best of {rounds} (the guide's loop: 1 run)"
    );
    println!(
        "{:<30} {:>10} {:>12} {:>14} {:>16} {:>20}",
        "contender",
        "seconds",
        "calls/s",
        "CPU µs/call",
        "calls/s per core",
        "emulator CPU µs/call"
    );
    println!("(seconds and CPU: the fastest round; the emulator's CPU: the mean over all rounds)");
    let mut results: Vec<(&'static str, f64)> = Vec::new();
    let mut our_cpu_per_call = None;
    for contender in &mut contenders {
        let tries = if contender.name.contains("loop") {
            1
        } else {
            rounds.max(1)
        };
        let mut best: Option<Timing> = None;
        // The emulator's CPU over every round: its clock counts in 10 ms ticks, a few ticks a
        // round.
        let (mut emulator_cpu_secs, mut runs) = (0.0, 0);
        for _ in 0..tries {
            match run(contender, connections, demo.pid()) {
                Ok(t) => {
                    emulator_cpu_secs += t.emulator_cpu_secs;
                    runs += 1;
                    best = Some(best.filter(|b| b.wall <= t.wall).unwrap_or(t));
                }
                Err(e) => {
                    eprintln!("{}: {e}", contender.name);
                    break;
                }
            }
        }
        if let Some(best) = best {
            let secs = best.wall.as_secs_f64();
            let cpu_per_call_us = best.cpu_secs / connections as f64 * 1e6;
            println!(
                "{:<30} {:>10.3} {:>12.0} {:>14.1} {:>16.0} {:>20.1}",
                contender.name,
                secs,
                connections as f64 / secs,
                cpu_per_call_us,
                1e6 / cpu_per_call_us,
                emulator_cpu_secs / (runs * connections) as f64 * 1e6
            );
            if contender.name.starts_with("wsdash") {
                our_cpu_per_call = Some(cpu_per_call_us);
            }
            results.push((contender.name, secs));
        }
    }
    let time_of = |name: &str| {
        results
            .iter()
            .find(|(n, _)| n.starts_with(name))
            .map(|r| r.1)
    };
    if let Some(ours) = time_of("wsdash") {
        let others: Vec<&(&str, f64)> = results
            .iter()
            .filter(|(n, _)| !n.starts_with("wsdash"))
            .collect();
        if let Some((fastest, secs)) = others
            .iter()
            .filter(|(n, _)| !n.contains("loop"))
            .min_by(|a, b| a.1.total_cmp(&b.1))
        {
            let ratio = secs / ours;
            println!(
                "wsdash vs the fastest alternative ({fastest}): {ratio:.1}x (budget ≥ 10x: {})",
                verdict(ratio >= 10.0)
            );
        }
        if let Some(loop_secs) = time_of("the guide") {
            let ratio = loop_secs / ours;
            println!(
                "wsdash vs the guide's loop: {ratio:.1}x (budget ≥ 100x: {})",
                verdict(ratio >= 100.0)
            );
        }
    }
    if let Some(cpu) = our_cpu_per_call {
        println!(
            "wsdash CPU per call, process start and output included: {cpu:.1} µs (budget ≤ {CPU_BUDGET_PER_CALL_US:.0} µs: {})",
            verdict(cpu <= CPU_BUDGET_PER_CALL_US)
        );
    }

    one_message(&management, &ids[0], &bench_dir, &scratch, demo.pid());
    throttled_ceiling(&runtime, &urls, &ids, &scratch);
    std::fs::remove_dir_all(&scratch).ok();
}

/// One message, process start to exit: what a script or an alert hook pays per call. Each
/// contender 15 times; the median wall time and the mean CPU.
fn one_message(
    management: &str,
    id: &str,
    bench_dir: &std::path::Path,
    scratch: &std::path::Path,
    emulator: u32,
) {
    const RUNS: usize = 15;
    let id_file = scratch.join("one-id.txt");
    std::fs::write(&id_file, id).expect("id file");
    let mut wsdash = wsdash_push(
        management,
        &[id.to_string()],
        &scratch.join("one.jsonl"),
        scratch,
    );
    wsdash.stderr(Stdio::null());
    let mut contenders = vec![
        Contender {
            name: "wsdash push (default)",
            command: wsdash,
        },
        Contender {
            name: "boto3",
            command: boto3_push(bench_dir, "loop", management, &id_file),
        },
    ];
    if js_sdk_ready(bench_dir).is_ok() {
        contenders.push(Contender {
            name: "JS SDK v3",
            command: js_sdk_push(bench_dir, management, &id_file),
        });
    }
    println!("one message, process start to exit ({RUNS} runs each: median wall, mean CPU)");
    for contender in &mut contenders {
        let mut walls = Vec::new();
        let mut cpu = 0.0;
        for _ in 0..RUNS {
            match run(contender, 1, emulator) {
                Ok(t) => {
                    walls.push(t.wall.as_secs_f64() * 1000.0);
                    cpu += t.cpu_secs;
                }
                Err(e) => {
                    eprintln!("{}: {e}", contender.name);
                    break;
                }
            }
        }
        if !walls.is_empty() {
            println!(
                "  {:<28} {:>8.1} ms wall {:>8.1} ms CPU",
                contender.name,
                common::measure::percentile(&mut walls, 0.5),
                cpu / walls.len() as f64 * 1000.0
            );
        }
    }
}

/// `wsdash push --rate 1000` while the emulator answers 20% of calls with 429: every message
/// must be delivered, and the emulator must never see more than the ceiling in any second
/// (sampled from its own counters every 25 ms).
fn throttled_ceiling(
    runtime: &tokio::runtime::Runtime,
    urls: &common::DemoUrls,
    ids: &[String],
    scratch: &std::path::Path,
) {
    const CEILING: f64 = 1000.0;
    let (admin, management) = (urls.admin.as_str(), urls.management.as_str());
    let client = reqwest::Client::new();
    let total_calls = |stats: &serde_json::Value| -> u64 {
        stats["post_to_connection"]
            .as_object()
            .map(|o| o.values().filter_map(|v| v.as_u64()).sum())
            .unwrap_or(0)
    };
    runtime.block_on(urls.set_faults(r#"{"throttle": 0.2}"#));
    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let (client, admin, sampling) = (client.clone(), admin.to_string(), sampling.clone());
        runtime.spawn(async move {
            let mut samples = Vec::new();
            while sampling.load(std::sync::atomic::Ordering::SeqCst) {
                if let Ok(response) = client.get(format!("{admin}/stats")).send().await {
                    if let Ok(stats) = response.json::<serde_json::Value>().await {
                        samples.push((Instant::now(), total_calls(&stats)));
                    }
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            samples
        })
    };
    let started = Instant::now();
    let out = wsdash_push(
        management,
        ids,
        &scratch.join("audit-throttled.jsonl"),
        scratch,
    )
    .args(["--rate", "1000"])
    .output()
    .expect("push");
    let elapsed = started.elapsed();
    sampling.store(false, std::sync::atomic::Ordering::SeqCst);
    let samples = runtime.block_on(sampler).expect("sampler");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let delivered = report["outcomes"]
        .as_array()
        .map(|a| a.iter().filter(|o| o["class"] == "delivered").count())
        .unwrap_or(0);
    // The most calls the emulator saw in any one-second window.
    let mut busiest = 0;
    for (i, (t0, c0)) in samples.iter().enumerate() {
        if let Some((_, c1)) = samples[i..]
            .iter()
            .take_while(|(t, _)| t.duration_since(*t0) <= Duration::from_secs(1))
            .last()
        {
            busiest = busiest.max(c1 - c0);
        }
    }
    println!();
    println!(
        "push --rate 1000 with 20% of calls answered 429: {delivered} of {} delivered in {:.2} s; busiest second at the emulator: {busiest} calls (ceiling {CEILING:.0})",
        ids.len(),
        elapsed.as_secs_f64()
    );
    if delivered != ids.len() || busiest as f64 > CEILING * 1.05 {
        eprintln!(
            "FAILED: every message must be delivered and no second may exceed the ceiling\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::process::exit(1);
    }
}
