//! State transitions: `update(app, action)` changes the state and says what work to start.
//! No I/O happens here, so every transition is unit-tested without a terminal. This file only
//! routes; each kind of interaction has a module of its own.

mod command_line;
mod dialogs;
mod logs;
mod navigation;
mod orphans;
mod pushing;
mod refresh;

use super::action::{Action, Effect};
use super::app::App;

pub use pushing::composer_targets;
pub use refresh::{scan_interval, SCAN_EVERY};

#[must_use = "the effects are the I/O the action asks for: hand them to the runtime"]
pub fn update(app: &mut App, action: Action) -> Vec<Effect> {
    let overlay_before = std::mem::discriminant(&app.overlay);
    let effects = route(app, action);
    if std::mem::discriminant(&app.overlay) != overlay_before {
        // A new overlay starts at its top.
        app.viewport.overlay_scroll = 0;
    }
    effects
}

fn route(app: &mut App, action: Action) -> Vec<Effect> {
    match action {
        Action::Quit => {
            app.quit = true;
            vec![]
        }
        Action::Starting => {
            app.notice.status = Some("starting…".into());
            vec![]
        }
        Action::SourcesReady(env) => {
            app.notice.status = env
                .client_page
                .as_ref()
                .map(|url| format!("browser client: {url}   (? for keys)"));
            app.env = env;
            vec![]
        }
        // Moving around.
        Action::Resize(width, height) => navigation::resize(app, width, height),
        Action::ClickRow(y) => navigation::click_row(app, y),
        Action::Copy { as_json } => navigation::copy_selected(app, as_json),
        Action::ScrollOverlay(delta) => navigation::scroll_overlay(app, delta),
        Action::Up => navigation::move_by(app, -1),
        Action::Down => navigation::move_by(app, 1),
        Action::PageUp => navigation::page_by(app, -1),
        Action::PageDown => navigation::page_by(app, 1),
        Action::Top => navigation::move_by(app, isize::MIN / 2),
        Action::Bottom => navigation::move_by(app, isize::MAX / 2),
        Action::ToggleMark => navigation::toggle_mark(app),
        Action::OpenDetails => navigation::open_details(app),
        Action::ToggleHelp => navigation::toggle_help(app),
        Action::Back => navigation::back(app),
        Action::CycleSort => navigation::cycle_sort(app),
        Action::ReverseSort => navigation::reverse_sort(app),
        // The prompt.
        Action::StartFilter => command_line::start_filter(app),
        Action::StartCommand => command_line::start_command(app),
        Action::PromptKey(key) => command_line::prompt_key(app, key),
        Action::SubmitPrompt => command_line::submit(app),
        // Pushes.
        Action::OpenComposer => pushing::open(app),
        Action::ComposerKey(key) => pushing::key(app, key),
        Action::Delivered(outcome) => pushing::delivered(app, outcome),
        Action::PushFinished(n) => pushing::finished(app, n),
        // Destructive work and its summaries.
        Action::OpenDisconnect => dialogs::open_disconnect(app),
        Action::ToggleDeleteRecord => dialogs::toggle_delete_record(app),
        Action::OpenPurge => dialogs::open_purge(app),
        Action::Confirm => dialogs::confirm(app),
        Action::Disconnected(outcomes) => dialogs::disconnected(app, outcomes),
        Action::PurgePlanned(plan) => dialogs::purge_planned(app, plan),
        Action::Purged(report) => dialogs::purged(app, report),
        Action::DoctorDone(result) => dialogs::doctor_done(app, result),
        Action::PurgePlanFailed(failure) => dialogs::purge_plan_failed(app, failure),
        Action::ShowFlapping => {
            app.overlay = super::app::Overlay::Storm;
            vec![]
        }
        Action::CycleMetricsWindow => refresh::cycle_metrics_window(app),
        Action::ShowLogs => logs::show(app),
        Action::ShowOrphans => orphans::show(app),
        Action::DisconnectOrphan => orphans::disconnect_selected(app),
        Action::SessionsRead(sessions) => orphans::sessions_read(app, sessions),
        Action::OrphansFound(found) => orphans::found(app, found),
        Action::StartLogFilter => logs::start_filter(app),
        Action::LogTail { generation, result } => logs::tailed(app, generation, result),
        // Keeping the data current.
        Action::Tick(now) => refresh::on_tick(app, now),
        Action::RefreshNow => refresh::refresh_now(app),
        Action::Scanned(result) => refresh::scanned(app, result),
        Action::FeedOpened(source) => refresh::feed_opened(app, source),
        Action::StoreChanged(changes) => refresh::store_changed(app, changes),
        Action::FeedLost(message) => refresh::feed_lost(app, message),
        Action::Probed(results) => refresh::probed(app, results),
        Action::RateObserved(status) => refresh::rate_observed(app, status),
        Action::EmulatorStats(result) => refresh::emulator_stats(app, result),
        Action::GatewayMetrics(window, result) => {
            app.telemetry.cloudwatch = Some((window, result));
            vec![]
        }
        Action::Handshakes(result) => {
            app.telemetry.handshakes = Some(result);
            vec![]
        }
        Action::AccessLogs {
            connection_id,
            result,
        } => refresh::access_logs(app, connection_id, result),
        Action::EnvironmentSwitched(env) => refresh::environment_switched(app, env),
        Action::EnvironmentSwitchFailed(message) => {
            refresh::environment_switch_failed(app, message)
        }
    }
}

fn refuse_readonly(app: &mut App, what: &str) -> bool {
    if app.env.readonly {
        app.notice.status = Some(format!(
            "read-only: {what} is disabled in environment {}",
            app.env.name
        ));
    }
    app.env.readonly
}

/// A dashboard showing `records` (user, connection id), for the interaction modules' tests.
#[cfg(test)]
fn app_with(records: &[(&str, &str)]) -> App {
    use crate::tui::visible::OnScreen;
    let mut app = App::new(Default::default(), time::OffsetDateTime::now_utc());
    let records = records
        .iter()
        .map(|(user, id)| crate::model::ConnectionRecord::new(*user, *id))
        .collect();
    app.merge_snapshot(crate::store::StoreSnapshot {
        records,
        malformed: vec![],
        ..Default::default()
    });
    app
}
