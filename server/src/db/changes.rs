//! What the admin page hears live (architecture §7.4, `GET /api/v1/events`): a run or
//! the agents of a synchronization changed, or a notification's delivery. On PostgreSQL the database itself says so
//! (the triggers of migration 0016, on the channel `adc_page_changes`, at commit, to
//! every replica; `listener.rs` passes them on here). SQLite is one process: the
//! functions of `db/` that change a run or an agent connection say so themselves
//! ([`local`]).
//!
//! On SQLite the bus is the database file's, shared by everything in this process
//! that uses it; on PostgreSQL each replica has its own (`AppState::page_changes`),
//! fed by its listener, so a page hears changes made on any replica.

use super::Db;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{LazyLock, Mutex};
use tokio::sync::broadcast;
use uuid::Uuid;

/// The PostgreSQL channel the triggers notify.
pub const CHANNEL: &str = "adc_page_changes";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// A run was recorded, progressed or ended (`run_id` says which).
    Run,
    /// An agent connected or disconnected.
    Agents,
    /// A notification was queued, delivered, retried or given up.
    Deliveries,
}

/// One change, as the triggers' JSON says it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub tenant_id: Uuid,
    pub kind: ChangeKind,
    pub synchronization_id: Option<Uuid>,
    pub run_id: Option<Uuid>,
}

impl Change {
    pub fn run(tenant_id: Uuid, synchronization_id: Uuid, run_id: Uuid) -> Change {
        Change {
            tenant_id,
            kind: ChangeKind::Run,
            synchronization_id: Some(synchronization_id),
            run_id: Some(run_id),
        }
    }

    pub fn agents(tenant_id: Uuid, synchronization_id: Uuid) -> Change {
        Change {
            tenant_id,
            kind: ChangeKind::Agents,
            synchronization_id: Some(synchronization_id),
            run_id: None,
        }
    }

    pub fn deliveries(tenant_id: Uuid) -> Change {
        Change {
            tenant_id,
            kind: ChangeKind::Deliveries,
            synchronization_id: None,
            run_id: None,
        }
    }
}

/// What a page hears.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Heard {
    Change(Change),
    /// Changes may have been missed (the channel to PostgreSQL was re-established):
    /// read everything again.
    Missed,
}

/// Changes a slow page may fall behind by before it is told to read everything again.
const BACKLOG: usize = 1024;

/// SQLite's buses, one per database file: everything in this process that uses the
/// file shares it (on PostgreSQL each replica has its own, fed by its listener).
static SQLITE_BUSES: LazyLock<Mutex<HashMap<PathBuf, broadcast::Sender<Heard>>>> =
    LazyLock::new(Default::default);

fn sqlite_bus(db: &Db) -> Option<broadcast::Sender<Heard>> {
    let Db::Sqlite(p) = db else {
        return None;
    };
    let file = p.connect_options().get_filename().to_owned();
    Some(
        SQLITE_BUSES
            .lock()
            .expect("the change buses")
            .entry(file)
            .or_insert_with(|| broadcast::channel(BACKLOG).0)
            .clone(),
    )
}

/// The bus a replica's pages listen to: SQLite's for its file, or a new one that this
/// replica's listener feeds ([`notified`]).
pub fn bus_for(db: &Db) -> broadcast::Sender<Heard> {
    sqlite_bus(db).unwrap_or_else(|| broadcast::channel(BACKLOG).0)
}

/// Passes on a change PostgreSQL notified (the payload of [`CHANNEL`]).
pub fn notified(bus: &broadcast::Sender<Heard>, payload: &str) -> Result<(), serde_json::Error> {
    let change: Change = serde_json::from_str(payload)?;
    // Nobody listening is fine: no page is open.
    let _ = bus.send(Heard::Change(change));
    Ok(())
}

/// Tells the pages that changes may have been missed.
pub fn missed(bus: &broadcast::Sender<Heard>) {
    let _ = bus.send(Heard::Missed);
}

/// Tells this process's pages of a change to an SQLite database; on PostgreSQL the
/// triggers have told every replica's already.
pub fn local(db: &Db, change: Change) {
    if let Some(bus) = sqlite_bus(db) {
        let _ = bus.send(Heard::Change(change));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trigger_s_payload_reads_as_a_change() {
        let t = Uuid::new_v4();
        let s = Uuid::new_v4();
        let payload = format!(
            r#"{{"tenant_id": "{t}", "kind": "agents", "synchronization_id": "{s}", "run_id": null}}"#
        );
        assert_eq!(
            serde_json::from_str::<Change>(&payload).unwrap(),
            Change::agents(t, s)
        );
    }
}
