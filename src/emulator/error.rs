//! Why the emulator, the reference backend or the demo could not start.

use std::net::SocketAddr;

#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    /// A flag's value that would make a server crash, spin or lie; the message names the flag.
    #[error("{0}")]
    BadOption(String),
    #[error("refusing to listen on {0} without --admin-token: the emulator's admin API (/_wsdash/kill, /_wsdash/faults) would answer anyone who reaches the port; pass --admin-token TOKEN (or WSDASH_GATEWAY_ADMIN_TOKEN), or listen on 127.0.0.1")]
    AdminTokenRequired(SocketAddr),
    #[error("listening on {0}, the admin token must be at least 8 characters")]
    AdminTokenTooShort(SocketAddr),
    #[error("cannot listen on {addr} ({flag}): {source}")]
    Bind {
        addr: String,
        flag: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Audit(#[from] crate::ops::audit::AuditError),
}

/// `Err(BadOption(message))` unless `ok`.
pub fn ensure(ok: bool, message: impl FnOnce() -> String) -> Result<(), EmulatorError> {
    if ok {
        Ok(())
    } else {
        Err(EmulatorError::BadOption(message()))
    }
}
