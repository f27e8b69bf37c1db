//! `wsdash list`: every record in the table, without calling the Management API.

use super::context::{failed, CommandError, Context, GlobalArgs, OutputFormat};
use super::output::{note_closed, print_records, unprobed};

pub async fn run(args: &GlobalArgs) -> Result<(), CommandError> {
    let context = Context::new(args).await?;
    let store = context.store().await?;
    let snapshot = store.scan().await.map_err(failed)?;
    note_closed(snapshot.closed);
    print_records(
        &unprobed(snapshot.records),
        &snapshot.malformed,
        &snapshot.expires,
        args.output == OutputFormat::Json,
    );
    Ok(())
}
