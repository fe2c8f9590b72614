//! Starting a run (architecture §5.3 steps 1-2): its effective settings, its record, and
//! the message that starts it on the agent. `active.rs` carries it from there.

use crate::db::runs::{self, Run};
use crate::db::{Db, now, syncs};
use crate::vocabulary::{RunPhase, RunStatus, Trigger};
use adc_shared::protocol::{RunCounts, ServerMessage, StartRun};
use adc_shared::{Effective, EffectiveSettings, Settings, Source};
use sqlx::types::Json;
use uuid::Uuid;

/// Users per batch and batches in flight the server asks of the agent.
pub const BATCH_SIZE: u32 = 500;
pub const WINDOW: u32 = 4;
/// Manifest entries per chunk.
pub const MANIFEST_CHUNK: i64 = 5000;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("another run of this synchronization is active")]
    Active(Option<Uuid>),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

pub struct NewRun<'a> {
    pub sync: &'a syncs::Sync,
    pub connection_id: Uuid,
    pub agent_settings: Settings,
    pub trigger: Trigger,
    pub triggered_by: String,
    pub dry_run: bool,
    pub full: bool,
}

/// The settings a run applies: server over agent over default, and a dry run when
/// asked for one.
pub fn effective(server: &Settings, agent: &Settings, dry_run: bool) -> EffectiveSettings {
    let mut e = Settings::effective(server, agent);
    if dry_run {
        e.dry_run = Effective::new(true, Source::Server);
    }
    e
}

/// Records a running run; refused when another is active (architecture §5.3 step 1).
pub async fn start(db: &Db, n: NewRun<'_>) -> Result<Run, StartError> {
    let settings = effective(&n.sync.settings.0, &n.agent_settings, n.dry_run);
    let run = Run {
        id: Uuid::new_v4(),
        tenant_id: n.sync.tenant_id,
        synchronization_id: n.sync.id,
        status: RunStatus::Running,
        trigger_source: n.trigger,
        triggered_by: n.triggered_by,
        dry_run: settings.dry_run.value,
        full_resync: n.full,
        settings: Json(settings),
        connection_id: Some(n.connection_id),
        read_complete: false,
        counts: Json(RunCounts::default()),
        error: None,
        held_reason: None,
        phase: Some(RunPhase::Waiting),
        read_so_far: None,
        expected: None,
        decision: None,
        started_at: now(),
        finished_at: None,
    };
    match runs::insert(db, &run).await {
        Ok(()) => Ok(run),
        Err(sqlx::Error::Database(d)) if d.is_unique_violation() => Err(StartError::Active(
            runs::active_for_sync(db, n.sync.id).await.ok().flatten(),
        )),
        Err(e) => Err(e.into()),
    }
}

pub fn start_message(run: &Run) -> ServerMessage {
    ServerMessage::StartRun(StartRun {
        run_id: run.id,
        full: run.full_resync,
        settings: run.settings.0,
        window: WINDOW,
        batch_size: BATCH_SIZE,
    })
}
