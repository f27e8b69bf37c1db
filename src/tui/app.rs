//! The dashboard's state: plain data, changed only by `update`, read by the views.

use crate::model::{DeliveryClass, DeliveryOutcome};
use crate::ops::purge::PurgePlan;
use std::collections::{HashMap, VecDeque};
use time::OffsetDateTime;
use tui_input::Input;

pub use crate::tui::table::{OwnedRow, Row, RowView, SortColumn, HISTORY_PER_CONNECTION};

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
    /// Set in the demo: the browser client page's address.
    pub client_page: Option<String>,
    /// Set when replaying a recording: the banner (the recorded time, speed, paused).
    pub replay: Option<String>,
}

/// See [`App::probe_coverage`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProbeCoverage {
    pub probed: usize,
    pub probeable: usize,
    pub oldest: Option<OffsetDateTime>,
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
    /// `o`: the orphans, the cursor on one of them by connection id (the list may change
    /// under it; `d` acts on the one shown selected).
    Orphans {
        selected: Option<String>,
    },
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
    /// Payloads sent lately, oldest first, for the composer's recall.
    pub sent_history: Vec<String>,
}

pub const RECENT_OUTCOMES: usize = 50;
pub const SPARKLINE_SECONDS: usize = 60;

/// `Enter`: one connection, and what the view read about it.
#[derive(Debug, Clone)]
pub struct DetailsView {
    pub connection_id: String,
    /// The row as last seen in the table, and when: a flapping client's record may leave the
    /// store while the operator reads it.
    pub last_seen: Option<(OwnedRow, OffsetDateTime)>,
    /// The connection's access-log lines.
    pub log: Option<ConnectionLog>,
}

/// A connection's access-log lines, as last read (`None` while the first read runs).
#[derive(Debug, Clone)]
pub struct ConnectionLog {
    pub connection_id: String,
    pub lines: Option<Result<Vec<crate::access_logs::LogLine>, crate::tui::failure::Failure>>,
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
    pub now: OffsetDateTime,
    /// The connections table: its rows, their order and filter, the cursor and the marks.
    pub table: crate::tui::table::Table,
    /// Reading the store and probing it: what runs, what it took, how fresh the data is.
    pub scan: crate::tui::scan::ScanState,
    /// The bottom line: what it is being used for, and what is typed there.
    pub prompt: PromptLine,
    pub overlay: Overlay,
    pub outcomes: OutcomePanel,
    /// Everything read beside the table: the rate controller, the emulator's counters, churn,
    /// handshakes, the stage's CloudWatch metrics.
    pub telemetry: crate::tui::telemetry::Telemetry,
    /// The logs panel.
    pub log_tail: LogTail,
    /// What went wrong and what happened last, for the status line.
    pub notice: Notice,
    pub viewport: Viewport,
    pub quit: bool,
}

/// The bottom line.
#[derive(Debug, Clone)]
pub struct PromptLine {
    pub kind: Prompt,
    pub input: Input,
}

/// The status line's two messages: the error (kept until the thing that failed works again)
/// and the last thing that happened.
#[derive(Debug, Clone, Default)]
pub struct Notice {
    pub error: Option<String>,
    pub status: Option<String>,
}

/// What of the state the screen shows: the terminal's size (the layout and paging follow it)
/// and how far a summary, the help or a panel is scrolled.
#[derive(Debug, Clone, Copy)]
pub struct Viewport {
    pub size: (u16, u16),
    pub overlay_scroll: usize,
}

impl App {
    pub fn new(env: EnvironmentInfo, now: OffsetDateTime) -> Self {
        Self {
            telemetry: crate::tui::telemetry::Telemetry::new(env.api_rate),
            env,
            now,
            table: Default::default(),
            scan: Default::default(),
            prompt: PromptLine {
                kind: Prompt::None,
                input: Input::default(),
            },
            overlay: Overlay::None,
            outcomes: OutcomePanel::default(),
            log_tail: LogTail::default(),
            notice: Notice::default(),
            viewport: Viewport {
                size: (120, 40),
                overlay_scroll: 0,
            },
            quit: false,
        }
    }

    pub fn selected_row(&self) -> Option<RowView<'_>> {
        self.table.selected_row()
    }

    pub fn row(&self, connection_id: &str) -> Option<RowView<'_>> {
        self.table.row(connection_id)
    }

    pub fn count(&self, state: crate::ops::classify::ConnectionState) -> usize {
        self.table.derived.tally.count(state)
    }

    /// How much of the table the gateway has answered for: records probed, records that can
    /// be probed (malformed ones cannot), and the oldest answer still in use.
    pub fn probe_coverage(&self) -> ProbeCoverage {
        self.table.derived.tally.coverage
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
