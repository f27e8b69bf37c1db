//! Counts by state, probe coverage and the stale-share sample, kept up to date as rows change
//! instead of recounted per frame.

use super::app::ProbeCoverage;
use super::compact::Millis;
use super::table::Row;
use crate::ops::classify::ConnectionState;
use crate::ops::estimate::{stale_share, ShareEstimate};
use std::collections::BTreeMap;

/// Below this many records a sweep takes seconds at the default rates: no estimate, just wait.
pub const ESTIMATE_FROM_RECORDS: usize = 1_000;

/// Counts by state and probe coverage, kept up to date as rows change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    counts: [usize; ConnectionState::ALL.len()],
    pub coverage: ProbeCoverage,
    /// Records whose last probe the gateway answered with Live or Gone: the sample behind the
    /// estimate, and how many of them are stale.
    pub answered: usize,
    pub answered_stale: usize,
    /// How many rows were last probed at each instant: the oldest answer in use is the first
    /// key, kept without a pass over the rows. A sweep answers in batches, each at one instant,
    /// so this holds a few entries per sweep, not one per row.
    probe_times: BTreeMap<Millis, u32>,
}

impl Tally {
    pub(super) fn of(rows: &[Row]) -> Self {
        let mut tally = Tally::default();
        for row in rows {
            tally.counts[state_slot(row.state)] += 1;
            if row.state == ConnectionState::Malformed {
                continue;
            }
            tally.coverage.probeable += 1;
            if row.probed_at().is_some() {
                tally.coverage.probed += 1;
                tally.probe_time(row.probe_mark(), true);
                tally.answered += usize::from(answered(row.state));
                tally.answered_stale += usize::from(row.state == ConnectionState::Stale);
            }
        }
        tally.refresh_oldest();
        tally
    }

    /// A probeable row's last probe at `at` starts (`counts`) or stops counting.
    fn probe_time(&mut self, at: Millis, counts: bool) {
        if counts {
            *self.probe_times.entry(at).or_insert(0) += 1;
        } else if let Some(n) = self.probe_times.get_mut(&at) {
            *n -= 1;
            if *n == 0 {
                self.probe_times.remove(&at);
            }
        }
    }

    fn refresh_oldest(&mut self) {
        self.coverage.oldest = self.probe_times.keys().next().and_then(|at| at.get());
    }

    /// A probeable row, last probed at `before` (if ever), was probed again at `now`.
    pub(super) fn probed_again(&mut self, before: Millis, now: Millis) {
        if before.is_some() {
            self.probe_time(before, false);
        }
        self.probe_time(now, true);
        self.refresh_oldest();
    }

    pub fn count(&self, state: ConnectionState) -> usize {
        self.counts[state_slot(state)]
    }

    /// A row joins (`joins`) or leaves the table.
    pub(super) fn count_row(&mut self, row: &Row, joins: bool) {
        let add = |n: &mut usize, by: bool| {
            if by {
                *n = if joins { *n + 1 } else { n.saturating_sub(1) };
            }
        };
        add(&mut self.counts[state_slot(row.state)], true);
        if row.state == ConnectionState::Malformed {
            return;
        }
        add(&mut self.coverage.probeable, true);
        if row.probed_at().is_some() {
            self.probe_time(row.probe_mark(), joins);
            self.refresh_oldest();
            add(&mut self.coverage.probed, true);
            add(&mut self.answered, answered(row.state));
            add(
                &mut self.answered_stale,
                row.state == ConnectionState::Stale,
            );
        }
    }

    pub(super) fn moved(&mut self, from: ConnectionState, to: ConnectionState) {
        self.counts[state_slot(from)] -= 1;
        self.counts[state_slot(to)] += 1;
    }

    /// The share of stale records estimated from the records probed so far; `None` once every
    /// record has an answer (the counts are then exact), before there is a sample at all, and
    /// for tables small enough to sweep in seconds.
    pub fn stale_estimate(&self) -> Option<ShareEstimate> {
        if self.coverage.probed >= self.coverage.probeable
            || self.answered == 0
            || self.coverage.probeable < ESTIMATE_FROM_RECORDS
        {
            return None;
        }
        stale_share(self.answered_stale, self.answered, self.coverage.probeable)
    }

    /// A probed row went from `from` to `to`.
    pub(super) fn probe_answered(&mut self, from: Option<ConnectionState>, to: ConnectionState) {
        if let Some(from) = from {
            self.answered -= usize::from(answered(from));
            self.answered_stale -= usize::from(from == ConnectionState::Stale);
        }
        self.answered += usize::from(answered(to));
        self.answered_stale += usize::from(to == ConnectionState::Stale);
    }
}

fn answered(state: ConnectionState) -> bool {
    matches!(state, ConnectionState::Live | ConnectionState::Stale)
}

fn state_slot(state: ConnectionState) -> usize {
    ConnectionState::ALL
        .iter()
        .position(|s| *s == state)
        .unwrap_or(0)
}
