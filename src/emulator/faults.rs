//! Fault injection: the ways the real system misbehaves, switchable from flags and at run time.

use rand::Rng;
use serde::{Deserialize, Serialize};
use std::sync::RwLock;
use std::time::Duration;

/// Fractions are probabilities in 0..=1, applied independently to each call or socket.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, clap::Args)]
pub struct Faults {
    /// Fraction of @connections calls answered 403 ForbiddenException.
    #[arg(long = "fault-forbidden", default_value_t = 0.0, value_parser = crate::flags::fraction)]
    #[serde(default)]
    pub forbidden: f64,
    /// Fraction of @connections calls answered 429 LimitExceededException.
    #[arg(long = "fault-throttle", default_value_t = 0.0, value_parser = crate::flags::fraction)]
    #[serde(default)]
    pub throttle: f64,
    /// Fraction of @connections calls answered 500 InternalServerErrorException.
    #[arg(long = "fault-server-error", default_value_t = 0.0, value_parser = crate::flags::fraction)]
    #[serde(default)]
    pub server_error: f64,
    /// Extra latency added to every @connections call, in milliseconds.
    #[arg(long = "fault-latency-ms", default_value_t = 0)]
    #[serde(default)]
    pub latency_ms: u64,
    /// Fraction of $disconnect calls never sent to the backend (how stale records are born).
    #[arg(long = "fault-drop-disconnect", default_value_t = 0.0, value_parser = crate::flags::fraction)]
    #[serde(default)]
    pub drop_disconnect: f64,
    /// Fraction of new sockets killed later without a close frame (within a minute, scaled).
    #[arg(long = "fault-kill-socket", default_value_t = 0.0, value_parser = crate::flags::fraction)]
    #[serde(default)]
    pub kill_socket: f64,
}

/// A partial update of [`Faults`] sent to the admin API: only the given fields change.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultsPatch {
    pub forbidden: Option<f64>,
    pub throttle: Option<f64>,
    pub server_error: Option<f64>,
    pub latency_ms: Option<u64>,
    pub drop_disconnect: Option<f64>,
    pub kill_socket: Option<f64>,
}

/// The fault a @connections call should suffer, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InjectedFailure {
    Forbidden,
    Throttled,
    ServerError,
}

impl Faults {
    pub fn validate(&self) -> Result<(), String> {
        for (name, value) in [
            ("forbidden", self.forbidden),
            ("throttle", self.throttle),
            ("server_error", self.server_error),
            ("drop_disconnect", self.drop_disconnect),
            ("kill_socket", self.kill_socket),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(format!(
                    "fault {name} must be a fraction between 0 and 1, got {value}"
                ));
            }
        }
        if self.forbidden + self.throttle + self.server_error > 1.0 {
            return Err("forbidden + throttle + server_error must not exceed 1".into());
        }
        Ok(())
    }

    pub fn apply(&mut self, patch: FaultsPatch) {
        let FaultsPatch {
            forbidden,
            throttle,
            server_error,
            latency_ms,
            drop_disconnect,
            kill_socket,
        } = patch;
        self.forbidden = forbidden.unwrap_or(self.forbidden);
        self.throttle = throttle.unwrap_or(self.throttle);
        self.server_error = server_error.unwrap_or(self.server_error);
        self.latency_ms = latency_ms.unwrap_or(self.latency_ms);
        self.drop_disconnect = drop_disconnect.unwrap_or(self.drop_disconnect);
        self.kill_socket = kill_socket.unwrap_or(self.kill_socket);
    }
}

/// Faults shared by every request of a running gateway.
#[derive(Default)]
pub struct FaultSwitch {
    current: RwLock<Faults>,
}

impl FaultSwitch {
    pub fn new(faults: Faults) -> Self {
        Self {
            current: RwLock::new(faults),
        }
    }

    pub fn get(&self) -> Faults {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn update(&self, patch: FaultsPatch) -> Result<Faults, String> {
        let mut next = self.get();
        next.apply(patch);
        next.validate()?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = next.clone();
        Ok(next)
    }

    pub fn latency(&self) -> Duration {
        Duration::from_millis(self.get().latency_ms)
    }

    pub fn roll_call_failure(&self) -> Option<InjectedFailure> {
        let f = self.get();
        let r: f64 = rand::rng().random();
        if r < f.forbidden {
            Some(InjectedFailure::Forbidden)
        } else if r < f.forbidden + f.throttle {
            Some(InjectedFailure::Throttled)
        } else if r < f.forbidden + f.throttle + f.server_error {
            Some(InjectedFailure::ServerError)
        } else {
            None
        }
    }

    pub fn roll_drop_disconnect(&self) -> bool {
        rand::rng().random::<f64>() < self.get().drop_disconnect
    }

    pub fn roll_kill_socket(&self) -> bool {
        rand::rng().random::<f64>() < self.get().kill_socket
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_change_only_what_they_name_and_are_validated() {
        let switch = FaultSwitch::new(Faults {
            latency_ms: 5,
            ..Faults::default()
        });
        let next = switch
            .update(FaultsPatch {
                throttle: Some(0.5),
                ..FaultsPatch::default()
            })
            .unwrap();
        assert_eq!(next.latency_ms, 5);
        assert_eq!(next.throttle, 0.5);
        assert!(switch
            .update(FaultsPatch {
                forbidden: Some(0.7),
                ..FaultsPatch::default()
            })
            .is_err());
        assert_eq!(switch.get().forbidden, 0.0);
    }

    #[test]
    fn a_certain_fault_always_fires() {
        let switch = FaultSwitch::new(Faults {
            throttle: 1.0,
            ..Faults::default()
        });
        assert_eq!(switch.roll_call_failure(), Some(InjectedFailure::Throttled));
        assert!(!switch.roll_drop_disconnect());
    }
}
