//! `wsdash probe`: every record, classified with GetConnection (rate-limited).

use super::context::{failed, CommandError, Context, GlobalArgs, OutputFormat};
use super::output::print_records;
use crate::ops::refresh::classify_records;
use crate::store::ConnectionStore;

pub async fn run(args: &GlobalArgs) -> Result<(), CommandError> {
    let context = Context::new(args).await?;
    let gateway = context.management()?;
    let store = context.store().await?;
    let snapshot = store.scan().await.map_err(failed)?;
    let concurrency = context.env.probe_concurrency;
    let limiter = context.limiter();
    let probed =
        super::progress::with_progress(gateway, "probing", snapshot.records.len(), |gateway| {
            classify_records(gateway, snapshot.records, concurrency, Some(limiter))
        })
        .await;
    print_records(
        &probed,
        &snapshot.malformed,
        args.output == OutputFormat::Json,
    );
    Ok(())
}
