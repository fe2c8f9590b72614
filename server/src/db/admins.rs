//! Admin accounts as a system-admin manages them (REST `/admins`). The last enabled
//! system-admin of a tenant is never removed, disabled or demoted: each statement that
//! could do so carries the condition itself, so two admins acting at once cannot both
//! pass a check made beforehand.

use super::Db;
use crate::{db_execute, on_db};
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = AdminAccount)]
pub struct AdminAccount {
    pub id: Uuid,
    pub email: String,
    /// `system-admin`, `operator` or `viewer`.
    pub role: String,
    /// A disabled admin cannot sign in; its sessions ended when it was disabled.
    pub disabled: bool,
    /// Signed in with a one-time password: must set its own before anything else.
    pub must_change_password: bool,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

pub async fn list(db: &Db, tenant_id: Uuid) -> Result<Vec<AdminAccount>, sqlx::Error> {
    on_db!(db, |p| {
        sqlx::query_as::<_, AdminAccount>(
        "SELECT id, email, role, disabled, must_change_password, created_at FROM admins WHERE tenant_id = $1 ORDER BY email"
    )
    .bind(tenant_id)
    .fetch_all(p)
    .await
    })
}

pub async fn get(db: &Db, tenant_id: Uuid, id: Uuid) -> Result<Option<AdminAccount>, sqlx::Error> {
    on_db!(db, |p| {
        sqlx::query_as::<_, AdminAccount>(
        "SELECT id, email, role, disabled, must_change_password, created_at FROM admins WHERE tenant_id = $1 AND id = $2"
    )
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(p)
    .await
    })
}

/// What a change did.
#[derive(Debug, PartialEq, Eq)]
pub enum Changed {
    Done,
    NotFound,
    /// It would leave the tenant without an enabled system-admin.
    LastSystemAdmin,
}

/// Sets the role and/or the disabled flag; a disabled admin's sessions end.
pub async fn update(
    db: &Db,
    tenant_id: Uuid,
    id: Uuid,
    role: Option<&str>,
    disabled: Option<bool>,
) -> Result<Changed, sqlx::Error> {
    let n = on_db!(db, |p| {
        let mut tx = p.begin().await?;
        // Allowed when the admin stays an enabled system-admin, or another one remains.
        let n = sqlx::query(
            "UPDATE admins SET role = COALESCE($3, role), disabled = COALESCE($4, disabled)
             WHERE id = $1 AND tenant_id = $2
               AND ((COALESCE($3, role) = 'system-admin' AND NOT COALESCE($4, disabled))
                    OR EXISTS (SELECT 1 FROM admins o WHERE o.tenant_id = $2 AND o.id <> $1 AND o.role = 'system-admin' AND NOT o.disabled))",
        )
        .bind(id)
        .bind(tenant_id)
        .bind(role)
        .bind(disabled)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 1 && disabled == Some(true) {
            sqlx::query("DELETE FROM sessions WHERE admin_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok::<u64, sqlx::Error>(n)
    })?;
    outcome(db, tenant_id, id, n).await
}

/// Removes an admin (its sessions go with it).
pub async fn delete(db: &Db, tenant_id: Uuid, id: Uuid) -> Result<Changed, sqlx::Error> {
    let n = db_execute!(db, |p| {
        sqlx::query(
        "DELETE FROM admins WHERE id = $1 AND tenant_id = $2
           AND (role <> 'system-admin' OR disabled
                OR EXISTS (SELECT 1 FROM admins o WHERE o.tenant_id = $2 AND o.id <> $1 AND o.role = 'system-admin' AND NOT o.disabled))"
    )
    .bind(id)
    .bind(tenant_id)
    .execute(p)
    .await
    })?;
    outcome(db, tenant_id, id, n).await
}

async fn outcome(db: &Db, tenant_id: Uuid, id: Uuid, n: u64) -> Result<Changed, sqlx::Error> {
    Ok(if n == 1 {
        Changed::Done
    } else if get(db, tenant_id, id).await?.is_some() {
        Changed::LastSystemAdmin
    } else {
        Changed::NotFound
    })
}

/// Sets a password hash; `one_time`: the admin must replace it at its next sign-in.
/// Every session of the admin but `keep` (the caller's own, changing its password) ends.
pub async fn set_password(
    db: &Db,
    tenant_id: Uuid,
    id: Uuid,
    password_hash: &str,
    one_time: bool,
    keep: Option<&str>,
) -> Result<bool, sqlx::Error> {
    on_db!(db, |p| {
        let mut tx = p.begin().await?;
        let n = sqlx::query(
            "UPDATE admins SET password_hash = $1, must_change_password = $2 WHERE id = $3 AND tenant_id = $4",
        )
        .bind(password_hash)
        .bind(one_time)
        .bind(id)
        .bind(tenant_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query("DELETE FROM sessions WHERE admin_id = $1 AND token_hash <> $2")
            .bind(id)
            .bind(keep.unwrap_or(""))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(n == 1)
    })
}

/// The password hash of an admin, to check its current password.
pub async fn password_hash(db: &Db, id: Uuid) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(String,)> = on_db!(db, |p| sqlx::query_as(
        "SELECT password_hash FROM admins WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(p)
    .await)?;
    Ok(row.map(|r| r.0))
}
