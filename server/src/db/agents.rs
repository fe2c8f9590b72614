//! Connected agents, recorded in the database so that every replica sharing it can
//! list them (architecture §2). A row is removed when its connection ends; a row whose
//! heartbeat is older than the heartbeat timeout belongs to a replica that died and is
//! removed by any replica's sweep ([`remove_stale`]); a replica that restarts removes
//! its previous life's rows at once ([`remove_of_replica`]).

use super::changes::{self, Change};
use super::{Db, now};
use crate::{db_execute, on_db};
use adc_shared::Settings;
use serde::Serialize;
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = Agent)]
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
    #[schema(value_type = Settings)]
    pub settings: Json<Settings>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub connected_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub last_heartbeat_at: OffsetDateTime,
    /// The replica holding the connection.
    #[serde(skip)]
    pub replica: Option<String>,
}

pub async fn insert(db: &Db, c: &AgentConnection) -> Result<(), sqlx::Error> {
    db_execute!(db, |p| {
        sqlx::query(
        "INSERT INTO agent_connections (id, tenant_id, synchronization_id, hostname, agent_version, protocol_version, remote_addr, settings, connected_at, last_heartbeat_at, replica)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
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
    .bind(&c.replica)
    .execute(p)
    .await
    })?;
    changes::local(db, Change::agents(c.tenant_id, c.synchronization_id));
    Ok(())
}

/// Records the heartbeats of these connections at once; returns the ones whose record
/// is gone (judged stale by a replica's sweep while this one could not reach the
/// database).
pub async fn heartbeats(db: &Db, ids: &[Uuid]) -> Result<Vec<Uuid>, sqlx::Error> {
    let t = now();
    let mut found = std::collections::HashSet::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let rows: Vec<Uuid> = match db {
            Db::Postgres(p) => {
                sqlx::query_scalar(
                    "UPDATE agent_connections SET last_heartbeat_at = $1 WHERE id = ANY($2) RETURNING id",
                )
                .bind(t)
                .bind(chunk)
                .fetch_all(p)
                .await?
            }
            Db::Sqlite(p) => {
                let mut qb = sqlx::QueryBuilder::new("UPDATE agent_connections SET last_heartbeat_at = ");
                qb.push_bind(t).push(" WHERE id IN (");
                let mut sep = qb.separated(", ");
                for id in chunk {
                    sep.push_bind(*id);
                }
                qb.push(") RETURNING id");
                qb.build_query_scalar().fetch_all(p).await?
            }
        };
        found.extend(rows);
    }
    Ok(ids
        .iter()
        .filter(|id| !found.contains(id))
        .copied()
        .collect())
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
    let gone: Option<(Uuid, Uuid)> = on_db!(db, |p| sqlx::query_as(
        "DELETE FROM agent_connections WHERE id = $1 RETURNING tenant_id, synchronization_id"
    )
    .bind(id)
    .fetch_optional(p)
    .await)?;
    if let Some((tenant, sync)) = gone {
        changes::local(db, Change::agents(tenant, sync));
    }
    Ok(())
}

/// Before records of dead connections go, each synchronization keeps when its agents
/// were last heard of (the offline notification counts from there).
const KEEP_LAST_SEEN: &str = "UPDATE synchronizations SET agent_last_seen_at =
     (SELECT MAX(a.last_heartbeat_at) FROM agent_connections a WHERE a.synchronization_id = synchronizations.id)
     WHERE id IN (SELECT synchronization_id FROM agent_connections)";

pub async fn remove_all(db: &Db) -> Result<u64, sqlx::Error> {
    on_db!(db, |p| {
        sqlx::query(KEEP_LAST_SEEN).execute(p).await?;
        sqlx::query("DELETE FROM agent_connections")
            .execute(p)
            .await
            .map(|r| r.rows_affected())
    })
}

/// Removes records of other replicas whose heartbeat is older than `timeout`: their
/// replica died (a live one records every heartbeat, and closes a connection silent for
/// that long itself). `own` replica's records are its sessions' to remove: a database
/// that was away for a while must not cost it its live connections.
pub async fn remove_stale(
    db: &Db,
    timeout: std::time::Duration,
    own: &str,
) -> Result<u64, sqlx::Error> {
    let before = now() - time::Duration::try_from(timeout).unwrap_or(time::Duration::MAX);
    on_db!(db, |p| {
        sqlx::query(KEEP_LAST_SEEN).execute(p).await?;
        sqlx::query(
        "DELETE FROM agent_connections WHERE last_heartbeat_at < $1 AND (replica IS NULL OR replica <> $2)"
    )
    .bind(before)
    .bind(own)
    .execute(p)
    .await
    .map(|r| r.rows_affected())
    })
}

/// Removes the records of `replica`'s previous life: called as it starts, when it holds
/// no connection yet.
pub async fn remove_of_replica(db: &Db, replica: &str) -> Result<u64, sqlx::Error> {
    on_db!(db, |p| {
        sqlx::query(KEEP_LAST_SEEN).execute(p).await?;
        sqlx::query("DELETE FROM agent_connections WHERE replica = $1")
            .bind(replica)
            .execute(p)
            .await
            .map(|r| r.rows_affected())
    })
}

pub async fn list_for_sync(
    db: &Db,
    tenant_id: Uuid,
    sync_id: Uuid,
) -> Result<Vec<AgentConnection>, sqlx::Error> {
    on_db!(db, |p| {
        sqlx::query_as::<_, AgentConnection>(
        "SELECT id, tenant_id, synchronization_id, hostname, agent_version, protocol_version, remote_addr, settings, connected_at, last_heartbeat_at, replica
         FROM agent_connections WHERE tenant_id = $1 AND synchronization_id = $2
         ORDER BY connected_at, id"
    )
    .bind(tenant_id)
    .bind(sync_id)
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
        "SELECT id, tenant_id, synchronization_id, hostname, agent_version, protocol_version, remote_addr, settings, connected_at, last_heartbeat_at, replica
         FROM agent_connections WHERE tenant_id = $1
         ORDER BY connected_at, id"
    )
    .bind(tenant_id)
    .fetch_all(p)
    .await
    })
}
