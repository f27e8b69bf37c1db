//! A real Redis server (Debian's `redis-server`) for one test: on a free 127.0.0.1 port, no
//! persistence, in a temporary directory; stopped and removed on drop.

use super::free_port;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Redis {
    child: Child,
    dir: std::path::PathBuf,
    pub port: u16,
    /// `redis://127.0.0.1:PORT/0` (`rediss://` for a TLS server).
    pub url: String,
    /// redis-cli's TLS flags, for a TLS server.
    cli_tls: Vec<String>,
}

impl Redis {
    pub fn start() -> Redis {
        Self::start_with(&[])
    }

    /// With extra server options (e.g. `["--notify-keyspace-events", "K$gx"]`).
    pub fn start_with(options: &[&str]) -> Redis {
        Self::start_inner(options, false).0
    }

    /// A server that speaks TLS only, with a certificate for 127.0.0.1; returns the CA that
    /// signed it.
    pub fn start_tls() -> (Redis, std::path::PathBuf) {
        let (server, ca) = Self::start_inner(&[], true);
        (server, ca.expect("the CA"))
    }

    fn start_inner(options: &[&str], tls: bool) -> (Redis, Option<std::path::PathBuf>) {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("wsdash-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("redis temp dir");
        let (ports, cli_tls, ca) = if tls {
            let (ca, cert, key) = super::test_certificates(&dir);
            let server = vec![
                "--port".to_string(),
                "0".to_string(),
                "--tls-port".to_string(),
                port.to_string(),
                "--tls-cert-file".to_string(),
                cert.display().to_string(),
                "--tls-key-file".to_string(),
                key.display().to_string(),
                "--tls-ca-cert-file".to_string(),
                ca.display().to_string(),
                "--tls-auth-clients".to_string(),
                "no".to_string(),
            ];
            let cli = vec![
                "--tls".to_string(),
                "--cacert".to_string(),
                ca.display().to_string(),
            ];
            (server, cli, Some(ca))
        } else {
            (
                vec!["--port".to_string(), port.to_string()],
                Vec::new(),
                None,
            )
        };
        let child = Command::new("redis-server")
            .args(&ports)
            .args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&dir)
            .args(options)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server: ./test installs Debian's redis-server package");
        let server = Redis {
            child,
            dir,
            port,
            url: format!(
                "{}://127.0.0.1:{port}/0",
                if tls { "rediss" } else { "redis" }
            ),
            cli_tls,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while server.try_cli(&["PING"]).as_deref() != Some("PONG") {
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer PING in 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        (server, ca)
    }

    fn try_cli(&self, args: &[&str]) -> Option<String> {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(&self.cli_tls)
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// Run one command with redis-cli; its output.
    pub fn cli(&self, args: &[&str]) -> String {
        self.try_cli(args)
            .unwrap_or_else(|| panic!("redis-cli {args:?} failed"))
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
