//! What the dashboard reads beside the connections table: the rate controller's state, the
//! demo emulator's counters, records appearing and vanishing, the access log's handshakes and
//! the stage's CloudWatch metrics, each with when it was last asked for.

use crate::access_logs::LogLine;
use crate::gateway_metrics::{MetricSeries, TimeWindow};
use crate::model::StatsView;
use crate::ops::churn::Churn;
use crate::ops::pacing::RateStatus;
use crate::tui::metrics::MetricHistory;
use time::OffsetDateTime;

/// How far back handshakes count: as far as a user's flapping does.
pub const HANDSHAKES_WINDOW: time::Duration = crate::ops::churn::FLAP_WINDOW;

#[derive(Debug, Default)]
pub struct Telemetry {
    /// The rate controller as the runtime last saw it (ceiling, current rate, throttling).
    pub rate: RateStatus,
    /// The demo emulator's counters as last read, and when they were asked for.
    pub emulator_stats: Option<StatsView>,
    pub emulator_stats_requested: Option<OffsetDateTime>,
    /// The emulator's counts per minute, built from its counters (the storm view's sparklines).
    pub emulator_minutes: MetricHistory,
    /// Records appearing and vanishing: reconnect storms.
    pub churn: Churn,
    /// Handshakes (accepted and refused) lately, from the access log, and when they were last
    /// asked for.
    pub handshakes: Option<Result<Vec<LogLine>, crate::tui::failure::Failure>>,
    pub handshakes_requested: Option<OffsetDateTime>,
    /// The span the storm view's sparklines cover.
    pub storm_window: TimeWindow,
    /// The stage's CloudWatch metrics as last read (for which window), and when they were
    /// asked for.
    pub cloudwatch: Option<(
        TimeWindow,
        Result<Vec<MetricSeries>, crate::tui::failure::Failure>,
    )>,
    pub cloudwatch_requested: Option<OffsetDateTime>,
    /// Connections the gateway holds that the store lost, as the last search found them, and
    /// when a search was last asked for.
    pub orphans: Option<Result<Vec<crate::ops::orphans::Orphan>, crate::tui::failure::Failure>>,
    pub orphans_requested: Option<OffsetDateTime>,
}

impl Telemetry {
    /// Before the rate controller has said anything, it runs at the configured ceiling.
    pub fn new(api_rate: Option<f64>) -> Self {
        Self {
            rate: RateStatus {
                ceiling: api_rate,
                current: api_rate,
                ..Default::default()
            },
            ..Default::default()
        }
    }
}
