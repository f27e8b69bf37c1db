//! The confirmations and summaries of destructive work: disconnect, purge, doctor.

use super::super::action::{Effect, PurgePlanRef};
use super::super::app::*;
use super::refuse_readonly;
use crate::model::DeliveryClass;
use crate::ops::classify::ConnectionState;
use crate::ops::disconnect::DisconnectOutcome;
use crate::ops::purge::{PurgePlan, PurgeReport};

pub(super) fn open_disconnect(app: &mut App) -> Vec<Effect> {
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
        app.rows.len()
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
    app.last_refresh = None;
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
    app.last_refresh = None;
    vec![]
}

pub(super) fn doctor_done(
    app: &mut App,
    result: Result<Vec<crate::doctor::Check>, String>,
) -> Vec<Effect> {
    app.overlay = match result {
        Ok(checks) => doctor_summary(&checks),
        Err(e) => Overlay::Summary("Doctor could not run".into(), vec![e]),
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
pub(super) fn operation_failed(app: &mut App, message: String) -> Vec<Effect> {
    app.overlay = Overlay::Summary(
        "Operation failed; nothing was changed".into(),
        vec![message],
    );
    vec![]
}

/// Users whose connection id keeps changing (a client stuck reconnecting, a bad deploy, a
/// flaky network), and records appearing and vanishing per minute.
pub(super) fn show_flapping(app: &mut App) -> Vec<Effect> {
    use crate::tui::churn::{sparkline, FLAP_CONNECTIONS, FLAP_WINDOW};
    let flapping = app.churn.flapping(app.now);
    let (appeared, vanished) = app.churn.per_minute(app.now, 30);
    let mut lines = vec![
        format!(
            "new records per minute, last 30 min  |{}|  now {}",
            sparkline(&appeared),
            appeared.last().copied().unwrap_or(0)
        ),
        format!(
            "vanished per minute                  |{}|  now {}",
            sparkline(&vanished),
            vanished.last().copied().unwrap_or(0)
        ),
        String::new(),
    ];
    if flapping.is_empty() {
        lines.push(format!(
            "no user got {FLAP_CONNECTIONS} or more new connections in the last {} minutes",
            FLAP_WINDOW.whole_minutes()
        ));
    }
    for user in &flapping {
        let ids: Vec<String> = user
            .connections
            .iter()
            .map(|(at, id)| {
                format!(
                    "{} at {:02}:{:02}:{:02}",
                    crate::text::printable(id),
                    at.hour(),
                    at.minute(),
                    at.second()
                )
            })
            .collect();
        lines.push(format!(
            "{}  {} connections: {}",
            crate::text::printable(&user.user_id),
            user.connections.len(),
            ids.join(", ")
        ));
    }
    lines.push(String::new());
    lines.extend(refusal_lines(app));
    if let Some(source) = &app.env.metrics {
        lines.push(String::new());
        match &app.gateway_metrics {
            None => lines.push(format!("metrics ({source}): reading…")),
            Some(Err(e)) => {
                lines.push(format!("metrics ({source}): {}", crate::text::printable(e)))
            }
            Some(Ok(series)) => {
                lines.push(format!("the stage per minute, last 30 min ({source}):"));
                for s in series {
                    let values: Vec<u64> = s.values.iter().map(|v| v.round() as u64).collect();
                    lines.push(format!(
                        "  {:<18} |{}|  now {}",
                        s.name,
                        sparkline(&values),
                        values.last().copied().unwrap_or(0)
                    ));
                }
            }
        }
    }
    if app.env.emulator_admin.is_some() {
        // The emulator's counters, under AWS/ApiGateway's metric names.
        lines.push(String::new());
        lines.push("the gateway per minute, last 30 min (the emulator's counters):".into());
        for (name, values) in app.metrics.per_minute(app.now, 30) {
            lines.push(format!(
                "  {name:<14} |{}|  now {}",
                sparkline(&values),
                values.last().copied().unwrap_or(0)
            ));
        }
    }
    if !flapping.is_empty() && app.env.access_logs.is_some() {
        lines.push(String::new());
        lines.push(
            "Enter on one of their rows shows its $connect lines: a run of 401s means a bad token"
                .into(),
        );
    }
    app.overlay = Overlay::Summary(
        format!(
            "Reconnect storms: {} user(s) with {FLAP_CONNECTIONS}+ new connections in {} min",
            flapping.len(),
            FLAP_WINDOW.whole_minutes()
        ),
        lines,
    );
    vec![]
}

/// What the access log says about refused handshakes lately: by status, with the commonest
/// reason and the source address that retries most.
fn refusal_lines(app: &App) -> Vec<String> {
    use std::collections::BTreeMap;
    let minutes = super::REFUSALS_WINDOW.whole_minutes();
    let lines = match &app.refusals {
        None if app.env.access_logs.is_none() => {
            return vec![
                "refused handshakes: no access log for this environment (log_group in its config)"
                    .into(),
            ]
        }
        None => return vec!["refused handshakes: reading the access log…".into()],
        Some(Err(e)) => {
            return vec![format!(
                "refused handshakes: cannot read the access log: {}",
                crate::text::printable(e)
            )]
        }
        Some(Ok(lines)) => lines,
    };
    if lines.is_empty() {
        return vec![format!(
            "refused handshakes in the last {minutes} min: none"
        )];
    }
    let mut by_status: BTreeMap<u16, Vec<&crate::access_logs::AccessLogEntry>> = BTreeMap::new();
    for entry in lines.iter().filter_map(|l| l.entry.as_ref()) {
        by_status.entry(entry.status).or_default().push(entry);
    }
    let mut out = vec![format!(
        "refused handshakes in the last {minutes} min: {} (from the access log)",
        lines.len()
    )];
    for (status, entries) in by_status {
        let mut sources: BTreeMap<&str, usize> = BTreeMap::new();
        for entry in &entries {
            *sources.entry(entry.source_ip.as_str()).or_default() += 1;
        }
        let (busiest, from_it) = sources
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(ip, n)| (*ip, *n))
            .unwrap_or_default();
        let reason = entries
            .last()
            .and_then(|e| e.error_message.as_deref())
            .unwrap_or_default();
        let meaning = match status {
            401 | 403 => " — a client retrying with a bad or expired token",
            429 => " — more than 500 new connections a second",
            _ => "",
        };
        out.push(format!(
            "  {status} ×{}{meaning}; {from_it} from {}; last reason: {}",
            entries.len(),
            crate::text::printable(busiest),
            crate::text::printable(reason)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::app_with;
    use super::*;

    #[test]
    fn the_disconnect_dialog_acts_on_the_ids_it_showed() {
        let mut app = app_with(&[("alice", "A1"), ("bob", "B1")]);
        app.marked.insert("B1".into());
        open_disconnect(&mut app);
        toggle_delete_record(&mut app);
        // The table moves under the dialog: B1 vanishes.
        crate::tui::rows::merge_snapshot(
            &mut app,
            crate::store::StoreSnapshot {
                records: vec![crate::model::ConnectionRecord::new("alice", "A1")],
                malformed: vec![],
            },
        );
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
