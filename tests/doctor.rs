//! `wsdash doctor` against moto_server's apigatewayv2, STS and DynamoDB, and against the emulator.

mod common;

use common::{quiet_demo, Moto, BIN};
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

/// A WebSocket API in moto: the three routes, HTTP_PROXY integrations, the mapping on all but
/// `unmapped`, no target on `untargeted`, and a stage.
async fn create_api(moto: &Moto, unmapped: Option<&str>, untargeted: Option<&str>) -> String {
    let sdk = sdk().await;
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
    let sdk = sdk().await;
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
    assert_eq!(status(&checks, "manage connections"), "PASS");
    assert!(
        checks["stage deployment"]["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("deployments unavailable"),
        "moto has no GetDeployments: {out}"
    );

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

    // The emulator in a Forbidden fault mode: the permission check fails with the policy.
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
    let fix = checks["manage connections"]["fix"]
        .as_str()
        .unwrap_or_default();
    assert!(
        fix.contains("execute-api:ManageConnections")
            && fix.contains(&format!(
                ":123456789012:{good}/production/POST/@connections/*"
            )),
        "{fix}"
    );

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
        "manage connections",
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
