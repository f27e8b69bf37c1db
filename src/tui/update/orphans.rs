//! The orphans view: opening it (and looking again at once), the cursor over the list by
//! connection id, and `d`, which asks to close the selected one through the disconnect dialog
//! (confirmed, audited, no record touched).

use super::super::action::Effect;
use super::super::app::{App, Confirm, Overlay};
use crate::ops::orphans::Orphan;
use crate::tui::failure::Failure;

pub(super) fn show(app: &mut App) -> Vec<Effect> {
    let first = listed(app).first().map(|o| o.connection_id.clone());
    app.overlay = Overlay::Orphans { selected: first };
    if app.env.access_logs.is_none() {
        return vec![];
    }
    app.telemetry.orphans_requested = Some(app.now);
    vec![Effect::FindOrphans]
}

/// The open sessions the table does not hold go to be confirmed; none: no orphans.
pub(super) fn sessions_read(
    app: &mut App,
    sessions: Result<Vec<crate::access_logs::LogLine>, Failure>,
) -> Vec<Effect> {
    let lines = match sessions {
        Ok(lines) => lines,
        Err(e) => return found(app, Err(e)),
    };
    let now_ms = (app.now.unix_timestamp_nanos() / 1_000_000) as i64;
    let candidates: Vec<_> = crate::ops::orphans::open_sessions(&lines, now_ms)
        .into_iter()
        .filter(|o| app.row(&o.connection_id).is_none())
        .collect();
    if candidates.is_empty() {
        return found(app, Ok(vec![]));
    }
    vec![Effect::ConfirmOrphans(candidates)]
}

pub(super) fn found(app: &mut App, found: Result<Vec<Orphan>, Failure>) -> Vec<Effect> {
    app.telemetry.orphans = Some(found);
    let ids: Vec<String> = listed(app)
        .iter()
        .map(|o| o.connection_id.clone())
        .collect();
    if let Overlay::Orphans { selected } = &mut app.overlay {
        // The cursor stays on its connection while it is listed.
        if selected.as_ref().is_none_or(|id| !ids.contains(id)) {
            *selected = ids.first().cloned();
        }
    }
    vec![]
}

pub(super) fn move_selection(app: &mut App, delta: isize) -> Vec<Effect> {
    let ids: Vec<String> = listed(app)
        .iter()
        .map(|o| o.connection_id.clone())
        .collect();
    if let Overlay::Orphans { selected } = &mut app.overlay {
        let at = selected
            .as_ref()
            .and_then(|id| ids.iter().position(|i| i == id))
            .unwrap_or(0) as isize;
        let to = (at + delta).clamp(0, ids.len().saturating_sub(1) as isize) as usize;
        *selected = ids.get(to).cloned();
    }
    vec![]
}

pub(super) fn disconnect_selected(app: &mut App) -> Vec<Effect> {
    if super::refuse_readonly(app, "disconnect") {
        return vec![];
    }
    let Overlay::Orphans { selected: Some(id) } = &app.overlay else {
        app.notice.status = Some("no orphan selected".into());
        return vec![];
    };
    app.overlay = Overlay::Confirm(Confirm::Disconnect {
        connection_ids: vec![id.clone()],
        delete_record: false,
    });
    vec![]
}

fn listed(app: &App) -> &[Orphan] {
    match &app.telemetry.orphans {
        Some(Ok(orphans)) => orphans,
        _ => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::super::{app_with, update};
    use super::*;
    use crate::model::ConnectionInfo;
    use crate::tui::action::Action;

    fn orphan(id: &str) -> Orphan {
        Orphan {
            connection_id: id.into(),
            connected_at_ms: 0,
            source_ip: "203.0.113.9".into(),
            user_agent: "swarm".into(),
            info: ConnectionInfo::default(),
        }
    }

    #[test]
    fn d_asks_to_close_the_orphan_under_the_cursor_even_after_the_list_moved() {
        let mut app = app_with(&[("alice", "A1")]);
        app.env.access_logs = Some("the emulator's access log".into());
        assert_eq!(update(&mut app, Action::ShowOrphans), [Effect::FindOrphans]);
        let _ = update(
            &mut app,
            Action::OrphansFound(Ok(vec![orphan("O1"), orphan("O2")])),
        );
        let _ = update(&mut app, Action::ScrollOverlay(1));
        // A new search finds another orphan first: the cursor stays on O2.
        let _ = update(
            &mut app,
            Action::OrphansFound(Ok(vec![orphan("O0"), orphan("O1"), orphan("O2")])),
        );
        let _ = update(&mut app, Action::DisconnectOrphan);
        match &app.overlay {
            Overlay::Confirm(Confirm::Disconnect {
                connection_ids,
                delete_record,
            }) => {
                assert_eq!(connection_ids, &["O2".to_string()]);
                assert!(!delete_record);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn only_open_sessions_the_table_does_not_hold_are_confirmed() {
        use crate::access_logs::{AccessLogEntry, LogLine};
        let mut app = app_with(&[("alice", "A1")]);
        let now_ms = (app.now.unix_timestamp_nanos() / 1_000_000) as i64;
        let line = |id: &str| LogLine {
            at_ms: now_ms - 60_000,
            raw: String::new(),
            entry: Some(AccessLogEntry::now(id, "CONNECT", "$connect", 200)),
        };
        let effects = update(
            &mut app,
            Action::SessionsRead(Ok(vec![line("A1"), line("LOST1")])),
        );
        match effects.as_slice() {
            [Effect::ConfirmOrphans(candidates)] => {
                let ids: Vec<&str> = candidates
                    .iter()
                    .map(|c| c.connection_id.as_str())
                    .collect();
                assert_eq!(ids, ["LOST1"]);
            }
            other => panic!("{other:?}"),
        }
        // Every open session in the table: nothing to ask, no orphans.
        assert!(update(&mut app, Action::SessionsRead(Ok(vec![line("A1")]))).is_empty());
        assert!(matches!(&app.telemetry.orphans, Some(Ok(o)) if o.is_empty()));
    }

    #[test]
    fn read_only_refuses_to_close_an_orphan() {
        let mut app = app_with(&[]);
        app.env.readonly = true;
        app.env.access_logs = Some("log group g".into());
        let _ = update(&mut app, Action::ShowOrphans);
        let _ = update(&mut app, Action::OrphansFound(Ok(vec![orphan("O1")])));
        let _ = update(&mut app, Action::DisconnectOrphan);
        assert!(matches!(app.overlay, Overlay::Orphans { .. }));
    }
}
