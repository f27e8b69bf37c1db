//! `wsdash store install-notify`: the PostgreSQL trigger that lets the dashboard follow the
//! table's changes (LISTEN/NOTIFY) instead of scanning it again and again.

use super::context::{failed, usage, CommandError, Context, GlobalArgs};
use crate::store::postgres::PostgresStore;

#[derive(Debug, Clone, clap::Subcommand)]
pub enum StoreCommand {
    /// Create the trigger that sends each row change to the dashboard (PostgreSQL).
    InstallNotify {
        /// Print the SQL instead of running it (to review, or for a DBA to run).
        #[arg(long)]
        print: bool,
    },
}

pub async fn run(global: &GlobalArgs, command: &StoreCommand) -> Result<(), CommandError> {
    let StoreCommand::InstallNotify { print } = command;
    let context = Context::new(global).await?;
    let Some(url) = context.env.store_url.clone() else {
        return Err(usage(
            "install-notify is for PostgreSQL tables: give the environment a store URL (--store-url postgres://…); a DynamoDB table is followed through its stream",
        ));
    };
    let table = context.env.table().map_err(usage)?;
    let store = PostgresStore::connect(&url, table, &context.env.schema)
        .await
        .map_err(usage)?;
    if *print {
        println!(
            "{}",
            crate::store::postgres_notify::install_sql(store.discovered())
        );
        return Ok(());
    }
    context.refuse_if_readonly("install-notify")?;
    store.install_notify().await.map_err(failed)?;
    println!(
        "installed trigger {} on {}: the dashboard follows its changes live (LISTEN {})",
        crate::store::postgres_notify::TRIGGER,
        store.discovered().qualified,
        crate::store::postgres_notify::channel(store.discovered())
    );
    Ok(())
}
