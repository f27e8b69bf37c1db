//! Orphans: connections the gateway holds that the store has lost. A `$connect` whose write
//! failed, or a record overwritten by the same user's newer connection while the old socket
//! stayed open, leaves a socket no push will ever reach (the guide's "push silently fails").
//! Only the access log knows it exists: a CONNECT answered 2xx without a DISCONNECT, younger
//! than API Gateway's two-hour limit, whose connection id the store does not hold. Each
//! candidate is confirmed with GetConnection; Gone means it closed without a log line.

use crate::access_logs::{AccessLogSource, LogLine, LogsError};
use crate::management::{GatewayError, ManagementApi};
use crate::model::{ConnectionInfo, DeliveryClass};
use crate::ops::pacing::Pacing;
use crate::store::{ConnectionStore, StoreError};
use futures_util::{stream, StreamExt};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// API Gateway closes every connection after two hours: older CONNECT lines need no look.
pub const LOOK_BACK_MS: i64 = 2 * 3600 * 1000;
/// A connection this young may be one whose record is being written right now.
pub const GRACE_MS: i64 = 10_000;

/// A connection the gateway holds and the store does not know.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct Orphan {
    pub connection_id: String,
    /// When its CONNECT was logged (epoch ms).
    pub connected_at_ms: i64,
    pub source_ip: String,
    pub user_agent: String,
    /// What GetConnection said of it.
    pub info: ConnectionInfo,
}

/// What a search found.
#[derive(Debug, Default)]
pub struct OrphanReport {
    pub orphans: Vec<Orphan>,
    /// Open in the access log and unknown to the store.
    pub candidates: usize,
    /// Candidates GetConnection answered Gone for: closed without a DISCONNECT line.
    pub closed: usize,
    /// Candidates whose probe failed otherwise, and why.
    pub unconfirmed: Vec<(String, GatewayError)>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum OrphanError {
    #[error("cannot read the connection store: {0}")]
    Store(#[from] StoreError),
    #[error("cannot read the access log: {0}")]
    Logs(#[from] LogsError),
}

/// A CONNECT line that opened a session, as read.
#[derive(Debug, Clone, PartialEq)]
pub struct Opened {
    pub connection_id: String,
    pub at_ms: i64,
    pub source_ip: String,
    pub user_agent: String,
}

/// Sessions the access log shows open at `now_ms`: accepted CONNECTs (older than the grace,
/// younger than the limit) with no DISCONNECT after them.
pub fn open_sessions(lines: &[LogLine], now_ms: i64) -> Vec<Opened> {
    let mut open: HashMap<&str, Opened> = HashMap::new();
    let mut ordered: Vec<&LogLine> = lines.iter().collect();
    ordered.sort_by_key(|l| l.at_ms);
    for line in ordered {
        let Some(entry) = &line.entry else { continue };
        match entry.event_type.as_str() {
            "CONNECT" if (200..300).contains(&entry.status) => {
                open.insert(
                    &entry.connection_id,
                    Opened {
                        connection_id: entry.connection_id.clone(),
                        at_ms: line.at_ms,
                        source_ip: entry.source_ip.clone(),
                        user_agent: entry.user_agent.clone(),
                    },
                );
            }
            "DISCONNECT" => {
                open.remove(entry.connection_id.as_str());
            }
            _ => {}
        }
    }
    let mut sessions: Vec<Opened> = open
        .into_values()
        .filter(|o| now_ms - o.at_ms <= LOOK_BACK_MS && now_ms - o.at_ms >= GRACE_MS)
        .collect();
    sessions.sort_by(|a, b| {
        a.at_ms
            .cmp(&b.at_ms)
            .then(a.connection_id.cmp(&b.connection_id))
    });
    sessions
}

/// Find the orphans: the access log first, then the store (so that a record written after
/// its CONNECT line was read is seen), then each candidate confirmed (see [`confirm`]).
pub async fn find_orphans(
    store: &dyn ConnectionStore,
    gateway: Arc<dyn ManagementApi>,
    logs: &dyn AccessLogSource,
    concurrency: usize,
    pacing: Option<Pacing>,
) -> Result<OrphanReport, OrphanError> {
    let now_ms = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    let lines = logs.sessions(now_ms - LOOK_BACK_MS).await?;
    let snapshot = store.scan().await?;
    let known: HashSet<&str> = snapshot
        .records
        .iter()
        .map(|r| r.connection_id.as_str())
        .chain(
            snapshot
                .malformed
                .iter()
                .filter_map(|m| m.connection_id.as_deref()),
        )
        .collect();
    let candidates: Vec<Opened> = open_sessions(&lines, now_ms)
        .into_iter()
        .filter(|o| !known.contains(o.connection_id.as_str()))
        .collect();
    confirm(candidates, store, gateway, concurrency, pacing).await
}

/// Confirm candidates: each is looked up in the store once more (a record that arrived since
/// the store was read makes it a known connection), then asked of the gateway with
/// GetConnection: live is an orphan, Gone closed without a DISCONNECT line.
pub async fn confirm(
    candidates: Vec<Opened>,
    store: &dyn ConnectionStore,
    gateway: Arc<dyn ManagementApi>,
    concurrency: usize,
    pacing: Option<Pacing>,
) -> Result<OrphanReport, OrphanError> {
    let mut unknown = Vec::with_capacity(candidates.len());
    for opened in candidates {
        if store
            .find_by_connection(&opened.connection_id)
            .await?
            .is_none()
        {
            unknown.push(opened);
        }
    }
    let mut report = OrphanReport {
        candidates: unknown.len(),
        ..Default::default()
    };
    let answers: Vec<(Opened, Result<ConnectionInfo, GatewayError>)> = stream::iter(unknown)
        .map(|opened| {
            let gateway = gateway.clone();
            let pacing = pacing.clone();
            async move {
                if let Some(pacing) = &pacing {
                    pacing.acquire().await;
                }
                let answer = gateway.get_connection(&opened.connection_id).await;
                if let Some(pacing) = &pacing {
                    pacing.observe(&answer);
                }
                (opened, answer)
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    for (opened, answer) in answers {
        match answer {
            Ok(info) => report.orphans.push(Orphan {
                connection_id: opened.connection_id,
                connected_at_ms: opened.at_ms,
                source_ip: opened.source_ip,
                user_agent: opened.user_agent,
                info,
            }),
            Err(e) if e.class() == DeliveryClass::Gone => report.closed += 1,
            Err(e) => report.unconfirmed.push((opened.connection_id, e)),
        }
    }
    report.orphans.sort_by_key(|o| o.connected_at_ms);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access_logs::AccessLogEntry;

    fn line(at_ms: i64, event: &str, id: &str, status: u16) -> LogLine {
        let mut entry = AccessLogEntry::now(id, event, "$connect", status);
        entry.source_ip = "203.0.113.9".into();
        LogLine {
            at_ms,
            raw: String::new(),
            entry: Some(entry),
        }
    }

    #[test]
    fn a_session_is_open_from_an_accepted_connect_until_its_disconnect() {
        let now = 10 * 3600 * 1000;
        let lines = vec![
            line(now - 60_000, "CONNECT", "open", 200),
            line(now - 50_000, "CONNECT", "closed", 200),
            line(now - 40_000, "DISCONNECT", "closed", 200),
            line(now - 30_000, "CONNECT", "refused", 401),
            line(now - 3 * 3600 * 1000, "CONNECT", "too-old", 200),
            line(now - 2_000, "CONNECT", "just-now", 200),
            line(now - 20_000, "MESSAGE", "open", 200),
        ];
        let open = open_sessions(&lines, now);
        let ids: Vec<&str> = open.iter().map(|o| o.connection_id.as_str()).collect();
        assert_eq!(ids, ["open"]);
        assert_eq!(open[0].source_ip, "203.0.113.9");
        assert_eq!(open[0].at_ms, now - 60_000);
    }

    #[test]
    fn a_disconnect_logged_before_its_connect_in_the_list_still_closes_it() {
        let now = 10 * 3600 * 1000;
        let lines = vec![
            line(now - 30_000, "DISCONNECT", "a", 200),
            line(now - 60_000, "CONNECT", "a", 200),
        ];
        assert!(open_sessions(&lines, now).is_empty());
    }
}
