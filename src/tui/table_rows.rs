//! Changing the connections table: merging a scan, applying a followed table's changes row by
//! row, applying probe answers, marking rows stale. Everything here stays near-linear so a
//! 1,000,000-record table remains usable: the index, the counts, the search columns and the
//! cached sort order are kept in step instead of rebuilt where a change touches a few rows.

use super::compact::ProbedInfo;
use super::row_ids::RowIds;
use super::row_index::RowIndex;
use super::search::{BitSet, SearchIndex};
use super::table::{OwnedRow, Row, SortColumn, Table};
use super::tally::Tally;
use crate::management::GatewayError;
use crate::model::{ConnectionRecord, DeliveryClass};
use crate::ops::classify::{is_expired, state_of, ConnectionState};
use crate::store::StoreSnapshot;
use std::collections::HashMap;
use time::{Duration, OffsetDateTime};

/// How long a changed row stays highlighted.
pub const FLASH_FOR: Duration = Duration::milliseconds(1500);

/// Everything derived from `Table::rows` to keep big tables fast.
#[derive(Default)]
pub struct Derived {
    pub tally: Tally,
    pub(super) search: SearchIndex,
    /// All rows (by position) in the current sort order; `None` when the rows or the sort
    /// changed since. `u32`: half the memory and half the bytes every pass over it reads.
    pub(super) order: Option<(SortColumn, Vec<u32>)>,
    /// The order's previous buffer, reused by the next merge.
    pub(super) spare_order: Vec<u32>,
}

impl Derived {
    fn rows_changed(&mut self, rows: &[Row]) {
        self.tally = Tally::of(rows);
        self.search = SearchIndex::build(rows);
        self.order = None;
    }
}

/// The records a scan brought that the table did not hold, and how many it held that the scan
/// no longer has: what the churn view counts.
#[derive(Debug, Default)]
pub struct Churned {
    pub appeared: Vec<(String, String)>,
    pub vanished: usize,
}

/// What a batch of probes said beyond each row's state.
#[derive(Debug, Default)]
pub struct ProbeFailures {
    /// Calls the gateway refused (403) or that could not be signed: they say nothing about the
    /// connections, so the rows keep their state and the refusal is said once instead.
    pub refused: Option<GatewayError>,
    /// The most common other failure (Gone aside), grouped by cause, and how many.
    pub most_common: Option<(GatewayError, usize)>,
    /// How many calls were answered (live or Gone).
    pub answered: usize,
}

impl Table {
    /// Replace the rows with a fresh scan, keeping what is known about records still there.
    /// The records that appeared are listed only when `list_appeared` (a million of them on a
    /// first read would be a copy of every id, for nothing).
    pub fn merge_snapshot(
        &mut self,
        snapshot: StoreSnapshot,
        now: OffsetDateTime,
        page: usize,
        list_appeared: bool,
    ) -> Churned {
        // Before the rows change: the old `visible` indexes the old rows.
        let keep = self.selected_row().map(|r| r.key().to_string());
        let old_index = std::mem::take(&mut self.index);
        let old_ids = std::mem::take(&mut self.ids);
        let mut old: Vec<Option<Row>> = std::mem::take(&mut self.rows)
            .into_iter()
            .map(Some)
            .collect();
        let size = snapshot.records.len() + snapshot.malformed.len();
        let mut rows = Vec::with_capacity(size);
        let mut ids = RowIds::with_capacity(size);
        let mut appeared = Vec::new();
        for record in snapshot.records {
            let known = old_index
                .get(&old_ids, &record.connection_id)
                .and_then(|i| old[i].take());
            let mut row = match known {
                Some(mut row) => {
                    row.set_connected_at(record.connected_at);
                    row
                }
                None => {
                    if list_appeared {
                        appeared.push((record.user_id.clone(), record.connection_id.clone()));
                    }
                    let mut row = Row::new(&record.connection_id, record.connected_at);
                    row.flash(now + FLASH_FOR);
                    row
                }
            };
            if row.probed_at().is_none() && is_expired(row.connected_at(), now) {
                row.state = ConnectionState::Expired;
            }
            row.set_expires_at(snapshot.expires.get(&record.connection_id).copied());
            ids.push(&record.user_id, &record.connection_id);
            rows.push(row);
        }
        let vanished = old
            .iter()
            .flatten()
            .filter(|r| r.state != ConnectionState::Malformed)
            .count();
        drop((old, old_ids, old_index));
        for (n, malformed) in snapshot.malformed.into_iter().enumerate() {
            let owned = malformed_row(malformed, n);
            ids.push(&owned.user_id, &owned.connection_id);
            rows.push(owned.row);
        }
        self.replace_rows(rows, ids, keep, now, page);
        Churned { appeared, vanished }
    }

    /// Install a new set of rows and everything derived from them.
    pub(super) fn replace_rows(
        &mut self,
        rows: Vec<Row>,
        ids: RowIds,
        keep: Option<String>,
        now: OffsetDateTime,
        page: usize,
    ) {
        self.rows = rows;
        self.ids = ids;
        self.strings.let_go_unused();
        self.index = RowIndex::build(&self.ids);
        self.derived.rows_changed(&self.rows);
        let (index, ids) = (&self.index, &self.ids);
        self.marked.retain(|id| index.get(ids, id).is_some());
        self.visible.clear();
        self.recompute_visible_keeping(keep, now, page);
        crate::tui::memory::release_after_reload(self.rows.len());
    }

    /// Take rows out (positions, in any order), keeping the index, the counts, the search columns
    /// and the cached sort order in step instead of rebuilding them: a batch from a followed table
    /// costs one pass over the order, not a rebuild of 1,000,000 rows. Rows are removed with
    /// `swap_remove`, so the last rows take the freed positions. `self.visible` is stale until the
    /// next `recompute_visible`.
    pub(super) fn take_rows(&mut self, mut positions: Vec<usize>) -> Vec<OwnedRow> {
        const GONE: u32 = u32::MAX;
        positions.sort_unstable();
        positions.dedup();
        // Original position to where it is now (`GONE` when taken), for the rows that moved or
        // went; every other row keeps its position.
        let mut renumbered: HashMap<u32, u32> = HashMap::new();
        // Current position to original position, for the rows moved so far.
        let mut moved: HashMap<usize, usize> = HashMap::new();
        let mut taken = Vec::with_capacity(positions.len());
        // From the highest: a row moved into a freed position is never one still to take.
        for &i in positions.iter().rev() {
            if i >= self.rows.len() {
                continue;
            }
            let last = self.rows.len() - 1;
            renumbered.insert(moved.remove(&i).unwrap_or(i) as u32, GONE);
            self.index.swap_remove(&self.ids, i);
            self.derived.search.swap_remove(i);
            let (user_id, connection_id) = (
                self.ids.user_id(i).to_string(),
                self.ids.connection_id(i).to_string(),
            );
            self.ids.swap_remove(i);
            let row = self.rows.swap_remove(i);
            self.derived.tally.count_row(&row, false);
            if i != last {
                let original = moved.remove(&last).unwrap_or(last);
                moved.insert(i, original);
                renumbered.insert(original as u32, i as u32);
            }
            taken.push(OwnedRow {
                user_id,
                connection_id,
                row,
            });
        }
        if let Some((_, order)) = self.derived.order.as_mut() {
            // One pass over the order; only the few affected positions (flagged in a bitset
            // that stays in cache) are looked up.
            let mut affected = BitSet::new(self.rows.len() + taken.len());
            for &original in renumbered.keys() {
                affected.set(original as usize);
            }
            order.retain_mut(|i| {
                if !affected.contains(*i as usize) {
                    return true;
                }
                match renumbered.get(i) {
                    Some(&GONE) => false,
                    Some(&now) => {
                        *i = now;
                        true
                    }
                    None => true,
                }
            });
        }
        let (index, ids) = (&self.index, &self.ids);
        self.marked.retain(|id| index.get(ids, id).is_some());
        let compacted = self.derived.search.compact_if_wasteful(&self.rows);
        if self.ids.compact_if_wasteful() || compacted {
            crate::tui::memory::release_after_reload(self.rows.len());
        }
        taken
    }

    /// Add rows at the end, keeping everything derived in step (see `take_rows`); new rows are
    /// merged into the cached sort order.
    pub(super) fn add_rows(&mut self, new_rows: Vec<OwnedRow>, now: OffsetDateTime) {
        let start = self.rows.len();
        for OwnedRow {
            user_id,
            connection_id,
            row,
        } in new_rows
        {
            self.rows.push(row);
            self.ids.push(&user_id, &connection_id);
            let i = self.rows.len() - 1;
            self.index.insert(&self.ids, i);
            self.derived.search.push(&self.rows[i]);
            self.derived.tally.count_row(&self.rows[i], true);
        }
        if let Some((sort, order)) = self.derived.order.take() {
            let mut merged = std::mem::take(&mut self.derived.spare_order);
            let table = &*self;
            let in_order = |a: u32, b: u32| {
                super::table_order::compare_rows(table, sort, now, a as usize, b as usize)
            };
            let mut added: Vec<u32> = (start as u32..table.rows.len() as u32).collect();
            added.sort_by(|a, b| in_order(*a, *b));
            // Each new row's place by binary search, then the order copied once around them,
            // into the buffer the last merge left behind.
            merged.clear();
            merged.reserve(order.len() + added.len());
            let mut copied = 0;
            for a in added {
                let at = copied + order[copied..].partition_point(|&i| in_order(i, a).is_lt());
                merged.extend_from_slice(&order[copied..at]);
                merged.push(a);
                copied = at;
            }
            merged.extend_from_slice(&order[copied..]);
            self.derived.order = Some((sort, merged));
            self.derived.spare_order = order;
        }
    }

    /// Apply GetConnection answers; what failed, grouped by cause (never by text).
    pub fn apply_probes(
        &mut self,
        results: &[crate::ops::probe::ProbeResult],
        now: OffsetDateTime,
        page: usize,
    ) -> ProbeFailures {
        let mut failures: HashMap<&'static str, (GatewayError, usize)> = HashMap::new();
        let mut outcome = ProbeFailures::default();
        let mut order_depends_on_probes = false;
        for result in results {
            match &result.answer {
                Err(e @ (GatewayError::Forbidden(_) | GatewayError::Credentials(_))) => {
                    outcome.refused = Some(e.clone());
                    continue;
                }
                Err(e) if e.class() != DeliveryClass::Gone => {
                    failures
                        .entry(e.cause())
                        .or_insert_with(|| (e.clone(), 0))
                        .1 += 1;
                }
                _ => outcome.answered += 1,
            }
            let Some(i) = self.index.get(&self.ids, &result.record.connection_id) else {
                continue;
            };
            let row = &mut self.rows[i];
            if row.state == ConnectionState::Malformed {
                continue;
            }
            let state = state_of(&result.answer);
            let tally = &mut self.derived.tally;
            if row.state != state {
                row.flash(now + FLASH_FOR);
                tally.moved(row.state, state);
                order_depends_on_probes = true;
            }
            tally.probe_answered(row.probed_at().map(|_| row.state), state);
            self.derived.search.state_changed(i, state);
            let before = row.probe_mark();
            if !before.is_some() {
                tally.coverage.probed += 1;
            }
            row.state = state;
            row.set_probed_at(Some(now));
            tally.probed_again(before, row.probe_mark());
            row.set_probe_error(
                result
                    .answer
                    .as_ref()
                    .err()
                    .filter(|e| e.class() != DeliveryClass::Gone)
                    .map(GatewayError::to_string),
            );
            if let Ok(info) = &result.answer {
                let probed = ProbedInfo::new(info, &mut self.strings);
                if row.info().map(|i| &i.source_ip) != Some(&probed.source_ip) {
                    let ip = probed.source_ip.text().unwrap_or_default();
                    self.derived.search.ip_changed(i, &ip);
                }
                row.set_info(Some(probed));
                order_depends_on_probes = true;
            }
        }
        if self.derived.search.compact_if_wasteful(&self.rows) {
            crate::tui::memory::release_after_reload(self.rows.len());
        }
        if order_depends_on_probes && super::table_order::sort_depends_on_probes(self.sort) {
            self.derived.order = None;
        }
        self.recompute_visible(now, page);
        outcome.most_common = failures.into_values().max_by_key(|(_, n)| *n);
        outcome
    }

    /// A push or disconnect answered Gone for this row: it is stale, whatever the last probe said.
    pub fn mark_stale(&mut self, i: usize) {
        let row = &mut self.rows[i];
        if row.state != ConnectionState::Stale {
            let tally = &mut self.derived.tally;
            tally.moved(row.state, ConnectionState::Stale);
            if row.probed_at().is_some() && row.state != ConnectionState::Malformed {
                tally.probe_answered(Some(row.state), ConnectionState::Stale);
            }
            row.state = ConnectionState::Stale;
            self.derived.search.state_changed(i, ConnectionState::Stale);
        }
    }
}

/// A row for an item that does not parse: shown, never dropped. `n` names it when it has no
/// connection id.
pub(super) fn malformed_row(malformed: crate::store::MalformedRecord, n: usize) -> OwnedRow {
    let id = malformed
        .connection_id
        .clone()
        .unwrap_or_else(|| format!("(malformed #{n})"));
    let mut owned = OwnedRow::new(ConnectionRecord {
        user_id: malformed.user_id.clone().unwrap_or_else(|| "?".into()),
        connection_id: id,
        connected_at: OffsetDateTime::UNIX_EPOCH,
    });
    owned.row.state = ConnectionState::Malformed;
    owned.row.set_malformed(malformed);
    owned
}
