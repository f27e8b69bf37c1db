//! wsdash on Redis, a real server: a key per connection (hashes and JSON strings, with TTLs)
//! and a set per user, with connections held open in the emulator.

use crate::common::redis::Redis;
use crate::common::tools::Tool;
use crate::common::{audit_deletes, env_config, free_port, run_python, Running};
use futures_util::StreamExt;
use serde_json::Value;
use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

fn wsdash(config: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_wsdash"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("XDG_CONFIG_HOME", "/nonexistent/wsdash-test-config")
        .env_remove("WSDASH_ENV")
        .env_remove("WSDASH_STORE_URL")
        .env("AWS_ACCESS_KEY_ID", "AKIDREDISTEST")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("WSDASH_LOG", "warn")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run wsdash");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// A gateway whose API has no `$connect` route: every handshake is accepted, as on AWS.
fn gateway() -> (Running, String) {
    let listen = format!("127.0.0.1:{}", free_port());
    let gateway = Running::start(&["gateway", "--listen", &listen], "backend:");
    run_python(
        &["boto3"],
        r#"
import sys, boto3
v2 = boto3.client("apigatewayv2", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id="AKIDREDISTEST", aws_secret_access_key="test")
api = v2.create_api(Name="chat", ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.action")
v2.create_stage(ApiId=api["ApiId"], StageName="production")
v2.create_deployment(ApiId=api["ApiId"], StageName="production")
"#,
        &[&format!("http://{listen}")],
    );
    (gateway, listen)
}

async fn open(listen: &str) -> (crate::common::Socket, String) {
    let ids = |listen: String| async move {
        let list: Vec<Value> = reqwest::get(format!("http://{listen}/_wsdash/connections"))
            .await
            .expect("admin")
            .json()
            .await
            .expect("json");
        list.iter()
            .filter_map(|c| c["connection_id"].as_str().map(str::to_string))
            .collect::<Vec<_>>()
    };
    let before = ids(listen.to_string()).await;
    let (socket, _) = tokio_tungstenite::connect_async(format!("ws://{listen}/production"))
        .await
        .expect("connect");
    for _ in 0..50 {
        if let Some(id) = ids(listen.to_string())
            .await
            .into_iter()
            .find(|id| !before.contains(id))
        {
            return (socket, id);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the new connection never showed in the admin API");
}

fn iso_ago(seconds: i64) -> String {
    wsdash::model::iso_millis(time::OffsetDateTime::now_utc() - time::Duration::seconds(seconds))
}

fn states(probed: &Value) -> HashMap<String, String> {
    probed
        .as_array()
        .expect("records")
        .iter()
        .map(|r| {
            (
                r["connection_id"].as_str().unwrap_or_default().to_string(),
                r["state"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_command_works_on_keys_and_user_sets_and_restore_keeps_ttls() {
    crate::needs!(Tool::PythonClients, Tool::RedisServer);
    let redis = Redis::start();
    let (_gateway, listen) = gateway();
    let (mut alice_socket, alice) = open(&listen).await;
    let (_bob_socket, bob) = open(&listen).await;
    let (carol_stale, bob_stale) = ("DEADCAROL000001=", "DEADBOB00000001=");
    // JSON strings and hashes side by side, with the backend's own field names and TTLs.
    let record =
        |user: &str, age: i64| format!(r#"{{"userId":"{user}","connectedAt":"{}"}}"#, iso_ago(age));
    redis.cli(&[
        "SET",
        &format!("ws:{alice}"),
        &record("alice", 60),
        "EX",
        "7200",
    ]);
    redis.cli(&[
        "HSET",
        &format!("ws:{bob}"),
        "userId",
        "bob",
        "connectedAt",
        &iso_ago(30),
    ]);
    redis.cli(&[
        "SET",
        &format!("ws:{carol_stale}"),
        &record("carol", 3600),
        "EX",
        "5000",
    ]);
    redis.cli(&[
        "HSET",
        &format!("ws:{bob_stale}"),
        "userId",
        "bob",
        "connectedAt",
        &iso_ago(5000),
        "channel",
        "general",
    ]);
    redis.cli(&["EXPIRE", &format!("ws:{bob_stale}"), "4000"]);
    redis.cli(&["SET", "ws:BROKEN000000001=", "not json"]);
    for (user, id) in [
        ("alice", &alice),
        ("bob", &bob),
        ("carol", &carol_stale.to_string()),
        ("bob", &bob_stale.to_string()),
    ] {
        redis.cli(&["SADD", &format!("user:{user}:connections"), id]);
    }
    // Keys of other applications are never read.
    redis.cli(&["SET", "session:xyz", "other app"]);

    let dir = std::env::temp_dir().join(format!("wsdash-redis-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let audit = dir.join("audit.jsonl");
    let audit = audit.to_str().expect("path");
    let config = env_config(
        &dir,
        "cache",
        &format!(
            "store = \"{}\"\nendpoint = \"http://{listen}/production\"\n[env.cache.schema]\nuser_id = \"userId\"\nconnected_at = \"connectedAt\"\nrecord_key = \"ws:{{connection_id}}\"\nuser_set = \"user:{{user_id}}:connections\"",
            redis.url
        ),
    );

    let (code, out, err) = wsdash(&config, &["doctor", "--output", "json"]);
    let checks: HashMap<String, Value> = json(&out)["checks"]
        .as_array()
        .unwrap_or_else(|| panic!("{code} {out}{err}"))
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or_default().to_string(),
                c.clone(),
            )
        })
        .collect();
    assert_eq!(
        checks["user sets"]["status"], "PASS",
        "{:#}",
        checks["user sets"]
    );
    assert_eq!(
        checks["store"]["status"], "WARN",
        "the broken key is reported: {:#}",
        checks["store"]
    );
    assert!(
        checks["live refresh"]["fix"]
            .as_str()
            .is_some_and(|f| f.contains("notify-keyspace-events K$hgx")),
        "{:#}",
        checks["live refresh"]
    );
    assert_eq!(
        checks["record TTL"]["status"], "WARN",
        "{:#}",
        checks["record TTL"]
    );

    // list: four records from two shapes of value, the broken key as malformed.
    let (code, out, err) = wsdash(&config, &["list", "--output", "json"]);
    assert_eq!(code, 0, "{err}");
    let listed = states(&json(&out));
    assert_eq!(listed.len(), 5, "{out}");
    assert_eq!(listed["BROKEN000000001="], "malformed", "{out}");
    let (_, text, _) = wsdash(&config, &["list"]);
    assert!(
        text.contains("BROKEN000000001=") && text.contains("malformed"),
        "{text}"
    );
    // TTLs: a column in the table, an expires_at in JSON (bob's live hash has none).
    assert!(
        text.contains("EXPIRES IN") && text.contains("never"),
        "{text}"
    );
    let listed_json = json(&out);
    let expiry = |id: &str| {
        listed_json
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["connection_id"] == id)
            .map(|r| r["expires_at"].clone())
    };
    assert!(
        expiry(&alice).is_some_and(|e| e.is_string()),
        "{listed_json:#}"
    );
    assert_eq!(expiry(&bob), Some(Value::Null), "{listed_json:#}");

    let (code, out, err) = wsdash(&config, &["probe", "--output", "json"]);
    assert_eq!(code, 0, "{err}");
    let probed = states(&json(&out));
    assert_eq!(
        (probed[&alice].as_str(), probed[&bob].as_str()),
        ("live", "live")
    );
    assert_eq!(
        (probed[carol_stale].as_str(), probed[bob_stale].as_str()),
        ("stale", "stale")
    );

    // push --user: through alice's set.
    let (code, out, err) = wsdash(
        &config,
        &[
            "push",
            "--user",
            "alice",
            "--type",
            "new_content",
            "--data",
            r#"{"title":"hi"}"#,
        ],
    );
    assert_eq!(code, 0, "{err}\n{out}");
    let message = tokio::time::timeout(Duration::from_secs(5), alice_socket.next())
        .await
        .expect("the push in time");
    assert!(
        matches!(&message, Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t))) if t.contains("\"title\":\"hi\"")),
        "{message:?}"
    );

    // purge: the two stale keys go (and leave their users' sets), audited with value and TTL.
    let (code, out, err) = wsdash(
        &config,
        &["purge", "--yes", "--output", "json", "--audit-log", audit],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        json(&out)["report"]["deleted"].as_array().map(Vec::len),
        Some(2),
        "{out}"
    );
    assert_eq!(
        redis.cli(&[
            "EXISTS",
            &format!("ws:{carol_stale}"),
            &format!("ws:{bob_stale}")
        ]),
        "0"
    );
    assert_eq!(
        redis.cli(&["EXISTS", &format!("ws:{alice}"), &format!("ws:{bob}")]),
        "2"
    );
    assert_eq!(
        redis.cli(&["SISMEMBER", "user:bob:connections", bob_stale]),
        "0"
    );
    let (intents, _) = audit_deletes(std::path::Path::new(audit));
    let kept: Vec<&Value> = intents.iter().filter_map(|e| e.item.as_ref()).collect();
    assert!(
        kept.iter()
            .any(|i| i["type"] == "hash" && i["value"]["channel"] == "general"),
        "{kept:?}"
    );
    assert!(
        kept.iter().all(|i| i["ttl_ms"].as_i64().unwrap_or(0) > 0),
        "{kept:?}"
    );

    // restore: bob has a newer live record, so his stale one stays out; carol's comes back
    // whole, with its TTL.
    let (code, out, err) = wsdash(
        &config,
        &["restore", audit, "--output", "json", "--audit-log", audit],
    );
    assert_eq!(code, 0, "{err}");
    let report = json(&out);
    assert_eq!(
        report["restored"][0]["connection_id"], carol_stale,
        "{report:#}"
    );
    assert_eq!(
        report["skipped_newer_exists"][0]["connection_id"], bob_stale,
        "{report:#}"
    );
    let ttl: i64 = redis
        .cli(&["TTL", &format!("ws:{carol_stale}")])
        .parse()
        .expect("ttl");
    assert!((1..=5000).contains(&ttl), "the TTL comes back: {ttl}");
    assert_eq!(
        redis.cli(&["SISMEMBER", "user:carol:connections", carol_stale]),
        "1"
    );
    assert_eq!(redis.cli(&["GET", "session:xyz"]), "other app");
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_rewritten_after_it_was_read_is_never_deleted() {
    crate::needs!(Tool::RedisServer);
    use wsdash::store::redis_store::RedisStore;
    use wsdash::store::{ConnectionStore, DeleteOutcome};
    let redis = Redis::start();
    let names = wsdash::store::schema::SchemaOverrides::default();
    let store = RedisStore::connect(&redis.url, &names)
        .await
        .expect("connect");
    redis.cli(&[
        "HSET",
        "ws:RACE0000000001=",
        "user_id",
        "zoe",
        "connected_at",
        &iso_ago(60),
    ]);
    let read = store.scan().await.expect("scan").records;
    assert_eq!(read.len(), 1);
    // The backend re-registers the same connection (a new connect time) after wsdash read it.
    redis.cli(&["HSET", "ws:RACE0000000001=", "connected_at", &iso_ago(0)]);
    assert_eq!(
        store.delete_if_current(&read[0]).await.expect("delete"),
        DeleteOutcome::Changed
    );
    assert_eq!(redis.cli(&["EXISTS", "ws:RACE0000000001="]), "1");
    // An extra field written meanwhile changes the value too: still not deleted.
    let current = store.scan().await.expect("scan").records;
    redis.cli(&["HSET", "ws:RACE0000000001=", "seen", "1"]);
    let outcome = store.delete_if_current(&current[0]).await.expect("delete");
    assert_eq!(
        outcome,
        DeleteOutcome::Deleted,
        "the same record with one more field is the same record"
    );
    assert_eq!(
        store.delete_if_current(&current[0]).await.expect("delete"),
        DeleteOutcome::Missing
    );
    // A template without its placeholder is refused at once.
    let bad = wsdash::store::schema::SchemaOverrides {
        record_key: Some("ws:conn".into()),
        ..Default::default()
    };
    assert!(matches!(
        RedisStore::connect(&redis.url, &bad).await.err(),
        Some(wsdash::store::StoreError::Schema(_))
    ));
}

/// `wsdash demo --store-url redis://…`: the whole demo on Redis.
#[test]
fn the_demo_runs_on_redis() {
    crate::needs!(Tool::RedisServer);
    let redis = Redis::start();
    let demo = Running::start(
        &[
            "demo",
            "--headless",
            "--clients",
            "6",
            "--push-every-ms",
            "0",
            "--store-url",
            &redis.url,
        ],
        "try:",
    );
    assert!(
        demo.value("store:").contains("ws:{connection_id}"),
        "{}",
        demo.value("store:")
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while redis.cli(&["--scan", "--pattern", "ws:*"]).lines().count() < 6 {
        assert!(
            std::time::Instant::now() < deadline,
            "the demo's clients never reached Redis"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let dir = std::env::temp_dir().join(format!("wsdash-redis-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let config = env_config(&dir, "demo", &format!("store = \"{}\"", redis.url));
    let (code, out, err) = wsdash(&config, &["list", "--output", "json"]);
    assert_eq!(code, 0, "{err}");
    assert!(json(&out).as_array().is_some_and(|r| r.len() >= 6), "{out}");
    std::fs::remove_dir_all(dir).ok();
}

/// The dashboard on Redis keys, in a real terminal: read, probed, and read again at a pace (a
/// key the backend writes shows up without a restart).
#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_shows_redis_records() {
    crate::needs!(Tool::PythonClients, Tool::Tmux, Tool::RedisServer);
    use crate::common::tmux::Tmux;
    let redis = Redis::start();
    let (_gateway, listen) = gateway();
    let (_socket, live) = open(&listen).await;
    redis.cli(&[
        "SET",
        &format!("ws:{live}"),
        &format!(
            r#"{{"user_id":"first-user","connected_at":"{}"}}"#,
            iso_ago(60)
        ),
    ]);
    redis.cli(&[
        "HSET",
        "ws:DEADFIRST000001=",
        "user_id",
        "gone-user",
        "connected_at",
        &iso_ago(3000),
    ]);
    let dir = std::env::temp_dir().join(format!("wsdash-redis-tmux-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let config = env_config(
        &dir,
        "cache",
        &format!(
            "store = \"{}\"\nendpoint = \"http://{listen}/production\"",
            redis.url
        ),
    );
    let command = format!(
        "env XDG_STATE_HOME={dir} AWS_ACCESS_KEY_ID=t AWS_SECRET_ACCESS_KEY=t AWS_REGION=us-east-1 {bin} --config {config}",
        dir = dir.display(),
        bin = env!("CARGO_BIN_EXE_wsdash"),
        config = config.display()
    );
    let tmux = Tmux::start_sized(&command, 160, 40);
    tmux.wait_for("both records, probed", |s| {
        s.contains("first-user")
            && s.contains("gone-user")
            && s.contains("stale")
            && s.contains("live")
    });
    redis.cli(&[
        "SET",
        "ws:THIRD0000000001=",
        &format!(
            r#"{{"user_id":"third-user","connected_at":"{}"}}"#,
            iso_ago(0)
        ),
    ]);
    tmux.wait_for_within(
        "the new key on a later scan",
        Duration::from_secs(90),
        |s| s.contains("third-user"),
    );
    tmux.keys(&["q"]);
    std::fs::remove_dir_all(dir).ok();
}

/// With keyspace notifications on, changes arrive without a scan: a new key, a rewritten hash,
/// a delete and an expiry, each read once as it is now.
#[tokio::test(flavor = "multi_thread")]
async fn with_keyspace_notifications_changes_arrive_without_a_scan() {
    crate::needs!(Tool::RedisServer);
    use wsdash::store::changes::StoreChange;
    use wsdash::store::redis_store::RedisStore;
    use wsdash::store::ConnectionStore;
    let quiet = Redis::start();
    let names = wsdash::store::schema::SchemaOverrides::default();
    let store = RedisStore::connect(&quiet.url, &names)
        .await
        .expect("connect");
    assert!(
        store.changes().await.expect("changes").is_none(),
        "without notifications there is no feed: paced scans"
    );
    let redis = Redis::start_with(&["--notify-keyspace-events", "K$hgx"]);
    let store = RedisStore::connect(&redis.url, &names)
        .await
        .expect("connect");
    let mut feed = store.changes().await.expect("changes").expect("a feed");
    redis.cli(&[
        "SET",
        "ws:LIVE0000000001=",
        &format!(r#"{{"user_id":"u1","connected_at":"{}"}}"#, iso_ago(0)),
    ]);
    redis.cli(&[
        "HSET",
        "ws:LIVE0000000002=",
        "user_id",
        "u2",
        "connected_at",
        &iso_ago(0),
    ]);
    redis.cli(&["SET", "other:key", "not ours"]);
    redis.cli(&["DEL", "ws:LIVE0000000001="]);
    redis.cli(&["PEXPIRE", "ws:LIVE0000000002=", "300"]);
    let mut seen: Vec<(String, String)> = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !seen
        .iter()
        .any(|(what, id)| what == "removed" && id == "LIVE0000000002=")
    {
        assert!(
            std::time::Instant::now() < deadline,
            "changes so far: {seen:?}"
        );
        for change in feed.next_changes().await.expect("changes") {
            seen.push(match change {
                StoreChange::Put { key, .. } => {
                    ("put".into(), key.connection_id.unwrap_or_default())
                }
                StoreChange::Removed { key } => {
                    ("removed".into(), key.connection_id.unwrap_or_default())
                }
            });
        }
    }
    assert!(
        seen.contains(&("removed".into(), "LIVE0000000001=".into())),
        "{seen:?}"
    );
    assert!(
        seen.iter().all(|(_, id)| id.starts_with("LIVE")),
        "keys of other applications never reach the feed: {seen:?}"
    );
}

/// `rediss://` with the server's certificate verified against the URL's `sslrootcert`, and
/// refused when no root vouches for it.
#[test]
fn tls_to_redis_verifies_the_server_against_the_urls_ca() {
    crate::needs!(Tool::RedisServer, Tool::DjangoVenv);
    let (redis, ca) = Redis::start_tls();
    redis.cli(&[
        "SET",
        "ws:TLS00000000001=",
        &format!(
            r#"{{"user_id":"secure-user","connected_at":"{}"}}"#,
            iso_ago(5)
        ),
    ]);
    let dir = std::env::temp_dir().join(format!("wsdash-redis-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let list = |url: &str| {
        let config = env_config(&dir, "tls", &format!("store = \"{url}\""));
        wsdash(&config, &["list", "--output", "json"])
    };
    let (code, out, err) = list(&format!("{}?sslrootcert={}", redis.url, ca.display()));
    assert_eq!(code, 0, "{err}");
    assert_eq!(json(&out)[0]["user_id"], "secure-user", "{out}");
    let (code, _, err) = list(&redis.url);
    assert_ne!(code, 0);
    assert!(
        err.to_lowercase().contains("certificate"),
        "no root vouches for the test CA: {err}"
    );
    std::fs::remove_dir_all(dir).ok();
}
