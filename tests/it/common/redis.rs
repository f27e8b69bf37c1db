//! A real Redis server (Debian's `redis-server`) for one test: on a free 127.0.0.1 port, no
//! persistence, in a temporary directory; stopped and removed on drop.

use super::free_port;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Redis {
    child: Child,
    dir: std::path::PathBuf,
    pub port: u16,
    /// `redis://127.0.0.1:PORT/0`.
    pub url: String,
}

impl Redis {
    pub fn start() -> Redis {
        Self::start_with(&[])
    }

    /// With extra server options (e.g. `["--notify-keyspace-events", "K$gx"]`).
    pub fn start_with(options: &[&str]) -> Redis {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("wsdash-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("redis temp dir");
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
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
            url: format!("redis://127.0.0.1:{port}/0"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while server.try_cli(&["PING"]).as_deref() != Some("PONG") {
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer PING in 20 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    fn try_cli(&self, args: &[&str]) -> Option<String> {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
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
