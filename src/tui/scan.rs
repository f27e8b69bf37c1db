//! The dashboard's reading of the store and probing of the gateway: whether a scan or a probe
//! batch is running, what the last scan took, how fresh the data on screen is, the change feed
//! it follows instead of scanning, and whether the gateway refuses probes. `update` changes it;
//! the header reads it.

use std::collections::VecDeque;
use time::OffsetDateTime;

#[derive(Debug, Default)]
pub struct ScanState {
    pub last_refresh: Option<OffsetDateTime>,
    pub scanning: bool,
    pub scan_started: Option<OffsetDateTime>,
    pub last_scan_took: Option<time::Duration>,
    pub probing: bool,
    /// The gateway refuses GetConnection (IAM, credentials): what was said, and when last tried.
    pub probes_refused: Option<(String, OffsetDateTime)>,
    /// Probe calls made, by when: the header's probes/s.
    pub probe_calls: VecDeque<(OffsetDateTime, usize)>,
    /// When the data on screen was read: the last scan that succeeded.
    pub data_from: Option<OffsetDateTime>,
    /// The last scan failed: the table shows older data.
    pub scan_failing: bool,
    /// Followed through the store's change feed (where the changes come from): no paced scans.
    pub following: Option<String>,
    /// Changes that arrived while a scan was reading; applied again on top of its result, which
    /// may have read those items before they changed.
    pub changes_during_scan: Vec<crate::store::changes::StoreChange>,
    /// A scan must start again once the one reading now is done (the feed opened meanwhile).
    pub rescan: bool,
}
