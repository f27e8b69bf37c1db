//! `wsdash restore AUDIT_FILE`: put deleted records back, never over a newer one.

use super::context::{failed, usage, CommandError, Context, GlobalArgs, OutputFormat};
use super::output::print_json;
use crate::ops::restore::{restore_from_audit, RestoreError};
use std::path::PathBuf;

#[derive(Debug, Clone, clap::Args)]
pub struct RestoreArgs {
    /// The audit log to read deletes from.
    pub audit_file: PathBuf,
    /// Only deletes at or after this time (ISO-8601, e.g. 2026-11-24T10:00:00Z).
    #[arg(long)]
    pub since: Option<String>,
}

pub async fn run(global: &GlobalArgs, args: &RestoreArgs) -> Result<(), CommandError> {
    let since = match &args.since {
        Some(s) => Some(
            crate::model::parse_iso(s)
                .ok_or_else(|| usage(format!("--since {s:?} is not an ISO-8601 time")))?,
        ),
        None => None,
    };
    let context = Context::new(global).await?;
    context.refuse_if_readonly("restore")?;
    let store = context.store().await?;
    let audit = context.audit()?;
    let stop = crate::shutdown::StopRequest::on_signals();
    let report = restore_from_audit(
        store.as_ref(),
        &args.audit_file,
        since,
        Some(&audit),
        &stop,
        context.env.probe_concurrency,
    )
    .await
    .map_err(|e| match e {
        RestoreError::NotAnAuditLog { .. } => usage(e),
        RestoreError::Audit(_) => failed(e),
    })?;
    if global.output == OutputFormat::Json {
        print_json(&serde_json::json!(report));
    } else {
        for line in &report.unreadable_lines {
            eprintln!("warning: unreadable audit line: {line}");
        }
        let rows: Vec<Vec<String>> = [
            ("restored", &report.restored),
            (
                "restored (delete unconfirmed)",
                &report.restored_unconfirmed,
            ),
            ("already present", &report.already_present),
            ("skipped: newer record", &report.skipped_newer_exists),
        ]
        .into_iter()
        .flat_map(|(what, records)| {
            records
                .iter()
                .map(move |r| vec![what.to_string(), r.user_id.clone(), r.connection_id.clone()])
        })
        .chain(report.failed.iter().map(|(r, e)| {
            vec![
                format!("failed: {e}"),
                r.user_id.clone(),
                r.connection_id.clone(),
            ]
        }))
        .collect();
        super::output::print_table(&["RESULT", "USER", "CONNECTION"], &rows);
        eprintln!(
            "restored {} ({} of them maybe-deleted by an interrupted run), already present {}, skipped {} (a newer record exists), failed {}",
            report.restored.len() + report.restored_unconfirmed.len(),
            report.restored_unconfirmed.len(),
            report.already_present.len(),
            report.skipped_newer_exists.len(),
            report.failed.len()
        );
    }
    if !report.not_attempted.is_empty() {
        let left = report.not_attempted.len();
        return Err(super::context::CommandError::Interrupted(format!(
            "stopped by a signal; {left} record(s) not tried yet: run restore again to finish"
        )));
    }
    if !report.failed.is_empty() {
        return Err(failed(format!("{} restore(s) failed", report.failed.len())));
    }
    Ok(())
}
