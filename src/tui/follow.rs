//! Following the store's change feed for the dashboard: open it, read it, and when it fails go
//! back to scans and open it again later. Answers go to the event loop tagged with the
//! environment they were read for, so a late answer from an environment just left is dropped.

use super::action::Action;
use super::failure::Failure;
use crate::store::changes::ChangeFeed;
use crate::store::ConnectionStore;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

/// Sends results back tagged with the environment generation.
#[derive(Clone)]
pub(super) struct Tagged {
    pub(super) generation: u64,
    pub(super) tx: UnboundedSender<(u64, Action)>,
}

impl Tagged {
    pub(super) fn send(&self, action: Action) -> Result<(), ()> {
        self.tx.send((self.generation, action)).map_err(|_| ())
    }
}

/// How long to wait before opening the store's feed again after it failed.
const REOPEN_FEED_AFTER: Duration = Duration::from_secs(30);

pub(super) async fn open_feed(
    store: &Arc<dyn ConnectionStore>,
) -> Result<Option<Box<dyn ChangeFeed>>, Failure> {
    super::effects::within("opening the table's stream", store.changes())
        .await
        .and_then(|r| r.map_err(Failure::from))
}

/// The task following one environment's feed; it stops when this is dropped.
pub(super) struct Following(Option<tokio::task::AbortHandle>);

impl Drop for Following {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.abort();
        }
    }
}

/// Follow the store's changes: `first` is an already open feed; otherwise one is opened (at once
/// when `open_now`). When a feed fails, the dashboard goes back to scans and the feed is opened
/// again a little later. A store without a feed is not asked again.
pub(super) fn follow_changes(
    store: Arc<dyn ConnectionStore>,
    first: Option<Box<dyn ChangeFeed>>,
    open_now: bool,
    tx: Tagged,
) -> Following {
    let task = tokio::spawn(async move {
        let mut feed = first;
        let mut wait = !open_now && feed.is_none();
        let mut last_complaint: Option<Failure> = None;
        loop {
            if feed.is_none() {
                if wait {
                    tokio::time::sleep(REOPEN_FEED_AFTER).await;
                }
                wait = true;
                match open_feed(&store).await {
                    Ok(Some(open)) => {
                        last_complaint = None;
                        if tx.send(Action::FeedOpened(open.describe())).is_err() {
                            return;
                        }
                        feed = Some(open);
                    }
                    Ok(None) => return,
                    Err(e) => {
                        // Said once, not every 30 s: the status line has other news to show.
                        if last_complaint.as_ref() != Some(&e)
                            && tx.send(Action::FeedLost(e.clone())).is_err()
                        {
                            return;
                        }
                        last_complaint = Some(e);
                        continue;
                    }
                }
            }
            let Some(open) = feed.as_mut() else { continue };
            let read = super::effects::within("reading the table's stream", open.next_changes())
                .await
                .and_then(|r| r.map_err(Failure::from));
            let sent = match read {
                Ok(changes) => tx.send(Action::StoreChanged(changes)),
                Err(e) => {
                    feed = None;
                    tx.send(Action::FeedLost(e))
                }
            };
            if sent.is_err() {
                return;
            }
        }
    });
    Following(Some(task.abort_handle()))
}
