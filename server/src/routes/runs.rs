//! Runs: start one, read the history, one run's report and change list, and decide on
//! held deletions (architecture §5.3, §7.4).

use crate::audit::{Action, Target};
use crate::caller::Caller;
use crate::db::runs::{self, Change, Run, Touched};
use crate::db::syncs;
use crate::error::{ApiError, ApiPath, ApiQuery, ApiResult};
use crate::role::Role;
use crate::state::AppState;
use crate::sync::dispatch::{self, Request};
use crate::vocabulary::{Operation, ReadKind, RunPhase, RunStatus, Subject, Trigger};
use adc_shared::EffectiveSettings;
use adc_shared::protocol::RunCounts;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Run)]
pub struct RunView {
    id: Uuid,
    synchronization_id: Uuid,
    status: RunStatus,
    trigger: Trigger,
    triggered_by: String,
    dry_run: bool,
    full: bool,
    /// Each effective setting with where its value came from.
    settings: EffectiveSettings,
    counts: RunCounts,
    error: Option<String>,
    /// For a held run: which limit of the deletion guard was hit, with the numbers.
    held_reason: Option<String>,
    /// Which kind of directory read the run did: `full` (every entry) or `delta` (only
    /// what changed since the last run); absent while the agent has not started.
    read_kind: Option<ReadKind>,
    /// Why a read was full, or what a delta read left to the next full read.
    read_reason: Option<String>,
    /// While the run is running: where it stands.
    progress: Option<RunProgress>,
    decision: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    started_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    finished_at: Option<OffsetDateTime>,
    duration_ms: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RunProgress {
    phase: RunPhase,
    /// Directory entries (users) the agent has read so far, when it says (protocol 3).
    read: Option<i64>,
    /// Users the manifest held: about what the read will find. Null until the
    /// manifest was sent; 0 for a first run.
    expected: Option<i64>,
}

impl From<Run> for RunView {
    fn from(r: Run) -> Self {
        RunView {
            id: r.id,
            synchronization_id: r.synchronization_id,
            status: r.status,
            trigger: r.trigger_source,
            triggered_by: r.triggered_by,
            dry_run: r.dry_run,
            full: r.full_resync,
            settings: r.settings.0,
            counts: r.counts.0,
            error: r.error,
            held_reason: r.held_reason,
            read_kind: r.read_kind,
            read_reason: r.read_reason,
            progress: (r.status == RunStatus::Running).then(|| RunProgress {
                phase: r.phase.unwrap_or(RunPhase::Waiting),
                read: r.read_so_far,
                expected: r.expected,
            }),
            decision: r.decision,
            started_at: r.started_at,
            finished_at: r.finished_at,
            duration_ms: r
                .finished_at
                .map(|f| (f - r.started_at).whole_milliseconds() as i64),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct StartBody {
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    full: bool,
}

pub async fn start(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(sync_id): ApiPath<Uuid>,
    body: axum::body::Bytes,
) -> ApiResult<(StatusCode, Json<RunView>)> {
    caller.require(Role::Operator)?;
    // The body is optional: no body means a normal run.
    let body: StartBody = if body.iter().all(u8::is_ascii_whitespace) {
        StartBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::Invalid(format!("run request: {e}")))?
    };
    let sync = syncs::get(&state.db, caller.tenant_id, sync_id)
        .await?
        .ok_or(ApiError::NotFound("synchronization"))?;
    let req = Request {
        trigger: Trigger::Api,
        triggered_by: caller.name.clone(),
        dry_run: body.dry_run,
        full: body.full,
        sync: &sync,
    };
    let run = dispatch::start(&state.db, &state.agents, req).await?;
    tracing::info!(run_id = %run.id, synchronization_id = %sync_id, "run requested");
    caller
        .audit(Action::RunStarted)
        .target(Target::run(run.id, &sync.name))
        .details(serde_json::json!({ "synchronization_id": sync.id, "dry_run": run.dry_run, "full": body.full }))
        .record(&state.db)
        .await;
    Ok((StatusCode::ACCEPTED, Json(run.into())))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[serde(default)]
    limit: Option<i64>,
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(sync_id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<Vec<RunView>>> {
    syncs::get(&state.db, caller.tenant_id, sync_id)
        .await?
        .ok_or(ApiError::NotFound("synchronization"))?;
    let limit = super::page_limit(q.limit, 50, 500)?;
    Ok(Json(
        runs::list(&state.db, caller.tenant_id, sync_id, limit)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

/// The runs that touched a user, newest first, among the tenant's newest 50.
pub async fn of_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(user_id): ApiPath<Uuid>,
) -> ApiResult<Json<Vec<RunView>>> {
    crate::db::users::get(&state.db, caller.tenant_id, user_id)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    touching(&state, &caller, Touched::User(user_id)).await
}

/// The runs that changed a group or its memberships, newest first, among the tenant's
/// newest 50.
pub async fn of_group(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(group_id): ApiPath<Uuid>,
) -> ApiResult<Json<Vec<RunView>>> {
    crate::db::groups::get(&state.db, caller.tenant_id, group_id)
        .await?
        .ok_or(ApiError::NotFound("group"))?;
    touching(&state, &caller, Touched::Group(group_id)).await
}

async fn touching(
    state: &AppState,
    caller: &Caller,
    what: Touched,
) -> ApiResult<Json<Vec<RunView>>> {
    let found = runs::touching(&state.db, caller.tenant_id, what).await?;
    Ok(Json(found.into_iter().map(Into::into).collect()))
}

async fn find(state: &AppState, caller: &Caller, id: Uuid) -> ApiResult<Run> {
    runs::get(&state.db, caller.tenant_id, id)
        .await?
        .ok_or(ApiError::NotFound("run"))
}

pub async fn read(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<RunView>> {
    Ok(Json(find(&state, &caller, id).await?.into()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangesQuery {
    /// `user`, `group` or `membership`.
    subject: Option<String>,
    operation: Option<String>,
    outcome: Option<String>,
    /// Part of the name or external ID, any case.
    q: Option<String>,
    /// The `next_after` of the previous page.
    after: Option<i64>,
    limit: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ChangesPage {
    changes: Vec<Change>,
    /// Pass as `after` for the next page; null on the last one.
    next_after: Option<i64>,
}

pub async fn changes(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<ChangesQuery>,
) -> ApiResult<Json<ChangesPage>> {
    find(&state, &caller, id).await?;
    let limit = super::page_limit(q.limit, 100, 1000)?;
    // An operation that does not exist matches no change.
    let operation = match q.operation.as_deref().map(str::parse::<Operation>) {
        Some(Err(_)) => {
            return Ok(Json(ChangesPage {
                changes: Vec::new(),
                next_after: None,
            }));
        }
        other => other.and_then(Result::ok),
    };
    let subject = match q.subject.as_deref().map(str::parse::<Subject>) {
        Some(Err(_)) => {
            return Err(ApiError::BadRequest(
                "subject must be `user`, `group` or `membership`".into(),
            ));
        }
        other => other.and_then(Result::ok),
    };
    let filter = runs::ChangeFilter {
        subject,
        operation,
        outcome: q.outcome.as_deref(),
        search: q.q.as_deref().map(str::trim).filter(|s| !s.is_empty()),
    };
    let changes = runs::changes(&state.db, id, &filter, q.after.unwrap_or(-1), limit).await?;
    let next_after = (changes.len() as i64 == limit)
        .then(|| changes.last().map(|c| c.seq))
        .flatten();
    Ok(Json(ChangesPage {
        changes,
        next_after,
    }))
}

pub async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<RunView>> {
    decide(state, caller, id, true).await
}

pub async fn reject(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<RunView>> {
    decide(state, caller, id, false).await
}

/// Cancels a running run: recorded `cancelled` at once (writes after that roll back, so
/// the run keeps exactly what was applied before), and the session holding it tells the
/// agent to stop — at once on this replica, at its next heartbeat on another.
pub async fn cancel(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<RunView>> {
    caller.require(Role::Operator)?;
    let run = find(&state, &caller, id).await?;
    let refused = |status: RunStatus| {
        ApiError::Conflict(format!(
            "the run is {status}: only a running run can be cancelled"
        ))
    };
    if run.status != RunStatus::Running {
        return Err(refused(run.status));
    }
    if !crate::db::runs::cancel(&state.db, caller.tenant_id, id, &caller.name).await? {
        let now = find(&state, &caller, id).await?;
        return Err(refused(now.status));
    }
    if let Some(conn) = run.connection_id {
        state
            .agents
            .send(conn, crate::registry::Order::CancelRun(id));
    }
    tracing::info!(run_id = %id, by = %caller.name, "run cancelled");
    audit_decision(&state, &caller, Action::RunCancelled, &run).await;
    Ok(Json(find(&state, &caller, id).await?.into()))
}

/// The audit entry of a decision on a run, named by its synchronization.
async fn audit_decision(state: &AppState, caller: &Caller, action: Action, run: &Run) {
    let sync_name = syncs::get(&state.db, caller.tenant_id, run.synchronization_id)
        .await
        .ok()
        .flatten()
        .map(|s| s.name)
        .unwrap_or_default();
    caller
        .audit(action)
        .target(Target::run(run.id, &sync_name))
        .details(serde_json::json!({ "synchronization_id": run.synchronization_id }))
        .record(&state.db)
        .await;
}

async fn decide(
    state: AppState,
    caller: Caller,
    id: Uuid,
    approve: bool,
) -> ApiResult<Json<RunView>> {
    caller.require(Role::Operator)?;
    let run = find(&state, &caller, id).await?;
    if run.status != RunStatus::Held {
        return Err(ApiError::Conflict(format!(
            "the run is {}, not held: there is nothing to decide",
            run.status
        )));
    }
    crate::sync::held::decide(&state.db, &run, approve, &caller.name).await?;
    tracing::info!(run_id = %id, approve, "held deletions decided");
    let action = if approve {
        Action::RunApproved
    } else {
        Action::RunRejected
    };
    audit_decision(&state, &caller, action, &run).await;
    Ok(Json(find(&state, &caller, id).await?.into()))
}
