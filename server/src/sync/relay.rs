//! Runs started on one replica for an agent held by another (DESIGN §2): the replica
//! that records the run notifies the channel below through PostgreSQL; every replica
//! listens, and the one holding the run's agent connection hands it over. SQLite is
//! single-replica and never gets here.
//!
//! A notification can be lost (a listener reconnecting); so whenever a listener
//! (re)connects, its replica also looks for running runs of its own connections that
//! no session has taken, and hands those over too. A session given a run it already
//! has ignores it.

use crate::app::AppState;
use crate::db::Db;
use crate::db::runs::{self, Run};
use crate::sync::dispatch;
use sqlx::postgres::PgListener;
use std::time::Duration;
use uuid::Uuid;

const CHANNEL: &str = "adc_start_run";

/// Tells the replicas that `run_id` waits for its agent.
pub async fn notify(db: &Db, run_id: Uuid) -> Result<(), sqlx::Error> {
    if let Db::Postgres(p) = db {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(run_id.to_string())
            .execute(p)
            .await?;
    }
    Ok(())
}

/// Listens until shutdown (PostgreSQL only).
pub async fn listen(state: AppState) {
    let Db::Postgres(pool) = &state.db else {
        return;
    };
    loop {
        let mut listener = match connect(pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for runs started on other replicas; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(2)) => continue,
                    _ = state.shutdown.cancelled() => return,
                }
            }
        };
        sweep(&state).await;
        loop {
            let next = tokio::select! {
                n = listener.try_recv() => n,
                _ = state.shutdown.cancelled() => return,
            };
            match next {
                Ok(Some(n)) => match n.payload().parse::<Uuid>() {
                    Ok(run_id) => take(&state, run_id).await,
                    Err(_) => tracing::warn!("ignored a malformed run notification"),
                },
                // The connection was lost and is re-established: notifications sent
                // meanwhile are gone.
                Ok(None) => sweep(&state).await,
                Err(e) => {
                    tracing::warn!(error = %e, "lost the run notification channel; reconnecting");
                    break;
                }
            }
        }
    }
}

async fn connect(pool: &sqlx::PgPool) -> Result<PgListener, sqlx::Error> {
    let mut l = PgListener::connect_with(pool).await?;
    l.listen(CHANNEL).await?;
    Ok(l)
}

/// Hands `run_id` to its agent if this replica holds the agent's connection.
async fn take(state: &AppState, run_id: Uuid) {
    match runs::by_id(&state.db, run_id).await {
        Ok(Some(run)) => hand_over_if_held(state, run).await,
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(%run_id, error = %e, "cannot load a run started on another replica")
        }
    }
}

async fn hand_over_if_held(state: &AppState, run: Run) {
    let (run_id, Some(conn)) = (run.id, run.connection_id) else {
        return;
    };
    // A run this replica ended while the database was away is still `running` there.
    if run.status != runs::RUNNING || !state.agents.holds(conn) || state.agents.is_ending(run_id) {
        return;
    }
    match dispatch::hand_over(state, conn, run).await {
        Ok(true) => {
            tracing::info!(%run_id, connection_id = %conn, "run from another replica handed to its agent")
        }
        Ok(false) => {}
        Err(e) => tracing::error!(%run_id, error = %e, "could not record the run's failure"),
    }
}

/// Running runs of this replica's connections, handed over again (a session ignores
/// one it already has).
async fn sweep(state: &AppState) {
    let conns = state.agents.all_connections();
    if conns.is_empty() {
        return;
    }
    match runs::running_on(&state.db, &conns).await {
        Ok(waiting) => {
            for run in waiting {
                hand_over_if_held(state, run).await;
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot look for runs waiting for this replica's agents")
        }
    }
}
