//! The exporter as an on-call team runs it: Debian's Prometheus scrapes it over the demo, and
//! the series Prometheus holds match what `wsdash probe --output json` says of the same table;
//! promtool accepts the exposition, the shipped alert rules, and their unit tests.

use crate::common::redis::Redis;
use crate::common::tools::Tool;
use crate::common::{env_config, free_port, Running, BIN};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const AWS: [(&str, &str); 3] = [
    ("AWS_ACCESS_KEY_ID", "test"),
    ("AWS_SECRET_ACCESS_KEY", "test"),
    ("AWS_REGION", "us-east-1"),
];

/// A Prometheus server (Debian's) scraping one target every second, in a temporary directory
/// on a free port; stopped and removed on drop.
struct Prometheus {
    child: Child,
    dir: PathBuf,
    url: String,
}

impl Prometheus {
    fn start(target: &str) -> Prometheus {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("wsdash-prom-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("prometheus dir");
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: wsdash\n    static_configs:\n      - targets: [\"{target}\"]\n"
            ),
        )
        .expect("prometheus.yml");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus");
        let prometheus = Prometheus {
            child,
            dir,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while get(&format!("{}/-/ready", prometheus.url)).is_none_or(|(status, _)| status != 200) {
            assert!(Instant::now() < deadline, "prometheus never became ready");
            std::thread::sleep(Duration::from_millis(200));
        }
        prometheus
    }

    /// An instant query's result vector.
    fn query(&self, query: &str) -> Vec<Value> {
        let url = format!(
            "{}/api/v1/query?{}",
            self.url,
            form_urlencoded::Serializer::new(String::new())
                .append_pair("query", query)
                .finish()
        );
        let (status, body) = get(&url).expect("prometheus answers");
        assert_eq!(status, 200, "{body}");
        let answer: Value = serde_json::from_str(&body).expect("json");
        answer["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn get(url: &str) -> Option<(u16, String)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let response = reqwest::get(url).await.ok()?;
        let status = response.status().as_u16();
        Some((status, response.text().await.ok()?))
    })
}

fn promtool(args: &[&str], stdin: Option<&str>) -> (bool, String) {
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool");
    if let Some(mut pipe) = child.stdin.take() {
        pipe.write_all(stdin.unwrap_or_default().as_bytes())
            .expect("promtool stdin");
    }
    let out = child.wait_with_output().expect("promtool");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn iso_ago(seconds: i64) -> String {
    wsdash::model::iso_millis(time::OffsetDateTime::now_utc() - time::Duration::seconds(seconds))
}

/// The value of the exposition's sample `name{…state="…"…}` for the demo environment.
fn sample(exposition: &str, name: &str, label: &str) -> Option<f64> {
    exposition
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(label))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
}

/// The `wsdash_…` words of a text.
fn metric_names(text: &str) -> Vec<&str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("wsdash_"))
        .collect()
}

/// The metric names docs/exporter.md's table lists.
fn documented_metrics() -> BTreeSet<String> {
    let page =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/exporter.md"))
            .expect("docs/exporter.md");
    page.lines()
        .filter(|l| l.starts_with("| `wsdash_"))
        .filter_map(|l| l.split(" | ").next())
        .flat_map(|cell| {
            metric_names(cell)
                .into_iter()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The exporter's metrics once `check` holds, or a failure with the last ones after `within`.
fn wait_for_metrics(
    url: &str,
    what: &str,
    within: Duration,
    check: &dyn Fn(&str) -> bool,
) -> String {
    let deadline = Instant::now() + within;
    loop {
        let (status, body) = get(url).unwrap_or_default();
        if status == 200 && check(&body) {
            return body;
        }
        assert!(Instant::now() < deadline, "{what}: {body}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn assets() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/prometheus")
}

#[test]
fn prometheus_scrapes_the_exporter_and_its_series_match_a_probe() {
    crate::needs!(Tool::RedisServer, Tool::Prometheus);
    let redis = Redis::start();
    // Clients that stay: the table holds still while the two readings are compared.
    let demo = crate::common::steady_demo(6, &redis.url);
    let deadline = Instant::now() + Duration::from_secs(30);
    while redis.cli(&["--scan", "--pattern", "ws:*"]).lines().count() < 6 {
        assert!(
            Instant::now() < deadline,
            "the demo's clients never reached Redis"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Records whose connections the gateway never held: Gone, stale.
    for i in 0..3 {
        redis.cli(&[
            "HSET",
            &format!("ws:GHOST{i:09}="),
            "user_id",
            &format!("ghost-{i}"),
            "connected_at",
            &iso_ago(600),
        ]);
    }
    let dir = std::env::temp_dir().join(format!("wsdash-exporter-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let management = demo.value("management endpoint:");
    let config = env_config(
        &dir,
        "demo",
        &format!("store = \"{}\"\nendpoint = \"{management}\"", redis.url),
    );
    let config = config.to_string_lossy().to_string();
    let listen = format!("127.0.0.1:{}", free_port());
    let mut env: Vec<(&str, &str)> = AWS.to_vec();
    env.push(("XDG_CONFIG_HOME", "/nonexistent/wsdash-test-config"));
    let _exporter = Running::start_with_env(
        &[
            "--config",
            &config,
            "exporter",
            "--listen",
            &listen,
            "--every-secs",
            "1",
        ],
        "watching:",
        &env,
    );

    // The exposition itself: a whole sweep, then promtool's linter.
    let metrics_url = format!("http://{listen}/metrics");
    let exposition = wait_for_metrics(
        &metrics_url,
        "a complete sweep",
        Duration::from_secs(30),
        &|body| {
            sample(body, "wsdash_probe_coverage_ratio", "env=\"demo\"") == Some(1.0)
                && sample(body, "wsdash_records", "state=\"stale\"") == Some(3.0)
        },
    );
    let (linted, lint) = promtool(&["check", "metrics"], Some(&exposition));
    assert!(linted, "promtool check metrics: {lint}\n{exposition}");
    // Asked for OpenMetrics (as Prometheus asks), it gets OpenMetrics.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (kind, openmetrics) = runtime.block_on(async {
        let response = reqwest::Client::new()
            .get(&metrics_url)
            .header(
                "Accept",
                "application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
            )
            .send()
            .await
            .expect("exporter");
        let kind = response.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .to_string();
        (kind, response.text().await.expect("body"))
    });
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    assert!(openmetrics.trim_end().ends_with("# EOF"), "{openmetrics}");
    assert!(
        openmetrics.contains("# TYPE wsdash_probes counter"),
        "{openmetrics}"
    );

    // Prometheus scrapes it; what it holds is what a probe of the same table says.
    let prometheus = Prometheus::start(&listen);
    let deadline = Instant::now() + Duration::from_secs(30);
    let held: BTreeMap<String, f64> = loop {
        let series = prometheus.query("wsdash_records{env=\"demo\"}");
        let by_state: BTreeMap<String, f64> = series
            .iter()
            .filter_map(|s| {
                Some((
                    s["metric"]["state"].as_str()?.to_string(),
                    s["value"][1].as_str()?.parse().ok()?,
                ))
            })
            .collect();
        if by_state.get("stale") == Some(&3.0) && by_state.get("live") == Some(&6.0) {
            break by_state;
        }
        assert!(
            Instant::now() < deadline,
            "prometheus never held the sweep: {series:?}"
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    let out = Command::new(BIN)
        .args(["--config", &config, "probe", "--output", "json"])
        .envs(env.iter().copied())
        .env("WSDASH_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("wsdash probe");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let probed: Value = serde_json::from_slice(&out.stdout).expect("probe json");
    let mut probed_counts: BTreeMap<String, f64> = BTreeMap::new();
    for record in probed.as_array().expect("records") {
        *probed_counts
            .entry(record["state"].as_str().unwrap_or_default().to_string())
            .or_default() += 1.0;
    }
    let nonzero: BTreeMap<String, f64> = held.into_iter().filter(|(_, n)| *n > 0.0).collect();
    assert_eq!(nonzero, probed_counts, "Prometheus against wsdash probe");

    // The labels say where, never who.
    let allowed: BTreeSet<&str> = [
        "__name__", "env", "api_id", "stage", "region", "state", "result", "bound", "status",
        "kind", "version", "instance", "job",
    ]
    .into_iter()
    .collect();
    let everything = prometheus.query("{__name__=~\"wsdash_.*\"}");
    assert!(everything.len() > 20, "{everything:?}");
    for series in &everything {
        for label in series["metric"].as_object().expect("labels").keys() {
            assert!(
                allowed.contains(label.as_str()),
                "label {label} in {series}"
            );
        }
    }
    let stage = prometheus.query("wsdash_store_up{env=\"demo\",stage=\"production\"}");
    assert_eq!(stage.len(), 1, "{stage:?}");
    assert_eq!(stage[0]["value"][1], "1");
    let probes = prometheus.query("sum by (result) (wsdash_probes_total{env=\"demo\"})");
    let results: BTreeSet<&str> = probes
        .iter()
        .filter_map(|s| s["metric"]["result"].as_str())
        .collect();
    assert_eq!(results, BTreeSet::from(["gone", "live"]), "{probes:?}");

    // docs/exporter.md names every family the exporter serves, and the shipped dashboard and
    // alerts use only those.
    let names = documented_metrics();
    for served in exposition
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
    {
        assert!(
            names.contains(served),
            "{served} is not in docs/exporter.md"
        );
    }
    let alerts = std::fs::read_to_string(assets().join("alerts.yml")).expect("alerts");
    for used in metric_names(&alerts) {
        assert!(
            names.contains(used),
            "alerts.yml uses {used}, which is not exported"
        );
    }
    let grafana: Value = serde_json::from_str(
        &std::fs::read_to_string(assets().join("grafana-dashboard.json")).expect("dashboard"),
    )
    .expect("dashboard json");
    let mut exprs = Vec::new();
    for panel in grafana["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            exprs.push(target["expr"].as_str().expect("expr").to_string());
        }
    }
    assert!(exprs.len() >= 6, "{exprs:?}");
    for expr in &exprs {
        let used = metric_names(expr);
        assert!(!used.is_empty(), "{expr}");
        for name in used {
            assert!(names.contains(name), "{name} (in {expr}) is not exported");
        }
        // Each expression is one Prometheus accepts and evaluates.
        let _ = prometheus.query(
            &expr
                .replace("$env", "demo")
                .replace("$__rate_interval", "1m"),
        );
    }
    std::fs::remove_dir_all(dir).ok();
}

/// The alert rules load, and their unit tests (fed series, expected alerts) pass.
#[test]
fn the_alert_rules_pass_promtool() {
    crate::needs!(Tool::Prometheus);
    let rules = assets().join("alerts.yml");
    let (checked, out) = promtool(&["check", "rules", &rules.to_string_lossy()], None);
    assert!(checked, "promtool check rules: {out}");
    let tests = assets().join("alerts_test.yml");
    let (passed, out) = promtool(&["test", "rules", &tests.to_string_lossy()], None);
    assert!(passed, "promtool test rules: {out}");
}

/// Two environments in one exporter, each its own demo and its own Redis: both are exported
/// under their own `env`, and when one store goes down only that environment says so.
#[test]
fn one_exporter_watches_two_environments_and_a_fault_shows_on_its_own_series() {
    crate::needs!(Tool::RedisServer);
    let redis_us = Redis::start();
    let mut redis_eu = Some(Redis::start());
    let url_eu = redis_eu.as_ref().map(|r| r.url.clone()).unwrap_or_default();
    let demo = |url: &str| crate::common::steady_demo(2, url);
    let us = demo(&redis_us.url);
    let eu = demo(&url_eu);
    let dir = std::env::temp_dir().join(format!("wsdash-exporter-two-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[env.prod-us]\nstore = \"{}\"\nendpoint = \"{}\"\n[env.prod-eu]\nstore = \"{}\"\nendpoint = \"{}\"\n",
            redis_us.url,
            us.value("management endpoint:"),
            url_eu,
            eu.value("management endpoint:"),
        ),
    )
    .expect("config");
    let config = config.to_string_lossy().to_string();
    let listen = format!("127.0.0.1:{}", free_port());
    let mut env: Vec<(&str, &str)> = AWS.to_vec();
    env.push(("XDG_CONFIG_HOME", "/nonexistent/wsdash-test-config"));
    let exporter = Running::start_with_env(
        &[
            "--config",
            &config,
            "exporter",
            "prod-us",
            "prod-eu",
            "--listen",
            &listen,
            "--every-secs",
            "1",
        ],
        "watching:",
        &env,
    );
    assert_eq!(exporter.value("watching:"), "prod-us, prod-eu");
    let metrics_url = format!("http://{listen}/metrics");
    let wait_for = |what: &str, check: &dyn Fn(&str) -> bool| {
        wait_for_metrics(&metrics_url, what, Duration::from_secs(40), check)
    };
    let live = |env: &str| format!("env=\"{env}\"");
    wait_for("both environments' live clients", &|body| {
        ["prod-us", "prod-eu"].iter().all(|env| {
            body.lines().any(|l| {
                l.starts_with("wsdash_records{")
                    && l.contains(&live(env))
                    && l.contains("state=\"live\"")
                    && l.ends_with(" 2")
            })
        })
    });
    // prod-eu's store goes away.
    redis_eu.take();
    let body = wait_for("prod-eu's store down", &|body| {
        sample(body, "wsdash_store_up", "env=\"prod-eu\"") == Some(0.0)
    });
    assert_eq!(
        sample(&body, "wsdash_store_up", "env=\"prod-us\""),
        Some(1.0)
    );
    assert!(
        body.lines()
            .any(|l| l.starts_with("wsdash_scan_errors_total{")
                && l.contains("env=\"prod-eu\"")
                && l.contains("kind=\"network\"")),
        "{body}"
    );
    assert!(
        !body
            .lines()
            .any(|l| l.starts_with("wsdash_scan_errors_total{") && l.contains("env=\"prod-us\"")),
        "{body}"
    );
    // The last good read of prod-eu stays exported beside the failure.
    assert!(
        body.lines().any(|l| l.starts_with("wsdash_records{")
            && l.contains("env=\"prod-eu\"")
            && l.contains("state=\"live\"")
            && l.ends_with(" 2")),
        "{body}"
    );
    std::fs::remove_dir_all(dir).ok();
}
