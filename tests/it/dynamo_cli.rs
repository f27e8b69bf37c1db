//! The data plane against real peers: moto_server's DynamoDB and the emulator, driven through the
//! headless commands exactly as an operator would run them.

use crate::common;
use crate::common::tools::Tool;

use crate::common::dynamo::{create_table, dynamo, n, put, put_many, s, stored_users};
use crate::common::{quiet_demo, wsdash, Moto};
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// An ISO-8601 UTC time `seconds` before now (whole seconds, `Z`), as a Python backend writes it.
fn iso_seconds_ago(seconds: i64) -> String {
    let t = time::OffsetDateTime::now_utc() - time::Duration::seconds(seconds);
    let t = t.replace_nanosecond(0).expect("zero nanoseconds");
    t.format(&time::format_description::well_known::Rfc3339)
        .expect("format")
}

fn json(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

fn by_user(list: &Value) -> HashMap<String, Value> {
    list.as_array()
        .expect("array")
        .iter()
        .filter_map(|r| r["user_id"].as_str().map(|u| (u.to_string(), r.clone())))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn tables_keyed_either_way_with_any_time_format_just_work_and_malformed_items_are_listed() {
    crate::needs!(Tool::Moto);
    let moto = Moto::start();
    let client = dynamo(&moto).await;
    create_table(&client, "by_connection", "connection_id", Some("user_id")).await;
    create_table(&client, "by_user", "user_id", None).await;
    let carol_connected = iso_seconds_ago(3600);
    put(
        &client,
        "by_connection",
        &[
            ("connection_id", s("AAAAAAAAAAAAAAA=")),
            ("user_id", s("alice")),
            ("connected_at", n(now() - 60)),
            ("ttl", n(now() + 999)),
        ],
    )
    .await;
    put(
        &client,
        "by_connection",
        &[
            ("connection_id", s("BBBBBBBBBBBBBBB=")),
            ("user_id", s("bob")),
            ("connected_at", n((now() - 60) * 1000)),
        ],
    )
    .await;
    put(
        &client,
        "by_connection",
        &[
            ("connection_id", s("CCCCCCCCCCCCCCC=")),
            ("connected_at", n(now())),
        ],
    )
    .await;
    put(
        &client,
        "by_user",
        &[
            ("user_id", s("carol")),
            ("connection_id", s("DDDDDDDDDDDDDDD=")),
            ("connected_at", s(&carol_connected)),
        ],
    )
    .await;
    put(
        &client,
        "by_user",
        &[
            ("user_id", s("dave")),
            ("connection_id", n(5)),
            ("connected_at", s(&iso_seconds_ago(60))),
        ],
    )
    .await;
    put(
        &client,
        "by_user",
        &[
            ("user_id", s("erin")),
            ("connection_id", s("EEEEEEEEEEEEEEE=")),
            ("connected_at", s("last tuesday")),
        ],
    )
    .await;

    let (code, out, err) = wsdash(
        &["list", "--table", "by_connection", "--output", "json"],
        &moto,
        None,
    );
    assert_eq!(code, 0, "{err}");
    let list = json(&out);
    let users = by_user(&list);
    assert_eq!(users["alice"]["state"], "unprobed");
    assert_eq!(
        users["bob"]["state"], "unprobed",
        "epoch millis parse as a recent time"
    );
    let malformed: Vec<&Value> = list
        .as_array()
        .expect("array")
        .iter()
        .filter(|r| r["state"] == "malformed")
        .collect();
    assert_eq!(malformed.len(), 1, "{list}");
    assert_eq!(malformed[0]["reason"], "missing user_id");
    assert_eq!(malformed[0]["connection_id"], "CCCCCCCCCCCCCCC=");

    let (code, out, err) = wsdash(
        &["list", "--table", "by_user", "--output", "json"],
        &moto,
        None,
    );
    assert_eq!(code, 0, "{err}");
    let list = json(&out);
    assert_eq!(
        by_user(&list)["carol"]["connected_at"],
        carol_connected.replace('Z', ".000Z"),
        "whole-second ISO times come back with milliseconds"
    );
    let reasons: Vec<&str> = list
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|r| r["reason"].as_str())
        .collect();
    assert!(
        reasons.contains(&"connection_id is a number (expected a string)"),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("unparseable time")),
        "{reasons:?}"
    );

    let (code, _, err) = wsdash(&["list", "--table", "missing_table"], &moto, None);
    assert_eq!(code, 2, "a missing table is a configuration error");
    assert!(err.contains("table not found: missing_table"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_thousand_items_list_correctly_across_pages() {
    crate::needs!(Tool::Moto);
    let moto = Moto::start();
    let client = dynamo(&moto).await;
    create_table(&client, "big", "user_id", None).await;
    let items: Vec<HashMap<String, AttributeValue>> = (0..20_000)
        .map(|i| {
            HashMap::from([
                ("user_id".to_string(), s(&format!("user-{i:05}"))),
                ("connection_id".to_string(), s(&format!("{i:015}="))),
                ("connected_at".to_string(), n(now() - 30)),
            ])
        })
        .collect();
    put_many(&client, "big", &items).await;
    // One scan segment: 20,000 items are more than one 1 MB page, so the scan really pages
    // (and moto is not asked for four full-table scans at once on a loaded machine).
    let dir = std::env::temp_dir().join(format!("wsdash-big-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let config = common::env_config(&dir, "big", "table = \"big\"\nscan_segments = 1");
    let (code, out, err) = wsdash(
        &[
            "list",
            "--config",
            config.to_str().expect("path"),
            "--output",
            "json",
        ],
        &moto,
        None,
    );
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(code, 0, "{err}");
    let list = json(&out);
    let users = by_user(&list);
    assert_eq!(users.len(), 20_000);
    assert!(users.contains_key("user-00000") && users.contains_key("user-19999"));
}

#[tokio::test(flavor = "multi_thread")]
async fn probe_classifies_purge_deletes_exactly_the_dead_and_restore_brings_them_back() {
    crate::needs!(Tool::Moto);
    let moto = Moto::start();
    let client = dynamo(&moto).await;
    create_table(&client, "conns", "user_id", None).await;
    let demo = quiet_demo(&[]);
    let urls = demo.demo_urls();
    let management = urls.management.clone();

    // Two live clients, whose ids we store as a backend would.
    let mut sockets = urls.connect(&["live-1", "live-2"]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let live = urls.live_ids().await;
    assert_eq!(live.len(), 2);
    // live-2's backend kept a wrong connected_at (3 h ago): old by its record, open in fact.
    for ((user, id), age) in ["live-1", "live-2"].iter().zip(&live).zip([0, 3 * 3600]) {
        put(
            &client,
            "conns",
            &[
                ("user_id", s(user)),
                ("connection_id", s(id)),
                ("connected_at", s(&iso_seconds_ago(age))),
            ],
        )
        .await;
    }
    put(
        &client,
        "conns",
        &[
            ("user_id", s("dead-1")),
            ("connection_id", s("DEAD00000000001=")),
            ("connected_at", s(&iso_seconds_ago(15 * 60))),
            ("domain", s("example.com")),
        ],
    )
    .await;
    put(
        &client,
        "conns",
        &[
            ("user_id", s("dead-2")),
            ("connection_id", s("DEAD00000000002=")),
            (
                "connected_at",
                s(&wsdash::model::iso_millis(time::OffsetDateTime::now_utc())),
            ),
        ],
    )
    .await;
    put(
        &client,
        "conns",
        &[
            ("user_id", s("old")),
            ("connection_id", s("OLD000000000001=")),
            ("connected_at", s("2020-01-01T00:00:00Z")),
        ],
    )
    .await;

    let common_args = [
        "--table",
        "conns",
        "--endpoint",
        management.as_str(),
        "--output",
        "json",
    ];
    let run = |extra: &[&str], audit: &str| {
        let mut args: Vec<&str> = extra.to_vec();
        args.extend_from_slice(&common_args);
        args.extend_from_slice(&["--audit-log", audit]);
        wsdash(&args, &moto, None)
    };
    let dir = std::env::temp_dir().join(format!("wsdash-purge-{}", std::process::id()));
    let audit = dir.join("audit.jsonl");
    let audit = audit.to_str().expect("path");

    let (code, out, err) = run(&["probe"], audit);
    assert_eq!(code, 0, "{err}");
    let probed = by_user(&json(&out));
    let states: HashMap<String, String> = probed
        .iter()
        .map(|(u, r)| {
            (
                u.clone(),
                r["state"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(states["live-1"], "live");
    assert_eq!(
        states["live-2"], "live",
        "the gateway's answer wins over age"
    );
    assert!(
        probed["live-2"]["warning"]
            .as_str()
            .unwrap_or_default()
            .contains("older than 2 h"),
        "an old but live record is flagged as a backend data problem: {}",
        probed["live-2"]
    );
    assert_eq!(states["dead-1"], "stale");
    assert_eq!(states["dead-2"], "stale");
    assert_eq!(
        states["old"], "stale",
        "old records are probed like any other"
    );

    // A push reaches a live user's socket; a dead user's push is Gone (record kept with --keep-gone).
    let (code, out, err) = run(
        &[
            "push",
            "--user",
            "live-1",
            "--type",
            "new_content",
            "--data",
            r#"{"title":"hello"}"#,
        ],
        audit,
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(json(&out)["outcomes"][0]["class"], "delivered");
    use futures_util::StreamExt;
    let message = tokio::time::timeout(Duration::from_secs(5), sockets[0].next())
        .await
        .expect("in time");
    let text = match message {
        Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t))) => t.to_string(),
        other => panic!("expected the push, got {other:?}"),
    };
    let pushed: Value = serde_json::from_str(&text).expect("json push");
    assert_eq!(
        (pushed["type"].as_str(), pushed["title"].as_str()),
        (Some("new_content"), Some("hello"))
    );
    let (code, out, _) = run(
        &[
            "push",
            "--user",
            "dead-2",
            "--type",
            "heartbeat",
            "--keep-gone",
        ],
        audit,
    );
    assert_eq!(code, 1, "an undelivered push is a failed operation");
    assert_eq!(json(&out)["outcomes"][0]["class"], "gone");
    let (code, _, err) = run(&["push", "--user", "live-1", "--data", "{not json"], audit);
    assert_eq!(code, 2, "{err}");

    let (code, out, err) = run(&["purge", "--dry-run"], audit);
    assert_eq!(code, 0, "{err}");
    let plan = json(&out);
    let mut planned: Vec<&str> = plan["plan"]["stale"]
        .as_array()
        .expect("stale")
        .iter()
        .filter_map(|r| r["user_id"].as_str())
        .collect();
    planned.sort();
    assert_eq!(planned, ["dead-1", "dead-2", "old"]);

    let (code, _, err) = run(&["purge"], audit);
    assert_eq!(
        code, 2,
        "purge without --yes and without a terminal must refuse"
    );
    assert!(err.contains("--yes"), "{err}");

    let (code, out, err) = run(&["purge", "--yes"], audit);
    assert_eq!(code, 0, "{err}");
    let purged = json(&out);
    let mut deleted: Vec<&str> = purged["report"]["deleted"]
        .as_array()
        .expect("deleted")
        .iter()
        .filter_map(|r| r["user_id"].as_str())
        .collect();
    deleted.sort();
    assert_eq!(deleted, ["dead-1", "dead-2", "old"]);
    let (_, out, _) = run(&["list"], audit);
    let mut left: Vec<String> = by_user(&json(&out)).into_keys().collect();
    left.sort();
    assert_eq!(left, ["live-1", "live-2"]);

    // dead-2 reconnects before the restore: its newer record must survive.
    put(
        &client,
        "conns",
        &[
            ("user_id", s("dead-2")),
            ("connection_id", s("NEW000000000002=")),
            (
                "connected_at",
                s(&wsdash::model::iso_millis(time::OffsetDateTime::now_utc())),
            ),
        ],
    )
    .await;
    let (code, out, err) = run(&["restore", audit], audit);
    assert_eq!(code, 0, "{err}");
    let report = json(&out);
    assert_eq!(
        report["restored"].as_array().map(Vec::len),
        Some(2),
        "{report}"
    );
    assert_eq!(report["skipped_newer_exists"][0]["user_id"], "dead-2");
    let item = client
        .get_item()
        .table_name("conns")
        .key("user_id", s("dead-1"))
        .send()
        .await
        .expect("get")
        .item()
        .cloned()
        .expect("dead-1 restored");
    assert_eq!(
        item.get("domain"),
        Some(&s("example.com")),
        "the full item comes back, extra attributes included"
    );
    let (_, out, _) = run(&["list"], audit);
    assert_eq!(
        by_user(&json(&out))["dead-2"]["connection_id"],
        "NEW000000000002="
    );
    std::fs::remove_dir_all(dir).ok();
}

/// A purge planned from the scan (with its items) of a moto table keyed by user, holding
/// `items`, whose connections the demo's gateway answers Gone.
struct PlannedPurge {
    _moto: Moto,
    _demo: common::Running,
    client: aws_sdk_dynamodb::Client,
    store: wsdash::store::DynamoStore,
    gateway: std::sync::Arc<dyn wsdash::management::ManagementApi>,
    plan: wsdash::ops::purge::PurgePlan,
}

impl PlannedPurge {
    async fn on(table: &str, items: &[&[(&str, AttributeValue)]]) -> PlannedPurge {
        use wsdash::store::ConnectionStore;
        let moto = Moto::start();
        let client = dynamo(&moto).await;
        create_table(&client, table, "user_id", None).await;
        for item in items {
            put(&client, table, item).await;
        }
        let demo = quiet_demo(&[]);
        let management = demo.value("management endpoint:");
        let sdk = wsdash::aws_env::load_sdk_config(&wsdash::aws_env::AwsSettings {
            dummy_credentials: true,
            ..Default::default()
        })
        .await;
        let store = wsdash::store::DynamoStore::connect(
            &sdk,
            Some(&moto.url),
            table,
            Default::default(),
            2,
        )
        .await
        .expect("store");
        let gateway: std::sync::Arc<dyn wsdash::management::ManagementApi> =
            std::sync::Arc::new(wsdash::management::AwsManagementApi::new(&sdk, &management));
        let (snapshot, scanned) = store.scan_with_items().await.expect("scan");
        let plan = wsdash::ops::purge::plan_purge(gateway.clone(), snapshot.records, 4, None)
            .await
            .with_scanned_items(scanned);
        PlannedPurge {
            _moto: moto,
            _demo: demo,
            client,
            store,
            gateway,
            plan,
        }
    }
}

/// A fresh audit log in a directory of its own: (directory, log path, log).
fn audit_log(
    name: &str,
) -> (
    std::path::PathBuf,
    std::path::PathBuf,
    wsdash::ops::audit::AuditLog,
) {
    let dir = std::env::temp_dir().join(format!("wsdash-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("audit.jsonl");
    let audit = wsdash::ops::audit::AuditLog::open(&path, "test").expect("audit");
    (dir, path, audit)
}

#[tokio::test(flavor = "multi_thread")]
async fn purge_never_deletes_a_record_whose_user_reconnected_between_plan_and_execute() {
    crate::needs!(Tool::Moto);
    use wsdash::ops::purge::execute_purge;
    use wsdash::store::ConnectionStore;
    let planned = PlannedPurge::on(
        "race",
        &[
            &[
                ("connection_id", s("GONE0000000001=")),
                ("user_id", s("zoe")),
                ("connected_at", n(now())),
            ],
            &[
                ("connection_id", s("GONE0000000002=")),
                ("user_id", s("yan")),
                ("connected_at", n(now())),
            ],
        ],
    )
    .await;
    let (store, plan, gateway) = (&planned.store, &planned.plan, planned.gateway.clone());
    assert_eq!((plan.stale.len(), plan.scanned.len()), (2, 2));

    // zoe reconnects after the plan was made: her record (same key) now holds a new connection id.
    let replaced = store
        .put(wsdash::model::ConnectionRecord::new(
            "zoe",
            "ZOE0000000NEW0=",
        ))
        .await
        .expect("put");
    assert_eq!(
        replaced.map(|r| r.connection_id),
        Some("GONE0000000001=".to_string())
    );
    let (dir, path, audit) = audit_log("race");
    let report = execute_purge(
        gateway,
        store,
        plan,
        Some(&audit),
        &wsdash::shutdown::StopRequest::never(),
        4,
    )
    .await;
    // Both intents were written from the scan's items; zoe's delete found her new connection.
    let (intents, results) = common::audit_deletes(&path);
    assert_eq!(intents.len(), 2);
    let mut outcomes: Vec<_> = results
        .iter()
        .map(|r| {
            let user = r.record.as_ref().map(|r| r.user_id.clone());
            (user, r.outcome.clone(), r.item.is_some())
        })
        .collect();
    outcomes.sort();
    assert_eq!(
        outcomes,
        [
            (Some("yan".into()), Some("deleted".into()), true),
            (Some("zoe".into()), Some("changed".into()), false),
        ]
    );
    std::fs::remove_dir_all(dir).ok();
    assert_eq!(
        report
            .deleted
            .iter()
            .map(|r| r.user_id.as_str())
            .collect::<Vec<_>>(),
        ["yan"]
    );
    assert_eq!(
        report
            .changed
            .iter()
            .map(|r| r.user_id.as_str())
            .collect::<Vec<_>>(),
        ["zoe"]
    );
    assert_eq!(
        store
            .find_by_user("zoe")
            .await
            .expect("find")
            .map(|r| r.connection_id),
        Some("ZOE0000000NEW0=".to_string())
    );
}

/// A purge's intents hold the items its scan read (no second read of the table), and each
/// result holds the item exactly as DeleteItem removed it: a record that changed between the
/// scan and the delete (same connection, another attribute) is put back as it was deleted.
#[tokio::test(flavor = "multi_thread")]
async fn purge_audits_the_scanned_item_and_restore_puts_back_the_item_as_deleted() {
    crate::needs!(Tool::Moto);
    use wsdash::ops::purge::execute_purge;
    use wsdash::ops::restore::restore_from_audit;
    let planned = PlannedPurge::on(
        "exact",
        &[&[
            ("connection_id", s("GONE0000000003=")),
            ("user_id", s("ada")),
            ("connected_at", n(now())),
            ("tier", s("free")),
        ]],
    )
    .await;
    let (client, store, plan) = (&planned.client, &planned.store, &planned.plan);
    assert_eq!((plan.stale.len(), plan.scanned.len()), (1, 1));

    // The backend updates the item after the scan; the connection is the same one.
    client
        .update_item()
        .table_name("exact")
        .key("user_id", s("ada"))
        .update_expression("SET tier = :t")
        .expression_attribute_values(":t", s("pro"))
        .send()
        .await
        .expect("update");
    let (dir, path, audit) = audit_log("exact");
    let stop = wsdash::shutdown::StopRequest::never();
    let gateway = planned.gateway.clone();
    let report = execute_purge(gateway, store, plan, Some(&audit), &stop, 4).await;
    assert_eq!(report.deleted.len(), 1, "{report:?}");

    let (intents, results) = common::audit_deletes(&path);
    let tier = |entry: &wsdash::ops::audit::AuditEntry| {
        entry.item.as_ref().map(|item| item["tier"].clone())
    };
    assert_eq!(
        intents.iter().map(tier).collect::<Vec<_>>(),
        [Some(serde_json::json!({"S": "free"}))],
        "the intent holds the item as scanned"
    );
    assert_eq!(
        results.iter().map(tier).collect::<Vec<_>>(),
        [Some(serde_json::json!({"S": "pro"}))],
        "the result holds the item as deleted"
    );

    let restored = restore_from_audit(store, &path, None, None, &stop, 4)
        .await
        .expect("restore");
    assert_eq!(restored.restored.len(), 1, "{restored:?}");
    let item = client
        .get_item()
        .table_name("exact")
        .key("user_id", s("ada"))
        .send()
        .await
        .expect("get")
        .item
        .expect("restored item");
    assert_eq!(item.get("tier"), Some(&s("pro")));
    assert_eq!(item.get("connection_id"), Some(&s("GONE0000000003=")));
    std::fs::remove_dir_all(dir).ok();
}

/// `wsdash ARGS` against moto with extra variables.
fn wsdash_with(args: &[&str], moto: &Moto, env: &[(&str, &str)]) -> (i32, String, String) {
    common::wsdash_with_env(args, moto, None, env)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_command_tells_the_truth_in_its_exit_code_and_its_words() {
    crate::needs!(Tool::Moto);
    let moto = Moto::start();
    let client = dynamo(&moto).await;
    create_table(&client, "truth", "user_id", None).await;
    put(
        &client,
        "truth",
        &[
            ("user_id", s("amy")),
            ("connection_id", s("AMY00000000001=")),
            ("connected_at", s(&iso_seconds_ago(60))),
        ],
    )
    .await;
    let closed = format!("http://127.0.0.1:{}/production", common::free_port());
    let dir = std::env::temp_dir().join(format!("wsdash-truth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let audit = dir.join("audit.jsonl");
    let audit = audit.to_str().expect("path");

    // Nothing answers at the management endpoint: the work could not be done.
    let base = [
        "--table",
        "truth",
        "--endpoint",
        closed.as_str(),
        "--audit-log",
        audit,
    ];
    let with = |extra: &[&str]| -> Vec<String> {
        extra
            .iter()
            .chain(base.iter())
            .map(|a| a.to_string())
            .collect()
    };
    let args = with(&["probe"]);
    let (code, out, err) = wsdash_with(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        &moto,
        &[],
    );
    assert_eq!(
        code, 1,
        "probe with every GetConnection failing: {out}{err}"
    );
    assert!(
        err.contains("1 of 1 probe(s) failed") && err.contains("nothing answers at"),
        "{err}"
    );
    assert!(!err.contains("DispatchFailure"), "no SDK dump: {err}");
    let args = with(&["purge", "--yes", "--output", "json"]);
    let (code, out, err) = wsdash_with(
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        &moto,
        &[],
    );
    assert_eq!(code, 1, "{err}");
    assert_eq!(
        json(&out)["report"]["deleted"],
        serde_json::json!([]),
        "JSON is always there"
    );
    assert!(err.contains("could not be probed and were kept"), "{err}");

    // Input that cannot work is named, with exit 2, before any call.
    for (args, needle) in [
        (
            vec!["list", "--table", "truth", "--endpoint", "not a url"],
            "\"not a url\" is not a Management API endpoint",
        ),
        (
            vec!["list", "--table", ""],
            "--table \"\" is not a DynamoDB table name",
        ),
        (
            vec!["disconnect", "", "--yes", "--endpoint", closed.as_str()],
            "connection_id is empty",
        ),
    ] {
        let (code, _, err) = wsdash_with(&args, &moto, &[]);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        "default_env = \"e\"\n[env.e]\ntable = \"truth\"\nprobe_rate = nan\n",
    )
    .expect("config");
    let (code, _, err) = wsdash_with(
        &["list", "--config", config.to_str().expect("path")],
        &moto,
        &[],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("api_rate must be a number above 0") && err.contains("NaN"),
        "{err}"
    );

    // No credentials anywhere: said in words, with what to do (no network is touched).
    let (code, _, err) = wsdash_with(
        &["list", "--table", "truth"],
        &moto,
        &[
            ("AWS_ACCESS_KEY_ID", ""),
            ("AWS_SECRET_ACCESS_KEY", ""),
            (
                "AWS_ENDPOINT_URL_DYNAMODB",
                "https://dynamodb.us-east-1.amazonaws.com",
            ),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_CONFIG_FILE", "/nonexistent/aws-config"),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                "/nonexistent/aws-credentials",
            ),
        ],
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("no AWS credentials found") && err.contains("aws sso login"),
        "{err}"
    );

    // Against a live emulator: nothing stale still prints JSON; a made-up id fails like a push.
    let demo = quiet_demo(&[]);
    let management = demo.value("management endpoint:");
    let base = [
        "--table",
        "truth",
        "--endpoint",
        management.as_str(),
        "--audit-log",
        audit,
    ];
    let run = |extra: &[&str]| {
        let args: Vec<&str> = extra.iter().chain(base.iter()).copied().collect();
        wsdash_with(&args, &moto, &[])
    };
    client
        .delete_item()
        .table_name("truth")
        .key("user_id", s("amy"))
        .send()
        .await
        .expect("delete");
    let (code, out, err) = run(&["purge", "--yes", "--output", "json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(json(&out)["plan"]["stale"], serde_json::json!([]), "{out}");
    let (push_code, _, _) = run(&[
        "push",
        "--connection",
        "MADEUP00000001=",
        "--type",
        "heartbeat",
    ]);
    let (code, out, err) = run(&["disconnect", "MADEUP00000001=", "--yes"]);
    assert_eq!(
        (code, push_code),
        (1, 1),
        "disconnect and push agree: {out}{err}"
    );
    assert!(out.contains("not connected"), "{out}");

    // restore: a file that is not an audit log is refused; a record deleted twice comes back once.
    let not_audit = dir.join("notes.txt");
    std::fs::write(&not_audit, "hello\nworld\n").expect("write");
    let (code, _, err) = run(&["restore", not_audit.to_str().expect("path")]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("is not a wsdash audit log"), "{err}");
    let twice = dir.join("twice.jsonl");
    let record = serde_json::json!({"user_id": "bo", "connection_id": "BO000000000001=", "connected_at": iso_seconds_ago(30)});
    let item = serde_json::json!({"user_id": {"S": "bo"}, "connection_id": {"S": "BO000000000001="}, "connected_at": {"S": iso_seconds_ago(30)}});
    let mut lines = String::new();
    for minute in [2, 1] {
        let at = iso_seconds_ago(minute * 60);
        for (phase, outcome) in [("intent", None), ("result", Some("deleted"))] {
            let mut entry = serde_json::json!({"at": at, "op": "delete", "phase": phase, "environment": "t", "actor": "t", "record": record});
            if phase == "intent" {
                entry["item"] = item.clone();
            }
            if let Some(o) = outcome {
                entry["outcome"] = serde_json::json!(o);
            }
            lines.push_str(&format!("{entry}\n"));
        }
    }
    std::fs::write(&twice, lines).expect("write");
    let (code, out, err) = run(&["restore", twice.to_str().expect("path"), "--output", "json"]);
    assert_eq!(code, 0, "{err}");
    let report = json(&out);
    assert_eq!(
        report["restored"].as_array().map(Vec::len),
        Some(1),
        "{report}"
    );
    assert_eq!(
        report["skipped_newer_exists"],
        serde_json::json!([]),
        "{report}"
    );
    let (code, out, _) = run(&["restore", twice.to_str().expect("path"), "--output", "json"]);
    assert_eq!(code, 0);
    assert_eq!(
        json(&out)["already_present"].as_array().map(Vec::len),
        Some(1),
        "{out}"
    );
    std::fs::remove_dir_all(dir).ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn zone_less_times_read_as_utc_and_future_times_are_flagged() {
    crate::needs!(Tool::Moto);
    let moto = Moto::start();
    let client = dynamo(&moto).await;
    create_table(&client, "times", "user_id", None).await;
    // Python's datetime.utcnow().isoformat(): no zone, microseconds.
    let t = time::OffsetDateTime::now_utc() - time::Duration::minutes(5);
    let zoneless = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.123456",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    put(
        &client,
        "times",
        &[
            ("user_id", s("py")),
            ("connection_id", s("PY000000000001=")),
            ("connected_at", s(&zoneless)),
        ],
    )
    .await;
    put(
        &client,
        "times",
        &[
            ("user_id", s("skew")),
            ("connection_id", s("SKEW0000000001=")),
            ("connected_at", s(&iso_seconds_ago(-3 * 3600))),
        ],
    )
    .await;
    let (code, out, err) = wsdash(
        &["list", "--table", "times", "--output", "json"],
        &moto,
        None,
    );
    assert_eq!(code, 0, "{err}");
    let users = by_user(&json(&out));
    assert_eq!(users["py"]["state"], "unprobed", "{}", users["py"]);
    assert_eq!(
        users["py"]["connected_at"],
        format!("{}Z", &zoneless[..23]),
        "shown as the UTC time it is"
    );
    assert!(
        users["skew"]["warning"]
            .as_str()
            .unwrap_or_default()
            .contains("in the future"),
        "{}",
        users["skew"]
    );
    let (_, out, _) = wsdash(&["list", "--table", "times"], &moto, None);
    let skew_line = out
        .lines()
        .find(|l| l.starts_with("skew"))
        .unwrap_or_default();
    assert!(skew_line.contains("future"), "{out}");
}

/// A signal at a random moment of `purge --yes` never loses a record: the delete in flight
/// finishes and writes its result, the rest is left for the next run, and `restore` puts every
/// deleted record back. SIGKILL (no chance to finish) leaves an intent without a result, which
/// restore treats as maybe deleted.
#[tokio::test(flavor = "multi_thread")]
async fn signals_during_purge_lose_nothing_over_twenty_five_runs() {
    crate::needs!(Tool::Moto);
    use rand::Rng;
    let moto = Moto::start();
    let client = dynamo(&moto).await;
    create_table(&client, "sig", "user_id", None).await;
    let demo = quiet_demo(&[]);
    let management = demo.value("management endpoint:");
    let dir = std::env::temp_dir().join(format!("wsdash-signals-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    // Deletes go in batches of 4 × probe_concurrency: small batches, so signals land among them.
    let config = common::env_config(&dir, "local", "probe_concurrency = 4");
    const RECORDS: usize = 300;
    let items: Vec<HashMap<String, AttributeValue>> = (0..RECORDS)
        .map(|i| {
            HashMap::from([
                ("user_id".to_string(), s(&format!("dead-{i:03}"))),
                // No such connection on the emulator: every probe answers 410 Gone.
                ("connection_id".to_string(), s(&format!("GONE{i:011}="))),
                ("connected_at".to_string(), s(&iso_seconds_ago(600))),
            ])
        })
        .collect();
    let everyone: std::collections::BTreeSet<String> =
        (0..RECORDS).map(|i| format!("dead-{i:03}")).collect();
    let signals = ["INT", "TERM", "HUP"];
    let mut interrupted_runs = 0;
    for run in 0..27 {
        // Two runs end with SIGKILL: nothing can be finished, restore must still bring all back.
        let signal = if run >= 25 { "KILL" } else { signals[run % 3] };
        put_many(&client, "sig", &items).await;
        let audit = dir.join(format!("audit-{run}.jsonl"));
        let audit_path = audit.to_str().expect("path");
        let mut child = common::wsdash_command(
            &[
                "purge",
                "--yes",
                "--table",
                "sig",
                "--endpoint",
                &management,
                "--audit-log",
                audit_path,
                "--config",
                config.to_str().expect("path"),
            ],
            &moto,
        )
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start purge");
        // Wait until the deletes have begun, then strike at a random point among them.
        let strike_after = rand::rng().random_range(1..RECORDS as u64 / 2);
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let intents = std::fs::read_to_string(&audit)
                .map(|t| t.matches("\"phase\":\"intent\"").count() as u64)
                .unwrap_or(0);
            if intents >= strike_after || child.try_wait().expect("wait").is_some() {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "purge never started deleting"
            );
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = std::process::Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status();
        let out = child.wait_with_output().expect("purge output");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let code = out.status.code();
        let (intents, results) = common::audit_deletes(&audit);
        let stored = stored_users(&client, "sig").await;
        let deleted: std::collections::BTreeSet<String> = intents
            .iter()
            .filter_map(|e| e.record.as_ref().map(|r| r.user_id.clone()))
            .collect();
        // Every missing record has its full item in the log.
        for user in everyone.difference(&stored) {
            assert!(
                deleted.contains(user),
                "run {run} (SIG{signal}): {user} deleted without an audit intent"
            );
        }
        if signal != "KILL" {
            if code == Some(130) {
                interrupted_runs += 1;
                assert!(
                    stderr.contains("stopped by a signal"),
                    "run {run}: {stderr}"
                );
                assert!(
                    !stored.is_empty(),
                    "run {run}: an interrupted purge left nothing to do"
                );
            } else {
                assert_eq!(code, Some(0), "run {run} (SIG{signal}): {stderr}");
            }
            assert_eq!(
                intents.len(),
                results.len(),
                "run {run} (SIG{signal}): every started delete writes its result\n{stderr}"
            );
        }
        let (code, _, err) = wsdash(
            &[
                "restore",
                audit_path,
                "--table",
                "sig",
                "--audit-log",
                dir.join("restore.jsonl").to_str().expect("path"),
                "--config",
                config.to_str().expect("path"),
            ],
            &moto,
            None,
        );
        assert_eq!(code, 0, "run {run}: restore: {err}");
        assert_eq!(
            stored_users(&client, "sig").await,
            everyone,
            "run {run} (SIG{signal}): restore brings every record back"
        );
    }
    assert!(
        interrupted_runs >= 20,
        "only {interrupted_runs} of 25 signals landed during the deletes"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// A table keyed by user and connection holds one record per open tab: a push to the user
/// reaches every tab, and `--type` sends exactly the fields given, no template samples.
#[tokio::test(flavor = "multi_thread")]
async fn a_push_to_a_user_reaches_every_tab_with_only_the_fields_given() {
    crate::needs!(Tool::Moto);
    use futures_util::StreamExt;
    let moto = Moto::start();
    let client = dynamo(&moto).await;
    common::dynamo::create_table_by_user_and_connection(&client, "tabs").await;
    let demo = quiet_demo(&[]);
    let urls = demo.demo_urls();
    let management = urls.management.clone();
    // Two tabs (the demo's own backend keeps one connection per user, so they sign in under two
    // names there; the table under test stores both as "multi").
    let mut tabs = urls.connect(&["multi-a", "multi-b"]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ids = urls.live_ids().await;
    assert_eq!(ids.len(), 2);
    for (n, id) in ids.iter().enumerate() {
        put(
            &client,
            "tabs",
            &[
                ("user_id", s("multi")),
                ("connection_id", s(id)),
                ("connected_at", s(&iso_seconds_ago(60 - n as i64))),
            ],
        )
        .await;
    }
    let dir = std::env::temp_dir().join(format!("wsdash-tabs-{}", std::process::id()));
    let audit = dir.join("audit.jsonl");
    let (code, out, err) = wsdash(
        &[
            "push",
            "--user",
            "multi",
            "--type",
            "status_update",
            "--data",
            r#"{"status":"ok"}"#,
            "--table",
            "tabs",
            "--endpoint",
            &management,
            "--output",
            "json",
            "--audit-log",
            audit.to_str().expect("path"),
        ],
        &moto,
        None,
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        json(&out)["outcomes"].as_array().map(Vec::len),
        Some(2),
        "{out}"
    );
    for (n, tab) in tabs.iter_mut().enumerate() {
        let message = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match tab.next().await {
                    Some(Ok(tokio_tungstenite::tungstenite::Message::Text(text))) => {
                        return serde_json::from_str::<Value>(&text).expect("json message")
                    }
                    Some(Ok(_)) => continue,
                    other => panic!("tab {n} closed: {other:?}"),
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("tab {n} got no message"));
        assert_eq!(
            message,
            serde_json::json!({"type": "status_update", "status": "ok"}),
            "tab {n} gets exactly the fields given"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Stored values are written by whoever reached the backend: printed, they must neither drive
/// the operator's terminal nor fake rows, and one huge id must not crash or flood anything.
#[tokio::test(flavor = "multi_thread")]
async fn hostile_stored_values_are_printed_escaped_and_never_crash_a_command() {
    crate::needs!(Tool::Moto);
    let moto = Moto::start();
    let client = dynamo(&moto).await;
    create_table(&client, "hostile", "user_id", None).await;
    let demo = quiet_demo(&[]);
    let management = demo.value("management endpoint:");
    let huge = "A".repeat(65_000);
    let rows = [
        ("screen\u{1b}[2J\u{1b}]0;PWNED\u{7}", "ESC0000000001="),
        ("fake\nrow  ghost  2020-01-01", "NEWLINE000001="),
        ("rtl\u{202E}gpj.exe", "BIDI00000001="),
        ("huge", huge.as_str()),
        ("csi", "CSI\u{9b}31m00001="),
    ];
    for (user, id) in rows {
        put(
            &client,
            "hostile",
            &[
                ("user_id", s(user)),
                ("connection_id", s(id)),
                ("connected_at", s(&iso_seconds_ago(60))),
            ],
        )
        .await;
    }
    let base = ["--table", "hostile", "--endpoint", management.as_str()];
    for command in [&["list"][..], &["probe"], &["purge", "--dry-run"]] {
        let mut args = command.to_vec();
        args.extend_from_slice(&base);
        let (code, out, err) = wsdash(&args, &moto, None);
        assert!(
            code == 0 || code == 1,
            "{command:?} must not crash (exit {code}): {err}"
        );
        for text in [&out, &err] {
            assert!(
                !text.contains(['\u{1b}', '\u{7}', '\u{202E}', '\u{9b}']),
                "{command:?} printed a raw control character:\n{text:?}"
            );
            assert!(
                text.len() < 20_000,
                "{command:?} printed the 65 KB id in full"
            );
        }
        if command == ["list"] {
            assert!(out.contains("screen\\u{1b}[2J"), "{out}");
            assert!(out.contains("fake\\nrow"), "{out}");
            assert!(out.contains("(65000 chars)"), "{out}");
            // A header and five records: the newline in a user id made no row of its own.
            assert_eq!(out.lines().count(), 6, "{out}");
        }
    }
}

/// DynamoDB throttles a third of the calls. `wsdash purge --yes` still deletes all 120 Gone
/// records, each audited once with a "deleted" result, because every throttled call is sent
/// again after a jittered backoff; and `restore` then brings every one of them back the same way.
#[tokio::test(flavor = "multi_thread")]
async fn dynamodb_throttling_is_retried_with_backoff() {
    crate::needs!(Tool::Moto);
    use std::sync::atomic::Ordering;
    let moto = Moto::start();
    let client = dynamo(&moto).await;
    create_table(&client, "throttled", "connection_id", Some("user_id")).await;
    let items: Vec<HashMap<String, AttributeValue>> = (0..120)
        .map(|i| {
            HashMap::from([
                ("user_id".to_string(), s(&format!("dead-{i:03}"))),
                ("connection_id".to_string(), s(&format!("THRT{i:011}="))),
                ("connected_at".to_string(), n(now() - 600)),
            ])
        })
        .collect();
    put_many(&client, "throttled", &items).await;
    let proxy = common::proxy::DynamoProxy::start_throttling(&moto, Some(3)).await;
    let throttled = proxy.throttled.clone();
    let demo = quiet_demo(&[]);
    let management = demo.value("management endpoint:");
    let dir = std::env::temp_dir().join(format!("wsdash-throttled-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let audit = dir.join("audit.jsonl");
    let audit_path = audit.to_str().expect("path");
    let (code, stdout, stderr) = common::wsdash_with_env(
        &[
            "purge",
            "--yes",
            "--output",
            "json",
            "--table",
            "throttled",
            "--endpoint",
            &management,
            "--audit-log",
            audit_path,
        ],
        &moto,
        None,
        &[("AWS_ENDPOINT_URL_DYNAMODB", proxy.url.as_str())],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        throttled.load(Ordering::SeqCst) >= 20,
        "the proxy throttled {} calls",
        throttled.load(Ordering::SeqCst)
    );
    assert_eq!(
        stored_users(&client, "throttled").await.len(),
        0,
        "{stdout}"
    );
    let (intents, results) = common::audit_deletes(&audit);
    assert_eq!(intents.len(), 120);
    assert_eq!(results.len(), 120);
    assert!(
        results
            .iter()
            .all(|r| r.outcome.as_deref() == Some("deleted")),
        "{results:?}"
    );

    let before = throttled.load(Ordering::SeqCst);
    let (code, stdout, stderr) = common::wsdash_with_env(
        &[
            "restore",
            "--output",
            "json",
            "--table",
            "throttled",
            audit_path,
        ],
        &moto,
        None,
        &[("AWS_ENDPOINT_URL_DYNAMODB", proxy.url.as_str())],
    );
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(throttled.load(Ordering::SeqCst) > before);
    assert_eq!(
        stored_users(&client, "throttled").await.len(),
        120,
        "{stdout}"
    );
    std::fs::remove_dir_all(dir).ok();
}

/// Read the store's feed until `count` changes came, or fail after 20 s with what did.
async fn changes_from(
    feed: &mut Box<dyn wsdash::store::changes::ChangeFeed>,
    count: usize,
) -> Vec<wsdash::store::changes::StoreChange> {
    let mut changes = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while changes.len() < count {
        assert!(
            std::time::Instant::now() < deadline,
            "only these changes came: {changes:?}"
        );
        changes.extend(feed.next_changes().await.expect("read the stream"));
    }
    changes
}

/// The table's stream, followed from the moment the feed opens: puts, a rewrite, a delete and a
/// malformed item come out in order, with the table's key. The stream carries keys only, so the
/// feed reads each written item from the table, as it is now (an item deleted since reads as
/// removed). A table without a stream has no feed.
#[tokio::test(flavor = "multi_thread")]
async fn the_table_stream_reports_each_change_in_order() {
    crate::needs!(Tool::Moto);
    use wsdash::store::changes::{ItemKey, StoreChange};
    use wsdash::store::ConnectionStore;
    let moto = Moto::start();
    let client = dynamo(&moto).await;
    common::dynamo::create_table_by_user_and_connection(&client, "tabs").await;
    common::dynamo::enable_stream(&client, "tabs", "KEYS_ONLY").await;
    create_table(&client, "plain", "user_id", None).await;
    put(
        &client,
        "tabs",
        &[
            ("user_id", s("before")),
            ("connection_id", s("Bfr0000000001=")),
            ("connected_at", n(now())),
        ],
    )
    .await;
    let sdk = wsdash::aws_env::load_sdk_config(&wsdash::aws_env::AwsSettings {
        dummy_credentials: true,
        ..Default::default()
    })
    .await;
    let open = |table: &'static str| {
        let sdk = sdk.clone();
        let url = moto.url.clone();
        async move {
            wsdash::store::DynamoStore::connect(&sdk, Some(&url), table, Default::default(), 1)
                .await
                .expect("connect")
        }
    };
    assert!(
        open("plain")
            .await
            .changes()
            .await
            .expect("describe")
            .is_none(),
        "a table without a stream has no feed"
    );
    let store = open("tabs").await;
    let mut feed = store
        .changes()
        .await
        .expect("open the stream")
        .expect("the table has a stream");
    let key = |connection: &str| ItemKey {
        user_id: Some("tab-user".into()),
        connection_id: Some(connection.into()),
    };
    let record = |connection: &str, at: i64| {
        vec![
            ("user_id", s("tab-user")),
            ("connection_id", s(connection)),
            ("connected_at", n(at)),
        ]
    };
    let at = now();
    put(&client, "tabs", &record("TabA000000001=", at - 5)).await;
    put(&client, "tabs", &record("TabA000000001=", at)).await;
    put(&client, "tabs", &record("TabB000000001=", at)).await;
    client
        .delete_item()
        .table_name("tabs")
        .key("user_id", s("tab-user"))
        .key("connection_id", s("TabB000000001="))
        .send()
        .await
        .expect("delete");
    put(
        &client,
        "tabs",
        &[
            ("user_id", s("tab-user")),
            ("connection_id", s("TabC000000001=")),
        ],
    )
    .await;

    let changes = changes_from(&mut feed, 5).await;
    let summary: Vec<String> = changes
        .iter()
        .map(|change| match change {
            StoreChange::Put { key, item: Ok(r) } => format!(
                "put {} at {}",
                key.connection_id.clone().unwrap_or_default(),
                r.connected_at.unix_timestamp() - at
            ),
            StoreChange::Put { key, item: Err(m) } => format!(
                "malformed {}: {}",
                key.connection_id.clone().unwrap_or_default(),
                m.reason
            ),
            StoreChange::Removed { key } => {
                format!("removed {}", key.connection_id.clone().unwrap_or_default())
            }
        })
        .collect();
    assert_eq!(
        summary,
        [
            // Written twice before the feed read it: both reads see the item as it is now.
            "put TabA000000001= at 0",
            "put TabA000000001= at 0",
            // Deleted before the feed read its insert.
            "removed TabB000000001=",
            "removed TabB000000001=",
            "malformed TabC000000001=: missing connected_at",
        ],
        "nothing from before the feed opened, then every change in order"
    );
    assert_eq!(changes[2].key(), &key("TabB000000001="));
}
