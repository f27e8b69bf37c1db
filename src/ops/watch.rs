//! One environment, watched without a terminal: its store read at a pace, every record probed
//! with GetConnection at the background ceiling of its own rate controller, its access log
//! read for refused handshakes and orphans. What it learns goes to an [`Observer`]: the
//! exporter turns it into metrics, the overview into a row. Read-only by construction: the
//! only calls are scans, GetConnection and access-log reads.

use crate::access_logs::{is_refused_handshake, AccessLogSource};
use crate::management::ManagementApi;
use crate::model::{ConnectionRecord, DeliveryClass};
use crate::ops::churn::Churn;
use crate::ops::classify::{is_expired, state_of, ConnectionState};
use crate::ops::estimate::{stale_share, ShareEstimate};
use crate::ops::orphans;
use crate::ops::pacing::{Pacing, RateController, RateStatus};
use crate::ops::probe::probe_records;
use crate::store::{ConnectionStore, StoreError};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

/// Probes per batch: the picture moves after each batch, so a long sweep shows its progress.
const PROBE_BATCH: usize = 500;
/// The orphan search reads two hours of the access log: once a minute is enough.
const ORPHANS_EVERY: Duration = Duration::from_secs(60);
/// A read of the store that takes longer counts as failed.
const SCAN_DEADLINE: Duration = Duration::from_secs(60);

/// What one environment is read through.
pub struct Watched {
    pub store: Arc<dyn ConnectionStore>,
    pub gateway: Arc<dyn ManagementApi>,
    pub rate: Arc<RateController>,
    pub concurrency: usize,
    pub access_logs: Option<Arc<dyn AccessLogSource>>,
}

/// The environment as the last sweep left it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    /// Records by state.
    pub counts: HashMap<ConnectionState, usize>,
    /// Records with an answer, of the records that can be probed.
    pub probed: usize,
    pub probeable: usize,
    pub oldest_answer: Option<OffsetDateTime>,
    /// The stale share while a sweep is incomplete (`None` once every record has an answer:
    /// the counts are exact then).
    pub estimate: Option<ShareEstimate>,
    pub rate: RateStatus,
    pub flapping_users: usize,
    /// The last read of the store failed (why), or `None`.
    pub store_error: Option<StoreError>,
    pub orphans: Option<usize>,
}

impl Summary {
    pub fn count(&self, state: ConnectionState) -> usize {
        self.counts.get(&state).copied().unwrap_or(0)
    }
}

/// Where a watch reports. Events as they happen, and the whole summary after each step.
pub trait Observer: Send + Sync {
    fn summary(&self, summary: &Summary);
    /// A GetConnection answer: `live`, `gone`, or the failure's cause.
    fn probed(&self, result: &str);
    fn scanned(&self, took: Duration, result: Result<(), &StoreError>);
    /// Records appeared and vanished between two reads of the store.
    fn churned(&self, appeared: usize, vanished: usize);
    fn refused_handshake(&self, status: u16);
    fn access_log_failed(&self, kind: &'static str);
    /// Calls answered 429 since the last report.
    fn throttled(&self, calls: u64);
    fn swept(&self);
}

/// A record as last seen, and what its last probe said.
struct Known {
    record: ConnectionRecord,
    state: ConnectionState,
    probed_at: Option<OffsetDateTime>,
}

#[derive(Default)]
struct Picture {
    records: HashMap<String, Known>,
    malformed: usize,
    churn: Churn,
    throttles_seen: u64,
    handshakes_since_ms: Option<i64>,
    orphans_searched: Option<tokio::time::Instant>,
    orphans: Option<usize>,
    store_error: Option<StoreError>,
    read_once: bool,
}

/// Watch until `stop`: a sweep every `every` (a sweep that takes longer is followed at once).
pub async fn watch(
    watched: Watched,
    observer: Arc<dyn Observer>,
    every: Duration,
    stop: CancellationToken,
) {
    let mut picture = Picture::default();
    observer.churned(0, 0);
    observer.throttled(0);
    loop {
        let started = tokio::time::Instant::now();
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = sweep(&watched, observer.as_ref(), &mut picture) => {}
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep_until(started + every) => {}
        }
    }
}

async fn sweep(w: &Watched, observer: &dyn Observer, picture: &mut Picture) {
    let read_started = tokio::time::Instant::now();
    // A store that hangs is a store that is down: the sweep goes on to say so.
    let scanned = match tokio::time::timeout(SCAN_DEADLINE, w.store.scan()).await {
        Ok(scanned) => scanned,
        Err(_) => Err(StoreError::Network(format!(
            "no answer within {}s",
            SCAN_DEADLINE.as_secs()
        ))),
    };
    let took = read_started.elapsed();
    match scanned {
        Ok(snapshot) => {
            observer.scanned(took, Ok(()));
            picture.store_error = None;
            merge(
                observer,
                picture,
                snapshot.records,
                snapshot.malformed.len(),
            );
        }
        Err(e) => {
            // The last good picture stays; the failure is said beside it.
            observer.scanned(took, Err(&e));
            tracing::warn!(error = %e, "reading the connection store failed");
            picture.store_error = Some(e);
        }
    }
    publish(w, observer, picture);
    probe_due(w, observer, picture).await;
    read_handshakes(w, observer, picture).await;
    count_orphans(w, observer, picture).await;
    publish(w, observer, picture);
    observer.swept();
}

/// A fresh read of the store: what the probes learned stays for records still there (the same
/// connection with the same connect time); new records are unprobed.
fn merge(
    observer: &dyn Observer,
    picture: &mut Picture,
    records: Vec<ConnectionRecord>,
    malformed: usize,
) {
    let now = OffsetDateTime::now_utc();
    let mut old = std::mem::take(&mut picture.records);
    let mut appeared = Vec::new();
    for record in records {
        let known = match old.remove(&record.connection_id) {
            Some(known) if known.record.connected_at == record.connected_at => {
                Known { record, ..known }
            }
            _ => {
                appeared.push((record.user_id.clone(), record.connection_id.clone()));
                let state = if is_expired(record.connected_at, now) {
                    ConnectionState::Expired
                } else {
                    ConnectionState::Unprobed
                };
                Known {
                    record,
                    state,
                    probed_at: None,
                }
            }
        };
        picture
            .records
            .insert(known.record.connection_id.clone(), known);
    }
    picture.malformed = malformed;
    // The first read of a table is not churn.
    if picture.read_once {
        observer.churned(appeared.len(), old.len());
        picture.churn.record(now, appeared, old.len());
    }
    picture.read_once = true;
}

/// Probe every record, never-probed ones first, in batches.
async fn probe_due(w: &Watched, observer: &dyn Observer, picture: &mut Picture) {
    let mut due: Vec<(Option<OffsetDateTime>, ConnectionRecord)> = picture
        .records
        .values()
        .map(|k| (k.probed_at, k.record.clone()))
        .collect();
    due.sort_by_key(|(at, _)| *at);
    for batch in due.chunks(PROBE_BATCH) {
        let records = batch.iter().map(|(_, r)| r.clone()).collect();
        let results = probe_records(
            w.gateway.clone(),
            records,
            w.concurrency,
            Some(Pacing::background(&w.rate)),
        )
        .await;
        let now = OffsetDateTime::now_utc();
        for result in results {
            observer.probed(match &result.answer {
                Ok(_) => "live",
                Err(e) if e.class() == DeliveryClass::Gone => "gone",
                Err(e) => e.cause(),
            });
            let Some(known) = picture.records.get_mut(&result.record.connection_id) else {
                continue;
            };
            known.state = state_of(&result.answer);
            known.probed_at = Some(now);
        }
        publish(w, observer, picture);
    }
}

/// Refused handshakes since the last read.
async fn read_handshakes(w: &Watched, observer: &dyn Observer, picture: &mut Picture) {
    let Some(source) = &w.access_logs else {
        return;
    };
    let now_ms = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    // The first read looks back one minute; later ones start after the last line counted.
    let since = picture.handshakes_since_ms.unwrap_or(now_ms - 60_000);
    match source.handshakes(since).await {
        Ok(lines) => {
            let mut next = since;
            for line in lines.iter().filter(|l| l.at_ms >= since) {
                next = next.max(line.at_ms + 1);
                if let (true, Some(entry)) = (is_refused_handshake(line), &line.entry) {
                    observer.refused_handshake(entry.status);
                }
            }
            picture.handshakes_since_ms = Some(next);
        }
        Err(e) => observer.access_log_failed(e.kind()),
    }
}

/// Connections the access log shows open that the store does not hold, confirmed live.
async fn count_orphans(w: &Watched, observer: &dyn Observer, picture: &mut Picture) {
    let Some(source) = &w.access_logs else {
        return;
    };
    if !picture.read_once
        || picture
            .orphans_searched
            .is_some_and(|at| at.elapsed() < ORPHANS_EVERY)
    {
        return;
    }
    picture.orphans_searched = Some(tokio::time::Instant::now());
    let now_ms = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    let lines = match source.sessions(now_ms - orphans::LOOK_BACK_MS).await {
        Ok(lines) => lines,
        Err(e) => {
            observer.access_log_failed(e.kind());
            return;
        }
    };
    let candidates = orphans::open_sessions(&lines, now_ms)
        .into_iter()
        .filter(|o| !picture.records.contains_key(&o.connection_id))
        .collect();
    match orphans::confirm(
        candidates,
        w.store.as_ref(),
        w.gateway.clone(),
        w.concurrency,
        Some(Pacing::background(&w.rate)),
    )
    .await
    {
        Ok(report) => picture.orphans = Some(report.orphans.len()),
        Err(e) => tracing::warn!(error = %e, "the orphan search failed"),
    }
}

/// The picture as a summary, to the observer.
fn publish(w: &Watched, observer: &dyn Observer, picture: &mut Picture) {
    let now = OffsetDateTime::now_utc();
    let mut summary = Summary {
        probeable: picture.records.len(),
        orphans: picture.orphans,
        store_error: picture.store_error.clone(),
        flapping_users: picture.churn.flapping(now).len(),
        ..Default::default()
    };
    for known in picture.records.values() {
        *summary.counts.entry(known.state).or_default() += 1;
        if let Some(at) = known.probed_at {
            summary.probed += 1;
            summary.oldest_answer = Some(summary.oldest_answer.map_or(at, |o| o.min(at)));
        }
    }
    summary
        .counts
        .insert(ConnectionState::Malformed, picture.malformed);
    if summary.probed < summary.probeable {
        let live = summary.count(ConnectionState::Live);
        let stale = summary.count(ConnectionState::Stale);
        summary.estimate = stale_share(stale, live + stale, summary.probeable);
    }
    summary.rate = w.rate.status();
    observer.throttled(
        summary
            .rate
            .throttles
            .saturating_sub(picture.throttles_seen),
    );
    picture.throttles_seen = picture.throttles_seen.max(summary.rate.throttles);
    observer.summary(&summary);
}
