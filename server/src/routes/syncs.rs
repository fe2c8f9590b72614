//! Synchronizations: list, add, read, change, delete, rotate the secret, and the
//! agents connected to one (architecture §4, §7.4).

use super::valid_name;
use crate::audit::{self, Action, Target};
use crate::caller::Caller;
use crate::db::agents::{self, AgentConnection};
use crate::db::runs::{self, Run};
use crate::db::syncs::{self, DeletionGuard, NewSync, Sync};
use crate::error::{ApiError, ApiJson, ApiPath, ApiResult, on_unique};
use crate::role::Role;
use crate::secrets;
use crate::state::AppState;
use crate::vocabulary::RunStatus;
use adc_shared::Settings;
use adc_shared::protocol::ErrorCode;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use sqlx::types::Json as DbJson;
use std::collections::HashMap;
use time::OffsetDateTime;
use uuid::Uuid;

/// A synchronization as the API shows it: never its secret or the secret's hash.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Synchronization)]
pub struct SyncView {
    id: Uuid,
    name: String,
    settings: Settings,
    schedule_minutes: Option<i32>,
    deletion_guard: DeletionGuard,
    /// How often a full read of the directory is due, in hours (runs between read only
    /// what changed, where the directory allows it); 0: every run reads in full.
    full_read_hours: i32,
    agents_connected: i64,
    /// The connected agents: host, version, last heartbeat.
    agents: Vec<AgentBrief>,
    /// The newest run, if any.
    last_run: Option<LastRun>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    updated_at: OffsetDateTime,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AgentBrief {
    hostname: String,
    agent_version: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    last_heartbeat_at: OffsetDateTime,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct LastRun {
    id: Uuid,
    status: RunStatus,
    dry_run: bool,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    finished_at: Option<OffsetDateTime>,
    /// Set while the run's deletions wait for a decision (held, not yet approved or
    /// rejected): what the page puts in front of the admin.
    awaiting_decision: Option<AwaitingDecision>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct AwaitingDecision {
    /// How many deletions (users, groups, member removals) are held.
    held: u64,
    /// Which limit of the deletion guard was hit, with the numbers.
    reason: String,
}

impl SyncView {
    fn new(s: Sync, agents: &[AgentConnection], last_run: Option<&Run>) -> Self {
        SyncView {
            id: s.id,
            name: s.name,
            settings: s.settings.0,
            schedule_minutes: s.schedule_minutes,
            deletion_guard: s.guard.0,
            full_read_hours: s.full_read_hours,
            agents_connected: agents.len() as i64,
            agents: agents
                .iter()
                .map(|a| AgentBrief {
                    hostname: a.hostname.clone(),
                    agent_version: a.agent_version.clone(),
                    last_heartbeat_at: a.last_heartbeat_at,
                })
                .collect(),
            last_run: last_run.map(|r| LastRun {
                id: r.id,
                status: r.status,
                dry_run: r.dry_run,
                started_at: r.started_at,
                finished_at: r.finished_at,
                awaiting_decision: (r.status == RunStatus::Held && r.decision.is_none()).then(
                    || AwaitingDecision {
                        held: r.counts.0.held,
                        reason: r
                            .held_reason
                            .clone()
                            .unwrap_or_else(|| "the deletion guard's limits".into()),
                    },
                ),
            }),
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

/// The one response that carries a secret: create and rotate.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = SynchronizationWithSecret)]
pub struct WithSecret {
    #[serde(flatten)]
    sync: SyncView,
    /// The Secret Token, shown this once.
    secret: String,
}

const MAX_SCHEDULE_MINUTES: i32 = 7 * 24 * 60;

fn valid_schedule(m: Option<i32>) -> ApiResult<Option<i32>> {
    match m {
        Some(m) if !(1..=MAX_SCHEDULE_MINUTES).contains(&m) => Err(ApiError::Invalid(format!(
            "schedule_minutes must be between 1 and {MAX_SCHEDULE_MINUTES}, or null for no schedule"
        ))),
        other => Ok(other),
    }
}

/// A year.
const MAX_FULL_READ_HOURS: i32 = 366 * 24;

fn valid_full_read_hours(h: i32) -> ApiResult<i32> {
    if !(0..=MAX_FULL_READ_HOURS).contains(&h) {
        return Err(ApiError::Invalid(format!(
            "full_read_hours must be between 0 (every run reads in full) and {MAX_FULL_READ_HOURS}, not {h}"
        )));
    }
    Ok(h)
}

fn valid_guard(g: DeletionGuard) -> ApiResult<DeletionGuard> {
    if matches!(g.max_percent, Some(p) if p > 100) {
        return Err(ApiError::Invalid(
            "deletion_guard.max_percent must be 0-100, or null to switch it off".into(),
        ));
    }
    Ok(g)
}

fn settings_from(patch: Option<Map<String, Value>>) -> ApiResult<Settings> {
    let mut s = Settings::default();
    if let Some(p) = patch {
        s.apply_patch(&p).map_err(ApiError::Invalid)?;
    }
    Ok(s)
}

async fn find(state: &AppState, caller: &Caller, id: Uuid) -> ApiResult<Sync> {
    syncs::get(&state.db, caller.tenant_id, id)
        .await?
        .ok_or(ApiError::NotFound("synchronization"))
}

/// The view of one synchronization, with its agents and newest run.
async fn view(state: &AppState, caller: &Caller, s: Sync) -> ApiResult<SyncView> {
    let agents = agents::list_for_sync(&state.db, caller.tenant_id, s.id).await?;
    let last = runs::list(&state.db, caller.tenant_id, s.id, 1).await?;
    Ok(SyncView::new(s, &agents, last.first()))
}

pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<SyncView>>> {
    let mut agents: HashMap<Uuid, Vec<AgentConnection>> = HashMap::new();
    for a in agents::list_for_tenant(&state.db, caller.tenant_id).await? {
        agents.entry(a.synchronization_id).or_default().push(a);
    }
    let last: HashMap<Uuid, Run> = runs::latest_per_sync(&state.db, caller.tenant_id)
        .await?
        .into_iter()
        .map(|r| (r.synchronization_id, r))
        .collect();
    let all = syncs::list(&state.db, caller.tenant_id).await?;
    Ok(Json(
        all.into_iter()
            .map(|s| {
                let a = agents.get(&s.id).map(Vec::as_slice).unwrap_or_default();
                let r = last.get(&s.id);
                SyncView::new(s, a, r)
            })
            .collect(),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Create {
    name: String,
    #[serde(default)]
    settings: Option<Map<String, Value>>,
    #[serde(default)]
    schedule_minutes: Option<i32>,
    #[serde(default)]
    deletion_guard: Option<DeletionGuard>,
    #[serde(default)]
    full_read_hours: Option<i32>,
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<Create>,
) -> ApiResult<(StatusCode, Json<WithSecret>)> {
    caller.require(Role::SystemAdmin)?;
    let name = valid_name(&body.name)?;
    let settings = settings_from(body.settings)?;
    let schedule_minutes = valid_schedule(body.schedule_minutes)?;
    let guard = valid_guard(body.deletion_guard.unwrap_or_default())?;
    let full_read_hours = valid_full_read_hours(body.full_read_hours.unwrap_or(24))?;
    let secret = secrets::new_sync_secret();
    let hash = secrets::hash(secret.clone()).await?;
    let sync = syncs::insert(
        &state.db,
        NewSync {
            tenant_id: caller.tenant_id,
            name: &name,
            secret_hash: &hash,
            settings,
            schedule_minutes,
            guard,
            full_read_hours,
        },
    )
    .await
    .map_err(|e| {
        on_unique(
            e,
            format!("a synchronization named `{name}` exists already"),
        )
    })?;
    tracing::info!(synchronization_id = %sync.id, "synchronization added");
    caller
        .audit(Action::SyncCreated)
        .target(Target::sync(sync.id, &sync.name))
        .details(audited(&sync))
        .record(&state.db)
        .await;
    Ok((
        StatusCode::CREATED,
        Json(WithSecret {
            sync: SyncView::new(sync, &[], None),
            secret: secret.expose().to_owned(),
        }),
    ))
}

/// What the audit log keeps of a synchronization: everything an admin sets (never the
/// secret's hash).
fn audited(s: &Sync) -> Value {
    serde_json::json!({
        "name": s.name,
        "settings": s.settings.0,
        "schedule_minutes": s.schedule_minutes,
        "deletion_guard": s.guard.0,
        "full_read_hours": s.full_read_hours,
    })
}

pub async fn read(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<SyncView>> {
    let s = find(&state, &caller, id).await?;
    Ok(Json(view(&state, &caller, s).await?))
}

/// `null` and absent differ in a PATCH: `Some(None)` clears, `None` keeps.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Update {
    #[serde(default)]
    name: Option<String>,
    /// Only the settings named change; `null` leaves one to the agent.
    #[serde(default)]
    settings: Option<Map<String, Value>>,
    #[serde(default, deserialize_with = "present")]
    schedule_minutes: Option<Option<i32>>,
    #[serde(default)]
    deletion_guard: Option<GuardPatch>,
    #[serde(default)]
    full_read_hours: Option<i32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuardPatch {
    #[serde(default, deserialize_with = "present")]
    max_deletes: Option<Option<u32>>,
    #[serde(default, deserialize_with = "present")]
    max_percent: Option<Option<u32>>,
    #[serde(default)]
    min_users_for_percent: Option<u32>,
}

pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<Update>,
) -> ApiResult<Json<SyncView>> {
    caller.require(Role::SystemAdmin)?;
    let mut s = find(&state, &caller, id).await?;
    let before = audited(&s);
    if let Some(name) = body.name {
        s.name = valid_name(&name)?;
    }
    if let Some(patch) = body.settings {
        s.settings
            .0
            .apply_patch(&patch)
            .map_err(ApiError::Invalid)?;
    }
    let schedule_changed = match body.schedule_minutes {
        Some(m) => {
            let m = valid_schedule(m)?;
            let changed = m != s.schedule_minutes;
            s.schedule_minutes = m;
            changed
        }
        None => false,
    };
    if let Some(h) = body.full_read_hours {
        s.full_read_hours = valid_full_read_hours(h)?;
    }
    if let Some(g) = body.deletion_guard {
        let mut guard = s.guard.0;
        if let Some(v) = g.max_deletes {
            guard.max_deletes = v;
        }
        if let Some(v) = g.max_percent {
            guard.max_percent = v;
        }
        if let Some(v) = g.min_users_for_percent {
            guard.min_users_for_percent = v;
        }
        s.guard = DbJson(valid_guard(guard)?);
    }
    s.updated_at = syncs::update(&state.db, &s).await.map_err(|e| {
        on_unique(
            e,
            format!("a synchronization named `{}` exists already", s.name),
        )
    })?;
    if schedule_changed {
        syncs::reset_schedule(&state.db, s.id).await?;
    }
    tracing::info!(synchronization_id = %s.id, "synchronization changed");
    caller
        .audit(Action::SyncChanged)
        .target(Target::sync(s.id, &s.name))
        .details(serde_json::json!({ "changes": audit::changes(&before, &audited(&s)) }))
        .record(&state.db)
        .await;
    Ok(Json(view(&state, &caller, s).await?))
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    caller.require(Role::SystemAdmin)?;
    let s = find(&state, &caller, id).await?;
    if !syncs::delete(&state.db, caller.tenant_id, id).await? {
        return Err(ApiError::NotFound("synchronization"));
    }
    state.agents.close_sync(
        id,
        ErrorCode::CredentialsRevoked,
        "the synchronization was deleted",
    );
    tracing::info!(synchronization_id = %id, "synchronization deleted");
    caller
        .audit(Action::SyncDeleted)
        .target(Target::sync(id, &s.name))
        .details(audited(&s))
        .record(&state.db)
        .await;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn rotate_secret(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<WithSecret>> {
    caller.require(Role::SystemAdmin)?;
    let secret = secrets::new_sync_secret();
    let hash = secrets::hash(secret.clone()).await?;
    syncs::rotate_secret(&state.db, caller.tenant_id, id, &hash)
        .await?
        .ok_or(ApiError::NotFound("synchronization"))?;
    let closed = state.agents.close_sync(
        id,
        ErrorCode::CredentialsRevoked,
        "the Secret Token was rotated",
    );
    tracing::info!(synchronization_id = %id, agents_disconnected = closed, "secret rotated");
    let s = find(&state, &caller, id).await?;
    caller
        .audit(Action::SyncSecretRotated)
        .target(Target::sync(id, &s.name))
        .details(serde_json::json!({ "agents_disconnected": closed }))
        .record(&state.db)
        .await;
    Ok(Json(WithSecret {
        sync: view(&state, &caller, s).await?,
        secret: secret.expose().to_owned(),
    }))
}

pub async fn agents(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<Vec<AgentConnection>>> {
    find(&state, &caller, id).await?;
    Ok(Json(
        agents::list_for_sync(&state.db, caller.tenant_id, id).await?,
    ))
}
