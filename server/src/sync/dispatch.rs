//! Starting a run on one of a synchronization's agents, from REST and from the
//! schedule: directly when this replica holds it, through `relay` when another does.

use crate::agents::Order;
use crate::app::AppState;
use crate::db::runs::{self, Run};
use crate::db::{Db, agents, syncs};
use crate::sync::relay;
use crate::sync::run::{self as engine, NewRun, StartError};
use adc_shared::protocol::RunCounts;

pub enum DispatchError {
    NoAgent,
    /// Agents are connected, but to other replicas.
    OtherReplica,
    Active(Option<uuid::Uuid>),
    /// The chosen agent went away before the run could be handed to it.
    AgentGone,
    Db(sqlx::Error),
}

impl From<sqlx::Error> for DispatchError {
    fn from(e: sqlx::Error) -> Self {
        DispatchError::Db(e)
    }
}

pub struct Request<'a> {
    pub trigger: &'static str,
    pub triggered_by: String,
    pub dry_run: bool,
    pub full: bool,
    pub sync: &'a syncs::Sync,
}

/// Records a run and hands it to one of the synchronization's agents, preferably one
/// held here (any will do: several may be connected for high availability).
pub async fn start(state: &AppState, r: Request<'_>) -> Result<Run, DispatchError> {
    let local = state.agents.connections(r.sync.id);
    let connected = agents::list_for_sync(&state.db, r.sync.tenant_id, r.sync.id).await?;
    // An agent held here if any; else, on PostgreSQL, one held by another replica,
    // which the run reaches through a notification (`relay`).
    let (agent, here) = match connected.iter().find(|a| local.contains(&a.id)) {
        Some(a) => (a, true),
        None => match (connected.first(), &state.db) {
            (None, _) => return Err(DispatchError::NoAgent),
            (Some(a), Db::Postgres(_)) => (a, false),
            (Some(_), Db::Sqlite(_)) => return Err(DispatchError::OtherReplica),
        },
    };
    let new = NewRun {
        sync: r.sync,
        connection_id: agent.id,
        agent_settings: agent.settings.0,
        trigger: r.trigger,
        triggered_by: r.triggered_by,
        dry_run: r.dry_run,
        full: r.full,
    };
    let run = match engine::start(&state.db, new).await {
        Ok(run) => run,
        Err(StartError::Active(id)) => return Err(DispatchError::Active(id)),
        Err(StartError::Db(e)) => return Err(e.into()),
    };
    if !here {
        relay::notify(&state.db, run.id).await?;
        tracing::info!(run_id = %run.id, synchronization_id = %r.sync.id, trigger = r.trigger, connection_id = %agent.id, "run sent to the replica holding the agent");
        return Ok(run);
    }
    if !hand_over(state, agent.id, run.clone()).await? {
        return Err(DispatchError::AgentGone);
    }
    tracing::info!(run_id = %run.id, synchronization_id = %r.sync.id, trigger = r.trigger, "run dispatched");
    Ok(run)
}

/// Gives a recorded run to the session of `conn` on this replica; when that session is
/// gone, the run is failed with the reason. Whether the session got it.
pub async fn hand_over(state: &AppState, conn: uuid::Uuid, run: Run) -> Result<bool, sqlx::Error> {
    let run_id = run.id;
    if state.agents.send(conn, Order::StartRun(Box::new(run))) {
        return Ok(true);
    }
    let reason = "the agent disconnected before the run started";
    runs::finish(
        &state.db,
        run_id,
        "failed",
        &RunCounts::default(),
        Some(reason),
    )
    .await?;
    Ok(false)
}

/// Starts the scheduled runs that are due among the synchronizations whose agents
/// this replica holds. The claim is a compare-and-set on `next_run_at`, so with
/// several replicas exactly one starts each run.
pub async fn run_schedules(state: &AppState) -> Result<(), sqlx::Error> {
    for sync_id in state.agents.synchronizations() {
        let Some(sync) = syncs::by_application_id(&state.db, sync_id).await? else {
            continue;
        };
        let Some(minutes) = sync.schedule_minutes else {
            continue;
        };
        if !syncs::claim_schedule(&state.db, sync.id, minutes).await? {
            continue;
        }
        let req = Request {
            trigger: "schedule",
            triggered_by: format!("every {minutes} min"),
            dry_run: false,
            full: false,
            sync: &sync,
        };
        match start(state, req).await {
            Ok(_) => {}
            Err(DispatchError::Active(_)) => {
                tracing::info!(synchronization_id = %sync.id, "scheduled run skipped: a run is active")
            }
            Err(DispatchError::Db(e)) => return Err(e),
            Err(_) => {
                tracing::info!(synchronization_id = %sync.id, "scheduled run skipped: no agent here")
            }
        }
    }
    Ok(())
}
