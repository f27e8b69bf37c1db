//! `wsdash probe`: every record, classified with GetConnection (rate-limited).

use super::context::{failed, CommandError, Context, GlobalArgs, OutputFormat};
use super::output::{note_closed, print_records};
use crate::ops::classify::classify_records;

pub async fn run(args: &GlobalArgs) -> Result<(), CommandError> {
    let context = Context::new(args).await?;
    let gateway = context.management()?;
    let store = context.store().await?;
    let snapshot = store.scan().await.map_err(failed)?;
    note_closed(snapshot.closed);
    let concurrency = context.env.probe_concurrency;
    let rate = context.rate();
    super::progress::announce(
        "probing: GetConnection calls:",
        snapshot.records.len(),
        &rate,
        crate::ops::pacing::Lane::Background,
    );
    let pacing = Some(crate::ops::pacing::Pacing::background(&rate));
    let probed =
        super::progress::with_progress(gateway, "probing", snapshot.records.len(), |gateway| {
            classify_records(gateway, snapshot.records, concurrency, pacing)
        })
        .await;
    print_records(
        &probed,
        &snapshot.malformed,
        &snapshot.expires,
        args.output == OutputFormat::Json,
    );
    probe_failures(&probed)
}

/// Probing is the command's whole job: if some records could not be classified, say why (the
/// most common reason) and exit 1, after the records were printed.
pub fn probe_failures(probed: &[crate::ops::classify::ProbedRecord]) -> Result<(), CommandError> {
    use crate::ops::classify::ConnectionState;
    let mut reasons: std::collections::HashMap<&str, usize> = Default::default();
    for p in probed
        .iter()
        .filter(|p| p.state == ConnectionState::Unknown)
    {
        *reasons
            .entry(p.error.as_deref().unwrap_or("unknown error"))
            .or_default() += 1;
    }
    let failed_count: usize = reasons.values().sum();
    match reasons.into_iter().max_by_key(|(_, n)| *n) {
        None => Ok(()),
        Some((reason, _)) => Err(failed(format!(
            "{failed_count} of {} probe(s) failed; their state is unknown. Most common error: {reason}",
            probed.len()
        ))),
    }
}
