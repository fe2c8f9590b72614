//! What `/metrics` reports about each synchronization, read from the database at each
//! scrape: the same on every replica (alert rules take the `max`).

use super::Db;
use crate::on_db;
use crate::vocabulary::RunStatus;
use std::collections::HashMap;
use time::OffsetDateTime;
use uuid::Uuid;

/// One synchronization's state.
#[derive(Debug, Default)]
pub struct SyncState {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub schedule_minutes: Option<i32>,
    pub users: i64,
    pub last_success: Option<OffsetDateTime>,
    pub held: i64,
    pub oldest_held: Option<OffsetDateTime>,
    pub agents: i64,
}

/// Every synchronization of every tenant, with its counts.
pub async fn synchronizations(db: &Db) -> Result<Vec<SyncState>, sqlx::Error> {
    let syncs: Vec<(Uuid, Uuid, String, Option<i32>)> = on_db!(db, |p| {
        sqlx::query_as("SELECT id, tenant_id, name, schedule_minutes FROM synchronizations")
            .fetch_all(p)
            .await
    })?;
    let users: Vec<(Uuid, i64)> = on_db!(db, |p| {
        sqlx::query_as(
            "SELECT synchronization_id, COUNT(*) FROM users WHERE synchronization_id IS NOT NULL GROUP BY synchronization_id",
        )
        .fetch_all(p)
        .await
    })?;
    let success: Vec<(Uuid, Option<OffsetDateTime>)> = on_db!(db, |p| {
        sqlx::query_as(
            "SELECT synchronization_id, MAX(finished_at) FROM runs WHERE status = $1 GROUP BY synchronization_id",
        )
        .bind(RunStatus::Succeeded)
        .fetch_all(p)
        .await
    })?;
    let held: Vec<(Uuid, i64, Option<OffsetDateTime>)> = on_db!(db, |p| {
        sqlx::query_as(
            "SELECT synchronization_id, COUNT(*), MIN(started_at) FROM runs WHERE status = $1 AND decision IS NULL GROUP BY synchronization_id",
        )
        .bind(RunStatus::Held)
        .fetch_all(p)
        .await
    })?;
    let agents: Vec<(Uuid, i64)> = on_db!(db, |p| {
        sqlx::query_as(
            "SELECT synchronization_id, COUNT(*) FROM agent_connections GROUP BY synchronization_id",
        )
        .fetch_all(p)
        .await
    })?;
    let users: HashMap<Uuid, i64> = users.into_iter().collect();
    let success: HashMap<Uuid, Option<OffsetDateTime>> = success.into_iter().collect();
    let held: HashMap<Uuid, (i64, Option<OffsetDateTime>)> =
        held.into_iter().map(|(s, n, t)| (s, (n, t))).collect();
    let agents: HashMap<Uuid, i64> = agents.into_iter().collect();
    Ok(syncs
        .into_iter()
        .map(|(id, tenant_id, name, schedule_minutes)| SyncState {
            id,
            tenant_id,
            name,
            schedule_minutes,
            users: users.get(&id).copied().unwrap_or(0),
            last_success: success.get(&id).copied().flatten(),
            held: held.get(&id).map_or(0, |h| h.0),
            oldest_held: held.get(&id).and_then(|h| h.1),
            agents: agents.get(&id).copied().unwrap_or(0),
        })
        .collect())
}
