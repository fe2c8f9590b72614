//! Who may call the API: admin accounts, their web sessions, and API tokens.

use super::{Db, now};
use crate::{db_execute, on_db};
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Admin {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub email: String,
    pub password_hash: String,
    pub role: String,
    pub disabled: bool,
    pub must_change_password: bool,
}

/// An admin's e-mail as stored (trimmed, lower-case: sign-in names no tenant), or why it
/// is not one.
pub fn normalize_email(e: &str) -> Result<String, String> {
    let e = e.trim();
    if e.is_empty()
        || e.len() > 254
        || !e.contains('@')
        || e.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(format!("`{e}` is not an e-mail address"));
    }
    Ok(e.to_lowercase())
}

/// A new admin; `one_time`: signed in, it must set its own password before anything else.
pub async fn insert_admin(
    db: &Db,
    tenant_id: Uuid,
    email: &str,
    password_hash: &str,
    role: &str,
    one_time: bool,
) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::new_v4();
    db_execute!(db, |p| {
        sqlx::query(
        "INSERT INTO admins (id, tenant_id, email, password_hash, role, created_at, disabled, must_change_password) VALUES ($1, $2, $3, $4, $5, $6, FALSE, $7)"
    )
    .bind(id)
    .bind(tenant_id)
    .bind(email.to_lowercase())
    .bind(password_hash)
    .bind(role)
    .bind(now())
    .bind(one_time)
    .execute(p)
    .await
    })?;
    Ok(id)
}

pub async fn admin_by_email(db: &Db, email: &str) -> Result<Option<Admin>, sqlx::Error> {
    on_db!(db, |p| {
        sqlx::query_as::<_, Admin>(
        "SELECT id, tenant_id, email, password_hash, role, disabled, must_change_password FROM admins WHERE email = $1"
    )
    .bind(email.to_lowercase())
    .fetch_optional(p)
    .await
    })
}

/// Sets a new password hash and ends every session of that admin.
pub async fn set_admin_password(
    db: &Db,
    admin_id: Uuid,
    password_hash: &str,
) -> Result<(), sqlx::Error> {
    on_db!(db, |p| {
        let mut tx = p.begin().await?;
        sqlx::query("UPDATE admins SET password_hash = $1 WHERE id = $2")
            .bind(password_hash)
            .bind(admin_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM sessions WHERE admin_id = $1")
            .bind(admin_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    })
}

/// What a valid session or token resolves to.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Grant {
    pub tenant_id: Uuid,
    pub role: String,
    /// The admin's e-mail for a session, the token's name for a token.
    pub name: String,
    pub subject_id: Uuid,
    /// Only tokens may carry this right; sessions never do.
    pub can_authenticate: bool,
    /// A session of an admin signed in with a one-time password (tokens: never).
    pub must_change_password: bool,
}

pub async fn insert_session(
    db: &Db,
    token_hash: &str,
    admin: &Admin,
    expires_at: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    db_execute!(db, |p| {
        sqlx::query(
        "INSERT INTO sessions (token_hash, admin_id, tenant_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)"
    )
    .bind(token_hash)
    .bind(admin.id)
    .bind(admin.tenant_id)
    .bind(now())
    .bind(expires_at)
    .execute(p)
    .await
    })?;
    Ok(())
}

pub async fn session_grant(db: &Db, token_hash: &str) -> Result<Option<Grant>, sqlx::Error> {
    on_db!(db, |p| {
        sqlx::query_as::<_, Grant>(
        "SELECT s.tenant_id, a.role, a.email AS name, a.id AS subject_id, FALSE AS can_authenticate, a.must_change_password
         FROM sessions s JOIN admins a ON a.id = s.admin_id
         WHERE s.token_hash = $1 AND s.expires_at > $2 AND NOT a.disabled"
    )
    .bind(token_hash)
    .bind(now())
    .fetch_optional(p)
    .await
    })
}

pub async fn delete_session(db: &Db, token_hash: &str) -> Result<(), sqlx::Error> {
    db_execute!(db, |p| sqlx::query(
        "DELETE FROM sessions WHERE token_hash = $1"
    )
    .bind(token_hash)
    .execute(p)
    .await)?;
    Ok(())
}

pub async fn delete_expired_sessions(db: &Db) -> Result<u64, sqlx::Error> {
    db_execute!(db, |p| sqlx::query(
        "DELETE FROM sessions WHERE expires_at <= $1"
    )
    .bind(now())
    .execute(p)
    .await)
}

#[derive(Clone, Debug, serde::Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = Token)]
pub struct ApiToken {
    pub id: Uuid,
    pub name: String,
    #[schema(value_type = crate::role::Role)]
    pub role: String,
    /// May call POST /api/v1/authenticate.
    pub can_authenticate: bool,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// When the token was last used, to the minute (null: never).
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<OffsetDateTime>,
}

pub async fn insert_token(
    db: &Db,
    tenant_id: Uuid,
    name: &str,
    role: &str,
    can_authenticate: bool,
    token_hash: &str,
) -> Result<ApiToken, sqlx::Error> {
    let t = ApiToken {
        id: Uuid::new_v4(),
        name: name.to_owned(),
        role: role.to_owned(),
        can_authenticate,
        created_at: now(),
        last_used_at: None,
    };
    db_execute!(db, |p| {
        sqlx::query(
        "INSERT INTO api_tokens (id, tenant_id, name, role, can_authenticate, token_hash, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)"
    )
    .bind(t.id)
    .bind(tenant_id)
    .bind(&t.name)
    .bind(&t.role)
    .bind(t.can_authenticate)
    .bind(token_hash)
    .bind(t.created_at)
    .execute(p)
    .await
    })?;
    Ok(t)
}

pub async fn list_tokens(db: &Db, tenant_id: Uuid) -> Result<Vec<ApiToken>, sqlx::Error> {
    on_db!(db, |p| {
        sqlx::query_as::<_, ApiToken>(
        "SELECT id, name, role, can_authenticate, created_at, last_used_at FROM api_tokens WHERE tenant_id = $1 ORDER BY created_at, id"
    )
    .bind(tenant_id)
    .fetch_all(p)
    .await
    })
}

/// Revokes a token; its name (for the audit log), `None` when there was none.
pub async fn delete_token(
    db: &Db,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<String>, sqlx::Error> {
    on_db!(db, |p| sqlx::query_scalar::<_, String>(
        "DELETE FROM api_tokens WHERE tenant_id = $1 AND id = $2 RETURNING name"
    )
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(p)
    .await)
}

/// How old a token's recorded use may grow before a use writes it again. Writing it on
/// every request cost each pass-through authentication a commit and its fsync (about
/// 1 ms, a third of PostgreSQL's time at 600 requests a second); the tokens page shows
/// it to the minute.
const USE_RECORDED_EVERY: time::Duration = time::Duration::minutes(1);

#[derive(sqlx::FromRow)]
struct TokenGrant {
    #[sqlx(flatten)]
    grant: Grant,
    last_used_at: Option<OffsetDateTime>,
}

/// Resolves a token by its hash and records its use (to the minute).
pub async fn token_grant(db: &Db, token_hash: &str) -> Result<Option<Grant>, sqlx::Error> {
    let found = on_db!(db, |p| {
        sqlx::query_as::<_, TokenGrant>(
        "SELECT tenant_id, role, name, id AS subject_id, can_authenticate, FALSE AS must_change_password, last_used_at FROM api_tokens WHERE token_hash = $1"
    )
    .bind(token_hash)
    .fetch_optional(p)
    .await
    })?;
    let Some(TokenGrant {
        grant,
        last_used_at,
    }) = found
    else {
        return Ok(None);
    };
    let at = now();
    if last_used_at.is_none_or(|t| at - t >= USE_RECORDED_EVERY) {
        db_execute!(db, |p| sqlx::query(
            "UPDATE api_tokens SET last_used_at = $1 WHERE id = $2"
        )
        .bind(at)
        .bind(grant.subject_id)
        .execute(p)
        .await)?;
    }
    Ok(Some(grant))
}
