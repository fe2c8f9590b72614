//! The tenant's directory (architecture §5.4, §7.4): search and paging; manual users; a
//! synced user can only be disabled, enabled or detached, since its source owns it.

use crate::audit::{self, Action, Target};
use crate::caller::Caller;
use crate::db::users::{self, Filter, NewManual, Provider, User};
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult, on_unique};
use crate::role::Role;
use crate::state::AppState;
use adc_shared::record::check_profile;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = User)]
pub struct UserView {
    #[serde(flatten)]
    user: User,
    /// `manual`, or the ID of the synchronization that owns the user.
    provider: String,
}

impl From<User> for UserView {
    fn from(u: User) -> Self {
        let provider = u
            .synchronization_id
            .map(|s| s.to_string())
            .unwrap_or_else(|| "manual".into());
        UserView { user: u, provider }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    q: Option<String>,
    provider: Option<String>,
    enabled: Option<bool>,
    /// The `next_after` of the previous page.
    after: Option<String>,
    limit: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = UsersPage)]
pub struct Page {
    users: Vec<UserView>,
    next_after: Option<String>,
    /// How many users match, on the first page (null on the others); counted up to
    /// 100 000 (1 000 when searched by `q`), and then `total_capped` is true: at least
    /// that many.
    total: Option<i64>,
    total_capped: bool,
}

pub async fn search(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> ApiResult<Json<Page>> {
    let provider = match q.provider.as_deref() {
        None | Some("") => None,
        Some("manual") => Some(Provider::Manual),
        Some(id) => Some(Provider::Sync(Uuid::parse_str(id).map_err(|_| {
            ApiError::BadRequest("provider must be `manual` or a synchronization ID".into())
        })?)),
    };
    let filter = Filter {
        q: q.q
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.trim().to_owned()),
        provider,
        enabled: q.enabled,
    };
    let limit = super::page_limit(q.limit, 50, 500)?;
    let cap = super::count_cap(filter.q.is_some());
    let (found, total) = super::with_count(
        users::search(
            &state.db,
            caller.tenant_id,
            &filter,
            q.after.as_deref(),
            limit,
        ),
        q.after.is_none(),
        limit,
        || users::count(&state.db, caller.tenant_id, &filter, cap),
    )
    .await?;
    let next_after = (found.len() as i64 == limit)
        .then(|| found.last().map(|u| users::natural_key(&u.username)))
        .flatten();
    Ok(Json(Page {
        users: found.into_iter().map(Into::into).collect(),
        next_after,
        total,
        total_capped: total == Some(cap),
    }))
}

pub async fn read(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<UserView>> {
    let u = users::get(&state.db, caller.tenant_id, id)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    Ok(Json(u.into()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Create {
    username: String,
    email: Option<String>,
    display_name: Option<String>,
    given_name: Option<String>,
    surname: Option<String>,
    #[serde(default = "yes")]
    enabled: bool,
}

fn yes() -> bool {
    true
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(b): ApiJson<Create>,
) -> ApiResult<(StatusCode, Json<UserView>)> {
    caller.require(Role::SystemAdmin)?;
    let username = b.username.trim();
    // The same checks as a synchronized user's record.
    check_profile(
        username,
        b.email.as_deref(),
        b.display_name.as_deref(),
        b.given_name.as_deref(),
        b.surname.as_deref(),
    )
    .map_err(ApiError::Invalid)?;
    let new = NewManual {
        username,
        email: b.email.as_deref(),
        display_name: b.display_name.as_deref(),
        given_name: b.given_name.as_deref(),
        surname: b.surname.as_deref(),
        enabled: b.enabled,
    };
    let id = users::insert_manual(&state.db, caller.tenant_id, new)
        .await
        .map_err(|e| on_unique(e, format!("a user named `{username}` exists already")))?;
    let u = users::get(&state.db, caller.tenant_id, id)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    caller
        .audit(Action::UserCreated)
        .target(Target::user(u.id, &u.username))
        .details(json!({ "email": u.email, "display_name": u.display_name, "enabled": u.enabled }))
        .record(&state.db)
        .await;
    Ok((StatusCode::CREATED, Json(u.into())))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    enabled: Option<bool>,
    /// `true` makes a synced user `manual`: its synchronization leaves it alone.
    #[serde(default)]
    detach: bool,
}

pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<Change>,
) -> ApiResult<Json<UserView>> {
    caller.require(Role::SystemAdmin)?;
    let old = users::get(&state.db, caller.tenant_id, id)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    if b.detach {
        users::detach(&state.db, caller.tenant_id, id).await?;
    }
    if let Some(e) = b.enabled {
        users::set_enabled(&state.db, caller.tenant_id, id, e).await?;
    }
    let u = users::get(&state.db, caller.tenant_id, id)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    let was = |u: &users::User| json!({ "enabled": u.enabled, "synchronization_id": u.synchronization_id });
    let changes = audit::changes(&was(&old), &was(&u));
    // One entry per request, named after what it did when it did one thing.
    let action = match (
        b.detach && old.synchronization_id.is_some(),
        b.enabled.filter(|e| *e != old.enabled),
    ) {
        (true, Some(_)) => Action::UserChanged,
        (true, None) => Action::UserDetached,
        (false, Some(true)) => Action::UserEnabled,
        (false, Some(false)) => Action::UserDisabled,
        (false, None) => Action::UserChanged,
    };
    caller
        .audit(action)
        .target(Target::user(u.id, &u.username))
        .details(json!({ "changes": changes }))
        .record(&state.db)
        .await;
    Ok(Json(u.into()))
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    caller.require(Role::SystemAdmin)?;
    let u = users::get(&state.db, caller.tenant_id, id)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    if u.synchronization_id.is_some() {
        return Err(ApiError::Conflict(
            "this user belongs to a synchronization: its source decides; disable or detach it instead".into(),
        ));
    }
    users::delete_manual(&state.db, caller.tenant_id, id).await?;
    caller
        .audit(Action::UserDeleted)
        .target(Target::user(u.id, &u.username))
        .details(json!({ "email": u.email, "display_name": u.display_name }))
        .record(&state.db)
        .await;
    Ok(StatusCode::NO_CONTENT)
}
