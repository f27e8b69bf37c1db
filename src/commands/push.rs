//! `wsdash push`: one payload to users, connections, or every record matching a filter.

use super::context::{failed, usage, CommandError, Context, GlobalArgs, OutputFormat};
use super::output::{print_json, print_table};
use crate::model::DeliveryOutcome;
use crate::ops::push::{check_payload, push_to_targets, PushOptions, PushTarget};
use crate::store::ConnectionStore;
use bytes::Bytes;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Clone, clap::Args)]
pub struct PushArgs {
    /// Push to these users (looked up in the table).
    #[arg(long = "user", value_name = "USER", group = "target")]
    pub users: Vec<String>,
    /// Push to these connection ids directly (an id may start with `-`, as AWS's URL-safe ids do).
    #[arg(
        long = "connection",
        value_name = "ID",
        group = "target",
        allow_hyphen_values = true
    )]
    pub connections: Vec<String>,
    /// Push to every record (narrow it with --filter).
    #[arg(long, group = "target")]
    pub all: bool,
    /// With --all: only records whose user or connection id contains this text.
    #[arg(long, requires = "all")]
    pub filter: Option<String>,
    /// Message type: new_content, new_comment, status_update, alert_triggered, unread_counts, heartbeat.
    #[arg(long = "type", value_name = "TYPE", group = "payload")]
    pub message_type: Option<String>,
    /// The message's fields: with --type, a JSON object sent as {"type": TYPE, ...DATA}; without it,
    /// any JSON sent as is.
    #[arg(long)]
    pub data: Option<String>,
    /// Send this file's bytes as the payload.
    #[arg(long, group = "payload")]
    pub file: Option<PathBuf>,
    /// Send standard input as the payload.
    #[arg(long, group = "payload")]
    pub stdin: bool,
    /// Keep records whose connection is Gone (by default they are deleted, conditionally).
    #[arg(long)]
    pub keep_gone: bool,
}

/// `{"type": kind}` plus exactly the fields of `--data`: a template's sample fields (an order
/// id, a title) must never reach a real user; they only prefill the dashboard's composer.
fn typed_payload(
    kind: &str,
    data: Option<serde_json::Value>,
) -> Result<serde_json::Value, CommandError> {
    if !crate::messages::MESSAGE_TYPES.contains(&kind) {
        eprintln!(
            "note: --type {kind:?} is not one of the guide's types ({}); sending it anyway",
            crate::messages::MESSAGE_TYPES.join(", ")
        );
    }
    let mut payload = serde_json::Map::new();
    payload.insert("type".into(), kind.into());
    match data {
        None => {}
        Some(serde_json::Value::Object(fields)) => {
            if let Some(other) = fields.get("type").filter(|t| t.as_str() != Some(kind)) {
                return Err(usage(format!(
                    "--type {kind:?} and --data's \"type\" {other} disagree: give one"
                )));
            }
            payload.extend(fields);
        }
        Some(_) => {
            return Err(usage(
                "--data must be a JSON object to go with --type (it becomes the message's fields)",
            ))
        }
    }
    Ok(serde_json::Value::Object(payload))
}

/// Pushes in flight at once when no rate ceiling applies (loopback endpoints, or `--rate
/// unlimited`). At 10 ms per call, 256 in flight finish 2,000 pushes in about 0.1 s of waiting;
/// beyond that the two processes' CPU is the limit (bench push_cli: 128 gave 0.28 s, 256 0.235 s).
const UNLIMITED_PUSH_CONCURRENCY: usize = 256;

/// The payload bytes, and whether it must be JSON.
fn payload(args: &PushArgs) -> Result<(Vec<u8>, bool), CommandError> {
    let data = match &args.data {
        Some(text) => Some(
            serde_json::from_str::<serde_json::Value>(text)
                .map_err(|e| usage(format!("--data is not valid JSON: {e}")))?,
        ),
        None => None,
    };
    if let Some(kind) = &args.message_type {
        return typed_payload(kind, data).map(|payload| (payload.to_string().into_bytes(), true));
    }
    if let Some(data) = data {
        return Ok((data.to_string().into_bytes(), true));
    }
    if let Some(file) = &args.file {
        return std::fs::read(file)
            .map(|b| (b, false))
            .map_err(|e| usage(format!("cannot read {}: {e}", file.display())));
    }
    if args.stdin {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| usage(format!("cannot read stdin: {e}")))?;
        return Ok((bytes, false));
    }
    Err(usage(
        "say what to send: --type T [--data JSON], --data JSON, --file F or --stdin",
    ))
}

pub async fn run(global: &GlobalArgs, args: &PushArgs) -> Result<(), CommandError> {
    let (bytes, must_be_json) = payload(args)?;
    match check_payload(&bytes, must_be_json) {
        Ok(Some(warning)) => eprintln!("warning: {warning}"),
        Ok(None) => {}
        Err(e) => return Err(usage(e)),
    }
    let context = Context::new(global).await?;
    context.refuse_if_readonly("push")?;
    let gateway = context.management()?;
    // Users and --all are looked up in the table; plain connection ids need it only to delete
    // the records of Gone connections.
    let needs_store =
        !args.users.is_empty() || args.all || (context.env.table.is_some() && !args.keep_gone);
    let store: Option<Arc<dyn ConnectionStore>> = if needs_store {
        Some(context.store().await?)
    } else {
        None
    };
    let mut not_connected = Vec::new();
    let mut targets = Vec::new();
    if let Some(store) = &store {
        (targets, not_connected) = crate::ops::push::targets_of_users(store.as_ref(), &args.users)
            .await
            .map_err(failed)?;
        if args.all {
            let snapshot = store.scan().await.map_err(failed)?;
            let filter = args.filter.clone().unwrap_or_default();
            targets.extend(
                snapshot
                    .records
                    .into_iter()
                    .filter(|r| r.user_id.contains(&filter) || r.connection_id.contains(&filter))
                    .map(|r| PushTarget::record(r.clone(), r.user_id)),
            );
        }
    }
    for id in &args.connections {
        let record = match &store {
            Some(store) => store.find_by_connection(id).await.map_err(failed)?,
            None => None,
        };
        targets.push(match record {
            Some(record) => PushTarget::record(record, id.clone()),
            None => PushTarget::connection(id.clone()),
        });
    }
    if targets.is_empty() && not_connected.is_empty() {
        return Err(usage(
            "no target: give --user, --connection or --all (and check --filter)",
        ));
    }
    let audit = Arc::new(context.audit()?);
    let rate = context.rate();
    super::progress::announce(
        "pushing: PostToConnection calls:",
        targets.len(),
        &rate,
        crate::ops::pacing::Lane::Operator,
    );
    let options = PushOptions {
        delete_gone: !args.keep_gone,
        // Pushes wait on the network, not the CPU: many in flight. Under a ceiling the rate
        // decides and 64 in flight cover it; without one (a loopback endpoint) more do.
        concurrency: match rate.status().ceiling {
            Some(_) => context.env.probe_concurrency.max(64),
            None => UNLIMITED_PUSH_CONCURRENCY,
        },
        pacing: Some(crate::ops::pacing::Pacing::operator(&rate)),
        audit: Some(audit),
        stop: crate::shutdown::StopRequest::on_signals(),
        ..PushOptions::default()
    };
    let expected = targets.len();
    let outcomes = super::progress::with_progress(gateway, "pushing", expected, |gateway| {
        push_to_targets(gateway, store, targets, Bytes::from(bytes), options)
    })
    .await;
    print_outcomes(
        &outcomes,
        &not_connected,
        global.output == OutputFormat::Json,
    );
    let unsent = outcomes
        .iter()
        .filter(|o| o.error.as_deref() == Some(crate::ops::push::NOT_SENT_STOPPED))
        .count();
    if unsent > 0 {
        return Err(super::context::interrupted(
            outcomes.len() - unsent,
            outcomes.len(),
            "the messages marked \"not sent\" were not sent",
        ));
    }
    let failures = outcomes
        .iter()
        .filter(|o| o.class != crate::model::DeliveryClass::Delivered)
        .count();
    if failures > 0 || !not_connected.is_empty() {
        return Err(failed(format!(
            "{failures} of {} push(es) not delivered, {} user(s) not connected",
            outcomes.len(),
            not_connected.len()
        )));
    }
    Ok(())
}

fn print_outcomes(outcomes: &[DeliveryOutcome], not_connected: &[String], json_output: bool) {
    if json_output {
        print_json(&serde_json::json!({ "outcomes": outcomes, "not_connected": not_connected }));
        return;
    }
    let mut rows: Vec<Vec<String>> = outcomes
        .iter()
        .map(|o| {
            vec![
                o.target.clone(),
                o.connection_id.clone(),
                o.class.as_str().to_string(),
                o.status.map(|s| s.to_string()).unwrap_or_default(),
                format!("{:.1} ms", o.latency_ms),
                if o.record_deleted {
                    "stale record deleted".into()
                } else {
                    o.error.clone().unwrap_or_default()
                },
            ]
        })
        .collect();
    rows.extend(not_connected.iter().map(|u| {
        vec![
            u.clone(),
            String::new(),
            "not_connected".into(),
            String::new(),
            String::new(),
            "no record for this user".into(),
        ]
    }));
    print_table(
        &[
            "TARGET",
            "CONNECTION",
            "RESULT",
            "STATUS",
            "LATENCY",
            "DETAIL",
        ],
        &rows,
    );
}
