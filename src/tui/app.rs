//! The dashboard's state: plain data, changed only by `update`, read by the views.

use crate::model::StatsView;
use crate::model::{ConnectionInfo, ConnectionRecord, DeliveryClass, DeliveryOutcome};
use crate::ops::classify::ConnectionState;
use crate::ops::purge::PurgePlan;
use crate::store::MalformedRecord;
use std::collections::{HashMap, HashSet, VecDeque};
use time::OffsetDateTime;
use tui_input::Input;

/// What the header says about where we are.
#[derive(Debug, Clone, Default)]
pub struct EnvironmentInfo {
    pub name: String,
    pub color: String,
    pub endpoint: String,
    pub table: String,
    pub readonly: bool,
    /// The Management API call ceiling configured for the environment (None: no ceiling).
    pub api_rate: Option<f64>,
    /// Set in the demo: where to fetch the emulator's counters and the client page.
    pub emulator_admin: Option<String>,
    /// Where the stage's access log is read (a log group, the emulator), when there is one.
    pub access_logs: Option<String>,
    /// The stage's CloudWatch metrics (`ApiId/Stage`), when the endpoint names them.
    pub metrics: Option<String>,
}

/// See [`App::probe_coverage`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProbeCoverage {
    pub probed: usize,
    pub probeable: usize,
    pub oldest: Option<OffsetDateTime>,
}

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
    /// Where this row falls in the random probing order (see `tui::rows::sample_rank`).
    pub sample_rank: u64,
    extra: Option<Box<RowExtra>>,
}

#[derive(Debug, Clone, Default)]
struct RowExtra {
    probe_error: Option<String>,
    last_outcome: Option<DeliveryOutcome>,
    history: VecDeque<DeliveryOutcome>,
    malformed: Option<MalformedRecord>,
}

impl Row {
    pub fn new(record: ConnectionRecord) -> Self {
        Self {
            sample_rank: crate::tui::rows::sample_rank(&record.connection_id),
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

/// Who a push goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushTargetKind {
    Selected,
    User,
    Marked,
    Filtered,
}

impl PushTargetKind {
    pub fn next(self) -> Self {
        match self {
            PushTargetKind::Selected => PushTargetKind::User,
            PushTargetKind::User => PushTargetKind::Marked,
            PushTargetKind::Marked => PushTargetKind::Filtered,
            PushTargetKind::Filtered => PushTargetKind::Selected,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComposerField {
    Target,
    Type,
    Payload,
}

#[derive(Debug, Clone)]
pub struct Composer {
    pub target: PushTargetKind,
    pub user: Input,
    pub message_type: usize,
    pub payload: Input,
    pub focus: ComposerField,
    /// Index into the history while recalling.
    pub recall: Option<usize>,
    /// The selected row, the marked rows and the filtered rows as they were when the composer
    /// opened: the live table may move meanwhile, the push goes to what the operator saw.
    pub shown: ShownTargets,
}

/// Targets frozen when a composer opens.
#[derive(Debug, Clone, Default)]
pub struct ShownTargets {
    pub selected: Option<crate::tui::action::PushTarget>,
    pub marked: Vec<crate::tui::action::PushTarget>,
    pub filtered: Vec<crate::tui::action::PushTarget>,
}

/// A confirmation waiting for `y`.
#[derive(Debug, Clone)]
pub enum Confirm {
    Disconnect {
        connection_ids: Vec<String>,
        delete_record: bool,
    },
    Purge(PurgePlan),
}

/// What is on top of the table.
#[derive(Debug, Clone)]
pub enum Overlay {
    None,
    Help,
    Details(Box<DetailsView>),
    Composer(Box<Composer>),
    Confirm(Confirm),
    /// Work under way (planning or executing a purge, disconnecting).
    Progress(String),
    /// A summary to read before going back.
    Summary(String, Vec<String>),
    /// `f`: reconnect storms, churn and the gateway's metrics, drawn live.
    Storm,
    /// `l`: the access log as it grows, filtered.
    Logs,
}

/// What the bottom line is being used for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prompt {
    None,
    Filter,
    Command,
    /// The logs panel's filter pattern.
    LogFilter,
}

/// Running totals of delivery outcomes.
#[derive(Debug, Clone, Default)]
pub struct OutcomePanel {
    pub counts: HashMap<DeliveryClass, u64>,
    pub recent: VecDeque<DeliveryOutcome>,
    /// Deliveries per second, newest last.
    pub per_second: VecDeque<u64>,
    pub current_second: Option<i64>,
}

pub const RECENT_OUTCOMES: usize = 50;
pub const SPARKLINE_SECONDS: usize = 60;
pub const HISTORY_PER_CONNECTION: usize = 20;

/// `Enter`: one connection, and what the view read about it.
#[derive(Debug, Clone)]
pub struct DetailsView {
    pub connection_id: String,
    /// The row as last seen in the table, and when: a flapping client's record may leave the
    /// store while the operator reads it.
    pub last_seen: Option<(Row, OffsetDateTime)>,
    /// The connection's access-log lines.
    pub log: Option<ConnectionLog>,
}

/// A connection's access-log lines, as last read (`None` while the first read runs).
#[derive(Debug, Clone)]
pub struct ConnectionLog {
    pub connection_id: String,
    pub lines: Option<Result<Vec<crate::access_logs::LogLine>, String>>,
    pub requested: OffsetDateTime,
}

/// The logs panel: the newest lines matching a filter pattern, followed as they arrive.
#[derive(Debug, Clone, Default)]
pub struct LogTail {
    /// The filter pattern the lines match ("" for all).
    pub pattern: String,
    /// Lines so far, oldest first (at most `LOG_TAIL_LINES`).
    pub lines: VecDeque<crate::access_logs::LogLine>,
    /// Why the last read failed; the lines so far stay.
    pub error: Option<String>,
    /// The next read starts here (epoch ms); None until the first read.
    pub since_ms: Option<i64>,
    pub requested: Option<OffsetDateTime>,
    pub in_flight: bool,
    /// Bumped when the pattern changes, so an answer for the old one is dropped.
    pub generation: u64,
}

pub const LOG_TAIL_LINES: usize = 1_000;

pub struct App {
    pub env: EnvironmentInfo,
    /// The rate controller as the runtime last saw it (ceiling, current rate, throttling).
    pub rate: crate::ops::pacing::RateStatus,
    pub now: OffsetDateTime,
    pub rows: Vec<Row>,
    /// Connection id to position in `rows`.
    pub index: crate::tui::rows::RowIndex,
    /// Indices into `rows`, filtered and sorted: what the table shows.
    pub visible: Vec<usize>,
    /// What keeps filtering and counting fast on big tables; derived from `rows`.
    pub derived: crate::tui::rows::Derived,
    pub selected: usize,
    pub offset: usize,
    pub marked: HashSet<String>,
    pub sort: SortColumn,
    pub sort_descending: bool,
    pub filter: String,
    pub prompt: Prompt,
    pub input: Input,
    pub overlay: Overlay,
    pub outcomes: OutcomePanel,
    pub emulator: Option<StatsView>,
    /// When the emulator's counters were last asked for.
    pub stats_requested: Option<OffsetDateTime>,
    /// Records appearing and vanishing: reconnect storms.
    pub churn: crate::tui::churn::Churn,
    /// Handshakes (accepted and refused) lately, from the access log, and when they were last
    /// asked for.
    pub handshakes: Option<Result<Vec<crate::access_logs::LogLine>, String>>,
    pub handshakes_requested: Option<OffsetDateTime>,
    /// The logs panel.
    pub log_tail: LogTail,
    /// The span the storm view's sparklines cover.
    pub metrics_window: crate::gateway_metrics::TimeWindow,
    /// The gateway's counts per minute (the demo's emulator).
    pub metrics: crate::tui::metrics::MetricHistory,
    /// The stage's CloudWatch metrics as last read (for which window), and when they were
    /// asked for.
    pub gateway_metrics: Option<(
        crate::gateway_metrics::TimeWindow,
        Result<Vec<crate::gateway_metrics::MetricSeries>, String>,
    )>,
    pub metrics_requested: Option<OffsetDateTime>,
    pub error: Option<String>,
    pub status: Option<String>,
    /// Reading the store and probing it: what runs, what it took, how fresh the data is.
    pub scan: crate::tui::scan::ScanState,
    pub sent_history: Vec<String>,
    /// The terminal's size (width, height); the layout and paging follow it.
    pub screen: (u16, u16),
    /// How far a summary or the help is scrolled.
    pub overlay_scroll: usize,
    pub client_page: Option<String>,
    pub quit: bool,
}

impl App {
    pub fn new(env: EnvironmentInfo, now: OffsetDateTime) -> Self {
        Self {
            rate: crate::ops::pacing::RateStatus {
                ceiling: env.api_rate,
                current: env.api_rate,
                ..Default::default()
            },
            env,
            now,
            rows: Vec::new(),
            index: Default::default(),
            visible: Vec::new(),
            derived: Default::default(),
            selected: 0,
            offset: 0,
            marked: HashSet::new(),
            sort: SortColumn::Age,
            sort_descending: false,
            filter: String::new(),
            prompt: Prompt::None,
            input: Input::default(),
            overlay: Overlay::None,
            outcomes: OutcomePanel::default(),
            emulator: None,
            stats_requested: None,
            churn: Default::default(),
            handshakes: None,
            handshakes_requested: None,
            log_tail: LogTail::default(),
            metrics_window: Default::default(),
            metrics: Default::default(),
            gateway_metrics: None,
            metrics_requested: None,
            error: None,
            status: None,
            scan: Default::default(),
            sent_history: Vec::new(),
            screen: (120, 40),
            overlay_scroll: 0,
            client_page: None,
            quit: false,
        }
    }

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

    pub fn count(&self, state: ConnectionState) -> usize {
        self.derived.tally.count(state)
    }

    /// How much of the table the gateway has answered for: records probed, records that can
    /// be probed (malformed ones cannot), and the oldest answer still in use.
    pub fn probe_coverage(&self) -> ProbeCoverage {
        self.derived.tally.coverage
    }

    /// GetConnection calls per second, averaged over the last five seconds.
    pub fn probe_rate(&self) -> f64 {
        let since = self.now - time::Duration::seconds(5);
        let calls: usize = self
            .scan
            .probe_calls
            .iter()
            .filter(|(t, _)| *t >= since)
            .map(|(_, n)| n)
            .sum();
        calls as f64 / 5.0
    }
}
