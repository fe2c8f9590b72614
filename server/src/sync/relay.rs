//! Runs started on one replica for an agent held by another (architecture §2): the replica
//! that records the run notifies it through PostgreSQL (`db::notify`); every replica
//! listens (`listener.rs`), and the one holding the run's agent connection hands it
//! over here. SQLite is single-replica and never gets here.
//!
//! A notification can be lost (a listener reconnecting); so whenever a listener
//! (re)connects, its replica also looks for running runs of its own connections that
//! no session has taken, and hands those over too. A session given a run it already
//! has ignores it.

use crate::db::Db;
use crate::db::runs::{self, Run};
use crate::registry::Registry;
use crate::sync::dispatch;
use crate::vocabulary::RunStatus;
use uuid::Uuid;

/// Hands `run_id` to its agent if this replica holds the agent's connection.
pub async fn take(db: &Db, agents: &Registry, run_id: Uuid) {
    match runs::by_id(db, run_id).await {
        Ok(Some(run)) => hand_over_if_held(db, agents, run).await,
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(%run_id, error = %e, "cannot load a run started on another replica")
        }
    }
}

async fn hand_over_if_held(db: &Db, agents: &Registry, run: Run) {
    let (run_id, Some(conn)) = (run.id, run.connection_id) else {
        return;
    };
    // A run this replica ended while the database was away is still `running` there.
    if run.status != RunStatus::Running || !agents.holds(conn) || agents.is_ending(run_id) {
        return;
    }
    match dispatch::hand_over(db, agents, conn, run).await {
        Ok(true) => {
            tracing::info!(%run_id, connection_id = %conn, "run from another replica handed to its agent")
        }
        Ok(false) => {}
        Err(e) => tracing::error!(%run_id, error = %e, "could not record the run's failure"),
    }
}

/// Running runs of this replica's connections, handed over again (a session ignores
/// one it already has).
pub async fn sweep(db: &Db, agents: &Registry) {
    let conns = agents.all_connections();
    if conns.is_empty() {
        return;
    }
    match runs::running_on(db, &conns).await {
        Ok(waiting) => {
            for run in waiting {
                hand_over_if_held(db, agents, run).await;
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot look for runs waiting for this replica's agents")
        }
    }
}
