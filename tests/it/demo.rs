//! The demo as a user runs it: swarm clients connect, receive notifications, churn, and leave stale
//! records behind when `$disconnect` calls are lost.

use crate::common::Running;
use std::time::Duration;

fn get_json(url: &str, token: Option<&str>) -> serde_json::Value {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut request = reqwest::Client::new().get(url);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json")
    })
}

#[test]
fn the_demo_swarm_receives_pushes_and_leaves_stale_records_when_disconnects_are_lost() {
    let demo = Running::start(
        &[
            "demo",
            "--headless",
            "--clients",
            "20",
            "--time-scale",
            "20",
            "--lifetime-secs",
            "20",
            "--drop-disconnect",
            "1",
            "--vanish",
            "0.5",
            "--push-every-ms",
            "50",
            "--admin-token",
            "t",
        ],
        "try:",
    );
    let backend = demo.value("backend:");
    let admin = demo
        .value("emulator admin API:")
        .replace("/ (not part of AWS)", "");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let records = get_json(&format!("{backend}/debug/ws-connections"), Some("t"));
        let stats = get_json(&format!("{admin}/stats"), None);
        let live: std::collections::HashSet<String> =
            get_json(&format!("{admin}/connections"), None)
                .as_array()
                .expect("list")
                .iter()
                .filter_map(|c| c["connection_id"].as_str().map(str::to_string))
                .collect();
        let stale = records
            .as_array()
            .expect("records")
            .iter()
            .filter(|r| !live.contains(r["connection_id"].as_str().unwrap_or_default()))
            .count();
        let delivered = stats["post_to_connection"]["delivered"]
            .as_u64()
            .unwrap_or(0);
        let dropped = stats["sockets"]["disconnects_dropped"]
            .as_u64()
            .unwrap_or(0);
        if stale > 0 && delivered > 0 && dropped > 0 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no stale records / deliveries yet: stale {stale}, delivered {delivered}, dropped {dropped}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
