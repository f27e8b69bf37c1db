//! Pushes: the composer (`p`), `:push USER JSON`, and the outcomes they report.

use super::super::action::Effect;
use super::super::app::*;
use super::super::table_rows::FLASH_FOR;
use super::refuse_readonly;
use crate::messages::{template, MESSAGE_TYPES};
use crate::model::{DeliveryClass, DeliveryOutcome};
use crate::ops::classify::ConnectionState;
use crate::ops::push::{check_payload, PushTarget};
use crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};
use tui_input::backend::crossterm::EventHandler;
use tui_input::Input;

pub(super) fn open(app: &mut App) -> Vec<Effect> {
    if refuse_readonly(app, "push") {
        return vec![];
    }
    app.overlay = Overlay::Composer(Box::new(new_composer(app)));
    vec![]
}

pub(super) fn key(app: &mut App, key: KeyEvent) -> Vec<Effect> {
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
            if app.outcomes.sent_history.is_empty() {
                return vec![];
            }
            let last = app.outcomes.sent_history.len() - 1;
            let next = match (composer.recall, key.code) {
                (None, _) => last,
                (Some(i), KeyCode::Char('p')) => i.saturating_sub(1),
                (Some(i), _) => (i + 1).min(last),
            };
            composer.recall = Some(next);
            composer.payload = Input::new(app.outcomes.sent_history[next].clone());
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
        app.notice.status = Some(format!("not sent: {e}"));
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
                .map(|t| crate::text::printable(&t.target).into_owned())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    if targets.is_empty() {
        app.notice.status = Some(format!(
            "not sent: no target (select a row, type a user id, or mark rows){vanished_note}"
        ));
        return vec![];
    }
    remember_payload(app, &payload);
    app.notice.status = Some(format!(
        "pushing to {} connection(s)…{vanished_note}",
        targets.len()
    ));
    app.overlay = Overlay::None;
    vec![Effect::Push { targets, payload }]
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
        target: if app.table.marked.is_empty() {
            PushTargetKind::Selected
        } else {
            PushTargetKind::Marked
        },
        user: Input::new(
            app.selected_row()
                .map(|r| r.user_id().to_string())
                .unwrap_or_default(),
        ),
        message_type: 0,
        payload: Input::new(compact_template(0)),
        focus: ComposerField::Payload,
        recall: None,
        shown: ShownTargets {
            selected: app.selected_row().filter(usable).map(row_target),
            marked: app
                .table
                .marked
                .iter()
                .filter_map(|id| app.row(id))
                .filter(usable)
                .map(row_target)
                .collect(),
            filtered: app
                .table
                .visible
                .iter()
                .filter_map(|i| app.table.at(*i))
                .filter(usable)
                .map(row_target)
                .collect(),
        },
    }
}

fn row_target(row: RowView<'_>) -> PushTarget {
    PushTarget::record(row.record(), row.user_id().to_string())
}

fn usable(row: &RowView<'_>) -> bool {
    row.state != ConnectionState::Malformed
}

/// The user's records, in table order.
fn rows_of_user<'a>(app: &'a App, user: &str) -> Vec<RowView<'a>> {
    let mut positions = app.table.index.rows_of_user(&app.table.ids, user);
    positions.sort_unstable();
    positions
        .into_iter()
        .filter_map(|i| app.table.at(i))
        .collect()
}

/// The rows a push would reach, and a label for each.
pub fn composer_targets(app: &App, composer: &Composer) -> Vec<PushTarget> {
    match composer.target {
        PushTargetKind::Selected => composer.shown.selected.clone().into_iter().collect(),
        // A typed user id is a query the operator is composing: it reads the live table.
        PushTargetKind::User => {
            let user = composer.user.value().trim();
            rows_of_user(app, user)
                .into_iter()
                .filter(usable)
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
            .is_some_and(|row| t.record.as_ref() == Some(&row.record()))
    })
}

fn remember_payload(app: &mut App, payload: &str) {
    app.outcomes.sent_history.retain(|p| p != payload);
    app.outcomes.sent_history.push(payload.to_string());
    if app.outcomes.sent_history.len() > 20 {
        app.outcomes.sent_history.remove(0);
    }
}

/// `:push USER [JSON]`: every record of the user, the first template when no JSON is given.
pub(super) fn push_command(app: &mut App, rest: &str) -> Vec<Effect> {
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
        app.notice.status = Some(format!(":push not sent: {e}"));
        return vec![];
    }
    let targets: Vec<PushTarget> = rows_of_user(app, user)
        .into_iter()
        .filter(usable)
        .map(|r| PushTarget::record(r.record(), user))
        .collect();
    if targets.is_empty() {
        app.notice.status = Some(format!(":push: no record for user {user:?}"));
        return vec![];
    }
    remember_payload(app, &json);
    app.notice.status = Some(format!("pushing to {user}…"));
    vec![Effect::Push {
        targets,
        payload: json,
    }]
}

pub(super) fn delivered(app: &mut App, outcome: DeliveryOutcome) -> Vec<Effect> {
    record_outcome(app, outcome);
    vec![]
}

pub(super) fn finished(app: &mut App, n: usize) -> Vec<Effect> {
    app.notice.status = Some(format!(
        "push finished: {n} outcome(s), see the outcomes panel"
    ));
    vec![]
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
    if let Some(i) = app.table.index.get(&app.table.ids, &outcome.connection_id) {
        if outcome.class == DeliveryClass::Gone {
            app.table.mark_stale(i);
        }
        let row = &mut app.table.rows[i];
        row.flash(now + FLASH_FOR);
        row.record_outcome(outcome);
    }
}

#[cfg(test)]
mod tests {
    use super::super::app_with;
    use super::*;

    #[test]
    fn templates_in_the_composer_carry_no_stale_timestamp() {
        for (i, message_type) in MESSAGE_TYPES.iter().enumerate() {
            let payload: serde_json::Value =
                serde_json::from_str(&compact_template(i)).expect("json");
            assert_eq!(payload["type"], *message_type);
            assert!(payload.get("sent_at").is_none());
        }
    }

    #[test]
    fn push_command_reaches_every_record_of_the_user_and_only_those() {
        let mut app = app_with(&[("alice", "A1"), ("alice", "A2"), ("bob", "B1")]);
        let effects = push_command(&mut app, r#"alice {"type":"heartbeat"}"#);
        let [Effect::Push { targets, payload }] = effects.as_slice() else {
            panic!("{effects:?}");
        };
        let mut ids: Vec<&str> = targets.iter().map(|t| t.connection_id.as_str()).collect();
        ids.sort();
        assert_eq!(ids, ["A1", "A2"]);
        assert_eq!(payload, r#"{"type":"heartbeat"}"#);
        assert!(push_command(&mut app, "carol").is_empty());
        assert!(push_command(&mut app, "alice {not json").is_empty());
    }

    #[test]
    fn the_history_keeps_the_last_twenty_distinct_payloads() {
        let mut app = app_with(&[]);
        for i in 0..25 {
            remember_payload(&mut app, &format!("{{\"n\":{i}}}"));
        }
        remember_payload(&mut app, "{\"n\":10}");
        assert_eq!(app.outcomes.sent_history.len(), 20);
        assert_eq!(
            app.outcomes.sent_history.last().map(String::as_str),
            Some("{\"n\":10}")
        );
        assert_eq!(
            app.outcomes
                .sent_history
                .iter()
                .filter(|p| *p == "{\"n\":10}")
                .count(),
            1
        );
    }
}
