//! Who is calling: a web session (cookie, plus the CSRF token on every state-changing
//! request) or an API token (`Authorization: Bearer`). Every handler that reads or
//! writes tenant data takes a [`Caller`] and scopes its queries to `caller.tenant_id`.

use crate::audit::{Action, Actor, ActorKind, Event, Origin};
use crate::db::principals::{self, Grant};
use crate::error::{ApiError, ApiResult};
use crate::role::Role;
use crate::secrets::{constant_time_eq, sha256_hex};
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::HeaderMap;
use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::request::Parts;
use uuid::Uuid;

pub const SESSION_COOKIE: &str = "adc_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

#[derive(Clone, Debug)]
pub struct Caller {
    pub tenant_id: Uuid,
    /// The admin's ID for a session, the token's for a token.
    pub id: Uuid,
    pub role: Role,
    /// The admin's e-mail, or the API token's name.
    pub name: String,
    pub via: Via,
    /// An API token allowed to use pass-through authentication.
    pub can_authenticate: bool,
    /// A session opened with a one-time password.
    pub must_change_password: bool,
    /// The request's address and ID, for the audit log.
    pub origin: Origin,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    Session,
    Token,
}

impl Caller {
    /// An audit entry of `action` done by this caller, from this request.
    pub fn audit(&self, action: Action) -> Event {
        let kind = match self.via {
            Via::Session => ActorKind::Admin,
            Via::Token => ActorKind::Token,
        };
        let actor = Actor {
            kind,
            id: Some(self.id),
            name: self.name.clone(),
        };
        Event::new(self.tenant_id, actor, self.origin.clone(), action)
    }

    /// Refuses callers below `role`.
    pub fn require(&self, role: Role) -> ApiResult<()> {
        if self.role >= role {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "this needs the {role} role; you are {}",
                self.role
            )))
        }
    }
}

/// The CSRF token of a session: derived from the session token, so it is never stored
/// and only a page that could read the login response or `/me` knows it.
pub fn csrf_token(session_token: &str) -> String {
    sha256_hex(&format!("csrf:{session_token}"))
}

pub fn session_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            let (k, v) = c.trim().split_once('=')?;
            (k == SESSION_COOKIE && !v.is_empty()).then(|| v.to_owned())
        })
}

fn into_caller(g: Grant, via: Via, parts: &Parts) -> ApiResult<Caller> {
    let role = g
        .role
        .parse()
        .map_err(|e: String| ApiError::Internal(anyhow::anyhow!(e)))?;
    Ok(Caller {
        tenant_id: g.tenant_id,
        id: g.subject_id,
        role,
        name: g.name,
        via,
        can_authenticate: g.can_authenticate,
        must_change_password: g.must_change_password,
        origin: Origin::of_request(parts),
    })
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(h) = parts.headers.get(AUTHORIZATION) {
            let token = h
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or(ApiError::Unauthenticated(
                    "Authorization must be `Bearer <API token>`",
                ))?;
            let grant = principals::token_grant(&state.db, &sha256_hex(token.trim()))
                .await?
                .ok_or(ApiError::Unauthenticated("unknown or revoked API token"))?;
            return into_caller(grant, Via::Token, parts);
        }
        let token = session_token(&parts.headers)
            .ok_or(ApiError::Unauthenticated("sign in or send an API token"))?;
        let grant = principals::session_grant(&state.db, &sha256_hex(&token))
            .await?
            .ok_or(ApiError::Unauthenticated(
                "the session has ended; sign in again",
            ))?;
        if !parts.method.is_safe() {
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            if !constant_time_eq(sent, &csrf_token(&token)) {
                return Err(ApiError::Forbidden(format!(
                    "missing or wrong {CSRF_HEADER} header"
                )));
            }
        }
        // A one-time password is replaced before anything else is done with it.
        const ALLOWED: [&str; 3] = ["/api/v1/me", "/api/v1/me/password", "/api/v1/auth/logout"];
        let path = parts
            .extensions
            .get::<axum::extract::OriginalUri>()
            .map_or_else(|| parts.uri.path().to_owned(), |u| u.path().to_owned());
        if grant.must_change_password && !ALLOWED.contains(&path.as_str()) {
            return Err(ApiError::Forbidden(
                "you signed in with a one-time password: set your own first (PUT /api/v1/me/password)".into(),
            ));
        }
        into_caller(grant, Via::Session, parts)
    }
}
