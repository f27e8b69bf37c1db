//! Connection id (and user id) to row position, without a second copy of every id, and each
//! record's fixed place in the random probing order.

use super::row_ids::RowIds;
use hashbrown::HashTable;
use std::hash::{BuildHasher, Hasher};

/// Where a record falls in the probing order of never-probed records. A hash of the connection
/// id, fixed across scans, so the records probed so far are always a uniform random sample of
/// the table: what makes `stale_estimate` honest while a sweep is incomplete.
pub fn sample_rank(connection_id: &str) -> u32 {
    // Fixed keys: the order is the same in every run, which keeps tests reproducible; it is
    // unrelated to staleness, which is all the estimate needs.
    let mut hasher = std::hash::DefaultHasher::new();
    hasher.write(connection_id.as_bytes());
    // 32 bits order a million records as well as 64 do, in half the space.
    (hasher.finish() >> 32) as u32
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
    pub fn build(ids: &RowIds) -> Self {
        let mut index = RowIndex {
            table: HashTable::with_capacity(ids.len()),
            users: HashTable::with_capacity(ids.len()),
            hasher: Default::default(),
        };
        for i in 0..ids.len() {
            index.insert(ids, i);
        }
        index
    }

    pub fn get(&self, ids: &RowIds, connection_id: &str) -> Option<usize> {
        let hash = self.hasher.hash_one(connection_id);
        self.table
            .find(hash, |&i| {
                (i as usize) < ids.len() && ids.connection_id(i as usize) == connection_id
            })
            .map(|&i| i as usize)
    }

    /// Every row of the user.
    pub fn rows_of_user(&self, ids: &RowIds, user_id: &str) -> Vec<usize> {
        self.users
            .iter_hash(self.hasher.hash_one(user_id))
            .map(|&i| i as usize)
            .filter(|&i| i < ids.len() && ids.user_id(i) == user_id)
            .collect()
    }

    /// Row `i` (already in `ids`) is new.
    pub fn insert(&mut self, ids: &RowIds, i: usize) {
        let hasher = &self.hasher;
        self.table
            .insert_unique(hasher.hash_one(ids.connection_id(i)), i as u32, |&j| {
                hasher.hash_one(ids.connection_id(j as usize))
            });
        self.users
            .insert_unique(hasher.hash_one(ids.user_id(i)), i as u32, |&j| {
                hasher.hash_one(ids.user_id(j as usize))
            });
    }

    /// Before `ids.swap_remove(i)`: forget row `i`, and give the last row its number.
    pub fn swap_remove(&mut self, ids: &RowIds, i: usize) {
        let last = ids.len() - 1;
        self.forget(ids, i);
        if i != last {
            self.renumber(ids, last, i);
        }
    }

    fn forget(&mut self, ids: &RowIds, i: usize) {
        if let Ok(entry) = self
            .table
            .find_entry(self.hasher.hash_one(ids.connection_id(i)), |&j| {
                j as usize == i
            })
        {
            entry.remove();
        }
        if let Ok(entry) = self
            .users
            .find_entry(self.hasher.hash_one(ids.user_id(i)), |&j| j as usize == i)
        {
            entry.remove();
        }
    }

    fn renumber(&mut self, ids: &RowIds, from: usize, to: usize) {
        if let Some(slot) = self
            .table
            .find_mut(self.hasher.hash_one(ids.connection_id(from)), |&j| {
                j as usize == from
            })
        {
            *slot = to as u32;
        }
        if let Some(slot) = self
            .users
            .find_mut(self.hasher.hash_one(ids.user_id(from)), |&j| {
                j as usize == from
            })
        {
            *slot = to as u32;
        }
    }
}
