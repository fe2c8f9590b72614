//! The tenant's audit log (architecture §3.4): entries are added, read newest first with
//! filters, and removed only by the retention sweep. The tables' triggers refuse any
//! change to an entry and the deletion of one younger than 30 days, whatever the caller.

use super::Db;
use crate::{db_execute, on_db};
use serde::Serialize;
use serde_json::Value;
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

/// An entry as stored and as REST shows it.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct AuditEntry {
    /// Increases with every entry; `before` pages by it.
    #[schema(value_type = String)]
    #[serde(serialize_with = "as_text")]
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
    /// `admin`, `token`, `agent`, `schedule` or `cli`.
    pub actor_kind: String,
    /// The admin's or the API token's ID; the synchronization's for an agent.
    pub actor_id: Option<Uuid>,
    /// The admin's e-mail, the token's name, the agent's host, `schedule` or `cli`.
    pub actor_name: String,
    /// What was done, as `<object>.<verb>` (see `AuditAction`).
    #[schema(value_type = crate::vocabulary::AuditAction)]
    pub action: String,
    /// `synchronization`, `run`, `user`, `group`, `token`, `admin` or `tenant`.
    pub target_kind: Option<String>,
    pub target_id: Option<String>,
    /// The target's name when the entry was written (a deleted target keeps it).
    pub target_name: Option<String>,
    /// The caller's IP address.
    pub address: Option<String>,
    /// The `x-request-id` of the request that did it.
    pub request_id: Option<String>,
    /// What changed (old and new values), never a secret.
    #[schema(value_type = Object)]
    pub details: Json<Value>,
}

/// An ID as a JSON string: a 64-bit integer is not exact in every JSON reader.
fn as_text<S: serde::Serializer>(id: &i64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(id)
}

/// An entry to add.
pub struct NewEntry<'a> {
    pub tenant_id: Uuid,
    pub at: OffsetDateTime,
    pub actor_kind: &'a str,
    pub actor_id: Option<Uuid>,
    pub actor_name: &'a str,
    pub action: &'a str,
    pub target_kind: Option<&'a str>,
    pub target_id: Option<&'a str>,
    pub target_name: Option<&'a str>,
    pub address: Option<&'a str>,
    pub request_id: Option<&'a str>,
    pub details: &'a Value,
}

pub async fn insert(db: &Db, e: &NewEntry<'_>) -> Result<(), sqlx::Error> {
    db_execute!(db, |p| {
        sqlx::query(
        "INSERT INTO audit_entries (tenant_id, at, actor_kind, actor_id, actor_name, action, target_kind, target_id, target_name, address, request_id, details)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    )
    .bind(e.tenant_id)
    .bind(e.at)
    .bind(e.actor_kind)
    .bind(e.actor_id)
    .bind(e.actor_name)
    .bind(e.action)
    .bind(e.target_kind)
    .bind(e.target_id)
    .bind(e.target_name)
    .bind(e.address)
    .bind(e.request_id)
    .bind(Json(e.details))
    .execute(p)
    .await
    })?;
    Ok(())
}

/// What to look for; every field narrows.
#[derive(Default, Debug)]
pub struct Filter {
    /// The actor's name or ID.
    pub actor: Option<String>,
    /// An action (`user.deleted`), or every action of an object (`user`).
    pub action: Option<String>,
    /// The target's ID or name.
    pub target: Option<String>,
    pub from: Option<OffsetDateTime>,
    pub to: Option<OffsetDateTime>,
}

/// The tenant's entries matching `f`, newest first, older than entry `before`.
pub async fn list(
    db: &Db,
    tenant_id: Uuid,
    f: &Filter,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<AuditEntry>, sqlx::Error> {
    on_db!(db, |p| {
        let mut qb = sqlx::QueryBuilder::new(
            "SELECT id, at, actor_kind, actor_id, actor_name, action, target_kind, target_id, target_name, address, request_id, details FROM audit_entries WHERE tenant_id = ",
        );
        qb.push_bind(tenant_id);
        if let Some(a) = &f.actor {
            qb.push(" AND (actor_name = ").push_bind(a.clone());
            match Uuid::parse_str(a) {
                Ok(id) => qb.push(" OR actor_id = ").push_bind(id).push(")"),
                Err(_) => qb.push(")"),
            };
        }
        if let Some(a) = &f.action {
            if a.contains('.') {
                qb.push(" AND action = ").push_bind(a.clone());
            } else {
                let prefix = format!("{}.%", super::like_escape(a));
                qb.push(" AND action LIKE ")
                    .push_bind(prefix)
                    .push(" ESCAPE '\\'");
            }
        }
        if let Some(t) = &f.target {
            qb.push(" AND (target_id = ")
                .push_bind(t.clone())
                .push(" OR target_name = ")
                .push_bind(t.clone())
                .push(")");
        }
        if let Some(from) = f.from {
            qb.push(" AND at >= ").push_bind(from);
        }
        if let Some(to) = f.to {
            qb.push(" AND at < ").push_bind(to);
        }
        if let Some(b) = before {
            qb.push(" AND id < ").push_bind(b);
        }
        qb.push(" ORDER BY id DESC LIMIT ").push_bind(limit);
        qb.build_query_as::<AuditEntry>().fetch_all(p).await
    })
}

/// How many days the tenant keeps its entries.
pub async fn retention_days(db: &Db, tenant_id: Uuid) -> Result<i32, sqlx::Error> {
    on_db!(db, |p| sqlx::query_scalar::<_, i32>(
        "SELECT audit_retention_days FROM tenants WHERE id = $1"
    )
    .bind(tenant_id)
    .fetch_one(p)
    .await)
}

pub async fn set_retention_days(db: &Db, tenant_id: Uuid, days: i32) -> Result<(), sqlx::Error> {
    db_execute!(db, |p| sqlx::query(
        "UPDATE tenants SET audit_retention_days = $2 WHERE id = $1"
    )
    .bind(tenant_id)
    .bind(days)
    .execute(p)
    .await)?;
    Ok(())
}

/// Removes every tenant's entries older than its retention and one more day (the
/// margin keeps the sweep clear of the 30-day trigger whatever the clocks and the stored
/// time format); how many went.
pub async fn sweep(db: &Db, now: OffsetDateTime) -> Result<u64, sqlx::Error> {
    let tenants: Vec<(Uuid, i32)> = on_db!(db, |p| sqlx::query_as(
        "SELECT id, audit_retention_days FROM tenants"
    )
    .fetch_all(p)
    .await)?;
    let mut removed = 0;
    for (tenant_id, days) in tenants {
        let cutoff = now - time::Duration::days(i64::from(days) + 1);
        removed += db_execute!(db, |p| sqlx::query(
            "DELETE FROM audit_entries WHERE tenant_id = $1 AND at < $2"
        )
        .bind(tenant_id)
        .bind(cutoff)
        .execute(p)
        .await)?;
    }
    Ok(removed)
}
