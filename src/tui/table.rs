//! The connections table's state: the rows (one per record, identified by connection id,
//! never by position) and their ids, the index from id to row, what is visible in which order under which
//! filter, the cursor and its scroll offset, and the marked rows. `table_rows` changes it,
//! `table_order` sorts and filters it; the table view draws it.

use crate::model::{ConnectionRecord, DeliveryOutcome};
use crate::ops::classify::ConnectionState;
use crate::store::MalformedRecord;
use crate::tui::compact::{Millis, ProbedInfo};
use crate::tui::row_ids::RowIds;
use std::collections::{HashSet, VecDeque};
use time::OffsetDateTime;

#[derive(Default)]
pub struct Table {
    pub rows: Vec<Row>,
    /// Each row's user id and connection id, in the same order as `rows`.
    pub ids: RowIds,
    /// Connection id to position in `rows`.
    pub index: crate::tui::row_index::RowIndex,
    /// Indices into `rows`, filtered and sorted: what the table shows.
    pub visible: Vec<usize>,
    /// What keeps filtering and counting fast on big tables; derived from `rows`.
    pub derived: crate::tui::table_rows::Derived,
    pub selected: usize,
    pub offset: usize,
    /// Marked rows, by connection id: they follow the record however the table moves.
    pub marked: HashSet<String>,
    pub sort: SortColumn,
    pub sort_descending: bool,
    pub filter: String,
    /// The one copy of each user agent (and odd source) the rows' probe answers share.
    pub strings: crate::tui::compact::Interner,
}

impl Table {
    /// Row `i` with its ids.
    pub fn at(&self, i: usize) -> Option<RowView<'_>> {
        let row = self.rows.get(i)?;
        Some(RowView {
            row,
            user_id: self.ids.user_id(i),
            connection_id: self.ids.connection_id(i),
        })
    }

    /// Every row with its ids, in table order.
    pub fn iter(&self) -> impl Iterator<Item = RowView<'_>> {
        (0..self.rows.len()).filter_map(|i| self.at(i))
    }

    pub fn selected_row(&self) -> Option<RowView<'_>> {
        self.visible.get(self.selected).and_then(|i| self.at(*i))
    }

    pub fn row(&self, connection_id: &str) -> Option<RowView<'_>> {
        self.index
            .get(&self.ids, connection_id)
            .and_then(|i| self.at(i))
    }
}

/// A row of the table as its views see it: the row and its ids.
#[derive(Debug, Clone, Copy)]
pub struct RowView<'a> {
    row: &'a Row,
    user_id: &'a str,
    connection_id: &'a str,
}

impl<'a> RowView<'a> {
    pub fn new(row: &'a Row, user_id: &'a str, connection_id: &'a str) -> Self {
        RowView {
            row,
            user_id,
            connection_id,
        }
    }

    pub fn user_id(&self) -> &'a str {
        self.user_id
    }

    pub fn connection_id(&self) -> &'a str {
        self.connection_id
    }

    pub fn key(&self) -> &'a str {
        self.connection_id
    }

    /// The store's record this row shows.
    pub fn record(&self) -> ConnectionRecord {
        ConnectionRecord {
            user_id: self.user_id.to_string(),
            connection_id: self.connection_id.to_string(),
            connected_at: self.row.connected_at(),
        }
    }

    /// A copy that outlives the table (the details view keeps a row that left the store).
    pub fn to_owned_row(&self) -> OwnedRow {
        OwnedRow {
            user_id: self.user_id.to_string(),
            connection_id: self.connection_id.to_string(),
            row: self.row.clone(),
        }
    }
}

impl std::ops::Deref for RowView<'_> {
    type Target = Row;
    fn deref(&self) -> &Row {
        self.row
    }
}

/// A row with its own ids: on its way into the table, or taken out of it.
#[derive(Debug, Clone)]
pub struct OwnedRow {
    pub user_id: String,
    pub connection_id: String,
    pub row: Row,
}

impl OwnedRow {
    pub fn new(record: ConnectionRecord) -> Self {
        OwnedRow {
            row: Row::new(&record.connection_id, record.connected_at),
            user_id: record.user_id,
            connection_id: record.connection_id,
        }
    }

    /// The store holds a new version of this row's record (same connection id): take its user
    /// and time, keep what the row knows besides.
    pub fn set_record(&mut self, record: ConnectionRecord) {
        self.user_id = record.user_id;
        self.row.set_connected_at(record.connected_at);
    }

    pub fn view(&self) -> RowView<'_> {
        RowView::new(&self.row, &self.user_id, &self.connection_id)
    }

    pub fn record(&self) -> ConnectionRecord {
        ConnectionRecord {
            user_id: self.user_id.clone(),
            connection_id: self.connection_id.clone(),
            connected_at: self.row.connected_at(),
        }
    }
}

pub const HISTORY_PER_CONNECTION: usize = 20;

/// One line of the connections table. A million of these can be held (DESIGN.md §6: in 250
/// MB with everything derived from them), so a row is compact: its ids live in the table's
/// columns (`tui::row_ids`), the record's time is an integer, a probe's answer has no
/// allocations of its own (see `tui::compact`), and what most rows never have (delivery
/// history, probe errors, malformed items) is behind one pointer.
#[derive(Debug, Clone)]
pub struct Row {
    /// The record's `connected_at` in nanoseconds since the epoch; `EXACT_IN_EXTRA` for times
    /// outside 1677–2262, which `extra` then holds.
    connected_ns: i64,
    pub state: ConnectionState,
    info: Option<ProbedInfo>,
    probed_at: Millis,
    /// Highlighted until then, because it just changed.
    flash_until: Millis,
    /// Where this row falls in the random probing order (see `tui::row_index::sample_rank`).
    pub sample_rank: u32,
    extra: Option<Box<RowExtra>>,
}

const EXACT_IN_EXTRA: i64 = i64::MIN;

#[derive(Debug, Clone, Default)]
struct RowExtra {
    probe_error: Option<String>,
    /// When the store expires the record by itself (a Redis TTL), as the last scan read it.
    expires_at: Option<OffsetDateTime>,
    last_outcome: Option<DeliveryOutcome>,
    history: VecDeque<DeliveryOutcome>,
    malformed: Option<MalformedRecord>,
    /// A `connected_at` that nanoseconds since the epoch cannot hold.
    connected_at: Option<OffsetDateTime>,
}

impl Row {
    /// The row of connection `connection_id`, connected at `connected_at`, not probed yet.
    pub fn new(connection_id: &str, connected_at: OffsetDateTime) -> Self {
        let mut row = Self {
            sample_rank: crate::tui::row_index::sample_rank(connection_id),
            connected_ns: EXACT_IN_EXTRA,
            state: ConnectionState::Unprobed,
            info: None,
            probed_at: Millis::NONE,
            flash_until: Millis::NONE,
            extra: None,
        };
        row.set_connected_at(connected_at);
        row
    }

    /// The record was rewritten with another time.
    pub fn set_connected_at(&mut self, connected_at: OffsetDateTime) {
        match i64::try_from(connected_at.unix_timestamp_nanos())
            .ok()
            .filter(|ns| *ns != EXACT_IN_EXTRA)
        {
            Some(ns) => {
                self.connected_ns = ns;
                if let Some(extra) = self.extra.as_mut() {
                    extra.connected_at = None;
                }
            }
            None => {
                self.connected_ns = EXACT_IN_EXTRA;
                self.extra_mut().connected_at = Some(connected_at);
            }
        }
    }

    /// The record's `connected_at`, in UTC.
    pub fn connected_at(&self) -> OffsetDateTime {
        if self.connected_ns != EXACT_IN_EXTRA {
            if let Ok(t) = OffsetDateTime::from_unix_timestamp_nanos(self.connected_ns as i128) {
                return t;
            }
        }
        self.extra
            .as_ref()
            .and_then(|e| e.connected_at)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// What the last GetConnection said, when it answered.
    pub fn info(&self) -> Option<&ProbedInfo> {
        self.info.as_ref()
    }

    pub fn set_info(&mut self, info: Option<ProbedInfo>) {
        self.info = info;
    }

    /// The source IP the last probe reported, as the gateway wrote it.
    pub fn source_ip(&self) -> Option<String> {
        self.info.as_ref().and_then(|i| i.source_ip.text())
    }

    /// When it was last probed, as the table counts it (see `tui::tally`).
    pub fn probe_mark(&self) -> Millis {
        self.probed_at
    }

    pub fn probed_at(&self) -> Option<OffsetDateTime> {
        self.probed_at.get()
    }

    pub fn set_probed_at(&mut self, at: Option<OffsetDateTime>) {
        self.probed_at = Millis::of(at);
    }

    pub fn flash_until(&self) -> Option<OffsetDateTime> {
        self.flash_until.get()
    }

    pub fn flash(&mut self, until: OffsetDateTime) {
        self.flash_until = Millis::of(Some(until));
    }

    fn extra_mut(&mut self) -> &mut RowExtra {
        self.extra.get_or_insert_with(Default::default)
    }

    /// Why the last probe failed, when it failed for another reason than Gone.
    pub fn probe_error(&self) -> Option<&str> {
        self.extra.as_ref()?.probe_error.as_deref()
    }

    pub fn set_probe_error(&mut self, error: Option<String>) {
        if error.is_some() || self.extra.is_some() {
            self.extra_mut().probe_error = error;
        }
    }

    pub fn expires_at(&self) -> Option<OffsetDateTime> {
        self.extra.as_ref()?.expires_at
    }

    pub fn set_expires_at(&mut self, at: Option<OffsetDateTime>) {
        if at.is_some() || self.extra.is_some() {
            self.extra_mut().expires_at = at;
        }
    }

    pub fn last_outcome(&self) -> Option<&DeliveryOutcome> {
        self.extra.as_ref()?.last_outcome.as_ref()
    }

    /// Delivery outcomes, newest first.
    pub fn history(&self) -> std::collections::vec_deque::Iter<'_, DeliveryOutcome> {
        static NONE: VecDeque<DeliveryOutcome> = VecDeque::new();
        self.extra.as_ref().map_or(&NONE, |e| &e.history).iter()
    }

    pub fn record_outcome(&mut self, outcome: DeliveryOutcome) {
        let extra = self.extra_mut();
        extra.history.push_front(outcome.clone());
        extra.history.truncate(HISTORY_PER_CONNECTION);
        extra.last_outcome = Some(outcome);
    }

    /// Set for malformed items: why they do not parse.
    pub fn malformed(&self) -> Option<&MalformedRecord> {
        self.extra.as_ref()?.malformed.as_ref()
    }

    pub fn set_malformed(&mut self, malformed: MalformedRecord) {
        self.extra_mut().malformed = Some(malformed);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortColumn {
    User,
    Connection,
    #[default]
    Age,
    Idle,
    SourceIp,
    State,
    Outcome,
}

impl SortColumn {
    pub const ALL: [SortColumn; 7] = [
        SortColumn::User,
        SortColumn::Connection,
        SortColumn::Age,
        SortColumn::Idle,
        SortColumn::SourceIp,
        SortColumn::State,
        SortColumn::Outcome,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SortColumn::User => "user",
            SortColumn::Connection => "connection",
            SortColumn::Age => "age",
            SortColumn::Idle => "idle",
            SortColumn::SourceIp => "ip",
            SortColumn::State => "state",
            SortColumn::Outcome => "outcome",
        }
    }

    pub fn next(self) -> SortColumn {
        let i = Self::ALL.iter().position(|c| *c == self).unwrap_or(0);
        Self::ALL[(i + 1) % Self::ALL.len()]
    }
}
