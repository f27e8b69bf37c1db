//! The connection table as data: merging a scan, applying probe answers, counting, sorting and
//! filtering. Everything here stays near-linear so a 1,000,000-record table remains usable: the
//! sorted order is cached until the rows or the sort change, the filter runs on
//! `search::SearchIndex`, and the counts in the header are kept, not recounted per frame.

use super::app::{App, ProbeCoverage, Row, SortColumn};
use super::filter::Filter;
use super::search::SearchIndex;
use crate::management::GatewayError;
use crate::model::{ConnectionInfo, ConnectionRecord, DeliveryClass};
use crate::ops::classify::{is_expired, state_of, ConnectionState};
use crate::ops::estimate::{stale_share, ShareEstimate};
use crate::store::StoreSnapshot;
use hashbrown::HashTable;
use std::cmp::Reverse;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use time::{Duration, OffsetDateTime};

/// How long a changed row stays highlighted.
pub const FLASH_FOR: Duration = Duration::milliseconds(1500);

/// Where a record falls in the probing order of never-probed records. A hash of the connection
/// id, fixed across scans, so the records probed so far are always a uniform random sample of
/// the table: what makes `stale_estimate` honest while a sweep is incomplete.
pub fn sample_rank(connection_id: &str) -> u64 {
    // Fixed keys: the order is the same in every run, which keeps tests reproducible; it is
    // unrelated to staleness, which is all the estimate needs.
    let mut hasher = std::hash::DefaultHasher::new();
    hasher.write(connection_id.as_bytes());
    hasher.finish()
}

/// Below this many records a sweep takes seconds at the default rates: no estimate, just wait.
pub const ESTIMATE_FROM_RECORDS: usize = 1_000;

/// Connection id to position in `App::rows`, without a second copy of every id; and user id to
/// the positions of the user's rows, for a change that names only the user (a table keyed by
/// user). Kept in step with the rows as they are added and removed.
#[derive(Default)]
pub struct RowIndex {
    table: HashTable<u32>,
    users: HashTable<u32>,
    hasher: std::hash::RandomState,
}

impl RowIndex {
    pub fn build(rows: &[Row]) -> Self {
        let mut index = RowIndex {
            table: HashTable::with_capacity(rows.len()),
            users: HashTable::with_capacity(rows.len()),
            hasher: Default::default(),
        };
        for i in 0..rows.len() {
            index.insert(rows, i);
        }
        index
    }

    pub fn get(&self, rows: &[Row], connection_id: &str) -> Option<usize> {
        let hash = self.hasher.hash_one(connection_id);
        self.table
            .find(hash, |&i| {
                rows.get(i as usize)
                    .is_some_and(|r| r.key() == connection_id)
            })
            .map(|&i| i as usize)
    }

    /// Every row of the user.
    pub fn rows_of_user(&self, rows: &[Row], user_id: &str) -> Vec<usize> {
        self.users
            .iter_hash(self.hasher.hash_one(user_id))
            .map(|&i| i as usize)
            .filter(|&i| rows.get(i).is_some_and(|r| r.record.user_id == user_id))
            .collect()
    }

    /// Row `i` (already in `rows`) is new.
    pub fn insert(&mut self, rows: &[Row], i: usize) {
        let hasher = &self.hasher;
        self.table
            .insert_unique(hasher.hash_one(rows[i].key()), i as u32, |&j| {
                hasher.hash_one(rows[j as usize].key())
            });
        self.users.insert_unique(
            hasher.hash_one(rows[i].record.user_id.as_str()),
            i as u32,
            |&j| hasher.hash_one(rows[j as usize].record.user_id.as_str()),
        );
    }

    /// Before `rows.swap_remove(i)`: forget row `i`, and give the last row its number.
    pub fn swap_remove(&mut self, rows: &[Row], i: usize) {
        let last = rows.len() - 1;
        self.forget(rows, i);
        if i != last {
            self.renumber(rows, last, i);
        }
    }

    fn forget(&mut self, rows: &[Row], i: usize) {
        let row = &rows[i];
        if let Ok(entry) = self
            .table
            .find_entry(self.hasher.hash_one(row.key()), |&j| j as usize == i)
        {
            entry.remove();
        }
        if let Ok(entry) = self
            .users
            .find_entry(self.hasher.hash_one(row.record.user_id.as_str()), |&j| {
                j as usize == i
            })
        {
            entry.remove();
        }
    }

    fn renumber(&mut self, rows: &[Row], from: usize, to: usize) {
        let row = &rows[from];
        if let Some(slot) = self
            .table
            .find_mut(self.hasher.hash_one(row.key()), |&j| j as usize == from)
        {
            *slot = to as u32;
        }
        if let Some(slot) = self
            .users
            .find_mut(self.hasher.hash_one(row.record.user_id.as_str()), |&j| {
                j as usize == from
            })
        {
            *slot = to as u32;
        }
    }
}

/// Counts by state and probe coverage, kept up to date as rows change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    counts: [usize; ConnectionState::ALL.len()],
    pub coverage: ProbeCoverage,
    /// Records whose last probe the gateway answered with Live or Gone: the sample behind the
    /// estimate, and how many of them are stale.
    pub answered: usize,
    pub answered_stale: usize,
}

impl Tally {
    fn of(rows: &[Row]) -> Self {
        let mut tally = Tally::default();
        for row in rows {
            tally.counts[state_slot(row.state)] += 1;
            if row.state == ConnectionState::Malformed {
                continue;
            }
            tally.coverage.probeable += 1;
            if let Some(at) = row.probed_at {
                tally.coverage.probed += 1;
                tally.coverage.oldest = Some(tally.coverage.oldest.map_or(at, |o| o.min(at)));
                tally.answered += usize::from(answered(row.state));
                tally.answered_stale += usize::from(row.state == ConnectionState::Stale);
            }
        }
        tally
    }

    pub fn count(&self, state: ConnectionState) -> usize {
        self.counts[state_slot(state)]
    }

    /// A row joins (`joins`) or leaves the table. The oldest probe answer is left to
    /// `refresh_oldest_probe`.
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
        if row.probed_at.is_some() {
            add(&mut self.coverage.probed, true);
            add(&mut self.answered, answered(row.state));
            add(
                &mut self.answered_stale,
                row.state == ConnectionState::Stale,
            );
        }
    }

    fn moved(&mut self, from: ConnectionState, to: ConnectionState) {
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
    fn probe_answered(&mut self, from: Option<ConnectionState>, to: ConnectionState) {
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

/// Everything derived from `App::rows` to keep big tables fast.
#[derive(Default)]
pub struct Derived {
    pub tally: Tally,
    search: SearchIndex,
    /// All rows in the current sort order; `None` when the rows or the sort changed since.
    order: Option<(SortColumn, Vec<usize>)>,
}

impl Derived {
    fn rows_changed(&mut self, rows: &[Row]) {
        self.tally = Tally::of(rows);
        self.search = SearchIndex::build(rows);
        self.order = None;
    }
}

/// Replace the rows with a fresh scan, keeping what is known about records still there.
pub fn merge_snapshot(app: &mut App, snapshot: StoreSnapshot) {
    let now = app.now;
    // Before the rows change: the old `visible` indexes the old rows.
    let keep = app.selected_row().map(|r| r.key().to_string());
    let old_index = std::mem::take(&mut app.table.index);
    let mut old: Vec<Option<Row>> = std::mem::take(&mut app.table.rows)
        .into_iter()
        .map(Some)
        .collect();
    let mut rows = Vec::with_capacity(snapshot.records.len() + snapshot.malformed.len());
    let mut appeared = Vec::new();
    for record in snapshot.records {
        let known = old_index
            .get_in(&old, &record.connection_id)
            .and_then(|i| old[i].take());
        let mut row = match known {
            Some(mut row) => {
                row.record = record;
                row
            }
            None => {
                appeared.push((record.user_id.clone(), record.connection_id.clone()));
                let mut row = Row::new(record);
                row.flash_until = Some(now + FLASH_FOR);
                row
            }
        };
        if row.probed_at.is_none() && is_expired(&row.record, now) {
            row.state = ConnectionState::Expired;
        }
        row.set_expires_at(snapshot.expires.get(&row.record.connection_id).copied());
        rows.push(row);
    }
    // The first read of a table is not churn.
    if app.scan.data_from.is_some() {
        let vanished = old
            .iter()
            .flatten()
            .filter(|r| r.state != ConnectionState::Malformed)
            .count();
        app.churn.record(now, appeared, vanished);
    }
    drop(old);
    for (n, malformed) in snapshot.malformed.into_iter().enumerate() {
        rows.push(malformed_row(malformed, n));
    }
    replace_rows(app, rows, keep);
}

/// Install a new set of rows and everything derived from them.
pub(super) fn replace_rows(app: &mut App, rows: Vec<Row>, keep: Option<String>) {
    app.table.rows = rows;
    app.table.index = RowIndex::build(&app.table.rows);
    app.table.derived.rows_changed(&app.table.rows);
    let (index, rows) = (&app.table.index, &app.table.rows);
    app.table.marked.retain(|id| index.get(rows, id).is_some());
    app.table.visible.clear();
    recompute_visible_keeping(app, keep);
}

/// Take rows out (positions, in any order), keeping the index, the counts, the search columns
/// and the cached sort order in step instead of rebuilding them: a batch from a followed table
/// costs one pass over the order, not a rebuild of 1,000,000 rows. Rows are removed with
/// `swap_remove`, so the last rows take the freed positions. `app.table.visible` is stale until the
/// next `recompute_visible`.
pub(super) fn take_rows(app: &mut App, mut positions: Vec<usize>) -> Vec<Row> {
    const GONE: u32 = u32::MAX;
    positions.sort_unstable();
    positions.dedup();
    let mut remap: Option<Vec<u32>> = app
        .table
        .derived
        .order
        .as_ref()
        .map(|_| (0..app.table.rows.len() as u32).collect());
    // Current position to original position, for the rows moved so far.
    let mut moved: HashMap<usize, usize> = HashMap::new();
    let mut taken = Vec::with_capacity(positions.len());
    // From the highest: a row moved into a freed position is never one still to take.
    for &i in positions.iter().rev() {
        if i >= app.table.rows.len() {
            continue;
        }
        let last = app.table.rows.len() - 1;
        if let Some(remap) = remap.as_mut() {
            remap[moved.remove(&i).unwrap_or(i)] = GONE;
        }
        app.table.index.swap_remove(&app.table.rows, i);
        app.table.derived.search.swap_remove(i);
        let row = app.table.rows.swap_remove(i);
        app.table.derived.tally.count_row(&row, false);
        if i != last {
            let original = moved.remove(&last).unwrap_or(last);
            moved.insert(i, original);
            if let Some(remap) = remap.as_mut() {
                remap[original] = i as u32;
            }
        }
        taken.push(row);
    }
    if let (Some(remap), Some((_, order))) = (remap, app.table.derived.order.as_mut()) {
        order.retain_mut(|i| match remap[*i] {
            GONE => false,
            now => {
                *i = now as usize;
                true
            }
        });
    }
    let oldest = app.table.derived.tally.coverage.oldest;
    if taken
        .iter()
        .any(|r| r.probed_at.is_some() && r.probed_at == oldest)
    {
        refresh_oldest_probe(app);
    }
    let (index, rows) = (&app.table.index, &app.table.rows);
    app.table.marked.retain(|id| index.get(rows, id).is_some());
    app.table
        .derived
        .search
        .compact_if_wasteful(&app.table.rows);
    taken
}

/// Add rows at the end, keeping everything derived in step (see `take_rows`); new rows are
/// merged into the cached sort order.
pub(super) fn add_rows(app: &mut App, new_rows: Vec<Row>) {
    let start = app.table.rows.len();
    for row in new_rows {
        app.table.rows.push(row);
        let i = app.table.rows.len() - 1;
        app.table.index.insert(&app.table.rows, i);
        app.table.derived.search.push(&app.table.rows[i]);
        app.table.derived.tally.count_row(&app.table.rows[i], true);
        if let Some(at) = app.table.rows[i].probed_at {
            let oldest = &mut app.table.derived.tally.coverage.oldest;
            *oldest = Some(oldest.map_or(at, |o| o.min(at)));
        }
    }
    if let Some((sort, order)) = app.table.derived.order.take() {
        let (rows, now) = (&app.table.rows, app.now);
        let in_order = |a: &usize, b: &usize| compare_rows(rows, sort, now, *a, *b);
        let mut added: Vec<usize> = (start..rows.len()).collect();
        added.sort_by(in_order);
        let mut merged = Vec::with_capacity(order.len() + added.len());
        let mut added = added.into_iter().peekable();
        for i in order {
            while let Some(a) = added.next_if(|a| in_order(a, &i).is_lt()) {
                merged.push(a);
            }
            merged.push(i);
        }
        merged.extend(added);
        app.table.derived.order = Some((sort, merged));
    }
}

/// The order `sorted` sorts by, for two rows: the same keys, then the position.
fn compare_rows(
    rows: &[Row],
    sort: SortColumn,
    now: OffsetDateTime,
    a: usize,
    b: usize,
) -> std::cmp::Ordering {
    let (x, y) = (&rows[a], &rows[b]);
    let idle = |r: &Row| {
        r.info
            .as_ref()
            .and_then(|i| i.last_active_at)
            .map(|t| now - t)
    };
    let outcome = |r: &Row| r.last_outcome().map(|o| o.class);
    match sort {
        SortColumn::Age => Reverse(x.record.connected_at).cmp(&Reverse(y.record.connected_at)),
        SortColumn::User => x.record.user_id.cmp(&y.record.user_id),
        SortColumn::Connection => x.record.connection_id.cmp(&y.record.connection_id),
        SortColumn::Idle => idle(x).cmp(&idle(y)),
        SortColumn::SourceIp => source_ip(&x.info).cmp(&source_ip(&y.info)),
        SortColumn::State => x.state.cmp(&y.state),
        SortColumn::Outcome => outcome(x).cmp(&outcome(y)),
    }
    .then(a.cmp(&b))
}

/// A row for an item that does not parse: shown, never dropped. `n` names it when it has no
/// connection id.
pub(super) fn malformed_row(malformed: crate::store::MalformedRecord, n: usize) -> Row {
    let id = malformed
        .connection_id
        .clone()
        .unwrap_or_else(|| format!("(malformed #{n})"));
    let mut row = Row::new(ConnectionRecord {
        user_id: malformed.user_id.clone().unwrap_or_else(|| "?".into()),
        connection_id: id,
        connected_at: OffsetDateTime::UNIX_EPOCH,
    });
    row.state = ConnectionState::Malformed;
    row.set_malformed(malformed);
    row
}

impl RowIndex {
    /// `get` over rows that may have been taken out already (during a merge).
    fn get_in(&self, rows: &[Option<Row>], connection_id: &str) -> Option<usize> {
        let hash = self.hasher.hash_one(connection_id);
        self.table
            .find(hash, |&i| {
                rows.get(i as usize)
                    .and_then(|r| r.as_ref())
                    .is_some_and(|r| r.key() == connection_id)
            })
            .map(|&i| i as usize)
    }
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

/// Apply GetConnection answers; what failed, grouped by cause (never by text).
pub fn apply_probes(app: &mut App, results: &[crate::ops::probe::ProbeResult]) -> ProbeFailures {
    let now = app.now;
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
        let Some(i) = app
            .table
            .index
            .get(&app.table.rows, &result.record.connection_id)
        else {
            continue;
        };
        let row = &mut app.table.rows[i];
        if row.state == ConnectionState::Malformed {
            continue;
        }
        let state = state_of(&result.answer);
        let tally = &mut app.table.derived.tally;
        if row.state != state {
            row.flash_until = Some(now + FLASH_FOR);
            tally.moved(row.state, state);
            order_depends_on_probes = true;
        }
        tally.probe_answered(row.probed_at.map(|_| row.state), state);
        app.table.derived.search.state_changed(i, state);
        if row.probed_at.is_none() {
            tally.coverage.probed += 1;
        }
        row.state = state;
        row.probed_at = Some(now);
        row.set_probe_error(
            result
                .answer
                .as_ref()
                .err()
                .filter(|e| e.class() != DeliveryClass::Gone)
                .map(GatewayError::to_string),
        );
        if let Ok(info) = &result.answer {
            if source_ip(&row.info) != info.source_ip.as_deref() {
                app.table.derived.search.ip_changed();
            }
            row.info = Some(info.clone());
            order_depends_on_probes = true;
        }
    }
    refresh_oldest_probe(app);
    if order_depends_on_probes && sort_depends_on_probes(app.table.sort) {
        app.table.derived.order = None;
    }
    recompute_visible(app);
    outcome.most_common = failures.into_values().max_by_key(|(_, n)| *n);
    outcome
}

fn source_ip(info: &Option<ConnectionInfo>) -> Option<&str> {
    info.as_ref().and_then(|i| i.source_ip.as_deref())
}

/// The oldest answer in use moves with every sweep: recomputed per probe batch, not per frame.
pub(super) fn refresh_oldest_probe(app: &mut App) {
    app.table.derived.tally.coverage.oldest = app
        .table
        .rows
        .iter()
        .filter(|r| r.state != ConnectionState::Malformed)
        .filter_map(|r| r.probed_at)
        .min();
}

fn sort_depends_on_probes(sort: SortColumn) -> bool {
    matches!(
        sort,
        SortColumn::Idle | SortColumn::SourceIp | SortColumn::State | SortColumn::Outcome
    )
}

/// A push or disconnect answered Gone for this row: it is stale, whatever the last probe said.
pub fn mark_stale(app: &mut App, i: usize) {
    let row = &mut app.table.rows[i];
    if row.state != ConnectionState::Stale {
        let tally = &mut app.table.derived.tally;
        tally.moved(row.state, ConnectionState::Stale);
        if row.probed_at.is_some() && row.state != ConnectionState::Malformed {
            tally.probe_answered(Some(row.state), ConnectionState::Stale);
        }
        row.state = ConnectionState::Stale;
        app.table
            .derived
            .search
            .state_changed(i, ConnectionState::Stale);
    }
}

/// The sort or the outcomes it sorts by changed: sort again on the next recompute.
pub fn resort(app: &mut App) {
    app.table.derived.order = None;
    recompute_visible(app);
}

/// Filter and sort; the selection stays on the same connection when it is still shown.
pub fn recompute_visible(app: &mut App) {
    let keep = app.selected_row().map(|r| r.key().to_string());
    recompute_visible_keeping(app, keep);
}

/// [`recompute_visible`] with the selection's connection id given (the rows may have changed).
pub fn recompute_visible_keeping(app: &mut App, keep: Option<String>) {
    let order = match app.table.derived.order.take() {
        Some((sort, order)) if sort == app.table.sort => order,
        _ => sorted(&app.table.rows, app.table.sort, app.now),
    };
    let filter = Filter::parse(&app.table.filter);
    let mut visible: Vec<usize> = if filter.is_empty() {
        order.clone()
    } else {
        let hits = app.table.derived.search.matching(&filter, &app.table.rows);
        order
            .iter()
            .copied()
            .filter(|i| hits.contains(*i))
            .collect()
    };
    app.table.derived.order = Some((app.table.sort, order));
    if app.table.sort_descending {
        visible.reverse();
    }
    app.table.visible = visible;
    let kept = keep
        .and_then(|id| app.table.index.get(&app.table.rows, &id))
        .and_then(|row| app.table.visible.iter().position(|i| *i == row));
    app.table.selected = kept
        .unwrap_or(app.table.selected)
        .min(app.table.visible.len().saturating_sub(1));
    super::update::keep_selection_visible(app);
}

/// All rows in `sort` order (ascending; ties keep table order). Keys are extracted once, so
/// the sort compares packed values instead of chasing a million rows around the heap.
fn sorted(rows: &[Row], sort: SortColumn, now: OffsetDateTime) -> Vec<usize> {
    fn by<'a, K: Ord>(rows: &'a [Row], key: impl Fn(&'a Row) -> K) -> Vec<usize> {
        let mut keyed: Vec<(K, usize)> =
            rows.iter().enumerate().map(|(i, r)| (key(r), i)).collect();
        keyed.sort_unstable();
        keyed.into_iter().map(|(_, i)| i).collect()
    }
    match sort {
        // Age ascending = newest first.
        SortColumn::Age => by(rows, |r| Reverse(r.record.connected_at)),
        SortColumn::User => by(rows, |r| r.record.user_id.as_str()),
        SortColumn::Connection => by(rows, |r| r.record.connection_id.as_str()),
        SortColumn::Idle => by(rows, |r| {
            r.info
                .as_ref()
                .and_then(|i| i.last_active_at)
                .map(|t| now - t)
        }),
        SortColumn::SourceIp => by(rows, |r| source_ip(&r.info)),
        SortColumn::State => by(rows, |r| r.state),
        SortColumn::Outcome => by(rows, |r| r.last_outcome().map(|o| o.class)),
    }
}

/// The records to probe next: never-probed ones first in their random sample order, then the
/// longest unprobed. `batch` of them, chosen in linear time.
pub fn next_to_probe(app: &App, batch: usize, everything: bool) -> Vec<ConnectionRecord> {
    let now = app.now;
    // Re-probe a record at most every few seconds; a scan every 2 s would otherwise drown the API.
    let due = |r: &Row| {
        r.probed_at
            .is_none_or(|t| everything || now - t >= Duration::seconds(5))
    };
    // (probed before, when, random rank): never-probed first, then the longest unprobed.
    type ProbeOrder = (bool, Option<OffsetDateTime>, u64);
    let mut candidates: Vec<(ProbeOrder, usize)> = app
        .table
        .rows
        .iter()
        .enumerate()
        // Old records are probed too: their age is a hint, the gateway's answer is the fact.
        .filter(|(_, r)| r.state != ConnectionState::Malformed && due(r))
        .map(|(i, r)| ((r.probed_at.is_some(), r.probed_at, r.sample_rank), i))
        .collect();
    if candidates.len() > batch && batch > 0 {
        candidates.select_nth_unstable(batch - 1);
        candidates.truncate(batch);
    }
    candidates.sort_unstable();
    candidates
        .into_iter()
        .take(batch)
        .map(|(_, i)| app.table.rows[i].record.clone())
        .collect()
}

/// The estimate the header shows while a sweep is incomplete.
pub fn stale_estimate(app: &App) -> Option<ShareEstimate> {
    app.table.derived.tally.stale_estimate()
}
