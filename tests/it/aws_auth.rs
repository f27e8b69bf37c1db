//! Real AWS on first contact: the emulator authenticates like API Gateway (SigV4, region, clock,
//! keys, sessions, IAM per verb), and wsdash, run as a process, passes where AWS would pass it and
//! says why where AWS would refuse it. boto3 with the same credentials is the control in each.

use crate::common;
use crate::common::tools::Tool;

use crate::common::{Running, BIN};
use std::path::Path;
use std::process::{Command, Stdio};

/// `wsdash gateway` on a free port with `extra` flags; its stage URL.
fn gateway(extra: &[&str]) -> (Running, String) {
    let listen = format!("127.0.0.1:{}", common::free_port());
    let mut args = vec![
        "gateway",
        "--listen",
        &listen,
        "--backend",
        "http://127.0.0.1:9",
    ];
    args.extend_from_slice(extra);
    let running = Running::start(&args, "backend:");
    let url = running.value("management endpoint: ");
    (running, url)
}

/// `wsdash args...` with only the AWS variables given (no config file, no profile of the host).
fn wsdash(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env("XDG_CONFIG_HOME", "/nonexistent/wsdash-test-config")
        .env("HOME", "/nonexistent/wsdash-test-home")
        .env("WSDASH_LOG", "warn");
    for var in [
        "WSDASH_CONFIG",
        "WSDASH_ENV",
        "WSDASH_REGION",
        "AWS_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
    ] {
        command.env_remove(var);
    }
    command.env("AWS_EC2_METADATA_DISABLED", "true");
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.stdin(Stdio::null()).output().expect("run wsdash");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The doctor's checks as JSON, by name.
fn doctor_checks(endpoint: &str, env: &[(&str, &str)], extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["doctor", "--endpoint", endpoint, "--output", "json"];
    args.extend_from_slice(extra);
    let (_, stdout, stderr) = wsdash(&args, env);
    let parsed: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("doctor JSON: {e}\nstdout {stdout}\nstderr {stderr}"));
    parsed["checks"].clone()
}

fn check<'a>(checks: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    checks
        .as_array()
        .and_then(|all| all.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no check {name:?} in {checks:#}"))
}

/// boto3's answer to `op` ("post", "get", "delete") on a made-up id, as the error code (or "ok").
fn boto3(
    endpoint: &str,
    region: &str,
    key: &str,
    secret: &str,
    token: Option<&str>,
    op: &str,
) -> String {
    let script = r#"
import sys, boto3, botocore
endpoint, region, key, secret, token, op = sys.argv[1:7]
c = boto3.client("apigatewaymanagementapi", endpoint_url=endpoint, region_name=region,
                 aws_access_key_id=key, aws_secret_access_key=secret,
                 aws_session_token=token or None,
                 config=botocore.config.Config(retries={"max_attempts": 1}))
calls = {"post": lambda: c.post_to_connection(ConnectionId="wsdashDoctor000=", Data=b"{}"),
         "get": lambda: c.get_connection(ConnectionId="wsdashDoctor000="),
         "delete": lambda: c.delete_connection(ConnectionId="wsdashDoctor000=")}
try:
    calls[op](); print("ok")
except botocore.exceptions.ClientError as e:
    print(e.response["Error"]["Code"])
"#;
    common::run_python(
        &["boto3"],
        script,
        &[endpoint, region, key, secret, token.unwrap_or(""), op],
    )
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write");
    path.display().to_string()
}

fn iso(offset_secs: i64) -> String {
    let t = time::OffsetDateTime::now_utc() + time::Duration::seconds(offset_secs);
    t.format(&time::format_description::well_known::Rfc3339)
        .expect("format")
}

#[test]
fn a_wrong_signing_region_is_refused_with_its_fix_and_the_right_one_delivers() {
    crate::needs!(Tool::PythonClients);
    let (_gateway, endpoint) = gateway(&["--region", "eu-west-1"]);
    // The control: boto3 signing for another region is refused the way AWS refuses it.
    assert_eq!(
        boto3(&endpoint, "us-east-1", "AKIDX", "s", None, "post"),
        "InvalidSignatureException"
    );
    assert_eq!(
        boto3(&endpoint, "eu-west-1", "AKIDX", "s", None, "post"),
        "GoneException"
    );

    let keys = [
        ("AWS_ACCESS_KEY_ID", "AKIDX"),
        ("AWS_SECRET_ACCESS_KEY", "s"),
    ];
    let wrong = [keys[0], keys[1], ("AWS_REGION", "us-east-1")];
    let checks = doctor_checks(&endpoint, &wrong, &[]);
    let refused = check(&checks, "manage connections");
    assert_eq!(refused["cause"], "bad_signature", "{refused:#}");
    let fix = refused["fix"].as_str().unwrap_or_default();
    assert!(
        fix.contains("signed for region us-east-1") && fix.contains("--region"),
        "{fix}"
    );
    assert!(check(&checks, "signing region")["detail"]
        .as_str()
        .unwrap_or_default()
        .contains("us-east-1"));

    let right = [keys[0], keys[1], ("AWS_REGION", "eu-west-1")];
    let checks = doctor_checks(&endpoint, &right, &[]);
    for verb in ["POST", "GET", "DELETE"] {
        assert_eq!(
            check(&checks, &format!("{verb} @connections"))["status"],
            "PASS",
            "{checks:#}"
        );
    }
}

#[test]
fn the_guides_policy_names_get_and_delete_and_its_fix_turns_every_check_green() {
    crate::needs!(Tool::Moto, Tool::PythonClients);
    let dir = tempdir();
    let (gateway_process, endpoint) = gateway(&["--iam-policy", "guide"]);
    // The control: under the guide's policy boto3 can push but not probe or disconnect.
    assert_eq!(
        boto3(&endpoint, "us-east-1", "AKIDX", "s", None, "post"),
        "GoneException"
    );
    assert_eq!(
        boto3(&endpoint, "us-east-1", "AKIDX", "s", None, "get"),
        "AccessDeniedException"
    );
    assert_eq!(
        boto3(&endpoint, "us-east-1", "AKIDX", "s", None, "delete"),
        "AccessDeniedException"
    );

    let keys = [
        ("AWS_ACCESS_KEY_ID", "AKIDX"),
        ("AWS_SECRET_ACCESS_KEY", "s"),
        ("AWS_REGION", "us-east-1"),
    ];
    let checks = doctor_checks(&endpoint, &keys, &[]);
    assert_eq!(
        check(&checks, "POST @connections")["status"],
        "PASS",
        "{checks:#}"
    );
    for (verb, features) in [("GET", "probes"), ("DELETE", "disconnect")] {
        let denied = check(&checks, &format!("{verb} @connections"));
        assert_eq!(denied["status"], "FAIL");
        assert_eq!(denied["cause"], "iam_denied");
        assert!(
            denied["detail"]
                .as_str()
                .unwrap_or_default()
                .contains(features),
            "{denied:#}"
        );
    }
    // The fix holds a policy with exactly the missing verbs; applied beside the guide's, every
    // verb passes.
    let fix = check(&checks, "GET @connections")["fix"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let json_start = fix.find('{').expect("a policy in the fix");
    let added: serde_json::Value = serde_json::from_str(&fix[json_start..]).expect("policy JSON");
    let resources = added["Statement"][0]["Resource"]
        .as_array()
        .expect("resources")
        .clone();
    assert_eq!(resources.len(), 2, "{added:#}");
    assert!(resources
        .iter()
        .all(|r| !r.as_str().unwrap_or_default().contains("/POST/")));
    drop(gateway_process);
    let guide: serde_json::Value = serde_json::from_str(
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"execute-api:ManageConnections","Resource":"arn:aws:execute-api:*:*:*/*/POST/@connections/*"}]}"#,
    )
    .expect("guide");
    let mut merged = guide.clone();
    merged["Statement"]
        .as_array_mut()
        .expect("statements")
        .push(added["Statement"][0].clone());
    let policy = write(&dir, "policy.json", &merged.to_string());
    let (_fixed, endpoint) = gateway(&["--iam-policy", &policy]);
    let checks = doctor_checks(&endpoint, &keys, &[]);
    for verb in ["POST", "GET", "DELETE"] {
        assert_eq!(
            check(&checks, &format!("{verb} @connections"))["status"],
            "PASS",
            "{checks:#}"
        );
    }
    assert_eq!(
        boto3(&endpoint, "us-east-1", "AKIDX", "s", None, "get"),
        "GoneException"
    );
}

#[test]
fn a_wrong_secret_an_unknown_key_an_expired_session_and_a_skewed_clock_each_say_their_cause() {
    crate::needs!(Tool::PythonClients);
    let dir = tempdir();
    let credentials = write(
        &dir,
        "credentials.json",
        &serde_json::json!([
            {"access_key_id": "AKIAOPS", "secret_access_key": "right-secret", "user": "ops"},
            {"access_key_id": "ASIAOLD", "secret_access_key": "old-secret", "session_token": "old-token", "expires_at": iso(-60)},
        ])
        .to_string(),
    );
    let (_gateway, endpoint) = gateway(&["--credentials", &credentials]);
    // (key, secret, session token, boto3's error code, wsdash's cause, words in its fix)
    type Case<'a> = (&'a str, &'a str, Option<&'a str>, &'a str, &'a str, &'a str);
    let cases: [Case; 4] = [
        (
            "AKIAOPS",
            "wrong-secret",
            None,
            "InvalidSignatureException",
            "bad_signature",
            "secret access key",
        ),
        (
            "AKIANOBODY",
            "x",
            None,
            "UnrecognizedClientException",
            "unknown_key",
            "not known to AWS",
        ),
        (
            "ASIAOLD",
            "old-secret",
            Some("old-token"),
            "ExpiredTokenException",
            "expired_session",
            "aws sso login",
        ),
        ("AKIAOPS", "right-secret", None, "GoneException", "", ""),
    ];
    for (key, secret, token, boto3_code, cause, words) in cases {
        assert_eq!(
            boto3(&endpoint, "us-east-1", key, secret, token, "get"),
            boto3_code,
            "{key}"
        );
        let mut env = vec![
            ("AWS_ACCESS_KEY_ID", key),
            ("AWS_SECRET_ACCESS_KEY", secret),
            ("AWS_REGION", "us-east-1"),
        ];
        if let Some(token) = token {
            env.push(("AWS_SESSION_TOKEN", token));
        }
        let checks = doctor_checks(&endpoint, &env, &[]);
        if cause.is_empty() {
            assert_eq!(
                check(&checks, "GET @connections")["status"],
                "PASS",
                "{checks:#}"
            );
            continue;
        }
        let refused = check(&checks, "manage connections");
        assert_eq!(refused["cause"], cause, "{key}: {refused:#}");
        let fix = refused["fix"].as_str().unwrap_or_default();
        assert!(fix.contains(words), "{key}: {fix}");
    }

    // The gateway's clock 20 minutes ahead: the signature is refused, and its Date says why.
    let (_skewed, endpoint) = gateway(&["--clock-offset-secs", "1200"]);
    let env = [
        ("AWS_ACCESS_KEY_ID", "AKIDX"),
        ("AWS_SECRET_ACCESS_KEY", "s"),
        ("AWS_REGION", "us-east-1"),
    ];
    assert_eq!(
        boto3(&endpoint, "us-east-1", "AKIDX", "s", None, "get"),
        "InvalidSignatureException"
    );
    let checks = doctor_checks(&endpoint, &env, &[]);
    let refused = check(&checks, "manage connections");
    assert_eq!(refused["cause"], "clock_skew", "{refused:#}");
    assert!(
        refused["fix"]
            .as_str()
            .unwrap_or_default()
            .contains("20 min behind"),
        "{refused:#}"
    );
}

#[test]
fn the_consoles_connections_and_websocket_urls_work_and_are_said_once() {
    let (_gateway, endpoint) = gateway(&[]);
    let env = [
        ("AWS_ACCESS_KEY_ID", "AKIDX"),
        ("AWS_SECRET_ACCESS_KEY", "s"),
        ("AWS_REGION", "us-east-1"),
    ];
    let websocket = endpoint.replacen("http://", "ws://", 1);
    for given in [format!("{endpoint}/@connections"), websocket] {
        let (_, stdout, stderr) =
            wsdash(&["doctor", "--endpoint", &given, "--output", "json"], &env);
        assert_eq!(stderr.matches("using its stage URL").count(), 1, "{stderr}");
        let checks: serde_json::Value = serde_json::from_str(&stdout).expect("json");
        for verb in ["POST", "GET", "DELETE"] {
            assert_eq!(
                check(&checks["checks"], &format!("{verb} @connections"))["status"],
                "PASS",
                "{given}: {stdout}"
            );
        }
    }
    let (code, _, stderr) = wsdash(
        &[
            "probe",
            "--endpoint",
            &format!("{endpoint}/@connections/abc%3D"),
            "--table",
            "ws_connections",
        ],
        &env,
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("@connections URL") && stderr.contains("wss://"),
        "{stderr}"
    );
}

#[test]
fn credentials_that_stop_refreshing_name_the_profile_and_its_reason_then_recover() {
    let dir = tempdir();
    let state = dir.join("logged-in");
    std::fs::write(&state, "yes").expect("state");
    // A credential_process that fails like an SSO helper whose refresh token expired, until the
    // operator "logs in again" (the state file says yes).
    let helper = write(
        &dir,
        "creds.sh",
        &format!(
            "#!/bin/sh\nif [ \"$(cat {state})\" = yes ]; then\n  echo '{{\"Version\": 1, \"AccessKeyId\": \"AKIDPROC\", \"SecretAccessKey\": \"s\"}}'\nelse\n  echo 'Token has expired and refresh failed' >&2; exit 1\nfi\n",
            state = state.display()
        ),
    );
    std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let config = write(
        &dir,
        "aws-config",
        &format!("[profile prod]\nregion = us-east-1\ncredential_process = {helper}\n"),
    );
    let (_gateway, endpoint) = gateway(&[]);
    let env = [
        ("AWS_CONFIG_FILE", config.as_str()),
        ("AWS_PROFILE", "prod"),
    ];
    let checks = doctor_checks(&endpoint, &env, &[]);
    assert_eq!(
        check(&checks, "GET @connections")["status"],
        "PASS",
        "{checks:#}"
    );

    std::fs::write(&state, "no").expect("state");
    let checks = doctor_checks(&endpoint, &env, &[]);
    let refused = check(&checks, "manage connections");
    assert_eq!(refused["cause"], "credentials_unavailable", "{refused:#}");
    let detail = refused["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("profile `prod`"), "{detail}");
    assert!(
        detail.contains("Token has expired and refresh failed"),
        "{detail}"
    );
    assert!(!detail.contains("no AWS credentials found"), "{detail}");

    std::fs::write(&state, "yes").expect("state");
    let checks = doctor_checks(&endpoint, &env, &[]);
    assert_eq!(
        check(&checks, "GET @connections")["status"],
        "PASS",
        "{checks:#}"
    );
}

/// A fresh directory under the target dir, removed at the start of the next run.
fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "wsdash-auth-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).expect("tempdir");
    dir
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0);
    h.finish()
}

/// The execute-api verbs each command needs, as docs/aws.md lists them.
fn documented_verbs() -> Vec<(String, Vec<String>)> {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/aws.md"))
        .expect("docs/aws.md");
    let rows: Vec<(String, Vec<String>)> = doc
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let [_, _feature, command, verbs, _] = cells[..] else {
                return None;
            };
            let command = command.strip_prefix("`wsdash ")?.strip_suffix('`')?;
            let verbs = match verbs {
                "none" => vec![],
                list => list.split(',').map(|v| v.trim().to_string()).collect(),
            };
            Some((command.to_string(), verbs))
        })
        .collect();
    assert!(
        rows.len() >= 5,
        "docs/aws.md lists the verbs of push, probe, purge, disconnect and list: {rows:?}"
    );
    rows
}

fn verbs_policy(verbs: &[&str]) -> String {
    let resources: Vec<String> = verbs
        .iter()
        .map(|verb| format!("arn:aws:execute-api:*:*:*/*/{verb}/@connections/*"))
        .collect();
    let statements = if resources.is_empty() {
        serde_json::json!([])
    } else {
        serde_json::json!([{"Effect": "Allow", "Action": "execute-api:ManageConnections", "Resource": resources}])
    };
    serde_json::json!({"Version": "2012-10-17", "Statement": statements}).to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_feature_works_under_exactly_the_verbs_the_docs_give_it_and_not_without_them() {
    crate::needs!(Tool::Moto);
    use crate::common::dynamo::{create_table, dynamo, put, s};
    let moto = common::Moto::start();
    let table_client = dynamo(&moto).await;
    create_table(&table_client, "verbs", "user_id", None).await;
    let dir = tempdir();
    let gateway_addr = format!("127.0.0.1:{}", common::free_port());
    let gateway_url = format!("http://{gateway_addr}/production");
    let backend_addr = format!("127.0.0.1:{}", common::free_port());
    let _backend = Running::start(
        &[
            "backend",
            "--listen",
            &backend_addr,
            "--gateway",
            &gateway_url,
            "--dev-tokens",
            "--admin-token",
            "test-admin-token",
        ],
        "admin token:",
    );
    let env = [
        ("AWS_ACCESS_KEY_ID", "AKIDX"),
        ("AWS_SECRET_ACCESS_KEY", "s"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT_URL_DYNAMODB", moto.url.as_str()),
    ];
    for (command, verbs) in documented_verbs() {
        let granted: Vec<&str> = verbs.iter().map(String::as_str).collect();
        let others: Vec<&str> = ["POST", "GET", "DELETE"]
            .into_iter()
            .filter(|v| !granted.contains(v))
            .collect();
        for (policy_verbs, should_work) in [(granted.clone(), true), (others, false)] {
            if !should_work && granted.is_empty() {
                continue; // a command that needs no verb cannot be denied one
            }
            let policy = write(&dir, "policy.json", &verbs_policy(&policy_verbs));
            let _gateway = Running::start(
                &[
                    "gateway",
                    "--listen",
                    &gateway_addr,
                    "--backend",
                    &format!("http://{backend_addr}"),
                    "--iam-policy",
                    &policy,
                ],
                "backend:",
            );
            let (mut socket, _) = tokio_tungstenite::connect_async(format!(
                "ws://{gateway_addr}/production?token=dev:alice"
            ))
            .await
            .expect("connect");
            let live: Vec<serde_json::Value> =
                reqwest::get(format!("http://{gateway_addr}/_wsdash/connections"))
                    .await
                    .expect("admin")
                    .json()
                    .await
                    .expect("json");
            let id = live[0]["connection_id"].as_str().expect("id").to_string();
            put(
                &table_client,
                "verbs",
                &[
                    ("user_id", s("alice")),
                    ("connection_id", s(&id)),
                    ("connected_at", s(&iso(-30))),
                ],
            )
            .await;
            let audit = dir.join("audit.jsonl").display().to_string();
            let base = [
                "--table",
                "verbs",
                "--endpoint",
                &gateway_url,
                "--audit-log",
                &audit,
                "--output",
                "json",
            ];
            let mut args: Vec<&str> = vec![command.as_str()];
            match command.as_str() {
                "push" => args.extend(["--user", "alice", "--type", "heartbeat"]),
                "purge" => args.push("--dry-run"),
                "disconnect" => args.push("--yes"),
                _ => {}
            }
            args.extend(base);
            if command == "disconnect" {
                // Ids are URL-safe base64 and may start with `-`: after `--` they are never flags.
                args.extend(["--", id.as_str()]);
            }
            let (code, stdout, stderr) = wsdash(&args, &env);
            if should_work {
                assert_eq!(
                    code, 0,
                    "{command} under {policy_verbs:?}: {stdout}\n{stderr}"
                );
            } else {
                assert_ne!(
                    code, 0,
                    "{command} under {policy_verbs:?} only: {stdout}\n{stderr}"
                );
                let said = format!("{stdout}{stderr}");
                assert!(said.contains("denied by IAM"), "{command} says why: {said}");
            }
            let _ = futures_util::SinkExt::close(&mut socket).await;
        }
    }
}
