//! The dashboard in a real terminal: a tmux session driven with send-keys and read with
//! capture-pane. Killed on drop.

use std::process::Command;
use std::time::{Duration, Instant};

/// Whether tmux can be run here (benchmarks skip what needs it; tests insist on it).
pub fn available() -> bool {
    Command::new("tmux")
        .arg("-V")
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

pub struct Tmux {
    session: String,
}

impl Tmux {
    pub fn start(command: &str) -> Tmux {
        Self::start_sized(command, 140, 45)
    }

    pub fn start_sized(command: &str, width: u16, height: u16) -> Tmux {
        assert!(
            available(),
            "tmux is needed for this test: apt-get install tmux (bash .ci/run does it)"
        );
        static SESSIONS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = SESSIONS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        // Fixed width, so that no session's name is the start of another's: tmux takes a target
        // that names no session as a prefix, and a test's cleanup must never kill another's.
        let session = format!("wsdash-e2e-{}-{n:04}", std::process::id());
        let status = Command::new("tmux")
            .args([
                "new-session",
                "-d",
                "-s",
                &session,
                "-x",
                &width.to_string(),
                "-y",
                &height.to_string(),
                command,
            ])
            .status()
            .expect("tmux new-session");
        assert!(status.success());
        Tmux { session }
    }

    pub fn keys(&self, keys: &[&str]) {
        for key in keys {
            let status = Command::new("tmux")
                .args(["send-keys", "-t", &self.session, key])
                .status()
                .expect("send-keys");
            assert!(status.success());
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    pub fn screen(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .expect("capture-pane");
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// The screen with its colours and attributes, as escape sequences.
    pub fn screen_with_escapes(&self) -> String {
        let out = Command::new("tmux")
            .args(["capture-pane", "-e", "-p", "-t", &self.session])
            .output()
            .expect("capture-pane");
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// Set a tmux option for the session's server (e.g. `set-clipboard on`).
    pub fn set_option(&self, name: &str, value: &str) {
        let status = Command::new("tmux")
            .args(["set-option", "-g", name, value])
            .status()
            .expect("set-option");
        assert!(status.success());
    }

    /// tmux's newest paste buffer (what OSC 52 put there), or "" when there is none.
    pub fn paste_buffer(&self) -> String {
        Command::new("tmux")
            .args(["show-buffer"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
            .unwrap_or_default()
    }

    /// Type `text` literally (no key names).
    pub fn type_text(&self, text: &str) {
        let status = Command::new("tmux")
            .args(["send-keys", "-l", "-t", &self.session, text])
            .status()
            .expect("send-keys");
        assert!(status.success());
    }

    /// Wait until the screen satisfies `check`; fail with the screen when it never does.
    pub fn wait_for(&self, what: &str, check: impl Fn(&str) -> bool) -> String {
        self.wait_for_within(what, Duration::from_secs(30), check)
    }

    pub fn wait_for_within(
        &self,
        what: &str,
        timeout: Duration,
        check: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let screen = self.screen();
            if check(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; the screen was:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn alive(&self) -> bool {
        Command::new("tmux")
            .args(["has-session", "-t", &format!("={}", self.session)])
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    pub fn display(&self, format: &str) -> String {
        let out = Command::new("tmux")
            .args(["display-message", "-p", "-t", &self.session, format])
            .output()
            .expect("tmux display-message");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &format!("={}", self.session)])
            .status();
    }
}
