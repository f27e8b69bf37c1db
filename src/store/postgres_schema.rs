//! How a PostgreSQL table maps to [`ConnectionRecord`](crate::model::ConnectionRecord)s: the
//! columns the environment's schema names, their types as `information_schema` gives them, and
//! what does not fit, said before anything is read.

use super::schema::{SchemaOverrides, TimeFormat};
use super::StoreError;
use time::OffsetDateTime;
use tokio_postgres::Client;

/// One mapped column.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    /// The name as SQL takes it, quoted.
    pub quoted: String,
    /// `information_schema.columns.data_type` (e.g. `integer`, `character varying`).
    pub data_type: String,
    /// The type to cast a text parameter to, so an index on the column is used.
    pub sql_type: String,
    pub nullable: bool,
}

impl Column {
    /// Whether `value` can be in this column: an integer column holds only integers.
    pub fn accepts(&self, value: &str) -> bool {
        match self.sql_type.as_str() {
            "smallint" | "integer" | "bigint" => value.parse::<i64>().is_ok(),
            "uuid" => value.len() == 36 && value.chars().all(|c| c.is_ascii_hexdigit() || c == '-'),
            _ => true,
        }
    }
}

/// How a connect time is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeColumn {
    /// `timestamp with time zone` (or without: read as UTC).
    Timestamp,
    /// A number of seconds (or milliseconds) since the epoch.
    Epoch { millis: bool },
    /// ISO 8601 text.
    Text,
}

impl TimeColumn {
    /// The column as text, for reading: micro-seconds for timestamps and numbers, the text
    /// itself for text (parsed in Rust, so one bad value is one malformed row, not a failed scan).
    pub fn as_text(&self, column: &str) -> String {
        match self {
            TimeColumn::Text => format!("{column}::text"),
            _ => format!("{}::text", self.as_micros(column)),
        }
    }

    /// The column as micro-seconds since the epoch, for comparing with a record's time.
    pub fn as_micros(&self, column: &str) -> String {
        match self {
            TimeColumn::Timestamp => format!("(extract(epoch from {column}) * 1000000)::bigint"),
            TimeColumn::Epoch { millis: false } => format!("({column}::numeric * 1000000)::bigint"),
            TimeColumn::Epoch { millis: true } => format!("({column}::numeric * 1000)::bigint"),
            // Only ever evaluated for the row a connection id picked, which parsed when read.
            TimeColumn::Text => {
                format!("(extract(epoch from {column}::timestamptz) * 1000000)::bigint")
            }
        }
    }

    /// A value for the column from micro-seconds in parameter `param` (exactly: no floating
    /// point on the way, so the value written is the value a conditional delete compares).
    pub fn from_micros(&self, param: &str) -> String {
        let instant =
            format!("('epoch'::timestamptz + {param}::bigint * interval '1 microsecond')");
        match self {
            TimeColumn::Timestamp => instant,
            TimeColumn::Epoch { millis: false } => format!("({param}::bigint / 1000000)"),
            TimeColumn::Epoch { millis: true } => format!("({param}::bigint / 1000)"),
            TimeColumn::Text => format!(
                "to_char({instant} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"
            ),
        }
    }

    /// What a read gave (see [`TimeColumn::as_text`]) as a time.
    pub fn parse(&self, text: &str) -> Result<OffsetDateTime, String> {
        match self {
            TimeColumn::Text => crate::model::parse_iso(text.trim())
                .ok_or_else(|| format!("{text:?} is not an ISO 8601 time")),
            _ => text
                .parse::<i64>()
                .ok()
                .and_then(|micros| {
                    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000).ok()
                })
                .ok_or_else(|| format!("{text:?} is not a time")),
        }
    }

    /// A JSON number (a notification's copy of an epoch column) as a time.
    pub fn parse_number(&self, n: &serde_json::Number) -> Option<OffsetDateTime> {
        let TimeColumn::Epoch { millis } = self else {
            return None;
        };
        let micros = match (n.as_i64(), millis) {
            (Some(i), true) => i128::from(i) * 1_000,
            (Some(i), false) => i128::from(i) * 1_000_000,
            (None, true) => (n.as_f64()? * 1_000.0) as i128,
            (None, false) => (n.as_f64()? * 1_000_000.0) as i128,
        };
        OffsetDateTime::from_unix_timestamp_nanos(micros * 1_000).ok()
    }

    fn describe(&self) -> &'static str {
        match self {
            TimeColumn::Timestamp => "timestamp",
            TimeColumn::Epoch { millis: false } => "epoch seconds",
            TimeColumn::Epoch { millis: true } => "epoch milliseconds",
            TimeColumn::Text => "ISO 8601 text",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TimedColumn {
    pub name: String,
    pub quoted: String,
    pub time: TimeColumn,
}

/// The table as found.
#[derive(Debug, Clone, PartialEq)]
pub struct Discovered {
    /// `"schema"."table"`.
    pub qualified: String,
    pub user: Column,
    pub connection: Column,
    pub connected_at: TimedColumn,
    /// A boolean column, false meaning the connection is gone (Django's `connected`).
    pub soft_delete: Option<Column>,
    /// Whether an index starts with the user column, so `push --user` does not scan.
    pub user_indexed: bool,
    /// NOT NULL columns without a default that wsdash does not map: a row can only be put
    /// back from the audit log's copy of it.
    pub unmapped_required: Vec<String>,
    /// The table's boolean columns, for doctor to spot an unmapped soft-delete flag.
    pub boolean_columns: Vec<String>,
}

/// `"name"` with inner quotes doubled, as SQL quotes identifiers.
pub fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

const TEXT_TYPES: [&str; 3] = ["text", "character varying", "character"];
const INTEGER_TYPES: [&str; 3] = ["smallint", "integer", "bigint"];
const NUMBER_TYPES: [&str; 5] = [
    "smallint",
    "integer",
    "bigint",
    "numeric",
    "double precision",
];

impl Discovered {
    /// Read the table's columns from `information_schema` and map them as `names` says.
    pub async fn read(
        client: &Client,
        table: &str,
        names: &SchemaOverrides,
    ) -> Result<Self, StoreError> {
        let (schema, name) = match table.split_once('.') {
            Some((schema, name)) => (Some(schema.to_string()), name.to_string()),
            None => (None, table.to_string()),
        };
        let rows = client
            .query(
                "SELECT table_schema::text, column_name::text, data_type::text, is_nullable = 'YES', column_default IS NOT NULL OR is_identity = 'YES' OR is_generated = 'ALWAYS' \
                 FROM information_schema.columns \
                 WHERE table_name = $1 AND table_schema = COALESCE($2, current_schema()) ORDER BY ordinal_position",
                &[&name, &schema],
            )
            .await
            .map_err(super::postgres_connect::classify)?;
        if rows.is_empty() {
            return Err(StoreError::TableNotFound(format!(
                "no table {table} in {} (or no permission to see its columns)",
                schema.as_deref().unwrap_or("the current schema")
            )));
        }
        let found: Vec<(String, String, bool, bool)> = rows
            .iter()
            .map(|r| (r.get(1), r.get(2), r.get(3), r.get(4)))
            .collect();
        let schema: String = rows[0].get(0);
        let qualified = format!("{}.{}", quote(&schema), quote(&name));
        let column = |wanted: &str, key: &str| -> Result<Column, StoreError> {
            let (name, data_type, nullable, _) =
                found.iter().find(|(n, ..)| n == wanted).ok_or_else(|| {
                    StoreError::Schema(format!(
                        "{table} has no column {wanted:?} (schema.{key}); its columns: {}",
                        found
                            .iter()
                            .map(|(n, t, ..)| format!("{n} ({t})"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                })?;
            Ok(Column {
                name: name.clone(),
                quoted: quote(name),
                sql_type: match data_type.as_str() {
                    t if TEXT_TYPES.contains(&t) => "text".into(),
                    other => other.to_string(),
                },
                data_type: data_type.clone(),
                nullable: *nullable,
            })
        };
        let user = column(&names.user_id, "user_id")?;
        if !(TEXT_TYPES.contains(&user.data_type.as_str())
            || INTEGER_TYPES.contains(&user.data_type.as_str())
            || user.data_type == "uuid")
        {
            return Err(StoreError::Schema(format!(
                "user column {} is {}: wsdash reads user ids from text, integer or uuid columns",
                user.name, user.data_type
            )));
        }
        let connection = column(&names.connection_id, "connection_id")?;
        if !TEXT_TYPES.contains(&connection.data_type.as_str()) {
            return Err(StoreError::Schema(format!(
                "connection column {} is {}: connection ids are text",
                connection.name, connection.data_type
            )));
        }
        let at = column(&names.connected_at, "connected_at")?;
        let time = match at.data_type.as_str() {
            "timestamp with time zone" | "timestamp without time zone" => TimeColumn::Timestamp,
            t if NUMBER_TYPES.contains(&t) => TimeColumn::Epoch {
                millis: names.connected_at_format != Some(TimeFormat::EpochSeconds),
            },
            t if TEXT_TYPES.contains(&t) => TimeColumn::Text,
            other => {
                return Err(StoreError::Schema(format!(
                    "connect-time column {} is {other}: use a timestamp, a number of epoch seconds or milliseconds, or ISO 8601 text",
                    at.name
                )))
            }
        };
        let soft_delete = match &names.soft_delete {
            Some(flag) => {
                let flag = column(flag, "soft_delete")?;
                if flag.data_type != "boolean" {
                    return Err(StoreError::Schema(format!(
                        "soft_delete column {} is {}: it must be a boolean (false: the connection is gone)",
                        flag.name, flag.data_type
                    )));
                }
                Some(flag)
            }
            None => None,
        };
        let mapped = [
            Some(&user.name),
            Some(&connection.name),
            Some(&at.name),
            soft_delete.as_ref().map(|c| &c.name),
        ];
        let unmapped_required = found
            .iter()
            .filter(|(name, _, nullable, has_default)| {
                !nullable && !has_default && !mapped.contains(&Some(name))
            })
            .map(|(name, ..)| name.clone())
            .collect();
        let user_indexed = client
            .query(
                "SELECT 1 FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] \
                 WHERE i.indrelid = $1::text::regclass AND a.attname = $2",
                &[&qualified, &user.name],
            )
            .await
            .map(|rows| !rows.is_empty())
            .map_err(super::postgres_connect::classify)?;
        let boolean_columns = found
            .iter()
            .filter(|(_, data_type, ..)| data_type == "boolean")
            .map(|(name, ..)| name.clone())
            .collect();
        Ok(Discovered {
            boolean_columns,
            qualified,
            connected_at: TimedColumn {
                name: at.name,
                quoted: at.quoted,
                time,
            },
            user,
            connection,
            soft_delete,
            user_indexed,
            unmapped_required,
        })
    }

    /// One line: the table and how it is mapped.
    pub fn describe(&self) -> String {
        let mut out = format!(
            "{} (user {}, connection {}, connected at {} as {}",
            self.qualified,
            self.user.name,
            self.connection.name,
            self.connected_at.name,
            self.connected_at.time.describe()
        );
        if let Some(flag) = &self.soft_delete {
            out.push_str(&format!(", soft delete {} = false", flag.name));
        }
        out.push(')');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_back_as_the_instant_they_were() {
        let micros = TimeColumn::Timestamp
            .parse("1764585045123456")
            .expect("micros");
        assert_eq!(micros.unix_timestamp_nanos(), 1_764_585_045_123_456_000);
        let iso = TimeColumn::Text.parse("2026-02-06T10:30:45Z").expect("iso");
        assert_eq!(iso.unix_timestamp(), 1_770_373_845);
        assert!(TimeColumn::Text.parse("yesterday").is_err());
        assert!(TimeColumn::Epoch { millis: true }.parse("x").is_err());
    }

    #[test]
    fn identifiers_are_quoted_and_integer_columns_take_only_numbers() {
        assert_eq!(quote("we\"ird"), "\"we\"\"ird\"");
        let column = Column {
            name: "user_id".into(),
            quoted: quote("user_id"),
            data_type: "integer".into(),
            sql_type: "integer".into(),
            nullable: true,
        };
        assert!(column.accepts("42"));
        assert!(!column.accepts("alice"));
    }
}
