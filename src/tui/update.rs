//! State transitions: `update(app, action)` changes the state and says what work to start.
//! No I/O happens here, so every transition is unit-tested without a terminal.

use super::action::{Action, Effect, PurgePlanRef, PushTarget};
use super::app::*;
use super::layout::table_rows;
use super::rows::{self, recompute_visible, FLASH_FOR};
use crate::messages::{template, MESSAGE_TYPES};
use crate::model::{DeliveryClass, DeliveryOutcome};
use crate::ops::push::check_payload;
use crate::ops::refresh::ConnectionState;
use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use time::Duration;
use tui_input::backend::crossterm::EventHandler;
use tui_input::Input;

/// How often the table is re-read from the store, at the most.
pub const SCAN_EVERY: Duration = Duration::seconds(2);
/// A full scan is repeated no sooner than this many times its own duration, so a big table is
/// not scanned back to back (each scan costs read capacity on a production table).
const SCAN_COST_FACTOR: i32 = 10;

/// The pause between scans: 2 s for small tables, longer when scans are slow.
pub fn scan_interval(app: &App) -> Duration {
    app.last_scan_took
        .map(|took| (took * SCAN_COST_FACTOR).max(SCAN_EVERY))
        .unwrap_or(SCAN_EVERY)
}

pub fn update(app: &mut App, action: Action) -> Vec<Effect> {
    let overlay_before = std::mem::discriminant(&app.overlay);
    let effects = route(app, action);
    if std::mem::discriminant(&app.overlay) != overlay_before {
        // A new overlay starts at its top.
        app.overlay_scroll = 0;
    }
    effects
}

fn route(app: &mut App, action: Action) -> Vec<Effect> {
    match action {
        Action::Quit => {
            app.quit = true;
            vec![]
        }
        Action::Tick(now) => on_tick(app, now),
        Action::Resize(width, height) => {
            app.screen = (width, height);
            keep_selection_visible(app);
            vec![]
        }
        Action::ScrollOverlay(delta) => {
            let max = crate::tui::layout::overlay_max_scroll(app) as isize;
            app.overlay_scroll = (app.overlay_scroll as isize)
                .saturating_add(delta)
                .clamp(0, max) as usize;
            vec![]
        }
        Action::Up => move_by(app, -1),
        Action::Down => move_by(app, 1),
        Action::PageUp => page_by(app, -1),
        Action::PageDown => page_by(app, 1),
        Action::Top => move_by(app, isize::MIN / 2),
        Action::Bottom => move_by(app, isize::MAX / 2),
        Action::ToggleMark => {
            if let Some(id) = app.selected_row().map(|r| r.key().to_string()) {
                if !app.marked.remove(&id) {
                    app.marked.insert(id);
                }
                move_by(app, 1);
            }
            vec![]
        }
        Action::OpenDetails => {
            if let Some(id) = app.selected_row().map(|r| r.key().to_string()) {
                app.overlay = Overlay::Details(id);
            }
            vec![]
        }
        Action::ToggleHelp => {
            app.overlay = match app.overlay {
                Overlay::Help => Overlay::None,
                _ => Overlay::Help,
            };
            vec![]
        }
        Action::Back => {
            if app.prompt != Prompt::None {
                app.prompt = Prompt::None;
            } else if matches!(app.overlay, Overlay::None) {
                if !app.filter.is_empty() {
                    app.filter.clear();
                    recompute_visible(app);
                }
            } else {
                app.overlay = Overlay::None;
            }
            vec![]
        }
        Action::CycleSort => {
            app.sort = app.sort.next();
            recompute_visible(app);
            app.status = Some(format!("sorted by {}", app.sort.name()));
            vec![]
        }
        Action::ReverseSort => {
            app.sort_descending = !app.sort_descending;
            recompute_visible(app);
            vec![]
        }
        Action::RefreshNow => {
            app.last_refresh = None;
            let mut effects = request_scan(app);
            effects.extend(request_probe(app, true));
            effects
        }
        Action::StartFilter => {
            app.prompt = Prompt::Filter;
            app.input = Input::new(app.filter.clone());
            vec![]
        }
        Action::StartCommand => {
            app.prompt = Prompt::Command;
            app.input = Input::default();
            vec![]
        }
        Action::PromptKey(key) => {
            app.input.handle_event(&Event::Key(key));
            if app.prompt == Prompt::Filter {
                app.filter = app.input.value().to_string();
                recompute_visible(app);
            }
            vec![]
        }
        Action::SubmitPrompt => {
            let prompt = std::mem::replace(&mut app.prompt, Prompt::None);
            if prompt == Prompt::Command {
                let line = app.input.value().trim().to_string();
                return run_command(app, &line);
            }
            vec![]
        }
        Action::OpenComposer => {
            if refuse_readonly(app, "push") {
                return vec![];
            }
            app.overlay = Overlay::Composer(Box::new(new_composer(app)));
            vec![]
        }
        Action::ComposerKey(key) => composer_key(app, key),
        Action::OpenDisconnect => {
            if refuse_readonly(app, "disconnect") {
                return vec![];
            }
            let ids = targets_marked_or_selected(app);
            if ids.is_empty() {
                app.status = Some("nothing to disconnect: select or mark a connection".into());
                return vec![];
            }
            app.overlay = Overlay::Confirm(Confirm::Disconnect {
                connection_ids: ids,
                delete_record: false,
            });
            vec![]
        }
        Action::ToggleDeleteRecord => {
            if let Overlay::Confirm(Confirm::Disconnect { delete_record, .. }) = &mut app.overlay {
                *delete_record = !*delete_record;
            }
            vec![]
        }
        Action::OpenPurge => {
            if refuse_readonly(app, "purge") {
                return vec![];
            }
            app.overlay = Overlay::Progress(format!(
                "Planning the purge: probing {} record(s)…",
                app.rows.len()
            ));
            vec![Effect::PlanPurge]
        }
        Action::Confirm => confirm(app),
        Action::Scanned(result) => {
            app.scanning = false;
            app.last_scan_took = app.scan_started.take().map(|started| app.now - started);
            match result {
                Ok(snapshot) => {
                    rows::merge_snapshot(app, snapshot);
                    // The scan may have read an item before a change the feed already reported.
                    let replay = std::mem::take(&mut app.changes_during_scan);
                    super::feed::apply_changes(app, &replay);
                    app.last_refresh = Some(app.now);
                    app.data_from = Some(app.now);
                    app.scan_failing = false;
                    app.error = None;
                    let mut effects = Vec::new();
                    if std::mem::take(&mut app.rescan) {
                        effects.extend(request_scan(app));
                    }
                    effects.extend(request_probe(app, false));
                    effects
                }
                Err(e) => {
                    // Still counts as an attempt, so a failing store is retried at the normal pace.
                    app.last_refresh = Some(app.now);
                    app.scan_failing = true;
                    app.error = Some(format!("scan failed: {e} (showing the last good data)"));
                    vec![]
                }
            }
        }
        Action::FeedOpened(source) => {
            app.status = Some(format!("following {source}: no more full scans"));
            app.following = Some(source);
            if app.scanning {
                // That scan began before the feed: a change in between could be missing from both.
                app.rescan = true;
                vec![]
            } else if app.last_refresh.is_some() {
                request_scan(app)
            } else {
                // The first scan has not started yet: it will start after the feed, as it must.
                vec![]
            }
        }
        Action::StoreChanged(changes) => {
            if app.scanning {
                app.changes_during_scan.extend(changes.iter().cloned());
            }
            super::feed::apply_changes(app, &changes);
            if !app.scanning && app.following.is_some() && app.last_refresh.is_some() {
                app.data_from = Some(app.now);
            }
            request_probe(app, false)
        }
        Action::FeedLost(message) => {
            let was_following = app.following.take().is_some();
            app.changes_during_scan.clear();
            app.status = Some(if was_following {
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
        Action::Probed(results) => {
            app.probing = false;
            app.probe_calls.push_back((app.now, results.len()));
            if let Some((message, n)) = rows::apply_probes(app, &results) {
                app.error = Some(format!("probe: {n} call(s) failed: {message}"));
            }
            vec![]
        }
        Action::Delivered(outcome) => {
            record_outcome(app, outcome);
            vec![]
        }
        Action::PushFinished(n) => {
            app.status = Some(format!(
                "push finished: {n} outcome(s), see the outcomes panel"
            ));
            vec![]
        }
        Action::Disconnected(outcomes) => {
            let ok = outcomes.iter().filter(|o| o.succeeded()).count();
            let lines = outcomes
                .iter()
                .map(|o| {
                    format!(
                        "{}  {}{}{}",
                        o.connection_id,
                        match o.class {
                            DeliveryClass::Delivered => "closed",
                            DeliveryClass::Gone => "already gone",
                            other => other.as_str(),
                        },
                        o.record
                            .as_ref()
                            .map(|r| format!(", record {r}"))
                            .unwrap_or_default(),
                        o.error
                            .as_ref()
                            .map(|e| format!(": {e}"))
                            .unwrap_or_default()
                    )
                })
                .collect();
            app.overlay = Overlay::Summary(
                format!("Disconnect: {ok} of {} done", outcomes.len()),
                lines,
            );
            app.last_refresh = None;
            vec![]
        }
        Action::PurgePlanned(plan) => {
            if plan.stale.is_empty() {
                let mut lines = vec![format!(
                    "checked {} record(s); the gateway answered Gone for none",
                    plan.checked
                )];
                if let Some((_, error)) = plan.undecided.first() {
                    lines.push(format!(
                        "{} could not be probed and are kept (first error: {})",
                        plan.undecided.len(),
                        crate::text::printable(error)
                    ));
                }
                app.overlay = Overlay::Summary("Purge: nothing to delete".into(), lines);
            } else {
                app.overlay = Overlay::Confirm(Confirm::Purge(plan));
            }
            vec![]
        }
        Action::Purged(report) => {
            let mut lines: Vec<String> = report
                .deleted
                .iter()
                .map(|r| {
                    format!(
                        "deleted   {}  {}",
                        crate::text::printable(&r.user_id),
                        crate::text::printable(&r.connection_id)
                    )
                })
                .collect();
            lines.extend(report.changed.iter().map(|r| {
                format!(
                    "kept      {}  {} (the record changed meanwhile)",
                    crate::text::printable(&r.user_id),
                    crate::text::printable(&r.connection_id)
                )
            }));
            lines.extend(report.alive_on_recheck.iter().map(|r| {
                format!(
                    "kept      {}  {} (alive on re-check)",
                    crate::text::printable(&r.user_id),
                    crate::text::printable(&r.connection_id)
                )
            }));
            lines.extend(report.missing.iter().map(|r| {
                format!(
                    "gone      {}  {} (already deleted)",
                    crate::text::printable(&r.user_id),
                    crate::text::printable(&r.connection_id)
                )
            }));
            lines.extend(report.failed.iter().map(|(r, e)| {
                format!(
                    "FAILED    {}  {}: {e}",
                    crate::text::printable(&r.user_id),
                    crate::text::printable(&r.connection_id)
                )
            }));
            app.overlay = Overlay::Summary(
                format!(
                    "Purge: deleted {}, kept {}, failed {} (deleted items are in the audit log)",
                    report.deleted.len(),
                    report.changed.len() + report.alive_on_recheck.len(),
                    report.failed.len()
                ),
                lines,
            );
            app.last_refresh = None;
            vec![]
        }
        Action::DoctorDone(result) => {
            app.overlay = match result {
                Ok(checks) => doctor_summary(&checks),
                Err(e) => Overlay::Summary("Doctor could not run".into(), vec![e]),
            };
            vec![]
        }
        Action::RateObserved(status) => {
            app.rate = status;
            vec![]
        }
        Action::EnvironmentSwitched(env) => {
            let name = env.name.clone();
            let screen = app.screen;
            let history = std::mem::take(&mut app.sent_history);
            *app = App::new(env, app.now);
            app.screen = screen;
            app.sent_history = history;
            app.status = Some(format!("now on environment {name}"));
            vec![]
        }
        Action::EnvironmentSwitchFailed(message) => {
            app.status = Some(format!(
                "cannot open that environment: {message} (still on {})",
                app.env.name
            ));
            vec![]
        }
        Action::OperationFailed(message) => {
            app.overlay = Overlay::Summary(
                "Operation failed; nothing was changed".into(),
                vec![message],
            );
            vec![]
        }
        Action::EmulatorStats(result) => {
            match result {
                Ok(stats) => app.emulator = Some(stats),
                Err(e) => app.status = Some(format!("emulator stats unavailable: {e}")),
            }
            vec![]
        }
    }
}

fn on_tick(app: &mut App, now: time::OffsetDateTime) -> Vec<Effect> {
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
        .probe_calls
        .front()
        .is_some_and(|(t, _)| now - *t > Duration::seconds(5))
    {
        app.probe_calls.pop_front();
    }
    let mut effects = Vec::new();
    // While the feed is followed, the table is read in full only on request (`r`).
    let scan_due = match app.last_refresh {
        None => true,
        Some(t) => app.following.is_none() && now - t >= scan_interval(app),
    };
    if scan_due {
        effects.extend(request_scan(app));
    }
    if app.env.emulator_admin.is_some() && app.stats_requested.is_none_or(|t| now - t >= SCAN_EVERY)
    {
        app.stats_requested = Some(now);
        effects.push(Effect::FetchEmulatorStats);
    }
    effects.extend(request_probe(app, false));
    effects
}

fn request_scan(app: &mut App) -> Vec<Effect> {
    if app.scanning {
        return vec![];
    }
    app.scanning = true;
    app.scan_started = Some(app.now);
    app.changes_during_scan.clear();
    vec![Effect::Scan]
}

/// Probe the next batch: never-probed records first, in random order so the answers so far are
/// a fair sample of the table (see `rows::next_to_probe`), then the longest unprobed.
fn request_probe(app: &mut App, everything: bool) -> Vec<Effect> {
    if app.probing || app.rows.is_empty() {
        return vec![];
    }
    // About two seconds of calls at the current rate: a batch never outlives a scan by much.
    let batch = (app.rate.current.unwrap_or(1000.0).max(1.0) as usize * 2).clamp(1, 5000);
    let records = rows::next_to_probe(app, batch, everything);
    if records.is_empty() {
        return vec![];
    }
    app.probing = true;
    vec![Effect::Probe(records)]
}

fn move_by(app: &mut App, delta: isize) -> Vec<Effect> {
    if let Overlay::Details(_) | Overlay::Help | Overlay::Summary(..) = app.overlay {
        return vec![];
    }
    let last = app.visible.len().saturating_sub(1) as isize;
    app.selected = (app.selected as isize)
        .saturating_add(delta)
        .clamp(0, last.max(0)) as usize;
    keep_selection_visible(app);
    vec![]
}

/// PgUp/PgDn: the view and the cursor both move by one screenful, as in a pager.
fn page_by(app: &mut App, pages: isize) -> Vec<Effect> {
    let page = table_rows(app) as isize;
    let last_offset = app.visible.len().saturating_sub(page as usize) as isize;
    app.offset = (app.offset as isize + pages * page).clamp(0, last_offset.max(0)) as usize;
    move_by(app, pages * page)
}

pub(crate) fn keep_selection_visible(app: &mut App) {
    let height = table_rows(app);
    if app.selected < app.offset {
        app.offset = app.selected;
    } else if app.selected >= app.offset + height {
        app.offset = app.selected + 1 - height;
    }
    app.offset = app.offset.min(app.visible.len().saturating_sub(1));
}

fn refuse_readonly(app: &mut App, what: &str) -> bool {
    if app.env.readonly {
        app.status = Some(format!(
            "read-only: {what} is disabled in environment {}",
            app.env.name
        ));
    }
    app.env.readonly
}

fn targets_marked_or_selected(app: &App) -> Vec<String> {
    let mut ids: Vec<String> = if app.marked.is_empty() {
        app.selected_row()
            .map(|r| vec![r.key().to_string()])
            .unwrap_or_default()
    } else {
        app.marked.iter().cloned().collect()
    };
    ids.retain(|id| {
        app.row(id)
            .is_some_and(|r| r.state != ConnectionState::Malformed)
    });
    ids.sort();
    ids
}

fn compact_template(index: usize) -> String {
    MESSAGE_TYPES
        .get(index)
        .and_then(|t| template(t))
        .map(|mut v| {
            if let Some(o) = v.as_object_mut() {
                o.remove("sent_at");
            }
            v.to_string()
        })
        .unwrap_or_else(|| "{}".into())
}

fn new_composer(app: &App) -> Composer {
    Composer {
        target: if app.marked.is_empty() {
            PushTargetKind::Selected
        } else {
            PushTargetKind::Marked
        },
        user: Input::new(
            app.selected_row()
                .map(|r| r.record.user_id.clone())
                .unwrap_or_default(),
        ),
        message_type: 0,
        payload: Input::new(compact_template(0)),
        focus: ComposerField::Payload,
        recall: None,
        shown: ShownTargets {
            selected: app.selected_row().filter(usable).map(row_target),
            marked: app
                .marked
                .iter()
                .filter_map(|id| app.row(id))
                .filter(usable)
                .map(row_target)
                .collect(),
            filtered: app
                .visible
                .iter()
                .map(|i| &app.rows[*i])
                .filter(usable)
                .map(row_target)
                .collect(),
        },
    }
}

fn row_target(row: &Row) -> PushTarget {
    PushTarget {
        record: Some(row.record.clone()),
        connection_id: row.record.connection_id.clone(),
        label: row.record.user_id.clone(),
    }
}

fn usable(row: &&Row) -> bool {
    row.state != ConnectionState::Malformed
}

/// The rows a push would reach, and a label for each.
pub fn composer_targets(app: &App, composer: &Composer) -> Vec<PushTarget> {
    match composer.target {
        PushTargetKind::Selected => composer.shown.selected.clone().into_iter().collect(),
        // A typed user id is a query the operator is composing: it reads the live table.
        PushTargetKind::User => {
            let user = composer.user.value().trim();
            app.rows
                .iter()
                .filter(usable)
                .filter(|r| r.record.user_id == user)
                .map(row_target)
                .collect()
        }
        PushTargetKind::Marked => composer.shown.marked.clone(),
        PushTargetKind::Filtered => composer.shown.filtered.clone(),
    }
}

/// Split shown targets into those still in the table (same record) and those gone since.
fn still_present(app: &App, targets: Vec<PushTarget>) -> (Vec<PushTarget>, Vec<PushTarget>) {
    targets.into_iter().partition(|t| {
        app.row(&t.connection_id)
            .is_some_and(|row| Some(&row.record) == t.record.as_ref())
    })
}

fn composer_key(app: &mut App, key: KeyEvent) -> Vec<Effect> {
    let Overlay::Composer(composer) = &mut app.overlay else {
        return vec![];
    };
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    match key.code {
        KeyCode::Tab => {
            composer.focus = match composer.focus {
                ComposerField::Target => ComposerField::Type,
                ComposerField::Type => ComposerField::Payload,
                ComposerField::Payload => ComposerField::Target,
            };
        }
        KeyCode::BackTab => {
            composer.focus = match composer.focus {
                ComposerField::Target => ComposerField::Payload,
                ComposerField::Type => ComposerField::Target,
                ComposerField::Payload => ComposerField::Type,
            };
        }
        KeyCode::Enter => return send_composer(app),
        KeyCode::Char('p') | KeyCode::Char('n') if ctrl => {
            if app.sent_history.is_empty() {
                return vec![];
            }
            let last = app.sent_history.len() - 1;
            let next = match (composer.recall, key.code) {
                (None, _) => last,
                (Some(i), KeyCode::Char('p')) => i.saturating_sub(1),
                (Some(i), _) => (i + 1).min(last),
            };
            composer.recall = Some(next);
            composer.payload = Input::new(app.sent_history[next].clone());
        }
        KeyCode::Left | KeyCode::Right if composer.focus != ComposerField::Payload => {
            let forward = key.code == KeyCode::Right;
            match composer.focus {
                ComposerField::Target => {
                    composer.target = if forward {
                        composer.target.next()
                    } else {
                        composer.target.next().next().next()
                    };
                    if composer.target == PushTargetKind::User {
                        // Choosing "user" means typing one: start from an empty field.
                        composer.user = Input::default();
                    }
                }
                _ => {
                    let n = MESSAGE_TYPES.len();
                    composer.message_type = if forward {
                        (composer.message_type + 1) % n
                    } else {
                        (composer.message_type + n - 1) % n
                    };
                    composer.payload = Input::new(compact_template(composer.message_type));
                }
            }
        }
        _ => match composer.focus {
            ComposerField::Payload => {
                composer.payload.handle_event(&Event::Key(key));
            }
            ComposerField::Target if composer.target == PushTargetKind::User => {
                composer.user.handle_event(&Event::Key(key));
            }
            _ => {}
        },
    }
    vec![]
}

fn send_composer(app: &mut App) -> Vec<Effect> {
    let Overlay::Composer(composer) = &app.overlay else {
        return vec![];
    };
    let payload = composer.payload.value().to_string();
    if let Err(e) = check_payload(payload.as_bytes(), true) {
        app.status = Some(format!("not sent: {e}"));
        return vec![];
    }
    let (targets, vanished) = still_present(app, composer_targets(app, composer));
    let vanished_note = match vanished.len() {
        0 => String::new(),
        n => format!(
            "; {n} record(s) shown in the composer vanished from the table meanwhile and were not sent to: {}",
            vanished
                .iter()
                .take(5)
                .map(|t| crate::text::printable(&t.label).into_owned())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    if targets.is_empty() {
        app.status = Some(format!(
            "not sent: no target (select a row, type a user id, or mark rows){vanished_note}"
        ));
        return vec![];
    }
    remember_payload(app, &payload);
    app.status = Some(format!(
        "pushing to {} connection(s)…{vanished_note}",
        targets.len()
    ));
    app.overlay = Overlay::None;
    vec![Effect::Push { targets, payload }]
}

fn remember_payload(app: &mut App, payload: &str) {
    app.sent_history.retain(|p| p != payload);
    app.sent_history.push(payload.to_string());
    if app.sent_history.len() > 20 {
        app.sent_history.remove(0);
    }
}

fn confirm(app: &mut App) -> Vec<Effect> {
    if refuse_readonly(app, "this change") {
        app.overlay = Overlay::None;
        return vec![];
    }
    match std::mem::replace(&mut app.overlay, Overlay::None) {
        Overlay::Confirm(Confirm::Disconnect {
            connection_ids,
            delete_record,
        }) => {
            // The dialog named these ids: they are what is closed, even if the table moved.
            let vanished = connection_ids
                .iter()
                .filter(|id| app.row(id).is_none())
                .count();
            app.overlay = Overlay::Progress(format!(
                "Disconnecting {} connection(s)…{}",
                connection_ids.len(),
                if vanished > 0 {
                    format!(" ({vanished} of them no longer in the table: closing them anyway, as shown)")
                } else {
                    String::new()
                }
            ));
            app.marked.clear();
            vec![Effect::Disconnect {
                connection_ids,
                delete_record,
            }]
        }
        Overlay::Confirm(Confirm::Purge(plan)) => {
            app.overlay =
                Overlay::Progress(format!("Purging {} stale record(s)…", plan.stale.len()));
            vec![Effect::ExecutePurge(Box::new(PurgePlanRef(plan)))]
        }
        other => {
            app.overlay = other;
            vec![]
        }
    }
}

fn doctor_summary(checks: &[crate::doctor::Check]) -> Overlay {
    use crate::doctor::Status;
    let count = |s: Status| checks.iter().filter(|c| c.status == s).count();
    let mut lines = Vec::new();
    for check in checks {
        lines.push(format!(
            "{}  {}: {}",
            check.status.as_str(),
            check.name,
            check.detail
        ));
        if check.status != Status::Pass {
            if let Some(fix) = &check.fix {
                lines.push(format!("      fix: {fix}"));
            }
        }
    }
    Overlay::Summary(
        format!(
            "Doctor: {} pass, {} warn, {} fail",
            count(Status::Pass),
            count(Status::Warn),
            count(Status::Fail)
        ),
        lines,
    )
}

fn record_outcome(app: &mut App, outcome: DeliveryOutcome) {
    *app.outcomes.counts.entry(outcome.class).or_default() += 1;
    if outcome.class == DeliveryClass::Delivered {
        if let Some(last) = app.outcomes.per_second.back_mut() {
            *last += 1;
        } else {
            app.outcomes.per_second.push_back(1);
        }
    }
    app.outcomes.recent.push_front(outcome.clone());
    app.outcomes.recent.truncate(RECENT_OUTCOMES);
    let now = app.now;
    if let Some(i) = app.index.get(&app.rows, &outcome.connection_id) {
        if outcome.class == DeliveryClass::Gone {
            rows::mark_stale(app, i);
        }
        let row = &mut app.rows[i];
        row.flash_until = Some(now + FLASH_FOR);
        row.record_outcome(outcome);
    }
}

fn run_command(app: &mut App, line: &str) -> Vec<Effect> {
    let (command, rest) = line
        .split_once(' ')
        .map(|(c, r)| (c, r.trim()))
        .unwrap_or((line, ""));
    match command {
        "" => vec![],
        "q" | "quit" => update(app, Action::Quit),
        "purge" => update(app, Action::OpenPurge),
        "help" => update(app, Action::ToggleHelp),
        "refresh" => update(app, Action::RefreshNow),
        "doctor" => {
            app.overlay =
                Overlay::Progress("Running doctor: API configuration, table, permissions…".into());
            vec![Effect::Doctor]
        }
        "rate" => match crate::flags::ceiling(rest) {
            Ok(crate::flags::Ceiling(ceiling)) => {
                app.rate.ceiling = ceiling;
                app.rate.current = ceiling;
                app.status = Some(format!("API rate ceiling now {}", app.rate.describe()));
                vec![Effect::SetRate(ceiling)]
            }
            Err(e) => {
                app.status = Some(format!(":rate {rest}: {e}"));
                vec![]
            }
        },
        "readonly" => {
            // One way only: a dashboard that can switch read-only off is not read-only.
            app.status = Some(if app.env.readonly {
                "read-only stays on: it cannot be switched off from inside (restart without --readonly / WSDASH_READONLY / readonly = true)".into()
            } else {
                app.env.readonly = true;
                "read-only on: mutations disabled until the dashboard is restarted".into()
            });
            vec![]
        }
        "filter" => {
            app.filter = rest.to_string();
            recompute_visible(app);
            vec![]
        }
        "sort" => {
            match SortColumn::ALL.iter().find(|c| c.name() == rest) {
                Some(column) => {
                    app.sort = *column;
                    recompute_visible(app);
                }
                None => {
                    app.status = Some(format!(
                        "unknown column {rest:?}: {}",
                        SortColumn::ALL
                            .iter()
                            .map(|c| c.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                }
            }
            vec![]
        }
        "push" => {
            if refuse_readonly(app, "push") {
                return vec![];
            }
            let (user, json) = rest
                .split_once(' ')
                .map(|(u, j)| (u, j.trim()))
                .unwrap_or((rest, ""));
            let json = if json.is_empty() {
                compact_template(0)
            } else {
                json.to_string()
            };
            if let Err(e) = check_payload(json.as_bytes(), true) {
                app.status = Some(format!(":push not sent: {e}"));
                return vec![];
            }
            let targets: Vec<PushTarget> = app
                .rows
                .iter()
                .filter(|r| r.record.user_id == user && r.state != ConnectionState::Malformed)
                .map(|r| PushTarget {
                    record: Some(r.record.clone()),
                    connection_id: r.record.connection_id.clone(),
                    label: user.to_string(),
                })
                .collect();
            if targets.is_empty() {
                app.status = Some(format!(":push: no record for user {user:?}"));
                return vec![];
            }
            remember_payload(app, &json);
            app.status = Some(format!("pushing to {user}…"));
            vec![Effect::Push {
                targets,
                payload: json,
            }]
        }
        "env" if rest.is_empty() => {
            app.status = Some(format!("usage: :env NAME (now on {})", app.env.name));
            vec![]
        }
        "env" => {
            app.status = Some(format!("opening environment {rest}…"));
            vec![Effect::SwitchEnvironment(rest.to_string())]
        }
        other => {
            app.status = Some(format!("unknown command :{other} (try :push USER JSON, :purge, :doctor, :env NAME, :readonly, :sort COL, :filter TEXT, :q)"));
            vec![]
        }
    }
}
