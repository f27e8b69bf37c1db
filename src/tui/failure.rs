//! Why a background read or operation failed, as the answer reaches `update`: the typed cause
//! where the part that failed has one, so a throttled store, a denied log group and a deadline
//! are told apart by variant, never by text. `Display` gives the operator's words.

use crate::access_logs::LogsError;
use crate::store::StoreError;
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Logs(#[from] LogsError),
    /// The call was given up after the dashboard's deadline.
    #[error("{what} timed out after {}s", after.as_secs())]
    TimedOut { what: &'static str, after: Duration },
    /// The demo emulator's counters could not be read.
    #[error("cannot read the emulator's counters: {0}")]
    EmulatorStats(String),
    /// The stage's CloudWatch metrics could not be read.
    #[error("{0}")]
    Metrics(String),
    /// `:doctor` could not run its checks.
    #[error("{0}")]
    Doctor(String),
    /// `:env NAME` could not open the environment.
    #[error("{0}")]
    Environment(String),
    /// A failure as a recording kept it: its words (replayed sessions only).
    #[error("{0}")]
    Recorded(String),
}

impl From<crate::ops::orphans::OrphanError> for Failure {
    fn from(e: crate::ops::orphans::OrphanError) -> Self {
        match e {
            crate::ops::orphans::OrphanError::Store(e) => Failure::Store(e),
            crate::ops::orphans::OrphanError::Logs(e) => Failure::Logs(e),
        }
    }
}

impl Failure {
    /// Whether the part that failed asked us to slow down.
    pub fn is_throttling(&self) -> bool {
        matches!(self, Failure::Store(StoreError::Throttled(_)))
    }
}
