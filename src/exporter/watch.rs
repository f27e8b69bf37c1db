//! One environment, watched: its store read at a pace, every record probed with GetConnection
//! at the background ceiling of its own rate controller, its access log read for refused
//! handshakes, and what was learned written into the metric families. Read-only by
//! construction: nothing here holds an audit log, and the only calls made are scans,
//! GetConnection and access-log reads.

use super::metrics::{
    BoundLabels, EnvLabels, KindLabels, Metrics, ResultLabels, StateLabels, StatusLabels,
};
use crate::access_logs::{is_refused_handshake, AccessLogSource};
use crate::management::ManagementApi;
use crate::model::{ConnectionRecord, DeliveryClass};
use crate::ops::churn::Churn;
use crate::ops::classify::{is_expired, state_of, ConnectionState};
use crate::ops::estimate::stale_share;
use crate::ops::orphans;
use crate::ops::pacing::{Pacing, RateController};
use crate::ops::probe::probe_records;
use crate::store::ConnectionStore;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

/// Probes per batch: the gauges move after each batch, so a long sweep shows its progress.
const PROBE_BATCH: usize = 500;
/// A read of the store that takes longer counts as failed.
const SCAN_DEADLINE: Duration = Duration::from_secs(60);
/// The orphan search reads two hours of the access log: once a minute is enough.
const ORPHANS_EVERY: Duration = Duration::from_secs(60);

/// What one environment is read through.
pub struct Watched {
    pub labels: EnvLabels,
    pub store: Arc<dyn ConnectionStore>,
    pub gateway: Arc<dyn ManagementApi>,
    pub rate: Arc<RateController>,
    pub concurrency: usize,
    pub access_logs: Option<Arc<dyn AccessLogSource>>,
}

/// A record as last seen, and what its last probe said.
struct Known {
    record: ConnectionRecord,
    state: ConnectionState,
    probed_at: Option<OffsetDateTime>,
}

/// The environment's picture between two sweeps.
#[derive(Default)]
struct Picture {
    records: HashMap<String, Known>,
    malformed: usize,
    churn: Churn,
    /// Throttles the rate controller had counted at the last publication.
    throttles_seen: u64,
    /// The access log is read from here on (epoch ms).
    handshakes_since_ms: Option<i64>,
    /// When orphans were last looked for.
    orphans_searched: Option<tokio::time::Instant>,
    read_once: bool,
}

/// Watch until `stop`: a sweep every `every` (a sweep that takes longer is followed at once).
pub async fn watch(watched: Watched, metrics: Metrics, every: Duration, stop: CancellationToken) {
    let mut picture = Picture::default();
    // Counters exist from the start at zero, so `rate()` and `increase()` see their first rise.
    for counter in [
        &metrics.records_appeared,
        &metrics.records_vanished,
        &metrics.throttles,
    ] {
        counter.get_or_create(&watched.labels).inc_by(0);
    }
    loop {
        let started = tokio::time::Instant::now();
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = sweep(&watched, &metrics, &mut picture) => {}
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep_until(started + every) => {}
        }
    }
}

async fn sweep(w: &Watched, metrics: &Metrics, picture: &mut Picture) {
    let read_started = tokio::time::Instant::now();
    // A store that hangs is a store that is down: the sweep goes on to say so.
    let scanned = match tokio::time::timeout(SCAN_DEADLINE, w.store.scan()).await {
        Ok(scanned) => scanned,
        Err(_) => Err(crate::store::StoreError::Network(format!(
            "no answer within {}s",
            SCAN_DEADLINE.as_secs()
        ))),
    };
    metrics
        .scan_duration
        .get_or_create(&w.labels)
        .set(read_started.elapsed().as_secs_f64());
    match scanned {
        Ok(snapshot) => {
            metrics.store_up.get_or_create(&w.labels).set(1);
            merge(
                w,
                metrics,
                picture,
                snapshot.records,
                snapshot.malformed.len(),
            );
        }
        Err(e) => {
            // The last good picture stays exported; the failure is counted and `store_up` says it.
            metrics.store_up.get_or_create(&w.labels).set(0);
            metrics
                .scan_errors
                .get_or_create(&KindLabels {
                    env: w.labels.clone(),
                    kind: e.kind().into(),
                })
                .inc();
            tracing::warn!(env = %w.labels.env, error = %e, "reading the connection store failed");
        }
    }
    publish(w, metrics, picture);
    probe_due(w, metrics, picture).await;
    read_handshakes(w, metrics, picture).await;
    count_orphans(w, metrics, picture).await;
    publish(w, metrics, picture);
    metrics
        .last_sweep
        .get_or_create(&w.labels)
        .set(OffsetDateTime::now_utc().unix_timestamp() as f64);
}

/// A fresh read of the store: what the probes learned stays for records still there (the same
/// connection with the same connect time); new records are unprobed.
fn merge(
    w: &Watched,
    metrics: &Metrics,
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
                let state = if is_expired(&record, now) {
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
        metrics
            .records_appeared
            .get_or_create(&w.labels)
            .inc_by(appeared.len() as u64);
        metrics
            .records_vanished
            .get_or_create(&w.labels)
            .inc_by(old.len() as u64);
        picture.churn.record(now, appeared, old.len());
    }
    picture.read_once = true;
}

/// Probe every record not probed in this sweep yet, never-probed ones first, in batches.
async fn probe_due(w: &Watched, metrics: &Metrics, picture: &mut Picture) {
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
            let label = match &result.answer {
                Ok(_) => "live",
                Err(e) if e.class() == DeliveryClass::Gone => "gone",
                Err(e) => e.cause(),
            };
            metrics
                .probes
                .get_or_create(&ResultLabels {
                    env: w.labels.clone(),
                    result: label.into(),
                })
                .inc();
            let Some(known) = picture.records.get_mut(&result.record.connection_id) else {
                continue;
            };
            known.state = state_of(&result.answer);
            known.probed_at = Some(now);
        }
        publish(w, metrics, picture);
    }
}

/// Refused handshakes since the last read, counted by status.
async fn read_handshakes(w: &Watched, metrics: &Metrics, picture: &mut Picture) {
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
                    metrics
                        .refused_handshakes
                        .get_or_create(&StatusLabels {
                            env: w.labels.clone(),
                            status: entry.status.to_string(),
                        })
                        .inc();
                }
            }
            picture.handshakes_since_ms = Some(next);
        }
        Err(e) => {
            metrics
                .access_log_errors
                .get_or_create(&KindLabels {
                    env: w.labels.clone(),
                    kind: e.kind().into(),
                })
                .inc();
        }
    }
}

/// Connections the access log shows open that the store does not hold, confirmed live.
async fn count_orphans(w: &Watched, metrics: &Metrics, picture: &mut Picture) {
    let Some(source) = &w.access_logs else {
        return;
    };
    if picture
        .orphans_searched
        .is_some_and(|at| at.elapsed() < ORPHANS_EVERY)
        || !picture.read_once
    {
        return;
    }
    picture.orphans_searched = Some(tokio::time::Instant::now());
    let now_ms = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    let lines = match source.sessions(now_ms - orphans::LOOK_BACK_MS).await {
        Ok(lines) => lines,
        Err(e) => {
            metrics
                .access_log_errors
                .get_or_create(&KindLabels {
                    env: w.labels.clone(),
                    kind: e.kind().into(),
                })
                .inc();
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
        Ok(report) => {
            metrics
                .orphans
                .get_or_create(&w.labels)
                .set(report.orphans.len() as i64);
        }
        Err(e) => tracing::warn!(env = %w.labels.env, error = %e, "the orphan search failed"),
    }
}

/// Write the picture into the gauges: every state has a series (zero included), so an alert
/// on one never sees it vanish.
fn publish(w: &Watched, metrics: &Metrics, picture: &mut Picture) {
    let now = OffsetDateTime::now_utc();
    let mut counts: HashMap<ConnectionState, usize> = HashMap::new();
    let (mut probed, mut oldest) = (0usize, None::<OffsetDateTime>);
    for known in picture.records.values() {
        *counts.entry(known.state).or_default() += 1;
        if let Some(at) = known.probed_at {
            probed += 1;
            oldest = Some(oldest.map_or(at, |o| o.min(at)));
        }
    }
    counts.insert(ConnectionState::Malformed, picture.malformed);
    for state in ConnectionState::ALL {
        metrics
            .records
            .get_or_create(&StateLabels {
                env: w.labels.clone(),
                state: state.as_str().into(),
            })
            .set(counts.get(&state).copied().unwrap_or(0) as i64);
    }
    let probeable = picture.records.len();
    let coverage = if probeable == 0 {
        1.0
    } else {
        probed as f64 / probeable as f64
    };
    metrics
        .probe_coverage
        .get_or_create(&w.labels)
        .set(coverage);
    metrics
        .oldest_answer_age
        .get_or_create(&w.labels)
        .set(oldest.map_or(0.0, |at| (now - at).as_seconds_f64().max(0.0)));
    let live = counts.get(&ConnectionState::Live).copied().unwrap_or(0);
    let stale = counts.get(&ConnectionState::Stale).copied().unwrap_or(0);
    let (estimate, low, high) = if probed >= probeable {
        let share = if live + stale == 0 {
            0.0
        } else {
            stale as f64 / (live + stale) as f64
        };
        (share, share, share)
    } else {
        match stale_share(stale, live + stale, probeable) {
            Some(e) => (e.share, e.low, e.high),
            // Nothing answered yet: no share to say; the interval is everything.
            None => (0.0, 0.0, 1.0),
        }
    };
    for (bound, value) in [("estimate", estimate), ("low", low), ("high", high)] {
        metrics
            .stale_share
            .get_or_create(&BoundLabels {
                env: w.labels.clone(),
                bound: bound.into(),
            })
            .set(value);
    }
    let rate = w.rate.status();
    metrics
        .rate_ceiling
        .get_or_create(&w.labels)
        .set(rate.ceiling.unwrap_or(f64::INFINITY));
    metrics
        .rate_current
        .get_or_create(&w.labels)
        .set(rate.current.unwrap_or(f64::INFINITY));
    metrics
        .throttles
        .get_or_create(&w.labels)
        .inc_by(rate.throttles.saturating_sub(picture.throttles_seen));
    picture.throttles_seen = picture.throttles_seen.max(rate.throttles);
    metrics
        .flapping_users
        .get_or_create(&w.labels)
        .set(picture.churn.flapping(now).len() as i64);
}
