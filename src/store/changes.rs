//! Changes to the connection store as they happen, so that a big table is read in full once and
//! then followed, instead of being scanned again and again.

use super::{MalformedRecord, StoreError};
use crate::model::ConnectionRecord;
use async_trait::async_trait;

/// The key attributes of one item, as far as the table is keyed on them: a table keyed by user
/// alone names no connection, and then a change to the user replaces the user's one record.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ItemKey {
    pub user_id: Option<String>,
    pub connection_id: Option<String>,
}

/// One change to one item, in the order the store made them.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum StoreChange {
    /// The item was written (created or replaced): a record, or an item that does not parse,
    /// which is shown as malformed rather than dropped.
    Put {
        key: ItemKey,
        item: Result<ConnectionRecord, MalformedRecord>,
    },
    Removed {
        key: ItemKey,
    },
}

impl StoreChange {
    pub fn key(&self) -> &ItemKey {
        match self {
            StoreChange::Put { key, .. } | StoreChange::Removed { key } => key,
        }
    }
}

/// A source of changes, opened at "now": everything written after it was opened is reported.
#[async_trait]
pub trait ChangeFeed: Send {
    /// The changes since the last call, oldest first. Waits up to about a second when there are
    /// none, then answers with an empty list (which still says "nothing changed until now").
    async fn next_changes(&mut self) -> Result<Vec<StoreChange>, StoreError>;
    /// For the header: where the changes come from.
    fn describe(&self) -> String;
}
