//! The purge race at scale, with real parts only: moto's DynamoDB, `wsdash gateway`, `wsdash
//! backend --store dynamodb` and a swarm of real WebSocket clients. While `wsdash purge --yes`
//! runs over 2,000 records (half of them dead), live users reconnect and dead users come back.
//! Over every run: no live user's record is deleted, every delete is in the audit log with its
//! result, and `restore` can put every deleted record back. Some runs end with SIGINT or SIGTERM
//! at a random moment among the deletes.

use crate::common;

use crate::common::dynamo::{create_table, dynamo, put_many, s};
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

fn start_system(moto: &Moto) -> System {
    let (gw_port, be_port) = (free_port(), free_port());
    let gw_addr = format!("127.0.0.1:{gw_port}");
    let be_url = format!("http://127.0.0.1:{be_port}");
    let gateway = Running::start(
        &["gateway", "--listen", &gw_addr, "--backend", &be_url],
        "backend:",
    );
    let management = gateway.value("management endpoint:");
    let be_addr = format!("127.0.0.1:{be_port}");
    let aws = [
        ("AWS_ENDPOINT_URL_DYNAMODB", moto.url.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
    ];
    let backend = Running::start_with_env(
        &[
            "backend",
            "--listen",
            &be_addr,
            "--gateway",
            &management,
            "--dev-tokens",
            "--admin-token",
            "race-admin",
            "--store",
            "dynamodb",
            "--table",
            TABLE,
        ],
        "admin token:",
        &aws,
    );
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
    let moto = Moto::start();
    let client = dynamo(&moto).await;
    create_table(&client, TABLE, "user_id", Some("connection_id")).await;
    let system = start_system(&moto);
    let sdk = wsdash::aws_env::load_sdk_config(&wsdash::aws_env::AwsSettings {
        dummy_credentials: true,
        region: Some("us-east-1".into()),
        ..Default::default()
    })
    .await;
    let management = wsdash::management::AwsManagementApi::new(&sdk, &system.management);
    use wsdash::management::ManagementApi;
    let dir = std::env::temp_dir().join(format!("wsdash-race-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = common::env_config(&dir, "race", "probe_concurrency = 32");

    let mut swarm = Swarm {
        sockets: BTreeMap::new(),
    };
    let live_users: Vec<String> = (0..LIVE).map(|i| format!("live-{i:04}")).collect();
    for user in &live_users {
        swarm.reconnect(&system, user).await;
    }
    assert_eq!(
        table(&client).await.len(),
        LIVE,
        "the backend stored every live user"
    );

    // Runs 0..6 purge to the end; 6..10 are stopped by SIGINT or SIGTERM among the deletes.
    const RUNS: usize = 10;
    for run in 0..RUNS {
        let signal = match run {
            0..=5 => None,
            _ if run % 2 == 0 => Some("INT"),
            _ => Some("TERM"),
        };
        let dead = dead_items(run);
        put_many(&client, TABLE, &dead).await;
        let audit = dir.join(format!("audit-{run}.jsonl"));
        let audit_path = audit.to_str().expect("path").to_string();
        let mut purge = common::wsdash_command(
            &[
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
            ],
            &moto,
        )
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
        let stored = table(&client).await;
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
        let (code, out, err) = common::wsdash(
            &[
                "restore",
                &audit_path,
                "--table",
                TABLE,
                "--output",
                "json",
                "--audit-log",
                dir.join("restore.jsonl").to_str().expect("path"),
            ],
            &moto,
            None,
        );
        assert_eq!(code, 0, "run {run}: restore: {err}");
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
        let after = table(&client).await;
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
        let leftovers: Vec<String> = table(&client)
            .await
            .into_keys()
            .filter(|u| u.starts_with(&format!("dead-{run}-")))
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
    std::fs::remove_dir_all(&dir).ok();
}
