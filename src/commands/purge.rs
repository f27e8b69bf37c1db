//! `wsdash purge`: probe every record, show the stale ones, and delete them (audited, conditional).

use super::context::{
    confirm, failed, interrupted, CommandError, Context, GlobalArgs, OutputFormat,
};
use super::output::{print_json, print_table};
use crate::model::iso_millis;
use crate::ops::purge::{execute_purge, plan_purge, PurgePlan, PurgeReport, StaleReason};
use crate::shutdown::StopRequest;

#[derive(Debug, Clone, clap::Args)]
pub struct PurgeArgs {
    /// Show the plan and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not ask.
    #[arg(long, short)]
    pub yes: bool,
}

pub async fn run(global: &GlobalArgs, args: &PurgeArgs) -> Result<(), CommandError> {
    let context = Context::new(global).await?;
    if !args.dry_run {
        context.refuse_if_readonly("purge")?;
    }
    let gateway = context.management()?;
    let store = context.store().await?;
    // A purge that will delete keeps the scan's items for its audit intents.
    let (snapshot, scanned) = if args.dry_run {
        (store.scan().await.map_err(failed)?, Default::default())
    } else {
        store.scan_with_items().await.map_err(failed)?
    };
    let concurrency = context.env.probe_concurrency;
    let rate = context.rate();
    super::progress::announce(
        "probing: GetConnection calls:",
        snapshot.records.len(),
        &rate,
        crate::ops::pacing::Lane::Background,
    );
    let pacing = Some(crate::ops::pacing::Pacing::background(&rate));
    let plan = super::progress::with_progress(
        gateway.clone(),
        "probing",
        snapshot.records.len(),
        |probing| plan_purge(probing, snapshot.records, concurrency, pacing),
    )
    .await
    .with_scanned_items(scanned);
    let json_output = global.output == OutputFormat::Json;
    if args.dry_run || !json_output {
        if json_output {
            print_json(&serde_json::json!({ "dry_run": true, "plan": plan }));
        } else {
            let rows: Vec<Vec<String>> = plan
                .stale
                .iter()
                .map(|s| {
                    vec![
                        s.record.user_id.clone(),
                        s.record.connection_id.clone(),
                        iso_millis(s.record.connected_at),
                        match s.reason {
                            StaleReason::Gone => "gone (410)".into(),
                        },
                    ]
                })
                .collect();
            print_table(&["USER", "CONNECTION", "CONNECTED_AT", "WHY"], &rows);
            eprintln!(
                "{} of {} record(s) are stale; {} could not be decided and will be kept",
                plan.stale.len(),
                plan.checked,
                plan.undecided.len()
            );
        }
    }
    if args.dry_run {
        return undecided_is_failure(&plan);
    }
    if plan.stale.is_empty() {
        if json_output {
            print_json(&serde_json::json!({ "plan": plan, "report": PurgeReport::default() }));
        }
        return undecided_is_failure(&plan);
    }
    confirm(
        &format!(
            "Delete {} stale record(s) from {} ({})?",
            plan.stale.len(),
            store.describe(),
            context.env.name
        ),
        args.yes,
    )?;
    let audit = context.audit()?;
    // From here on a signal stops the purge between two deletes, not inside one.
    let stop = StopRequest::on_signals();
    let report = execute_purge(
        gateway,
        store.as_ref(),
        &plan,
        Some(&audit),
        &stop,
        concurrency,
    )
    .await;
    if json_output {
        print_json(&serde_json::json!({ "plan": plan, "report": report }));
    } else {
        eprintln!(
            "deleted {}, kept {} (user reconnected), already gone {}, failed {}, not attempted {}; audit log: {}",
            report.deleted.len(),
            report.changed.len() + report.alive_on_recheck.len(),
            report.missing.len(),
            report.failed.len(),
            report.not_attempted.len(),
            audit.path().display()
        );
    }
    if !report.not_attempted.is_empty() {
        let total = plan.stale.len();
        return Err(interrupted(
            total - report.not_attempted.len(),
            total,
            "run purge again to finish",
        ));
    }
    if !report.failed.is_empty() {
        return Err(failed(format!("{} delete(s) failed", report.failed.len())));
    }
    undecided_is_failure(&plan)
}

/// Records whose probe failed were neither kept for a reason nor purged: the purge is not done.
fn undecided_is_failure(plan: &PurgePlan) -> Result<(), CommandError> {
    match plan.undecided.first() {
        None => Ok(()),
        Some((_, reason)) => Err(failed(format!(
            "{} of {} record(s) could not be probed and were kept; run purge again when the endpoint answers. First error: {reason}",
            plan.undecided.len(),
            plan.checked
        ))),
    }
}
