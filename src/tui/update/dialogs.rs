//! The confirmations and summaries of destructive work: disconnect, purge, doctor.

use super::super::action::{Effect, PurgePlanRef};
use super::super::app::*;
use super::refuse_readonly;
use crate::model::DeliveryClass;
use crate::ops::classify::ConnectionState;
use crate::ops::disconnect::DisconnectOutcome;
use crate::ops::purge::{PurgePlan, PurgeReport};
use crate::tui::failure::Failure;

pub(super) fn open_disconnect(app: &mut App) -> Vec<Effect> {
    if refuse_readonly(app, "disconnect") {
        return vec![];
    }
    let ids = targets_marked_or_selected(app);
    if ids.is_empty() {
        app.notice.status = Some("nothing to disconnect: select or mark a connection".into());
        return vec![];
    }
    app.overlay = Overlay::Confirm(Confirm::Disconnect {
        connection_ids: ids,
        delete_record: false,
    });
    vec![]
}

pub(super) fn toggle_delete_record(app: &mut App) -> Vec<Effect> {
    if let Overlay::Confirm(Confirm::Disconnect { delete_record, .. }) = &mut app.overlay {
        *delete_record = !*delete_record;
    }
    vec![]
}

pub(super) fn open_purge(app: &mut App) -> Vec<Effect> {
    if refuse_readonly(app, "purge") {
        return vec![];
    }
    app.overlay = Overlay::Progress(format!(
        "Planning the purge: probing {} record(s)…",
        app.table.rows.len()
    ));
    vec![Effect::PlanPurge]
}

pub(super) fn confirm(app: &mut App) -> Vec<Effect> {
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
            app.table.marked.clear();
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

fn targets_marked_or_selected(app: &App) -> Vec<String> {
    let mut ids: Vec<String> = if app.table.marked.is_empty() {
        app.selected_row()
            .map(|r| vec![r.key().to_string()])
            .unwrap_or_default()
    } else {
        app.table.marked.iter().cloned().collect()
    };
    ids.retain(|id| {
        app.row(id)
            .is_some_and(|r| r.state != ConnectionState::Malformed)
    });
    ids.sort();
    ids
}
pub(super) fn disconnected(app: &mut App, outcomes: Vec<DisconnectOutcome>) -> Vec<Effect> {
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
    app.scan.last_refresh = None;
    vec![]
}

pub(super) fn purge_planned(app: &mut App, plan: PurgePlan) -> Vec<Effect> {
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

pub(super) fn purged(app: &mut App, report: PurgeReport) -> Vec<Effect> {
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
    app.scan.last_refresh = None;
    vec![]
}

pub(super) fn doctor_done(
    app: &mut App,
    result: Result<Vec<crate::doctor::Check>, crate::tui::failure::Failure>,
) -> Vec<Effect> {
    app.overlay = match result {
        Ok(checks) => doctor_summary(&checks),
        Err(e) => Overlay::Summary("Doctor could not run".into(), vec![e.to_string()]),
    };
    vec![]
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
pub(super) fn purge_plan_failed(app: &mut App, failure: Failure) -> Vec<Effect> {
    app.overlay = Overlay::Summary(
        "Operation failed; nothing was changed".into(),
        vec![format!("cannot plan the purge: {failure}")],
    );
    vec![]
}

#[cfg(test)]
mod tests {
    use super::super::app_with;
    use super::*;
    use crate::tui::visible::OnScreen;

    #[test]
    fn the_disconnect_dialog_acts_on_the_ids_it_showed() {
        let mut app = app_with(&[("alice", "A1"), ("bob", "B1")]);
        app.table.marked.insert("B1".into());
        open_disconnect(&mut app);
        toggle_delete_record(&mut app);
        // The table moves under the dialog: B1 vanishes.
        app.merge_snapshot(crate::store::StoreSnapshot {
            records: vec![crate::model::ConnectionRecord::new("alice", "A1")],
            malformed: vec![],
            ..Default::default()
        });
        assert_eq!(
            confirm(&mut app),
            [Effect::Disconnect {
                connection_ids: vec!["B1".into()],
                delete_record: true
            }]
        );
    }

    #[test]
    fn read_only_refuses_the_dialogs_and_their_confirmation() {
        let mut app = app_with(&[("alice", "A1")]);
        app.env.readonly = true;
        assert!(open_disconnect(&mut app).is_empty());
        assert!(open_purge(&mut app).is_empty());
        app.overlay = Overlay::Confirm(Confirm::Disconnect {
            connection_ids: vec!["A1".into()],
            delete_record: false,
        });
        assert!(confirm(&mut app).is_empty());
        assert!(matches!(app.overlay, Overlay::None));
    }
}
