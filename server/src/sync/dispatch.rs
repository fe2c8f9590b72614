//! Starting a run on one of a synchronization's agents, from REST and from the
//! schedule: directly when this replica holds it, through `relay` when another does.

use crate::audit::{Action, Actor, Event, Target};
use crate::db::runs::{self, Run};
use crate::db::{Db, agents, syncs};
use crate::registry::{Order, Registry};
use crate::sync::run::{self as engine, NewRun, StartError};
use crate::vocabulary::Trigger;

/// Why a run could not be started on an agent.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error(
        "no agent is connected for this synchronization; start `adc run` next to the directory"
    )]
    NoAgent,
    /// Agents are connected, but to another server (SQLite: no relay between them).
    #[error("the agent is connected to another server replica; send the request to that replica")]
    OtherReplica,
    #[error("a run of this synchronization is already active{}; wait for it to end", .0.map(|id| format!(" ({id})")).unwrap_or_default())]
    Active(Option<uuid::Uuid>),
    /// The chosen agent went away before the run could be handed to it.
    #[error("the agent disconnected before the run started")]
    AgentGone,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

pub struct Request<'a> {
    pub trigger: Trigger,
    pub triggered_by: String,
    pub dry_run: bool,
    pub full: bool,
    pub sync: &'a syncs::Sync,
}

/// Records a run and hands it to one of the synchronization's agents, preferably one
/// held here (any will do: several may be connected for high availability).
pub async fn start(db: &Db, registry: &Registry, r: Request<'_>) -> Result<Run, DispatchError> {
    let local = registry.connections(r.sync.id);
    let connected = agents::list_for_sync(db, r.sync.tenant_id, r.sync.id).await?;
    // An agent held here if any; else, on PostgreSQL, one held by another replica,
    // which the run reaches through a notification (`relay`).
    // The newest first: an agent that reconnected is more surely alive than the
    // connection it replaces, which may be ending unnoticed yet.
    let (agent, here) = match connected.iter().rev().find(|a| local.contains(&a.id)) {
        Some(a) => (a, true),
        None => match connected.last() {
            None => return Err(DispatchError::NoAgent),
            Some(a) if db.may_be_shared() => (a, false),
            Some(_) => return Err(DispatchError::OtherReplica),
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
    let run = match engine::start(db, new).await {
        Ok(run) => run,
        Err(StartError::Active(id)) => return Err(DispatchError::Active(id)),
        Err(StartError::Db(e)) => return Err(e.into()),
    };
    if !here {
        crate::db::notify::run_waiting(db, run.id).await?;
        tracing::info!(run_id = %run.id, synchronization_id = %r.sync.id, trigger = %r.trigger, connection_id = %agent.id, "run sent to the replica holding the agent");
        return Ok(run);
    }
    if !hand_over(db, registry, agent.id, run.clone()).await? {
        return Err(DispatchError::AgentGone);
    }
    tracing::info!(run_id = %run.id, synchronization_id = %r.sync.id, trigger = %r.trigger, "run dispatched");
    Ok(run)
}

/// Gives a recorded run to the session of `conn` on this replica; when that session is
/// gone, the run is failed with the reason. Whether the session got it.
pub async fn hand_over(
    db: &Db,
    registry: &Registry,
    conn: uuid::Uuid,
    run: Run,
) -> Result<bool, sqlx::Error> {
    let run_id = run.id;
    if registry.send(conn, Order::StartRun(Box::new(run))) {
        return Ok(true);
    }
    let reason = "the agent disconnected before the run started";
    runs::fail(db, run_id, reason).await?;
    Ok(false)
}

/// A run handed to a connection that ended before taking it: to another connection of
/// its synchronization on this replica, else failed with the reason.
pub async fn pass_on(db: &Db, registry: &Registry, run: Run) {
    let run_id = run.id;
    for conn in registry.rotation(run.synchronization_id) {
        match runs::reassign(db, run_id, conn).await {
            Ok(true) => {}
            Ok(false) => return, // ended meanwhile
            Err(e) => {
                tracing::warn!(%run_id, error = %e, "could not pass a run on to another agent");
                break;
            }
        }
        if registry.send(conn, Order::StartRun(Box::new(run.clone()))) {
            tracing::info!(%run_id, connection_id = %conn, "run passed on to another agent");
            return;
        }
    }
    if let Err(e) = runs::fail(db, run_id, "the agent disconnected before the run started").await {
        tracing::error!(%run_id, error = %e, "could not record the run's failure");
    }
}

/// Starts the scheduled runs that are due among the synchronizations whose agents
/// this replica holds. The claim is a compare-and-set on `next_run_at`, so with
/// several replicas exactly one starts each run.
pub async fn run_schedules(db: &Db, registry: &Registry) -> Result<(), sqlx::Error> {
    for sync_id in registry.synchronizations() {
        let Some(sync) = syncs::by_application_id(db, sync_id).await? else {
            continue;
        };
        let Some(minutes) = sync.schedule_minutes else {
            continue;
        };
        if !syncs::claim_schedule(db, sync.id, minutes).await? {
            continue;
        }
        let req = Request {
            trigger: Trigger::Schedule,
            triggered_by: format!("every {minutes} min"),
            dry_run: false,
            full: false,
            sync: &sync,
        };
        match start(db, registry, req).await {
            Ok(run) => {
                let origin = crate::audit::Origin::default();
                Event::new(
                    sync.tenant_id,
                    Actor::schedule(),
                    origin,
                    Action::RunStarted,
                )
                .target(Target::run(run.id, &sync.name))
                .details(
                    serde_json::json!({ "synchronization_id": sync.id, "every_minutes": minutes }),
                )
                .record(db)
                .await;
            }
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
