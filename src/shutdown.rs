//! The signals that end a process: SIGINT, SIGTERM and SIGHUP (the terminal closed).
//!
//! Servers stop on the first. The dashboard restores the terminal. A command that mutates stops
//! *between* operations: the call in flight finishes and its result reaches the audit log, so a
//! signal never leaves an intent without its result (only SIGKILL or a second signal can, and
//! restore treats such an intent as "maybe deleted").

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Which signal arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Interrupt,
    Terminate,
    Hangup,
}

impl std::fmt::Display for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Signal::Interrupt => "SIGINT",
            Signal::Terminate => "SIGTERM",
            Signal::Hangup => "SIGHUP",
        })
    }
}

/// Listeners for the three signals. Once created, they replace the default "die at once".
pub struct Signals {
    #[cfg(unix)]
    streams: [(Signal, tokio::signal::unix::Signal); 3],
}

impl Signals {
    pub fn install() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Self {
                streams: [
                    (Signal::Interrupt, signal(SignalKind::interrupt())?),
                    (Signal::Terminate, signal(SignalKind::terminate())?),
                    (Signal::Hangup, signal(SignalKind::hangup())?),
                ],
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// The next signal.
    pub async fn recv(&mut self) -> Signal {
        #[cfg(unix)]
        {
            let [(a, sa), (b, sb), (c, sc)] = &mut self.streams;
            tokio::select! {
                _ = sa.recv() => *a,
                _ = sb.recv() => *b,
                _ = sc.recv() => *c,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            Signal::Interrupt
        }
    }
}

/// For servers: wait for the first signal (or forever if none can be listened for).
pub async fn wait_for_shutdown_signal() {
    match Signals::install() {
        Ok(mut signals) => {
            signals.recv().await;
        }
        Err(e) => {
            tracing::warn!("cannot listen for signals ({e}); stop with Ctrl-C");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Tells a batch of mutations to stop before its next operation.
#[derive(Clone, Default)]
pub struct StopRequest {
    token: CancellationToken,
    signal_seen: Arc<AtomicBool>,
}

impl StopRequest {
    /// A request nothing will ever make (the dashboard and the servers' own callers).
    pub fn never() -> Self {
        Self::default()
    }

    /// Stop when a signal arrives: the first lets the operation in flight finish, a second ends
    /// the process at once (exit 130), as an impatient operator expects.
    pub fn on_signals() -> Self {
        let request = Self::default();
        let Ok(mut signals) = Signals::install() else {
            return request;
        };
        let token = request.token.clone();
        let seen = request.signal_seen.clone();
        tokio::spawn(async move {
            let first = signals.recv().await;
            seen.store(true, Ordering::SeqCst);
            eprintln!(
                "wsdash: {first}: finishing the operation in flight and writing its result, then stopping (send it again to stop at once)"
            );
            token.cancel();
            let second = signals.recv().await;
            eprintln!("wsdash: {second} again: stopping now; an operation in flight may be half done (restore treats it as maybe deleted)");
            std::process::exit(130);
        });
        request
    }

    pub fn stop(&self) {
        self.token.cancel();
    }

    pub fn is_requested(&self) -> bool {
        self.token.is_cancelled()
    }

    /// True when a signal (not the program itself) asked to stop.
    pub fn by_signal(&self) -> bool {
        self.signal_seen.load(Ordering::SeqCst)
    }
}
