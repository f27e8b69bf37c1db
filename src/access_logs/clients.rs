//! Tying refused handshakes to the client that keeps trying. A refused `$connect` leaves no
//! record in the table, and API Gateway logs no user for it; what it does log is the source
//! address and the user agent. A user's accepted handshakes carry the same two, so refusals
//! from that pair are, most likely, the same browser retrying with a bad token. "Most likely":
//! clients behind one NAT with one browser build share the pair, so this is shown, never acted on.

use super::{AccessLogEntry, LogLine};
use std::collections::{BTreeMap, HashMap};

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

/// Handshakes looked up by connection and refusals grouped by client, built once so a storm
/// of thousands of users is answered in one pass over the lines.
pub struct HandshakeIndex<'a> {
    by_connection: HashMap<&'a str, &'a AccessLogEntry>,
    refused_by_client: HashMap<ClientKey, Vec<&'a AccessLogEntry>>,
}

impl<'a> HandshakeIndex<'a> {
    /// `handshakes`: CONNECT lines, oldest first.
    pub fn new(handshakes: &'a [LogLine]) -> Self {
        let mut index = HandshakeIndex {
            by_connection: HashMap::new(),
            refused_by_client: HashMap::new(),
        };
        for entry in connects(handshakes) {
            index
                .by_connection
                .insert(entry.connection_id.as_str(), entry);
            if entry.status >= 400 {
                if let Some(client) = ClientKey::of(entry) {
                    index
                        .refused_by_client
                        .entry(client)
                        .or_default()
                        .push(entry);
                }
            }
        }
        index
    }

    /// The handshakes of the connections `connection_ids` (one user's), oldest first, and the
    /// refusals from the same sources.
    pub fn user<'b>(
        &self,
        connection_ids: impl IntoIterator<Item = &'b str>,
    ) -> UserHandshakes<'a> {
        let mut own: Vec<&AccessLogEntry> = connection_ids
            .into_iter()
            .filter_map(|id| self.by_connection.get(id).copied())
            .collect();
        own.sort_by_key(|e| e.request_time_epoch);
        let mut clients: Vec<ClientKey> = own.iter().filter_map(|e| ClientKey::of(e)).collect();
        clients.sort();
        clients.dedup();
        let mut refused: Vec<&AccessLogEntry> = clients
            .iter()
            .filter_map(|c| self.refused_by_client.get(c))
            .flatten()
            .copied()
            .collect();
        refused.sort_by_key(|e| e.request_time_epoch);
        UserHandshakes {
            own,
            clients,
            refused,
        }
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
        let index = HandshakeIndex::new(&lines);
        let found = index.user(["F1", "F2"]);
        assert_eq!(status_counts(&found.own), "200 ×2");
        assert_eq!(found.clients.len(), 1);
        let refused: Vec<&str> = found
            .refused
            .iter()
            .map(|e| e.connection_id.as_str())
            .collect();
        assert_eq!(refused, ["R1", "R4"], "same address and same agent only");
        let nobody = index.user(["nope"]);
        assert!(
            nobody.refused.is_empty(),
            "an unknown source matches nothing"
        );
    }
}
