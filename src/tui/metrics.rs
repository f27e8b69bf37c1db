//! The gateway's counts over time, as sparklines: in the demo from the emulator's own counters
//! (sampled with every stats poll), in CloudWatch's metric names so the panel reads the same
//! as AWS/ApiGateway's.

use crate::gateway_metrics::TimeWindow;
use crate::model::StatsView;
use std::collections::VecDeque;
use time::OffsetDateTime;

/// Minutes of history kept: the 24 h view.
const MINUTES_KEPT: usize = 24 * 60;

/// (metric name, how to read its running total from the emulator's counters)
type Metric = (&'static str, fn(&StatsView) -> u64);

const METRICS: [Metric; 5] = [
    ("ConnectCount", |s| socket(s, "connected")),
    ("MessageCount", |s| socket(s, "messages_from_clients")),
    ("ClientError", |s| {
        socket(s, "connect_refused")
            + socket(s, "connect_throttled")
            + socket(s, "message_too_big")
            + socket(s, "frame_too_big")
    }),
    ("PushDelivered", |s| {
        s.post_to_connection.get("delivered").copied().unwrap_or(0)
    }),
    ("PushGone", |s| {
        s.post_to_connection.get("gone").copied().unwrap_or(0)
    }),
];

fn socket(stats: &StatsView, name: &str) -> u64 {
    stats.sockets.get(name).copied().unwrap_or(0)
}

/// The first and the last running totals seen in each minute.
#[derive(Debug, Default)]
pub struct MetricHistory {
    minutes: VecDeque<(i64, [u64; METRICS.len()], [u64; METRICS.len()])>,
}

impl MetricHistory {
    pub fn record(&mut self, now: OffsetDateTime, stats: &StatsView) {
        let minute = now.unix_timestamp().div_euclid(60);
        let totals = METRICS.map(|(_, read)| read(stats));
        match self.minutes.back_mut() {
            Some((m, _, last)) if *m == minute => *last = totals,
            _ => self.minutes.push_back((minute, totals, totals)),
        }
        while self.minutes.len() > MINUTES_KEPT + 1 {
            self.minutes.pop_front();
        }
    }

    /// Each metric's counts in the window's columns up to `now` (oldest first).
    pub fn over(&self, now: OffsetDateTime, window: TimeWindow) -> Vec<(&'static str, Vec<u64>)> {
        let first = window.first_minute(now);
        self.per_minute(first, window.minutes() as usize)
            .into_iter()
            .map(|(name, minutes)| (name, window.fold(first, &minutes)))
            .collect()
    }

    /// Each metric's count per minute for `minutes` minutes from `first` (oldest first): the
    /// growth of its running total since the minute before, or, for the first minute seen, since
    /// the first sample (so the panel shows counts from the first minute on).
    fn per_minute(&self, first: i64, minutes: usize) -> Vec<(&'static str, Vec<u64>)> {
        let last = first + minutes as i64 - 1;
        METRICS
            .iter()
            .enumerate()
            .map(|(k, (name, _))| {
                let mut values = vec![0; minutes];
                let mut before: Option<&[u64; METRICS.len()]> = None;
                for (minute, first_seen, last_seen) in &self.minutes {
                    let base = before.unwrap_or(first_seen);
                    if (first..=last).contains(minute) {
                        values[(minute - first) as usize] = last_seen[k].saturating_sub(base[k]);
                    }
                    before = Some(last_seen);
                }
                (*name, values)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn stats(connected: u64, refused: u64) -> StatsView {
        StatsView {
            sockets: BTreeMap::from([
                ("connected".to_string(), connected),
                ("connect_refused".to_string(), refused),
            ]),
            ..Default::default()
        }
    }

    #[test]
    fn running_totals_become_counts_per_minute() {
        // Ten seconds into a minute, so a second later is still the same minute.
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let start =
            OffsetDateTime::from_unix_timestamp(now - now.rem_euclid(60) + 10).expect("a time");
        let mut history = MetricHistory::default();
        history.record(start, &stats(10, 0));
        history.record(start + time::Duration::seconds(1), &stats(12, 0));
        history.record(start + time::Duration::minutes(1), &stats(13, 2));
        history.record(start + time::Duration::minutes(2), &stats(20, 2));
        let first = start.unix_timestamp().div_euclid(60);
        let series = history.per_minute(first, 3);
        // The first minute counts from the first sample, not from zero.
        assert_eq!(series[0], ("ConnectCount", vec![2, 1, 7]));
        assert_eq!(series[2], ("ClientError", vec![0, 2, 0]));
        let hour = history.over(start + time::Duration::minutes(2), TimeWindow::Hour);
        assert_eq!(hour[0].1[57..], [2, 1, 7]);
        let day = history.over(start + time::Duration::minutes(2), TimeWindow::Day);
        assert_eq!(
            day[0].1.iter().sum::<u64>(),
            10,
            "the day's columns hold every minute"
        );
    }
}
