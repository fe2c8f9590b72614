//! `POST /api/v1/authenticate` (architecture §6): checks a synced user's password against the
//! customer's directory through a connected agent. Never logs, stores or keeps the
//! password beyond the request.

use crate::caller::{Caller, Via};
use crate::db::groups::{self, GroupRef};
use crate::db::{syncs, users};
use crate::error::{ApiError, ApiResult, body_error_without_values};
use crate::passthrough::{Asked, Question};
use crate::state::AppState;
use adc_shared::Secret;
use adc_shared::protocol::AuthOutcome;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, State};
use serde::Deserialize;
use std::net::SocketAddr;
use tokio::time::Instant;
use uuid::Uuid;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Body {
    username: String,
    password: Secret,
}

const WRONG: &str = "wrong username or password";

/// The password is right.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Authenticated {
    /// Always true: a wrong password is a 401.
    ok: bool,
    user: AuthenticatedUser,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct AuthenticatedUser {
    id: Uuid,
    username: String,
    email: Option<String>,
    display_name: Option<String>,
    /// The user's effective groups (through nesting; groups removed from the source do
    /// not count), so a service can authorize in the same call.
    groups: Vec<GroupRef>,
}

/// Pass-through authentication, counted and timed by outcome for `/metrics`.
pub async fn authenticate(
    State(state): State<AppState>,
    remote: ConnectInfo<SocketAddr>,
    caller: Caller,
    body: Result<Json<Body>, JsonRejection>,
) -> ApiResult<Json<Authenticated>> {
    let started = std::time::Instant::now();
    let answer = answer(state.clone(), remote, caller, body).await;
    let outcome = match &answer {
        Ok(_) => "accepted",
        // A wrong password, or no such user (told apart nowhere).
        Err(ApiError::Unauthenticated(_)) => "rejected",
        Err(ApiError::TooManyRequests(_)) => "rate_limited",
        Err(ApiError::BadRequest(_) | ApiError::Invalid(_)) => "bad_request",
        Err(ApiError::Forbidden(_)) => "forbidden",
        Err(ApiError::Timeout(_)) => "timeout",
        Err(_) => "unavailable",
    };
    let m = &state.metrics;
    m.authentications
        .get_or_create(&crate::metrics::AuthLabels {
            outcome: outcome.into(),
        })
        .inc();
    m.authentication_seconds
        .observe(started.elapsed().as_secs_f64());
    answer
}

async fn answer(
    state: AppState,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    caller: Caller,
    body: Result<Json<Body>, JsonRejection>,
) -> ApiResult<Json<Authenticated>> {
    let Json(body) = body
        .map_err(|r| body_error_without_values(r, r#"{"username": string, "password": string}"#))?;
    if caller.via != Via::Token || !caller.can_authenticate {
        return Err(ApiError::Forbidden(
            "this needs an API token created with `can_authenticate`".into(),
        ));
    }
    // An LDAP bind with an empty password is anonymous and would "succeed".
    if body.password.expose().is_empty() {
        return Err(ApiError::BadRequest("the password is empty".into()));
    }
    let key = format!("{}:{}", caller.tenant_id, body.username.to_lowercase());
    let address = remote.ip().to_string();
    let limits = &state.auth_limits;
    if let Some(secs) = limits.retry_after(&key, &address) {
        return Err(ApiError::TooManyRequests(secs));
    }
    let plausible =
        !body.username.is_empty() && body.username.len() <= 256 && !body.username.contains('\0');
    let user = if plausible {
        users::by_username_key(&state.db, caller.tenant_id, &body.username.to_lowercase()).await?
    } else {
        None
    };
    let user = user.filter(|u| u.synchronization_id.is_some() && u.enabled);
    // An unknown user is still asked of some agent of the tenant, so that the answer
    // takes about as long as a wrong password's (no timing oracle on usernames).
    let sync_id = match &user {
        Some(u) => u.synchronization_id,
        None => any_local_sync(&state, caller.tenant_id).await?,
    };
    let deadline = Instant::now() + state.config.auth_timeout;
    let asked = match sync_id {
        Some(sync_id) => {
            state
                .passthrough
                .ask(
                    &state.db,
                    &state.agents,
                    Question {
                        tenant_id: caller.tenant_id,
                        sync_id,
                        username: &body.username,
                        password: &body.password,
                    },
                    deadline,
                )
                .await?
        }
        None => Asked::NoAgent,
    };
    let outcome = match asked {
        Asked::Answered(o) => Some(o),
        Asked::NoAgent => None,
        Asked::TimedOut => {
            return Err(ApiError::Timeout(
                "the directory agent did not answer in time".into(),
            ));
        }
    };
    match (outcome, user) {
        (Some(AuthOutcome::Ok { .. }), Some(u)) => {
            limits.succeeded(&key);
            let full = users::get(&state.db, caller.tenant_id, u.id)
                .await?
                .ok_or(ApiError::Unauthenticated(WRONG))?;
            let groups = groups::of_user(&state.db, caller.tenant_id, u.id, true).await?;
            Ok(Json(Authenticated {
                ok: true,
                user: AuthenticatedUser {
                    id: full.id,
                    username: full.username,
                    email: full.email,
                    display_name: full.display_name,
                    groups,
                },
            }))
        }
        (Some(AuthOutcome::Unavailable { reason }), Some(_)) => {
            tracing::warn!(
                reason,
                "pass-through authentication: the directory is unavailable"
            );
            Err(ApiError::Unavailable(format!(
                "the directory could not answer: {reason}"
            )))
        }
        (Some(AuthOutcome::TimedOut), Some(_)) => Err(ApiError::Timeout(
            "the directory did not answer within the agent's timeout".into(),
        )),
        (None, Some(_)) => Err(ApiError::Unavailable(
            "no agent of this user's synchronization is connected".into(),
        )),
        _ => {
            limits.failed(&key, &address);
            tracing::info!("pass-through authentication refused");
            Err(ApiError::Unauthenticated(WRONG))
        }
    }
}

/// A synchronization of the tenant with an agent connected, preferably here.
async fn any_local_sync(state: &AppState, tenant: Uuid) -> ApiResult<Option<Uuid>> {
    let local = state.agents.synchronizations();
    let syncs: Vec<Uuid> = syncs::list(&state.db, tenant)
        .await?
        .into_iter()
        .map(|s| s.id)
        .collect();
    if let Some(id) = syncs.iter().find(|id| local.contains(id)) {
        return Ok(Some(*id));
    }
    // Held by another replica.
    let connected = crate::db::agents::list_for_tenant(&state.db, tenant).await?;
    Ok(syncs
        .into_iter()
        .find(|id| connected.iter().any(|c| c.synchronization_id == *id)))
}
