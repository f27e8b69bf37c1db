//! Connection records in Redis (or Valkey): a key per connection (`ws:{connection_id}`, a hash
//! or a JSON string, often with a TTL) and, optionally, a set per user
//! (`user:{user_id}:connections`). Key templates and field names come from the environment's
//! schema.
//!
//! A delete reads the record again and goes ahead only if it is still the record that was
//! probed (same user, connection and connect time); a Lua script then deletes it only if its
//! value is still the one just read, so a backend that rewrites the key meanwhile always wins.

use super::redis_connect::{classify, client_for, redact};
use super::redis_layout::{parse_read, parse_time, Stored, Template, DEFAULT_RECORD_KEY};
use super::redis_scripts::{DELETE_IF_SAME, FINGERPRINT, READ, RESTORE_IF_ABSENT};
use super::schema::SchemaOverrides;
use super::{DeleteOutcome, MalformedRecord, StoreError, StoreSnapshot};
use crate::model::ConnectionRecord;
use async_trait::async_trait;
use redis::aio::ConnectionManager;
use serde_json::{json, Value};
use time::OffsetDateTime;

/// Keys per SCAN call (a hint to Redis) and per pipelined read.
const SCAN_COUNT: usize = 1_000;

#[derive(Clone)]
pub struct RedisStore {
    url: String,
    connection: ConnectionManager,
    record_key: Template,
    user_set: Option<Template>,
    names: SchemaOverrides,
    read: redis::Script,
    delete: redis::Script,
    restore: redis::Script,
}

impl RedisStore {
    pub async fn connect(url: &str, names: &SchemaOverrides) -> Result<Self, StoreError> {
        let record_key = Template::parse(
            names.record_key.as_deref().unwrap_or(DEFAULT_RECORD_KEY),
            "connection_id",
        )?;
        let user_set = names
            .user_set
            .as_deref()
            .map(|t| Template::parse(t, "user_id"))
            .transpose()?;
        let client = client_for(url)?;
        let mut connection = client.get_connection_manager().await.map_err(classify)?;
        let _: String = redis::cmd("PING")
            .query_async(&mut connection)
            .await
            .map_err(classify)?;
        Ok(Self {
            url: url.to_string(),
            connection,
            record_key,
            user_set,
            names: names.clone(),
            read: redis::Script::new(READ),
            delete: redis::Script::new(&format!("{FINGERPRINT}{DELETE_IF_SAME}")),
            restore: redis::Script::new(RESTORE_IF_ABSENT),
        })
    }

    fn con(&self) -> ConnectionManager {
        self.connection.clone()
    }

    /// The record key and user set templates, for doctor and the header.
    pub fn layout(&self) -> String {
        match &self.user_set {
            Some(set) => format!(
                "{} with user sets {}",
                self.record_key.describe(),
                set.describe()
            ),
            None => self.record_key.describe(),
        }
    }

    pub(super) fn url(&self) -> &str {
        &self.url
    }

    pub(super) fn record_key(&self) -> &Template {
        &self.record_key
    }

    pub fn has_user_sets(&self) -> bool {
        self.user_set.is_some()
    }

    /// The server's keyspace notification setting (`notify-keyspace-events`).
    pub async fn keyspace_events(&self) -> Result<String, StoreError> {
        let reply: Vec<String> = redis::cmd("CONFIG")
            .arg("GET")
            .arg("notify-keyspace-events")
            .query_async(&mut self.con())
            .await
            .map_err(classify)?;
        Ok(reply.get(1).cloned().unwrap_or_default())
    }

    /// A key's value and TTL, or `None` when it is absent; `Err` holds the type of a key that is
    /// neither a string nor a hash.
    pub(super) async fn read(
        &self,
        key: &str,
    ) -> Result<Option<Result<(Stored, i64), String>>, StoreError> {
        let reply: Vec<redis::Value> = self
            .read
            .key(key)
            .invoke_async(&mut self.con())
            .await
            .map_err(classify)?;
        Ok(parse_read(reply))
    }

    /// A value as a record, or as malformed with the reason.
    pub(super) fn parse(
        &self,
        key: &str,
        stored: &Stored,
    ) -> Result<ConnectionRecord, MalformedRecord> {
        let connection_from_key = self.record_key.value_of(key).map(str::to_string);
        let malformed = |reason: String, user: Option<String>| MalformedRecord {
            raw: json!({"key": key, "stored": stored.to_json()}),
            user_id: user,
            connection_id: connection_from_key.clone(),
            reason,
        };
        let fields = stored.fields().map_err(|reason| malformed(reason, None))?;
        let text = |name: &str| match fields.get(name) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        let user = text(&self.names.user_id);
        let Some(user_id) = user.clone() else {
            return Err(malformed(format!("no {} field", self.names.user_id), None));
        };
        let connection_id = match (text(&self.names.connection_id), connection_from_key.clone()) {
            (Some(field), Some(from_key)) if field != from_key => {
                return Err(malformed(
                    format!(
                        "its {} field ({field}) is not the connection its key names ({from_key})",
                        self.names.connection_id
                    ),
                    user,
                ))
            }
            (Some(id), _) | (None, Some(id)) => id,
            (None, None) => {
                return Err(malformed(
                    format!("no {} field", self.names.connection_id),
                    user,
                ))
            }
        };
        if let Some(reason) = crate::model::connection_id_problem(&connection_id) {
            return Err(malformed(reason, user));
        }
        let connected_at = match fields.get(&self.names.connected_at) {
            Some(value) => parse_time(value).map_err(|reason| {
                malformed(
                    format!("{}: {reason}", self.names.connected_at),
                    user.clone(),
                )
            })?,
            None => {
                return Err(malformed(
                    format!("no {} field", self.names.connected_at),
                    user,
                ))
            }
        };
        Ok(ConnectionRecord {
            user_id,
            connection_id,
            connected_at,
        })
    }

    async fn record_of_key(&self, key: &str) -> Result<Option<ConnectionRecord>, StoreError> {
        Ok(match self.read(key).await? {
            Some(Ok((stored, _))) => self.parse(key, &stored).ok(),
            _ => None,
        })
    }

    fn user_set_key(&self, user_id: &str) -> String {
        self.user_set
            .as_ref()
            .map(|set| set.key(user_id))
            .unwrap_or_default()
    }

    /// The records of the first SCAN page, and how many of its keys carry a TTL, for doctor.
    pub async fn sample(&self) -> Result<(StoreSnapshot, usize), StoreError> {
        let (_, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(0)
            .arg("MATCH")
            .arg(self.record_key.pattern())
            .arg("COUNT")
            .arg(SCAN_COUNT)
            .query_async(&mut self.con())
            .await
            .map_err(classify)?;
        let values = self.read_many(&keys).await?;
        let mut snapshot = StoreSnapshot::default();
        let mut with_ttl = 0;
        for (key, value) in keys.iter().zip(values) {
            if let Some(Ok((stored, ttl))) = value {
                with_ttl += usize::from(ttl > 0);
                match self.parse(key, &stored) {
                    Ok(record) => snapshot.records.push(record),
                    Err(malformed) => snapshot.malformed.push(malformed),
                }
            }
        }
        Ok((snapshot, with_ttl))
    }

    /// Every key of the template, by SCAN (no KEYS: it would block the server).
    async fn keys(&self) -> Result<Vec<String>, StoreError> {
        let pattern = self.record_key.pattern();
        let mut con = self.con();
        let mut cursor: u64 = 0;
        let mut keys = Vec::new();
        loop {
            let (next, page): (u64, Vec<String>) = redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(SCAN_COUNT)
                .query_async(&mut con)
                .await
                .map_err(classify)?;
            keys.extend(page);
            if next == 0 {
                // SCAN may return a key twice.
                keys.sort();
                keys.dedup();
                return Ok(keys);
            }
            cursor = next;
        }
    }

    /// The values of `keys`, read in pipelines of `SCAN_COUNT`.
    async fn read_many(
        &self,
        keys: &[String],
    ) -> Result<Vec<Option<Result<(Stored, i64), String>>>, StoreError> {
        let mut out = Vec::with_capacity(keys.len());
        let mut con = self.con();
        for chunk in keys.chunks(SCAN_COUNT) {
            let mut pipe = redis::pipe();
            for key in chunk {
                pipe.cmd("EVAL").arg(READ).arg(1).arg(key);
            }
            let replies: Vec<Vec<redis::Value>> =
                pipe.query_async(&mut con).await.map_err(classify)?;
            out.extend(replies.into_iter().map(parse_read));
        }
        Ok(out)
    }
}
#[async_trait]
impl super::ConnectionStore for RedisStore {
    async fn scan(&self) -> Result<StoreSnapshot, StoreError> {
        let keys = self.keys().await?;
        let values = self.read_many(&keys).await?;
        let mut snapshot = StoreSnapshot::default();
        let now = OffsetDateTime::now_utc();
        for (key, value) in keys.iter().zip(values) {
            match value {
                // Expired or deleted between SCAN and the read.
                None => {}
                Some(Ok((stored, ttl_ms))) => match self.parse(key, &stored) {
                    Ok(record) => {
                        if ttl_ms > 0 {
                            snapshot.expires.insert(
                                record.connection_id.clone(),
                                now + time::Duration::milliseconds(ttl_ms),
                            );
                        }
                        snapshot.records.push(record);
                    }
                    Err(malformed) => snapshot.malformed.push(malformed),
                },
                Some(Err(kind)) => snapshot.malformed.push(MalformedRecord {
                    raw: json!({"key": key, "type": kind}),
                    user_id: None,
                    connection_id: self.record_key.value_of(key).map(str::to_string),
                    reason: format!("the key is a {kind}, not a hash or a JSON string"),
                }),
            }
        }
        Ok(snapshot)
    }

    async fn find_by_user(&self, user_id: &str) -> Result<Option<ConnectionRecord>, StoreError> {
        let mut all = self.find_all_by_user(user_id).await?;
        all.sort_by_key(|r| std::cmp::Reverse(r.connected_at));
        Ok(all.into_iter().next())
    }

    /// Through the user's set when there is one; else every key is read.
    async fn find_all_by_user(&self, user_id: &str) -> Result<Vec<ConnectionRecord>, StoreError> {
        let Some(set) = &self.user_set else {
            return Ok(self
                .scan()
                .await?
                .records
                .into_iter()
                .filter(|r| r.user_id == user_id)
                .collect());
        };
        let members: Vec<String> = redis::cmd("SMEMBERS")
            .arg(set.key(user_id))
            .query_async(&mut self.con())
            .await
            .map_err(classify)?;
        let keys: Vec<String> = members.iter().map(|m| self.record_key.key(m)).collect();
        let values = self.read_many(&keys).await?;
        Ok(keys
            .iter()
            .zip(values)
            .filter_map(|(key, value)| match value {
                Some(Ok((stored, _))) => self.parse(key, &stored).ok(),
                _ => None,
            })
            .filter(|r| r.user_id == user_id)
            .collect())
    }

    async fn find_by_connection(
        &self,
        connection_id: &str,
    ) -> Result<Option<ConnectionRecord>, StoreError> {
        self.record_of_key(&self.record_key.key(connection_id))
            .await
    }

    /// One connection per user, as the reference backend keeps them: the user's other records
    /// (found through the user set) go, the new one is a JSON string.
    async fn put(&self, record: ConnectionRecord) -> Result<Option<ConnectionRecord>, StoreError> {
        let previous = match &self.user_set {
            Some(_) => self.find_all_by_user(&record.user_id).await?,
            None => Vec::new(),
        };
        let value = json!({
            self.names.user_id.clone(): record.user_id,
            self.names.connection_id.clone(): record.connection_id,
            self.names.connected_at.clone(): crate::model::iso_millis(record.connected_at),
        });
        let mut pipe = redis::pipe();
        pipe.atomic();
        for old in previous
            .iter()
            .filter(|r| r.connection_id != record.connection_id)
        {
            pipe.cmd("DEL")
                .arg(self.record_key.key(&old.connection_id))
                .ignore();
            pipe.cmd("SREM")
                .arg(self.user_set_key(&record.user_id))
                .arg(&old.connection_id)
                .ignore();
        }
        pipe.cmd("SET")
            .arg(self.record_key.key(&record.connection_id))
            .arg(value.to_string())
            .ignore();
        if self.user_set.is_some() {
            pipe.cmd("SADD")
                .arg(self.user_set_key(&record.user_id))
                .arg(&record.connection_id)
                .ignore();
        }
        let () = pipe.query_async(&mut self.con()).await.map_err(classify)?;
        Ok(previous
            .into_iter()
            .filter(|r| r.connection_id != record.connection_id)
            .max_by_key(|r| r.connected_at))
    }

    async fn delete_if_current(
        &self,
        record: &ConnectionRecord,
    ) -> Result<DeleteOutcome, StoreError> {
        let key = self.record_key.key(&record.connection_id);
        let stored = match self.read(&key).await? {
            None => return Ok(DeleteOutcome::Missing),
            Some(Err(_)) => return Ok(DeleteOutcome::Changed),
            Some(Ok((stored, _))) => stored,
        };
        // Still the record that was probed? A rewrite (another user, a newer connect time) wins.
        if self.parse(&key, &stored).ok().as_ref() != Some(record) {
            return Ok(DeleteOutcome::Changed);
        }
        let outcome: i64 = self
            .delete
            .key(&key)
            .key(self.user_set_key(&record.user_id))
            .arg(stored.fingerprint())
            .arg(&record.connection_id)
            .invoke_async(&mut self.con())
            .await
            .map_err(classify)?;
        Ok(match outcome {
            1 => DeleteOutcome::Deleted,
            0 => DeleteOutcome::Missing,
            _ => DeleteOutcome::Changed,
        })
    }

    /// The key, its type, its value and its TTL, for the audit log.
    async fn raw_item(
        &self,
        record: &ConnectionRecord,
    ) -> Result<Option<serde_json::Value>, StoreError> {
        let key = self.record_key.key(&record.connection_id);
        Ok(match self.read(&key).await? {
            Some(Ok((stored, ttl))) => {
                let mut raw = stored.to_json();
                raw["key"] = json!(key);
                raw["ttl_ms"] = json!(ttl);
                Some(raw)
            }
            _ => None,
        })
    }

    async fn restore(
        &self,
        record: &ConnectionRecord,
        raw: Option<&serde_json::Value>,
    ) -> Result<bool, StoreError> {
        // Never over newer data: a record of the user as new or newer keeps its place (found
        // through the user's set, or, without sets, by reading every key: doctor says so).
        if self
            .find_all_by_user(&record.user_id)
            .await?
            .iter()
            .any(|r| {
                r.connection_id != record.connection_id && r.connected_at >= record.connected_at
            })
        {
            return Ok(false);
        }
        let (stored, ttl) = match raw.and_then(|r| Stored::from_json(r).map(|s| (s, r["ttl_ms"].as_i64().unwrap_or(-1)))) {
            Some(found) => found,
            None => (
                Stored::Text(
                    json!({
                        self.names.user_id.clone(): record.user_id,
                        self.names.connection_id.clone(): record.connection_id,
                        self.names.connected_at.clone(): crate::model::iso_millis(record.connected_at),
                    })
                    .to_string(),
                ),
                -1,
            ),
        };
        let mut invocation = self.restore.prepare_invoke();
        invocation
            .key(self.record_key.key(&record.connection_id))
            .key(self.user_set_key(&record.user_id));
        match &stored {
            Stored::Text(text) => {
                invocation
                    .arg("string")
                    .arg(ttl)
                    .arg(&record.connection_id)
                    .arg(text);
            }
            Stored::Hash(fields) => {
                invocation.arg("hash").arg(ttl).arg(&record.connection_id);
                for (k, v) in fields {
                    invocation.arg(k).arg(v);
                }
            }
        }
        let restored: i64 = invocation
            .invoke_async(&mut self.con())
            .await
            .map_err(classify)?;
        Ok(restored == 1)
    }

    /// Keyspace notifications, when the server sends them for strings, hashes, deletes and
    /// expiries (`notify-keyspace-events` with K and `$hgx`, or A); paced rescans otherwise.
    async fn changes(&self) -> Result<Option<Box<dyn super::changes::ChangeFeed>>, StoreError> {
        let events = self.keyspace_events().await?;
        if !super::redis_keyspace::enough(&events) {
            return Ok(None);
        }
        let feed = super::redis_keyspace::KeyspaceFeed::open(self.clone()).await?;
        Ok(Some(Box::new(feed)))
    }

    fn describe(&self) -> String {
        format!("redis {} on {}", self.layout(), redact(&self.url))
    }
}
