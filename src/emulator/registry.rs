//! The emulator's live sockets and its counters of everything that happened to them.

use crate::model::{iso_millis, DeliveryClass};
use axum::extract::ws::Message;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use time::OffsetDateTime;
use tokio::sync::mpsc;

/// What the management side asks a socket's task to do.
#[derive(Debug)]
pub enum SocketCommand {
    Send(Message),
    /// Send a close frame with this code and reason, then drop the socket.
    Close(u16, String),
    /// Drop the TCP connection without a close frame.
    Kill,
}

pub struct LiveConnection {
    pub id: String,
    pub connected_at: OffsetDateTime,
    last_active_unix_ms: AtomicI64,
    pub source_ip: String,
    pub user_agent: String,
    commands: mpsc::UnboundedSender<SocketCommand>,
}

impl LiveConnection {
    pub fn new(
        id: String,
        source_ip: String,
        user_agent: String,
        commands: mpsc::UnboundedSender<SocketCommand>,
    ) -> Self {
        let connected_at = crate::model::now_utc_millis();
        Self {
            id,
            connected_at,
            last_active_unix_ms: AtomicI64::new(unix_ms(connected_at)),
            source_ip,
            user_agent,
            commands,
        }
    }

    pub fn touch(&self) {
        self.last_active_unix_ms
            .store(unix_ms(OffsetDateTime::now_utc()), Ordering::Relaxed);
    }

    pub fn last_active_at(&self) -> OffsetDateTime {
        let ms = self.last_active_unix_ms.load(Ordering::Relaxed);
        OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
            .unwrap_or(self.connected_at)
    }

    /// False when the socket's task has already ended.
    pub fn command(&self, command: SocketCommand) -> bool {
        self.commands.send(command).is_ok()
    }
}

fn unix_ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// One live connection as the admin API lists it.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct ConnectionView {
    pub connection_id: String,
    pub connected_at: String,
    pub last_active_at: String,
    pub source_ip: String,
    pub user_agent: String,
}

#[derive(Default)]
pub struct Registry {
    live: RwLock<HashMap<String, Arc<LiveConnection>>>,
    pub stats: Stats,
}

impl Registry {
    pub fn insert(&self, connection: Arc<LiveConnection>) {
        self.write().insert(connection.id.clone(), connection);
    }

    pub fn remove(&self, id: &str) -> Option<Arc<LiveConnection>> {
        self.write().remove(id)
    }

    pub fn get(&self, id: &str) -> Option<Arc<LiveConnection>> {
        self.live
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    pub fn all(&self) -> Vec<Arc<LiveConnection>> {
        self.live
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect()
    }

    pub fn len(&self) -> usize {
        self.live.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn views(&self) -> Vec<ConnectionView> {
        let mut views: Vec<_> = self
            .all()
            .iter()
            .map(|c| ConnectionView {
                connection_id: c.id.clone(),
                connected_at: iso_millis(c.connected_at),
                last_active_at: iso_millis(c.last_active_at()),
                source_ip: c.source_ip.clone(),
                user_agent: c.user_agent.clone(),
            })
            .collect();
        views.sort_by(|a, b| a.connected_at.cmp(&b.connected_at));
        views
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<LiveConnection>>> {
        self.live.write().unwrap_or_else(|p| p.into_inner())
    }
}

/// Which @connections operation a counter belongs to.
#[derive(Debug, Clone, Copy)]
pub enum ManagementOp {
    Post,
    Get,
    Delete,
}

/// Counters by outcome class for one operation.
#[derive(Default)]
pub struct OutcomeCounters([AtomicU64; 8]);

impl OutcomeCounters {
    pub fn add(&self, class: DeliveryClass) {
        self.0[class as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> BTreeMap<&'static str, u64> {
        DeliveryClass::ALL
            .iter()
            .map(|c| (c.as_str(), self.0[*c as usize].load(Ordering::Relaxed)))
            .collect()
    }
}

/// Lifecycle events of sockets, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SocketEvent {
    Connected,
    ConnectRefused,
    ClosedByClient,
    DeadPeer,
    DeletedByApi,
    IdleTimeout,
    MaxDuration,
    MessageTooBig,
    /// A client frame above 32 KB: closed with 1009.
    FrameTooBig,
    /// A handshake above the new-connection rate: answered 429.
    ConnectThrottled,
    Killed,
    MessagesFromClients,
    DisconnectsSent,
    DisconnectsDropped,
}

const SOCKET_EVENTS: [SocketEvent; 14] = [
    SocketEvent::Connected,
    SocketEvent::ConnectRefused,
    SocketEvent::ClosedByClient,
    SocketEvent::DeadPeer,
    SocketEvent::DeletedByApi,
    SocketEvent::IdleTimeout,
    SocketEvent::MaxDuration,
    SocketEvent::MessageTooBig,
    SocketEvent::FrameTooBig,
    SocketEvent::ConnectThrottled,
    SocketEvent::Killed,
    SocketEvent::MessagesFromClients,
    SocketEvent::DisconnectsSent,
    SocketEvent::DisconnectsDropped,
];

#[derive(Default)]
pub struct Stats {
    post: OutcomeCounters,
    get: OutcomeCounters,
    delete: OutcomeCounters,
    sockets: [AtomicU64; 14],
}

pub use crate::model::StatsView;

impl Stats {
    pub fn record_call(&self, op: ManagementOp, class: DeliveryClass) {
        match op {
            ManagementOp::Post => self.post.add(class),
            ManagementOp::Get => self.get.add(class),
            ManagementOp::Delete => self.delete.add(class),
        }
    }

    pub fn record(&self, event: SocketEvent) {
        self.sockets[event as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn view(&self, live_connections: usize) -> StatsView {
        let owned = |m: BTreeMap<&'static str, u64>| {
            m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
        };
        StatsView {
            live_connections,
            post_to_connection: owned(self.post.snapshot()),
            get_connection: owned(self.get.snapshot()),
            delete_connection: owned(self.delete.snapshot()),
            sockets: SOCKET_EVENTS
                .iter()
                .map(|e| {
                    let name = serde_json::to_value(e)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_string))
                        .unwrap_or_default();
                    (name, self.sockets[*e as usize].load(Ordering::Relaxed))
                })
                .collect(),
        }
    }
}
