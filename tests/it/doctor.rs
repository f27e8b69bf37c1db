//! `wsdash doctor` against moto_server's apigatewayv2, STS and DynamoDB, and against the emulator.

use crate::common;
use crate::common::tools::Tool;

use crate::common::{quiet_demo, Moto, BIN};
use serde_json::Value;
use std::collections::HashMap;
use std::process::{Command, Stdio};

async fn sdk() -> aws_config::SdkConfig {
    wsdash::aws_env::load_sdk_config(&wsdash::aws_env::AwsSettings {
        dummy_credentials: true,
        ..Default::default()
    })
    .await
}

/// The SDK configuration of the tests' own setup calls (creating APIs, tables and stages in
/// moto): moto loads a service's backend on its first call, which took more than the SDK's
/// 10 s on a loaded CI machine. What wsdash itself is given keeps the defaults.
async fn setup_sdk() -> aws_config::SdkConfig {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .operation_attempt_timeout(std::time::Duration::from_secs(60))
        .operation_timeout(std::time::Duration::from_secs(60))
        .build();
    sdk().await.into_builder().timeout_config(timeouts).build()
}

/// A WebSocket API in moto: the three routes, HTTP_PROXY integrations, the mapping on all but
/// `unmapped`, no target on `untargeted`, and a stage.
async fn create_api(moto: &Moto, unmapped: Option<&str>, untargeted: Option<&str>) -> String {
    let sdk = setup_sdk().await;
    let client = aws_sdk_apigatewayv2::Client::from_conf(
        aws_sdk_apigatewayv2::config::Builder::from(&sdk)
            .endpoint_url(&moto.url)
            .build(),
    );
    let api = client
        .create_api()
        .name("push")
        .protocol_type(aws_sdk_apigatewayv2::types::ProtocolType::Websocket)
        .route_selection_expression("$request.body.action")
        .send()
        .await
        .expect("create api");
    let api_id = api.api_id().expect("api id").to_string();
    for (key, path) in [
        ("$connect", "connect"),
        ("$disconnect", "disconnect"),
        ("$default", "message"),
    ] {
        let mut integration = client
            .create_integration()
            .api_id(&api_id)
            .integration_type(aws_sdk_apigatewayv2::types::IntegrationType::HttpProxy)
            .integration_method("POST")
            .integration_uri(format!("https://api.example.com/ws/{path}"));
        if unmapped != Some(key) {
            integration = integration.request_parameters(
                "integration.request.header.connectionId",
                "context.connectionId",
            );
        }
        let integration = integration.send().await.expect("create integration");
        let mut route = client.create_route().api_id(&api_id).route_key(key);
        if untargeted != Some(key) {
            route = route.target(format!(
                "integrations/{}",
                integration.integration_id().expect("id")
            ));
        }
        route.send().await.expect("create route");
    }
    client
        .create_stage()
        .api_id(&api_id)
        .stage_name("production")
        .send()
        .await
        .expect("create stage");
    api_id
}

async fn dynamo_client(moto: &Moto) -> aws_sdk_dynamodb::Client {
    let sdk = setup_sdk().await;
    aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .endpoint_url(&moto.url)
            .build(),
    )
}

async fn create_table(moto: &Moto, name: &str, key: &str) {
    use aws_sdk_dynamodb::types::*;
    let client = dynamo_client(moto).await;
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(key)
                .key_type(KeyType::Hash)
                .build()
                .expect("key"),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(key)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attr"),
        )
        .send()
        .await
        .expect("create table");
}

/// Run doctor with every AWS service pointed at moto; returns (exit code, checks by name).
fn doctor(moto: &Moto, args: &[&str]) -> (i32, HashMap<String, Value>, String) {
    let out = Command::new(BIN)
        .arg("doctor")
        .args(args)
        .args(["--output", "json"])
        .env("AWS_ENDPOINT_URL_APIGATEWAYV2", &moto.url)
        .env("AWS_ENDPOINT_URL_STS", &moto.url)
        .env("AWS_ENDPOINT_URL_DYNAMODB", &moto.url)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("XDG_CONFIG_HOME", "/nonexistent/wsdash-test-config")
        .env("WSDASH_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .expect("run doctor");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let parsed: Value = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "doctor printed no JSON ({e}): {stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let checks = parsed["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or_default().to_string(),
                c.clone(),
            )
        })
        .collect();
    (out.status.code().unwrap_or(-1), checks, stdout)
}

fn status(checks: &HashMap<String, Value>, name: &str) -> String {
    checks
        .get(name)
        .and_then(|c| c["status"].as_str())
        .unwrap_or("missing")
        .to_string()
}

fn fails(checks: &HashMap<String, Value>) -> Vec<String> {
    let mut names: Vec<String> = checks
        .iter()
        .filter(|(_, c)| c["status"] == "FAIL")
        .map(|(n, _)| n.clone())
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread")]
async fn a_correct_configuration_passes_and_each_mistake_fails_with_its_fix() {
    crate::needs!(Tool::Moto);
    let moto = Moto::start();
    let demo = quiet_demo(&[]);
    let endpoint = demo.value("management endpoint:");
    create_table(&moto, "conns", "user_id").await;
    create_table(&moto, "wrong_key", "pk").await;

    let good = create_api(&moto, None, None).await;
    let (code, checks, out) = doctor(
        &moto,
        &[
            "--api-id",
            &good,
            "--endpoint",
            &endpoint,
            "--table",
            "conns",
        ],
    );
    assert_eq!(fails(&checks), Vec::<String>::new(), "{out}");
    assert_eq!(code, 0);
    assert_eq!(
        status(&checks, "credentials"),
        "PASS",
        "STS answered: {out}"
    );
    assert_eq!(status(&checks, "integration $connect"), "PASS");
    assert_eq!(status(&checks, "table"), "PASS");
    for verb in ["POST", "GET", "DELETE"] {
        assert_eq!(status(&checks, &format!("{verb} @connections")), "PASS");
    }
    assert!(
        checks["stage deployment"]["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("deployments unavailable"),
        "moto has no GetDeployments: {out}"
    );

    // Neither access logs nor TTL: both warned about, each with the command that turns it on.
    assert_eq!(status(&checks, "access logging"), "WARN", "{out}");
    let fix = checks["access logging"]["fix"].as_str().unwrap_or_default();
    assert!(
        fix.contains(&format!(
            "update-stage --api-id {good} --stage-name production"
        )) && fix.contains("DestinationArn")
            && fix.contains("$context.connectionId"),
        "{fix}"
    );
    assert_eq!(status(&checks, "table TTL"), "WARN", "{out}");
    let fix = checks["table TTL"]["fix"].as_str().unwrap_or_default();
    assert!(
        fix.contains("update-time-to-live --table-name conns"),
        "{fix}"
    );
    let v2 = aws_sdk_apigatewayv2::Client::from_conf(
        aws_sdk_apigatewayv2::config::Builder::from(&setup_sdk().await)
            .endpoint_url(&moto.url)
            .build(),
    );
    // moto has no UpdateStage: the stage is made again, with access logging.
    v2.delete_stage()
        .api_id(&good)
        .stage_name("production")
        .send()
        .await
        .expect("delete the stage");
    v2.create_stage()
        .api_id(&good)
        .stage_name("production")
        .access_log_settings(
            aws_sdk_apigatewayv2::types::AccessLogSettings::builder()
                .destination_arn("arn:aws:logs:us-east-1:123456789012:log-group:/ws/access")
                .format(wsdash::access_logs::ACCESS_LOG_FORMAT)
                .build(),
        )
        .send()
        .await
        .expect("a stage with access logging");
    dynamo_client(&moto)
        .await
        .update_time_to_live()
        .table_name("conns")
        .time_to_live_specification(
            aws_sdk_dynamodb::types::TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name("expires_at")
                .build()
                .expect("ttl"),
        )
        .send()
        .await
        .expect("turn on TTL");
    let (_, checks, out) = doctor(
        &moto,
        &[
            "--api-id",
            &good,
            "--endpoint",
            &endpoint,
            "--table",
            "conns",
        ],
    );
    assert_eq!(status(&checks, "access logging"), "PASS", "{out}");
    assert_eq!(status(&checks, "table TTL"), "PASS", "{out}");

    let unmapped = create_api(&moto, Some("$disconnect"), None).await;
    let (code, checks, out) = doctor(
        &moto,
        &[
            "--api-id",
            &unmapped,
            "--endpoint",
            &endpoint,
            "--table",
            "conns",
        ],
    );
    assert_eq!(
        (code, fails(&checks)),
        (1, vec!["integration $disconnect".to_string()]),
        "{out}"
    );
    let fix = checks["integration $disconnect"]["fix"]
        .as_str()
        .unwrap_or_default();
    assert!(
        fix.contains(&format!("update-integration --api-id {unmapped}"))
            && fix.contains("context.connectionId"),
        "{fix}"
    );

    let untargeted = create_api(&moto, None, Some("$default")).await;
    let (_, checks, out) = doctor(
        &moto,
        &[
            "--api-id",
            &untargeted,
            "--endpoint",
            &endpoint,
            "--table",
            "conns",
        ],
    );
    assert_eq!(fails(&checks), ["route $default"], "{out}");

    let (_, checks, out) = doctor(
        &moto,
        &[
            "--api-id",
            &good,
            "--endpoint",
            &endpoint,
            "--table",
            "missing",
        ],
    );
    assert_eq!(fails(&checks), ["table"], "{out}");
    assert!(
        checks["table"]["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("does not exist"),
        "{out}"
    );

    let (_, checks, out) = doctor(
        &moto,
        &[
            "--api-id",
            &good,
            "--endpoint",
            &endpoint,
            "--table",
            "wrong_key",
        ],
    );
    assert_eq!(fails(&checks), ["table"], "{out}");
    assert!(
        checks["table"]["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("keyed on pk"),
        "{out}"
    );

    // The emulator in a Forbidden fault mode (ForbiddenException, as for a wrong stage, not
    // IAM's AccessDeniedException): one check fails, with the stage as its fix.
    let admin = demo
        .value("emulator admin API:")
        .replace("/ (not part of AWS)", "");
    reqwest::Client::new()
        .put(format!("{admin}/faults"))
        .body(r#"{"forbidden": 1.0}"#)
        .send()
        .await
        .expect("faults");
    let (code, checks, out) = doctor(
        &moto,
        &[
            "--api-id",
            &good,
            "--endpoint",
            &endpoint,
            "--table",
            "conns",
        ],
    );
    assert_eq!(
        (code, fails(&checks)),
        (1, vec!["manage connections".to_string()]),
        "{out}"
    );
    assert_eq!(checks["manage connections"]["cause"], "forbidden", "{out}");
    let fix = checks["manage connections"]["fix"]
        .as_str()
        .unwrap_or_default();
    assert!(fix.contains("existing stage"), "{fix}");

    // A zone-less time parses (as UTC); the one bad item is the one the warning names.
    put_item(
        &moto,
        "conns",
        "py-user",
        "PY000000000001=",
        "2026-11-25T01:25:15.123456",
    )
    .await;
    put_item(&moto, "conns", "bad-one", "BAD00000000001=", "last tuesday").await;
    let (_, checks, out) = doctor(
        &moto,
        &[
            "--api-id",
            &good,
            "--endpoint",
            &endpoint,
            "--table",
            "conns",
        ],
    );
    let detail = checks["table"]["detail"].as_str().unwrap_or_default();
    assert_eq!(status(&checks, "table"), "WARN", "{out}");
    assert!(
        detail.contains("1 of 2 sampled item(s) do not parse")
            && detail.contains("user_id \"bad-one\"")
            && detail.contains("last tuesday"),
        "{detail}"
    );
}

async fn put_item(moto: &Moto, table: &str, user: &str, connection: &str, connected_at: &str) {
    use aws_sdk_dynamodb::types::AttributeValue;
    let client = dynamo_client(moto).await;
    client
        .put_item()
        .table_name(table)
        .item("user_id", AttributeValue::S(user.into()))
        .item("connection_id", AttributeValue::S(connection.into()))
        .item("connected_at", AttributeValue::S(connected_at.into()))
        .send()
        .await
        .expect("put item");
}

#[tokio::test(flavor = "multi_thread")]
async fn e2e_passes_against_the_demo_and_names_the_step_that_fails() {
    crate::needs!(Tool::Moto);
    let moto = Moto::start();
    let demo = quiet_demo(&[]);
    let endpoint = demo.value("management endpoint:");
    let backend = demo.value("backend:");
    // Against the emulator itself: doctor reads its configuration from the emulator.
    let out = Command::new(BIN)
        .args([
            "doctor",
            "--endpoint",
            &endpoint,
            "--e2e",
            "--token",
            "dev:doctor",
            "--backend",
            &backend,
            "--admin-token",
            "test-admin",
            "--output",
            "json",
        ])
        .env("XDG_CONFIG_HOME", "/nonexistent/wsdash-test-config")
        .env_remove("AWS_ENDPOINT_URL_APIGATEWAYV2")
        .output()
        .expect("doctor");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let parsed: Value = serde_json::from_str(&stdout).expect("json");
    let passed: Vec<&str> = parsed["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter(|c| c["status"] == "PASS")
        .filter_map(|c| c["name"].as_str())
        .collect();
    for step in [
        "api",
        "integration $connect",
        "POST @connections",
        "GET @connections",
        "DELETE @connections",
        "e2e connect",
        "e2e record",
        "e2e push",
        "e2e disconnect",
    ] {
        assert!(passed.contains(&step), "{step} did not pass: {stdout}");
    }

    // The backend records connections somewhere else than the table doctor watches.
    create_table(&moto, "empty", "user_id").await;
    let api = create_api(&moto, None, None).await;
    let (code, checks, out) = doctor(
        &moto,
        &[
            "--api-id",
            &api,
            "--endpoint",
            &endpoint,
            "--table",
            "empty",
            "--e2e",
            "--token",
            "dev:doctor",
        ],
    );
    assert_eq!(code, 1, "{out}");
    assert_eq!(status(&checks, "e2e connect"), "PASS");
    assert_eq!(status(&checks, "e2e record"), "FAIL", "{out}");
    assert!(
        checks["e2e record"]["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("did not record"),
        "{out}"
    );
}

/// `aws apigatewayv2 …` against the emulator, as the guide's commands are written.
fn aws(gateway: &str, args: &[&str]) -> Value {
    let out = Command::new(common::aws_cli())
        .args([
            "--endpoint-url",
            gateway,
            "--output",
            "json",
            "apigatewayv2",
        ])
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .output()
        .expect("run the AWS CLI");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "aws {args:?}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or(Value::Null)
}

/// `wsdash doctor` on the emulator: exit code and checks by name.
fn doctor_on(endpoint: &str) -> (i32, HashMap<String, Value>, String) {
    let out = Command::new(BIN)
        .args(["doctor", "--endpoint", endpoint, "--output", "json"])
        .env("XDG_CONFIG_HOME", "/nonexistent/wsdash-test-config")
        .env_remove("AWS_ENDPOINT_URL_APIGATEWAYV2")
        .output()
        .expect("doctor");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let parsed: Value = serde_json::from_str(&stdout).expect("doctor's json");
    let checks = parsed["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .filter_map(|c| Some((c["name"].as_str()?.to_string(), c.clone())))
        .collect();
    (out.status.code().unwrap_or(-1), checks, stdout)
}

/// The guide's most common failure, reproduced, diagnosed and fixed locally with the AWS CLI:
/// the connectionId mapping removed from $connect changes nothing until the stage is deployed;
/// then the backend answers "connectionId header missing" and the client is refused, doctor
/// fails with the fix, the fix (pasted as doctor printed it) and a deployment bring it back.
#[tokio::test(flavor = "multi_thread")]
async fn the_missing_connection_id_mapping_with_the_aws_cli() {
    crate::needs!(Tool::AwsCli);
    let demo = quiet_demo(&[]);
    let urls = demo.demo_urls();
    let gateway = urls
        .management
        .rsplit_once('/')
        .map(|(base, _)| base.to_string())
        .expect("stage URL");
    let apis = aws(&gateway, &["get-apis"]);
    assert_eq!(apis["Items"][0]["ApiId"], "wsdash", "{apis}");
    assert_eq!(apis["Items"][0]["ProtocolType"], "WEBSOCKET");
    let routes = aws(&gateway, &["get-routes", "--api-id", "wsdash"]);
    let connect_target = routes["Items"]
        .as_array()
        .expect("routes")
        .iter()
        .find(|r| r["RouteKey"] == "$connect")
        .and_then(|r| r["Target"].as_str())
        .expect("a $connect route with a target")
        .to_string();
    let integration_id = connect_target.trim_start_matches("integrations/");

    let updated = aws(
        &gateway,
        &[
            "update-integration",
            "--api-id",
            "wsdash",
            "--integration-id",
            integration_id,
            "--request-parameters",
            r#"{"integration.request.header.connectionId": ""}"#,
        ],
    );
    assert!(updated.get("RequestParameters").is_none(), "{updated}");
    // Not deployed yet: the stage still serves the mapping.
    let _still_served = urls.connect(&["before-deploy"]).await;

    aws(
        &gateway,
        &[
            "create-deployment",
            "--api-id",
            "wsdash",
            "--stage-name",
            "production",
        ],
    );
    let Err(refused) =
        tokio_tungstenite::connect_async(format!("{}?token=dev:after", urls.websocket)).await
    else {
        panic!("the handshake must be refused once the change is deployed");
    };
    let tokio_tungstenite::tungstenite::Error::Http(response) = refused else {
        panic!("not an HTTP refusal: {refused:?}");
    };
    let body = String::from_utf8_lossy(response.body().as_deref().unwrap_or_default()).to_string();
    assert_eq!(response.status().as_u16(), 400, "{body}");
    assert!(body.contains("connectionId header missing"), "{body}");

    let (code, checks, out) = doctor_on(&urls.management);
    assert_eq!(code, 1, "{out}");
    let failed = &checks["integration $connect"];
    assert_eq!(failed["status"], "FAIL", "{out}");
    let fix = failed["fix"].as_str().expect("a fix").to_string();
    assert!(
        fix.contains("update-integration") && fix.contains("create-deployment"),
        "{fix}"
    );

    // The fix exactly as printed, with the same CLI.
    let cli_dir = common::aws_cli()
        .parent()
        .map(|d| d.display().to_string())
        .unwrap_or_default();
    let applied = Command::new("sh")
        .args(["-c", &fix])
        .env(
            "PATH",
            format!("{cli_dir}:{}", std::env::var("PATH").unwrap_or_default()),
        )
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .stdout(Stdio::null())
        .status()
        .expect("run the fix");
    assert!(applied.success(), "the printed fix failed: {fix}");

    let _welcome_again = urls.connect(&["after-fix"]).await;
    let (code, checks, out) = doctor_on(&urls.management);
    assert_eq!(code, 0, "{out}");
    assert!(
        checks.values().all(|c| c["status"] != "FAIL"),
        "everything passes after the fix: {out}"
    );
    assert_eq!(checks["integration $connect"]["status"], "PASS", "{out}");
}

/// The stage's CloudWatch metrics come through GetMetricData, which the Rust SDK sends as
/// rpc-v2-cbor. moto_server (5.2.1 and 5.2.5 alike) does not serve that protocol for CloudWatch,
/// so this checks what can be checked against it: the refusal reaches the caller as one clear
/// message instead of a panic or an empty chart. (The answer's decoding is a unit test in
/// `gateway_metrics`.)
#[tokio::test(flavor = "multi_thread")]
async fn metrics_say_clearly_when_the_endpoint_does_not_serve_them() {
    crate::needs!(Tool::Moto);
    let moto = Moto::start();
    let metrics = wsdash::gateway_metrics::CloudWatchMetrics::new(
        &sdk().await,
        Some(&moto.url),
        "abc123",
        "production",
    );
    let error = metrics
        .over(
            time::OffsetDateTime::now_utc(),
            wsdash::gateway_metrics::TimeWindow::Day,
        )
        .await
        .expect_err("moto has no CBOR CloudWatch");
    assert!(error.starts_with("GetMetricData failed"), "{error}");
}
