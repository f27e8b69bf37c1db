//! An environment's watch (`ops::watch`) written into the metric families: counters as the
//! events happen, gauges from each summary. Every state has a series (zero included), so an
//! alert on one never sees it vanish.

use super::metrics::{
    BoundLabels, EnvLabels, KindLabels, Metrics, ResultLabels, StateLabels, StatusLabels,
};
use crate::ops::classify::ConnectionState;
use crate::ops::watch::{Observer, Summary};
use crate::store::StoreError;
use std::time::Duration;
use time::OffsetDateTime;

pub struct MetricsObserver {
    pub labels: EnvLabels,
    pub metrics: Metrics,
}

impl MetricsObserver {
    fn kind(&self, kind: &str) -> KindLabels {
        KindLabels {
            env: self.labels.clone(),
            kind: kind.into(),
        }
    }
}

impl Observer for MetricsObserver {
    fn summary(&self, s: &Summary) {
        let (m, labels) = (&self.metrics, &self.labels);
        for state in ConnectionState::ALL {
            m.records
                .get_or_create(&StateLabels {
                    env: labels.clone(),
                    state: state.as_str().into(),
                })
                .set(s.count(state) as i64);
        }
        let coverage = if s.probeable == 0 {
            1.0
        } else {
            s.probed as f64 / s.probeable as f64
        };
        m.probe_coverage.get_or_create(labels).set(coverage);
        let now = OffsetDateTime::now_utc();
        m.oldest_answer_age.get_or_create(labels).set(
            s.oldest_answer
                .map_or(0.0, |at| (now - at).as_seconds_f64().max(0.0)),
        );
        let (live, stale) = (
            s.count(ConnectionState::Live),
            s.count(ConnectionState::Stale),
        );
        let (estimate, low, high) = match (&s.estimate, s.probed >= s.probeable) {
            (_, true) => {
                let share = if live + stale == 0 {
                    0.0
                } else {
                    stale as f64 / (live + stale) as f64
                };
                (share, share, share)
            }
            (Some(e), false) => (e.share, e.low, e.high),
            // Nothing answered yet: no share to say; the interval is everything.
            (None, false) => (0.0, 0.0, 1.0),
        };
        for (bound, value) in [("estimate", estimate), ("low", low), ("high", high)] {
            m.stale_share
                .get_or_create(&BoundLabels {
                    env: labels.clone(),
                    bound: bound.into(),
                })
                .set(value);
        }
        m.rate_ceiling
            .get_or_create(labels)
            .set(s.rate.ceiling.unwrap_or(f64::INFINITY));
        m.rate_current
            .get_or_create(labels)
            .set(s.rate.current.unwrap_or(f64::INFINITY));
        m.flapping_users
            .get_or_create(labels)
            .set(s.flapping_users as i64);
        if let Some(orphans) = s.orphans {
            m.orphans.get_or_create(labels).set(orphans as i64);
        }
    }

    fn probed(&self, result: &str) {
        self.metrics
            .probes
            .get_or_create(&ResultLabels {
                env: self.labels.clone(),
                result: result.into(),
            })
            .inc();
    }

    fn scanned(&self, took: Duration, result: Result<(), &StoreError>) {
        let m = &self.metrics;
        m.scan_duration
            .get_or_create(&self.labels)
            .set(took.as_secs_f64());
        m.store_up
            .get_or_create(&self.labels)
            .set(i64::from(result.is_ok()));
        if let Err(e) = result {
            m.scan_errors.get_or_create(&self.kind(e.kind())).inc();
        }
    }

    fn churned(&self, appeared: usize, vanished: usize) {
        let m = &self.metrics;
        m.records_appeared
            .get_or_create(&self.labels)
            .inc_by(appeared as u64);
        m.records_vanished
            .get_or_create(&self.labels)
            .inc_by(vanished as u64);
    }

    fn refused_handshake(&self, status: u16) {
        self.metrics
            .refused_handshakes
            .get_or_create(&StatusLabels {
                env: self.labels.clone(),
                status: status.to_string(),
            })
            .inc();
    }

    fn access_log_failed(&self, kind: &'static str) {
        self.metrics
            .access_log_errors
            .get_or_create(&self.kind(kind))
            .inc();
    }

    fn throttled(&self, calls: u64) {
        self.metrics
            .throttles
            .get_or_create(&self.labels)
            .inc_by(calls);
    }

    fn swept(&self) {
        self.metrics
            .last_sweep
            .get_or_create(&self.labels)
            .set(OffsetDateTime::now_utc().unix_timestamp() as f64);
    }
}
