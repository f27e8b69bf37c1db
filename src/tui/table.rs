//! The connections table's state: the rows (one per record, identified by connection id,
//! never by position), the index from id to row, what is visible in which order under which
//! filter, the cursor and its scroll offset, and the marked rows. `table_rows` changes it,
//! `table_order` sorts and filters it; the table view draws it.

use crate::model::{ConnectionRecord, DeliveryOutcome};
use crate::ops::classify::ConnectionState;
use crate::store::MalformedRecord;
use crate::tui::compact::{Millis, ProbedInfo};
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
    /// The one copy of each user agent (and odd source) the rows' probe answers share.
    pub strings: crate::tui::compact::Interner,
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

/// One line of the connections table. A million of these can be held (DESIGN.md §6: in 250
/// MB with everything derived from them), so a row is compact: both ids in one allocation, the
/// record's time as an integer, a probe's answer without allocations of its own (see
/// `tui::compact`), and what most rows never have (delivery history, probe errors, malformed
/// items) behind one pointer.
#[derive(Debug, Clone)]
pub struct Row {
    /// The connection id, then the user id.
    ids: Box<str>,
    /// Where the user id starts in `ids`.
    user_from: u32,
    /// The record's `connected_at` in nanoseconds since the epoch; `EXACT_IN_EXTRA` for times
    /// outside 1677–2262, which `extra` then holds.
    connected_ns: i64,
    pub state: ConnectionState,
    info: Option<ProbedInfo>,
    probed_at: Millis,
    /// Highlighted until then, because it just changed.
    flash_until: Millis,
    /// Where this row falls in the random probing order (see `tui::row_index::sample_rank`).
    pub sample_rank: u64,
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
    pub fn new(record: ConnectionRecord) -> Self {
        let ConnectionRecord {
            user_id,
            mut connection_id,
            connected_at,
        } = record;
        let user_from = u32::try_from(connection_id.len()).unwrap_or(u32::MAX);
        connection_id.push_str(&user_id);
        let user_from_at = (user_from as usize).min(connection_id.len());
        let connected_ns = i64::try_from(connected_at.unix_timestamp_nanos())
            .ok()
            .filter(|ns| *ns != EXACT_IN_EXTRA);
        let mut row = Self {
            sample_rank: crate::tui::row_index::sample_rank(&connection_id[..user_from_at]),
            ids: connection_id.into_boxed_str(),
            user_from: user_from_at as u32,
            connected_ns: connected_ns.unwrap_or(EXACT_IN_EXTRA),
            state: ConnectionState::Unprobed,
            info: None,
            probed_at: Millis::NONE,
            flash_until: Millis::NONE,
            extra: None,
        };
        if connected_ns.is_none() {
            row.extra_mut().connected_at = Some(connected_at);
        }
        row
    }

    /// The store holds a new version of this row's record (same connection id): take its user
    /// and time, keep what the row knows besides.
    pub fn set_record(&mut self, record: ConnectionRecord) {
        if self.user_id() == record.user_id
            && self.connection_id() == record.connection_id
            && self.connected_at() == record.connected_at
        {
            return;
        }
        let mut fresh = Row::new(record);
        fresh.state = self.state;
        fresh.info = self.info.take();
        fresh.probed_at = self.probed_at;
        fresh.flash_until = self.flash_until;
        if let Some(mut extra) = self.extra.take() {
            extra.connected_at = fresh.extra.take().and_then(|e| e.connected_at);
            fresh.extra = Some(extra);
        }
        *self = fresh;
    }

    pub fn key(&self) -> &str {
        self.connection_id()
    }

    pub fn connection_id(&self) -> &str {
        &self.ids[..self.user_from as usize]
    }

    pub fn user_id(&self) -> &str {
        &self.ids[self.user_from as usize..]
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

    /// The store's record this row shows.
    pub fn record(&self) -> ConnectionRecord {
        ConnectionRecord {
            user_id: self.user_id().to_string(),
            connection_id: self.connection_id().to_string(),
            connected_at: self.connected_at(),
        }
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
