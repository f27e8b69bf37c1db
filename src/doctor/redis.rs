//! Checks of a Redis connection store: reachable, keys of the template that parse, user sets
//! for `push --user`, and TTLs, the safety net for records whose `$disconnect` was lost.

use super::Check;
use crate::store::redis_connect::redact;
use crate::store::redis_store::RedisStore;
use crate::store::schema::SchemaOverrides;
use crate::store::{ConnectionStore, StoreError};

pub async fn store(url: &str, names: &SchemaOverrides) -> Vec<Check> {
    let shown = redact(url);
    let store = match RedisStore::connect(url, names).await {
        Ok(store) => store,
        Err(e) => return vec![refused(&e, &shown)],
    };
    let mut checks = Vec::new();
    let (sample, with_ttl) = match store.sample().await {
        Ok(found) => found,
        Err(e) => return vec![refused(&e, &shown)],
    };
    let read = sample.records.len() + sample.malformed.len();
    checks.push(match sample.malformed.first() {
        None => Check::pass(
            "store",
            format!("{}: {read} sampled key(s) parse", store.describe()),
        ),
        Some(bad) => Check::warn(
            "store",
            format!(
                "{}: {} of {read} sampled key(s) do not parse, e.g. connection {}: {}",
                store.describe(),
                sample.malformed.len(),
                bad.connection_id.as_deref().unwrap_or("?"),
                bad.reason
            ),
            Some("fix the writer, or name the fields and keys under [env.NAME.schema] (user_id, connection_id, connected_at, record_key)".into()),
        ),
    });
    checks.push(if store.has_user_sets() {
        Check::pass("user sets", "push --user reads the user's set, not every key")
    } else {
        Check::warn(
            "user sets",
            "no user_set template: push --user and restore's newer-record check read every key",
            Some("user_set = \"user:{user_id}:connections\" under [env.NAME.schema], if the backend keeps one".into()),
        )
    });
    checks.push(if read == 0 || with_ttl == read {
        Check::pass(
            "record TTL",
            format!("{with_ttl} of {read} sampled record(s) expire: a record nothing deletes goes by itself"),
        )
    } else {
        Check::warn(
            "record TTL",
            format!("{} of {read} sampled record(s) have no TTL: one whose $disconnect was lost stays until a purge finds it Gone", read - with_ttl),
            Some("have the backend write records with SET key value EX 7200 (API Gateway's 2 h maximum)".into()),
        )
    });
    checks.push(match store.keyspace_events().await {
        Ok(events) if crate::store::redis_keyspace::enough(&events) => Check::pass(
            "live refresh",
            format!("notify-keyspace-events is {events:?}: the dashboard follows the keys' changes instead of scanning again"),
        ),
        Ok(events) => Check::warn(
            "live refresh",
            format!("notify-keyspace-events is {events:?}: the dashboard scans every key again at a pace instead of following their changes"),
            Some(format!(
                "redis-cli CONFIG SET {}   # or the same line in redis.conf; on ElastiCache, in the parameter group",
                crate::store::redis_keyspace::SETTING
            )),
        ),
        Err(e) => Check::warn(
            "live refresh",
            format!("cannot read notify-keyspace-events: {e} (CONFIG may be disabled, as on managed Redis): the dashboard scans at a pace"),
            None,
        ),
    });
    checks
}

fn refused(error: &StoreError, url: &str) -> Check {
    let fix = match error {
        StoreError::Network(_) => {
            format!("check the host and port of {url}, and that the server accepts connections from here")
        }
        StoreError::AccessDenied(_) => {
            "check the password (redis://:PASSWORD@HOST:PORT) or the ACL user's permissions".into()
        }
        StoreError::Schema(_) => {
            "name the keys under [env.NAME.schema]: record_key = \"ws:{connection_id}\", user_set = \"user:{user_id}:connections\"".into()
        }
        _ => "see the error above".into(),
    };
    Check::fail("store", format!("{url}: {error}"), fix)
}
