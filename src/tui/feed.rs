//! Changes from the store's feed (a DynamoDB stream) applied to the rows, so a table that is
//! followed is never scanned again: a new record appears, a deleted one goes, and a record
//! rewritten in place keeps what the probes learned about its connection.

use super::app::{App, OwnedRow};
use super::table_rows::{malformed_row, FLASH_FOR};
use crate::ops::classify::{is_expired, ConnectionState};
use crate::store::changes::{ItemKey, StoreChange};
use crate::tui::visible::OnScreen;
use std::collections::HashMap;

/// Apply `changes` (oldest first). Only the last change to each item counts. The rows and
/// everything derived from them are updated in place (`Table::take_rows`, `Table::add_rows`), so
/// a batch costs about one filter keystroke however big the table is.
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
    let keep = app.selected_row().map(|r| r.key().to_string());
    // A key names a connection, or (on a table keyed by user alone) the user's one record.
    let mut named = Vec::new();
    for key in &order {
        match (&key.connection_id, &key.user_id) {
            (Some(connection), _) => named.extend(app.table.index.get(&app.table.ids, connection)),
            (None, Some(user)) => named.extend(app.table.index.rows_of_user(&app.table.ids, user)),
            (None, None) => {}
        }
    }
    let mut replaced: HashMap<String, OwnedRow> = app
        .table
        .take_rows(named)
        .into_iter()
        .filter(|owned| owned.row.state != ConnectionState::Malformed)
        .map(|owned| (owned.connection_id.clone(), owned))
        .collect();
    let mut added = Vec::new();
    let mut appeared = Vec::new();
    for (n, key) in order.into_iter().enumerate() {
        let StoreChange::Put { item, .. } = last[key] else {
            continue;
        };
        match item {
            Ok(record) => {
                let mut owned = match replaced.remove(&record.connection_id) {
                    // The same connection rewritten: what the probes learned still holds.
                    Some(mut owned) => {
                        owned.set_record(record.clone());
                        owned
                    }
                    None => {
                        appeared.push((record.user_id.clone(), record.connection_id.clone()));
                        let mut owned = OwnedRow::new(record.clone());
                        owned.row.flash(app.now + FLASH_FOR);
                        owned
                    }
                };
                let row = &mut owned.row;
                if row.probed_at().is_none() && is_expired(row.connected_at(), app.now) {
                    row.state = ConnectionState::Expired;
                }
                added.push(owned);
            }
            Err(malformed) => added.push(malformed_row(malformed.clone(), n)),
        }
    }
    let vanished = replaced.len();
    let now = app.now;
    app.telemetry.churn.record(now, appeared, vanished);
    app.table.add_rows(added, now);
    app.table.visible.clear();
    let page = app.page();
    app.table.recompute_visible_keeping(keep, now, page);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ConnectionRecord;
    use crate::store::StoreSnapshot;
    use crate::tui::app::{EnvironmentInfo, SortColumn};
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
        app.merge_snapshot(StoreSnapshot {
            records,
            malformed: vec![],
            ..Default::default()
        });
        app
    }

    fn shown(app: &App) -> Vec<String> {
        let mut ids: Vec<String> = app
            .table
            .visible
            .iter()
            .map(|&i| app.table.ids.connection_id(i).to_string())
            .collect();
        ids.sort();
        ids
    }

    fn key_of(user: &str, connection: &str) -> ItemKey {
        ItemKey {
            user_id: Some(user.into()),
            connection_id: Some(connection.into()),
        }
    }

    proptest::proptest! {
        /// Any table and any batches of puts, rewrites and deletes: the rows updated in place
        /// show exactly what a fresh read of the final table shows, in the same order and under
        /// the same filter.
        #[test]
        fn changes_applied_in_place_match_a_fresh_read(
            initial in proptest::collection::btree_map(0..40usize, 0..4usize, 0..30),
            batches in proptest::collection::vec(
                proptest::collection::vec((proptest::bool::ANY, 0..40usize, 0..4usize), 1..12),
                1..6,
            ),
            by_connection in proptest::bool::ANY,
            filtered in proptest::bool::ANY,
        ) {
            let base = OffsetDateTime::now_utc();
            let mut clock = 0i64;
            let mut make = |user: usize, connection: usize| {
                clock += 1;
                ConnectionRecord {
                    user_id: format!("u{user}"),
                    connection_id: format!("C{connection:03}"),
                    connected_at: base - time::Duration::seconds(clock),
                }
            };
            let mut model: std::collections::BTreeMap<String, ConnectionRecord> = initial
                .iter()
                .map(|(&c, &u)| {
                    let r = make(u, c);
                    (r.connection_id.clone(), r)
                })
                .collect();
            let setup = |app: &mut App| {
                app.table.sort = if by_connection { SortColumn::Connection } else { SortColumn::Age };
                app.table.filter = if filtered { "u1".into() } else { String::new() };
                app.resort();
            };
            let mut app = app_with(model.values().cloned().collect());
            setup(&mut app);
            for batch in batches {
                let mut changes = Vec::new();
                for (is_put, c, u) in batch {
                    let id = format!("C{c:03}");
                    // A connection belongs to one user for its life.
                    let user = model.get(&id).map(|r| r.user_id.clone()).unwrap_or(format!("u{u}"));
                    if is_put {
                        let mut r = make(u, c);
                        r.user_id = user.clone();
                        model.insert(id.clone(), r.clone());
                        changes.push(StoreChange::Put { key: key_of(&user, &id), item: Ok(r) });
                    } else {
                        model.remove(&id);
                        changes.push(StoreChange::Removed { key: key_of(&user, &id) });
                    }
                }
                apply_changes(&mut app, &changes);
                let mut fresh = app_with(model.values().cloned().collect());
                setup(&mut fresh);
                let ids = |a: &App| a.table.visible.iter().map(|&i| a.table.ids.connection_id(i).to_string()).collect::<Vec<_>>();
                proptest::prop_assert_eq!(ids(&app), ids(&fresh));
                proptest::prop_assert_eq!(app.table.rows.len(), model.len());
                proptest::prop_assert_eq!(app.table.derived.tally.clone(), fresh.table.derived.tally.clone());
                for id in model.keys() {
                    let i = app.table.index.get(&app.table.ids, id);
                    proptest::prop_assert!(i.is_some_and(|i| app.table.ids.connection_id(i) == id));
                }
            }
        }
    }

    #[test]
    fn on_a_table_keyed_by_user_a_reconnect_replaces_the_users_record() {
        let mut app = app_with(vec![record("alice", "A1"), record("bob", "B1")]);
        let bob = app.table.index.get(&app.table.ids, "B1").unwrap();
        app.table.mark_stale(bob);
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
        let bob = &app.table.rows[app.table.index.get(&app.table.ids, "B1").unwrap()];
        assert_eq!(
            bob.state,
            ConnectionState::Stale,
            "untouched rows keep their state"
        );
        assert_eq!(app.count(ConnectionState::Stale), 1);
        assert_eq!(app.count(ConnectionState::Unprobed), 1);
    }

    #[test]
    fn a_record_rewritten_in_place_keeps_its_probe_answer() {
        let mut app = app_with(vec![record("alice", "A1"), record("alice", "A2")]);
        let i = app.table.index.get(&app.table.ids, "A1").unwrap();
        app.table.mark_stale(i);
        app.table.rows[i].set_probed_at(Some(app.now));
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
            app.table.rows[app.table.index.get(&app.table.ids, "A1").unwrap()].state,
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
