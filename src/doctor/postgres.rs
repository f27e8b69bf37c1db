//! Checks of a PostgreSQL connection table: reachable, the mapped columns there and of a type
//! that fits, rows that parse, an index for `push --user`, the privileges every feature needs,
//! and a boolean column that looks like a soft-delete flag wsdash was not told about.

use super::Check;
use crate::store::postgres::PostgresStore;
use crate::store::postgres_connect::redact;
use crate::store::schema::SchemaOverrides;
use crate::store::StoreError;

pub async fn table(
    env: &str,
    url: &str,
    table: Option<&str>,
    names: &SchemaOverrides,
) -> Vec<Check> {
    let Some(table) = table else {
        return vec![Check::warn(
            "table",
            "no connection table configured, so records are not checked",
            Some("--table NAME (or table = \"...\" in the environment)".into()),
        )];
    };
    let shown = redact(url);
    let store = match PostgresStore::connect(url, table, names).await {
        Ok(store) => store,
        Err(e) => return vec![refused(&e, table, &shown)],
    };
    let found = store.discovered();
    let mut checks = vec![match store.sample().await {
        Ok(sample) if sample.malformed.is_empty() => Check::pass(
            "table",
            format!(
                "{}; {} sampled row(s) parse{}",
                found.describe(),
                sample.records.len() + sample.closed,
                closed_note(sample.closed)
            ),
        ),
        Ok(sample) => Check::warn(
            "table",
            format!(
                "{}; {} of {} sampled row(s) do not parse, e.g. connection {}: {}",
                found.describe(),
                sample.malformed.len(),
                sample.malformed.len() + sample.records.len() + sample.closed,
                sample.malformed[0].connection_id.as_deref().unwrap_or("?"),
                sample.malformed[0].reason
            ),
            Some("fix the writer, or map the columns under [env.NAME.schema]".into()),
        ),
        Err(e) => refused(&e, table, &shown),
    }];
    checks.push(if found.user_indexed {
        Check::pass(
            "user index",
            format!(
                "an index starts with {}: push --user finds a user's rows without a scan",
                found.user.name
            ),
        )
    } else {
        Check::warn(
            "user index",
            format!(
                "no index starts with {}: every push --user reads the whole table",
                found.user.name
            ),
            Some(format!(
                "CREATE INDEX CONCURRENTLY ON {} ({});",
                found.qualified, found.user.quoted
            )),
        )
    });
    // Purge changes rows (UPDATE with a soft-delete flag, else DELETE); restore sets the flag
    // back or inserts.
    let wanted: &[&str] = if found.soft_delete.is_some() {
        &["SELECT", "UPDATE"]
    } else {
        &["SELECT", "DELETE", "INSERT"]
    };
    checks.push(match store.missing_privileges(wanted).await {
        Ok(missing) if missing.is_empty() => Check::pass(
            "table privileges",
            format!(
                "{} on {}: list, probe, purge and restore",
                wanted.join(", "),
                found.qualified
            ),
        ),
        Ok(missing) => Check::fail(
            "table privileges",
            format!(
                "the store URL's user lacks {} on {}",
                missing.join(", "),
                found.qualified
            ),
            format!(
                "GRANT {} ON {} TO <the store URL's user>;",
                missing.join(", "),
                found.qualified
            ),
        ),
        Err(e) => Check::warn(
            "table privileges",
            format!("cannot read the privileges: {e}"),
            None,
        ),
    });
    checks.push(match store.notify_installed().await {
        Ok(true) => Check::pass(
            "live refresh",
            format!(
                "trigger {} sends each row change: the dashboard follows it (LISTEN) instead of scanning again",
                crate::store::postgres_notify::TRIGGER
            ),
        ),
        Ok(false) => Check::warn(
            "live refresh",
            format!(
                "no {} trigger on {}: the dashboard scans the whole table again at a pace instead of following its changes",
                crate::store::postgres_notify::TRIGGER,
                found.qualified
            ),
            Some(format!(
                "wsdash --env {env} store install-notify   # or --print for the SQL, to review or hand to a DBA"
            )),
        ),
        Err(e) => Check::warn("live refresh", format!("cannot read the table's triggers: {e}"), None),
    });
    checks.push(match &found.soft_delete {
        Some(flag) => Check::pass(
            "soft delete",
            format!(
                "{} = false marks a gone connection: purge clears it and keeps the row, restore sets it back, closed rows are not probed",
                flag.name
            ),
        ),
        None => match found.boolean_columns.first() {
            Some(flag) => Check::warn(
                "soft delete",
                format!(
                    "{} has a boolean column {flag}: if false means the connection is gone (as Django's connected), wsdash would probe and purge rows the backend already closed",
                    found.qualified
                ),
                Some(format!("soft_delete = \"{flag}\" under [env.NAME.schema]")),
            ),
            None => Check::pass(
                "soft delete",
                "no soft-delete flag: purge deletes the row, restore inserts the audit log's copy",
            ),
        },
    });
    checks
}

fn closed_note(closed: usize) -> String {
    if closed == 0 {
        String::new()
    } else {
        format!(" ({closed} closed by the soft-delete flag)")
    }
}

/// Why the table could not be read, with the fix for that cause.
fn refused(error: &StoreError, table: &str, url: &str) -> Check {
    let fix = match error {
        StoreError::Network(_) => format!(
            "check the host and port of {url}, that the server runs and accepts connections from here (listen_addresses, pg_hba.conf)"
        ),
        StoreError::AccessDenied(_) => format!(
            "check the user and password in the store URL, and GRANT SELECT ON {table} to that user"
        ),
        StoreError::TableNotFound(_) => format!(
            "check --table (psql {url} -c '\\dt *{table}*'); a table outside the search path is schema.table"
        ),
        StoreError::Schema(_) => {
            "name the columns under [env.NAME.schema]: user_id, connection_id, connected_at (and soft_delete)".into()
        }
        _ => "see the error above".into(),
    };
    Check::fail("table", format!("{table} on {url}: {error}"), fix)
}
