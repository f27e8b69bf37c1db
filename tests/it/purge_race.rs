//! The purge race at scale, with real parts only: moto's DynamoDB or a PostgreSQL server,
//! `wsdash gateway`, `wsdash backend --store dynamodb|postgres` and a swarm of real WebSocket
//! clients. While `wsdash purge --yes`
//! runs over 2,000 records (half of them dead), live users reconnect and dead users come back.
//! Over every run: no live user's record is deleted, every delete is in the audit log with its
//! result, and `restore` can put every deleted record back. Some runs end with SIGINT or SIGTERM
//! at a random moment among the deletes.

use crate::common;
use crate::common::tools::Tool;

use crate::common::dynamo::{create_table, dynamo, put_many, s};
use crate::common::postgres::Postgres;
use crate::common::redis::Redis;
use crate::common::{free_port, Moto, Running};
use aws_sdk_dynamodb::types::AttributeValue;
use rand::seq::IndexedRandom;
use rand::Rng;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

const LIVE: usize = 1_000;
const DEAD: usize = 1_000;
const TABLE: &str = "race";

struct System {
    _gateway: Running,
    _backend: Running,
    websocket: String,
    management: String,
}

/// Where the records live: moto's DynamoDB, or a PostgreSQL server with the table the
/// reference backend writes (one row per connection, an index on the user).
enum Backing {
    Dynamo {
        moto: Moto,
        client: aws_sdk_dynamodb::Client,
    },
    Postgres(Postgres),
    /// The reference backend's layout: a JSON string per connection under `ws:{connection_id}`.
    Redis(Redis),
}

/// Every `ws:*` key's record, as JSON.
async fn redis_records(redis: &Redis) -> Vec<(String, serde_json::Value)> {
    let client = ::redis::Client::open(redis.url.as_str()).expect("redis url");
    let mut con = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis connection");
    let mut keys: Vec<String> = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, page): (u64, Vec<String>) = ::redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg("ws:*")
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut con)
            .await
            .expect("scan");
        keys.extend(page);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    keys.sort();
    keys.dedup();
    let mut out = Vec::new();
    for chunk in keys.chunks(500) {
        let values: Vec<Option<String>> = ::redis::cmd("MGET")
            .arg(chunk)
            .query_async(&mut con)
            .await
            .expect("mget");
        for (key, value) in chunk.iter().zip(values) {
            if let Some(value) = value.and_then(|v| serde_json::from_str(&v).ok()) {
                out.push((key.clone(), value));
            }
        }
    }
    out
}

async fn redis_command(redis: &Redis, command: &mut ::redis::Pipeline) {
    let client = ::redis::Client::open(redis.url.as_str()).expect("redis url");
    let mut con = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis connection");
    let () = command.query_async(&mut con).await.expect("redis pipeline");
}

impl Backing {
    /// The environment's schema keys for this store (TOML), shared by the backend and wsdash.
    fn schema(&self) -> &'static str {
        match self {
            // A set per user, as such backends keep one: restore finds a user's newer record.
            Backing::Redis(_) => "[env.race.schema]\nuser_set = \"user:{user_id}:connections\"",
            _ => "",
        }
    }

    fn redis() -> Backing {
        Backing::Redis(Redis::start())
    }

    async fn dynamo() -> Backing {
        let moto = Moto::start();
        let client = dynamo(&moto).await;
        create_table(&client, TABLE, "user_id", Some("connection_id")).await;
        Backing::Dynamo { moto, client }
    }

    fn postgres() -> Backing {
        let pg = Postgres::start();
        pg.sql(&format!("CREATE TABLE {TABLE} (connection_id text PRIMARY KEY, user_id text NOT NULL, connected_at timestamptz NOT NULL)"));
        pg.sql(&format!("CREATE INDEX ON {TABLE} (user_id)"));
        Backing::Postgres(pg)
    }

    /// `wsdash args...` against this store, not started.
    fn command(&self, args: &[&str]) -> std::process::Command {
        match self {
            Backing::Dynamo { moto, .. } => common::wsdash_command(args, moto),
            Backing::Postgres(Postgres { url, .. }) | Backing::Redis(Redis { url, .. }) => {
                let mut command = std::process::Command::new(common::BIN);
                command
                    .args(args)
                    .args(["--store-url", url])
                    .env("AWS_REGION", "us-east-1")
                    .env("AWS_ACCESS_KEY_ID", "test")
                    .env("AWS_SECRET_ACCESS_KEY", "test")
                    .env("XDG_CONFIG_HOME", "/nonexistent/wsdash-test-config")
                    .env_remove("WSDASH_CONFIG")
                    .env_remove("WSDASH_ENV")
                    .env("WSDASH_LOG", "warn")
                    .stdin(std::process::Stdio::null())
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped());
                command
            }
        }
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.command(args).output().expect("run wsdash");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    }

    /// The backend's store flags and environment.
    fn backend(&self) -> (Vec<String>, Vec<(String, String)>) {
        match self {
            Backing::Dynamo { moto, .. } => (
                vec!["--store".into(), "dynamodb".into()],
                vec![
                    ("AWS_ENDPOINT_URL_DYNAMODB".into(), moto.url.clone()),
                    ("AWS_REGION".into(), "us-east-1".into()),
                    ("AWS_ACCESS_KEY_ID".into(), "test".into()),
                    ("AWS_SECRET_ACCESS_KEY".into(), "test".into()),
                ],
            ),
            Backing::Postgres(Postgres { url, .. }) | Backing::Redis(Redis { url, .. }) => (
                vec![
                    "--store".into(),
                    if matches!(self, Backing::Redis(_)) {
                        "redis".into()
                    } else {
                        "postgres".into()
                    },
                    "--store-url".into(),
                    url.clone(),
                ],
                vec![
                    ("AWS_REGION".into(), "us-east-1".into()),
                    ("AWS_ACCESS_KEY_ID".into(), "test".into()),
                    ("AWS_SECRET_ACCESS_KEY".into(), "test".into()),
                ],
            ),
        }
    }

    /// user → connection id, as stored (a user with several rows: any one).
    async fn rows(&self) -> HashMap<String, String> {
        match self {
            Backing::Dynamo { client, .. } => table(client).await,
            Backing::Postgres(pg) => pg
                .sql(&format!("SELECT user_id, connection_id FROM {TABLE}"))
                .lines()
                .filter_map(|l| l.split_once('|'))
                .map(|(u, c)| (u.to_string(), c.to_string()))
                .collect(),
            Backing::Redis(redis) => redis_records(redis)
                .await
                .into_iter()
                .filter_map(|(_, v)| {
                    Some((
                        v["user_id"].as_str()?.to_string(),
                        v["connection_id"].as_str()?.to_string(),
                    ))
                })
                .collect(),
        }
    }

    /// `DEAD` records of users whose connections the gateway never had (410 Gone).
    async fn add_dead(&self, run: usize) {
        match self {
            Backing::Dynamo { client, .. } => put_many(client, TABLE, &dead_items(run)).await,
            Backing::Postgres(pg) => {
                pg.sql(&format!(
                "INSERT INTO {TABLE} SELECT 'GONE' || lpad('{run}', 2, '0') || lpad(i::text, 9, '0') || '=', 'dead-{run}-' || lpad(i::text, 4, '0'), now() - interval '20 minutes' FROM generate_series(0, {}) i",
                DEAD - 1
            ));
            }
            Backing::Redis(redis) => {
                let mut pipe = ::redis::pipe();
                for item in dead_items(run) {
                    let text = |name: &str| match item.get(name) {
                        Some(AttributeValue::S(v)) => v.clone(),
                        _ => String::new(),
                    };
                    let value = serde_json::json!({
                        "user_id": text("user_id"),
                        "connection_id": text("connection_id"),
                        "connected_at": text("connected_at"),
                    });
                    pipe.cmd("SET")
                        .arg(format!("ws:{}", text("connection_id")))
                        .arg(value.to_string())
                        .ignore();
                    // In the user's set too, as the backend keeps them.
                    pipe.cmd("SADD")
                        .arg(format!("user:{}:connections", text("user_id")))
                        .arg(text("connection_id"))
                        .ignore();
                }
                redis_command(redis, &mut pipe).await;
            }
        }
    }

    async fn remove_users(&self, prefix: &str) {
        match self {
            Backing::Dynamo { client, .. } => {
                let leftovers: Vec<String> = table(client)
                    .await
                    .into_keys()
                    .filter(|u| u.starts_with(prefix))
                    .collect();
                for chunk in leftovers.chunks(25) {
                    let requests = chunk
                        .iter()
                        .map(|user| {
                            aws_sdk_dynamodb::types::WriteRequest::builder()
                                .delete_request(
                                    aws_sdk_dynamodb::types::DeleteRequest::builder()
                                        .key("user_id", s(user))
                                        .build()
                                        .expect("delete request"),
                                )
                                .build()
                        })
                        .collect();
                    client
                        .batch_write_item()
                        .request_items(TABLE, requests)
                        .send()
                        .await
                        .expect("cleanup");
                }
            }
            Backing::Postgres(pg) => {
                pg.sql(&format!(
                    "DELETE FROM {TABLE} WHERE user_id LIKE '{prefix}%'"
                ));
            }
            Backing::Redis(redis) => {
                let mut pipe = ::redis::pipe();
                for (key, value) in redis_records(redis).await {
                    if value["user_id"]
                        .as_str()
                        .is_some_and(|u| u.starts_with(prefix))
                    {
                        pipe.cmd("DEL").arg(key).ignore();
                    }
                }
                redis_command(redis, &mut pipe).await;
            }
        }
    }
}

fn start_system(backing: &Backing, config: &std::path::Path) -> System {
    let (gw_port, be_port) = (free_port(), free_port());
    let gw_addr = format!("127.0.0.1:{gw_port}");
    let be_url = format!("http://127.0.0.1:{be_port}");
    let gateway = Running::start(
        &["gateway", "--listen", &gw_addr, "--backend", &be_url],
        "backend:",
    );
    let management = gateway.value("management endpoint:");
    let be_addr = format!("127.0.0.1:{be_port}");
    let (store_args, env) = backing.backend();
    let config = config.to_str().expect("path");
    let mut args: Vec<&str> = vec![
        "backend",
        "--config",
        config,
        "--listen",
        &be_addr,
        "--gateway",
        &management,
        "--dev-tokens",
        "--admin-token",
        "race-admin",
        "--table",
        TABLE,
    ];
    args.extend(store_args.iter().map(String::as_str));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let backend = Running::start_with_env(&args, "admin token:", &env);
    System {
        websocket: gateway.value("websocket:"),
        management,
        _gateway: gateway,
        _backend: backend,
    }
}

/// Connect as `user`; API Gateway calls $connect (so the backend stores the record) before the
/// handshake completes.
async fn connect(system: &System, user: &str) -> Socket {
    let url = format!("{}?token=dev:{user}", system.websocket);
    for _ in 0..50 {
        if let Ok((socket, _)) = tokio_tungstenite::connect_async(&url).await {
            return socket;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("cannot connect as {user}");
}

/// user → connection id, as stored.
async fn table(client: &aws_sdk_dynamodb::Client) -> HashMap<String, String> {
    let mut rows = HashMap::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name(TABLE)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan");
        for item in page.items() {
            if let (Some(AttributeValue::S(u)), Some(AttributeValue::S(c))) =
                (item.get("user_id"), item.get("connection_id"))
            {
                rows.insert(u.clone(), c.clone());
            }
        }
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            return rows;
        }
    }
}

/// Connections per user, as the swarm holds them.
struct Swarm {
    sockets: BTreeMap<String, Socket>,
}

impl Swarm {
    async fn reconnect(&mut self, system: &System, user: &str) {
        if let Some(mut old) = self.sockets.remove(user) {
            let _ = old.close(None).await;
        }
        let socket = connect(system, user).await;
        self.sockets.insert(user.to_string(), socket);
    }
}

fn dead_items(run: usize) -> Vec<HashMap<String, AttributeValue>> {
    let at = time::OffsetDateTime::now_utc() - time::Duration::minutes(20);
    let at = wsdash::model::iso_millis(at);
    (0..DEAD)
        .map(|i| {
            HashMap::from([
                ("user_id".to_string(), s(&format!("dead-{run}-{i:04}"))),
                // No such connection: the gateway answers 410 Gone.
                (
                    "connection_id".to_string(),
                    s(&format!("GONE{run:02}{i:09}=")),
                ),
                ("connected_at".to_string(), s(&at)),
            ])
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_racing_reconnects_and_revivals_never_deletes_a_live_record() {
    crate::needs!(Tool::Moto);
    race(Backing::dynamo().await, 10).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_too_a_racing_purge_never_deletes_a_live_row() {
    crate::needs!(Tool::Postgres);
    race(Backing::postgres(), 6).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_redis_too_a_racing_purge_never_deletes_a_live_key() {
    crate::needs!(Tool::RedisServer);
    race(Backing::redis(), 6).await;
}

/// One race at a time: each holds 1,000 client sockets (and the emulator as many), and two at
/// once on a 2-core machine measure the machine, not wsdash.
static ONE_RACE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `runs` purges over the same live users: the first 60% run to the end, the rest are stopped
/// by SIGINT or SIGTERM among the deletes.
async fn race(backing: Backing, runs: usize) {
    let _alone = ONE_RACE_AT_A_TIME.lock().await;
    let dir = std::env::temp_dir().join(format!("wsdash-race-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = common::env_config(
        &dir,
        "race",
        &format!("probe_concurrency = 32\n{}", backing.schema()),
    );
    let system = start_system(&backing, &config);
    let sdk = wsdash::aws_env::load_sdk_config(&wsdash::aws_env::AwsSettings {
        dummy_credentials: true,
        region: Some("us-east-1".into()),
        ..Default::default()
    })
    .await;
    let management = wsdash::management::AwsManagementApi::new(&sdk, &system.management);
    use wsdash::management::ManagementApi;

    let mut swarm = Swarm {
        sockets: BTreeMap::new(),
    };
    let live_users: Vec<String> = (0..LIVE).map(|i| format!("live-{i:04}")).collect();
    for user in &live_users {
        swarm.reconnect(&system, user).await;
    }
    assert_eq!(
        backing.rows().await.len(),
        LIVE,
        "the backend stored every live user"
    );

    let to_the_end = runs * 6 / 10;
    for run in 0..runs {
        let signal = match run {
            r if r < to_the_end => None,
            _ if run % 2 == 0 => Some("INT"),
            _ => Some("TERM"),
        };
        backing.add_dead(run).await;
        let audit = dir.join(format!("audit-{run}.jsonl"));
        let audit_path = audit.to_str().expect("path").to_string();
        let mut purge = backing
            .command(&[
                "purge",
                "--yes",
                "--table",
                TABLE,
                "--endpoint",
                &system.management,
                "--audit-log",
                &audit_path,
                "--config",
                config.to_str().expect("path"),
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("start purge");

        // The churn: live users reconnect, dead users come back, until the purge ends.
        let dead_users: Vec<String> = (0..DEAD).map(|i| format!("dead-{run}-{i:04}")).collect();
        let mut revived = Vec::new();
        let strike_after = rand::rng().random_range(20..DEAD / 2) as usize;
        let mut struck = false;
        let deadline = Instant::now() + Duration::from_secs(300);
        let started = Instant::now();
        let status = loop {
            if let Some(status) = purge.try_wait().expect("wait") {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "run {run}: the purge did not end"
            );
            let (user, revive) = {
                let mut rng = rand::rng();
                if rng.random_bool(0.3) {
                    (dead_users.choose(&mut rng).cloned().expect("dead"), true)
                } else {
                    (live_users.choose(&mut rng).cloned().expect("live"), false)
                }
            };
            swarm.reconnect(&system, &user).await;
            if revive {
                revived.push(user);
            }
            if let (Some(signal), false) = (signal, struck) {
                let intents = std::fs::read_to_string(&audit)
                    .map(|t| t.matches("\"phase\":\"intent\"").count())
                    .unwrap_or(0);
                if intents >= strike_after {
                    let _ = std::process::Command::new("kill")
                        .args([&format!("-{signal}"), &purge.id().to_string()])
                        .status();
                    struck = true;
                }
            }
        };
        match signal {
            Some(_) if struck => assert!(
                status.code() == Some(130) || status.success(),
                "run {run}: {status:?}"
            ),
            _ => assert!(
                status.success() || status.code() == Some(1),
                "run {run}: {status:?}"
            ),
        }

        eprintln!(
            "run {run}: purge {:?} ({status:?}), {} reconnects",
            started.elapsed(),
            revived.len()
        );
        let checked = Instant::now();
        // 1. No live record deleted: every open socket's user holds a record, and that
        // record's connection is open (GetConnection through the CLI would say live).
        let connected: Vec<String> = swarm.sockets.keys().cloned().collect();
        let stored = backing.rows().await;
        let missing: Vec<&String> = connected
            .iter()
            .filter(|u| !stored.contains_key(*u))
            .collect();
        assert!(
            missing.is_empty(),
            "run {run}: {} connected user(s) lost their record, e.g. {:?}",
            missing.len(),
            &missing[..missing.len().min(5)]
        );

        // 2. Every delete is in the audit log, with its item and its result.
        let (intents, results) = common::audit_deletes(&audit);
        assert_eq!(
            intents.len(),
            results.len(),
            "run {run}: every started delete has its result"
        );
        assert!(
            intents.iter().all(|e| e.item.is_some()),
            "run {run}: an intent without its item"
        );
        let deleted: Vec<(String, String)> = results
            .iter()
            .filter(|e| e.outcome.as_deref() == Some("deleted"))
            .filter_map(|e| {
                e.record
                    .as_ref()
                    .map(|r| (r.user_id.clone(), r.connection_id.clone()))
            })
            .collect();
        assert!(!deleted.is_empty(), "run {run}: the purge deleted nothing");
        // A live user's record may be deleted only when it was stale at that moment (the user
        // had just closed that socket to reconnect): its connection must be Gone now.
        for (user, id) in deleted
            .iter()
            .filter(|(u, _)| !u.starts_with(&format!("dead-{run}-")))
        {
            assert_eq!(
                management.get_connection(id).await.err(),
                Some(wsdash::management::GatewayError::Gone),
                "run {run}: {user}'s record {id} was deleted while its connection is open"
            );
        }

        // 3. Restore can put every deleted record back (never over a revived user's record).
        let (code, out, err) = backing.run(&[
            "restore",
            &audit_path,
            "--config",
            config.to_str().expect("path"),
            "--table",
            TABLE,
            "--output",
            "json",
            "--audit-log",
            dir.join("restore.jsonl").to_str().expect("path"),
        ]);
        assert_eq!(code, 0, "run {run}: restore: {err}\n{out}");
        let report: serde_json::Value = serde_json::from_str(&out).expect("restore json");
        let count = |key: &str| report[key].as_array().map(Vec::len).unwrap_or(0);
        assert_eq!(count("failed"), 0, "run {run}: {out}");
        assert_eq!(
            count("restored")
                + count("restored_unconfirmed")
                + count("skipped_newer_exists")
                + count("already_present"),
            deleted.len(),
            "run {run}: {out}"
        );
        let after = backing.rows().await;
        assert!(
            connected.iter().all(|u| after.contains_key(u)),
            "run {run}: a live record is missing after restore"
        );
        for user in &revived {
            // A revived user's record is the new connection, not the restored dead one.
            assert!(
                !after[user].starts_with("GONE"),
                "run {run}: restore overwrote {user}'s new record"
            );
        }

        eprintln!("run {run}: checks and restore {:?}", checked.elapsed());
        // Clean up this run's dead records and revived sockets before the next run.
        for user in revived {
            if let Some(mut socket) = swarm.sockets.remove(&user) {
                let _ = socket.close(None).await;
            }
        }
        backing.remove_users(&format!("dead-{run}-")).await;
    }
    std::fs::remove_dir_all(&dir).ok();
}
