//! Live changes of a PostgreSQL connection table: a trigger (`wsdash store install-notify`
//! creates it, `doctor` prints it) sends each row change with `pg_notify`, and the dashboard
//! LISTENs instead of scanning again. The notification carries only the mapped columns, so its
//! payload stays far below PostgreSQL's 8,000-byte limit and can never fail the backend's write.

use super::changes::{ChangeFeed, ItemKey, StoreChange};
use super::postgres_connect::{classify, open_listener};
use super::postgres_schema::Discovered;
use super::{MalformedRecord, StoreError};
use crate::model::ConnectionRecord;
use async_trait::async_trait;
use serde_json::Value;
use std::time::Duration;
use tokio::sync::mpsc;

/// The trigger's (and its function's) name.
pub const TRIGGER: &str = "wsdash_notify";

/// The channel a table's changes go to: one per table, so two environments never mix.
pub fn channel(table: &Discovered) -> String {
    let mut name: String = format!("wsdash_{}", table.qualified)
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    // Identifiers are 63 bytes at most.
    name.truncate(63);
    name
}

/// The SQL that makes the trigger: a function shared by every table (the columns come as
/// arguments), and the trigger on this table.
pub fn install_sql(table: &Discovered) -> String {
    let soft = table
        .soft_delete
        .as_ref()
        .map(|c| c.name.clone())
        .unwrap_or_default();
    let quote_literal = |s: &str| format!("'{}'", s.replace('\'', "''"));
    format!(
        "CREATE OR REPLACE FUNCTION {TRIGGER}() RETURNS trigger LANGUAGE plpgsql AS $wsdash$
DECLARE
  cols text[] := ARRAY[TG_ARGV[1], TG_ARGV[2], TG_ARGV[3], TG_ARGV[4]];
  pick jsonb;
  old_row jsonb;
  new_row jsonb;
BEGIN
  IF TG_OP <> 'INSERT' THEN old_row := to_jsonb(OLD); END IF;
  IF TG_OP <> 'DELETE' THEN new_row := to_jsonb(NEW); END IF;
  SELECT jsonb_build_object('op', TG_OP,
      'old', (SELECT jsonb_object_agg(c, old_row -> c) FROM unnest(cols) c WHERE c <> '' AND old_row IS NOT NULL),
      'new', (SELECT jsonb_object_agg(c, new_row -> c) FROM unnest(cols) c WHERE c <> '' AND new_row IS NOT NULL))
    INTO pick;
  PERFORM pg_notify(TG_ARGV[0], pick::text);
  RETURN NULL;
END
$wsdash$;
DROP TRIGGER IF EXISTS {TRIGGER} ON {table};
CREATE TRIGGER {TRIGGER} AFTER INSERT OR UPDATE OR DELETE ON {table}
  FOR EACH ROW EXECUTE FUNCTION {TRIGGER}({channel}, {user}, {connection}, {at}, {soft});",
        table = table.qualified,
        channel = quote_literal(&channel(table)),
        user = quote_literal(&table.user.name),
        connection = quote_literal(&table.connection.name),
        at = quote_literal(&table.connected_at.name),
        soft = quote_literal(&soft),
    )
}

/// Whether the table has the trigger.
pub async fn installed(
    client: &tokio_postgres::Client,
    table: &Discovered,
) -> Result<bool, StoreError> {
    let rows = client
        .query(
            "SELECT 1 FROM pg_trigger WHERE tgrelid = $1::text::regclass AND tgname = $2 AND tgenabled <> 'D'",
            &[&table.qualified, &TRIGGER],
        )
        .await
        .map_err(classify)?;
    Ok(!rows.is_empty())
}

/// How long a read waits for a notification before saying "nothing changed".
const WAIT: Duration = Duration::from_secs(1);

pub struct NotifyFeed {
    notifications: mpsc::UnboundedReceiver<Result<String, StoreError>>,
    table: Discovered,
    /// Keeps the listening connection open; dropping the feed closes it.
    _client: tokio_postgres::Client,
}

impl NotifyFeed {
    /// LISTEN on the table's channel: every change committed from now on is reported.
    pub async fn open(url: &str, table: &Discovered) -> Result<Self, StoreError> {
        let (client, notifications) = open_listener(url).await?;
        client
            .batch_execute(&format!("LISTEN {}", channel(table)))
            .await
            .map_err(classify)?;
        Ok(Self {
            notifications,
            table: table.clone(),
            _client: client,
        })
    }

    fn changes_of(&self, payload: &str) -> Vec<StoreChange> {
        let Ok(event) = serde_json::from_str::<Value>(payload) else {
            return Vec::new();
        };
        let old = self.row(&event["old"]);
        let new = self.row(&event["new"]);
        let mut changes = Vec::new();
        // A row whose connection id changed (or that went) is gone under its old key.
        if let Some((old_key, _)) = &old {
            let same_key = new.as_ref().is_some_and(|(key, _)| key == old_key);
            if !same_key {
                changes.push(StoreChange::Removed {
                    key: old_key.clone(),
                });
            }
        }
        if let Some((key, (item, open))) = new {
            changes.push(if open {
                StoreChange::Put { key, item }
            } else {
                // The soft-delete flag cleared: a closed connection, as a scan would leave out.
                StoreChange::Removed { key }
            });
        }
        changes
    }

    /// The key and the record (or why it is malformed) of a row in a notification.
    #[allow(clippy::type_complexity)]
    fn row(
        &self,
        row: &Value,
    ) -> Option<(ItemKey, (Result<ConnectionRecord, MalformedRecord>, bool))> {
        let object = row.as_object()?;
        let text = |name: &str| match object.get(name) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Null) | None => None,
            Some(other) => Some(other.to_string()),
        };
        let user = text(&self.table.user.name);
        let connection = text(&self.table.connection.name);
        let key = ItemKey {
            user_id: user.clone(),
            connection_id: connection.clone(),
        };
        let open = self
            .table
            .soft_delete
            .as_ref()
            .map(|flag| object.get(&flag.name) != Some(&Value::Bool(false)))
            .unwrap_or(true);
        let malformed = |reason: String| MalformedRecord {
            raw: row.clone(),
            user_id: user.clone(),
            connection_id: connection.clone(),
            reason,
        };
        let item = (|| {
            let user_id = match &user {
                Some(user) => user.clone(),
                None if self.table.user.nullable => super::postgres::ANONYMOUS_USER.to_string(),
                None => return Err(malformed(format!("{} is NULL", self.table.user.name))),
            };
            let connection_id = connection
                .clone()
                .filter(|c| !c.is_empty())
                .ok_or_else(|| {
                    malformed(format!("{} is NULL or empty", self.table.connection.name))
                })?;
            let connected_at = match object.get(&self.table.connected_at.name) {
                Some(Value::String(s)) => crate::model::parse_iso(s)
                    .ok_or_else(|| malformed(format!("{s:?} is not a time")))?,
                Some(Value::Number(n)) => self
                    .table
                    .connected_at
                    .time
                    .parse_number(n)
                    .ok_or_else(|| malformed(format!("{n} is not a time")))?,
                _ => {
                    return Err(malformed(format!(
                        "{} is NULL",
                        self.table.connected_at.name
                    )))
                }
            };
            Ok(ConnectionRecord {
                user_id,
                connection_id,
                connected_at,
            })
        })();
        Some((key, (item, open)))
    }
}

#[async_trait]
impl ChangeFeed for NotifyFeed {
    async fn next_changes(&mut self) -> Result<Vec<StoreChange>, StoreError> {
        let mut changes = Vec::new();
        let first = match tokio::time::timeout(WAIT, self.notifications.recv()).await {
            Err(_) => return Ok(changes),
            Ok(None) => {
                return Err(StoreError::Network(
                    "the LISTEN connection to PostgreSQL closed".into(),
                ))
            }
            Ok(Some(notification)) => notification?,
        };
        changes.extend(self.changes_of(&first));
        while let Ok(more) = self.notifications.try_recv() {
            changes.extend(self.changes_of(&more?));
        }
        Ok(changes)
    }

    fn describe(&self) -> String {
        format!("LISTEN/NOTIFY on {}", self.table.qualified)
    }
}
