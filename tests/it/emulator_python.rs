//! Wire compatibility with tools we did not write: boto3's apigatewaymanagementapi client and
//! Python `websockets` clients against the emulator and the reference backend.

use crate::common;
use crate::common::tools::Tool;

use crate::common::{python_with, quiet_demo};
use std::process::Command;

fn run_python_suite(demo: &common::Running) {
    let python = python_with(&["boto3", "websockets"]);
    let management = demo.value("management endpoint:");
    let websocket = demo.value("websocket:").replace("?token=dev:<user>", "");
    let backend = demo.value("backend:");
    let admin = demo
        .value("emulator admin API:")
        .replace("/ (not part of AWS)", "");
    let status = Command::new(python)
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/python/test_emulator_wire.py"
        ))
        .env("WSDASH_MGMT", management)
        .env("WSDASH_WS", websocket)
        .env("WSDASH_BACKEND", backend)
        .env("WSDASH_ADMIN_TOKEN", "test-admin")
        .env("WSDASH_EMULATOR_ADMIN", admin)
        .status()
        .expect("run python");
    assert!(
        status.success(),
        "the Python wire suite failed (see its output above)"
    );
}

#[test]
fn boto3_and_python_websockets_work_against_the_emulator() {
    crate::needs!(Tool::PythonClients);
    // 100 new connections a second (not the account's 500): the rate check's burst of 700
    // handshakes must outrun the refill even when the machine is busy with other tests.
    let demo = quiet_demo(&["--connect-rate", "100"]);
    run_python_suite(&demo);
}
