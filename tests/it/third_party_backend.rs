//! A backend framework we did not write behind the emulator: django-aws-api-gateway-websockets,
//! unedited from PyPI, creates its own API through the emulator's apigatewayv2 calls and serves
//! its users' sockets (tests/django/run_flow.py has the whole flow and says why each step holds).

use crate::common::tools::Tool;
use crate::common::{django_python, free_port, Running};
use std::process::Command;

#[test]
fn the_django_package_sets_up_its_api_and_serves_its_users_behind_the_emulator() {
    crate::needs!(Tool::DjangoVenv);
    let dir = std::env::temp_dir().join(format!("wsdash-django-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    // Strict keys: every signature the package's boto3 makes is verified, not just its form.
    let (key, secret) = ("AKIADJANGOTEST000001", "django-test-secret");
    let credentials = dir.join("credentials.json");
    std::fs::write(
        &credentials,
        serde_json::json!([{"access_key_id": key, "secret_access_key": secret, "user": "django"}])
            .to_string(),
    )
    .expect("credentials file");
    let listen = format!("127.0.0.1:{}", free_port());
    let credentials = credentials.to_string_lossy().to_string();
    // No --backend: the package creates the API itself.
    let gateway = Running::start(
        &[
            "gateway",
            "--listen",
            &listen,
            "--credentials",
            &credentials,
        ],
        "backend:",
    );
    let websocket = gateway.value("websocket:");
    let output = Command::new(django_python())
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/django/run_flow.py"
        ))
        .env("WSDASH_GATEWAY", format!("http://{listen}"))
        .env("WSDASH_WS", &websocket)
        .env("AWS_ACCESS_KEY_ID", key)
        .env("AWS_SECRET_ACCESS_KEY", secret)
        .output()
        .expect("run the Django flow");
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the Django flow failed after:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Each step printed its "ok:"; a flow cut short must not pass.
    assert_eq!(stdout.matches("ok: ").count(), 11, "{stdout}");
}
