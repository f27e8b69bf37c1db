//! Connection id (and user id) to row position, without a second copy of every id, and each
//! record's fixed place in the random probing order.

use super::table::Row;
use hashbrown::HashTable;
use std::hash::{BuildHasher, Hasher};

/// Where a record falls in the probing order of never-probed records. A hash of the connection
/// id, fixed across scans, so the records probed so far are always a uniform random sample of
/// the table: what makes `stale_estimate` honest while a sweep is incomplete.
pub fn sample_rank(connection_id: &str) -> u64 {
    // Fixed keys: the order is the same in every run, which keeps tests reproducible; it is
    // unrelated to staleness, which is all the estimate needs.
    let mut hasher = std::hash::DefaultHasher::new();
    hasher.write(connection_id.as_bytes());
    hasher.finish()
}

/// the positions of the user's rows, for a change that names only the user (a table keyed by
/// user). Kept in step with the rows as they are added and removed.
#[derive(Default)]
pub struct RowIndex {
    table: HashTable<u32>,
    users: HashTable<u32>,
    hasher: std::hash::RandomState,
}

impl RowIndex {
    pub fn build(rows: &[Row]) -> Self {
        let mut index = RowIndex {
            table: HashTable::with_capacity(rows.len()),
            users: HashTable::with_capacity(rows.len()),
            hasher: Default::default(),
        };
        for i in 0..rows.len() {
            index.insert(rows, i);
        }
        index
    }

    pub fn get(&self, rows: &[Row], connection_id: &str) -> Option<usize> {
        let hash = self.hasher.hash_one(connection_id);
        self.table
            .find(hash, |&i| {
                rows.get(i as usize)
                    .is_some_and(|r| r.key() == connection_id)
            })
            .map(|&i| i as usize)
    }

    /// Every row of the user.
    pub fn rows_of_user(&self, rows: &[Row], user_id: &str) -> Vec<usize> {
        self.users
            .iter_hash(self.hasher.hash_one(user_id))
            .map(|&i| i as usize)
            .filter(|&i| rows.get(i).is_some_and(|r| r.user_id() == user_id))
            .collect()
    }

    /// Row `i` (already in `rows`) is new.
    pub fn insert(&mut self, rows: &[Row], i: usize) {
        let hasher = &self.hasher;
        self.table
            .insert_unique(hasher.hash_one(rows[i].key()), i as u32, |&j| {
                hasher.hash_one(rows[j as usize].key())
            });
        self.users
            .insert_unique(hasher.hash_one(rows[i].user_id()), i as u32, |&j| {
                hasher.hash_one(rows[j as usize].user_id())
            });
    }

    /// Before `rows.swap_remove(i)`: forget row `i`, and give the last row its number.
    pub fn swap_remove(&mut self, rows: &[Row], i: usize) {
        let last = rows.len() - 1;
        self.forget(rows, i);
        if i != last {
            self.renumber(rows, last, i);
        }
    }

    fn forget(&mut self, rows: &[Row], i: usize) {
        let row = &rows[i];
        if let Ok(entry) = self
            .table
            .find_entry(self.hasher.hash_one(row.key()), |&j| j as usize == i)
        {
            entry.remove();
        }
        if let Ok(entry) = self
            .users
            .find_entry(self.hasher.hash_one(row.user_id()), |&j| j as usize == i)
        {
            entry.remove();
        }
    }

    fn renumber(&mut self, rows: &[Row], from: usize, to: usize) {
        let row = &rows[from];
        if let Some(slot) = self
            .table
            .find_mut(self.hasher.hash_one(row.key()), |&j| j as usize == from)
        {
            *slot = to as u32;
        }
        if let Some(slot) = self
            .users
            .find_mut(self.hasher.hash_one(row.user_id()), |&j| j as usize == from)
        {
            *slot = to as u32;
        }
    }
}

impl RowIndex {
    /// `get` over rows that may have been taken out already (during a merge).
    pub(super) fn get_in(&self, rows: &[Option<Row>], connection_id: &str) -> Option<usize> {
        let hash = self.hasher.hash_one(connection_id);
        self.table
            .find(hash, |&i| {
                rows.get(i as usize)
                    .and_then(|r| r.as_ref())
                    .is_some_and(|r| r.key() == connection_id)
            })
            .map(|&i| i as usize)
    }
}
