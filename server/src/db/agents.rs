//! Connected agents, recorded in the database so that every replica sharing it can
//! list them (architecture §2). A row is removed when its connection ends; rows whose
//! heartbeat is older than the timeout (a replica that died) are not listed.

use super::{Db, now};
use crate::{db_execute, on_db};
use adc_shared::Settings;
use adc_shared::protocol::HEARTBEAT_TIMEOUT_SECS;
use serde::Serialize;
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct AgentConnection {
    pub id: Uuid,
    #[serde(skip)]
    pub tenant_id: Uuid,
    pub synchronization_id: Uuid,
    pub hostname: String,
    pub agent_version: String,
    pub protocol_version: i32,
    pub remote_addr: String,
    /// The settings of the agent's adc.yaml, as it last reported them.
    pub settings: Json<Settings>,
    #[serde(with = "time::serde::rfc3339")]
    pub connected_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_heartbeat_at: OffsetDateTime,
}

pub async fn insert(db: &Db, c: &AgentConnection) -> Result<(), sqlx::Error> {
    db_execute!(db, |p| {
        sqlx::query(
        "INSERT INTO agent_connections (id, tenant_id, synchronization_id, hostname, agent_version, protocol_version, remote_addr, settings, connected_at, last_heartbeat_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    )
    .bind(c.id)
    .bind(c.tenant_id)
    .bind(c.synchronization_id)
    .bind(&c.hostname)
    .bind(&c.agent_version)
    .bind(c.protocol_version)
    .bind(&c.remote_addr)
    .bind(c.settings)
    .bind(c.connected_at)
    .bind(c.last_heartbeat_at)
    .execute(p)
    .await
    })?;
    Ok(())
}

pub async fn heartbeat(db: &Db, id: Uuid) -> Result<(), sqlx::Error> {
    db_execute!(db, |p| sqlx::query(
        "UPDATE agent_connections SET last_heartbeat_at = $1 WHERE id = $2"
    )
    .bind(now())
    .bind(id)
    .execute(p)
    .await)?;
    Ok(())
}

pub async fn set_settings(db: &Db, id: Uuid, settings: &Settings) -> Result<(), sqlx::Error> {
    db_execute!(db, |p| sqlx::query(
        "UPDATE agent_connections SET settings = $1, last_heartbeat_at = $2 WHERE id = $3"
    )
    .bind(Json(settings))
    .bind(now())
    .bind(id)
    .execute(p)
    .await)?;
    Ok(())
}

pub async fn remove(db: &Db, id: Uuid) -> Result<(), sqlx::Error> {
    db_execute!(db, |p| sqlx::query(
        "DELETE FROM agent_connections WHERE id = $1"
    )
    .bind(id)
    .execute(p)
    .await)?;
    Ok(())
}

pub async fn remove_all(db: &Db) -> Result<u64, sqlx::Error> {
    db_execute!(db, |p| sqlx::query("DELETE FROM agent_connections")
        .execute(p)
        .await)
}

/// Removes records whose heartbeat stopped twice the timeout ago.
pub async fn remove_stale(db: &Db) -> Result<u64, sqlx::Error> {
    let before = now() - time::Duration::seconds(2 * HEARTBEAT_TIMEOUT_SECS as i64);
    db_execute!(db, |p| sqlx::query(
        "DELETE FROM agent_connections WHERE last_heartbeat_at < $1"
    )
    .bind(before)
    .execute(p)
    .await)
}

fn live_since() -> OffsetDateTime {
    now() - time::Duration::seconds(HEARTBEAT_TIMEOUT_SECS as i64)
}

pub async fn list_for_sync(
    db: &Db,
    tenant_id: Uuid,
    sync_id: Uuid,
) -> Result<Vec<AgentConnection>, sqlx::Error> {
    on_db!(db, |p| {
        sqlx::query_as::<_, AgentConnection>(
        "SELECT id, tenant_id, synchronization_id, hostname, agent_version, protocol_version, remote_addr, settings, connected_at, last_heartbeat_at
         FROM agent_connections WHERE tenant_id = $1 AND synchronization_id = $2 AND last_heartbeat_at > $3
         ORDER BY connected_at, id"
    )
    .bind(tenant_id)
    .bind(sync_id)
    .bind(live_since())
    .fetch_all(p)
    .await
    })
}

/// The connected agents of every synchronization of a tenant, for the list view.
pub async fn list_for_tenant(
    db: &Db,
    tenant_id: Uuid,
) -> Result<Vec<AgentConnection>, sqlx::Error> {
    on_db!(db, |p| {
        sqlx::query_as::<_, AgentConnection>(
        "SELECT id, tenant_id, synchronization_id, hostname, agent_version, protocol_version, remote_addr, settings, connected_at, last_heartbeat_at
         FROM agent_connections WHERE tenant_id = $1 AND last_heartbeat_at > $2
         ORDER BY connected_at, id"
    )
    .bind(tenant_id)
    .bind(live_since())
    .fetch_all(p)
    .await
    })
}
