//! wsdash on a PostgreSQL connection table: django-aws-api-gateway-websockets' own, created by
//! Django's migrations on a real server, with connections held open in the emulator.

use crate::common::postgres::Postgres;
use crate::common::tools::Tool;
use crate::common::{audit_deletes, django_python, env_config, free_port, run_python, Running};
use futures_util::StreamExt;
use serde_json::Value;
use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

const TABLE: &str = "django_aws_api_gateway_websockets_websocketsession";

/// `wsdash args...` with only the given config (no AWS profile of the host).
fn wsdash(config: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_wsdash"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("XDG_CONFIG_HOME", "/nonexistent/wsdash-test-config")
        .env_remove("WSDASH_ENV")
        .env_remove("WSDASH_STORE_URL")
        .env_remove("WSDASH_TABLE")
        .env("AWS_ACCESS_KEY_ID", "AKIDPOSTGRESTEST")
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

/// Django's migrations, run by Django against the server: the package's tables exactly.
fn migrate(pg: &Postgres) {
    let manage = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/django/manage.py");
    let out = Command::new(django_python())
        .args([manage, "migrate", "--no-input", "-v", "0"])
        .env("WSDASH_DJANGO_PG_PORT", pg.port.to_string())
        .env("DJANGO_SETTINGS_MODULE", "chatsite.settings")
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/django"))
        .output()
        .expect("manage.py migrate");
    assert!(
        out.status.success(),
        "migrate failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A gateway with an API that has no `$connect` route (every handshake accepted, as on AWS),
/// created with boto3 through its apigatewayv2 calls.
fn gateway() -> (Running, String) {
    let listen = format!("127.0.0.1:{}", free_port());
    let gateway = Running::start(&["gateway", "--listen", &listen], "backend:");
    run_python(
        &["boto3"],
        r#"
import sys, boto3
v2 = boto3.client("apigatewayv2", endpoint_url=sys.argv[1], region_name="us-east-1",
                  aws_access_key_id="AKIDPOSTGRESTEST", aws_secret_access_key="test")
api = v2.create_api(Name="chat", ProtocolType="WEBSOCKET", RouteSelectionExpression="$request.body.action")
v2.create_stage(ApiId=api["ApiId"], StageName="production")
v2.create_deployment(ApiId=api["ApiId"], StageName="production")
"#,
        &[&format!("http://{listen}")],
    );
    (gateway, listen)
}

type Socket = crate::common::Socket;

/// Open a socket; its connection id, as the emulator's admin API names it.
async fn open(listen: &str) -> (Socket, String) {
    let before = live_ids(listen).await;
    let (socket, _) = tokio_tungstenite::connect_async(format!("ws://{listen}/production"))
        .await
        .expect("connect");
    for _ in 0..50 {
        if let Some(id) = live_ids(listen)
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

async fn live_ids(listen: &str) -> Vec<String> {
    let list: Vec<Value> = reqwest::get(format!("http://{listen}/_wsdash/connections"))
        .await
        .expect("admin")
        .json()
        .await
        .expect("json");
    list.iter()
        .filter_map(|c| c["connection_id"].as_str().map(str::to_string))
        .collect()
}

/// A session row as the package writes one: every NOT NULL column, no database defaults.
fn session(id: &str, user: &str, connected: bool, age_secs: i64) -> String {
    format!(
        "INSERT INTO {TABLE} (connection_id, channel_name, connected, request_count, created_on, updated_on, user_id, auth_hash, session_key_hash) \
         VALUES ('{id}', 'general', {connected}, 7, now() - interval '{age_secs} seconds', now(), {user}, 'auth-{id}', 'key-{id}')"
    )
}

fn connected(pg: &Postgres) -> HashMap<String, String> {
    pg.sql(&format!("SELECT connection_id, connected FROM {TABLE}"))
        .lines()
        .filter_map(|line| line.split_once('|'))
        .map(|(id, flag)| (id.to_string(), flag.to_string()))
        .collect()
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
async fn every_command_works_on_djangos_table_soft_deleting_and_restoring_whole_rows() {
    crate::needs!(Tool::PythonClients, Tool::Postgres, Tool::DjangoVenv);
    let pg = Postgres::start();
    migrate(&pg);
    let (_gateway, listen) = gateway();
    let (mut alice_socket, alice) = open(&listen).await;
    let (_bob_socket, bob) = open(&listen).await;
    let (_anonymous_socket, anonymous) = open(&listen).await;
    pg.sql(
        "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, email, is_staff, is_active, date_joined) VALUES \
         ('!', false, 'alice', '', '', '', false, true, now()), ('!', false, 'bob', '', '', '', false, true, now()), \
         ('!', false, 'carol', '', '', '', false, true, now()), ('!', false, 'dave', '', '', '', false, true, now())",
    );
    let (carol_stale, bob_stale, dave_stale, closed) = (
        "DEADCAROL000001=",
        "DEADBOB00000001=",
        "DEADDAVE0000001=",
        "CLOSED000000001=",
    );
    for row in [
        session(&alice, "1", true, 60),
        session(&bob, "2", true, 30),
        session(&anonymous, "NULL", true, 10),
        session(carol_stale, "3", true, 3600),
        session(bob_stale, "2", true, 7200),
        session(dave_stale, "4", true, 600),
        session(closed, "3", false, 9000),
    ] {
        pg.sql(&row);
    }
    let dir = std::env::temp_dir().join(format!("wsdash-pg-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let audit = dir.join("audit.jsonl");
    let audit = audit.to_str().expect("path");
    let keys = |soft: &str| {
        format!(
            "store = \"{}\"\ntable = \"{TABLE}\"\nendpoint = \"http://{listen}/production\"\n[env.django.schema]\nconnected_at = \"created_on\"\n{soft}",
            pg.url
        )
    };
    let config = env_config(&dir, "django", &keys("soft_delete = \"connected\""));

    // doctor: the mapping, the rows, the user index Django made, the privileges, the flag.
    let doctor = |config: &std::path::Path| -> HashMap<String, Value> {
        let (_, out, err) = wsdash(config, &["doctor", "--output", "json"]);
        json(&out)["checks"]
            .as_array()
            .unwrap_or_else(|| panic!("{out}{err}"))
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().unwrap_or_default().to_string(),
                    c.clone(),
                )
            })
            .collect()
    };
    let checks = doctor(&config);
    for name in ["table", "user index", "table privileges", "soft delete"] {
        assert_eq!(checks[name]["status"], "PASS", "{name}: {:#}", checks[name]);
    }
    assert_eq!(checks["live refresh"]["status"], "WARN");
    assert!(
        checks["live refresh"]["fix"]
            .as_str()
            .is_some_and(|f| f.contains("wsdash --env django store install-notify")),
        "{:#}",
        checks["live refresh"]
    );

    // list: every open row, the anonymous one included; the closed row only counted.
    let (code, out, err) = wsdash(&config, &["list", "--output", "json"]);
    assert_eq!(code, 0, "{err}");
    let listed = json(&out);
    assert_eq!(listed.as_array().map(Vec::len), Some(6), "{listed:#}");
    assert!(err.contains("1 closed row(s)"), "{err}");
    assert!(
        listed
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r["user_id"] == "(anonymous)")),
        "{listed:#}"
    );

    // probe: the gateway's evidence, per row.
    let (code, out, err) = wsdash(&config, &["probe", "--output", "json"]);
    assert_eq!(code, 0, "{err}");
    let probed = states(&json(&out));
    for id in [&alice, &bob, &anonymous] {
        assert_eq!(probed[id.as_str()], "live", "{probed:?}");
    }
    for id in [carol_stale, bob_stale, dave_stale] {
        assert_eq!(probed[id], "stale", "{probed:?}");
    }

    // push --user: the integer user id finds alice's rows through the user column.
    let (code, out, err) = wsdash(
        &config,
        &[
            "push",
            "--user",
            "1",
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

    // purge: the stale rows are marked closed (connected = false), kept, and audited whole.
    let (code, out, err) = wsdash(
        &config,
        &["purge", "--yes", "--output", "json", "--audit-log", audit],
    );
    assert_eq!(code, 0, "{err}");
    let deleted = json(&out)["report"]["deleted"].clone();
    assert_eq!(deleted.as_array().map(Vec::len), Some(3), "{out}");
    let flags = connected(&pg);
    assert_eq!(flags.len(), 7, "soft delete keeps every row: {flags:?}");
    assert_eq!(
        (flags[carol_stale].as_str(), flags[bob_stale].as_str()),
        ("f", "f")
    );
    for id in [&alice, &bob, &anonymous] {
        assert_eq!(flags[id.as_str()], "t", "a live row was touched: {flags:?}");
    }
    let (intents, results) = audit_deletes(std::path::Path::new(audit));
    assert_eq!((intents.len(), results.len()), (3, 3));
    for intent in &intents {
        let raw = intent
            .item
            .as_ref()
            .expect("the whole row in the audit log");
        assert_eq!(raw["request_count"], 7, "{raw}");
        assert!(
            raw["session_key_hash"]
                .as_str()
                .is_some_and(|k| k.starts_with("key-")),
            "{raw}"
        );
    }

    // carol reconnects before the restore, and bob has his live row: their newer rows win
    // (restores never go over newer data); dave's row comes back.
    pg.sql(&session("NEWCAROL0000001=", "3", true, 0));
    let (code, out, err) = wsdash(
        &config,
        &["restore", audit, "--output", "json", "--audit-log", audit],
    );
    assert_eq!(code, 0, "{err}");
    let report = json(&out);
    let ids = |key: &str| -> Vec<String> {
        let mut ids: Vec<String> = report[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["connection_id"].as_str().map(str::to_string))
            .collect();
        ids.sort();
        ids
    };
    assert_eq!(ids("restored"), [dave_stale], "{report:#}");
    assert_eq!(
        ids("skipped_newer_exists"),
        [bob_stale, carol_stale],
        "{report:#}"
    );
    let flags = connected(&pg);
    assert_eq!(
        (flags[dave_stale].as_str(), flags[carol_stale].as_str()),
        ("t", "f")
    );

    // Without soft_delete the same table is purged by DELETE, and restore puts each row back
    // with every column from the audit log's copy (the table has no defaults to fill them).
    let before = pg.sql(&format!(
        "SELECT row_to_json(t)::text FROM {TABLE} t WHERE connection_id = '{dave_stale}'"
    ));
    let hard = dir.join("hard");
    std::fs::create_dir_all(&hard).expect("dir");
    let config = env_config(&hard, "django", &keys(""));
    // Without the mapping, doctor spots the flag and says which key to set.
    let checks = doctor(&config);
    assert_eq!(
        checks["soft delete"]["status"], "WARN",
        "{:#}",
        checks["soft delete"]
    );
    assert!(
        checks["soft delete"]["fix"]
            .as_str()
            .is_some_and(|f| f.contains("soft_delete = \"connected\"")),
        "{:#}",
        checks["soft delete"]
    );
    let hard_audit = hard.join("audit.jsonl");
    let hard_audit = hard_audit.to_str().expect("path");
    let (code, out, err) = wsdash(
        &config,
        &[
            "purge",
            "--yes",
            "--output",
            "json",
            "--audit-log",
            hard_audit,
        ],
    );
    assert_eq!(code, 0, "{err}");
    let mut gone: Vec<String> = json(&out)["report"]["deleted"]
        .as_array()
        .expect("deleted")
        .iter()
        .filter_map(|r| r["connection_id"].as_str().map(str::to_string))
        .collect();
    gone.sort();
    // Without the flag, every row the gateway does not know is stale: carol's closed ones too.
    assert!(gone.contains(&dave_stale.to_string()), "{gone:?}");
    assert!(!connected(&pg).contains_key(dave_stale));
    let (code, _, err) = wsdash(&config, &["restore", hard_audit, "--audit-log", hard_audit]);
    assert_eq!(code, 0, "{err}");
    let after = pg.sql(&format!(
        "SELECT row_to_json(t)::text FROM {TABLE} t WHERE connection_id = '{dave_stale}'"
    ));
    assert_eq!(
        json(&after),
        json(&before),
        "the row comes back exactly, id and all"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_row_that_changed_after_it_was_read_is_never_deleted() {
    crate::needs!(Tool::Postgres);
    use wsdash::store::postgres::PostgresStore;
    use wsdash::store::{ConnectionStore, DeleteOutcome};
    let pg = Postgres::start();
    pg.sql("CREATE TABLE conns (connection_id text PRIMARY KEY, user_id text NOT NULL, connected_at bigint NOT NULL)");
    pg.sql("CREATE INDEX ON conns (user_id)");
    let names = wsdash::store::schema::SchemaOverrides::default();
    let store = PostgresStore::connect(&pg.url, "conns", &names)
        .await
        .expect("connect");
    assert!(store.discovered().user_indexed);
    let now = time::OffsetDateTime::now_utc();
    let record = wsdash::model::ConnectionRecord {
        user_id: "zoe".into(),
        connection_id: "RACE0000000001=".into(),
        connected_at: now.replace_millisecond(now.millisecond()).expect("ms"),
    };
    store.put(record.clone()).await.expect("put");
    let read = store.scan().await.expect("scan").records;
    assert_eq!(
        read,
        vec![record.clone()],
        "epoch milliseconds read back exactly"
    );
    // The backend rewrites the row (the same connection re-registered) after wsdash read it.
    pg.sql("UPDATE conns SET connected_at = connected_at + 1");
    assert_eq!(
        store.delete_if_current(&read[0]).await.expect("delete"),
        DeleteOutcome::Changed
    );
    assert_eq!(pg.sql("SELECT count(*) FROM conns"), "1");
    let current = store.scan().await.expect("scan").records;
    assert_eq!(
        store.delete_if_current(&current[0]).await.expect("delete"),
        DeleteOutcome::Deleted
    );
    assert_eq!(
        store.delete_if_current(&current[0]).await.expect("delete"),
        DeleteOutcome::Missing
    );
    // A column that does not fit is refused at once, saying what it found.
    let bad = wsdash::store::schema::SchemaOverrides {
        connected_at: "user_id".into(),
        ..Default::default()
    };
    pg.sql("CREATE TABLE odd (connection_id text, user_id jsonb, connected_at bigint)");
    let refused = PostgresStore::connect(&pg.url, "odd", &bad).await.err();
    assert!(
        matches!(&refused, Some(wsdash::store::StoreError::Schema(m)) if m.contains("jsonb")),
        "{:?}",
        refused.map(|e| e.to_string())
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn with_the_trigger_installed_changes_arrive_without_a_scan() {
    crate::needs!(Tool::Postgres);
    use wsdash::store::changes::StoreChange;
    use wsdash::store::postgres::PostgresStore;
    use wsdash::store::ConnectionStore;
    let pg = Postgres::start();
    pg.sql("CREATE TABLE sessions (id bigserial PRIMARY KEY, connection_id varchar(255) UNIQUE NOT NULL, user_id integer, connected boolean NOT NULL, created_on timestamptz NOT NULL)");
    let dir = std::env::temp_dir().join(format!("wsdash-pg-notify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let config = env_config(
        &dir,
        "live",
        &format!(
            "store = \"{}\"\ntable = \"sessions\"\n[env.live.schema]\nconnected_at = \"created_on\"\nsoft_delete = \"connected\"",
            pg.url
        ),
    );
    let (code, out, err) = wsdash(&config, &["store", "install-notify", "--print"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("CREATE TRIGGER wsdash_notify"), "{out}");
    assert_eq!(
        pg.sql("SELECT count(*) FROM pg_trigger WHERE tgname = 'wsdash_notify'"),
        "0",
        "--print changes nothing"
    );
    let (code, out, err) = wsdash(&config, &["store", "install-notify"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("installed trigger wsdash_notify"), "{out}");

    let names = wsdash::store::schema::SchemaOverrides {
        connected_at: "created_on".into(),
        soft_delete: Some("connected".into()),
        ..Default::default()
    };
    let store = PostgresStore::connect(&pg.url, "sessions", &names)
        .await
        .expect("connect");
    let mut feed = store
        .changes()
        .await
        .expect("changes")
        .expect("a feed with the trigger");
    pg.sql("INSERT INTO sessions (connection_id, user_id, connected, created_on) VALUES ('LIVE0000000001=', 7, true, now())");
    pg.sql("UPDATE sessions SET connected = false WHERE connection_id = 'LIVE0000000001='");
    pg.sql("INSERT INTO sessions (connection_id, user_id, connected, created_on) VALUES ('LIVE0000000002=', NULL, true, now())");
    pg.sql("DELETE FROM sessions WHERE connection_id = 'LIVE0000000002='");
    let mut seen = Vec::new();
    for _ in 0..10 {
        seen.extend(feed.next_changes().await.expect("changes"));
        if seen.len() >= 4 {
            break;
        }
    }
    let summary: Vec<(String, String)> = seen
        .iter()
        .map(|change| match change {
            StoreChange::Put { item, .. } => (
                "put".to_string(),
                item.as_ref()
                    .map(|r| r.user_id.clone())
                    .unwrap_or_else(|m| m.reason.clone()),
            ),
            StoreChange::Removed { key } => (
                "removed".to_string(),
                key.connection_id.clone().unwrap_or_default(),
            ),
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("put".to_string(), "7".to_string()),
            ("removed".to_string(), "LIVE0000000001=".to_string()),
            ("put".to_string(), "(anonymous)".to_string()),
            ("removed".to_string(), "LIVE0000000002=".to_string()),
        ],
        "{seen:#?}"
    );
    // The record a change carries is the row as a scan reads it, to the microsecond.
    pg.sql("INSERT INTO sessions (connection_id, user_id, connected, created_on) VALUES ('LIVE0000000003=', 8, true, now())");
    let put = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Some(StoreChange::Put {
                item: Ok(record), ..
            }) = feed.next_changes().await.expect("changes").pop()
            {
                break record;
            }
        }
    })
    .await
    .expect("the insert's notification in time");
    assert_eq!(store.scan().await.expect("scan").records, vec![put]);
    std::fs::remove_dir_all(dir).ok();
}

/// The dashboard on a PostgreSQL table, in a real terminal: it reads the table once, then
/// follows the trigger's notifications; a row the backend inserts appears, one it closes goes.
#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_shows_a_postgres_table_and_follows_its_changes() {
    crate::needs!(Tool::PythonClients, Tool::Tmux, Tool::Postgres);
    use crate::common::tmux::Tmux;
    let pg = Postgres::start();
    pg.sql("CREATE TABLE sessions (connection_id text PRIMARY KEY, user_id text, connected boolean NOT NULL, created_on timestamptz NOT NULL)");
    let (_gateway, listen) = gateway();
    let (_socket, live) = open(&listen).await;
    pg.sql(&format!("INSERT INTO sessions VALUES ('{live}', 'first-user', true, now() - interval '1 minute'), ('DEADFIRST000001=', 'gone-user', true, now() - interval '2 hours')"));
    let dir = std::env::temp_dir().join(format!("wsdash-pg-tmux-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let config = env_config(
        &dir,
        "pg",
        &format!(
            "store = \"{}\"\ntable = \"sessions\"\nendpoint = \"http://{listen}/production\"\n[env.pg.schema]\nconnected_at = \"created_on\"\nsoft_delete = \"connected\"",
            pg.url
        ),
    );
    let (code, _, err) = wsdash(&config, &["store", "install-notify"]);
    assert_eq!(code, 0, "{err}");
    let command = format!(
        "env XDG_STATE_HOME={dir} AWS_ACCESS_KEY_ID=t AWS_SECRET_ACCESS_KEY=t AWS_REGION=us-east-1 {bin} --config {config}",
        dir = dir.display(),
        bin = env!("CARGO_BIN_EXE_wsdash"),
        config = config.display()
    );
    let tmux = Tmux::start_sized(&command, 160, 40);
    tmux.wait_for("the rows, probed, and the table followed", |s| {
        s.contains("first-user")
            && s.contains("gone-user")
            && s.contains("stale")
            && s.contains("following LISTEN/NOTIFY")
    });
    pg.sql("INSERT INTO sessions VALUES ('THIRD0000000001=', 'third-user', true, now())");
    tmux.wait_for("the inserted row", |s| s.contains("third-user"));
    pg.sql("UPDATE sessions SET connected = false WHERE user_id = 'gone-user'");
    let screen = tmux.wait_for("the closed row gone", |s| {
        !s.contains("gone-user") && s.contains("first-user")
    });
    assert!(screen.contains("following LISTEN/NOTIFY"), "{screen}");
    tmux.keys(&["q"]);
    std::fs::remove_dir_all(dir).ok();
}

/// `wsdash demo --store-url postgres://… --table T`: the whole demo on PostgreSQL, its backend
/// writing the rows that `wsdash list` then reads.
#[test]
fn the_demo_runs_on_a_postgres_table() {
    crate::needs!(Tool::Postgres);
    let pg = Postgres::start();
    pg.sql("CREATE TABLE demo_connections (connection_id text PRIMARY KEY, user_id text NOT NULL, connected_at timestamptz NOT NULL)");
    let demo = Running::start(
        &[
            "demo",
            "--headless",
            "--clients",
            "6",
            "--push-every-ms",
            "0",
            "--store-url",
            &pg.url,
            "--table",
            "demo_connections",
        ],
        "try:",
    );
    assert!(
        demo.value("store:").contains("demo_connections"),
        "{}",
        demo.value("store:")
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while pg
        .sql("SELECT count(*) FROM demo_connections")
        .parse::<u32>()
        .unwrap_or(0)
        < 6
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the demo's clients never reached the table"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let dir = std::env::temp_dir().join(format!("wsdash-pg-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let config = env_config(
        &dir,
        "demo",
        &format!("store = \"{}\"\ntable = \"demo_connections\"", pg.url),
    );
    let (code, out, err) = wsdash(&config, &["list", "--output", "json"]);
    assert_eq!(code, 0, "{err}");
    assert!(json(&out).as_array().is_some_and(|r| r.len() >= 6), "{out}");
    std::fs::remove_dir_all(dir).ok();
}

/// TLS as a libpq URL asks for it, the server's certificate verified: against the CA the URL
/// names (`sslrootcert`, as RDS's bundle is given), refused when no root vouches for it, and a
/// server that takes TLS only refuses plain connections with its own reason.
#[test]
fn tls_connections_verify_the_server_against_the_urls_ca() {
    crate::needs!(Tool::Postgres, Tool::DjangoVenv);
    let (pg, ca) = Postgres::start_tls();
    pg.sql("CREATE TABLE conns (connection_id text PRIMARY KEY, user_id text NOT NULL, connected_at timestamptz NOT NULL)");
    pg.sql("INSERT INTO conns VALUES ('TLS00000000001=', 'secure-user', now())");
    let dir = std::env::temp_dir().join(format!("wsdash-pg-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let list = |query: &str| {
        let config = env_config(
            &dir,
            "tls",
            &format!("store = \"{}?{query}\"\ntable = \"conns\"", pg.url),
        );
        wsdash(&config, &["list", "--output", "json"])
    };
    let (code, out, err) = list(&format!("sslmode=require&sslrootcert={}", ca.display()));
    assert_eq!(code, 0, "{err}");
    assert_eq!(json(&out)[0]["user_id"], "secure-user", "{out}");
    let (code, _, err) = list("sslmode=verify-full");
    assert_ne!(code, 0);
    assert!(
        err.contains("certificate"),
        "no root vouches for the test CA: {err}"
    );
    let (code, _, err) = list("sslmode=disable");
    assert_ne!(code, 0);
    assert!(
        err.contains("access denied") || err.contains("pg_hba"),
        "{err}"
    );
    std::fs::remove_dir_all(dir).ok();
}
