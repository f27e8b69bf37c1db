//! The connections table's state: the rows (one per record, identified by connection id,
//! never by position), the index from id to row, what is visible in which order under which
//! filter, the cursor and its scroll offset, and the marked rows. `table_rows` changes it,
//! `table_order` sorts and filters it; the table view draws it.

use crate::model::{ConnectionInfo, ConnectionRecord, DeliveryOutcome};
use crate::ops::classify::ConnectionState;
use crate::store::MalformedRecord;
use std::collections::{HashSet, VecDeque};
use time::OffsetDateTime;

#[derive(Default)]
pub struct Table {
    pub rows: Vec<Row>,
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
}

impl Table {
    pub fn selected_row(&self) -> Option<&Row> {
        self.visible
            .get(self.selected)
            .and_then(|i| self.rows.get(*i))
    }

    pub fn row(&self, connection_id: &str) -> Option<&Row> {
        self.index
            .get(&self.rows, connection_id)
            .and_then(|i| self.rows.get(i))
    }
}

pub const HISTORY_PER_CONNECTION: usize = 20;

/// One line of the connections table. A million of these can be held, so what most rows
/// never have (delivery history, probe errors, malformed items) lives behind one pointer.
#[derive(Debug, Clone)]
pub struct Row {
    pub record: ConnectionRecord,
    pub state: ConnectionState,
    pub info: Option<ConnectionInfo>,
    pub probed_at: Option<OffsetDateTime>,
    /// Highlighted until then, because it just changed.
    pub flash_until: Option<OffsetDateTime>,
    /// Where this row falls in the random probing order (see `tui::row_index::sample_rank`).
    pub sample_rank: u64,
    extra: Option<Box<RowExtra>>,
}

#[derive(Debug, Clone, Default)]
struct RowExtra {
    probe_error: Option<String>,
    /// When the store expires the record by itself (a Redis TTL), as the last scan read it.
    expires_at: Option<OffsetDateTime>,
    last_outcome: Option<DeliveryOutcome>,
    history: VecDeque<DeliveryOutcome>,
    malformed: Option<MalformedRecord>,
}

impl Row {
    pub fn new(record: ConnectionRecord) -> Self {
        Self {
            sample_rank: crate::tui::row_index::sample_rank(&record.connection_id),
            record,
            state: ConnectionState::Unprobed,
            info: None,
            probed_at: None,
            flash_until: None,
            extra: None,
        }
    }

    pub fn key(&self) -> &str {
        &self.record.connection_id
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
