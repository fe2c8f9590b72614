//! Web sessions: sign in, sign out, who am I (architecture §7.4).

use crate::audit::{Action, Actor, ActorKind, Event, Origin, Target};
use crate::caller::{Caller, SESSION_COOKIE, Via, csrf_token, session_token};
use crate::db::tenants::Tenant;
use crate::db::{now, principals, tenants};
use crate::error::{ApiError, ApiResult, body_error_without_values};
use crate::role::Role;
use crate::secrets::{self, Secret, sha256_hex};
use crate::state::AppState;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    email: String,
    password: String,
}

fn cookie(state: &AppState, value: &str, max_age_secs: u64) -> HeaderValue {
    let secure = if state.config.tls.is_some() {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age_secs}{secure}"
    ))
    .expect("cookie values are base64url")
}

pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    origin: Origin,
    body: Result<Json<Login>, JsonRejection>,
) -> ApiResult<Response> {
    let Json(body) =
        body.map_err(|r| body_error_without_values(r, r#"{"email": string, "password": string}"#))?;
    // Limits apply alike whether or not the e-mail exists: a 429 tells nothing about it.
    let address = remote.ip().to_string();
    let account = format!("{}|{address}", body.email.trim().to_lowercase());
    let limits = &state.sign_in_limits;
    if let Some(secs) = limits.retry_after(&account, &address) {
        tracing::info!(%address, "sign-in refused: too many failures");
        return Err(ApiError::TooManyRequests(secs));
    }
    let admin = principals::admin_by_email(&state.db, body.email.trim()).await?;
    // Same work and same answer whether or not the e-mail exists, or is disabled.
    let ok = secrets::verify(
        Secret::new(body.password),
        admin.as_ref().map(|a| a.password_hash.clone()),
    )
    .await;
    let audit = |a: &principals::Admin, action| {
        let actor = Actor {
            kind: ActorKind::Admin,
            id: Some(a.id),
            name: a.email.clone(),
        };
        Event::new(a.tenant_id, actor, origin.clone(), action).target(Target::admin(a.id, &a.email))
    };
    let admin = match admin {
        Some(a) if ok && !a.disabled => a,
        refused => {
            limits.failed(&account, &address);
            tracing::info!(%address, "sign-in refused");
            // An e-mail no admin has belongs to no tenant: only the server log has it.
            if let Some(a) = refused {
                let reason = if ok {
                    "the account is disabled"
                } else {
                    "wrong password"
                };
                audit(&a, Action::SignInFailed)
                    .details(serde_json::json!({ "reason": reason }))
                    .record(&state.db)
                    .await;
            }
            return Err(ApiError::Unauthenticated("wrong e-mail or password"));
        }
    };
    limits.succeeded(&account);
    let token = secrets::random_token(32);
    let ttl = state.config.session_ttl;
    principals::insert_session(&state.db, &sha256_hex(token.expose()), &admin, now() + ttl).await?;
    let tenant = tenants::by_id(&state.db, admin.tenant_id)
        .await?
        .ok_or(ApiError::NotFound("tenant"))?;
    tracing::info!(admin_id = %admin.id, "signed in");
    audit(&admin, Action::SignedIn)
        .details(serde_json::json!({ "one_time_password": admin.must_change_password }))
        .record(&state.db)
        .await;
    let mut headers = HeaderMap::new();
    headers.insert(SET_COOKIE, cookie(&state, token.expose(), ttl.as_secs()));
    let body = SignedIn {
        email: admin.email,
        role: admin.role,
        tenant,
        csrf_token: csrf_token(token.expose()),
        must_change_password: admin.must_change_password,
    };
    Ok((StatusCode::OK, headers, Json(body)).into_response())
}

pub async fn logout(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> ApiResult<Response> {
    if caller.via != Via::Session {
        // Well-formed, but not for this credential.
        return Err(ApiError::Forbidden(
            "logout ends a web session; revoke API tokens with DELETE /api/v1/tokens/{id}".into(),
        ));
    }
    if let Some(token) = session_token(&headers) {
        principals::delete_session(&state.db, &sha256_hex(&token)).await?;
    }
    caller
        .audit(Action::SignedOut)
        .target(Target::admin(caller.id, &caller.name))
        .record(&state.db)
        .await;
    let mut out = HeaderMap::new();
    out.insert(SET_COOKIE, cookie(&state, "", 0));
    Ok((StatusCode::NO_CONTENT, out).into_response())
}

pub async fn me(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
) -> ApiResult<Json<Me>> {
    let tenant = tenants::by_id(&state.db, caller.tenant_id)
        .await?
        .ok_or(ApiError::NotFound("tenant"))?;
    let csrf = match caller.via {
        Via::Session => session_token(&headers).map(|t| csrf_token(&t)),
        Via::Token => None,
    };
    Ok(Json(Me {
        name: caller.name,
        role: caller.role,
        via: match caller.via {
            Via::Session => "session",
            Via::Token => "token",
        },
        tenant,
        csrf_token: csrf,
        must_change_password: caller.must_change_password,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct SignedIn {
    email: String,
    #[schema(value_type = Role)]
    role: String,
    tenant: Tenant,
    /// Send as `x-csrf-token` on every state-changing request of this session.
    csrf_token: String,
    /// Signed in with a one-time password: only `PUT /me/password` (and `/me`, logout)
    /// answers until the admin sets its own.
    must_change_password: bool,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Me {
    /// The admin's e-mail, or the API token's name.
    name: String,
    role: Role,
    /// `session` or `token`.
    #[schema(value_type = String, pattern = "^(session|token)$")]
    via: &'static str,
    tenant: Tenant,
    /// For a session: the value of `x-csrf-token`.
    csrf_token: Option<String>,
    /// A session opened with a one-time password (see `PUT /me/password`).
    must_change_password: bool,
}
