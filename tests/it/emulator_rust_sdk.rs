//! wsdash's Management API client (`management/`) against the emulator, with gateway and
//! backend as separate processes like a user runs them, plus the limits and faults it must
//! classify; the official Rust SDK, making the same calls, is the control.

use crate::common;
use crate::common::tools::Tool;

use crate::common::{free_port, Running};
use bytes::Bytes;
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use wsdash::aws_env::{load_sdk_config, AwsSettings};
use wsdash::management::{AwsManagementApi, GatewayError, ManagementApi};
use wsdash::model::DeliveryClass;

struct System {
    _gateway: Running,
    _backend: Running,
    websocket: String,
    management: String,
    backend: String,
}

fn start_system(gateway_flags: &[&str]) -> System {
    start_system_with(gateway_flags, &[])
}

fn start_system_with(gateway_flags: &[&str], backend_flags: &[&str]) -> System {
    let (gw_port, be_port) = (free_port(), free_port());
    let gw_addr = format!("127.0.0.1:{gw_port}");
    let be_url = format!("http://127.0.0.1:{be_port}");
    let mut args = vec!["gateway", "--listen", &gw_addr, "--backend", &be_url];
    args.extend_from_slice(gateway_flags);
    let gateway = Running::start(&args, "backend:");
    let management = gateway.value("management endpoint:");
    let be_addr = format!("127.0.0.1:{be_port}");
    let mut args = vec![
        "backend",
        "--listen",
        &be_addr,
        "--gateway",
        &management,
        "--dev-tokens",
        "--jwt-secret",
        "test-secret",
        "--admin-token",
        "t",
    ];
    args.extend_from_slice(backend_flags);
    let backend = Running::start(&args, "admin token:");
    System {
        websocket: gateway.value("websocket:"),
        management,
        backend: be_url,
        _gateway: gateway,
        _backend: backend,
    }
}

async fn management_api(endpoint: &str) -> Arc<dyn ManagementApi> {
    let sdk = load_sdk_config(&AwsSettings {
        dummy_credentials: true,
        // The emulator's API lives in us-east-1 (its default --region): signed for it.
        region: Some("us-east-1".into()),
        call_timeout: Some(Duration::from_secs(3)),
        ..AwsSettings::default()
    })
    .await;
    Arc::new(AwsManagementApi::new(&sdk, endpoint))
}

/// The connection id of `user`, from the backend's debug endpoint.
async fn connection_of(system: &System, user: &str) -> String {
    let client = reqwest::Client::new();
    for _ in 0..100 {
        let records: serde_json::Value = client
            .get(format!("{}/debug/ws-connections", system.backend))
            .bearer_auth("t")
            .send()
            .await
            .expect("backend")
            .json()
            .await
            .expect("json");
        if let Some(r) = records
            .as_array()
            .and_then(|a| a.iter().find(|r| r["user_id"] == user))
        {
            return r["connection_id"].as_str().expect("id").to_string();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{user} never appeared in the backend's records");
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(system: &System, token: &str) -> Socket {
    let (socket, _) =
        tokio_tungstenite::connect_async(format!("{}?token={token}", system.websocket))
            .await
            .expect("connect");
    socket
}

async fn next_text(socket: &mut Socket) -> String {
    match tokio::time::timeout(Duration::from_secs(5), socket.next()).await {
        Ok(Some(Ok(Message::Text(t)))) => t.to_string(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

#[tokio::test]
async fn wsdashs_client_pushes_probes_and_deletes_through_the_emulator() {
    let system = start_system(&[]);
    let api = management_api(&system.management).await;
    let mut socket = connect(&system, "dev:alice").await;
    let id = connection_of(&system, "alice").await;

    api.post_to_connection(&id, Bytes::from_static(br#"{"type":"heartbeat"}"#))
        .await
        .expect("post");
    assert_eq!(next_text(&mut socket).await, r#"{"type":"heartbeat"}"#);

    let info = api.get_connection(&id).await.expect("get");
    assert_eq!(info.source_ip.as_deref(), Some("127.0.0.1"));
    assert!(info.connected_at.is_some() && info.last_active_at.is_some());

    let too_big = Bytes::from(vec![b'x'; 131_073]);
    assert_eq!(
        api.post_to_connection(&id, too_big).await,
        Err(GatewayError::PayloadTooLarge)
    );

    api.delete_connection(&id).await.expect("delete");
    assert_eq!(
        api.get_connection(&id).await.unwrap_err(),
        GatewayError::Gone
    );
    assert_eq!(
        api.post_to_connection(&id, Bytes::from_static(b"{}"))
            .await
            .unwrap_err()
            .class(),
        DeliveryClass::Gone
    );
}

#[tokio::test]
async fn a_jwt_signed_with_the_secret_identifies_the_user() {
    let system = start_system(&[]);
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &serde_json::json!({"sub": "jwt-user", "exp": 4_000_000_000u64}),
        &jsonwebtoken::EncodingKey::from_secret(b"test-secret"),
    )
    .expect("token");
    let _socket = connect(&system, &token).await;
    assert_eq!(connection_of(&system, "jwt-user").await.len(), 16);
}

#[tokio::test]
async fn a_wrong_stage_is_forbidden_and_a_closed_port_is_a_network_error() {
    let system = start_system(&[]);
    let wrong_stage = system.management.replace("/production", "/staging");
    let api = management_api(&wrong_stage).await;
    assert!(matches!(
        api.get_connection("AAAAAAAAAAAAAAA=").await,
        Err(GatewayError::Forbidden(_))
    ));

    let nowhere = management_api(&format!("http://127.0.0.1:{}/production", free_port())).await;
    let err = nowhere
        .get_connection("AAAAAAAAAAAAAAA=")
        .await
        .unwrap_err();
    assert_eq!(err.class(), DeliveryClass::Network, "{err}");
}

#[tokio::test]
async fn the_rate_limit_answers_429_which_classifies_as_throttled() {
    let system = start_system(&["--rate-limit", "5", "--rate-burst", "2"]);
    let api = management_api(&system.management).await;
    let mut classes = Vec::new();
    for _ in 0..6 {
        classes.push(
            api.get_connection("AAAAAAAAAAAAAAA=")
                .await
                .unwrap_err()
                .class(),
        );
    }
    assert!(classes.contains(&DeliveryClass::Throttled), "{classes:?}");
    assert!(classes.contains(&DeliveryClass::Gone), "{classes:?}");
}

#[tokio::test]
async fn idle_sockets_are_closed_and_reported_to_disconnect() {
    // 600 s idle at time scale 300 is 2 s.
    let system = start_system(&["--time-scale", "300"]);
    let mut socket = connect(&system, "dev:sleepy").await;
    let id = connection_of(&system, "sleepy").await;
    let close = tokio::time::timeout(Duration::from_secs(6), socket.next())
        .await
        .expect("closed in time");
    match close {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1001),
        other => panic!("expected a 1001 close, got {other:?}"),
    }
    let api = management_api(&system.management).await;
    assert_eq!(
        api.get_connection(&id).await.unwrap_err(),
        GatewayError::Gone
    );
}

#[tokio::test]
async fn the_backend_explains_a_missing_connection_id_header() {
    let system = start_system(&[]);
    let response = reqwest::Client::new()
        .post(format!("{}/ws/connect?token=dev:x", system.backend))
        .send()
        .await
        .expect("backend");
    assert_eq!(response.status(), 400);
    let text = response.text().await.expect("body");
    assert!(text.contains("connectionId header missing"), "{text}");
    assert!(
        text.contains("integration.request.header.connectionId"),
        "{text}"
    );
}

/// Through the real gateway and backend: a JWT must expire, and may not be from the future.
#[tokio::test]
async fn jwts_without_exp_or_not_yet_valid_are_refused_at_the_handshake() {
    let system = start_system(&[]);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let sign = |claims: serde_json::Value| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::default(),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(b"test-secret"),
        )
        .expect("token")
    };
    let refused = [
        serde_json::json!({"sub": "forever"}),
        serde_json::json!({"sub": "early", "exp": now + 7200, "nbf": now + 3600}),
        serde_json::json!({"sub": "future", "exp": now + 7200, "iat": now + 3600}),
        serde_json::json!({"sub": "expired", "exp": now - 3600}),
    ];
    for claims in refused {
        let url = format!("{}?token={}", system.websocket, sign(claims.clone()));
        let err = tokio_tungstenite::connect_async(url)
            .await
            .expect_err("the handshake must be refused");
        assert!(
            err.to_string().contains("401") || err.to_string().contains("403"),
            "{claims}: {err}"
        );
    }
    let ok = sign(serde_json::json!({"sub": "fresh", "exp": now + 600, "iat": now}));
    let _socket = connect(&system, &ok).await;
    assert_eq!(connection_of(&system, "fresh").await.len(), 16);
}

/// At the most verbose level, neither process logs a client's token (the handshake's query
/// string) nor the backend's admin token.
#[tokio::test]
async fn tokens_never_reach_the_logs_even_at_trace_level() {
    let dir = std::env::temp_dir().join(format!("wsdash-redact-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (gw_port, be_port) = (free_port(), free_port());
    let gw_addr = format!("127.0.0.1:{gw_port}");
    let be_url = format!("http://127.0.0.1:{be_port}");
    let be_addr = format!("127.0.0.1:{be_port}");
    let log = |name: &str| {
        std::process::Stdio::from(std::fs::File::create(dir.join(name)).expect("log file"))
    };
    let trace = [("WSDASH_LOG", "trace")];
    let gateway = Running::start_with_stderr(
        &["gateway", "--listen", &gw_addr, "--backend", &be_url],
        "backend:",
        &trace,
        log("gateway.log"),
    );
    let management = gateway.value("management endpoint:");
    let backend = Running::start_with_stderr(
        &[
            "backend",
            "--listen",
            &be_addr,
            "--gateway",
            &management,
            "--jwt-secret",
            "test-secret",
            "--admin-token",
            "admin-SECRET-7",
        ],
        "admin token:",
        &trace,
        log("backend.log"),
    );
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &serde_json::json!({"sub": "traced", "exp": now + 600}),
        &jsonwebtoken::EncodingKey::from_secret(b"test-secret"),
    )
    .expect("token");
    let signature = token.rsplit('.').next().expect("signature").to_string();
    let websocket = gateway.value("websocket:");
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("{websocket}?token={token}"))
        .await
        .expect("connect");
    let records: serde_json::Value = reqwest::Client::new()
        .get(format!("{be_url}/debug/ws-connections"))
        .bearer_auth("admin-SECRET-7")
        .send()
        .await
        .expect("backend")
        .json()
        .await
        .expect("json");
    assert!(records.to_string().contains("traced"), "{records}");
    socket.close(None).await.ok();
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop((gateway, backend));
    // The demo's swarm connects with tungstenite, whose trace log prints the request line.
    let demo = Running::start_with_stderr(
        &[
            "demo",
            "--headless",
            "--clients",
            "2",
            "--push-every-ms",
            "0",
            "--gateway-listen",
            "127.0.0.1:0",
        ],
        "try:",
        &trace,
        log("demo.log"),
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    drop(demo);
    let demo_log = std::fs::read_to_string(dir.join("demo.log")).expect("log");
    assert!(
        demo_log.contains("?token=[redacted]"),
        "the swarm's handshakes are logged, redacted"
    );
    assert!(
        !demo_log.contains("token=dev"),
        "the demo log holds a client token"
    );
    for name in ["gateway.log", "backend.log"] {
        let text = std::fs::read_to_string(dir.join(name)).expect("log");
        assert!(
            text.lines().count() > 5,
            "{name} logged little at trace level:\n{text}"
        );
        assert!(
            !text.contains(&signature),
            "{name} holds the client's JWT:\n{text}"
        );
        assert!(
            !text.contains("admin-SECRET-7"),
            "{name} holds the admin token"
        );
    }
    if std::env::var("KEEP_LOGS").is_err() {
        std::fs::remove_dir_all(&dir).ok();
    }
}

/// The admin API kills sockets and injects faults: with a token, it answers only to the token;
/// beyond loopback the gateway refuses to start without one. Numbers that would panic a timer
/// are refused on the command line.
#[tokio::test]
async fn the_admin_api_needs_its_token_and_nonsense_numbers_are_refused() {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let gateway = Running::start(
        &[
            "gateway",
            "--listen",
            &addr,
            "--backend",
            "http://127.0.0.1:9",
            "--admin-token",
            "adm1n-token",
        ],
        "backend:",
    );
    let admin = gateway
        .value("admin API:")
        .replace("/ (not part of AWS)", "");
    let client = reqwest::Client::new();
    for (method, path) in [
        ("GET", "/connections"),
        ("GET", "/stats"),
        ("GET", "/faults"),
        ("PUT", "/faults"),
        ("POST", "/kill"),
        ("GET", "/"),
    ] {
        let url = format!("{admin}{path}");
        let request = |token: Option<&str>| {
            let mut r = client.request(method.parse().expect("method"), &url);
            if method != "GET" {
                r = r.body(if path == "/kill" {
                    r#"{"connection_ids": []}"#
                } else {
                    "{}"
                });
            }
            match token {
                Some(t) => r.bearer_auth(t),
                None => r,
            }
        };
        let status = request(None).send().await.expect("admin").status();
        assert_eq!(status, 401, "{method} {path} without the token");
        let status = request(Some("wrong-token"))
            .send()
            .await
            .expect("admin")
            .status();
        assert_eq!(status, 401, "{method} {path} with a wrong token");
        let status = request(Some("adm1n-token"))
            .send()
            .await
            .expect("admin")
            .status();
        assert!(
            status.is_success(),
            "{method} {path} with the token: {status}"
        );
    }
    let page = client
        .get(format!("{admin}/client?token=dev:you"))
        .send()
        .await
        .expect("client page");
    assert_eq!(
        page.status(),
        200,
        "the browser client page needs no admin token"
    );
    drop(gateway);

    let refuse = |args: &[&str]| {
        let out = std::process::Command::new(common::BIN)
            .args(args)
            .env_remove("WSDASH_GATEWAY_ADMIN_TOKEN")
            .env_remove("WSDASH_ADMIN_TOKEN")
            .output()
            .expect("run wsdash");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (code, err) = refuse(&[
        "gateway",
        "--listen",
        "0.0.0.0:0",
        "--backend",
        "http://127.0.0.1:9",
    ]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("refusing to listen on 0.0.0.0") && err.contains("--admin-token"),
        "{err}"
    );
    let (code, err) = refuse(&["demo", "--headless", "--gateway-listen", "0.0.0.0:0"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("--admin-token"), "{err}");
    for args in [
        &[
            "gateway",
            "--backend",
            "http://127.0.0.1:9",
            "--time-scale",
            "1e-20",
        ][..],
        &["demo", "--headless", "--time-scale", "1e-20"],
        &["demo", "--headless", "--vanish", "NaN"],
        &[
            "gateway",
            "--backend",
            "http://127.0.0.1:9",
            "--fault-throttle",
            "2",
        ],
        &[
            "gateway",
            "--backend",
            "http://127.0.0.1:9",
            "--rate-limit=-1",
        ],
    ] {
        let (code, err) = refuse(args);
        assert_eq!(
            code,
            Some(2),
            "{args:?} must be refused as a usage error: {err}"
        );
        assert!(
            err.contains("invalid value") && !err.contains("panicked"),
            "{args:?}: {err}"
        );
    }
}

/// The backend's stale endpoint purges as `wsdash purge` does: probed, Gone only, and every
/// delete in the audit log first.
#[tokio::test]
async fn the_backends_stale_endpoint_deletes_only_the_gone_and_audits_each_delete() {
    let dir = std::env::temp_dir().join(format!("wsdash-stale-{}", std::process::id()));
    let audit = dir.join("audit.jsonl");
    let system = start_system_with(
        &["--fault-drop-disconnect", "1"],
        &["--audit-log", audit.to_str().expect("path")],
    );
    let _alive = connect(&system, "dev:alive").await;
    let vanishing = connect(&system, "dev:vanished").await;
    let alive_id = connection_of(&system, "alive").await;
    let vanished_id = connection_of(&system, "vanished").await;
    // Its $disconnect is lost: the record stays behind, stale.
    drop(vanishing);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let answer: serde_json::Value = reqwest::Client::new()
        .delete(format!("{}/debug/ws-connections/stale", system.backend))
        .bearer_auth("t")
        .send()
        .await
        .expect("backend")
        .json()
        .await
        .expect("json");
    let removed: Vec<&str> = answer["removed"]
        .as_array()
        .expect("removed")
        .iter()
        .filter_map(|r| r["connection_id"].as_str())
        .collect();
    assert_eq!(removed, vec![vanished_id.as_str()], "{answer}");
    let (entries, bad) = wsdash::ops::audit::read_audit_log(&audit).expect("audit log");
    assert!(bad.is_empty());
    let deletes: Vec<(String, String)> = entries
        .iter()
        .filter(|e| e.op == "delete")
        .map(|e| {
            (
                e.phase.clone(),
                e.record
                    .as_ref()
                    .map(|r| r.connection_id.clone())
                    .unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        deletes,
        vec![
            ("intent".to_string(), vanished_id.clone()),
            ("result".to_string(), vanished_id.clone())
        ]
    );
    assert!(entries
        .iter()
        .all(|e| e.record.as_ref().map(|r| r.connection_id.as_str()) != Some(alive_id.as_str())));
    std::fs::remove_dir_all(&dir).ok();
}

/// `wsdash push --rate N` while the gateway throttles a fifth of the calls: every message is
/// delivered (429s are retried with backoff while the controller slows down), the rate and the
/// time it will take are said before the work starts.
#[tokio::test]
async fn a_throttled_push_under_a_rate_ceiling_delivers_everything() {
    let demo = common::quiet_demo(&[]);
    let urls = demo.demo_urls();
    let (management, admin) = (urls.management.clone(), urls.admin.clone());
    let users: Vec<String> = (0..40).map(|n| format!("rate-{n}")).collect();
    let _sockets = urls
        .connect(&users.iter().map(String::as_str).collect::<Vec<_>>())
        .await;
    let client = reqwest::Client::new();
    let ids = urls.live_ids().await;
    assert_eq!(ids.len(), 40);
    urls.set_faults(r#"{"throttle": 0.2}"#).await;
    let mut args = vec![
        "push",
        "--rate",
        "100",
        "--endpoint",
        &management,
        "--type",
        "heartbeat",
        "--output",
        "json",
    ];
    for id in &ids {
        args.extend(["--connection", id.as_str()]);
    }
    let dir = std::env::temp_dir().join(format!("wsdash-rate-{}", std::process::id()));
    let audit = dir.join("audit.jsonl");
    args.extend(["--audit-log", audit.to_str().expect("path")]);
    let out = std::process::Command::new(common::BIN)
        .args(&args)
        .env("XDG_CONFIG_HOME", "/nonexistent")
        .env("AWS_ACCESS_KEY_ID", "t")
        .env("AWS_SECRET_ACCESS_KEY", "t")
        .env("AWS_REGION", "us-east-1")
        .output()
        .expect("push");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{stderr}\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        stderr.contains("at most 100 calls/s"),
        "the rate is announced: {stderr}"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let outcomes = report["outcomes"].as_array().expect("outcomes");
    assert_eq!(outcomes.len(), 40);
    assert!(
        outcomes.iter().all(|o| o["class"] == "delivered"),
        "{report}"
    );
    let stats: serde_json::Value = client
        .get(format!("{admin}/stats"))
        .send()
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    assert!(
        stats["post_to_connection"]["throttled"]
            .as_u64()
            .unwrap_or(0)
            > 0,
        "the gateway did throttle: {stats}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// The stage's access log, as API Gateway writes it: a line per $connect (a refused one with the
/// backend's 401), message and $disconnect, in a file and shipped to a CloudWatch Logs group on
/// moto_server, where FilterLogEvents finds a connection's lines by its id.
#[tokio::test(flavor = "multi_thread")]
async fn the_access_log_reaches_cloudwatch_and_reads_back_by_connection() {
    crate::needs!(Tool::Moto);
    use futures_util::SinkExt;
    use wsdash::access_logs::{AccessLogEntry, AccessLogSource, CloudWatchAccessLogs};
    let moto = common::Moto::start();
    let dir = std::env::temp_dir().join(format!("wsdash-access-log-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("access.jsonl");
    let demo = common::quiet_demo(&[
        "--access-log",
        file.to_str().expect("path"),
        "--log-group",
        "/wsdash/access",
        "--logs-endpoint",
        &moto.url,
    ]);
    let urls = demo.demo_urls();
    let mut sockets = urls.connect(&["logged"]).await;
    let id = urls.live_ids().await.pop().expect("one connection");
    sockets[0]
        .send(Message::text(r#"{"action":"ping"}"#))
        .await
        .expect("send");
    let _reply = tokio::time::timeout(Duration::from_secs(5), sockets[0].next()).await;
    let refused = tokio_tungstenite::connect_async(format!("{}?token=bad", urls.websocket)).await;
    assert!(refused.is_err(), "a bad token is refused");
    sockets[0].close(None).await.expect("close");

    let sdk = load_sdk_config(&AwsSettings {
        dummy_credentials: true,
        ..Default::default()
    })
    .await;
    let logs = CloudWatchAccessLogs::new(&sdk, Some(&moto.url), "/wsdash/access");
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let events = loop {
        let lines = logs.for_connection(&id).await.unwrap_or_default();
        let events: Vec<AccessLogEntry> = lines.into_iter().filter_map(|l| l.entry).collect();
        if events.len() >= 3 || std::time::Instant::now() > deadline {
            break events;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let kinds: Vec<(&str, &str, u16)> = events
        .iter()
        .map(|e| (e.event_type.as_str(), e.route_key.as_str(), e.status))
        .collect();
    assert_eq!(
        kinds,
        [
            ("CONNECT", "$connect", 200),
            ("MESSAGE", "$default", 200),
            ("DISCONNECT", "$disconnect", 200)
        ],
        "{events:?}"
    );
    assert!(events
        .iter()
        .all(|e| e.connection_id == id && e.integration_status == Some(200)));

    // The refused handshake, with the backend's 401 and why, in the file and in the group.
    let written: Vec<AccessLogEntry> = std::fs::read_to_string(&file)
        .expect("the access-log file")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let refusal = written
        .iter()
        .find(|e| e.event_type == "CONNECT" && e.status == 401)
        .expect("the refused handshake is logged");
    assert_eq!(refusal.integration_status, Some(401));
    assert!(refusal
        .error_message
        .as_deref()
        .is_some_and(|m| !m.is_empty()));
    let in_group = logs
        .for_connection(&refusal.connection_id)
        .await
        .expect("filter");
    assert_eq!(in_group.len(), 1, "{in_group:?}");
    let handshakes = logs.handshakes(0).await.expect("handshakes");
    assert_eq!(
        handshakes
            .iter()
            .filter_map(|l| l.entry.as_ref())
            .map(|e| (e.connection_id.as_str(), e.status))
            .collect::<Vec<_>>(),
        [(id.as_str(), 200), (refusal.connection_id.as_str(), 401)],
        "both handshakes, and nothing else"
    );
    // The logs panel: a filter pattern as CloudWatch reads it, through FilterLogEvents.
    let reason = refusal.error_message.clone().unwrap_or_default();
    let word = reason
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    let panel = logs
        .tail(&format!("CONNECT {word}"), 0)
        .await
        .expect("tail");
    assert_eq!(
        panel
            .iter()
            .filter_map(|l| l.entry.as_ref())
            .map(|e| e.connection_id.as_str())
            .collect::<Vec<_>>(),
        [refusal.connection_id.as_str()],
        "only the refusal says {word:?}: {panel:?}"
    );
    let all = logs.tail("", 0).await.expect("tail all");
    assert_eq!(all.len(), 4, "every line: {all:?}");
    std::fs::remove_dir_all(dir).ok();
}

/// GetMetricData in RPC v2 CBOR, as the dashboard's own client and boto3 send it: the stage's
/// handshakes, refusals and messages per minute.
#[tokio::test(flavor = "multi_thread")]
async fn the_stages_cloudwatch_metrics_are_served_in_the_protocol_the_sdks_speak() {
    crate::needs!(Tool::PythonClients);
    let system = start_system(&[]);
    let mut sockets = Vec::new();
    for user in ["m1", "m2", "m3"] {
        let (socket, _) =
            tokio_tungstenite::connect_async(format!("{}?token=dev:{user}", system.websocket))
                .await
                .expect("connect");
        sockets.push(socket);
    }
    // One refused handshake (a bad token): a ClientError.
    assert!(
        tokio_tungstenite::connect_async(format!("{}?token=bad", system.websocket))
            .await
            .is_err()
    );
    futures_util::SinkExt::send(
        &mut sockets[0],
        Message::Text(r#"{"action":"ping"}"#.into()),
    )
    .await
    .expect("send");
    tokio::time::sleep(Duration::from_millis(300)).await;

    let base = system
        .management
        .trim_end_matches("/production")
        .to_string();
    let sdk = load_sdk_config(&AwsSettings {
        dummy_credentials: true,
        region: Some("us-east-1".into()),
        call_timeout: Some(Duration::from_secs(3)),
        ..AwsSettings::default()
    })
    .await;
    let metrics = wsdash::gateway_metrics::CloudWatchMetrics::new(
        &sdk,
        Some(&base),
        wsdash::emulator::config_api::API_ID,
        "production",
    );
    let series = metrics
        .over(
            time::OffsetDateTime::now_utc(),
            wsdash::gateway_metrics::TimeWindow::Hour,
        )
        .await
        .expect("GetMetricData through the Rust SDK");
    let total = |name: &str| -> f64 {
        series
            .iter()
            .find(|s| s.name == name)
            .map(|s| s.values.iter().sum())
            .unwrap_or_default()
    };
    assert_eq!(total("ConnectCount"), 4.0, "{series:?}");
    assert_eq!(total("ClientError"), 1.0, "{series:?}");
    assert!(total("MessageCount") >= 1.0, "{series:?}");

    // The control: boto3's CloudWatch client gets the same numbers.
    let script = r#"
import sys, datetime, boto3
c = boto3.client("cloudwatch", endpoint_url=sys.argv[1], region_name="us-east-1",
                 aws_access_key_id="AKIDX", aws_secret_access_key="s")
now = datetime.datetime.now(datetime.timezone.utc)
out = c.get_metric_data(StartTime=now - datetime.timedelta(hours=1), EndTime=now + datetime.timedelta(minutes=1),
    MetricDataQueries=[{"Id": "c", "MetricStat": {"Metric": {"Namespace": "AWS/ApiGateway", "MetricName": "ConnectCount",
        "Dimensions": [{"Name": "ApiId", "Value": sys.argv[2]}, {"Name": "Stage", "Value": "production"}]},
        "Period": 60, "Stat": "Sum"}}])
print(sum(out["MetricDataResults"][0]["Values"]))
"#;
    let total = common::run_python(
        &["boto3"],
        script,
        &[&base, wsdash::emulator::config_api::API_ID],
    );
    assert_eq!(total, "4.0");
}

/// What any backend behind the emulator gets, as behind API Gateway: API Gateway's own headers
/// on every integration request, the client's handshake headers on `$connect`, a Content-Length
/// on the bodiless ones, ids in AWS's URL-safe shape, and a clean close echoed as 1000.
#[tokio::test(flavor = "multi_thread")]
async fn a_backend_gets_the_headers_api_gateway_sends_and_the_client_a_clean_close() {
    crate::needs!(Tool::PythonClients);
    use std::sync::Mutex;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    type Seen = Arc<Mutex<Vec<(String, axum::http::HeaderMap)>>>;
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let backend = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let record = record.clone();
        async move {
            if let Ok(mut seen) = record.lock() {
                seen.push((request.uri().path().to_string(), request.headers().clone()));
            }
            // A client that asks for it gets a backend slower than the integration's timeout.
            if request.headers().contains_key("x-slow") {
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
            axum::http::StatusCode::OK
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let backend_url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, backend).await });
    let listen = format!("127.0.0.1:{}", free_port());
    let gateway = Running::start(
        &["gateway", "--listen", &listen, "--backend", &backend_url],
        "backend:",
    );
    let websocket = gateway.value("websocket:");

    let mut request = format!("{websocket}?token=abc")
        .into_client_request()
        .expect("request");
    request
        .headers_mut()
        .insert("origin", "https://app.example.com".parse().expect("origin"));
    request
        .headers_mut()
        .insert("cookie", "sessionid=s3cr3t".parse().expect("cookie"));
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connect");
    futures_util::SinkExt::send(&mut socket, Message::Text(r#"{"action":"hello"}"#.into()))
        .await
        .expect("send");
    tokio::time::sleep(Duration::from_millis(200)).await;
    futures_util::SinkExt::send(
        &mut socket,
        Message::Close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
            code: tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode::Normal,
            reason: "bye".into(),
        })),
    )
    .await
    .expect("close");
    let echoed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Close(frame))) => return frame.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                _ => return None,
            }
        }
    })
    .await
    .expect("an answer to the close");
    assert_eq!(echoed, Some(1000), "the client's close is echoed");
    tokio::time::sleep(Duration::from_millis(300)).await;

    let seen_now = |seen: &Seen| seen.lock().expect("seen").clone();
    let recorded = seen_now(&seen);
    let by_path = |path: &str| {
        recorded
            .iter()
            .find(|(p, _)| p == path)
            .map(|(_, h)| h.clone())
            .unwrap_or_else(|| panic!("no {path} in {recorded:?}"))
    };
    let header = |h: &axum::http::HeaderMap, name: &str| {
        h.get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    for path in ["/ws/connect", "/ws/message", "/ws/disconnect"] {
        let h = by_path(path);
        assert_eq!(
            header(&h, "user-agent"),
            "AmazonAPIGateway_wsdash",
            "{path}"
        );
        assert_eq!(header(&h, "x-amzn-apigateway-api-id"), "wsdash", "{path}");
        assert!(
            header(&h, "x-amzn-trace-id").starts_with("Root=1-"),
            "{path}"
        );
        assert_eq!(header(&h, "x-forwarded-for"), "127.0.0.1", "{path}");
        assert_eq!(header(&h, "x-forwarded-proto"), "https", "{path}");
        let id = header(&h, "connectionid");
        assert!(
            id.len() == 16
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_=".contains(c)),
            "{path}: an id in AWS's URL-safe shape: {id:?}"
        );
    }
    for path in ["/ws/connect", "/ws/disconnect"] {
        assert_eq!(
            header(&by_path(path), "content-length"),
            "0",
            "{path} carries no body, and says so"
        );
    }
    let connect = by_path("/ws/connect");
    assert_eq!(header(&connect, "origin"), "https://app.example.com");
    assert_eq!(header(&connect, "cookie"), "sessionid=s3cr3t");
    assert!(!header(&connect, "sec-websocket-key").is_empty());

    // Mappings from the handshake's headers and the context, set and deployed with boto3 the way
    // a backend's setup would on AWS, reach the next `$connect`.
    let mapping = r#"
import sys, boto3
c = boto3.client("apigatewayv2", endpoint_url=sys.argv[1], region_name="us-east-1",
                 aws_access_key_id="AKIDX", aws_secret_access_key="s")
routes = {r["RouteKey"]: r for r in c.get_routes(ApiId="wsdash")["Items"]}
integration = routes["$connect"]["Target"].split("/")[1]
c.update_integration(ApiId="wsdash", IntegrationId=integration, RequestParameters={
    "integration.request.header.connectionId": "context.connectionId",
    "integration.request.header.X-Origin": "route.request.header.Origin",
    "integration.request.header.X-Source-Ip": "context.identity.sourceIp",
    "integration.request.header.X-Stage": "context.stage",
    "integration.request.header.X-Connected-At": "context.connectedAt"},
    TimeoutInMillis=1000)
try:
    c.update_integration(ApiId="wsdash", IntegrationId=integration, TimeoutInMillis=30000)
    raise SystemExit("a timeout above 29 s must be refused")
except c.exceptions.BadRequestException:
    pass
c.create_deployment(ApiId="wsdash", StageName="production")
"#;
    common::run_python(&["boto3"], mapping, &[&format!("http://{listen}")]);
    let mut request = format!("{websocket}?token=abc")
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "origin",
        "https://other.example.com".parse().expect("origin"),
    );
    let (_second, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("connect");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let connects: Vec<axum::http::HeaderMap> = seen_now(&seen)
        .into_iter()
        .filter(|(p, _)| p == "/ws/connect")
        .map(|(_, h)| h)
        .collect();
    let mapped = connects.last().expect("a second $connect");
    assert_eq!(header(mapped, "x-origin"), "https://other.example.com");
    assert_eq!(header(mapped, "x-source-ip"), "127.0.0.1");
    assert_eq!(header(mapped, "x-stage"), "production");
    assert!(header(mapped, "x-connected-at")
        .parse::<i64>()
        .is_ok_and(|ms| ms > 1_700_000_000_000));

    // A backend slower than the integration's timeout: the handshake is answered 504.
    let mut request = format!("{websocket}?token=abc")
        .into_client_request()
        .expect("request");
    request
        .headers_mut()
        .insert("x-slow", "1".parse().expect("header"));
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 504, "an integration timeout is a 504")
        }
        other => panic!("a slow $connect must be refused with 504, got {other:?}"),
    }

    // The configuration API as boto3 reads it: the API's endpoint and one deployment by id.
    let script = r#"
import sys, boto3
c = boto3.client("apigatewayv2", endpoint_url=sys.argv[1], region_name="us-east-1",
                 aws_access_key_id="AKIDX", aws_secret_access_key="s")
api = c.get_api(ApiId="wsdash")
deployment = c.get_deployments(ApiId="wsdash")["Items"][0]["DeploymentId"]
print(api["ApiEndpoint"], c.get_deployment(ApiId="wsdash", DeploymentId=deployment)["DeploymentStatus"])
"#;
    let answer = common::run_python(&["boto3"], script, &[&format!("http://{listen}")]);
    assert_eq!(answer, format!("ws://{listen} DEPLOYED"));
}

/// How the official SDK reads one answer: success, or the error type and status it saw.
fn sdk_reading<T, E>(
    result: Result<
        T,
        aws_sdk_apigatewaymanagement::error::SdkError<
            E,
            aws_sdk_apigatewaymanagement::config::http::HttpResponse,
        >,
    >,
) -> Result<T, (Option<String>, u16)>
where
    E: aws_sdk_apigatewaymanagement::error::ProvideErrorMetadata,
{
    use aws_sdk_apigatewaymanagement::error::SdkError;
    result.map_err(|e| match &e {
        SdkError::ServiceError(ctx) => (
            ctx.err().code().map(str::to_string),
            ctx.raw().status().as_u16(),
        ),
        _ => (None, 0),
    })
}

type SdkReading = Result<(), (Option<String>, u16)>;

async fn sdk_post(
    client: &aws_sdk_apigatewaymanagement::Client,
    id: &str,
    data: &[u8],
) -> SdkReading {
    let blob = aws_sdk_apigatewaymanagement::primitives::Blob::new(data);
    sdk_reading(
        client
            .post_to_connection()
            .connection_id(id)
            .data(blob)
            .send()
            .await,
    )
    .map(|_| ())
}

async fn sdk_get(client: &aws_sdk_apigatewaymanagement::Client, id: &str) -> SdkReading {
    sdk_reading(client.get_connection().connection_id(id).send().await).map(|_| ())
}

async fn sdk_delete(client: &aws_sdk_apigatewaymanagement::Client, id: &str) -> SdkReading {
    sdk_reading(client.delete_connection().connection_id(id).send().await).map(|_| ())
}

/// The SDK's error type and status, classified as wsdash classifies them.
fn as_wsdash_would(
    verb: wsdash::management::denial::Verb,
    code: Option<&str>,
    status: u16,
) -> GatewayError {
    let context = wsdash::management::denial::CallContext {
        verb,
        region: "us-east-1".into(),
        region_from_host: false,
        profile: None,
        clock_offset_secs: None,
    };
    GatewayError::from_code_and_status(code, status, String::new(), &context)
}

/// Every answer the emulator gives (delivered, the connection's details, too large, Gone, each
/// refused signature, throttled) reads the same through wsdash's client as through the SDK:
/// the same success, or the same status, class and cause.
#[tokio::test]
async fn wsdashs_client_reads_every_answer_as_the_official_sdk_does() {
    use wsdash::management::denial::Verb;
    let dir = std::env::temp_dir().join(format!("wsdash-sdk-control-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let expires = (time::OffsetDateTime::now_utc() - time::Duration::minutes(1))
        .format(&time::format_description::well_known::Rfc3339)
        .expect("time");
    let credentials = dir.join("credentials.json");
    std::fs::write(
        &credentials,
        serde_json::json!([
            {"access_key_id": "AKIAOPS", "secret_access_key": "right", "user": "ops"},
            {"access_key_id": "ASIAOLD", "secret_access_key": "old", "session_token": "tok", "expires_at": expires},
        ])
        .to_string(),
    )
    .expect("write");
    let credentials = credentials.to_string_lossy().into_owned();
    let system = start_system(&["--credentials", &credentials]);
    let mut socket = connect(&system, "dev:carol").await;
    let live = connection_of(&system, "carol").await;

    // Both clients with the same credentials and region.
    let clients = |key: &str, secret: &str, token: Option<&str>, region: &str| {
        let sdk = aws_config::SdkConfig::builder()
            .region(aws_config::Region::new(region.to_string()))
            .credentials_provider(
                aws_credential_types::provider::SharedCredentialsProvider::new(
                    aws_credential_types::Credentials::new(
                        key,
                        secret,
                        token.map(str::to_string),
                        None,
                        "test",
                    ),
                ),
            )
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let official = aws_sdk_apigatewaymanagement::Client::from_conf(
            aws_sdk_apigatewaymanagement::config::Builder::from(&sdk)
                .endpoint_url(&system.management)
                .build(),
        );
        (official, AwsManagementApi::new(&sdk, &system.management))
    };
    let compare = |what: &str,
                   verb: Verb,
                   sdk: Result<(), (Option<String>, u16)>,
                   ours: Result<(), GatewayError>| {
        match (sdk, ours) {
            (Ok(()), Ok(())) => {}
            (Err((code, status)), Err(ours)) => {
                let expected = as_wsdash_would(verb, code.as_deref(), status);
                assert_eq!(
                    (ours.status(), ours.class(), ours.cause()),
                    (expected.status(), expected.class(), expected.cause()),
                    "{what}: the SDK read {code:?} {status}; wsdash: {ours}"
                );
            }
            (sdk, ours) => panic!("{what}: the SDK read {sdk:?}, wsdash {ours:?}"),
        }
    };

    let (official, ours) = clients("AKIAOPS", "right", None, "us-east-1");
    let payload = br#"{"type":"heartbeat"}"#;
    compare(
        "post",
        Verb::Post,
        sdk_post(&official, &live, payload).await,
        ours.post_to_connection(&live, Bytes::from_static(payload))
            .await,
    );
    compare(
        "post",
        Verb::Post,
        Ok(()),
        ours.post_to_connection(&live, Bytes::from_static(payload))
            .await,
    );
    for _ in 0..2 {
        assert_eq!(next_text(&mut socket).await, r#"{"type":"heartbeat"}"#);
    }
    let theirs =
        sdk_reading(official.get_connection().connection_id(&live).send().await).expect("get");
    let info = ours.get_connection(&live).await.expect("get");
    let millis = |t: Option<&aws_sdk_apigatewaymanagement::primitives::DateTime>| {
        t.map(|t| t.to_millis().unwrap_or_default())
    };
    assert_eq!(
        info.connected_at
            .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64),
        millis(theirs.connected_at())
    );
    assert_eq!(
        info.last_active_at
            .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64),
        millis(theirs.last_active_at())
    );
    assert_eq!(
        info.source_ip.as_deref(),
        theirs.identity().and_then(|i| i.source_ip())
    );
    assert_eq!(
        info.user_agent.as_deref(),
        theirs.identity().and_then(|i| i.user_agent())
    );
    let too_big = vec![b'x'; 131_073];
    compare(
        "post too large",
        Verb::Post,
        sdk_post(&official, &live, &too_big).await,
        ours.post_to_connection(&live, Bytes::from(too_big)).await,
    );

    // Refused signatures: a wrong secret, an unknown key, an expired session, a wrong region.
    for (key, secret, token, region) in [
        ("AKIAOPS", "wrong", None, "us-east-1"),
        ("AKIANOBODY", "x", None, "us-east-1"),
        ("ASIAOLD", "old", Some("tok"), "us-east-1"),
        ("AKIAOPS", "right", None, "eu-west-1"),
    ] {
        let (official, ours) = clients(key, secret, token, region);
        compare(
            &format!("get as {key} in {region}"),
            Verb::Get,
            sdk_get(&official, &live).await,
            ours.get_connection(&live).await.map(|_| ()),
        );
        compare(
            &format!("post as {key} in {region}"),
            Verb::Post,
            sdk_post(&official, &live, payload).await,
            ours.post_to_connection(&live, Bytes::from_static(payload))
                .await,
        );
    }

    // Gone, after the SDK closed the connection: every verb, both clients.
    let (official, ours) = clients("AKIAOPS", "right", None, "us-east-1");
    sdk_delete(&official, &live).await.expect("delete");
    compare(
        "get gone",
        Verb::Get,
        sdk_get(&official, &live).await,
        ours.get_connection(&live).await.map(|_| ()),
    );
    compare(
        "post gone",
        Verb::Post,
        sdk_post(&official, &live, payload).await,
        ours.post_to_connection(&live, Bytes::from_static(payload))
            .await,
    );
    compare(
        "delete gone",
        Verb::Delete,
        sdk_delete(&official, &live).await,
        ours.delete_connection(&live).await,
    );
    assert!(matches!(
        ours.get_connection(&live).await,
        Err(GatewayError::Gone)
    ));

    // Throttled: a gateway that answers every call 429.
    let throttled = start_system(&["--fault-throttle", "1"]);
    let (official, ours) = {
        let sdk = load_sdk_config(&AwsSettings {
            dummy_credentials: true,
            region: Some("us-east-1".into()),
            ..AwsSettings::default()
        })
        .await;
        let official = aws_sdk_apigatewaymanagement::Client::from_conf(
            aws_sdk_apigatewaymanagement::config::Builder::from(&sdk)
                .endpoint_url(&throttled.management)
                .build(),
        );
        (official, AwsManagementApi::new(&sdk, &throttled.management))
    };
    let sdk = sdk_post(&official, "AAAAAAAAAAAAAAA=", payload).await;
    assert!(matches!(sdk, Err((_, 429))), "{sdk:?}");
    compare(
        "post throttled",
        Verb::Post,
        sdk,
        ours.post_to_connection("AAAAAAAAAAAAAAA=", Bytes::from_static(payload))
            .await,
    );
    std::fs::remove_dir_all(&dir).ok();
}
