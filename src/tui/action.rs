//! Everything that can happen to the dashboard: keys turned into intents, and results of work.

use super::failure::Failure;
use crate::model::StatsView;
use crate::model::{ConnectionRecord, DeliveryOutcome};
use crate::ops::disconnect::DisconnectOutcome;
use crate::ops::probe::ProbeResult;
use crate::ops::purge::{PurgePlan, PurgeReport};
use crate::store::StoreSnapshot;
use crossterm::event::KeyEvent;
use time::OffsetDateTime;

#[derive(Debug, Clone)]
pub enum Action {
    // Navigation and view.
    Quit,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    ToggleMark,
    OpenDetails,
    Back,
    ToggleHelp,
    /// The reconnect-storm view.
    ShowFlapping,
    /// The storm view's sparklines: 1 h, 3 h, 24 h, and round again.
    CycleMetricsWindow,
    /// The logs panel.
    ShowLogs,
    /// `o`: the connections the gateway holds that the store lost.
    ShowOrphans,
    /// `d` in the orphans view: close the selected orphan (after a confirmation).
    DisconnectOrphan,
    /// Edit the logs panel's filter pattern.
    StartLogFilter,
    CycleSort,
    ReverseSort,
    RefreshNow,
    StartFilter,
    StartCommand,
    /// A key typed into the filter or command line.
    PromptKey(KeyEvent),
    SubmitPrompt,
    // Mutations (each refused in read-only mode).
    OpenComposer,
    OpenDisconnect,
    OpenPurge,
    /// A key for the push composer.
    ComposerKey(KeyEvent),
    Confirm,
    ToggleDeleteRecord,
    /// Scroll the summary or help on screen by this many rows (clamped when drawn).
    ScrollOverlay(isize),
    // Time and results of background work.
    Tick(OffsetDateTime),
    /// The rate controller's state, sent by the runtime with each tick.
    RateObserved(crate::ops::pacing::RateStatus),
    /// The terminal's new size: width, height.
    Resize(u16, u16),
    /// A click on the screen's row `y`: selects the table row drawn there.
    ClickRow(u16),
    /// `y` / `Y`: the selected connection id (or the row as JSON) to the terminal's clipboard.
    Copy {
        as_json: bool,
    },
    /// The dashboard is drawn; its data sources are being opened.
    Starting,
    /// The data sources are open (the environment as they describe it).
    SourcesReady(super::app::EnvironmentInfo),
    Scanned(Result<StoreSnapshot, Failure>),
    /// The store's change feed is open (where from): changes from now on will follow.
    FeedOpened(String),
    /// Changes from the feed, oldest first; empty means "nothing changed until now".
    StoreChanged(Vec<crate::store::changes::StoreChange>),
    /// The feed failed or could not open: back to paced scans.
    FeedLost(Failure),
    Probed(Vec<ProbeResult>),
    Delivered(DeliveryOutcome),
    PushFinished(usize),
    Disconnected(Vec<DisconnectOutcome>),
    PurgePlanned(PurgePlan),
    Purged(PurgeReport),
    EmulatorStats(Result<StatsView, Failure>),
    /// The stage's metrics over a window (for `f`).
    GatewayMetrics(
        crate::gateway_metrics::TimeWindow,
        Result<Vec<crate::gateway_metrics::MetricSeries>, Failure>,
    ),
    /// Handshakes from the access log (for `f` and the details view).
    Handshakes(Result<Vec<crate::access_logs::LogLine>, Failure>),
    /// New lines for the logs panel, for the pattern of `generation`.
    LogTail {
        generation: u64,
        result: Result<Vec<crate::access_logs::LogLine>, Failure>,
    },
    /// A connection's access-log lines, for the details view.
    AccessLogs {
        connection_id: String,
        result: Result<Vec<crate::access_logs::LogLine>, Failure>,
    },
    /// The access log's CONNECT and DISCONNECT lines of the last two hours, for the orphan
    /// search (compared with the table the dashboard already holds, not a second scan).
    SessionsRead(Result<Vec<crate::access_logs::LogLine>, Failure>),
    /// The orphans the last search found.
    OrphansFound(Result<Vec<crate::ops::orphans::Orphan>, Failure>),
    /// A purge could not be planned at all (the scan under it failed).
    PurgePlanFailed(Failure),
    DoctorDone(Result<Vec<crate::doctor::Check>, Failure>),
    /// The dashboard now shows another environment.
    EnvironmentSwitched(super::app::EnvironmentInfo),
    EnvironmentSwitchFailed(Failure),
}

/// Work for the runtime: each effect runs as a task and reports back with an [`Action`].
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Scan,
    /// Look for orphans: read the access log's sessions of the last two hours.
    FindOrphans,
    /// Confirm these open sessions the table does not hold: each looked up in the store once
    /// more, then asked of the gateway.
    ConfirmOrphans(Vec<crate::ops::orphans::Opened>),
    Probe(Vec<ConnectionRecord>),
    Push {
        targets: Vec<PushTarget>,
        payload: String,
    },
    Disconnect {
        connection_ids: Vec<String>,
        delete_record: bool,
    },
    PlanPurge,
    ExecutePurge(Box<PurgePlanRef>),
    FetchEmulatorStats,
    /// Read this connection's access-log lines.
    FetchAccessLogs(String),
    /// Read the handshakes of the last few minutes.
    FetchHandshakes,
    /// Read the logs panel's next lines.
    TailLogs {
        pattern: String,
        since_ms: i64,
        generation: u64,
    },
    /// Read the stage's CloudWatch metrics over a window.
    FetchMetrics(crate::gateway_metrics::TimeWindow),
    Doctor,
    SwitchEnvironment(String),
    /// `:rate N`: the new ceiling (None: unlimited).
    SetRate(Option<f64>),
    /// Put this text on the terminal's clipboard (OSC 52), as the event loop writes to it.
    CopyToClipboard(String),
}

pub use crate::ops::push::PushTarget;

/// Plans compare by identity of their content for effect tests.
#[derive(Debug, Clone)]
pub struct PurgePlanRef(pub PurgePlan);

impl PartialEq for PurgePlanRef {
    fn eq(&self, other: &Self) -> bool {
        self.0.made_at == other.0.made_at && self.0.stale.len() == other.0.stale.len()
    }
}
