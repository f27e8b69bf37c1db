//! How a DynamoDB item maps to a [`ConnectionRecord`]: attribute names, key layout and the shape of
//! `connected_at`, discovered from the table and overridable in config.

use super::MalformedRecord;
use crate::model::{parse_iso, ConnectionRecord};
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use time::OffsetDateTime;

/// How `connected_at` is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum TimeFormat {
    #[default]
    Iso8601,
    EpochSeconds,
    EpochMillis,
}

/// Attribute names, as configured (any may be left to the defaults).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SchemaOverrides {
    pub user_id: String,
    pub connection_id: String,
    pub connected_at: String,
    /// Forces the time format used when writing; reading accepts all three.
    pub connected_at_format: Option<TimeFormat>,
    /// PostgreSQL: a boolean column where false means the connection is gone (Django's
    /// `connected`). Purge clears it instead of deleting the row; restore sets it again.
    pub soft_delete: Option<String>,
    /// Redis: the key of a connection's record (default `ws:{connection_id}`).
    pub record_key: Option<String>,
    /// Redis: the set of a user's connection ids (e.g. `user:{user_id}:connections`), when the
    /// backend keeps one.
    pub user_set: Option<String>,
}

impl Default for SchemaOverrides {
    fn default() -> Self {
        Self {
            user_id: "user_id".into(),
            connection_id: "connection_id".into(),
            connected_at: "connected_at".into(),
            connected_at_format: None,
            soft_delete: None,
            record_key: None,
            user_set: None,
        }
    }
}

/// Which attribute the table is keyed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyedBy {
    User,
    Connection,
    /// Partition key user, sort key connection: several connections per user.
    UserThenConnection,
}

/// The schema in force for one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableSchema {
    pub names: SchemaOverrides,
    pub keyed_by: KeyedBy,
    /// A global secondary index whose partition key is the user id (when the table is keyed by connection).
    pub user_index: Option<String>,
    /// A global secondary index whose partition key is the connection id (when keyed by user).
    pub connection_index: Option<String>,
    pub time_format: TimeFormat,
}

impl TableSchema {
    /// The primary key of a record, for GetItem / DeleteItem.
    pub fn key_of(&self, record: &ConnectionRecord) -> HashMap<String, AttributeValue> {
        let user = (
            self.names.user_id.clone(),
            AttributeValue::S(record.user_id.clone()),
        );
        let connection = (
            self.names.connection_id.clone(),
            AttributeValue::S(record.connection_id.clone()),
        );
        match self.keyed_by {
            KeyedBy::User => HashMap::from([user]),
            KeyedBy::Connection => HashMap::from([connection]),
            KeyedBy::UserThenConnection => HashMap::from([user, connection]),
        }
    }

    /// A new item for a record, in the table's time format.
    pub fn item_of(&self, record: &ConnectionRecord) -> HashMap<String, AttributeValue> {
        let connected_at = match self.time_format {
            TimeFormat::Iso8601 => AttributeValue::S(crate::model::iso_millis(record.connected_at)),
            TimeFormat::EpochSeconds => {
                AttributeValue::N(record.connected_at.unix_timestamp().to_string())
            }
            TimeFormat::EpochMillis => AttributeValue::N(
                (record.connected_at.unix_timestamp_nanos() / 1_000_000).to_string(),
            ),
        };
        HashMap::from([
            (
                self.names.user_id.clone(),
                AttributeValue::S(record.user_id.clone()),
            ),
            (
                self.names.connection_id.clone(),
                AttributeValue::S(record.connection_id.clone()),
            ),
            (self.names.connected_at.clone(), connected_at),
        ])
    }

    /// Parse an item; anything that does not fit comes back as malformed with the reason.
    pub fn parse(
        &self,
        item: &HashMap<String, AttributeValue>,
    ) -> Result<ConnectionRecord, MalformedRecord> {
        let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
        let user_id = text(&self.names.user_id);
        let connection_id = text(&self.names.connection_id);
        let malformed = |reason: String| MalformedRecord {
            raw: item_to_json(item),
            user_id: user_id.clone(),
            connection_id: connection_id.clone(),
            reason,
        };
        let describe = |name: &str| match item.get(name) {
            None => format!("missing {name}"),
            Some(AttributeValue::S(_)) => format!("{name} is empty"),
            Some(v) => format!("{name} is {} (expected a string)", type_name(v)),
        };
        let Some(user) = user_id.clone().filter(|u| !u.is_empty()) else {
            return Err(malformed(describe(&self.names.user_id)));
        };
        let Some(connection) = connection_id.clone().filter(|c| !c.is_empty()) else {
            return Err(malformed(describe(&self.names.connection_id)));
        };
        if let Some(problem) = crate::model::connection_id_problem(&connection) {
            return Err(malformed(problem));
        }
        let connected_at = match item.get(&self.names.connected_at) {
            None => return Err(malformed(format!("missing {}", self.names.connected_at))),
            Some(value) => parse_time(value)
                .map_err(|why| malformed(format!("{}: {why}", self.names.connected_at)))?,
        };
        Ok(ConnectionRecord {
            user_id: user,
            connection_id: connection,
            connected_at,
        })
    }
}

/// ISO-8601 strings, or numbers (seconds, or milliseconds when too large to be seconds).
pub fn parse_time(value: &AttributeValue) -> Result<OffsetDateTime, String> {
    match value {
        AttributeValue::S(s) => parse_iso(s)
            .or_else(|| s.parse::<f64>().ok().and_then(epoch_to_time))
            .ok_or_else(|| format!("unparseable time {s:?}")),
        AttributeValue::N(n) => n
            .parse::<f64>()
            .ok()
            .and_then(epoch_to_time)
            .ok_or_else(|| format!("unparseable epoch {n:?}")),
        other => Err(format!(
            "is {} (expected a string or number)",
            type_name(other)
        )),
    }
}

/// Seconds below 10^11 (year 5138), milliseconds above.
fn epoch_to_time(n: f64) -> Option<OffsetDateTime> {
    if !n.is_finite() || n < 0.0 {
        return None;
    }
    let nanos = if n < 1e11 { n * 1e9 } else { n * 1e6 };
    OffsetDateTime::from_unix_timestamp_nanos(nanos as i128).ok()
}

/// Guess how `connected_at` is written from a sample of items.
pub fn detect_time_format<'a>(
    items: impl IntoIterator<Item = &'a HashMap<String, AttributeValue>>,
    attribute: &str,
) -> TimeFormat {
    for item in items {
        match item.get(attribute) {
            Some(AttributeValue::S(_)) => return TimeFormat::Iso8601,
            Some(AttributeValue::N(n)) => {
                return match n.parse::<f64>() {
                    Ok(v) if v >= 1e11 => TimeFormat::EpochMillis,
                    _ => TimeFormat::EpochSeconds,
                }
            }
            _ => continue,
        }
    }
    TimeFormat::Iso8601
}

fn type_name(value: &AttributeValue) -> &'static str {
    match value {
        AttributeValue::S(_) => "a string",
        AttributeValue::N(_) => "a number",
        AttributeValue::Bool(_) => "a boolean",
        AttributeValue::Null(_) => "null",
        AttributeValue::M(_) => "a map",
        AttributeValue::L(_) => "a list",
        AttributeValue::B(_) => "binary",
        AttributeValue::Ss(_) | AttributeValue::Ns(_) | AttributeValue::Bs(_) => "a set",
        _ => "an unknown type",
    }
}

/// An item as DynamoDB JSON (`{"S": "..."}`), for the audit log and for operators to read.
pub fn item_to_json(item: &HashMap<String, AttributeValue>) -> serde_json::Value {
    serde_json::Value::Object(
        item.iter()
            .map(|(k, v)| (k.clone(), value_to_json(v)))
            .collect(),
    )
}

fn value_to_json(value: &AttributeValue) -> serde_json::Value {
    use serde_json::json;
    let b64 = |b: &aws_sdk_dynamodb::primitives::Blob| {
        base64::engine::general_purpose::STANDARD.encode(b.as_ref())
    };
    match value {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        AttributeValue::Null(b) => json!({ "NULL": b }),
        AttributeValue::B(b) => json!({ "B": b64(b) }),
        AttributeValue::Ss(v) => json!({ "SS": v }),
        AttributeValue::Ns(v) => json!({ "NS": v }),
        AttributeValue::Bs(v) => json!({ "BS": v.iter().map(b64).collect::<Vec<_>>() }),
        AttributeValue::L(v) => json!({ "L": v.iter().map(value_to_json).collect::<Vec<_>>() }),
        AttributeValue::M(m) => json!({ "M": item_to_json(m) }),
        _ => json!({ "NULL": true }),
    }
}

/// The inverse of [`item_to_json`], for restores.
pub fn item_from_json(json: &serde_json::Value) -> Result<HashMap<String, AttributeValue>, String> {
    let object = json.as_object().ok_or("an item must be a JSON object")?;
    object
        .iter()
        .map(|(k, v)| {
            value_from_json(v)
                .map(|v| (k.clone(), v))
                .map_err(|e| format!("{k}: {e}"))
        })
        .collect()
}

fn value_from_json(json: &serde_json::Value) -> Result<AttributeValue, String> {
    let object = json
        .as_object()
        .filter(|o| o.len() == 1)
        .ok_or("each value must be {\"TYPE\": value}")?;
    let (kind, value) = object.iter().next().ok_or("empty value")?;
    let string = || {
        value
            .as_str()
            .map(str::to_string)
            .ok_or(format!("{kind} needs a string"))
    };
    let strings = || -> Result<Vec<String>, String> {
        value
            .as_array()
            .ok_or(format!("{kind} needs a list"))?
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or(format!("{kind} needs strings"))
            })
            .collect()
    };
    let blob = |s: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(s)
            .map(aws_sdk_dynamodb::primitives::Blob::new)
            .map_err(|e| e.to_string())
    };
    Ok(match kind.as_str() {
        "S" => AttributeValue::S(string()?),
        "N" => AttributeValue::N(string()?),
        "BOOL" => AttributeValue::Bool(value.as_bool().ok_or("BOOL needs a boolean")?),
        "NULL" => AttributeValue::Null(true),
        "B" => AttributeValue::B(blob(&string()?)?),
        "SS" => AttributeValue::Ss(strings()?),
        "NS" => AttributeValue::Ns(strings()?),
        "BS" => AttributeValue::Bs(
            strings()?
                .iter()
                .map(|s| blob(s))
                .collect::<Result<_, _>>()?,
        ),
        "L" => AttributeValue::L(
            value
                .as_array()
                .ok_or("L needs a list")?
                .iter()
                .map(value_from_json)
                .collect::<Result<_, _>>()?,
        ),
        "M" => AttributeValue::M(item_from_json(value)?),
        other => return Err(format!("unknown DynamoDB type {other}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(keyed_by: KeyedBy) -> TableSchema {
        TableSchema {
            names: SchemaOverrides::default(),
            keyed_by,
            user_index: None,
            connection_index: None,
            time_format: TimeFormat::Iso8601,
        }
    }

    fn item(pairs: &[(&str, AttributeValue)]) -> HashMap<String, AttributeValue> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn iso_seconds_and_millis_all_parse_to_the_same_instant() {
        let s = schema(KeyedBy::User);
        for value in [
            AttributeValue::S("2026-11-24T10:30:45Z".into()),
            AttributeValue::N("1795516245".into()),
            AttributeValue::N("1795516245000".into()),
        ] {
            let record = s
                .parse(&item(&[
                    ("user_id", AttributeValue::S("u".into())),
                    ("connection_id", AttributeValue::S("c".into())),
                    ("connected_at", value),
                ]))
                .unwrap();
            assert_eq!(record.connected_at.unix_timestamp(), 1_795_516_245);
        }
    }

    #[test]
    fn malformed_items_say_why() {
        let s = schema(KeyedBy::User);
        let missing = s
            .parse(&item(&[("user_id", AttributeValue::S("u".into()))]))
            .unwrap_err();
        assert_eq!(missing.reason, "missing connection_id");
        let wrong_type = s
            .parse(&item(&[
                ("user_id", AttributeValue::S("u".into())),
                ("connection_id", AttributeValue::N("5".into())),
            ]))
            .unwrap_err();
        assert_eq!(
            wrong_type.reason,
            "connection_id is a number (expected a string)"
        );
        let bad_time = s
            .parse(&item(&[
                ("user_id", AttributeValue::S("u".into())),
                ("connection_id", AttributeValue::S("c".into())),
                ("connected_at", AttributeValue::S("yesterday".into())),
            ]))
            .unwrap_err();
        assert!(
            bad_time.reason.contains("unparseable time"),
            "{}",
            bad_time.reason
        );
        assert_eq!(bad_time.user_id.as_deref(), Some("u"));
    }

    #[test]
    fn items_round_trip_through_dynamodb_json() {
        let original = item(&[
            ("user_id", AttributeValue::S("u".into())),
            ("ttl", AttributeValue::N("5".into())),
            ("tags", AttributeValue::Ss(vec!["a".into()])),
            (
                "meta",
                AttributeValue::M(item(&[("ok", AttributeValue::Bool(true))])),
            ),
        ]);
        assert_eq!(item_from_json(&item_to_json(&original)).unwrap(), original);
    }

    #[test]
    fn the_time_format_is_detected_from_samples() {
        let seconds = item(&[("connected_at", AttributeValue::N("1795516245".into()))]);
        let millis = item(&[("connected_at", AttributeValue::N("1795516245000".into()))]);
        assert_eq!(
            detect_time_format([&seconds], "connected_at"),
            TimeFormat::EpochSeconds
        );
        assert_eq!(
            detect_time_format([&millis], "connected_at"),
            TimeFormat::EpochMillis
        );
        assert_eq!(detect_time_format([], "connected_at"), TimeFormat::Iso8601);
    }
}
