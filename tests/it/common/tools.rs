//! What the integration tests drive that a developer's machine may lack. `./test` installs all
//! of it; plain `cargo test` runs what the machine can and says, for each test it leaves out,
//! what it needs. Under CI (`CI` set, as `bash .ci/run` runs) nothing is left out: a missing
//! tool fails its tests there, with the constructors' own messages.

use std::process::{Command, Stdio};
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    /// `moto_server` (Python `moto[server]`).
    Moto,
    /// Python with boto3 and websockets.
    PythonClients,
    Tmux,
    /// PostgreSQL's server programs (Debian's `postgresql`).
    Postgres,
    RedisServer,
    /// `target/django-venv`: Django, django-aws-api-gateway-websockets, psycopg, cryptography.
    DjangoVenv,
    /// The AWS CLI in `target/awscli-venv`.
    AwsCli,
    /// Debian's Chromium, node and playwright-core.
    Chromium,
    /// Prometheus and promtool (Debian's `prometheus`).
    Prometheus,
}

impl Tool {
    fn name(self) -> &'static str {
        match self {
            Tool::Moto => "moto_server (pip install 'moto[server]')",
            Tool::PythonClients => "boto3 and websockets (pip install boto3 websockets)",
            Tool::Tmux => "tmux",
            Tool::Postgres => "PostgreSQL (apt-get install postgresql)",
            Tool::RedisServer => "redis-server",
            Tool::DjangoVenv => "the Django environment target/django-venv",
            Tool::AwsCli => "the AWS CLI in target/awscli-venv",
            Tool::Chromium => "Chromium, node and playwright-core",
            Tool::Prometheus => "Prometheus and promtool (apt-get install prometheus)",
        }
    }

    fn present(self) -> bool {
        static FOUND: [OnceLock<bool>; 9] = [const { OnceLock::new() }; 9];
        *FOUND[self as usize].get_or_init(|| self.look())
    }

    fn look(self) -> bool {
        let runs = |program: &str, args: &[&str]| {
            Command::new(program)
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let python = std::env::var("WSDASH_PYTHON").unwrap_or_else(|_| "python3".into());
        match self {
            Tool::Moto => runs(&python, &["-c", "import moto, flask"]),
            Tool::PythonClients => runs(&python, &["-c", "import boto3, websockets"]),
            Tool::Tmux => runs("tmux", &["-V"]),
            Tool::Postgres => {
                std::fs::read_dir("/usr/lib/postgresql")
                    .into_iter()
                    .flatten()
                    .flatten()
                    .any(|e| e.path().join("bin/initdb").exists())
                    || runs("initdb", &["--version"])
            }
            Tool::RedisServer => runs("redis-server", &["--version"]),
            Tool::Prometheus => {
                runs("prometheus", &["--version"]) && runs("promtool", &["--version"])
            }
            Tool::DjangoVenv => root.join("target/django-venv/bin/python").exists(),
            Tool::AwsCli => root.join("target/awscli-venv/bin/aws").exists(),
            Tool::Chromium => {
                std::path::Path::new("/usr/bin/chromium").exists()
                    && runs("node", &["--version"])
                    && root
                        .join("tests/browser/node_modules/playwright-core")
                        .exists()
            }
        }
    }
}

/// Whether a test may run: under CI always; elsewhere when every tool it needs is here, else
/// it says what it needs and the test returns without running.
pub fn ready(test: &str, tools: &[Tool]) -> bool {
    let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
    if ci {
        return true;
    }
    let missing: Vec<&str> = tools
        .iter()
        .filter(|t| !t.present())
        .map(|t| t.name())
        .collect();
    if missing.is_empty() {
        return true;
    }
    eprintln!(
        "SKIPPED {test}: needs {} (./test installs everything)",
        missing.join(", ")
    );
    false
}

/// `needs!(Tool::Tmux, Tool::Moto)` at the top of a test: returns from it, saying why, when
/// the machine lacks one of them (never under CI).
#[macro_export]
macro_rules! needs {
    (returning $value:expr; $($tool:expr),+ $(,)?) => {
        if !$crate::common::tools::ready(concat!(module_path!(), ":", line!()), &[$($tool),+]) {
            return $value;
        }
    };
    ($($tool:expr),+ $(,)?) => {
        if !$crate::common::tools::ready(concat!(module_path!(), ":", line!()), &[$($tool),+]) {
            return;
        }
    };
}
