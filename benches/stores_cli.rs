//! `wsdash list`, `probe` and `purge --yes` on a PostgreSQL table and on Redis keys, as users
//! run them (the release binary as a process, default configuration), side by side in one run
//! with the script a team would write instead (psycopg or redis-py with boto3, one record at a
//! time and with ThreadPoolExecutor(64)); then the dashboard's first full read of a
//! 1,000,000-row PostgreSQL table (the store's scan, in process, with its memory).
//!
//! Every record is stale: the gateway emulator answers Gone for all of them, so probe and purge
//! do their whole work. The one-at-a-time scripts are timed on `WSDASH_BENCH_LOOP_RECORDS`
//! records (default 10,000: at 100,000 a loop runs for minutes) and their records/s compared.
//!
//! `cargo bench --bench stores_cli` (WSDASH_BENCH_RECORDS, default 100,000;
//! WSDASH_BENCH_BIG_ROWS, default 1,000,000).

// The tests' harness; a bench uses only part of it.
#[allow(dead_code)]
#[path = "../tests/it/common/mod.rs"]
mod common;

use common::postgres::Postgres;
use common::redis::Redis;
use std::process::{Command, Stdio};
use std::time::Instant;

const TABLE: &str = "bench_connections";

fn count(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

enum Store {
    Postgres(Postgres),
    Redis(Redis),
}

impl Store {
    fn name(&self) -> &'static str {
        match self {
            Store::Postgres(_) => "postgres",
            Store::Redis(_) => "redis",
        }
    }

    fn url(&self) -> &str {
        match self {
            Store::Postgres(pg) => &pg.url,
            Store::Redis(redis) => &redis.url,
        }
    }

    /// `records` stale records (connection ids the gateway never issued), replacing any.
    fn seed(&self, runtime: &tokio::runtime::Runtime, records: usize) {
        match self {
            Store::Postgres(pg) => {
                pg.sql(&format!("DROP TABLE IF EXISTS {TABLE}"));
                pg.sql(&format!("CREATE TABLE {TABLE} (connection_id text PRIMARY KEY, user_id text NOT NULL, connected_at timestamptz NOT NULL)"));
                pg.sql(&format!("CREATE INDEX ON {TABLE} (user_id)"));
                pg.sql(&format!(
                    "INSERT INTO {TABLE} SELECT 'B' || lpad(i::text, 14, '0') || '=', 'user-' || i, now() - interval '10 minutes' FROM generate_series(1, {records}) i"
                ));
            }
            Store::Redis(redis) => runtime.block_on(async {
                let client = ::redis::Client::open(redis.url.as_str()).expect("url");
                let mut con = client
                    .get_multiplexed_async_connection()
                    .await
                    .expect("redis");
                let () = ::redis::cmd("FLUSHDB")
                    .query_async(&mut con)
                    .await
                    .expect("flush");
                let at = wsdash::model::iso_millis(
                    time::OffsetDateTime::now_utc() - time::Duration::minutes(10),
                );
                for start in (0..records).step_by(10_000) {
                    let mut pipe = ::redis::pipe();
                    for i in start..(start + 10_000).min(records) {
                        let id = format!("B{i:014}=");
                        let value = serde_json::json!({"user_id": format!("user-{i}"), "connection_id": id, "connected_at": at});
                        pipe.cmd("SET")
                            .arg(format!("ws:{id}"))
                            .arg(value.to_string())
                            .ignore();
                    }
                    let () = pipe.query_async(&mut con).await.expect("seed");
                }
            }),
        }
    }

    fn left(&self, runtime: &tokio::runtime::Runtime) -> usize {
        match self {
            Store::Postgres(pg) => pg
                .sql(&format!("SELECT count(*) FROM {TABLE}"))
                .parse()
                .unwrap_or(usize::MAX),
            Store::Redis(redis) => runtime.block_on(async {
                let client = ::redis::Client::open(redis.url.as_str()).expect("url");
                let mut con = client
                    .get_multiplexed_async_connection()
                    .await
                    .expect("redis");
                ::redis::cmd("DBSIZE")
                    .query_async(&mut con)
                    .await
                    .expect("dbsize")
            }),
        }
    }
}

fn run(mut command: Command) -> Result<f64, String> {
    let started = Instant::now();
    let out = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot start: {e}"))?;
    let secs = started.elapsed().as_secs_f64();
    // probe exits 0 once every record is classified, stale or not; purge once each is handled.
    if !out.status.success() {
        return Err(format!(
            "exit {:?}: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(secs)
}

fn main() {
    let records = count("WSDASH_BENCH_RECORDS", 100_000);
    let loop_records = count("WSDASH_BENCH_LOOP_RECORDS", 10_000).min(records);
    let big = count("WSDASH_BENCH_BIG_ROWS", 1_000_000);
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let demo = common::quiet_demo(&[]);
    let management = demo.demo_urls().management;
    let python = common::django_python();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/stores/cleanup.py");
    let scratch = std::env::temp_dir().join(format!("wsdash-bench-stores-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("scratch dir");

    let wsdash = |store: &Store, action: &str| {
        let mut command = Command::new(common::BIN);
        command.arg(action);
        if action == "purge" {
            command.arg("--yes");
        }
        command
            .args([
                "--output",
                "json",
                "--store-url",
                store.url(),
                "--table",
                TABLE,
            ])
            .args(["--endpoint", &management])
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
    let script_command = |store: &Store, action: &str, mode: &str| {
        let mut command = Command::new(&python);
        command
            .arg(&script)
            .args([store.name(), action, mode, &management, store.url(), TABLE]);
        command
    };

    println!("{records} stale records per store (the gateway emulator answers Gone for all), one run each");
    println!(
        "{:<10} {:<8} {:<40} {:>9} {:>11} {:>9}",
        "store", "command", "contender", "records", "seconds", "records/s"
    );
    for store in [
        Store::Postgres(Postgres::start()),
        Store::Redis(Redis::start()),
    ] {
        for action in ["list", "probe", "purge"] {
            let mut rates: Vec<(&str, f64)> = Vec::new();
            let contenders: Vec<(&str, usize, Command)> = vec![
                ("wsdash (default)", records, wsdash(&store, action)),
                (
                    "python + boto3, ThreadPoolExecutor(64)",
                    records,
                    script_command(&store, action, "pool"),
                ),
                (
                    "python + boto3, one at a time",
                    if action == "list" {
                        records
                    } else {
                        loop_records
                    },
                    script_command(&store, action, "loop"),
                ),
            ];
            for (name, n, command) in contenders {
                if action == "list" && name.contains("ThreadPool") {
                    continue; // reading has no per-record calls to spread over threads
                }
                store.seed(&runtime, n);
                match run(command) {
                    Ok(secs) => {
                        let rate = n as f64 / secs;
                        rates.push((name, rate));
                        let left = if action == "purge" {
                            format!("  ({} left)", store.left(&runtime))
                        } else {
                            String::new()
                        };
                        println!(
                            "{:<10} {:<8} {name:<40} {n:>9} {secs:>11.3} {rate:>9.0}{left}",
                            store.name(),
                            action
                        );
                    }
                    Err(e) => println!("{:<10} {action:<8} {name:<40} failed: {e}", store.name()),
                }
            }
            if let Some((_, ours)) = rates.iter().find(|(n, _)| n.starts_with("wsdash")) {
                let ratios: Vec<String> = rates
                    .iter()
                    .filter(|(n, _)| !n.starts_with("wsdash"))
                    .map(|(n, r)| format!("{:.1}x {n}", ours / r))
                    .collect();
                // DESIGN.md §6 (issue 26): a PostgreSQL purge at ≥ 5x the psycopg loop.
                let budget = match (&store, action) {
                    (Store::Postgres(_), "purge") => rates
                        .iter()
                        .find(|(n, _)| n.contains("one at a time"))
                        .map(|(_, r)| {
                            let met = ours / r >= 5.0;
                            format!(
                                " (budget ≥ 5x the loop: {})",
                                if met { "met" } else { "NOT MET" }
                            )
                        })
                        .unwrap_or_default(),
                    _ => String::new(),
                };
                println!(
                    "{:<10} {action:<8} wsdash: {}{budget}",
                    store.name(),
                    ratios.join(", ")
                );
            }
        }
        if let Store::Postgres(pg) = &store {
            // The dashboard's first full read: the store's keyset-paged scan, in process.
            store.seed(&runtime, big);
            pg.sql(&format!("VACUUM ANALYZE {TABLE}"));
            let before = common::measure::rss_mb(std::process::id());
            let (secs, rows) = runtime.block_on(async {
                let names = wsdash::store::schema::SchemaOverrides::default();
                let opened =
                    wsdash::store::postgres::PostgresStore::connect(&pg.url, TABLE, &names)
                        .await
                        .expect("connect");
                use wsdash::store::ConnectionStore;
                let started = Instant::now();
                let snapshot = opened.scan().await.expect("scan");
                (started.elapsed().as_secs_f64(), snapshot.records.len())
            });
            let after = common::measure::rss_mb(std::process::id());
            println!(
                "postgres   first full read of {rows} rows (the dashboard's scan): {secs:.2} s, {:.0} rows/s, process RSS {before:.0} -> {after:.0} MB",
                rows as f64 / secs
            );
        }
    }
    std::fs::remove_dir_all(&scratch).ok();
}
