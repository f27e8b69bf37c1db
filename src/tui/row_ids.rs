//! Every row's user id and connection id, in row order: the one copy of them the table holds.
//! Two packed columns (`tui::text_column`) instead of two heap strings a row: at 1,000,000
//! rows that is 64 MB less (DESIGN.md §6), and the filter searches them where they lie.

use super::text_column::TextColumn;

#[derive(Debug, Default, Clone)]
pub struct RowIds {
    users: TextColumn,
    connections: TextColumn,
}

impl RowIds {
    pub fn with_capacity(rows: usize) -> Self {
        RowIds {
            users: TextColumn::with_capacity(rows, 13),
            connections: TextColumn::with_capacity(rows, 17),
        }
    }

    pub fn len(&self) -> usize {
        self.connections.rows()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn user_id(&self, row: usize) -> &str {
        self.users.get(row)
    }

    pub fn connection_id(&self, row: usize) -> &str {
        self.connections.get(row)
    }

    pub fn users(&self) -> &TextColumn {
        &self.users
    }

    pub fn connections(&self) -> &TextColumn {
        &self.connections
    }

    /// The ids of a new last row.
    pub fn push(&mut self, user_id: &str, connection_id: &str) {
        self.users.push(user_id);
        self.connections.push(connection_id);
    }

    /// Mirror `rows.swap_remove(row)`.
    pub fn swap_remove(&mut self, row: usize) {
        self.users.swap_remove(row);
        self.connections.swap_remove(row);
    }

    /// Rebuild once removed rows left more garbage than there are rows: memory stays bounded
    /// however long a table is followed, at the cost of one rebuild per table's worth of churn.
    pub fn compact_if_wasteful(&mut self) -> bool {
        let limit = self.len().max(1024);
        let wasteful = self.users.garbage() > limit || self.connections.garbage() > limit;
        if wasteful {
            self.users = self.users.compacted();
            self.connections = self.connections.compacted();
        }
        wasteful
    }
}
