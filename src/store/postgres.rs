//! A connection table in PostgreSQL: the table a backend's ORM keeps (Django's
//! `WebSocketSession`, a Drizzle `connections` table), mapped by the environment's schema keys
//! and discovered from `information_schema`.
//!
//! Every change is conditional on the row still being the one that was read (its connection,
//! user and connect time), so a record whose user reconnected meanwhile is never removed. With
//! `soft_delete = "COLUMN"` (a boolean, false meaning gone, as Django's `connected`) nothing is
//! deleted: the flag is cleared, and restore sets it again.

use super::postgres_connect::{classify, open, redact};
use super::postgres_schema::Discovered;
use super::postgres_sql::Statements;
use super::schema::SchemaOverrides;
use super::{DeleteOutcome, MalformedRecord, StoreError, StoreSnapshot};
use crate::model::ConnectionRecord;
use async_trait::async_trait;
use std::collections::HashMap;
use tokio::sync::RwLock;
use tokio_postgres::{Client, Row};

/// The user of a row whose user column is NULL (Django's anonymous connections): a connection
/// all the same, probed and purged like any other, but no user to push to or to compare with.
pub const ANONYMOUS_USER: &str = "(anonymous)";

/// Rows per page of a scan: keyset paging, each page its own statement, so a million-row table
/// is read without a transaction held open.
pub(super) const PAGE_ROWS: i64 = 5_000;

pub struct PostgresStore {
    url: String,
    /// Reconnected when the server closes the connection (a restart, an idle timeout).
    client: RwLock<Client>,
    table: Discovered,
    /// The statements, built once from the discovered columns.
    sql: Statements,
}

impl PostgresStore {
    /// Connect to `url` and map `table` with `names`; a table or column that does not fit is
    /// refused now, saying what does not fit.
    pub async fn connect(
        url: &str,
        table: &str,
        names: &SchemaOverrides,
    ) -> Result<Self, StoreError> {
        let client = open(url).await?;
        let table = Discovered::read(&client, table, names).await?;
        let sql = Statements::for_table(&table);
        Ok(Self {
            url: url.to_string(),
            client: RwLock::new(client),
            table,
            sql,
        })
    }

    /// Create (or replace) the trigger that feeds LISTEN/NOTIFY, in one transaction.
    pub async fn install_notify(&self) -> Result<(), StoreError> {
        let sql = format!(
            "BEGIN;\n{}\nCOMMIT;",
            super::postgres_notify::install_sql(&self.table)
        );
        let client = self.client().await?;
        client.batch_execute(&sql).await.map_err(classify)
    }

    /// Whether the table has the trigger (doctor's "live refresh").
    pub async fn notify_installed(&self) -> Result<bool, StoreError> {
        let client = self.client().await?;
        super::postgres_notify::installed(&client, &self.table).await
    }

    /// What the mapping found, for doctor and the dashboard's header.
    pub fn discovered(&self) -> &Discovered {
        &self.table
    }

    /// The first page of rows, parsed, for doctor.
    pub async fn sample(&self) -> Result<StoreSnapshot, StoreError> {
        let none: Option<String> = None;
        let rows = self.query(&self.sql.page, &[&none]).await?;
        let mut snapshot = StoreSnapshot::default();
        for row in &rows {
            match self.parse(row) {
                Ok((record, true)) => snapshot.records.push(record),
                Ok((_, false)) => snapshot.closed += 1,
                Err(malformed) => snapshot.malformed.push(malformed),
            }
        }
        Ok(snapshot)
    }

    /// The privileges among `wanted` (SELECT, UPDATE, DELETE, INSERT) the connected user lacks
    /// on the table.
    pub async fn missing_privileges(&self, wanted: &[&str]) -> Result<Vec<String>, StoreError> {
        let mut missing = Vec::new();
        for privilege in wanted {
            let rows = self
                .query(
                    "SELECT has_table_privilege(current_user, $1::text, $2::text)",
                    &[&self.table.qualified, privilege],
                )
                .await?;
            if !rows.first().is_some_and(|row| row.get::<_, bool>(0)) {
                missing.push(privilege.to_string());
            }
        }
        Ok(missing)
    }

    /// A client that is connected: the server may have closed the last one.
    async fn client(&self) -> Result<tokio::sync::RwLockReadGuard<'_, Client>, StoreError> {
        {
            let client = self.client.read().await;
            if !client.is_closed() {
                return Ok(client);
            }
        }
        let mut slot = self.client.write().await;
        if slot.is_closed() {
            *slot = open(&self.url).await?;
        }
        Ok(slot.downgrade())
    }

    async fn query(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        let client = self.client().await?;
        client.query(sql, params).await.map_err(classify)
    }

    async fn execute(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<u64, StoreError> {
        let client = self.client().await?;
        client.execute(sql, params).await.map_err(classify)
    }

    /// A row of the shared select as a record, or as malformed with its reason.
    fn parse(&self, row: &Row) -> Result<(ConnectionRecord, bool), MalformedRecord> {
        let user: Option<String> = row.get(0);
        let connection: Option<String> = row.get(1);
        let connected_at: Option<String> = row.get(2);
        let open: Option<bool> = row.get(3);
        let malformed = |reason: String| MalformedRecord {
            raw: serde_json::json!({
                self.table.user.name.clone(): user,
                self.table.connection.name.clone(): connection,
                self.table.connected_at.name.clone(): connected_at,
            }),
            user_id: user.clone(),
            connection_id: connection.clone(),
            reason,
        };
        let user_id = match user.clone() {
            Some(user_id) => user_id,
            None if self.table.user.nullable => ANONYMOUS_USER.to_string(),
            None => return Err(malformed(format!("{} is NULL", self.table.user.name))),
        };
        let Some(connection_id) = connection.clone().filter(|c| !c.is_empty()) else {
            return Err(malformed(format!(
                "{} is NULL or empty",
                self.table.connection.name
            )));
        };
        if let Some(reason) = crate::model::connection_id_problem(&connection_id) {
            return Err(malformed(reason));
        }
        let Some(text) = connected_at.as_deref() else {
            return Err(malformed(format!(
                "{} is NULL",
                self.table.connected_at.name
            )));
        };
        let connected_at =
            self.table.connected_at.time.parse(text).map_err(|reason| {
                malformed(format!("{}: {reason}", self.table.connected_at.name))
            })?;
        Ok((
            ConnectionRecord {
                user_id,
                connection_id,
                connected_at,
            },
            open.unwrap_or(true),
        ))
    }

    fn records(&self, rows: &[Row]) -> Vec<ConnectionRecord> {
        rows.iter()
            .filter_map(|row| self.parse(row).ok())
            .filter(|(_, open)| *open)
            .map(|(record, _)| record)
            .collect()
    }

    /// The user id as the user column takes it (`Some(None)`: NULL, the anonymous user); `None`
    /// when it cannot be in the column (an integer column holds no other text).
    fn user_param(&self, user_id: &str) -> Option<Option<String>> {
        if user_id == ANONYMOUS_USER && self.table.user.nullable {
            return Some(None);
        }
        self.table
            .user
            .accepts(user_id)
            .then(|| Some(user_id.to_string()))
    }

    /// A user to look records up by: the anonymous user has none.
    fn named_user(&self, user_id: &str) -> Option<String> {
        self.user_param(user_id).flatten()
    }
}

/// Micro-seconds since the epoch: how every statement names a connect time, whatever the
/// column's type, so the time read is the time compared.
fn micros(record: &ConnectionRecord) -> i64 {
    (record.connected_at.unix_timestamp_nanos() / 1_000) as i64
}

#[async_trait]
impl super::ConnectionStore for PostgresStore {
    async fn scan(&self) -> Result<StoreSnapshot, StoreError> {
        let mut snapshot = StoreSnapshot::default();
        let mut after: Option<String> = None;
        loop {
            let rows = self.query(&self.sql.page, &[&after]).await?;
            for row in &rows {
                match self.parse(row) {
                    Ok((record, true)) => snapshot.records.push(record),
                    // A soft-deleted row is a closed connection: nothing to show or probe.
                    Ok((_, false)) => snapshot.closed += 1,
                    Err(malformed) => snapshot.malformed.push(malformed),
                }
            }
            if (rows.len() as i64) < PAGE_ROWS {
                return Ok(snapshot);
            }
            after = rows.last().and_then(|row| row.get::<_, Option<String>>(1));
        }
    }

    async fn find_by_user(&self, user_id: &str) -> Result<Option<ConnectionRecord>, StoreError> {
        Ok(self.find_all_by_user(user_id).await?.into_iter().next())
    }

    async fn find_all_by_user(&self, user_id: &str) -> Result<Vec<ConnectionRecord>, StoreError> {
        let Some(user) = self.named_user(user_id) else {
            return Ok(Vec::new());
        };
        let rows = self.query(&self.sql.by_user, &[&user]).await?;
        Ok(self.records(&rows))
    }

    async fn find_by_connection(
        &self,
        connection_id: &str,
    ) -> Result<Option<ConnectionRecord>, StoreError> {
        let rows = self
            .query(&self.sql.by_connection, &[&connection_id])
            .await?;
        Ok(self.records(&rows).into_iter().next())
    }

    /// One connection per user, as the reference backend keeps them: the user's rows go, the
    /// new one comes (for tables wsdash's own backend writes; an ORM's table is written by it).
    async fn put(&self, record: ConnectionRecord) -> Result<Option<ConnectionRecord>, StoreError> {
        let Some(user) = self.named_user(&record.user_id) else {
            return Err(StoreError::Schema(format!(
                "user id {:?} does not fit column {} ({})",
                record.user_id, self.table.user.name, self.table.user.sql_type
            )));
        };
        let replaced = self.query(&self.sql.delete_user, &[&user]).await?;
        let micros = micros(&record);
        self.execute(&self.sql.insert, &[&record.connection_id, &user, &micros])
            .await?;
        Ok(self.records(&replaced).into_iter().next())
    }

    async fn delete_if_current(
        &self,
        record: &ConnectionRecord,
    ) -> Result<DeleteOutcome, StoreError> {
        let Some(user) = self.user_param(&record.user_id) else {
            return Ok(DeleteOutcome::Missing);
        };
        let micros = micros(record);
        let changed = self
            .execute(&self.sql.delete, &[&record.connection_id, &user, &micros])
            .await?;
        if changed > 0 {
            return Ok(DeleteOutcome::Deleted);
        }
        let still_there = self
            .query(&self.sql.exists, &[&record.connection_id])
            .await?;
        Ok(if still_there.is_empty() {
            DeleteOutcome::Missing
        } else {
            DeleteOutcome::Changed
        })
    }

    async fn raw_item(
        &self,
        record: &ConnectionRecord,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        Ok(self
            .raw_items(std::slice::from_ref(record))
            .await?
            .pop()
            .flatten())
    }

    /// Whole rows (every column, as `row_to_json` gives them) for the audit log, in one query;
    /// a row its soft-delete column marks closed is not a record any more, so not given.
    async fn raw_items(
        &self,
        records: &[ConnectionRecord],
    ) -> Result<Vec<Option<serde_json::Value>>, StoreError> {
        let ids: Vec<&str> = records.iter().map(|r| r.connection_id.as_str()).collect();
        let rows = self.query(&self.sql.raw, &[&ids]).await?;
        let mut by_id: HashMap<String, serde_json::Value> = HashMap::new();
        for row in rows {
            let id: Option<String> = row.get(0);
            let json: Option<String> = row.get(1);
            if let (Some(id), Some(json)) = (id, json) {
                let value = serde_json::from_str(&json)
                    .map_err(|e| StoreError::Other(format!("row_to_json gave bad JSON: {e}")))?;
                by_id.insert(id, value);
            }
        }
        Ok(records
            .iter()
            .map(|r| by_id.remove(&r.connection_id))
            .collect())
    }

    async fn restore(
        &self,
        record: &ConnectionRecord,
        raw: Option<&serde_json::Value>,
    ) -> Result<bool, StoreError> {
        let Some(user) = self.user_param(&record.user_id) else {
            return Ok(false);
        };
        let micros = micros(record);
        // Soft delete: the row is still there; set its flag back, unless the user has a newer
        // open row.
        if let Some(sql) = &self.sql.restore_flag {
            let changed = self
                .execute(sql, &[&record.connection_id, &user, &micros])
                .await?;
            if changed > 0 {
                return Ok(true);
            }
            if !self
                .query(&self.sql.exists, &[&record.connection_id])
                .await?
                .is_empty()
            {
                return Ok(false);
            }
        }
        let Some(raw) = raw else {
            return Err(StoreError::Schema(format!(
                "no copy of row {} in the audit log to put back: {} has columns wsdash cannot fill in",
                record.connection_id, self.table.qualified
            )));
        };
        let mut row = raw.clone();
        if let (Some(flag), Some(object)) = (&self.table.soft_delete, row.as_object_mut()) {
            object.insert(flag.name.clone(), serde_json::Value::Bool(true));
        }
        let json = row.to_string();
        let changed = self
            .execute(
                &self.sql.restore_row,
                &[&record.connection_id, &user, &micros, &json],
            )
            .await?;
        Ok(changed > 0)
    }

    /// LISTEN/NOTIFY when the table has wsdash's trigger; paced rescans otherwise.
    async fn changes(&self) -> Result<Option<Box<dyn super::changes::ChangeFeed>>, StoreError> {
        let installed = {
            let client = self.client().await?;
            super::postgres_notify::installed(&client, &self.table).await?
        };
        if !installed {
            return Ok(None);
        }
        let feed = super::postgres_notify::NotifyFeed::open(&self.url, &self.table).await?;
        Ok(Some(Box::new(feed)))
    }

    fn describe(&self) -> String {
        format!("{} on {}", self.table.describe(), redact(&self.url))
    }
}
