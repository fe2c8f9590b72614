//! Synchronizations (architecture §4).

use super::{Db, now};
use crate::{db_execute, on_db};
use adc_shared::Settings;
use adc_shared::protocol::Watermark;
use serde::{Deserialize, Serialize};
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

/// Accidental mass-delete prevention (architecture §4). `None` switches a limit off.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeletionGuard {
    pub max_deletes: Option<u32>,
    pub max_percent: Option<u32>,
    /// The percentage applies once the synchronization holds at least this many users.
    pub min_users_for_percent: u32,
}

impl Default for DeletionGuard {
    fn default() -> Self {
        DeletionGuard {
            max_deletes: Some(500),
            max_percent: Some(20),
            min_users_for_percent: 100,
        }
    }
}

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Sync {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub secret_hash: String,
    pub secret_version: i32,
    pub settings: Json<Settings>,
    pub schedule_minutes: Option<i32>,
    pub guard: Json<DeletionGuard>,
    /// How often a full read is due, in hours; 0: every run reads in full.
    pub full_read_hours: i32,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// A SELECT of every column of a synchronization, followed by `$rest`.
macro_rules! select_sync {
    ($rest:literal) => {
        concat!(
            "SELECT id, tenant_id, name, secret_hash, secret_version, settings, schedule_minutes, guard, full_read_hours, created_at, updated_at FROM synchronizations ",
            $rest
        )
    };
}

pub struct NewSync<'a> {
    pub tenant_id: Uuid,
    pub name: &'a str,
    pub secret_hash: &'a str,
    pub settings: Settings,
    pub schedule_minutes: Option<i32>,
    pub guard: DeletionGuard,
    pub full_read_hours: i32,
}

pub async fn insert(db: &Db, new: NewSync<'_>) -> Result<Sync, sqlx::Error> {
    let t = now();
    let s = Sync {
        id: Uuid::new_v4(),
        tenant_id: new.tenant_id,
        name: new.name.to_owned(),
        secret_hash: new.secret_hash.to_owned(),
        secret_version: 1,
        settings: Json(new.settings),
        schedule_minutes: new.schedule_minutes,
        guard: Json(new.guard),
        full_read_hours: new.full_read_hours,
        created_at: t,
        updated_at: t,
    };
    db_execute!(db, |p| {
        sqlx::query(
        "INSERT INTO synchronizations (id, tenant_id, name, secret_hash, secret_version, settings, schedule_minutes, guard, full_read_hours, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    )
    .bind(s.id)
    .bind(s.tenant_id)
    .bind(&s.name)
    .bind(&s.secret_hash)
    .bind(s.secret_version)
    .bind(s.settings)
    .bind(s.schedule_minutes)
    .bind(s.guard)
    .bind(s.full_read_hours)
    .bind(s.created_at)
    .bind(s.updated_at)
    .execute(p)
    .await
    })?;
    Ok(s)
}

pub async fn list(db: &Db, tenant_id: Uuid) -> Result<Vec<Sync>, sqlx::Error> {
    on_db!(db, |p| sqlx::query_as::<_, Sync>(select_sync!(
        "WHERE tenant_id = $1 ORDER BY name, id"
    ))
    .bind(tenant_id)
    .fetch_all(p)
    .await)
}

pub async fn get(db: &Db, tenant_id: Uuid, id: Uuid) -> Result<Option<Sync>, sqlx::Error> {
    on_db!(db, |p| sqlx::query_as::<_, Sync>(select_sync!(
        "WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(p)
    .await)
}

/// Looks a synchronization up by its Application ID alone: how an agent is
/// authenticated, before any tenant is known.
pub async fn by_application_id(db: &Db, id: Uuid) -> Result<Option<Sync>, sqlx::Error> {
    on_db!(db, |p| sqlx::query_as::<_, Sync>(select_sync!(
        "WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(p)
    .await)
}

/// The secret version of a synchronization, `None` once it is deleted; agents
/// connected with an older version are disconnected.
pub async fn secret_version(db: &Db, id: Uuid) -> Result<Option<i32>, sqlx::Error> {
    on_db!(db, |p| sqlx::query_scalar::<_, i32>(
        "SELECT secret_version FROM synchronizations WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(p)
    .await)
}

/// Writes the changeable fields of `s` (name, settings, schedule, guard).
pub async fn update(db: &Db, s: &Sync) -> Result<OffsetDateTime, sqlx::Error> {
    let t = now();
    db_execute!(db, |p| {
        sqlx::query(
        "UPDATE synchronizations SET name = $1, settings = $2, schedule_minutes = $3, guard = $4, full_read_hours = $5, updated_at = $6
         WHERE tenant_id = $7 AND id = $8"
    )
    .bind(&s.name)
    .bind(s.settings)
    .bind(s.schedule_minutes)
    .bind(s.guard)
    .bind(s.full_read_hours)
    .bind(t)
    .bind(s.tenant_id)
    .bind(s.id)
    .execute(p)
    .await
    })?;
    Ok(t)
}

/// Replaces the secret; returns the new secret version, `None` if there is no such
/// synchronization in the tenant.
pub async fn rotate_secret(
    db: &Db,
    tenant_id: Uuid,
    id: Uuid,
    secret_hash: &str,
) -> Result<Option<i32>, sqlx::Error> {
    on_db!(db, |p| {
        sqlx::query_scalar::<_, i32>(
        "UPDATE synchronizations SET secret_hash = $1, secret_version = secret_version + 1, updated_at = $2
         WHERE tenant_id = $3 AND id = $4 RETURNING secret_version"
    )
    .bind(secret_hash)
    .bind(now())
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(p)
    .await
    })
}

/// Where the synchronization's reads stand: the watermark a delta read may continue
/// from, and when the last full read succeeded.
#[derive(Clone, Debug, Default, sqlx::FromRow)]
pub struct ReadState {
    pub watermark: Option<String>,
    pub watermark_fingerprint: Option<String>,
    pub full_read_at: Option<OffsetDateTime>,
}

pub async fn read_state(db: &Db, id: Uuid) -> Result<ReadState, sqlx::Error> {
    on_db!(db, |p| sqlx::query_as::<_, ReadState>(
        "SELECT watermark, watermark_fingerprint, full_read_at FROM synchronizations WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(p)
    .await)
    .map(Option::unwrap_or_default)
}

/// After a run succeeded: the next run continues from `watermark` (`None`: the next
/// read is full), and a full read records its time.
pub async fn commit_read(
    db: &Db,
    id: Uuid,
    watermark: Option<&Watermark>,
    full: bool,
) -> Result<(), sqlx::Error> {
    let t = now();
    db_execute!(db, |p| sqlx::query(
        "UPDATE synchronizations SET watermark = $1, watermark_fingerprint = $2,
         full_read_at = CASE WHEN $3 THEN $4 ELSE full_read_at END WHERE id = $5"
    )
    .bind(watermark.map(|w| w.token.as_str()))
    .bind(watermark.map(|w| w.fingerprint.as_str()))
    .bind(full)
    .bind(t)
    .bind(id)
    .execute(p)
    .await)?;
    Ok(())
}

/// Claims a due scheduled run: true for exactly one caller per due time.
pub async fn claim_schedule(db: &Db, id: Uuid, minutes: i32) -> Result<bool, sqlx::Error> {
    let t = now();
    let next = t + time::Duration::minutes(i64::from(minutes));
    crate::db_execute!(db, |p| sqlx::query(
        "UPDATE synchronizations SET next_run_at = $1 WHERE id = $2 AND schedule_minutes IS NOT NULL AND (next_run_at IS NULL OR next_run_at <= $3)"
    )
    .bind(next)
    .bind(id)
    .bind(t)
    .execute(p)
    .await)
    .map(|n| n == 1)
}

/// A changed schedule starts afresh: the first run at the next check.
pub async fn reset_schedule(db: &Db, id: Uuid) -> Result<(), sqlx::Error> {
    crate::db_execute!(db, |p| sqlx::query(
        "UPDATE synchronizations SET next_run_at = NULL WHERE id = $1"
    )
    .bind(id)
    .execute(p)
    .await)?;
    Ok(())
}

/// Deletes a synchronization in one transaction: its runs and their change lists go,
/// its users and groups (with their members) stay as manual ones. The running run is locked first, so a batch being
/// written for it either commits before (and its users are detached below) or finds its
/// run gone and rolls back (see `apply::write_batch`).
pub async fn delete(db: &Db, tenant_id: Uuid, id: Uuid) -> Result<bool, sqlx::Error> {
    on_db!(db, |p| {
        let mut tx = p.begin().await?;
        sqlx::query("UPDATE runs SET status = 'cancelled' WHERE tenant_id = $1 AND synchronization_id = $2 AND status = 'running'")
            .bind(tenant_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM run_changes WHERE run_id IN (SELECT id FROM runs WHERE tenant_id = $1 AND synchronization_id = $2)")
            .bind(tenant_id)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        for q in [
            "UPDATE users SET synchronization_id = NULL WHERE tenant_id = $1 AND synchronization_id = $2",
            "UPDATE groups SET synchronization_id = NULL WHERE tenant_id = $1 AND synchronization_id = $2",
        ] {
            sqlx::query(q)
                .bind(tenant_id)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        let gone = sqlx::query("DELETE FROM synchronizations WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(gone == 1)
    })
}
