//! The guide's browser client, served by the emulator, in headless Chromium driven by
//! playwright-core (tests/browser/e2e.mjs). It fails if a push does not reach the page.

use crate::common::quiet_demo;
use crate::common::tools::Tool;
use std::path::Path;
use std::process::Command;

#[test]
fn the_browser_client_receives_every_message_type_reconnects_and_stops_on_bad_tokens() {
    crate::needs!(Tool::Chromium);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    assert!(
        dir.join("node_modules/playwright-core").exists(),
        "playwright-core is missing: run `npm install` in tests/browser (bash .ci/run does it)"
    );
    let chromium = std::env::var("WSDASH_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: apt-get install chromium (bash .ci/run does it)"
    );
    let demo = quiet_demo(&[]);
    let management = demo.value("management endpoint:");
    let gateway = management.trim_end_matches("/production").to_string();
    let results = Path::new(env!("CARGO_MANIFEST_DIR")).join("results/browser");
    let status = Command::new("node")
        .arg(dir.join("e2e.mjs"))
        .current_dir(&dir)
        .env("WSDASH_GATEWAY_HTTP", gateway)
        .env("WSDASH_BACKEND", demo.value("backend:"))
        .env("WSDASH_ADMIN_TOKEN", "test-admin")
        .env("WSDASH_RESULTS", &results)
        .env("WSDASH_CHROMIUM", chromium)
        .status()
        .expect("run node");
    assert!(
        status.success(),
        "the browser e2e failed (see its output above)"
    );
    assert!(
        results.join("client.png").exists(),
        "the screenshot was saved"
    );
}
