//! `wsdash orphans`: the connections the gateway holds that the store has lost (see
//! `ops::orphans`), and, with `--disconnect`, closing them so that each client reconnects and
//! registers again. Needs the stage's access log (`log_group`).

use super::context::OutputFormat;
use super::context::{confirm, failed, usage, CommandError, Context, GlobalArgs};
use super::output::{print_json, print_table};
use crate::access_logs::{AccessLogSource, CloudWatchAccessLogs};
use crate::ops::disconnect::disconnect_connections;
use crate::ops::orphans::{find_orphans, Orphan};
use crate::ops::pacing::Pacing;
use crate::shutdown::StopRequest;
use std::sync::Arc;

#[derive(Debug, Clone, clap::Args)]
pub struct OrphansArgs {
    /// Close the orphaned connections (DeleteConnection, audited) so their clients reconnect
    /// and register again; no record is touched.
    #[arg(long)]
    pub disconnect: bool,
    /// Do not ask before --disconnect.
    #[arg(long, short)]
    pub yes: bool,
}

pub async fn run(global: &GlobalArgs, args: &OrphansArgs) -> Result<(), CommandError> {
    let context = Context::new(global).await?;
    if args.disconnect {
        context.refuse_if_readonly("orphans --disconnect")?;
    }
    let Some(group) = context.env.log_group.clone() else {
        return Err(usage(format!(
            "orphans are found in the stage's access log: set log_group for environment {:?} (wsdash doctor prints the command that turns access logging on)",
            context.env.name
        )));
    };
    let logs: Arc<dyn AccessLogSource> =
        Arc::new(CloudWatchAccessLogs::new(&context.sdk, None, &group));
    let gateway = context.management()?;
    let store = context.store().await?;
    let rate = context.rate();
    let report = find_orphans(
        store.as_ref(),
        gateway.clone(),
        logs.as_ref(),
        context.env.probe_concurrency,
        Some(Pacing::background(&rate)),
    )
    .await
    .map_err(failed)?;
    print(&report.orphans, global.output == OutputFormat::Json);
    eprintln!(
        "{} open in the access log and unknown to the store; {} confirmed by GetConnection, {} already closed",
        report.candidates,
        report.orphans.len(),
        report.closed
    );
    if let Some((id, e)) = report.unconfirmed.first() {
        eprintln!(
            "{} could not be confirmed (e.g. {id}: {e})",
            report.unconfirmed.len()
        );
    }
    if !args.disconnect || report.orphans.is_empty() {
        return Ok(());
    }
    confirm(
        &format!(
            "Close {} orphaned connection(s) in {}? Their clients reconnect and register again",
            report.orphans.len(),
            context.env.name
        ),
        args.yes,
    )?;
    // Just before closing: a record that arrived meanwhile makes it a known connection.
    let mut ids = Vec::new();
    for orphan in &report.orphans {
        match store.find_by_connection(&orphan.connection_id).await {
            Ok(None) => ids.push(orphan.connection_id.clone()),
            Ok(Some(_)) => eprintln!(
                "{}: its record arrived meanwhile; left open",
                orphan.connection_id
            ),
            Err(e) => return Err(failed(format!("cannot check the store again: {e}"))),
        }
    }
    let audit = context.audit()?;
    let outcomes = disconnect_connections(
        gateway.as_ref(),
        None,
        &ids,
        false,
        Some(&audit),
        &StopRequest::on_signals(),
        Some(&Pacing::operator(&rate)),
    )
    .await;
    super::disconnect::report(
        &outcomes,
        ids.len(),
        global.output == OutputFormat::Json,
        "the orphans not listed were left open",
    )
}

fn print(orphans: &[Orphan], json: bool) {
    if json {
        print_json(&serde_json::json!(orphans
            .iter()
            .map(|o| serde_json::json!({
                "connection_id": o.connection_id,
                "connected_at": crate::model::iso_millis(
                    time::OffsetDateTime::from_unix_timestamp_nanos(
                        i128::from(o.connected_at_ms) * 1_000_000
                    )
                    .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
                ),
                "source_ip": o.info.source_ip.clone().unwrap_or_else(|| o.source_ip.clone()),
                "user_agent": o.info.user_agent.clone().unwrap_or_else(|| o.user_agent.clone()),
                "last_active_at": o.info.last_active_at.map(crate::model::iso_millis),
            }))
            .collect::<Vec<_>>()));
        return;
    }
    let now_ms = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    let rows: Vec<Vec<String>> = orphans
        .iter()
        .map(|o| {
            vec![
                o.connection_id.clone(),
                crate::model::format_age(time::Duration::milliseconds(now_ms - o.connected_at_ms)),
                o.info
                    .source_ip
                    .clone()
                    .unwrap_or_else(|| o.source_ip.clone()),
                o.info
                    .user_agent
                    .clone()
                    .unwrap_or_else(|| o.user_agent.clone()),
            ]
        })
        .collect();
    print_table(&["CONNECTION", "AGE", "SOURCE IP", "USER AGENT"], &rows);
}
