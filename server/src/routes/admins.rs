//! Admin accounts from REST (system-admin), and every admin's own password.

use crate::audit::{self, Action, Target};
use crate::caller::{Caller, Via, session_token};
use crate::db::admins::{self, AdminAccount, Changed};
use crate::db::principals;
use crate::error::{ApiError, ApiPath, ApiResult, body_error_without_values};
use crate::role::Role;
use crate::secrets::{self, Secret, sha256_hex};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

/// The shortest password an admin may choose.
const MIN_PASSWORD_CHARS: usize = 12;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAdmin {
    email: String,
    role: Role,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdminChange {
    #[serde(default)]
    role: Option<Role>,
    #[serde(default)]
    disabled: Option<bool>,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = AdminWithPassword)]
pub struct WithPassword {
    admin: AdminAccount,
    /// A one-time password, shown this once: the admin sets its own at first sign-in.
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    current_password: String,
    new_password: String,
}

pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<AdminAccount>>> {
    caller.require(Role::SystemAdmin)?;
    Ok(Json(admins::list(&state.db, caller.tenant_id).await?))
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<NewAdmin>, JsonRejection>,
) -> ApiResult<(StatusCode, Json<WithPassword>)> {
    caller.require(Role::SystemAdmin)?;
    let Json(body) = body?;
    let email = principals::normalize_email(&body.email).map_err(ApiError::Invalid)?;
    if principals::admin_by_email(&state.db, &email)
        .await?
        .is_some()
    {
        return Err(ApiError::Conflict(format!(
            "an admin with e-mail {email} exists already"
        )));
    }
    let password = secrets::new_password();
    let hash = secrets::hash(password.clone()).await?;
    // A one-time password: the admin sets its own at first sign-in.
    let id = principals::insert_admin(
        &state.db,
        caller.tenant_id,
        &email,
        &hash,
        body.role.as_str(),
        true,
    )
    .await?;
    tracing::info!(admin_id = %id, role = %body.role, by = %caller.name, "admin added");
    let admin = admins::get(&state.db, caller.tenant_id, id)
        .await?
        .ok_or(ApiError::NotFound("admin"))?;
    caller
        .audit(Action::AdminCreated)
        .target(Target::admin(admin.id, &admin.email))
        .details(json!({ "role": admin.role }))
        .record(&state.db)
        .await;
    Ok((
        StatusCode::CREATED,
        Json(WithPassword {
            admin,
            password: password.expose().to_owned(),
        }),
    ))
}

async fn find(state: &AppState, caller: &Caller, id: Uuid) -> ApiResult<AdminAccount> {
    admins::get(&state.db, caller.tenant_id, id)
        .await?
        .ok_or(ApiError::NotFound("admin"))
}

fn changed(c: Changed) -> ApiResult<()> {
    match c {
        Changed::Done => Ok(()),
        Changed::NotFound => Err(ApiError::NotFound("admin")),
        Changed::LastSystemAdmin => Err(ApiError::Conflict(
            "this is the tenant's last enabled system-admin: make another admin system-admin first"
                .into(),
        )),
    }
}

pub async fn update(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
    body: Result<Json<AdminChange>, JsonRejection>,
) -> ApiResult<Json<AdminAccount>> {
    caller.require(Role::SystemAdmin)?;
    let Json(body) = body?;
    let role = body.role.map(Role::as_str);
    let before = find(&state, &caller, id).await?;
    changed(admins::update(&state.db, caller.tenant_id, id, role, body.disabled).await?)?;
    tracing::info!(admin_id = %id, role, disabled = body.disabled, by = %caller.name, "admin changed");
    let after = find(&state, &caller, id).await?;
    let audited = |a: &AdminAccount| json!({ "role": a.role, "disabled": a.disabled });
    caller
        .audit(Action::AdminChanged)
        .target(Target::admin(id, &after.email))
        .details(json!({ "changes": audit::changes(&audited(&before), &audited(&after)) }))
        .record(&state.db)
        .await;
    Ok(Json(after))
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    caller.require(Role::SystemAdmin)?;
    let gone = find(&state, &caller, id).await?;
    changed(admins::delete(&state.db, caller.tenant_id, id).await?)?;
    tracing::info!(admin_id = %id, by = %caller.name, "admin removed");
    caller
        .audit(Action::AdminDeleted)
        .target(Target::admin(id, &gone.email))
        .details(json!({ "role": gone.role }))
        .record(&state.db)
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// A new one-time password for another admin; its sessions end.
pub async fn reset_password(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<WithPassword>> {
    caller.require(Role::SystemAdmin)?;
    let password = secrets::new_password();
    let hash = secrets::hash(password.clone()).await?;
    if !admins::set_password(&state.db, caller.tenant_id, id, &hash, true, None).await? {
        return Err(ApiError::NotFound("admin"));
    }
    tracing::info!(admin_id = %id, by = %caller.name, "admin password reset");
    let admin = find(&state, &caller, id).await?;
    caller
        .audit(Action::AdminPasswordReset)
        .target(Target::admin(id, &admin.email))
        .record(&state.db)
        .await;
    Ok(Json(WithPassword {
        admin,
        password: password.expose().to_owned(),
    }))
}

/// An admin sets its own password (after a one-time one, or any time); its other
/// sessions end, this one stays.
pub async fn change_own_password(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Json<PasswordChange>, JsonRejection>,
) -> ApiResult<StatusCode> {
    let Json(body) = body.map_err(|r| {
        body_error_without_values(r, r#"{"current_password": string, "new_password": string}"#)
    })?;
    if caller.via != Via::Session {
        return Err(ApiError::Forbidden(
            "an API token has no password; sign in as the admin".into(),
        ));
    }
    let hash = admins::password_hash(&state.db, caller.id).await?;
    if !secrets::verify(Secret::new(body.current_password), hash).await {
        return Err(ApiError::Forbidden("the current password is wrong".into()));
    }
    if body.new_password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(ApiError::Invalid(format!(
            "the new password needs at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    let new_hash = secrets::hash(Secret::new(body.new_password)).await?;
    let keep = session_token(&headers).map(|t| sha256_hex(&t));
    admins::set_password(
        &state.db,
        caller.tenant_id,
        caller.id,
        &new_hash,
        false,
        keep.as_deref(),
    )
    .await?;
    tracing::info!(admin = %caller.name, "admin changed its password");
    caller
        .audit(Action::AdminPasswordChanged)
        .target(Target::admin(caller.id, &caller.name))
        .record(&state.db)
        .await;
    Ok(StatusCode::NO_CONTENT)
}
