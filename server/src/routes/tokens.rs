//! API tokens for automation (architecture §3): created by a system-admin with a role,
//! shown once, stored as a SHA-256 hash.

use crate::audit::{Action, Target};
use crate::caller::Caller;
use crate::db::principals::{self, ApiToken};
use crate::error::{ApiError, ApiJson, ApiPath, ApiResult};
use crate::role::Role;
use crate::secrets::{self, sha256_hex};
use crate::state::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Create {
    name: String,
    role: Role,
    /// Lets the token call POST /api/v1/authenticate (for the cloud's other services).
    #[serde(default)]
    can_authenticate: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = TokenWithSecret)]
pub struct Created {
    #[serde(flatten)]
    token: ApiToken,
    /// The token itself, shown this once.
    secret: String,
}

pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<ApiToken>>> {
    caller.require(Role::SystemAdmin)?;
    Ok(Json(
        principals::list_tokens(&state.db, caller.tenant_id).await?,
    ))
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<Create>,
) -> ApiResult<(StatusCode, Json<Created>)> {
    caller.require(Role::SystemAdmin)?;
    let name = super::valid_name(&body.name)?;
    let secret = secrets::new_api_token();
    let token = principals::insert_token(
        &state.db,
        caller.tenant_id,
        &name,
        body.role.as_str(),
        body.can_authenticate,
        &sha256_hex(secret.expose()),
    )
    .await?;
    tracing::info!(token_id = %token.id, role = %body.role, "API token created");
    caller
        .audit(Action::TokenCreated)
        .target(Target::token(token.id, &token.name))
        .details(
            serde_json::json!({ "role": body.role, "can_authenticate": body.can_authenticate }),
        )
        .record(&state.db)
        .await;
    Ok((
        StatusCode::CREATED,
        Json(Created {
            token,
            secret: secret.expose().to_owned(),
        }),
    ))
}

pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<StatusCode> {
    caller.require(Role::SystemAdmin)?;
    let Some(name) = principals::delete_token(&state.db, caller.tenant_id, id).await? else {
        return Err(ApiError::NotFound("API token"));
    };
    tracing::info!(token_id = %id, "API token revoked");
    caller
        .audit(Action::TokenRevoked)
        .target(Target::token(id, &name))
        .record(&state.db)
        .await;
    Ok(StatusCode::NO_CONTENT)
}
