//! End to end: the real binary's dashboard in tmux, driven with send-keys and read with
//! capture-pane, through push, disconnect and purge against the demo.

use crate::common;
use crate::common::tools::Tool;

use crate::common::tmux::Tmux;
use crate::common::{free_port, BIN};
use std::process::Command;
use std::time::{Duration, Instant};

fn count(screen: &str, label: &str) -> Option<u64> {
    let rest = &screen[screen.find(&format!("{label} "))? + label.len() + 1..];
    rest.split_whitespace().next()?.parse().ok()
}

async fn admin_json(admin: &str, path: &str) -> serde_json::Value {
    reqwest::get(format!("{admin}/{path}"))
        .await
        .expect("admin")
        .json()
        .await
        .expect("json")
}

#[tokio::test(flavor = "multi_thread")]
async fn push_disconnect_and_purge_from_the_panels() {
    crate::needs!(Tool::Tmux);
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("wsdash-tmux-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let audit = dir.join("audit.jsonl");
    let command = format!(
        "env XDG_CONFIG_HOME={dir} XDG_STATE_HOME={dir} {BIN} demo --clients 4 --flappers 0 --lifetime-secs 0 --drop-disconnect 1 \
         --push-every-ms 0 --gateway-listen 127.0.0.1:{port} --audit-log {audit}",
        dir = dir.display(),
        audit = audit.display()
    );
    let tmux = Tmux::start(&command);
    tmux.wait_for("four live clients", |s| count(s, "live") == Some(4));

    // Three browser tabs that vanish: their $disconnect is lost, so their records go stale.
    let ws = format!("ws://127.0.0.1:{port}/production");
    for n in 0..3 {
        let (socket, _) = tokio_tungstenite::connect_async(format!("{ws}?token=dev:ghost-{n}"))
            .await
            .expect("connect");
        drop(socket);
    }
    tmux.wait_for("three stale records", |s| count(s, "stale") == Some(3));

    // Push to user-0 from the composer.
    tmux.keys(&["/", "u", "s", "e", "r", "-", "0", "Enter"]);
    tmux.wait_for("the filter", |s| s.contains("connections 1/7"));
    // Its details show what the gateway logged for it: the accepted handshake.
    tmux.keys(&["Enter"]);
    tmux.wait_for("the connection's access log", |s| {
        s.contains("access log (the emulator's access log)") && s.contains("CONNECT $connect 200")
    });
    tmux.keys(&["Escape"]);
    tmux.keys(&["p"]);
    tmux.wait_for("the composer", |s| s.contains("valid JSON"));
    tmux.keys(&["Enter"]);
    tmux.wait_for("the delivery", |s| {
        s.contains("push finished") && s.contains("user-0       delivered")
    });
    let admin = format!("http://127.0.0.1:{port}/_wsdash");
    assert!(
        admin_json(&admin, "stats").await["post_to_connection"]["delivered"].as_u64() >= Some(1)
    );

    // Disconnect user-0.
    tmux.keys(&["d"]);
    tmux.wait_for("the disconnect dialog", |s| {
        s.contains("Close 1 connection(s)")
    });
    tmux.keys(&["y"]);
    tmux.wait_for("the disconnect summary", |s| {
        s.contains("Disconnect: 1 of 1 done")
    });
    assert_eq!(
        admin_json(&admin, "stats").await["sockets"]["deleted_by_api"],
        1
    );
    tmux.keys(&["Escape", "Escape"]);

    // Purge: the plan lists the ghosts, then they are deleted.
    tmux.keys(&["x"]);
    let plan = tmux.wait_for("the purge plan", |s| s.contains("purge stale records"));
    for n in 0..3 {
        assert!(plan.contains(&format!("ghost-{n}")), "{plan}");
    }
    tmux.keys(&["y"]);
    let summary = tmux.wait_for("the purge summary", |s| s.contains("Purge: deleted"));
    for n in 0..3 {
        assert!(
            summary.contains(&format!("deleted   ghost-{n}")),
            "{summary}"
        );
    }
    tmux.keys(&["Escape"]);
    tmux.wait_for("no stale records left", |s| {
        count(s, "stale") == Some(0) && !s.contains("ghost-")
    });
    let log = std::fs::read_to_string(&audit).expect("audit log");
    assert!(
        log.contains(r#""op":"delete","phase":"intent""#) && log.contains("ghost-2"),
        "{log}"
    );

    tmux.keys(&["q"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while tmux.alive() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!tmux.alive(), "q quits the dashboard");
    std::fs::remove_dir_all(dir).ok();
}

/// The error band's text: the rows between the header and the table, joined.
fn error_band(screen: &str) -> String {
    screen
        .lines()
        .skip_while(|l| !l.contains('⚠'))
        .take_while(|l| !l.starts_with('┌'))
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("")
}

#[tokio::test(flavor = "multi_thread")]
async fn at_100_columns_a_store_outage_is_readable_in_full_and_the_data_age_stops() {
    crate::needs!(Tool::Moto, Tool::Tmux);
    use crate::common::Moto;
    let moto = Moto::start();
    let sdk = wsdash::aws_env::load_sdk_config(&wsdash::aws_env::AwsSettings {
        dummy_credentials: true,
        ..Default::default()
    })
    .await;
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .endpoint_url(&moto.url)
            .build(),
    );
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
        ScalarAttributeType,
    };
    client
        .create_table()
        .table_name("conns")
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("user_id")
                .key_type(KeyType::Hash)
                .build()
                .expect("key"),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("user_id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attr"),
        )
        .send()
        .await
        .expect("table");
    for (user, minutes) in [("ann", 1), ("ben", 2), ("cat", 3)] {
        let at = time::OffsetDateTime::now_utc() - time::Duration::minutes(minutes);
        client
            .put_item()
            .table_name("conns")
            .item("user_id", AttributeValue::S(user.into()))
            .item("connection_id", AttributeValue::S(format!("{user:X<15}=")))
            .item(
                "connected_at",
                AttributeValue::S(wsdash::model::iso_millis(at)),
            )
            .send()
            .await
            .expect("put");
    }
    let demo = common::quiet_demo(&[]);
    let management = demo.value("management endpoint:");
    let dir = std::env::temp_dir().join(format!("wsdash-tmux-err-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let command = format!(
        "env XDG_CONFIG_HOME={dir} XDG_STATE_HOME={dir} AWS_ACCESS_KEY_ID=t AWS_SECRET_ACCESS_KEY=t \
         AWS_REGION=us-east-1 {BIN} --table conns --endpoint {management} --dynamodb-endpoint {moto} \
         --audit-log {dir}/audit.jsonl",
        dir = dir.display(),
        moto = moto.url
    );
    let tmux = Tmux::start_sized(&command, 100, 30);
    tmux.wait_for("three records", |s| s.contains("connections 3/3"));

    // The sort arrow marks the column that is sorted.
    // (age → idle → ip → state)
    tmux.keys(&["s", "s", "s"]);
    let sorted = tmux.wait_for("sorted by state", |s| s.contains("STATE▼"));
    assert!(!sorted.contains("AGE /2h▼"), "one arrow only: {sorted}");

    // The store goes away: the whole message is on screen, the last good rows stay, and the
    // data's time stops while the warning says the scan is failing.
    drop(moto);
    let screen = tmux.wait_for("the error band", |s| {
        error_band(s).contains("(showing the last good data)")
    });
    let band = error_band(&screen);
    assert!(
        band.contains("scan failed: cannot reach the connection store")
            && band.contains("connection refused"),
        "{screen}"
    );
    assert!(
        screen.contains("SCAN FAILING") && screen.contains("connections 3/3"),
        "{screen}"
    );
    let data_from = |s: &str| {
        s.split("data from ")
            .nth(1)
            .map(|rest| rest.chars().take(8).collect::<String>())
    };
    let first = data_from(&screen);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        data_from(&tmux.screen()),
        first,
        "the data's time does not tick while scans fail"
    );
    tmux.keys(&["q"]);
    std::fs::remove_dir_all(dir).ok();
}

/// A profile whose `credential_process` stops refreshing mid-session (an SSO helper whose
/// refresh token expired): the dashboard keeps its rows, names the profile and the helper's own
/// reason, and recovers by itself once the operator has logged in again.
#[tokio::test(flavor = "multi_thread")]
async fn credentials_that_expire_mid_session_keep_the_rows_say_why_and_recover_by_themselves() {
    crate::needs!(Tool::Moto, Tool::Tmux);
    let moto = common::Moto::start();
    let client = common::dynamo::dynamo(&moto).await;
    common::dynamo::create_table(&client, "conns", "user_id", None).await;
    for user in ["ann", "ben", "cat"] {
        common::dynamo::put(
            &client,
            "conns",
            &[
                ("user_id", common::dynamo::s(user)),
                ("connection_id", common::dynamo::s(&format!("{user:X<15}="))),
                (
                    "connected_at",
                    common::dynamo::s(&wsdash::model::iso_millis(
                        time::OffsetDateTime::now_utc() - time::Duration::minutes(1),
                    )),
                ),
            ],
        )
        .await;
    }
    let demo = common::quiet_demo(&[]);
    let management = demo.value("management endpoint:");
    let dir = std::env::temp_dir().join(format!("wsdash-tmux-creds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let state = dir.join("logged-in");
    std::fs::write(&state, "yes").expect("state");
    // Credentials that expire 15 s after each refresh, as an SSO session's role credentials do.
    let helper = dir.join("creds.sh");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\nif [ \"$(cat {state})\" = yes ]; then\n  echo \"{{\\\"Version\\\": 1, \\\"AccessKeyId\\\": \\\"AKIDPROC\\\", \\\"SecretAccessKey\\\": \\\"s\\\", \\\"SessionToken\\\": \\\"t\\\", \\\"Expiration\\\": \\\"$(date -u -d '+15 seconds' +%Y-%m-%dT%H:%M:%SZ)\\\"}}\"\nelse\n  echo 'Token has expired and refresh failed' >&2; exit 1\nfi\n",
            state = state.display()
        ),
    )
    .expect("helper");
    std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let config = dir.join("aws-config");
    std::fs::write(
        &config,
        format!(
            "[profile prod]\nregion = us-east-1\ncredential_process = {}\n",
            helper.display()
        ),
    )
    .expect("aws config");
    let command = format!(
        "env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY XDG_CONFIG_HOME={dir} XDG_STATE_HOME={dir} \
         AWS_CONFIG_FILE={config} AWS_PROFILE=prod {BIN} --table conns --endpoint {management} \
         --dynamodb-endpoint {moto} --audit-log {dir}/audit.jsonl",
        dir = dir.display(),
        config = config.display(),
        moto = moto.url
    );
    let tmux = Tmux::start_sized(&command, 160, 30);
    tmux.wait_for("three records", |s| s.contains("connections 3/3"));

    std::fs::write(&state, "no").expect("state");
    let screen = tmux.wait_for_within("the credentials error", Duration::from_secs(40), |s| {
        error_band(s).contains("Token has expired and refresh failed")
    });
    let band = error_band(&screen);
    assert!(band.contains("profile `prod`"), "{screen}");
    assert!(!band.contains("no AWS credentials found"), "{screen}");
    assert!(
        !band.contains("cannot reach"),
        "the store is reachable: {screen}"
    );
    assert!(
        screen.contains("connections 3/3"),
        "the rows stay: {screen}"
    );

    std::fs::write(&state, "yes").expect("state");
    tmux.wait_for_within("the recovery", Duration::from_secs(30), |s| {
        !error_band(s).contains("Token has expired") && s.contains("connections 3/3")
    });
    tmux.keys(&["q"]);
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn sigint_sigterm_and_sighup_give_the_terminal_back() {
    crate::needs!(Tool::Tmux);
    for signal in ["INT", "TERM", "HUP"] {
        let port = free_port();
        let dir =
            std::env::temp_dir().join(format!("wsdash-tmux-sig-{}-{signal}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        // The shell stays after wsdash ends, so the pane's terminal state can be read.
        let command = format!(
            "sh -c 'env XDG_CONFIG_HOME={dir} XDG_STATE_HOME={dir} {BIN} demo --clients 2 --gateway-listen 127.0.0.1:{port} --audit-log {dir}/audit.jsonl; echo wsdash-exited-$?; sleep 60'",
            dir = dir.display(),
        );
        let tmux = Tmux::start(&command);
        // Both clients live; the demo's flapping client may be live too, or between two of
        // its connections: only the two steady ones are waited for.
        tmux.wait_for("the dashboard", |s| {
            count(s, "live").is_some_and(|n| n >= 2)
        });
        assert_eq!(
            tmux.display("#{alternate_on}"),
            "1",
            "the dashboard uses the alternate screen"
        );
        let shell = tmux.display("#{pane_pid}");
        let out = Command::new("pgrep")
            .args(["-P", &shell])
            .output()
            .expect("pgrep");
        let pid = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(!pid.is_empty(), "no wsdash process under the pane's shell");
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .expect("kill");
        assert!(status.success());
        let screen = tmux.wait_for(&format!("wsdash to exit on SIG{signal}"), |s| {
            s.contains("wsdash-exited-")
        });
        assert_eq!(
            tmux.display("#{alternate_on} #{cursor_flag}"),
            "0 1",
            "after SIG{signal} the alternate screen is off and the cursor visible:\n{screen}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}

/// Gateway, backend and moto as separate processes on fixed ports, so each can be killed and
/// started again where the others expect it.
struct FaultRig {
    gw_port: u16,
    be_port: u16,
    moto_port: u16,
    gateway: Option<common::Running>,
    backend: Option<common::Running>,
    moto: Option<common::Moto>,
}

impl FaultRig {
    fn management(&self) -> String {
        format!("http://127.0.0.1:{}/production", self.gw_port)
    }

    fn moto_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.moto_port)
    }

    fn start_gateway(&mut self) {
        let listen = format!("127.0.0.1:{}", self.gw_port);
        let backend = format!("http://127.0.0.1:{}", self.be_port);
        self.gateway = Some(common::Running::start(
            &["gateway", "--listen", &listen, "--backend", &backend],
            "backend:",
        ));
    }

    fn start_backend(&mut self) {
        let listen = format!("127.0.0.1:{}", self.be_port);
        let management = self.management();
        let moto = self.moto_url();
        self.backend = Some(common::Running::start_with_env(
            &[
                "backend",
                "--listen",
                &listen,
                "--gateway",
                &management,
                "--dev-tokens",
                "--admin-token",
                "fault-admin",
                "--store",
                "dynamodb",
                "--table",
                "faults",
            ],
            "admin token:",
            &[
                ("AWS_ENDPOINT_URL_DYNAMODB", moto.as_str()),
                ("AWS_REGION", "us-east-1"),
                ("AWS_ACCESS_KEY_ID", "t"),
                ("AWS_SECRET_ACCESS_KEY", "t"),
            ],
        ));
    }

    async fn start_moto(&mut self) {
        let moto = common::Moto::start_on(self.moto_port);
        let client = common::dynamo::dynamo(&moto).await;
        common::dynamo::create_table(&client, "faults", "user_id", Some("connection_id")).await;
        self.moto = Some(moto);
    }

    async fn dynamo(&self) -> aws_sdk_dynamodb::Client {
        common::dynamo::dynamo(self.moto.as_ref().expect("moto")).await
    }

    async fn seed_dead(&self, n: usize) {
        let at = wsdash::model::iso_millis(
            time::OffsetDateTime::now_utc() - time::Duration::minutes(30),
        );
        for i in 0..n {
            common::dynamo::put(
                &self.dynamo().await,
                "faults",
                &[
                    ("user_id", common::dynamo::s(&format!("dead-{i}"))),
                    (
                        "connection_id",
                        common::dynamo::s(&format!("DEADCONN{i:07}=")),
                    ),
                    ("connected_at", common::dynamo::s(&at)),
                ],
            )
            .await;
        }
    }

    async fn faults(&self, body: &str) {
        let status = reqwest::Client::new()
            .put(format!("http://127.0.0.1:{}/_wsdash/faults", self.gw_port))
            .body(body.to_string())
            .send()
            .await
            .expect("faults")
            .status();
        assert!(status.is_success(), "faults {body}: {status}");
    }
}

type Client =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect_clients(rig: &FaultRig, users: &[&str]) -> Vec<Client> {
    let mut clients = Vec::new();
    for user in users {
        let url = format!("ws://127.0.0.1:{}/production?token=dev:{user}", rig.gw_port);
        let (socket, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("connect");
        clients.push(socket);
    }
    clients
}

/// `x`, then `y` if a confirmation came up, then the summary's first line; the summary is closed.
fn purge_from_the_dashboard(tmux: &Tmux) -> String {
    tmux.keys(&["x"]);
    let screen = tmux.wait_for("a purge plan or its failure", |s| {
        s.contains("Purge:")
            || s.contains("purge stale records")
            || s.contains("cannot plan the purge")
    });
    if screen.contains("purge stale records") {
        tmux.keys(&["y"]);
    }
    let screen = tmux.wait_for("the purge's outcome", |s| {
        s.contains("Purge:") || s.contains("cannot plan the purge")
    });
    tmux.keys(&["Escape"]);
    screen
}

/// The dashboard keeps running through 403, 429 and 500 answers and through the death and
/// return of the gateway, the backend and DynamoDB; its purges delete nothing but records the
/// gateway called Gone.
#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_survives_every_fault_and_deletes_only_on_gone() {
    crate::needs!(Tool::Moto, Tool::Tmux);
    let mut rig = FaultRig {
        gw_port: free_port(),
        be_port: free_port(),
        moto_port: free_port(),
        gateway: None,
        backend: None,
        moto: None,
    };
    rig.start_moto().await;
    rig.start_gateway();
    rig.start_backend();
    let users = ["alice", "bob", "carol"];
    let mut clients = connect_clients(&rig, &users).await;
    rig.seed_dead(3).await;

    let dir = std::env::temp_dir().join(format!("wsdash-tmux-faults-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let audit = dir.join("audit.jsonl");
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "default_env = \"rig\"\n[env.rig]\ntable = \"faults\"\nendpoint = \"{}\"\ndynamodb_endpoint = \"{}\"\nregion = \"us-east-1\"\n",
            rig.management(),
            rig.moto_url()
        ),
    )
    .expect("config");
    let command = format!(
        "env XDG_CONFIG_HOME={dir} XDG_STATE_HOME={dir} AWS_ACCESS_KEY_ID=t AWS_SECRET_ACCESS_KEY=t \
         {BIN} --config {config} --audit-log {audit}",
        dir = dir.display(),
        config = config.display(),
        audit = audit.display()
    );
    let tmux = Tmux::start_sized(&command, 140, 40);
    tmux.wait_for("three live and three stale", |s| {
        count(s, "live") == Some(3) && count(s, "stale") == Some(3)
    });

    // 403, 429 and 500 on every Management API call: probes fail, nothing is decided, and a
    // purge deletes nothing.
    for (fault, words) in [
        ("forbidden", "Forbidden"),
        ("throttle", "hrottl"),
        ("server_error", "500"),
    ] {
        rig.faults(&format!("{{\"{fault}\": 1.0}}")).await;
        let screen = purge_from_the_dashboard(&tmux);
        assert!(
            screen.contains("nothing to delete") && screen.contains("could not be probed"),
            "with {fault} injected:\n{screen}"
        );
        assert!(
            tmux.screen().contains(words) || screen.contains(words),
            "the {fault} answers are named on screen:\n{}",
            tmux.screen()
        );
        rig.faults(&format!("{{\"{fault}\": 0.0}}")).await;
    }
    assert!(
        !audit.exists()
            || !std::fs::read_to_string(&audit)
                .unwrap_or_default()
                .contains("\"op\":\"delete\"")
    );

    // The gateway dies: probes cannot reach it; a purge deletes nothing.
    rig.gateway = None;
    let screen = purge_from_the_dashboard(&tmux);
    assert!(screen.contains("nothing to delete"), "{screen}");
    tmux.wait_for("the unreachable endpoint named", |s| {
        s.contains("unreachable")
    });
    // It returns (empty, like a redeployed stage): the clients reconnect.
    rig.start_gateway();
    clients.clear();
    clients.extend(connect_clients(&rig, &users).await);

    // The backend dies and returns: the dashboard does not depend on it.
    rig.backend = None;
    std::thread::sleep(Duration::from_secs(1));
    assert!(tmux.alive());
    rig.start_backend();

    // DynamoDB dies: the last good rows stay and the failing scan is said.
    rig.moto = None;
    tmux.wait_for("the failing scan", |s| s.contains("SCAN FAILING"));
    let screen = purge_from_the_dashboard(&tmux);
    assert!(screen.contains("cannot plan the purge"), "{screen}");
    // It returns empty; the table is created again and refilled by reconnecting clients.
    rig.start_moto().await;
    clients.clear();
    clients.extend(connect_clients(&rig, &users).await);
    rig.seed_dead(2).await;
    tmux.wait_for("recovery: three live, two stale, no failing scan", |s| {
        count(s, "live") == Some(3) && count(s, "stale") == Some(2) && !s.contains("SCAN FAILING")
    });

    // Everything answers again: the purge deletes exactly the two Gone records.
    let screen = purge_from_the_dashboard(&tmux);
    assert!(screen.contains("Purge: deleted 2"), "{screen}");
    let (entries, _) = wsdash::ops::audit::read_audit_log(&audit).expect("audit log");
    let deleted: Vec<String> = entries
        .iter()
        .filter(|e| {
            e.op == "delete" && e.phase == "result" && e.outcome.as_deref() == Some("deleted")
        })
        .filter_map(|e| e.record.as_ref().map(|r| r.user_id.clone()))
        .collect();
    assert_eq!(deleted.len(), 2, "{deleted:?}");
    assert!(
        deleted.iter().all(|u| u.starts_with("dead-")),
        "{deleted:?}"
    );
    let stored = common::dynamo::stored_users(&rig.dynamo().await, "faults").await;
    for user in users {
        assert!(stored.contains(user), "{user} lost its record: {stored:?}");
    }
    assert!(tmux.alive(), "the dashboard is still running");
    tmux.keys(&["q"]);
    drop(clients);
    std::fs::remove_dir_all(&dir).ok();
}

/// An operator's push is never queued behind a probe sweep. The API ceiling is 10 calls/s and
/// the table holds 400 records, so the dashboard's sweep needs 40 s; a push typed once the
/// sweep has begun must reach the browser while most of the table is still unprobed, and the
/// gateway must have answered only part of the sweep's GetConnection calls by then.
#[tokio::test(flavor = "multi_thread")]
async fn a_push_started_during_a_probe_sweep_finishes_first() {
    crate::needs!(Tool::Moto, Tool::Tmux);
    use crate::common::dynamo::{create_table, dynamo, n, put_many, s};
    use futures_util::StreamExt;
    let moto = common::Moto::start();
    let client = dynamo(&moto).await;
    create_table(&client, "sweep", "user_id", None).await;
    let demo = common::quiet_demo(&[]);
    let urls = demo.demo_urls();
    let mut sockets = urls.connect(&["operator-target"]).await;
    let live_id = urls.live_ids().await.pop().expect("one live connection");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut items: Vec<_> = (0..399)
        .map(|i| {
            [
                ("user_id".to_string(), s(&format!("gone-{i:03}"))),
                ("connection_id".to_string(), s(&format!("Gone{i:011}="))),
                ("connected_at".to_string(), n(now - 60)),
            ]
            .into_iter()
            .collect()
        })
        .collect();
    items.push(
        [
            ("user_id".to_string(), s("operator-target")),
            ("connection_id".to_string(), s(&live_id)),
            ("connected_at".to_string(), n(now - 30)),
        ]
        .into_iter()
        .collect(),
    );
    put_many(&client, "sweep", &items).await;

    let dir = std::env::temp_dir().join(format!("wsdash-tmux-sweep-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let command = format!(
        "env XDG_CONFIG_HOME={dir} XDG_STATE_HOME={dir} AWS_ACCESS_KEY_ID=t AWS_SECRET_ACCESS_KEY=t \
         AWS_REGION=us-east-1 {BIN} --table sweep --endpoint {management} --dynamodb-endpoint {moto} \
         --audit-log {dir}/audit.jsonl --rate 10",
        dir = dir.display(),
        management = urls.management,
        moto = moto.url
    );
    let tmux = Tmux::start_sized(&command, 160, 40);
    tmux.wait_for("the sweep under way", |s| {
        s.contains("connections 400/400") && s.contains("stale ") && count(s, "stale") >= Some(1)
    });
    tmux.keys(&[":", "push operator-target", "Enter"]);
    let message = tokio::time::timeout(Duration::from_secs(30), sockets[0].next())
        .await
        .expect("the push arrives")
        .expect("a frame")
        .expect("a message");
    let probes_so_far: u64 = admin_json(&urls.admin, "stats").await["get_connection"]
        .as_object()
        .expect("counters")
        .values()
        .filter_map(|v| v.as_u64())
        .sum();
    assert!(message.is_text(), "{message:?}");
    assert!(
        probes_so_far < 300,
        "the push waited for the sweep: {probes_so_far} GetConnection calls came first"
    );
    let screen = tmux.wait_for("the push's outcome", |s| s.contains("delivered"));
    let unprobed = count(&screen, "unprobed").unwrap_or(0);
    assert!(
        unprobed >= 100,
        "most of the table is still unprobed: {screen}"
    );
    tmux.keys(&["q"]);
    std::fs::remove_dir_all(dir).ok();
}

/// A table with a stream is read in full once, then followed: a record written by the backend
/// appears and a deleted one goes, while a proxy in front of moto sees no further Scan.
#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_follows_the_table_stream_instead_of_scanning() {
    crate::needs!(Tool::Moto, Tool::Tmux);
    use crate::common::dynamo::{create_table, dynamo, enable_stream, n, put, s};
    let moto = common::Moto::start();
    let client = dynamo(&moto).await;
    create_table(&client, "followed", "user_id", None).await;
    enable_stream(&client, "followed", "NEW_AND_OLD_IMAGES").await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    for user in ["first-user", "second-user"] {
        put(
            &client,
            "followed",
            &[
                ("user_id", s(user)),
                ("connection_id", s(&format!("{user}-conn="))),
                ("connected_at", n(now - 60)),
            ],
        )
        .await;
    }
    let proxy = common::proxy::DynamoProxy::start(&moto).await;
    let demo = common::quiet_demo(&[]);
    let urls = demo.demo_urls();
    let dir = std::env::temp_dir().join(format!("wsdash-tmux-follow-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let command = format!(
        "env XDG_CONFIG_HOME={dir} XDG_STATE_HOME={dir} AWS_ACCESS_KEY_ID=t AWS_SECRET_ACCESS_KEY=t \
         AWS_REGION=us-east-1 {BIN} --table followed --endpoint {management} --dynamodb-endpoint {proxy}",
        dir = dir.display(),
        management = urls.management,
        proxy = proxy.url
    );
    let tmux = Tmux::start_sized(&command, 160, 40);
    tmux.wait_for("the first read, then the stream followed", |s| {
        s.contains("first-user") && s.contains("following the stream of followed")
    });
    let scans = proxy.calls("Scan");

    put(
        &client,
        "followed",
        &[
            ("user_id", s("third-user")),
            ("connection_id", s("third-user-conn=")),
            ("connected_at", n(now)),
        ],
    )
    .await;
    tmux.wait_for("the new record", |s| s.contains("third-user"));
    client
        .delete_item()
        .table_name("followed")
        .key("user_id", s("first-user"))
        .send()
        .await
        .expect("delete");
    let screen = tmux.wait_for("the deleted record gone", |s| {
        !s.contains("first-user") && s.contains("second-user")
    });
    assert!(
        screen.contains("following the stream of followed"),
        "{screen}"
    );
    assert_eq!(
        proxy.calls("Scan"),
        scans,
        "the dashboard scanned again instead of following the stream"
    );
    assert!(proxy.calls("Scan") >= 1, "the table was read in full once");
    tmux.keys(&["q"]);
    std::fs::remove_dir_all(dir).ok();
}

/// The demo's misbehaving client shows up under `f` as a reconnect storm, its connections with
/// their handshakes and, beside them, the 401s its expired token earns from the same client;
/// the view is live and switches to 3 h with `w`. Its details view shows those 401s too.
#[test]
fn the_demo_shows_its_reconnect_storm_under_f() {
    crate::needs!(Tool::Tmux);
    let dir = std::env::temp_dir().join(format!("wsdash-tmux-flap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    // A faster clock: the flapper reconnects about every 2 s instead of 8, and retries its
    // expired token every 1.25 s instead of 5. The two ordinary clients stay connected, so the
    // flapper is the only storm (a short random lifetime could make one of them flap too).
    let command = format!(
        "env XDG_CONFIG_HOME={dir} XDG_STATE_HOME={dir} {BIN} demo --clients 2 --lifetime-secs 0 --time-scale 4 --push-every-ms 0",
        dir = dir.display()
    );
    let tmux = Tmux::start(&command);
    tmux.wait_for("the demo's rows", |s| s.contains("user-0"));
    // Opened once: the view follows the storm as it grows.
    tmux.keys(&["f"]);
    let screen = tmux.wait_for_within(
        "flapper-0 with its 401s beside it",
        Duration::from_secs(60),
        |s| {
            s.contains("Reconnect storms: 1 user(s)")
                && s.contains("flapper-0")
                && s.contains("refused from its client")
                && s.contains("401 ×")
        },
    );
    assert!(screen.contains("$connect 200 ×"), "{screen}");
    assert!(screen.contains("swarm/1.0 Edge/131 (flapper)"), "{screen}");
    assert!(screen.contains("a bad or expired token"), "{screen}");
    // The emulator's counts, under CloudWatch's metric names, over the last hour.
    assert!(screen.contains("the last 1 h per minute"), "{screen}");
    assert!(
        screen.contains("ConnectCount") && screen.contains("ClientError"),
        "{screen}"
    );
    tmux.keys(&["w"]);
    tmux.wait_for("the 3 h window", |s| s.contains("the last 3 h per 3 min"));
    tmux.keys(&["Escape"]);
    // The flapper's row, its details: its own handshake and the refusals from its client.
    tmux.keys(&["/", "flapper", "Enter"]);
    tmux.wait_for("the flapper's row", |s| s.contains("connections 1/"));
    tmux.keys(&["Enter"]);
    tmux.wait_for_within(
        "the flapper's 401s in its details",
        Duration::from_secs(30),
        |s| s.contains("refused handshakes from this client") && s.contains("$connect 401"),
    );
    // The emulator's access log under `l`, filtered as CloudWatch would filter it.
    tmux.keys(&[
        "Escape",
        "Escape",
        "l",
        "/",
        "\"invalid token\" -Chrome",
        "Enter",
    ]);
    let panel = tmux.wait_for("the flapper's refusals in the logs panel", |s| {
        s.contains("matching \"invalid token\" -Chrome") && s.contains("$connect    401")
    });
    assert!(!panel.contains("$connect    200"), "{panel}");
    tmux.keys(&["Escape", "q"]);
    std::fs::remove_dir_all(dir).ok();
}

/// On AWS the logs come from the environment's log group, through FilterLogEvents: the emulator
/// (a stage with access logging) ships its lines to a group on moto_server, and the dashboard,
/// whose environment names that group, shows a connection's lines in its details, the refused
/// handshake from the same client beside them, and follows the group, filtered, under `l`.
#[tokio::test(flavor = "multi_thread")]
async fn on_aws_the_details_and_the_logs_panel_read_the_log_group() {
    crate::needs!(Tool::Moto, Tool::Tmux);
    use crate::common::dynamo::{create_table, dynamo, put, s};
    let moto = common::Moto::start();
    let demo = common::quiet_demo(&["--log-group", "/ws/access", "--logs-endpoint", &moto.url]);
    let urls = demo.demo_urls();
    let _sockets = urls.connect(&["ann"]).await;
    let id = urls.live_ids().await.pop().expect("ann's connection");
    let refused = tokio_tungstenite::connect_async(format!("{}?token=stale", urls.websocket)).await;
    assert!(refused.is_err(), "a bad token is refused");
    // The table lives on moto, as it would in DynamoDB.
    let client = dynamo(&moto).await;
    create_table(&client, "conns", "user_id", None).await;
    let now = wsdash::model::iso_millis(time::OffsetDateTime::now_utc());
    put(
        &client,
        "conns",
        &[
            ("user_id", s("ann")),
            ("connection_id", s(&id)),
            ("connected_at", s(&now)),
        ],
    )
    .await;
    let dir = std::env::temp_dir().join(format!("wsdash-tmux-logs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = common::env_config(
        &dir,
        "prod",
        &format!(
            "table = \"conns\"\nendpoint = \"{}\"\ndynamodb_endpoint = \"{}\"\nlog_group = \"/ws/access\"",
            urls.management, moto.url
        ),
    );
    let command = format!(
        "env XDG_CONFIG_HOME={dir} XDG_STATE_HOME={dir} AWS_ACCESS_KEY_ID=t AWS_SECRET_ACCESS_KEY=t \
         AWS_REGION=us-east-1 AWS_ENDPOINT_URL_CLOUDWATCH_LOGS={moto} {BIN} --config {config}",
        dir = dir.display(),
        moto = moto.url,
        config = config.display()
    );
    let tmux = Tmux::start(&command);
    tmux.wait_for("ann's record", |s| s.contains("connections 1/1"));
    tmux.keys(&["Enter"]);
    let shown = tmux.wait_for("ann's lines from the group", |s| {
        s.contains("access log (log group /ws/access)")
            && s.contains("CONNECT $connect 200")
            && s.contains("refused handshakes from this client")
            && s.contains("401 ×1")
    });
    assert!(shown.contains(&id), "{shown}");
    tmux.keys(&["Escape", "l"]);
    tmux.wait_for("the group, followed", |s| {
        s.contains("Access log (log group /ws/access), all lines")
            && s.contains("$connect    200")
            && s.contains("$connect    401")
    });
    tmux.keys(&["/", "invalid", "Enter"]);
    let filtered = tmux.wait_for("only the refusal", |s| {
        s.contains("matching invalid") && s.contains("$connect    401")
    });
    assert!(
        !filtered.contains("$connect    200"),
        "the filter goes to FilterLogEvents: {filtered}"
    );
    tmux.keys(&["Escape", "q"]);
    std::fs::remove_dir_all(dir).ok();
}

/// The conventions a terminal user expects: completions generated from the CLI (bash, in a
/// real shell), a man page, and `NO_COLOR` honoured by the dashboard.
#[test]
fn completions_complete_in_bash_the_man_page_renders_and_no_color_takes_colours_out() {
    crate::needs!(Tool::Tmux);
    let bin_dir = std::path::Path::new(BIN)
        .parent()
        .expect("the binary's directory")
        .display()
        .to_string();
    let shell = Tmux::start(&format!(
        "env -i HOME=/tmp TERM=xterm PATH={bin_dir}:/usr/bin:/bin bash --norc --noprofile"
    ));
    shell.type_text("source <(wsdash completions bash)\n");
    shell.type_text("wsdash pur");
    shell.keys(&["Tab"]);
    shell.wait_for("the subcommand completed", |s| s.contains("wsdash purge"));
    shell.keys(&["C-u"]);
    shell.type_text("wsdash purge --ye");
    shell.keys(&["Tab"]);
    shell.wait_for("the flag completed", |s| s.contains("wsdash purge --yes"));

    let out = std::process::Command::new(BIN)
        .arg("man")
        .output()
        .expect("wsdash man");
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && page.contains(".TH wsdash"),
        "{page}"
    );
    for sub in ["purge", "restore", "doctor", "completions"] {
        assert!(page.contains(sub), "the man page names {sub}");
    }

    // The same demo dashboard, with and without NO_COLOR: colours only without it.
    let colour = sets_colour();
    let dir = std::env::temp_dir().join(format!("wsdash-tmux-nocolor-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for (no_color, expect_colour) in [("", true), ("1", false)] {
        let command = format!(
            "env XDG_CONFIG_HOME={dir} XDG_STATE_HOME={dir} NO_COLOR={no_color} {BIN} demo --clients 3",
            dir = dir.display()
        );
        let tmux = Tmux::start(&command);
        tmux.wait_for("the demo's rows", |s| s.contains("live"));
        let screen = tmux.screen_with_escapes();
        assert_eq!(
            colour(&screen),
            expect_colour,
            "NO_COLOR={no_color:?}: colour escapes found: {}",
            colour(&screen)
        );
        if !expect_colour {
            assert!(
                screen.contains("\u{1b}[7m") || screen.contains(";7m"),
                "the selected row is shown reversed instead"
            );
        }
        tmux.keys(&["q"]);
    }
    std::fs::remove_dir_all(dir).ok();
}

/// Whether a screen capture sets a foreground or background colour (SGR 30–37, 39 excepted,
/// 40–47, 90–97, 100–107, or 38/48 with a palette or RGB colour).
fn sets_colour() -> impl Fn(&str) -> bool {
    |screen: &str| {
        screen.split("\u{1b}[").skip(1).any(|rest| {
            let Some(end) = rest.find('m') else {
                return false;
            };
            let params: Vec<u32> = rest[..end]
                .split(';')
                .filter_map(|p| p.parse().ok())
                .collect();
            let mut i = 0;
            while i < params.len() {
                match params[i] {
                    38 | 48 => return true,
                    30..=37 | 40..=47 | 90..=97 | 100..=107 => return true,
                    _ => {}
                }
                i += 1;
            }
            false
        })
    }
}

/// The mouse and the clipboard: a click selects the row drawn under it, the wheel moves the
/// selection, and `y` puts the selected connection id on the terminal's clipboard (OSC 52,
/// which tmux with set-clipboard on keeps in its paste buffer).
#[test]
fn a_click_selects_the_row_under_it_the_wheel_scrolls_and_y_copies_its_id() {
    crate::needs!(Tool::Tmux);
    let dir = std::env::temp_dir().join(format!("wsdash-tmux-mouse-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let command = format!(
        "env XDG_CONFIG_HOME={dir} XDG_STATE_HOME={dir} {BIN} demo --clients 6 --lifetime-secs 3600 --vanish 0 --drop-disconnect 0 --flappers 0 --push-every-ms 0",
        dir = dir.display()
    );
    let tmux = Tmux::start(&command);
    tmux.set_option("set-clipboard", "on");
    let screen = tmux.wait_for("six live rows", |s| s.matches(" live ").count() >= 6);
    // The table's rows: the screen lines that show a user of the demo.
    let rows: Vec<(usize, String)> = screen
        .lines()
        .enumerate()
        .filter_map(|(y, line)| {
            let user = line.trim_start_matches('│').split_whitespace().next()?;
            user.starts_with("user-").then(|| (y, user.to_string()))
        })
        .collect();
    assert!(rows.len() >= 6, "{screen}");
    // Click the fourth row (SGR mouse report, 1-based column and row), then open its details.
    let (y, user) = rows[3].clone();
    tmux.type_text(&format!("\u{1b}[<0;10;{}M\u{1b}[<0;10;{}m", y + 1, y + 1));
    tmux.keys(&["Enter"]);
    let details = tmux.wait_for("the clicked row's details", |s| s.contains("user_id"));
    assert!(
        details.contains(&format!("user_id        {user}")),
        "clicked {user} on line {y}:\n{details}"
    );
    let id = details
        .lines()
        .find_map(|l| l.split("connection_id  ").nth(1))
        .map(|rest| {
            rest.split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .expect("the connection id in the details");
    tmux.keys(&["Escape"]);
    // y: the id on the clipboard.
    tmux.keys(&["y"]);
    tmux.wait_for("the copy said", |s| s.contains("copied the connection id"));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if tmux.paste_buffer() == id {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "tmux's buffer is {:?}, not {id:?}",
            tmux.paste_buffer()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The wheel moves the selection down: the details now show the next row's user.
    tmux.type_text(&format!("\u{1b}[<65;10;{}M", y + 1));
    tmux.keys(&["Enter"]);
    let next = &rows[4].1;
    tmux.wait_for("the next row's details", |s| {
        s.contains(&format!("user_id        {next}"))
    });
    tmux.keys(&["Escape", "q"]);
    std::fs::remove_dir_all(dir).ok();
}

/// The demo's forgotten client (accepted, its record lost) shows as an orphan under `o` within
/// a minute, confirmed by GetConnection; `d` and `y` close it, and its client registers again.
#[test]
fn an_orphan_shows_under_o_and_closing_it_makes_the_client_register_again() {
    crate::needs!(Tool::Tmux);
    let dir = std::env::temp_dir().join(format!("wsdash-tmux-orphans-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let command = format!(
        "env XDG_CONFIG_HOME={dir} XDG_STATE_HOME={dir} {BIN} demo --clients 3 --forgotten 1 --flappers 0 \
         --lifetime-secs 0 --push-every-ms 0 --drop-disconnect 0",
        dir = dir.display(),
    );
    let tmux = Tmux::start(&command);
    tmux.wait_for("three live clients", |s| count(s, "live") == Some(3));
    tmux.wait_for_within("an orphan within a minute", Duration::from_secs(60), |s| {
        s.contains("ORPHANS 1 (o)")
    });
    tmux.keys(&["o"]);
    let listed = tmux.wait_for("the orphans view", |s| {
        s.contains("1 connection(s) no push reaches")
            && s.contains("(forgotten)")
            && s.contains('▶')
    });
    assert!(listed.contains("each confirmed by"), "{listed}");
    tmux.keys(&["d"]);
    tmux.wait_for("the disconnect dialog", |s| {
        s.contains("Close 1 connection(s) with DeleteConnection")
    });
    tmux.keys(&["y"]);
    // Reconnected, the client registers this time: a fourth live record, and no orphan.
    tmux.wait_for_within(
        "the client registered again",
        Duration::from_secs(60),
        |s| count(s, "live") == Some(4) && !s.contains("ORPHANS"),
    );
    tmux.keys(&["q"]);
    std::fs::remove_dir_all(dir).ok();
}

/// The overview of two environments (two demos, two Redis stores) in tmux: a row each, a store
/// outage on its own row only, `Enter` opens that environment's dashboard and `q` comes back.
#[test]
fn the_overview_shows_two_environments_and_a_fault_on_its_own_row() {
    crate::needs!(Tool::Tmux, Tool::RedisServer);
    use crate::common::redis::Redis;
    let redis_us = Redis::start();
    let mut redis_eu = Some(Redis::start());
    let url_eu = redis_eu.as_ref().map(|r| r.url.clone()).unwrap_or_default();
    let demo = |url: &str| common::steady_demo(2, url);
    let us = demo(&redis_us.url);
    let eu = demo(&url_eu);
    let dir = std::env::temp_dir().join(format!("wsdash-tmux-overview-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[env.prod-us]\nstore = \"{}\"\nendpoint = \"{}\"\ncolor = \"blue\"\n\
             [env.prod-eu]\nstore = \"{}\"\nendpoint = \"{}\"\ncolor = \"magenta\"\nreadonly = true\n",
            redis_us.url,
            us.value("management endpoint:"),
            url_eu,
            eu.value("management endpoint:"),
        ),
    )
    .expect("config");
    let command = format!(
        "env XDG_CONFIG_HOME={dir} XDG_STATE_HOME={dir} AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
         AWS_REGION=us-east-1 {BIN} --config {config} overview prod-us prod-eu --every-secs 1",
        dir = dir.display(),
        config = config.display(),
    );
    let tmux = Tmux::start(&command);
    let row = |screen: &str, env: &str| {
        screen
            .lines()
            .find(|l| l.contains(&format!("│{env}")) || l.contains(&format!(" {env} ")))
            .unwrap_or_default()
            .to_string()
    };
    tmux.wait_for("both environments, probed", |s| {
        ["prod-us", "prod-eu"].iter().all(|env| {
            let line = row(s, env);
            line.contains("100% of 2") && line.contains(" ok ")
        })
    });
    let screen = tmux.screen();
    assert!(row(&screen, "prod-eu").contains("read-only"), "{screen}");
    assert!(!row(&screen, "prod-us").contains("read-only"), "{screen}");
    // prod-eu's store goes away: its row says so, prod-us's does not.
    redis_eu.take();
    let screen = tmux.wait_for("prod-eu's store down", |s| {
        row(s, "prod-eu").contains("STORE DOWN")
    });
    assert!(row(&screen, "prod-us").contains(" ok "), "{screen}");
    assert!(
        row(&screen, "prod-eu").contains("100% of 2"),
        "the last good read stays: {screen}"
    );
    // Enter opens the selected environment's dashboard; q comes back.
    tmux.keys(&["Enter"]);
    tmux.wait_for("prod-us's dashboard", |s| {
        s.contains(" prod-us ") && s.contains("connections 2/2")
    });
    tmux.keys(&["q"]);
    tmux.wait_for("the overview again", |s| s.contains("back from prod-us"));
    tmux.keys(&["q"]);
    std::fs::remove_dir_all(dir).ok();
}

/// The storm view's "N in all" of records that appeared and vanished.
fn storm_totals(screen: &str) -> Vec<String> {
    screen
        .lines()
        .filter(|l| l.contains("│  new ") || l.contains("│  vanished "))
        .filter_map(|l| {
            let before = l.split(" in all").next()?;
            Some(before.rsplit(' ').next()?.to_string())
        })
        .collect()
}

/// The table rows a dashboard screen shows: (connection id, state), in screen order.
fn screen_rows(screen: &str) -> Vec<(String, String)> {
    const STATES: [&str; 6] = [
        "live",
        "stale",
        "expired",
        "unknown",
        "malformed",
        "unprobed",
    ];
    screen
        .lines()
        .filter(|l| l.starts_with("│ "))
        .filter_map(|l| {
            let words: Vec<&str> = l.trim_matches('│').split_whitespace().collect();
            let id = words.get(1)?;
            let state = words.iter().find(|w| STATES.contains(w))?;
            (id.len() >= 12).then(|| (id.to_string(), state.to_string()))
        })
        .collect()
}

/// A demo session recorded, then replayed: at three moments the replay shows the rows (and
/// under a filter, the same filter results) the live dashboard showed then, the storm view
/// opens on it, and the file a killed recorder left is read.
#[tokio::test(flavor = "multi_thread")]
async fn a_recorded_session_replays_as_it_was_seen() {
    crate::needs!(Tool::Tmux);
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("wsdash-tmux-rec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let recording = dir.join("session.jsonl");
    let command = format!(
        "env XDG_CONFIG_HOME={dir} XDG_STATE_HOME={dir} {BIN} --record {rec} demo --clients 3 --flappers 0 \
         --forgotten 0 --lifetime-secs 0 --drop-disconnect 1 --push-every-ms 0 --gateway-listen 127.0.0.1:{port}",
        dir = dir.display(),
        rec = recording.display(),
    );
    let live = Tmux::start(&command);
    let now_ms = || (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    let steady = |tmux: &Tmux, what: &str, check: &dyn Fn(&str) -> bool| {
        // The same screen twice, half a second apart: nothing was arriving at that moment.
        loop {
            let first = tmux.wait_for(what, |s| check(s));
            let at = now_ms();
            std::thread::sleep(Duration::from_millis(500));
            let second = tmux.screen();
            if screen_rows(&first) == screen_rows(&second) {
                return (at, screen_rows(&second));
            }
        }
    };
    let (t1, rows1) = steady(&live, "three live clients", &|s| {
        count(s, "live") == Some(3)
    });
    // Two tabs that vanish: their $disconnect is lost, so their records go stale.
    let ws = format!("ws://127.0.0.1:{port}/production");
    for n in 0..2 {
        let (socket, _) = tokio_tungstenite::connect_async(format!("{ws}?token=dev:ghost-{n}"))
            .await
            .expect("connect");
        drop(socket);
    }
    let (t2, rows2) = steady(&live, "two stale records", &|s| {
        count(s, "stale") == Some(2)
    });
    live.keys(&[
        "/", "s", "t", "a", "t", "e", ":", "s", "t", "a", "l", "e", "Enter",
    ]);
    let (t3, rows3) = steady(&live, "the filter", &|s| s.contains("connections 2/5"));
    assert_eq!(rows3.len(), 2, "{rows3:?}");
    // The storm view then: records appeared and vanished in all.
    live.keys(&["f"]);
    let storm =
        storm_totals(&live.wait_for("the live storm view", |s| s.contains("Reconnect storms")));
    assert_eq!(storm.len(), 2, "appeared and vanished: {storm:?}");
    live.keys(&["Escape"]);
    // Killed, not quit: the recording is what a crash leaves. By its pid (`env` execs it): a
    // pattern would also match the tmux server, whose title is the first session's command.
    let pid = live.display("#{pane_pid}");
    assert!(!pid.is_empty(), "the dashboard's pid");
    let _ = Command::new("kill").args(["-KILL", &pid]).status();
    std::thread::sleep(Duration::from_millis(300));
    drop(live);

    let at = |t: i64| {
        let at = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(t) * 1_000_000)
            .expect("time");
        wsdash::model::iso_millis(at)
    };
    for (t, rows) in [(t1, &rows1), (t2, &rows2)] {
        let out = Command::new(BIN)
            .args([
                "replay",
                &recording.display().to_string(),
                "--at",
                &at(t),
                "--output",
                "json",
            ])
            .output()
            .expect("replay");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let table: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        let replayed: Vec<(String, String)> = table
            .as_array()
            .expect("rows")
            .iter()
            .map(|r| {
                (
                    r["connection_id"].as_str().unwrap_or_default().to_string(),
                    r["state"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        assert_eq!(&replayed, rows, "the table at {}", at(t));
    }
    // In the dashboard: paused at the third moment, the same filter shows the same rows.
    let replay = Tmux::start(&format!("{BIN} replay {}", recording.display()));
    replay.wait_for("the replay", |s| s.contains("REPLAY"));
    replay.keys(&["Space"]);
    replay.type_text(&format!(":at {}", at(t3)));
    replay.keys(&["Enter"]);
    replay.keys(&[
        "/", "s", "t", "a", "t", "e", ":", "s", "t", "a", "l", "e", "Enter",
    ]);
    let screen = replay.wait_for("the filtered replay", |s| {
        s.contains("PAUSED") && s.contains("connections 2/5")
    });
    assert_eq!(screen_rows(&screen), rows3, "{screen}");
    // Nothing can change from a replay.
    replay.keys(&["x"]);
    replay.wait_for("purge refused", |s| {
        s.contains("read-only: purge is disabled")
    });
    replay.keys(&["f"]);
    let replayed = replay.wait_for("the storm view", |s| s.contains("Reconnect storms"));
    assert_eq!(storm_totals(&replayed), storm, "{replayed}");
    replay.keys(&["Escape", "q"]);
    std::fs::remove_dir_all(dir).ok();
}
