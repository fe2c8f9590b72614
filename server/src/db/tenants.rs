//! Tenants (architecture §3).

use super::{Db, now};
use crate::{db_execute, on_db};
use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Tenant {
    pub id: Uuid,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

pub async fn count(db: &Db) -> Result<i64, sqlx::Error> {
    on_db!(db, |p| sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM tenants"
    )
    .fetch_one(p)
    .await)
}

pub async fn insert(db: &Db, name: &str) -> Result<Tenant, sqlx::Error> {
    let t = Tenant {
        id: Uuid::new_v4(),
        name: name.to_owned(),
        created_at: now(),
    };
    db_execute!(db, |p| sqlx::query(
        "INSERT INTO tenants (id, name, created_at) VALUES ($1, $2, $3)"
    )
    .bind(t.id)
    .bind(&t.name)
    .bind(t.created_at)
    .execute(p)
    .await)?;
    Ok(t)
}

pub async fn by_name(db: &Db, name: &str) -> Result<Option<Tenant>, sqlx::Error> {
    on_db!(db, |p| sqlx::query_as::<_, Tenant>(
        "SELECT id, name, created_at FROM tenants WHERE name = $1"
    )
    .bind(name)
    .fetch_optional(p)
    .await)
}

pub async fn by_id(db: &Db, id: Uuid) -> Result<Option<Tenant>, sqlx::Error> {
    on_db!(db, |p| sqlx::query_as::<_, Tenant>(
        "SELECT id, name, created_at FROM tenants WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(p)
    .await)
}
