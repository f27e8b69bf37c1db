//! Tying refused handshakes to the client that keeps trying. A refused `$connect` leaves no
//! record in the table, and API Gateway logs no user for it; what it does log is the source
//! address and the user agent. A user's accepted handshakes carry the same two, so refusals
//! from that pair are, most likely, the same browser retrying with a bad token. "Most likely":
//! clients behind one NAT with one browser build share the pair, so this is shown, never acted on.

use super::{AccessLogEntry, LogLine};
use std::collections::{BTreeMap, HashSet};

/// Who a handshake came from, as far as the gateway can tell.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientKey {
    pub source_ip: String,
    pub user_agent: String,
}

impl ClientKey {
    /// None when the line does not say where it came from (`-` is API Gateway's "none").
    pub fn of(entry: &AccessLogEntry) -> Option<Self> {
        let known = |s: &str| !s.is_empty() && s != "-";
        known(&entry.source_ip).then(|| ClientKey {
            source_ip: entry.source_ip.clone(),
            user_agent: entry.user_agent.clone(),
        })
    }

    pub fn describe(&self) -> String {
        format!("{}, {}", self.source_ip, self.user_agent)
    }
}

/// What the access log says about one user's handshakes.
#[derive(Debug, Default, PartialEq)]
pub struct UserHandshakes<'a> {
    /// The CONNECT lines of the user's own connections, oldest first.
    pub own: Vec<&'a AccessLogEntry>,
    /// The sources those came from.
    pub clients: Vec<ClientKey>,
    /// Refused handshakes from one of those sources, oldest first.
    pub refused: Vec<&'a AccessLogEntry>,
}

fn connects(lines: &[LogLine]) -> impl Iterator<Item = &AccessLogEntry> {
    lines
        .iter()
        .filter_map(|l| l.entry.as_ref())
        .filter(|e| e.event_type == "CONNECT")
}

/// The handshakes of the connections `connection_ids` (one user's), and the refusals from the
/// same sources, out of `handshakes` (CONNECT lines, oldest first).
pub fn user_handshakes<'a>(
    handshakes: &'a [LogLine],
    connection_ids: &HashSet<&str>,
) -> UserHandshakes<'a> {
    let own: Vec<&AccessLogEntry> = connects(handshakes)
        .filter(|e| connection_ids.contains(e.connection_id.as_str()))
        .collect();
    let mut clients: Vec<ClientKey> = own.iter().filter_map(|e| ClientKey::of(e)).collect();
    clients.sort();
    clients.dedup();
    UserHandshakes {
        refused: refused_from(handshakes, &clients),
        own,
        clients,
    }
}

/// Refused handshakes (status ≥ 400) from any of `clients`, oldest first.
pub fn refused_from<'a>(
    handshakes: &'a [LogLine],
    clients: &[ClientKey],
) -> Vec<&'a AccessLogEntry> {
    connects(handshakes)
        .filter(|e| e.status >= 400)
        .filter(|e| ClientKey::of(e).is_some_and(|k| clients.contains(&k)))
        .collect()
}

/// `200 ×4`, `401 ×6 403 ×1`: statuses counted, lowest first.
pub fn status_counts(entries: &[&AccessLogEntry]) -> String {
    let mut counts: BTreeMap<u16, usize> = BTreeMap::new();
    for e in entries {
        *counts.entry(e.status).or_default() += 1;
    }
    counts
        .iter()
        .map(|(status, n)| format!("{status} ×{n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handshake(id: &str, status: u16, ip: &str, agent: &str) -> LogLine {
        let mut entry = AccessLogEntry::now(id, "CONNECT", "$connect", status);
        entry.source_ip = ip.into();
        entry.user_agent = agent.into();
        LogLine {
            at_ms: entry.request_time_epoch,
            raw: String::new(),
            entry: Some(entry),
        }
    }

    #[test]
    fn refusals_from_the_users_own_source_are_its_own() {
        let lines = vec![
            handshake("F1", 200, "10.0.0.7", "Edge/131"),
            handshake("R1", 401, "10.0.0.7", "Edge/131"),
            handshake("R2", 401, "10.0.0.7", "Chrome/131"),
            handshake("R3", 403, "10.0.0.9", "Edge/131"),
            handshake("F2", 200, "10.0.0.7", "Edge/131"),
            handshake("R4", 401, "10.0.0.7", "Edge/131"),
            handshake("X1", 401, "-", ""),
        ];
        let found = user_handshakes(&lines, &HashSet::from(["F1", "F2"]));
        assert_eq!(status_counts(&found.own), "200 ×2");
        assert_eq!(found.clients.len(), 1);
        let refused: Vec<&str> = found
            .refused
            .iter()
            .map(|e| e.connection_id.as_str())
            .collect();
        assert_eq!(refused, ["R1", "R4"], "same address and same agent only");
        let nobody = user_handshakes(&lines, &HashSet::from(["nope"]));
        assert!(
            nobody.refused.is_empty(),
            "an unknown source matches nothing"
        );
    }
}
