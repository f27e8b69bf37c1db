//! Test harness: start the real `wsdash` binary on free loopback ports, read the URLs it prints,
//! and kill it when the test ends (even when it fails).

pub mod dynamo;
/// Process measurements for the benches (RSS, percentiles); no test uses them.
#[allow(dead_code)]
pub mod measure;
pub mod postgres;
pub mod proxy;
pub mod redis;
pub mod tmux;
pub mod tools;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_wsdash");

/// A running `wsdash` process; killed on drop.
pub struct Running {
    child: Child,
    pub lines: Vec<String>,
}

impl Running {
    /// Start `wsdash args...` and wait until it printed a line starting with `ready_prefix`.
    pub fn start(args: &[&str], ready_prefix: &str) -> Running {
        Self::start_with_env(args, ready_prefix, &[])
    }

    pub fn start_with_env(args: &[&str], ready_prefix: &str, env: &[(&str, &str)]) -> Running {
        Self::start_with_stderr(args, ready_prefix, env, Stdio::inherit())
    }

    /// [`Running::start_with_env`] with stderr (the log) sent where the test says.
    pub fn start_with_stderr(
        args: &[&str],
        ready_prefix: &str,
        env: &[(&str, &str)],
        stderr: Stdio,
    ) -> Running {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .env("WSDASH_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("start wsdash");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut lines = Vec::new();
        loop {
            match rx.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => {
                    let ready = line.starts_with(ready_prefix);
                    lines.push(line);
                    if ready {
                        break;
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!("wsdash {args:?} never printed {ready_prefix:?}; it printed {lines:?}");
                }
            }
        }
        Running { child, lines }
    }

    /// The value printed after `prefix` (e.g. `management endpoint:`).
    pub fn value(&self, prefix: &str) -> String {
        self.lines
            .iter()
            .find_map(|l| l.strip_prefix(prefix))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("no line starting with {prefix:?} in {:?}", self.lines))
    }

    /// For the benches' RSS readings.
    #[allow(dead_code)]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A demo's URLs: the WebSocket endpoint (without a token), the management endpoint and
    /// the emulator's admin API.
    pub fn demo_urls(&self) -> DemoUrls {
        DemoUrls {
            websocket: self.value("websocket:").replace("?token=dev:<user>", ""),
            management: self.value("management endpoint:"),
            admin: self
                .value("emulator admin API:")
                .replace("/ (not part of AWS)", ""),
        }
    }
}

pub struct DemoUrls {
    pub websocket: String,
    pub management: String,
    pub admin: String,
}

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

impl DemoUrls {
    /// One open WebSocket per user, signed in with a dev token. A handshake answered 429 (more
    /// than 500 new connections a second) is tried again after a pause, as a client would.
    pub async fn connect(&self, users: &[&str]) -> Vec<Socket> {
        use tokio_tungstenite::tungstenite::Error;
        let mut sockets = Vec::new();
        for user in users {
            let url = format!("{}?token=dev:{user}", self.websocket);
            let mut attempts = 0;
            let socket = loop {
                match tokio_tungstenite::connect_async(&url).await {
                    Ok((socket, _)) => break socket,
                    Err(Error::Http(response)) if response.status() == 429 && attempts < 50 => {
                        attempts += 1;
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    Err(e) => panic!("connect as {user}: {e}"),
                }
            };
            sockets.push(socket);
        }
        sockets
    }

    /// Change the emulator's faults (`PUT /_wsdash/faults`), e.g. `{"throttle": 0.2}`.
    pub async fn set_faults(&self, patch: &str) {
        let status = reqwest::Client::new()
            .put(format!("{}/faults", self.admin))
            .body(patch.to_string())
            .send()
            .await
            .expect("faults")
            .status();
        assert!(status.is_success(), "faults {patch}: {status}");
    }

    /// The connection ids the emulator holds open.
    pub async fn live_ids(&self) -> Vec<String> {
        let list: Vec<serde_json::Value> = reqwest::get(format!("{}/connections", self.admin))
            .await
            .expect("admin")
            .json()
            .await
            .expect("json");
        list.iter()
            .filter_map(|c| c["connection_id"].as_str().map(str::to_string))
            .collect()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A config file in `dir` whose default environment `name` holds `keys` (TOML lines).
pub fn env_config(dir: &std::path::Path, name: &str, keys: &str) -> std::path::PathBuf {
    let path = dir.join("config.toml");
    std::fs::write(
        &path,
        format!("default_env = \"{name}\"\n[env.{name}]\n{keys}\n"),
    )
    .expect("config file");
    path
}

/// The delete intents and results of an audit log (which must have no torn lines).
pub fn audit_deletes(
    path: &std::path::Path,
) -> (
    Vec<wsdash::ops::audit::AuditEntry>,
    Vec<wsdash::ops::audit::AuditEntry>,
) {
    let (entries, bad) = wsdash::ops::audit::read_audit_log(path).expect("audit log");
    assert!(
        bad.is_empty(),
        "torn audit lines in {}: {bad:?}",
        path.display()
    );
    entries
        .into_iter()
        .filter(|e| e.op == "delete")
        .partition(|e| e.phase == "intent")
}

/// A free loopback port (released before use; good enough on a test machine).
/// A port nothing listens on now and that this test process has not handed out before: the
/// kernel may give a just-released port again, and two servers of one test (or of two tests
/// running in parallel) must never be told to listen on the same one.
pub fn free_port() -> u16 {
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut handed_out = HANDED_OUT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        if !handed_out.contains(&port) {
            handed_out.push(port);
            return port;
        }
    }
}

/// The demo with no swarm and no notification stream: a quiet gateway + backend for wire tests.
pub fn quiet_demo(extra: &[&str]) -> Running {
    let mut args = vec![
        "demo",
        "--headless",
        "--clients",
        "0",
        "--push-every-ms",
        "0",
        "--drop-disconnect",
        "0",
        "--admin-token",
        "test-admin",
    ];
    args.extend_from_slice(extra);
    Running::start(&args, "try:")
}

/// A headless demo whose `clients` stay (no churn, no flappers, no forgotten client, no pushes,
/// no lost `$disconnect`), its records in the store at `store_url`: a table that holds still
/// while a test reads it from two sides.
pub fn steady_demo(clients: usize, store_url: &str) -> Running {
    let clients = clients.to_string();
    Running::start(
        &[
            "demo",
            "--headless",
            "--clients",
            &clients,
            "--lifetime-secs",
            "0",
            "--flappers",
            "0",
            "--forgotten",
            "0",
            "--push-every-ms",
            "0",
            "--drop-disconnect",
            "0",
            "--store-url",
            store_url,
        ],
        "try:",
    )
}

/// Python 3 with the modules a test needs, or a clear failure saying how to install them.
pub fn python_with(modules: &[&str]) -> String {
    let python = std::env::var("WSDASH_PYTHON").unwrap_or_else(|_| "python3".into());
    let check = format!("import {}", modules.join(", "));
    let ok = Command::new(&python)
        .args(["-c", &check])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "{python} cannot `{check}`: run `pip install 'moto[server]' boto3 websockets` (bash .ci/run does this)"
    );
    python
}

/// Run a Python `script` (with `modules` importable) on `args`; its stdout, trimmed. A failing
/// script fails the test with its stderr.
pub fn run_python(modules: &[&str], script: &str, args: &[&str]) -> String {
    let out = Command::new(python_with(modules))
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "the {modules:?} script failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The AWS CLI: `WSDASH_AWS_CLI`, or the one `./test` installs in `target/awscli-venv`.
pub fn aws_cli() -> std::path::PathBuf {
    let path = std::env::var_os("WSDASH_AWS_CLI")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/awscli-venv/bin/aws")
        });
    assert!(
        path.exists(),
        "no AWS CLI at {}: ./test installs it (python3 -m venv target/awscli-venv && target/awscli-venv/bin/pip install awscli)",
        path.display()
    );
    path
}

/// The Python of `target/django-venv`, where `./test` installs django-aws-api-gateway-websockets
/// (apart from boto3, moto and the AWS CLI, so their versions never fight).
pub fn django_python() -> std::path::PathBuf {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/django-venv/bin/python");
    assert!(
        path.exists(),
        "no Django test environment at {}: ./test makes it (python3 -m venv target/django-venv && target/django-venv/bin/pip install django-aws-api-gateway-websockets==4.1.0 websockets cryptography 'psycopg[binary]')",
        path.display()
    );
    path
}

/// A CA and a server certificate for 127.0.0.1 signed by it (PEM files in `dir`), made with
/// Python's `cryptography` from the test Django environment; returns (ca, cert, key).
pub fn test_certificates(
    dir: &std::path::Path,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let script = r#"
import datetime, ipaddress, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
out = sys.argv[1]
now = datetime.datetime.now(datetime.timezone.utc)
def name(cn): return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
ca_key = ec.generate_private_key(ec.SECP256R1())
ca = (x509.CertificateBuilder().subject_name(name("wsdash test CA")).issuer_name(name("wsdash test CA"))
      .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
      .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(hours=2))
      .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
      .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
          key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
      .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
      .sign(ca_key, hashes.SHA256()))
key = ec.generate_private_key(ec.SECP256R1())
cert = (x509.CertificateBuilder().subject_name(name("127.0.0.1")).issuer_name(ca.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(hours=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256()))
open(f"{out}/ca.pem", "wb").write(ca.public_bytes(serialization.Encoding.PEM))
open(f"{out}/server.pem", "wb").write(cert.public_bytes(serialization.Encoding.PEM))
open(f"{out}/server.key", "wb").write(key.private_bytes(serialization.Encoding.PEM,
    serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
"#;
    let out = Command::new(django_python())
        .args(["-c", script])
        .arg(dir)
        .output()
        .expect("python");
    assert!(
        out.status.success(),
        "making certificates failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

/// A `moto_server` on a free loopback port (DynamoDB, apigatewayv2, sts); killed on drop.
pub struct Moto {
    child: Child,
    pub url: String,
}

impl Moto {
    pub fn start() -> Moto {
        Self::start_on(free_port())
    }

    /// On a given port: a restarted moto comes back where the clients expect it (empty).
    pub fn start_on(port: u16) -> Moto {
        python_with(&["moto", "flask"]);
        let child = Command::new(
            std::env::var("WSDASH_MOTO_SERVER").unwrap_or_else(|_| "moto_server".into()),
        )
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto_server (pip install 'moto[server]')");
        let mut moto = Moto {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        // moto imports its services at start: seconds, and more than 10 s on a CI machine busy
        // with the other tests. A server that exited is reported at once.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while std::time::Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return moto;
            }
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!("moto_server exited ({status}) before listening on port {port}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("moto_server did not start on port {port} within 60 s");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run `wsdash args...` to completion against moto (AWS_* variables set like a user would).
pub fn wsdash(args: &[&str], moto: &Moto, stdin_data: Option<&str>) -> (i32, String, String) {
    wsdash_with_env(args, moto, stdin_data, &[])
}

/// The `wsdash args...` command against moto (AWS_* variables set like a user would), not started.
pub fn wsdash_command(args: &[&str], moto: &Moto) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env("AWS_ENDPOINT_URL_DYNAMODB", &moto.url)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("XDG_CONFIG_HOME", "/nonexistent/wsdash-test-config")
        .env_remove("WSDASH_CONFIG")
        .env_remove("WSDASH_ENV")
        .env("WSDASH_LOG", "warn")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// [`wsdash`] with extra environment variables, set after (so over) the defaults.
pub fn wsdash_with_env(
    args: &[&str],
    moto: &Moto,
    stdin_data: Option<&str>,
    env: &[(&str, &str)],
) -> (i32, String, String) {
    use std::io::Write;
    let mut command = wsdash_command(args, moto);
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().expect("run wsdash");
    if let Some(mut stdin) = child.stdin.take() {
        if let Some(data) = stdin_data {
            let _ = stdin.write_all(data.as_bytes());
        }
    }
    let out = child.wait_with_output().expect("wsdash output");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}
