//! Changes from the store's feed (a DynamoDB stream) applied to the rows, so a table that is
//! followed is never scanned again: a new record appears, a deleted one goes, and a record
//! rewritten in place keeps what the probes learned about its connection.

use super::app::{App, Row};
use super::rows::{malformed_row, replace_rows, FLASH_FOR};
use crate::ops::refresh::{is_expired, ConnectionState};
use crate::store::changes::{ItemKey, StoreChange};
use std::collections::{HashMap, HashSet};

/// Apply `changes` (oldest first). Only the last change to each item counts.
pub fn apply_changes(app: &mut App, changes: &[StoreChange]) {
    if changes.is_empty() {
        return;
    }
    let mut last: HashMap<&ItemKey, &StoreChange> = HashMap::new();
    let mut order: Vec<&ItemKey> = Vec::new();
    for change in changes {
        if last.insert(change.key(), change).is_none() {
            order.push(change.key());
        }
    }
    // A key names a connection, or (on a table keyed by user alone) the user's one record.
    let connections: HashSet<&str> = order
        .iter()
        .filter_map(|k| k.connection_id.as_deref())
        .collect();
    let users: HashSet<&str> = order
        .iter()
        .filter(|k| k.connection_id.is_none())
        .filter_map(|k| k.user_id.as_deref())
        .collect();
    let keep = app.selected_row().map(|r| r.key().to_string());
    let (mut rows, replaced): (Vec<Row>, Vec<Row>) =
        std::mem::take(&mut app.rows).into_iter().partition(|row| {
            !connections.contains(row.key()) && !users.contains(row.record.user_id.as_str())
        });
    let mut replaced: HashMap<String, Row> = replaced
        .into_iter()
        .map(|row| (row.key().to_string(), row))
        .collect();
    for (n, key) in order.into_iter().enumerate() {
        let StoreChange::Put { item, .. } = last[key] else {
            continue;
        };
        match item {
            Ok(record) => {
                let mut row = match replaced.remove(&record.connection_id) {
                    // The same connection rewritten: what the probes learned still holds.
                    Some(mut row) if row.state != ConnectionState::Malformed => {
                        row.record = record.clone();
                        row
                    }
                    _ => {
                        let mut row = Row::new(record.clone());
                        row.flash_until = Some(app.now + FLASH_FOR);
                        row
                    }
                };
                if row.probed_at.is_none() && is_expired(&row.record, app.now) {
                    row.state = ConnectionState::Expired;
                }
                rows.push(row);
            }
            Err(malformed) => rows.push(malformed_row(malformed.clone(), n)),
        }
    }
    replace_rows(app, rows, keep);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ConnectionRecord;
    use crate::store::StoreSnapshot;
    use crate::tui::app::EnvironmentInfo;
    use time::OffsetDateTime;

    fn record(user: &str, connection: &str) -> ConnectionRecord {
        ConnectionRecord {
            user_id: user.into(),
            connection_id: connection.into(),
            connected_at: OffsetDateTime::now_utc(),
        }
    }

    fn put(
        key_user: Option<&str>,
        key_connection: Option<&str>,
        r: ConnectionRecord,
    ) -> StoreChange {
        StoreChange::Put {
            key: ItemKey {
                user_id: key_user.map(str::to_string),
                connection_id: key_connection.map(str::to_string),
            },
            item: Ok(r),
        }
    }

    fn app_with(records: Vec<ConnectionRecord>) -> App {
        let mut app = App::new(EnvironmentInfo::default(), OffsetDateTime::now_utc());
        crate::tui::rows::merge_snapshot(
            &mut app,
            StoreSnapshot {
                records,
                malformed: vec![],
            },
        );
        app
    }

    fn shown(app: &App) -> Vec<String> {
        let mut ids: Vec<String> = app
            .visible
            .iter()
            .map(|&i| app.rows[i].key().to_string())
            .collect();
        ids.sort();
        ids
    }

    #[test]
    fn on_a_table_keyed_by_user_a_reconnect_replaces_the_users_record() {
        let mut app = app_with(vec![record("alice", "A1"), record("bob", "B1")]);
        let bob = app.index.get(&app.rows, "B1").unwrap();
        app.rows[bob].state = ConnectionState::Live;
        apply_changes(
            &mut app,
            &[
                put(Some("alice"), None, record("alice", "A2")),
                put(Some("carol"), None, record("carol", "C1")),
                StoreChange::Removed {
                    key: ItemKey {
                        user_id: Some("carol".into()),
                        connection_id: None,
                    },
                },
            ],
        );
        assert_eq!(shown(&app), ["A2", "B1"]);
        let bob = &app.rows[app.index.get(&app.rows, "B1").unwrap()];
        assert_eq!(
            bob.state,
            ConnectionState::Live,
            "untouched rows keep their state"
        );
        assert_eq!(app.count(ConnectionState::Live), 1);
    }

    #[test]
    fn a_record_rewritten_in_place_keeps_its_probe_answer() {
        let mut app = app_with(vec![record("alice", "A1"), record("alice", "A2")]);
        let i = app.index.get(&app.rows, "A1").unwrap();
        app.rows[i].state = ConnectionState::Stale;
        app.rows[i].probed_at = Some(app.now);
        apply_changes(
            &mut app,
            &[
                put(Some("alice"), Some("A1"), record("alice", "A1")),
                StoreChange::Removed {
                    key: ItemKey {
                        user_id: Some("alice".into()),
                        connection_id: Some("A2".into()),
                    },
                },
            ],
        );
        assert_eq!(shown(&app), ["A1"]);
        assert_eq!(
            app.rows[app.index.get(&app.rows, "A1").unwrap()].state,
            ConnectionState::Stale
        );
        assert_eq!(app.count(ConnectionState::Stale), 1);
    }

    #[test]
    fn a_malformed_item_from_the_feed_is_shown() {
        let mut app = app_with(vec![]);
        apply_changes(
            &mut app,
            &[StoreChange::Put {
                key: ItemKey {
                    user_id: Some("eve".into()),
                    connection_id: None,
                },
                item: Err(crate::store::MalformedRecord {
                    raw: serde_json::json!({"user_id": {"S": "eve"}}),
                    user_id: Some("eve".into()),
                    connection_id: None,
                    reason: "missing connection_id".into(),
                }),
            }],
        );
        assert_eq!(app.count(ConnectionState::Malformed), 1);
    }
}
