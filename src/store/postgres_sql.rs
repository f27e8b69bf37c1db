//! The SQL the PostgreSQL store runs, built once from the discovered table: every statement
//! names its columns and carries the conditions (connection, user, connect time) that keep a
//! change from touching a row that is not the one that was read.

use super::postgres::PAGE_ROWS;
use super::postgres_schema::Discovered;

/// Every read selects the same four columns: user, connection, connect time (as text), and the
/// soft-delete flag (NULL without one).
pub(super) struct Statements {
    pub(super) page: String,
    pub(super) by_user: String,
    pub(super) by_connection: String,
    pub(super) delete: String,
    pub(super) exists: String,
    pub(super) raw: String,
    pub(super) restore_flag: Option<String>,
    pub(super) restore_row: String,
    pub(super) insert: String,
    pub(super) delete_user: String,
}

impl Statements {
    pub(super) fn for_table(t: &Discovered) -> Self {
        let table = &t.qualified;
        let user = &t.user.quoted;
        let connection = &t.connection.quoted;
        let time_text = t.connected_at.time.as_text(&t.connected_at.quoted);
        let time_micros = t.connected_at.time.as_micros(&t.connected_at.quoted);
        let open = t
            .soft_delete
            .as_ref()
            .map(|c| format!("{} IS TRUE", c.quoted));
        let open_flag = t
            .soft_delete
            .as_ref()
            .map_or("NULL::boolean".to_string(), |c| c.quoted.clone());
        let select = format!(
            "SELECT {user}::text, {connection}::text, {time_text}, {open_flag} FROM {table}"
        );
        let user_eq = format!("{user} = $1::text::{}", t.user.sql_type);
        let and_open = open
            .as_ref()
            .map(|o| format!(" AND {o}"))
            .unwrap_or_default();
        // The row as read: connection, user and connect time, so a row the user's reconnect
        // rewrote, or a newer one, is never touched.
        let current = format!(
            "{connection} = $1 AND {user} IS NOT DISTINCT FROM $2::text::{} AND {time_micros} = $3",
            t.user.sql_type
        );
        let delete = match &t.soft_delete {
            Some(flag) => format!(
                "UPDATE {table} SET {} = false WHERE {current} AND {} IS TRUE",
                flag.quoted, flag.quoted
            ),
            None => format!("DELETE FROM {table} WHERE {current}"),
        };
        // No open row of the user is as new or newer than this one (restores never go over
        // newer data), and this connection's row is not back already.
        let newer_micros = t
            .connected_at
            .time
            .as_micros(&format!("n.{}", t.connected_at.quoted));
        let newer_open = t
            .soft_delete
            .as_ref()
            .map(|c| format!(" AND n.{} IS TRUE", c.quoted))
            .unwrap_or_default();
        // (Anonymous rows have no user whose newer row could exist.)
        let newer = format!(
            "($2::text IS NULL OR NOT EXISTS (SELECT 1 FROM {table} n WHERE n.{user} = $2::text::{} AND {newer_micros} >= $3{newer_open} AND n.{connection} <> $1))",
            t.user.sql_type
        );
        Statements {
            page: format!(
                "{select} WHERE $1::text IS NULL OR {connection}::text > $1::text ORDER BY {connection}::text LIMIT {PAGE_ROWS}"
            ),
            by_user: format!("{select} WHERE {user_eq}{and_open} ORDER BY {time_micros} DESC"),
            by_connection: format!("{select} WHERE {connection} = $1{and_open}"),
            delete,
            exists: format!("SELECT 1 FROM {table} WHERE {connection} = $1{and_open}"),
            raw: format!(
                "SELECT {connection}::text, row_to_json(t)::text FROM {table} t WHERE {connection}::text = ANY($1::text[]){and_open}"
            ),
            restore_flag: t.soft_delete.as_ref().map(|flag| {
                format!(
                    "UPDATE {table} SET {0} = true WHERE {current} AND {0} IS NOT TRUE AND {newer}",
                    flag.quoted
                )
            }),
            // Every column from the audit log's copy of the row, so a table whose columns have
            // no database defaults (Django's) gets them all back.
            restore_row: format!(
                "INSERT INTO {table} OVERRIDING SYSTEM VALUE SELECT * FROM json_populate_record(NULL::{table}, $4::text::json) WHERE {newer} AND NOT EXISTS (SELECT 1 FROM {table} WHERE {connection} = $1) ON CONFLICT DO NOTHING"
            ),
            insert: format!(
                "INSERT INTO {table} ({connection}, {user}, {}) VALUES ($1, $2::text::{}, {}) ON CONFLICT DO NOTHING",
                t.connected_at.quoted,
                t.user.sql_type,
                t.connected_at.time.from_micros("$3")
            ),
            delete_user: format!(
                "DELETE FROM {table} WHERE {user_eq} RETURNING {user}::text, {connection}::text, {time_text}, {open_flag}"
            ),
        }
    }
}
