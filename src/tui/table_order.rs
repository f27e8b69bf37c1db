//! The connections table's order and view: sorting (cached until the rows or the sort change),
//! filtering on `search::SearchIndex`, keeping the cursor on its connection, and choosing what
//! to probe next.

use super::filter::Filter;
use super::table::{Row, SortColumn, Table};
use crate::model::ConnectionRecord;
use crate::ops::classify::ConnectionState;
use crate::ops::estimate::ShareEstimate;
use std::cmp::Reverse;
use time::{Duration, OffsetDateTime};

impl Table {
    /// The sort or the outcomes it sorts by changed: sort again on the next recompute.
    pub fn resort(&mut self, now: OffsetDateTime, page: usize) {
        self.derived.order = None;
        self.recompute_visible(now, page);
    }

    /// Filter and sort; the selection stays on the same connection when it is still shown.
    pub fn recompute_visible(&mut self, now: OffsetDateTime, page: usize) {
        let keep = self.selected_row().map(|r| r.key().to_string());
        self.recompute_visible_keeping(keep, now, page);
    }

    /// [`Table::recompute_visible`] with the selection's connection id given (the rows may have
    /// changed). `page` is how many rows one screen shows.
    pub fn recompute_visible_keeping(
        &mut self,
        keep: Option<String>,
        now: OffsetDateTime,
        page: usize,
    ) {
        let order = match self.derived.order.take() {
            Some((sort, order)) if sort == self.sort => order,
            _ => sorted(self, self.sort, now),
        };
        let filter = Filter::parse(&self.filter);
        // Refilled in place: a million-row buffer allocated afresh costs its page faults on
        // every batch from a followed table.
        let mut visible = std::mem::take(&mut self.visible);
        visible.clear();
        if filter.is_empty() {
            visible.extend(order.iter().map(|&i| i as usize));
        } else {
            let hits = self.derived.search.matching(&filter, &self.rows, &self.ids);
            visible.extend(
                order
                    .iter()
                    .map(|&i| i as usize)
                    .filter(|i| hits.contains(*i)),
            );
        }
        self.derived.order = Some((self.sort, order));
        if self.sort_descending {
            visible.reverse();
        }
        self.visible = visible;
        let kept = keep
            .and_then(|id| self.index.get(&self.ids, &id))
            .and_then(|row| self.visible.iter().position(|i| *i == row));
        self.selected = kept
            .unwrap_or(self.selected)
            .min(self.visible.len().saturating_sub(1));
        self.keep_selection_visible(page);
    }

    /// Scroll so that the selected row is on a screen of `page` rows.
    pub fn keep_selection_visible(&mut self, page: usize) {
        let page = page.max(1);
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + page {
            self.offset = self.selected + 1 - page;
        }
        self.offset = self.offset.min(self.visible.len().saturating_sub(1));
    }

    /// The records to probe next: never-probed ones first in their random sample order, then the
    /// longest unprobed. `batch` of them, chosen in linear time.
    pub fn next_to_probe(
        &self,
        now: OffsetDateTime,
        batch: usize,
        everything: bool,
    ) -> Vec<ConnectionRecord> {
        // Re-probe a record at most every few seconds; a scan every 2 s would otherwise drown the API.
        let due_before = crate::tui::compact::Millis::of(Some(now - Duration::seconds(5)));
        let due = |r: &Row| {
            let probed = r.probe_mark();
            !probed.is_some() || everything || probed <= due_before
        };
        // (probed before, when, random rank): never-probed first, then the longest unprobed.
        type ProbeOrder = (bool, crate::tui::compact::Millis, u32);
        let mut candidates: Vec<(ProbeOrder, usize)> = self
            .rows
            .iter()
            .enumerate()
            // Old records are probed too: their age is a hint, the gateway's answer is the fact.
            .filter(|(_, r)| r.state != ConnectionState::Malformed && due(r))
            .map(|(i, r)| ((r.probe_mark().is_some(), r.probe_mark(), r.sample_rank), i))
            .collect();
        if candidates.len() > batch && batch > 0 {
            candidates.select_nth_unstable(batch - 1);
            candidates.truncate(batch);
        }
        candidates.sort_unstable();
        candidates
            .into_iter()
            .take(batch)
            .filter_map(|(_, i)| self.at(i).map(|row| row.record()))
            .collect()
    }

    /// The estimate the header shows while a sweep is incomplete.
    pub fn stale_estimate(&self) -> Option<ShareEstimate> {
        self.derived.tally.stale_estimate()
    }
}

/// The order `sorted` sorts by, for two rows: the same keys, then the position.
pub(super) fn compare_rows(
    table: &Table,
    sort: SortColumn,
    now: OffsetDateTime,
    a: usize,
    b: usize,
) -> std::cmp::Ordering {
    let (x, y) = (&table.rows[a], &table.rows[b]);
    let ids = &table.ids;
    let idle = |r: &Row| r.info().and_then(|i| i.last_active_at()).map(|t| now - t);
    let outcome = |r: &Row| r.last_outcome().map(|o| o.class);
    match sort {
        SortColumn::Age => Reverse(x.connected_at()).cmp(&Reverse(y.connected_at())),
        SortColumn::User => ids.user_id(a).cmp(ids.user_id(b)),
        SortColumn::Connection => ids.connection_id(a).cmp(ids.connection_id(b)),
        SortColumn::Idle => idle(x).cmp(&idle(y)),
        SortColumn::SourceIp => x.source_ip().cmp(&y.source_ip()),
        SortColumn::State => x.state.cmp(&y.state),
        SortColumn::Outcome => outcome(x).cmp(&outcome(y)),
    }
    .then(a.cmp(&b))
}

pub(super) fn sort_depends_on_probes(sort: SortColumn) -> bool {
    matches!(
        sort,
        SortColumn::Idle | SortColumn::SourceIp | SortColumn::State | SortColumn::Outcome
    )
}

/// All rows in `sort` order (ascending; ties keep table order). Keys are extracted once, so
/// the sort compares packed values instead of chasing a million rows around the heap.
fn sorted(table: &Table, sort: SortColumn, now: OffsetDateTime) -> Vec<u32> {
    fn by_position<K: Ord>(rows: usize, key: impl Fn(usize) -> K) -> Vec<u32> {
        let mut keyed: Vec<(K, u32)> = (0..rows).map(|i| (key(i), i as u32)).collect();
        keyed.sort_unstable();
        keyed.into_iter().map(|(_, i)| i).collect()
    }
    let (rows, ids) = (&table.rows, &table.ids);
    let n = rows.len();
    match sort {
        // Age ascending = newest first.
        SortColumn::Age => by_position(n, |i| Reverse(rows[i].connected_at())),
        SortColumn::User => by_position(n, |i| ids.user_id(i)),
        SortColumn::Connection => by_position(n, |i| ids.connection_id(i)),
        SortColumn::Idle => by_position(n, |i| {
            rows[i]
                .info()
                .and_then(|info| info.last_active_at())
                .map(|t| now - t)
        }),
        // As the column reads (text order), as before addresses were kept as numbers.
        SortColumn::SourceIp => by_position(n, |i| rows[i].source_ip()),
        SortColumn::State => by_position(n, |i| rows[i].state),
        SortColumn::Outcome => by_position(n, |i| rows[i].last_outcome().map(|o| o.class)),
    }
}
