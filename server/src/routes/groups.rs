//! The tenant's groups (architecture §5.5, §7.4): search and paging, members direct or
//! effective, a user's groups; manual groups and their members are managed by a
//! system-admin, synced ones are read-only (their source decides).

use crate::audit::{Action, Target};
use crate::caller::Caller;
use crate::db::groups::{self, Group, GroupRef, Member, Provider};
use crate::db::users;
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ApiResult};
use crate::role::Role;
use crate::state::AppState;
use adc_shared::group::check_group_profile;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Group)]
pub struct GroupView {
    #[serde(flatten)]
    group: Group,
    /// `manual`, or the ID of the synchronization that owns the group.
    provider: String,
}

impl From<Group> for GroupView {
    fn from(g: Group) -> Self {
        let provider = g
            .synchronization_id
            .map(|s| s.to_string())
            .unwrap_or_else(|| "manual".into());
        GroupView { group: g, provider }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    q: Option<String>,
    provider: Option<String>,
    /// The `next_after` of the previous page.
    after: Option<String>,
    limit: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct GroupsPage {
    groups: Vec<GroupView>,
    next_after: Option<String>,
    /// How many groups match, on the first page (null on the others); counted up to
    /// 100 000 (1 000 when searched by `q`), and then `total_capped` is true: at least
    /// that many.
    total: Option<i64>,
    total_capped: bool,
}

pub async fn search(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<SearchQuery>,
) -> ApiResult<Json<GroupsPage>> {
    let provider = match q.provider.as_deref() {
        None | Some("") => None,
        Some("manual") => Some(Provider::Manual),
        Some(id) => Some(Provider::Sync(Uuid::parse_str(id).map_err(|_| {
            ApiError::BadRequest("provider must be `manual` or a synchronization ID".into())
        })?)),
    };
    let text = q.q.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let limit = super::page_limit(q.limit, 50, 500)?;
    let cap = super::count_cap(text.is_some());
    let (found, total) = super::with_count(
        groups::search(
            &state.db,
            caller.tenant_id,
            text,
            provider,
            q.after.as_deref(),
            limit,
        ),
        q.after.is_none(),
        limit,
        || groups::count(&state.db, caller.tenant_id, text, provider, cap),
    )
    .await?;
    let next_after = (found.len() as i64 == limit)
        .then(|| found.last().map(|g| crate::db::users::natural_key(&g.name)))
        .flatten();
    Ok(Json(GroupsPage {
        groups: found.into_iter().map(Into::into).collect(),
        next_after,
        total,
        total_capped: total == Some(cap),
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct GroupDetail {
    #[serde(flatten)]
    group: GroupView,
    /// The groups this group is directly nested in.
    member_of: Vec<GroupRef>,
}

pub async fn read(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<GroupDetail>> {
    let g = groups::get(&state.db, caller.tenant_id, id)
        .await?
        .ok_or(ApiError::NotFound("group"))?;
    let member_of = groups::parents(&state.db, caller.tenant_id, id).await?;
    Ok(Json(GroupDetail {
        group: g.into(),
        member_of,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MembersQuery {
    /// Everyone reached through nested groups, not only direct members.
    #[serde(default)]
    effective: bool,
    /// The `next_after` of the previous page.
    after: Option<String>,
    limit: Option<i64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct MembersPage {
    members: Vec<Member>,
    /// Pass as `after` for the next page; null on the last one.
    next_after: Option<String>,
}

pub async fn members(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<MembersQuery>,
) -> ApiResult<Json<MembersPage>> {
    groups::get(&state.db, caller.tenant_id, id)
        .await?
        .ok_or(ApiError::NotFound("group"))?;
    let limit = super::page_limit(q.limit, 100, 1000)?;
    // The cursor is the last member's kind and lower-case name: `user:ann`.
    let after = match q.after.as_deref() {
        None | Some("") => None,
        Some(a) => match a.split_once(':') {
            Some((kind @ ("user" | "group"), key)) => Some((key, kind)),
            _ => {
                return Err(ApiError::BadRequest(
                    "after must be the next_after of the previous page".into(),
                ));
            }
        },
    };
    let found = groups::members(&state.db, caller.tenant_id, id, q.effective, after, limit).await?;
    let next_after = (found.len() as i64 == limit)
        .then(|| found.last().map(|m| format!("{}:{}", m.kind, m.key)))
        .flatten();
    Ok(Json(MembersPage {
        members: found,
        next_after,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserGroupsQuery {
    #[serde(default)]
    effective: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct UserGroups {
    groups: Vec<GroupRef>,
}

pub async fn of_user(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<UserGroupsQuery>,
) -> ApiResult<Json<UserGroups>> {
    users::get(&state.db, caller.tenant_id, id)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    let groups = groups::of_user(&state.db, caller.tenant_id, id, q.effective).await?;
    Ok(Json(UserGroups { groups }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Create {
    name: String,
    description: Option<String>,
    email: Option<String>,
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(b): ApiJson<Create>,
) -> ApiResult<(StatusCode, Json<GroupView>)> {
    caller.require(Role::SystemAdmin)?;
    let name = b.name.trim();
    check_group_profile(name, b.description.as_deref(), b.email.as_deref())
        .map_err(ApiError::Invalid)?;
    let id = groups::insert_manual(
        &state.db,
        caller.tenant_id,
        name,
        b.description.as_deref(),
        b.email.as_deref(),
    )
    .await?
    .ok_or_else(|| ApiError::Conflict(format!("a group named `{name}` exists already")))?;
    let g = groups::get(&state.db, caller.tenant_id, id)
        .await?
        .ok_or(ApiError::NotFound("group"))?;
    caller
        .audit(Action::GroupCreated)
        .target(Target::group(g.id, &g.name))
        .details(json!({ "description": g.description, "email": g.email }))
        .record(&state.db)
        .await;
    Ok((StatusCode::CREATED, Json(g.into())))
}

/// A manual group of the caller's tenant, or why not.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    /// Make a synchronized group manual: its synchronization no longer changes it.
    #[serde(default)]
    detach: bool,
}

pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(b): ApiJson<Change>,
) -> ApiResult<Json<GroupDetail>> {
    caller.require(Role::SystemAdmin)?;
    let old = groups::get(&state.db, caller.tenant_id, id)
        .await?
        .ok_or(ApiError::NotFound("group"))?;
    if b.detach && groups::detach(&state.db, caller.tenant_id, id).await? {
        caller
            .audit(Action::GroupDetached)
            .target(Target::group(old.id, &old.name))
            .details(json!({ "changes": { "synchronization_id": { "old": old.synchronization_id, "new": null } } }))
            .record(&state.db)
            .await;
    }
    read(State(state), caller, ApiPath(id)).await
}

async fn manual_group(state: &AppState, caller: &Caller, id: Uuid) -> ApiResult<Group> {
    let g = groups::get(&state.db, caller.tenant_id, id)
        .await?
        .ok_or(ApiError::NotFound("group"))?;
    if g.synchronization_id.is_some() {
        return Err(ApiError::Conflict(
            "this group belongs to a synchronization: its source decides its members".into(),
        ));
    }
    Ok(g)
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    caller.require(Role::SystemAdmin)?;
    let g = manual_group(&state, &caller, id).await?;
    groups::delete_manual(&state.db, caller.tenant_id, id).await?;
    caller
        .audit(Action::GroupDeleted)
        .target(Target::group(g.id, &g.name))
        .details(json!({ "description": g.description, "email": g.email }))
        .record(&state.db)
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// Whether `member` is a group (else a user), and its name.
async fn member_named(
    state: &AppState,
    caller: &Caller,
    member: Uuid,
) -> ApiResult<(bool, String)> {
    if let Some(u) = users::get(&state.db, caller.tenant_id, member).await? {
        return Ok((false, u.username));
    }
    if let Some(g) = groups::get(&state.db, caller.tenant_id, member).await? {
        return Ok((true, g.name));
    }
    Err(ApiError::NotFound("user or group"))
}

/// Adds a user or a group (by ID) to a manual group.
pub async fn add_member(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, member)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    caller.require(Role::SystemAdmin)?;
    let g = manual_group(&state, &caller, id).await?;
    let (nested, member_name) = member_named(&state, &caller, member).await?;
    if nested && member == id {
        return Err(ApiError::Invalid(
            "a group cannot be a member of itself".into(),
        ));
    }
    let added = groups::add_edge(&state.db, id, member, nested).await?;
    // Adding a member already there changes nothing, and records nothing.
    if added {
        caller
            .audit(Action::GroupMemberAdded)
            .target(Target::group(g.id, &g.name))
            .details(json!({ "member_id": member, "member": member_name, "nested_group": nested }))
            .record(&state.db)
            .await;
    }
    Ok(if added {
        StatusCode::CREATED
    } else {
        StatusCode::NO_CONTENT
    })
}

pub async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath((id, member)): ApiPath<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    caller.require(Role::SystemAdmin)?;
    let g = manual_group(&state, &caller, id).await?;
    if groups::remove_edge(&state.db, id, member).await? {
        let (nested, member_name) = member_named(&state, &caller, member)
            .await
            .unwrap_or((false, String::new()));
        caller
            .audit(Action::GroupMemberRemoved)
            .target(Target::group(g.id, &g.name))
            .details(json!({ "member_id": member, "member": member_name, "nested_group": nested }))
            .record(&state.db)
            .await;
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("member"))
    }
}
