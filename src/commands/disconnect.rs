//! `wsdash disconnect ID...`: close connections (DeleteConnection), optionally deleting their records.

use super::context::{failed, interrupted, CommandError, Context, GlobalArgs, OutputFormat};
use super::output::{print_json, print_table};
use crate::ops::disconnect::disconnect_connections;
use crate::shutdown::StopRequest;
use crate::store::ConnectionStore;
use std::sync::Arc;

#[derive(Debug, Clone, clap::Args)]
pub struct DisconnectArgs {
    /// Connection ids to close.
    #[arg(required = true)]
    pub connection_ids: Vec<String>,
    /// Also delete the records (audited, conditional).
    #[arg(long)]
    pub delete_record: bool,
    /// Do not ask.
    #[arg(long, short)]
    pub yes: bool,
}

pub async fn run(global: &GlobalArgs, args: &DisconnectArgs) -> Result<(), CommandError> {
    for id in &args.connection_ids {
        if let Some(problem) = crate::model::connection_id_problem(id) {
            return Err(super::context::usage(format!("{id:?}: {problem}")));
        }
    }
    let context = Context::new(global).await?;
    context.refuse_if_readonly("disconnect")?;
    let gateway = context.management()?;
    let store: Option<Arc<dyn ConnectionStore>> = if args.delete_record {
        Some(context.store().await?)
    } else {
        None
    };
    super::context::confirm(
        &format!(
            "Close {} connection(s){} in {}?",
            args.connection_ids.len(),
            if args.delete_record {
                " and delete their records"
            } else {
                ""
            },
            context.env.name
        ),
        args.yes,
    )?;
    let audit = context.audit()?;
    let stop = StopRequest::on_signals();
    let outcomes = disconnect_connections(
        gateway.as_ref(),
        store.as_deref(),
        &args.connection_ids,
        args.delete_record,
        Some(&audit),
        &stop,
        Some(&crate::ops::pacing::Pacing::operator(&context.rate())),
    )
    .await;
    report(
        &outcomes,
        args.connection_ids.len(),
        global.output == OutputFormat::Json,
        "the connections not listed were not touched",
    )
}

/// Print what the disconnects did; exit 130 when a signal stopped them before `asked` were
/// tried (`untouched` says what that left), 1 when one failed.
pub fn report(
    outcomes: &[crate::ops::disconnect::DisconnectOutcome],
    asked: usize,
    json: bool,
    untouched: &str,
) -> Result<(), CommandError> {
    if json {
        print_json(&serde_json::json!({ "outcomes": outcomes }));
    } else {
        let rows: Vec<Vec<String>> = outcomes
            .iter()
            .map(|o| {
                vec![
                    o.connection_id.clone(),
                    o.class.as_str().into(),
                    o.record.as_ref().map(|r| r.to_string()).unwrap_or_default(),
                    if o.class == crate::model::DeliveryClass::Gone && !o.succeeded() {
                        "not connected (410 Gone): nothing to close".into()
                    } else {
                        o.error.clone().unwrap_or_default()
                    },
                ]
            })
            .collect();
        print_table(&["CONNECTION", "RESULT", "RECORD", "DETAIL"], &rows);
    }
    if outcomes.len() < asked {
        return Err(interrupted(outcomes.len(), asked, untouched));
    }
    let failures = outcomes.iter().filter(|o| !o.succeeded()).count();
    if failures > 0 {
        return Err(failed(format!("{failures} disconnect(s) failed")));
    }
    Ok(())
}
