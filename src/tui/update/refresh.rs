//! Keeping the table current: ticks, scans, the store's change feed, probes, the rate, the
//! emulator's counters, and switching environments.

use super::super::action::Effect;
use super::super::app::*;
use crate::model::StatsView;
use crate::ops::pacing::RateStatus;
use crate::ops::probe::ProbeResult;
use crate::store::changes::StoreChange;
use crate::store::StoreSnapshot;
use crate::tui::failure::Failure;
use crate::tui::visible::OnScreen;
use time::Duration;

/// How often the stage's CloudWatch metrics are read (they are per minute anyway).
const METRICS_EVERY: Duration = Duration::seconds(60);
/// How often orphans are looked for (two hours of CONNECT and DISCONNECT lines each time).
const ORPHANS_EVERY: Duration = Duration::seconds(20);
/// How often handshakes are read from the access log.
const HANDSHAKES_EVERY: Duration = Duration::seconds(10);

/// How often an open details view reads its connection's access log again.
const CONNECTION_LOG_EVERY: Duration = Duration::seconds(5);

/// Read `connection_id`'s access-log lines, when the environment has an access log.
pub(super) fn request_connection_log(app: &mut App, connection_id: String) -> Vec<Effect> {
    if app.env.access_logs.is_none() {
        return vec![];
    }
    let now = app.now;
    let Overlay::Details(view) = &mut app.overlay else {
        return vec![];
    };
    // Lines already read stay on screen until the new read answers.
    let lines = match view.log.take() {
        Some(log) if log.connection_id == connection_id => log.lines,
        _ => None,
    };
    view.log = Some(ConnectionLog {
        connection_id: connection_id.clone(),
        lines,
        requested: now,
    });
    vec![Effect::FetchAccessLogs(connection_id)]
}

pub(super) fn access_logs(
    app: &mut App,
    connection_id: String,
    result: Result<Vec<crate::access_logs::LogLine>, crate::tui::failure::Failure>,
) -> Vec<Effect> {
    // A late answer for a view that was closed, or that shows another connection, is dropped.
    if let Overlay::Details(view) = &mut app.overlay {
        if let Some(log) = &mut view.log {
            if log.connection_id == connection_id {
                log.lines = Some(result);
            }
        }
    }
    vec![]
}

/// How often the table is re-read from the store, at the most.
pub const SCAN_EVERY: Duration = Duration::seconds(2);
/// A full scan is repeated no sooner than this many times its own duration, so a big table is
/// not scanned back to back (each scan costs read capacity on a production table).
const SCAN_COST_FACTOR: i32 = 10;

/// The pause between scans: 2 s for small tables, longer when scans are slow.
pub fn scan_interval(app: &App) -> Duration {
    app.scan
        .last_scan_took
        .map(|took| (took * SCAN_COST_FACTOR).max(SCAN_EVERY))
        .unwrap_or(SCAN_EVERY)
}
pub(super) fn on_tick(app: &mut App, now: time::OffsetDateTime) -> Vec<Effect> {
    app.now = now;
    let second = now.unix_timestamp();
    if app.outcomes.current_second != Some(second) {
        let gap = app
            .outcomes
            .current_second
            .map(|s| (second - s).clamp(1, SPARKLINE_SECONDS as i64))
            .unwrap_or(1);
        for _ in 0..gap {
            app.outcomes.per_second.push_back(0);
        }
        while app.outcomes.per_second.len() > SPARKLINE_SECONDS {
            app.outcomes.per_second.pop_front();
        }
        app.outcomes.current_second = Some(second);
    }
    while app
        .scan
        .probe_calls
        .front()
        .is_some_and(|(t, _)| now - *t > Duration::seconds(5))
    {
        app.scan.probe_calls.pop_front();
    }
    let mut effects = Vec::new();
    // While the feed is followed, the table is read in full only on request (`r`).
    let scan_due = match app.scan.last_refresh {
        None => true,
        Some(t) => app.scan.following.is_none() && now - t >= scan_interval(app),
    };
    if scan_due {
        effects.extend(request_scan(app));
    }
    if app.env.emulator_admin.is_some()
        && app
            .telemetry
            .emulator_stats_requested
            .is_none_or(|t| now - t >= SCAN_EVERY)
    {
        app.telemetry.emulator_stats_requested = Some(now);
        effects.push(Effect::FetchEmulatorStats);
    }
    if app.env.metrics.is_some()
        && app
            .telemetry
            .cloudwatch_requested
            .is_none_or(|t| now - t >= METRICS_EVERY)
    {
        app.telemetry.cloudwatch_requested = Some(now);
        effects.push(Effect::FetchMetrics(app.telemetry.storm_window));
    }
    if app.env.access_logs.is_some()
        && app
            .telemetry
            .handshakes_requested
            .is_none_or(|t| now - t >= HANDSHAKES_EVERY)
    {
        app.telemetry.handshakes_requested = Some(now);
        effects.push(Effect::FetchHandshakes);
    }
    // Once the table has been read: the search compares the access log with it.
    if app.env.access_logs.is_some()
        && app.scan.data_from.is_some()
        && app
            .telemetry
            .orphans_requested
            .is_none_or(|t| now - t >= ORPHANS_EVERY)
    {
        app.telemetry.orphans_requested = Some(now);
        effects.push(Effect::FindOrphans);
    }
    effects.extend(super::logs::tail_if_due(app));
    let shown = match &app.overlay {
        Overlay::Details(view) => Some(view.connection_id.clone()),
        _ => None,
    };
    if let Some(id) = shown {
        let row = app.row(&id).map(|row| row.to_owned_row());
        if let Overlay::Details(view) = &mut app.overlay {
            if let Some(row) = row {
                view.last_seen = Some((row, now));
            }
            let due = view
                .log
                .as_ref()
                .is_none_or(|log| now - log.requested >= CONNECTION_LOG_EVERY);
            if due {
                effects.extend(request_connection_log(app, id));
            }
        }
    }
    effects.extend(request_probe(app, false));
    effects
}

fn request_scan(app: &mut App) -> Vec<Effect> {
    if app.scan.scanning {
        return vec![];
    }
    app.scan.scanning = true;
    app.scan.scan_started = Some(app.now);
    app.scan.changes_during_scan.clear();
    vec![Effect::Scan]
}

/// While GetConnection is refused, how often one probe checks whether it still is.
const PROBES_REFUSED_RETRY: time::Duration = time::Duration::minutes(1);

/// The one line that replaces a table of unknowns when the gateway refuses GetConnection.
fn probes_refused_message(refused: &crate::management::GatewayError) -> String {
    use crate::management::DenialCause;
    match refused.denial() {
        Some(denial) if denial.cause == DenialCause::IamDenied => format!(
            "GetConnection denied by IAM: probes are off (stale detection and purge need them); pushes still work. Fix: {}",
            denial.fix()
        ),
        _ => format!("probes are off: {refused}; rows keep their last state, retried every minute"),
    }
}

/// Probe the next batch: never-probed records first, in random order so the answers so far are
/// a fair sample of the table (see `Table::next_to_probe`), then the longest unprobed.
fn request_probe(app: &mut App, everything: bool) -> Vec<Effect> {
    if app.scan.probing || app.table.rows.is_empty() {
        return vec![];
    }
    // While the gateway refuses GetConnection, one probe a minute tells when it is fixed.
    let refused = app.scan.probes_refused.as_ref().map(|(_, at)| *at);
    if refused.is_some_and(|at| app.now - at < PROBES_REFUSED_RETRY) {
        return vec![];
    }
    // About two seconds of calls at the current rate: a batch never outlives a scan by much.
    let batch = match refused {
        Some(_) => 1,
        None => (app.telemetry.rate.current.unwrap_or(1000.0).max(1.0) as usize * 2).clamp(1, 5000),
    };
    let records = app.table.next_to_probe(app.now, batch, everything);
    if records.is_empty() {
        return vec![];
    }
    app.scan.probing = true;
    vec![Effect::Probe(records)]
}
pub(super) fn refresh_now(app: &mut App) -> Vec<Effect> {
    app.scan.last_refresh = None;
    let mut effects = request_scan(app);
    effects.extend(request_probe(app, true));
    effects
}

pub(super) fn scanned(
    app: &mut App,
    result: Result<StoreSnapshot, crate::tui::failure::Failure>,
) -> Vec<Effect> {
    app.scan.scanning = false;
    app.scan.last_scan_took = app
        .scan
        .scan_started
        .take()
        .map(|started| app.now - started);
    match result {
        Ok(snapshot) => {
            app.merge_snapshot(snapshot);
            // The scan may have read an item before a change the feed already reported.
            let replay = std::mem::take(&mut app.scan.changes_during_scan);
            crate::tui::feed::apply_changes(app, &replay);
            app.scan.last_refresh = Some(app.now);
            app.scan.data_from = Some(app.now);
            app.scan.scan_failing = false;
            app.notice.error = None;
            let mut effects = Vec::new();
            if std::mem::take(&mut app.scan.rescan) {
                effects.extend(request_scan(app));
            }
            effects.extend(request_probe(app, false));
            effects
        }
        Err(e) => {
            // Still counts as an attempt, so a failing store is retried at the normal pace.
            app.scan.last_refresh = Some(app.now);
            app.scan.scan_failing = true;
            app.notice.error = Some(format!("scan failed: {e} (showing the last good data)"));
            vec![]
        }
    }
}

pub(super) fn feed_opened(app: &mut App, source: String) -> Vec<Effect> {
    app.notice.status = Some(format!("following {source}: no more full scans"));
    app.scan.following = Some(source);
    if app.scan.scanning {
        // That scan began before the feed: a change in between could be missing from both.
        app.scan.rescan = true;
        vec![]
    } else if app.scan.last_refresh.is_some() {
        request_scan(app)
    } else {
        // The first scan has not started yet: it will start after the feed, as it must.
        vec![]
    }
}

pub(super) fn store_changed(app: &mut App, changes: Vec<StoreChange>) -> Vec<Effect> {
    if app.scan.scanning {
        app.scan.changes_during_scan.extend(changes.iter().cloned());
    }
    crate::tui::feed::apply_changes(app, &changes);
    if !app.scan.scanning && app.scan.following.is_some() && app.scan.last_refresh.is_some() {
        app.scan.data_from = Some(app.now);
    }
    request_probe(app, false)
}

pub(super) fn feed_lost(app: &mut App, message: Failure) -> Vec<Effect> {
    let was_following = app.scan.following.take().is_some();
    app.scan.changes_during_scan.clear();
    app.notice.status = Some(if was_following {
        format!("lost the table's change feed ({message}); scanning again")
    } else {
        format!("not following the table's changes ({message}); scanning at a pace")
    });
    if was_following {
        request_scan(app)
    } else {
        vec![]
    }
}

pub(super) fn probed(app: &mut App, results: Vec<ProbeResult>) -> Vec<Effect> {
    app.scan.probing = false;
    app.scan.probe_calls.push_back((app.now, results.len()));
    let failures = app.apply_probes(&results);
    if let Some(refused) = failures.refused {
        // Said once, in place of a table of unknowns; the rows keep what they last showed.
        let message = probes_refused_message(&refused);
        app.notice.error = Some(message.clone());
        app.scan.probes_refused = Some((message, app.now));
    } else if failures.answered > 0 {
        if let Some((message, _)) = app.scan.probes_refused.take() {
            if app.notice.error.as_deref() == Some(message.as_str()) {
                app.notice.error = None;
            }
            app.notice.status = Some("GetConnection answers again: probes are back on".into());
        }
    }
    if let Some((e, n)) = failures.most_common {
        app.notice.error = Some(format!("probe: {n} call(s) failed: {e}"));
    }
    vec![]
}

pub(super) fn rate_observed(app: &mut App, status: RateStatus) -> Vec<Effect> {
    app.telemetry.rate = status;
    vec![]
}

pub(super) fn emulator_stats(
    app: &mut App,
    result: Result<StatsView, crate::tui::failure::Failure>,
) -> Vec<Effect> {
    match result {
        Ok(stats) => {
            let now = app.now;
            app.telemetry.emulator_minutes.record(now, &stats);
            app.telemetry.emulator_stats = Some(stats);
        }
        Err(e) => app.notice.status = Some(format!("emulator stats unavailable: {e}")),
    }
    vec![]
}

pub(super) fn environment_switched(app: &mut App, env: EnvironmentInfo) -> Vec<Effect> {
    let name = env.name.clone();
    let screen = app.viewport.size;
    let history = std::mem::take(&mut app.outcomes.sent_history);
    *app = App::new(env, app.now);
    app.viewport.size = screen;
    app.outcomes.sent_history = history;
    app.notice.status = Some(format!("now on environment {name}"));
    vec![]
}

pub(super) fn environment_switch_failed(app: &mut App, message: Failure) -> Vec<Effect> {
    app.notice.status = Some(format!(
        "cannot open that environment: {message} (still on {})",
        app.env.name
    ));
    vec![]
}

/// `w` in the storm view: the next span, with the stage's metrics for it read at once.
pub(super) fn cycle_metrics_window(app: &mut App) -> Vec<Effect> {
    app.telemetry.storm_window = app.telemetry.storm_window.next();
    if app.env.metrics.is_none() {
        return vec![];
    }
    app.telemetry.cloudwatch_requested = Some(app.now);
    vec![Effect::FetchMetrics(app.telemetry.storm_window)]
}

#[cfg(test)]
mod tests {
    use super::super::app_with;
    use super::*;

    #[test]
    fn slow_scans_are_spaced_out() {
        let mut app = app_with(&[]);
        assert_eq!(scan_interval(&app), SCAN_EVERY);
        app.scan.last_scan_took = Some(Duration::seconds(3));
        assert_eq!(scan_interval(&app), Duration::seconds(30));
    }

    #[test]
    fn while_the_feed_is_followed_ticks_never_scan_and_losing_it_scans_at_once() {
        let mut app = app_with(&[("alice", "A1")]);
        let now = app.now;
        feed_opened(&mut app, "the stream of t".into());
        assert!(
            on_tick(&mut app, now).contains(&Effect::Scan),
            "the first read"
        );
        scanned(&mut app, Ok(StoreSnapshot::default()));
        let later = now + Duration::minutes(10);
        assert!(!on_tick(&mut app, later).contains(&Effect::Scan));
        assert_eq!(
            feed_lost(
                &mut app,
                Failure::Store(crate::store::StoreError::Network("expired".into()))
            ),
            [Effect::Scan]
        );
        assert!(app.scan.following.is_none());
    }
}
