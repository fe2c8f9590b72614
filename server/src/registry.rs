//! The agents connected to this replica, by connection id, each with a bounded channel
//! to its session. An entry is removed by a guard when its session ends.

use adc_shared::protocol::ErrorCode;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;
use uuid::Uuid;

/// What another part of the server asks a session to do.
#[derive(Debug)]
pub enum Order {
    /// Tell the agent why, then close the connection.
    Close(ErrorCode, String),
    /// Start this run (already recorded as running) on this connection.
    StartRun(Box<crate::db::runs::Run>),
    /// The run was cancelled (REST): end it on this connection, the agent stops reading.
    CancelRun(uuid::Uuid),
    /// Ask the agent to check a password; the answer goes to `reply`. Dropping `reply`
    /// unanswered (the connection ended) tells the caller to try another agent.
    Authenticate {
        username: String,
        password: adc_shared::Secret,
        reply: tokio::sync::oneshot::Sender<adc_shared::protocol::AuthOutcome>,
    },
}

#[derive(Clone, Default)]
pub struct Registry {
    inner: Arc<Mutex<HashMap<Uuid, Entry>>>,
    /// Turns the starting point of [`Registry::rotation`] so requests spread evenly.
    turn: Arc<std::sync::atomic::AtomicUsize>,
    /// Runs this replica ended whose end the database has not taken yet (it was away).
    ending: Arc<Mutex<std::collections::HashSet<Uuid>>>,
}

struct Entry {
    sync_id: Uuid,
    orders: mpsc::Sender<Order>,
    /// A heartbeat arrived since the last time they were recorded.
    beat: bool,
}

/// Removes its connection from the registry when dropped.
pub struct Registration {
    registry: Registry,
    conn_id: Uuid,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.conn_id);
    }
}

impl Registry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Entry>> {
        // A panic while holding this lock leaves the map consistent: recover it.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn register(&self, conn_id: Uuid, sync_id: Uuid) -> (Registration, mpsc::Receiver<Order>) {
        let (tx, rx) = mpsc::channel(16);
        self.lock().insert(
            conn_id,
            Entry {
                sync_id,
                orders: tx,
                beat: false,
            },
        );
        (
            Registration {
                registry: self.clone(),
                conn_id,
            },
            rx,
        )
    }

    /// The connections of a synchronization on this replica.
    pub fn connections(&self, sync_id: Uuid) -> Vec<Uuid> {
        let mut ids: Vec<Uuid> = self
            .lock()
            .iter()
            .filter(|(_, e)| e.sync_id == sync_id)
            .map(|(id, _)| *id)
            .collect();
        ids.sort();
        ids
    }

    /// The connections of a synchronization here, starting at a different one on each
    /// call: the order in which to try them.
    pub fn rotation(&self, sync_id: Uuid) -> Vec<Uuid> {
        let mut ids = self.connections(sync_id);
        if !ids.is_empty() {
            let k = self.turn.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % ids.len();
            ids.rotate_left(k);
        }
        ids
    }

    /// The synchronizations with an agent on this replica.
    pub fn synchronizations(&self) -> Vec<Uuid> {
        let mut ids: Vec<Uuid> = self.lock().values().map(|e| e.sync_id).collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// Remembers that this replica ended `run_id` but could not record it yet: until
    /// [`Registry::ended`], the relay must not hand the still-`running` run out again.
    pub fn ending(&self, run_id: Uuid) {
        self.ending_runs().insert(run_id);
    }

    pub fn ended(&self, run_id: Uuid) {
        self.ending_runs().remove(&run_id);
    }

    pub fn is_ending(&self, run_id: Uuid) -> bool {
        self.ending_runs().contains(&run_id)
    }

    fn ending_runs(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<Uuid>> {
        self.ending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The agent of `conn_id` sent a heartbeat: it is recorded with the others' at the
    /// next [`Registry::take_beats`] (one statement for every agent of the replica, not
    /// one per heartbeat: 10 000 agents made 670 writes a second).
    pub fn beat(&self, conn_id: Uuid) {
        if let Some(e) = self.lock().get_mut(&conn_id) {
            e.beat = true;
        }
    }

    /// The connections whose agents sent a heartbeat since the last call.
    pub fn take_beats(&self) -> Vec<Uuid> {
        self.lock()
            .iter_mut()
            .filter_map(|(id, e)| std::mem::take(&mut e.beat).then_some(*id))
            .collect()
    }

    /// Whether this replica holds the connection.
    pub fn holds(&self, conn_id: Uuid) -> bool {
        self.lock().contains_key(&conn_id)
    }

    /// Every connection this replica holds.
    pub fn all_connections(&self) -> Vec<Uuid> {
        self.lock().keys().copied().collect()
    }

    /// Hands an order to one connection's session; false when it is gone or busy.
    pub fn send(&self, conn_id: Uuid, order: Order) -> bool {
        let tx = self.lock().get(&conn_id).map(|e| e.orders.clone());
        tx.is_some_and(|tx| tx.try_send(order).is_ok())
    }

    /// Closes every connection of a synchronization on this replica (secret rotated,
    /// synchronization deleted). Other replicas notice within a heartbeat interval.
    pub fn close_sync(&self, sync_id: Uuid, code: ErrorCode, reason: &str) -> usize {
        let senders: Vec<_> = self
            .lock()
            .values()
            .filter(|e| e.sync_id == sync_id)
            .map(|e| e.orders.clone())
            .collect();
        for s in &senders {
            // A full channel means the session is busy closing already.
            let _ = s.try_send(Order::Close(code, reason.to_owned()));
        }
        senders.len()
    }
}
