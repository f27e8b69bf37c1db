//! Orphans as an operator finds them: the demo's client whose record the backend forgot is
//! listed by `wsdash orphans` from the stage's access log (on moto's CloudWatch Logs, as on
//! AWS) and the store (Redis), confirmed by GetConnection, closed with `--disconnect` (audited
//! first), and its client registers again.

use crate::common::redis::Redis;
use crate::common::tools::Tool;
use crate::common::{env_config, Moto, Running, BIN};
use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn wsdash(
    config: &str,
    moto: &Moto,
    audit: &std::path::Path,
    args: &[&str],
) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(["--config", config, "--audit-log"])
        .arg(audit)
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL_CLOUDWATCH_LOGS", &moto.url)
        .env("XDG_CONFIG_HOME", "/nonexistent/wsdash-test-config")
        .env("WSDASH_LOG", "warn")
        .env_remove("WSDASH_ENV")
        .stdin(Stdio::null())
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

#[test]
fn the_forgotten_client_is_found_confirmed_closed_and_registers_again() {
    crate::needs!(Tool::Moto, Tool::RedisServer);
    let moto = Moto::start();
    let redis = Redis::start();
    let demo = Running::start(
        &[
            "demo",
            "--headless",
            "--clients",
            "3",
            "--forgotten",
            "1",
            "--lifetime-secs",
            "0",
            "--flappers",
            "0",
            "--push-every-ms",
            "0",
            "--drop-disconnect",
            "0",
            "--store-url",
            &redis.url,
            "--log-group",
            "/ws/access",
            "--logs-endpoint",
            &moto.url,
        ],
        "try:",
    );
    let urls = demo.demo_urls();
    let dir = std::env::temp_dir().join(format!("wsdash-orphans-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let audit = dir.join("audit.jsonl");
    let config = env_config(
        &dir,
        "demo",
        &format!(
            "store = \"{}\"\nendpoint = \"{}\"\nlog_group = \"/ws/access\"",
            redis.url, urls.management
        ),
    );
    let config = config.to_string_lossy().to_string();

    // Within a minute (a connection younger than 10 s may still be being registered).
    let deadline = Instant::now() + Duration::from_secs(60);
    let orphan = loop {
        let (code, out, err) = wsdash(&config, &moto, &audit, &["orphans", "--output", "json"]);
        // The emulator ships its first lines a moment after it starts: until then the group
        // does not exist, and the command says so.
        if code != 0 && err.contains("not found") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_secs(1));
            continue;
        }
        assert_eq!(code, 0, "{err}");
        let found = json(&out);
        let list = found.as_array().expect("a list");
        if let Some(first) = list.first() {
            assert_eq!(list.len(), 1, "only the forgotten client: {out}");
            break first.clone();
        }
        assert!(Instant::now() < deadline, "no orphan found: {out}\n{err}");
        std::thread::sleep(Duration::from_secs(2));
    };
    let id = orphan["connection_id"].as_str().expect("id").to_string();
    assert!(
        orphan["user_agent"]
            .as_str()
            .is_some_and(|a| a.contains("(forgotten)")),
        "{orphan}"
    );
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    assert!(
        runtime.block_on(urls.live_ids()).contains(&id),
        "the gateway holds it"
    );
    let (_, listed, _) = wsdash(&config, &moto, &audit, &["list", "--output", "json"]);
    assert!(
        !json(&listed)
            .as_array()
            .expect("records")
            .iter()
            .any(|r| r["connection_id"] == id.as_str()),
        "and the store does not"
    );

    // Closed, audited first; no record touched.
    let (code, out, err) = wsdash(
        &config,
        &moto,
        &audit,
        &["orphans", "--disconnect", "--yes", "--output", "json"],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    let text = std::fs::read_to_string(&audit).expect("audit log");
    let intent = text
        .lines()
        .position(|l| l.contains("\"disconnect\"") && l.contains("\"intent\"") && l.contains(&id));
    let result = text
        .lines()
        .position(|l| l.contains("\"disconnect\"") && l.contains("\"result\"") && l.contains(&id));
    assert!(
        matches!((intent, result), (Some(i), Some(r)) if i < r),
        "audit: {text}"
    );
    assert!(
        !runtime.block_on(urls.live_ids()).contains(&id),
        "the socket is closed"
    );

    // The client reconnects and, this time, is registered.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, listed, _) = wsdash(&config, &moto, &audit, &["list", "--output", "json"]);
        if json(&listed).as_array().expect("records").iter().any(|r| {
            r["user_id"]
                .as_str()
                .is_some_and(|u| u.starts_with("forgotten-"))
        }) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the client never registered again: {listed}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    std::fs::remove_dir_all(dir).ok();
}
