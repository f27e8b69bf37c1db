//! A real PostgreSQL server (Debian's package) for one test: initdb'd in a temporary directory,
//! listening on a free 127.0.0.1 port, stopped and removed on drop. PostgreSQL refuses to run
//! as root, so under root the server runs as the `postgres` user the package creates (or
//! `nobody`), through `setpriv`.

use super::free_port;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Postgres {
    child: Child,
    dir: PathBuf,
    pub port: u16,
    /// `postgres://postgres@127.0.0.1:PORT/postgres` (trust authentication: tests only).
    pub url: String,
}

/// Where Debian puts the server's programs (`/usr/lib/postgresql/15/bin`), else the PATH.
fn bin(name: &str) -> PathBuf {
    let debian = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("bin").join(name))
        .filter(|path| path.exists())
        .max();
    debian.unwrap_or_else(|| PathBuf::from(name))
}

/// The unprivileged user to run as when the tests run as root (`None`: run as ourselves).
fn server_user() -> Option<(String, String)> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return None;
    }
    for user in ["postgres", "nobody"] {
        let ids = |flag: &str| {
            Command::new("id")
                .args([flag, user])
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        };
        if let (Some(uid), Some(gid)) = (ids("-u"), ids("-g")) {
            return Some((uid, gid));
        }
    }
    panic!("running as root and no postgres or nobody user to run PostgreSQL as");
}

fn command(program: &Path, user: &Option<(String, String)>) -> Command {
    match user {
        Some((uid, gid)) => {
            let mut command = Command::new("setpriv");
            command
                .arg(format!("--reuid={uid}"))
                .arg(format!("--regid={gid}"))
                .arg("--clear-groups")
                .arg("--")
                .arg(program);
            command
        }
        None => Command::new(program),
    }
}

impl Postgres {
    pub fn start() -> Postgres {
        Self::start_with(false).0
    }

    /// A server that speaks TLS with a certificate for 127.0.0.1 and refuses plain
    /// connections; returns the CA that signed it, for `sslrootcert`.
    pub fn start_tls() -> (Postgres, PathBuf) {
        let (server, ca) = Self::start_with(true);
        (server, ca.expect("the CA"))
    }

    fn start_with(tls: bool) -> (Postgres, Option<PathBuf>) {
        let initdb = bin("initdb");
        assert!(
            initdb.exists() || Command::new(&initdb).arg("--version").output().is_ok(),
            "no PostgreSQL server programs (initdb): ./test installs Debian's postgresql package"
        );
        let dir =
            std::env::temp_dir().join(format!("wsdash-pg-{}-{}", std::process::id(), free_port()));
        let data = dir.join("data");
        std::fs::create_dir_all(&dir).expect("postgres temp dir");
        let user = server_user();
        if let Some((uid, gid)) = &user {
            let status = Command::new("chown")
                .arg(format!("{uid}:{gid}"))
                .arg(&dir)
                .status()
                .expect("chown");
            assert!(status.success(), "chown {} failed", dir.display());
        }
        let out = command(&initdb, &user)
            .args(["-D"])
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .env("LC_ALL", "C")
            .output()
            .expect("run initdb");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut ca = None;
        let mut tls_options = Vec::new();
        if tls {
            let certs = dir.join("certs");
            std::fs::create_dir_all(&certs).expect("certs dir");
            let (ca_file, cert, key) = super::test_certificates(&certs);
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod");
            if let Some((uid, gid)) = &user {
                let status = Command::new("chown")
                    .args(["-R", &format!("{uid}:{gid}")])
                    .arg(&certs)
                    .status()
                    .expect("chown");
                assert!(status.success());
            }
            // Plain connections refused: only TLS from 127.0.0.1.
            std::fs::write(
                data.join("pg_hba.conf"),
                "hostssl all all 127.0.0.1/32 trust\nlocal all all trust\n",
            )
            .expect("pg_hba.conf");
            tls_options = vec![
                "-c".to_string(),
                "ssl=on".to_string(),
                "-c".to_string(),
                format!("ssl_cert_file={}", cert.display()),
                "-c".to_string(),
                format!("ssl_key_file={}", key.display()),
            ];
            ca = Some(ca_file);
        }
        let port = free_port();
        let child = command(&bin("postgres"), &user)
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
            .args(&tls_options)
            .arg("-c")
            .arg(format!("unix_socket_directories={}", dir.display()))
            .args(["-c", "fsync=off", "-c", "max_connections=200"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(
                std::fs::File::create(dir.join("server.log")).map_or(Stdio::null(), Stdio::from),
            )
            .spawn()
            .expect("start postgres");
        let mut server = Postgres {
            child,
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            dir,
            port,
        };
        server.wait_until_ready();
        (server, ca)
    }

    fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = Command::new(bin("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q"])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "postgres exited ({status}): {}",
                    std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "postgres did not accept connections in 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Run SQL with psql; its output (tuples only, unaligned).
    pub fn sql(&self, sql: &str) -> String {
        let out = Command::new(bin("psql"))
            .args([&self.url, "-v", "ON_ERROR_STOP=1", "-qAtX", "-c", sql])
            .output()
            .expect("psql");
        assert!(
            out.status.success(),
            "psql failed on {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // SIGINT: a fast shutdown that ends the backends and removes shared memory.
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
