//! Reconnect storms: which users keep getting new connection ids, and how many records appear
//! and vanish per minute. Fed by every scan merge and every batch from the store's feed; the
//! first read of a table is not churn and is not counted. The dashboard's storm view and the
//! exporter both keep one.

use crate::gateway_metrics::TimeWindow;
use std::collections::{HashMap, VecDeque};
use time::{Duration, OffsetDateTime};

/// A user is flapping after this many new connections within `FLAP_WINDOW`.
pub const FLAP_CONNECTIONS: usize = 3;
pub const FLAP_WINDOW: Duration = Duration::minutes(5);
/// How many minutes of new/vanished counts are kept: the 24 h view.
const MINUTES_KEPT: usize = 24 * 60;

/// (when it appeared, connection id) for one user, oldest first.
type Seen = VecDeque<(OffsetDateTime, String)>;

#[derive(Debug, Default)]
pub struct Churn {
    /// Each user's connection ids that appeared within the window, oldest first.
    appeared: HashMap<String, Seen>,
    /// (minute, records that appeared, records that vanished), oldest first.
    per_minute: VecDeque<(i64, u32, u32)>,
}

/// A user whose connection keeps changing.
#[derive(Debug, Clone, PartialEq)]
pub struct Flapping {
    pub user_id: String,
    /// (when it appeared, connection id), oldest first.
    pub connections: Vec<(OffsetDateTime, String)>,
}

impl Churn {
    /// Records appeared (user, connection id) and `vanished` records went, at `now`.
    pub fn record(
        &mut self,
        now: OffsetDateTime,
        appeared: impl IntoIterator<Item = (String, String)>,
        vanished: usize,
    ) {
        let mut count = 0u32;
        for (user, connection) in appeared {
            count += 1;
            self.appeared
                .entry(user)
                .or_default()
                .push_back((now, connection));
        }
        let minute = now.unix_timestamp().div_euclid(60);
        match self
            .per_minute
            .iter_mut()
            .rev()
            .find(|(m, _, _)| *m == minute)
        {
            Some((_, new, gone)) => {
                *new += count;
                *gone += vanished as u32;
            }
            None => {
                self.per_minute.push_back((minute, count, vanished as u32));
                // Clocks only go forward in the dashboard; a late report still lands in order.
                self.per_minute
                    .make_contiguous()
                    .sort_by_key(|(m, _, _)| *m);
            }
        }
        while self.per_minute.len() > MINUTES_KEPT {
            self.per_minute.pop_front();
        }
        self.forget_before(now - FLAP_WINDOW);
    }

    fn forget_before(&mut self, cutoff: OffsetDateTime) {
        self.appeared.retain(|_, seen| {
            while seen.front().is_some_and(|(at, _)| *at < cutoff) {
                seen.pop_front();
            }
            !seen.is_empty()
        });
    }

    /// Users with `FLAP_CONNECTIONS` or more new connections in the window before `now`, the
    /// busiest first.
    pub fn flapping(&self, now: OffsetDateTime) -> Vec<Flapping> {
        self.busiest_flapping(now, usize::MAX).1
    }

    /// How many users are flapping, and the busiest `limit` of them, busiest first. A storm
    /// after a deploy can make every user flap: only the users listed are copied and sorted.
    pub fn busiest_flapping(&self, now: OffsetDateTime, limit: usize) -> (usize, Vec<Flapping>) {
        let cutoff = now - FLAP_WINDOW;
        let mut found: Vec<(usize, &String, &Seen)> = self
            .appeared
            .iter()
            .map(|(user, seen)| {
                (
                    seen.iter().filter(|(at, _)| *at >= cutoff).count(),
                    user,
                    seen,
                )
            })
            .filter(|(count, _, _)| *count >= FLAP_CONNECTIONS)
            .collect();
        let total = found.len();
        let busiest_first = |a: &(usize, &String, _), b: &(usize, &String, _)| {
            b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1))
        };
        if limit < found.len() {
            found.select_nth_unstable_by(limit, busiest_first);
            found.truncate(limit);
        }
        found.sort_unstable_by(busiest_first);
        let listed = found
            .into_iter()
            .map(|(_, user, seen)| Flapping {
                user_id: user.clone(),
                connections: seen
                    .iter()
                    .filter(|(at, _)| *at >= cutoff)
                    .cloned()
                    .collect(),
            })
            .collect();
        (total, listed)
    }

    /// Records that appeared and vanished in each column of the window up to `now` (oldest
    /// first; quiet columns count 0).
    pub fn over(&self, now: OffsetDateTime, window: TimeWindow) -> (Vec<u64>, Vec<u64>) {
        let first = window.first_minute(now);
        let mut appeared = vec![0; TimeWindow::COLUMNS];
        let mut vanished = vec![0; TimeWindow::COLUMNS];
        for (minute, new, gone) in &self.per_minute {
            if let Some(c) = window.column(first, *minute) {
                appeared[c] += u64::from(*new);
                vanished[c] += u64::from(*gone);
            }
        }
        (appeared, vanished)
    }
}

/// `▁▂▅█` for counts, scaled to the largest.
pub fn sparkline(values: &[u64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = values.iter().copied().max().unwrap_or(0);
    values
        .iter()
        .map(|&v| {
            if max == 0 || v == 0 {
                ' '
            } else {
                BARS[(v * 7 / max).min(7) as usize]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_new_connections_in_five_minutes_is_flapping_and_it_passes() {
        let start = OffsetDateTime::now_utc();
        let mut churn = Churn::default();
        for (minute, id) in [(0, "A1"), (1, "A2"), (2, "A3")] {
            churn.record(
                start + Duration::minutes(minute),
                [("alice".to_string(), id.to_string())],
                1,
            );
        }
        churn.record(start, [("bob".to_string(), "B1".to_string())], 0);
        let now = start + Duration::minutes(2);
        let flapping = churn.flapping(now);
        assert_eq!(flapping.len(), 1);
        assert_eq!(flapping[0].user_id, "alice");
        assert_eq!(flapping[0].connections.len(), 3);
        assert!(
            churn.flapping(start + Duration::minutes(6)).is_empty(),
            "the window moved on"
        );
        let (appeared, vanished) = churn.over(now, TimeWindow::Hour);
        assert_eq!(
            (&appeared[57..], &vanished[57..]),
            (&[2, 1, 1][..], &[1, 1, 1][..])
        );
        let (appeared, _) = churn.over(now, TimeWindow::Day);
        assert_eq!(appeared.iter().sum::<u64>(), 4);
        assert_eq!(sparkline(&[0, 1, 4]), " ▂█");
        for (user, id) in [
            ("carl", "C1"),
            ("carl", "C2"),
            ("carl", "C3"),
            ("carl", "C4"),
        ] {
            churn.record(start, [(user.to_string(), id.to_string())], 0);
        }
        let (total, busiest) = churn.busiest_flapping(now, 1);
        assert_eq!(total, 2);
        assert_eq!(busiest.len(), 1);
        assert_eq!(busiest[0].user_id, "carl", "four connections beat three");
    }
}
