//! How a connection record lies in Redis: the key templates (`ws:{connection_id}`,
//! `user:{user_id}:connections`), a value as read (a hash or a JSON string) with its
//! fingerprint, and the times a value may hold.

use super::StoreError;
use serde_json::{json, Map, Value};
use time::OffsetDateTime;

pub const DEFAULT_RECORD_KEY: &str = "ws:{connection_id}";

/// A key template with one placeholder: `ws:{connection_id}`, `user:{user_id}:connections`.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    prefix: String,
    suffix: String,
    placeholder: &'static str,
}

impl Template {
    pub fn parse(template: &str, placeholder: &'static str) -> Result<Self, StoreError> {
        let marker = format!("{{{placeholder}}}");
        let (prefix, suffix) = template.split_once(&marker).ok_or_else(|| {
            StoreError::Schema(format!(
                "key template {template:?} has no {marker} (e.g. ws:{{connection_id}})"
            ))
        })?;
        if suffix.contains(&marker) {
            return Err(StoreError::Schema(format!(
                "key template {template:?} names {marker} twice"
            )));
        }
        Ok(Self {
            prefix: prefix.to_string(),
            suffix: suffix.to_string(),
            placeholder,
        })
    }

    pub fn key(&self, value: &str) -> String {
        format!("{}{value}{}", self.prefix, self.suffix)
    }

    /// The value the key holds in the placeholder's place, if the key fits the template.
    pub fn value_of<'k>(&self, key: &'k str) -> Option<&'k str> {
        key.strip_prefix(&self.prefix)?
            .strip_suffix(&self.suffix)
            .filter(|v| !v.is_empty())
    }

    /// The SCAN MATCH pattern of every key of the template (glob characters escaped).
    pub fn pattern(&self) -> String {
        let escape = |s: &str| {
            s.chars()
                .flat_map(|c| match c {
                    '*' | '?' | '[' | ']' | '\\' => vec!['\\', c],
                    c => vec![c],
                })
                .collect::<String>()
        };
        format!("{}*{}", escape(&self.prefix), escape(&self.suffix))
    }

    pub(super) fn describe(&self) -> String {
        format!("{}{{{}}}{}", self.prefix, self.placeholder, self.suffix)
    }
}

/// A record's value as read: its type and contents, and what it was read as.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Stored {
    Hash(Vec<(String, String)>),
    Text(String),
}

impl Stored {
    /// What the Lua script computes from the same value, to tell whether it changed: type and
    /// contents (hash fields sorted), hashed with SHA-1 as `redis.sha1hex` does.
    pub(super) fn fingerprint(&self) -> String {
        let canonical = match self {
            Stored::Text(text) => format!("s:{text}"),
            Stored::Hash(fields) => {
                let mut pairs: Vec<String> =
                    fields.iter().map(|(k, v)| format!("{k}\u{0}{v}")).collect();
                pairs.sort();
                format!("h:{}", pairs.join("\u{1}"))
            }
        };
        sha1_smol::Sha1::from(canonical.as_bytes())
            .digest()
            .to_string()
    }

    /// The value's fields, as JSON (a hash's are strings; a JSON string's keep their types).
    pub(super) fn fields(&self) -> Result<Map<String, Value>, String> {
        match self {
            Stored::Hash(fields) => Ok(fields
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect()),
            Stored::Text(text) => match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(map)) => Ok(map),
                Ok(_) => Err("the value is JSON but not an object".into()),
                Err(e) => Err(format!("the value is not JSON: {e}")),
            },
        }
    }

    pub(super) fn to_json(&self) -> Value {
        match self {
            Stored::Hash(fields) => json!({
                "type": "hash",
                "value": fields.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect::<Map<_, _>>(),
            }),
            Stored::Text(text) => json!({"type": "string", "value": text}),
        }
    }

    pub(super) fn from_json(raw: &Value) -> Option<Self> {
        match raw["type"].as_str()? {
            "hash" => Some(Stored::Hash(
                raw["value"]
                    .as_object()?
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect(),
            )),
            "string" => Some(Stored::Text(raw["value"].as_str()?.to_string())),
            _ => None,
        }
    }
}

pub(super) fn parse_read(reply: Vec<redis::Value>) -> Option<Result<(Stored, i64), String>> {
    let mut parts = reply.into_iter();
    let kind = match parts.next()? {
        redis::Value::SimpleString(s) => s,
        redis::Value::BulkString(b) => String::from_utf8_lossy(&b).to_string(),
        _ => return None,
    };
    let ttl = match parts.next() {
        Some(redis::Value::Int(ttl)) => ttl,
        _ => -1,
    };
    let text = |v: redis::Value| match v {
        redis::Value::BulkString(b) => String::from_utf8_lossy(&b).to_string(),
        redis::Value::SimpleString(s) => s,
        redis::Value::Int(i) => i.to_string(),
        _ => String::new(),
    };
    match kind.as_str() {
        "none" => None,
        "string" => Some(Ok((Stored::Text(text(parts.next()?)), ttl))),
        "hash" => {
            let redis::Value::Array(flat) = parts.next()? else {
                return Some(Err("hash".into()));
            };
            let mut flat = flat.into_iter();
            let mut fields = Vec::new();
            while let (Some(k), Some(v)) = (flat.next(), flat.next()) {
                fields.push((text(k), text(v)));
            }
            Some(Ok((Stored::Hash(fields), ttl)))
        }
        other => Some(Err(other.to_string())),
    }
}

/// ISO 8601 text, or epoch seconds or milliseconds (as a number or as digits).
pub(super) fn parse_time(value: &Value) -> Result<OffsetDateTime, String> {
    let number = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    if let Some(n) = number {
        // Above 1e11 it is milliseconds (1e11 seconds is the year 5138).
        let nanos = if n.abs() > 1e11 { n * 1e6 } else { n * 1e9 };
        return OffsetDateTime::from_unix_timestamp_nanos(nanos as i128)
            .map_err(|_| format!("{n} is out of range"));
    }
    match value {
        Value::String(s) => {
            crate::model::parse_iso(s.trim()).ok_or_else(|| format!("{s:?} is not a time"))
        }
        other => Err(format!("{other} is not a time")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_make_keys_match_them_and_read_them_back() {
        let t = Template::parse("ws:{connection_id}", "connection_id").expect("template");
        assert_eq!(t.key("Abc="), "ws:Abc=");
        assert_eq!(t.value_of("ws:Abc="), Some("Abc="));
        assert_eq!(t.value_of("other:Abc="), None);
        assert_eq!(t.pattern(), "ws:*");
        let set = Template::parse("user:{user_id}:connections", "user_id").expect("template");
        assert_eq!(set.key("42"), "user:42:connections");
        assert_eq!(
            Template::parse("we*ird:{connection_id}", "connection_id")
                .expect("template")
                .pattern(),
            "we\\*ird:*"
        );
        assert!(Template::parse("ws:connection", "connection_id").is_err());
    }

    #[test]
    fn times_in_every_shape_a_backend_writes_them() {
        for value in [
            json!("2026-02-06T10:30:45Z"),
            json!(1_770_373_845),
            json!(1_770_373_845_000_i64),
            json!("1770373845000"),
        ] {
            assert_eq!(
                parse_time(&value).map(|t| t.unix_timestamp()),
                Ok(1_770_373_845),
                "{value}"
            );
        }
        assert!(parse_time(&json!("soon")).is_err());
    }

    #[test]
    fn a_hash_fingerprint_does_not_depend_on_field_order() {
        let a = Stored::Hash(vec![("a".into(), "1".into()), ("b".into(), "2".into())]);
        let b = Stored::Hash(vec![("b".into(), "2".into()), ("a".into(), "1".into())]);
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_ne!(a.fingerprint(), Stored::Text("x".into()).fingerprint());
    }
}
