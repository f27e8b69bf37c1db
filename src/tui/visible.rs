//! The table's changes as the dashboard makes them: each keeps the selection on a screen of the
//! current layout's size (what PgUp/PgDn move by), and a scan's records appearing and vanishing
//! count as churn. A trait on `App` rather than `App`'s own methods, because the page size
//! comes from `layout`, which reads `App`: the state stays below the layout.

use crate::tui::app::App;
use crate::tui::table_rows::ProbeFailures;

pub trait OnScreen {
    /// How many table rows one screen shows.
    fn page(&self) -> usize;
    /// Replace the rows with a fresh scan, keeping what is known about records still there;
    /// records appearing and vanishing count as churn, except on the table's first read.
    fn merge_snapshot(&mut self, snapshot: crate::store::StoreSnapshot);
    /// Filter and sort again; the selection stays on its connection when it is still shown.
    fn recompute_visible(&mut self);
    /// Sort again from scratch (the sort, or what it sorts by, changed).
    fn resort(&mut self);
    /// Scroll the table so that the selected row is on screen.
    fn keep_selection_visible(&mut self);
    /// Apply GetConnection answers to the rows.
    fn apply_probes(&mut self, results: &[crate::ops::probe::ProbeResult]) -> ProbeFailures;
}

impl OnScreen for App {
    fn page(&self) -> usize {
        crate::tui::layout::table_rows(self)
    }

    fn merge_snapshot(&mut self, snapshot: crate::store::StoreSnapshot) {
        let (now, page) = (self.now, self.page());
        // The first read of a table is not churn: its records are not listed as appeared.
        let counts_churn = self.scan.data_from.is_some();
        let churned = self.table.merge_snapshot(snapshot, now, page, counts_churn);
        if counts_churn {
            self.telemetry
                .churn
                .record(now, churned.appeared, churned.vanished);
        }
    }

    fn recompute_visible(&mut self) {
        let (now, page) = (self.now, self.page());
        self.table.recompute_visible(now, page);
    }

    fn resort(&mut self) {
        let (now, page) = (self.now, self.page());
        self.table.resort(now, page);
    }

    fn keep_selection_visible(&mut self) {
        let page = self.page();
        self.table.keep_selection_visible(page);
    }

    fn apply_probes(&mut self, results: &[crate::ops::probe::ProbeResult]) -> ProbeFailures {
        let (now, page) = (self.now, self.page());
        self.table.apply_probes(results, now, page)
    }
}
