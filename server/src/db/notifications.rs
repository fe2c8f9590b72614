//! Notifications (architecture §3.5): endpoints, the tenant's thresholds, and the
//! delivery queue. Events are claimed once however many replicas look (a finished run's
//! `notified` flag, a synchronization's `*_notified_at`), and their deliveries are
//! queued in the same transaction, so an event is neither lost by a crash nor sent
//! twice. A due delivery is claimed for a while (`claimed_until`) by one replica: with
//! `FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite has one replica.

use super::Db;
use super::changes::{self, Change};
use crate::vocabulary::RunStatus;
use crate::{db_execute, on_db};
use adc_shared::protocol::RunCounts;
use serde::Serialize;
use serde_json::Value;
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

/// A webhook or an e-mail recipient of a tenant.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = NotificationEndpoint)]
pub struct Endpoint {
    pub id: Uuid,
    #[serde(skip)]
    pub tenant_id: Uuid,
    /// `webhook` or `email`.
    pub kind: String,
    /// The webhook's URL, or the e-mail address.
    pub target: String,
    /// The webhook's HMAC key: shown once, never again.
    #[serde(skip)]
    pub secret: Option<String>,
    /// The events it receives (see `NotificationEvent`).
    #[schema(value_type = Vec<String>)]
    pub events: Json<Vec<String>>,
    pub enabled: bool,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

pub async fn list_endpoints(db: &Db, tenant_id: Uuid) -> Result<Vec<Endpoint>, sqlx::Error> {
    on_db!(db, |p| {
        sqlx::query_as::<_, Endpoint>(
        "SELECT id, tenant_id, kind, target, secret, events, enabled, created_at FROM notification_endpoints WHERE tenant_id = $1 ORDER BY kind, target"
    )
    .bind(tenant_id)
    .fetch_all(p)
    .await
    })
}

pub async fn get_endpoint(
    db: &Db,
    tenant_id: Uuid,
    id: Uuid,
) -> Result<Option<Endpoint>, sqlx::Error> {
    on_db!(db, |p| {
        sqlx::query_as::<_, Endpoint>(
        "SELECT id, tenant_id, kind, target, secret, events, enabled, created_at FROM notification_endpoints WHERE tenant_id = $1 AND id = $2"
    )
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(p)
    .await
    })
}

/// Adds an endpoint; a unique violation means the tenant has this target already.
pub async fn insert_endpoint(db: &Db, e: &Endpoint) -> Result<(), sqlx::Error> {
    db_execute!(db, |p| {
        sqlx::query(
        "INSERT INTO notification_endpoints (id, tenant_id, kind, target, secret, events, enabled, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    )
    .bind(e.id)
    .bind(e.tenant_id)
    .bind(&e.kind)
    .bind(&e.target)
    .bind(&e.secret)
    .bind(&e.events)
    .bind(e.enabled)
    .bind(e.created_at)
    .execute(p)
    .await
    })?;
    Ok(())
}

/// Stores the target, events, enabled flag and secret of `e`.
pub async fn update_endpoint(db: &Db, e: &Endpoint) -> Result<bool, sqlx::Error> {
    db_execute!(db, |p| sqlx::query(
        "UPDATE notification_endpoints SET target = $1, events = $2, enabled = $3, secret = $4 WHERE tenant_id = $5 AND id = $6"
    )
    .bind(&e.target)
    .bind(&e.events)
    .bind(e.enabled)
    .bind(&e.secret)
    .bind(e.tenant_id)
    .bind(e.id)
    .execute(p)
    .await)
    .map(|n| n == 1)
}

/// Removes an endpoint and its deliveries.
pub async fn delete_endpoint(db: &Db, tenant_id: Uuid, id: Uuid) -> Result<bool, sqlx::Error> {
    on_db!(db, |p| {
        let mut tx = p.begin().await?;
        sqlx::query(
            "DELETE FROM notification_deliveries WHERE endpoint_id = $1 AND tenant_id = $2",
        )
        .bind(id)
        .bind(tenant_id)
        .execute(&mut *tx)
        .await?;
        let n = sqlx::query("DELETE FROM notification_endpoints WHERE tenant_id = $1 AND id = $2")
            .bind(tenant_id)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        Ok(n == 1)
    })
}

/// When a tenant is told of an agent gone and of a synchronization gone stale.
#[derive(Clone, Copy, Debug, Serialize, serde::Deserialize, sqlx::FromRow)]
pub struct Thresholds {
    /// Minutes without any agent connected before `agent.offline`.
    pub agent_offline_minutes: i32,
    /// `synchronization.stale` after this many schedule intervals without a successful run.
    pub stale_factor: i32,
}

pub async fn thresholds(db: &Db, tenant_id: Uuid) -> Result<Thresholds, sqlx::Error> {
    on_db!(db, |p| {
        sqlx::query_as::<_, Thresholds>(
        "SELECT notify_agent_offline_minutes AS agent_offline_minutes, notify_stale_factor AS stale_factor FROM tenants WHERE id = $1"
    )
    .bind(tenant_id)
    .fetch_one(p)
    .await
    })
}

pub async fn set_thresholds(db: &Db, tenant_id: Uuid, t: Thresholds) -> Result<(), sqlx::Error> {
    db_execute!(db, |p| {
        sqlx::query(
        "UPDATE tenants SET notify_agent_offline_minutes = $1, notify_stale_factor = $2 WHERE id = $3"
    )
    .bind(t.agent_offline_minutes)
    .bind(t.stale_factor)
    .bind(tenant_id)
    .execute(p)
    .await
    })?;
    Ok(())
}

/// One delivery to queue.
#[derive(Debug)]
pub struct NewDelivery {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub endpoint_id: Uuid,
    pub event_id: Uuid,
    pub event: String,
    pub payload: Value,
    pub at: OffsetDateTime,
}

macro_rules! insert_delivery {
    ($exec:expr, $d:expr) => {
        sqlx::query(
            "INSERT INTO notification_deliveries (id, tenant_id, endpoint_id, event_id, event, payload, status, attempts, next_attempt_at, claimed_until, last_error, created_at, delivered_at)
             VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, NULL, NULL, $7, NULL)",
        )
        .bind($d.id)
        .bind($d.tenant_id)
        .bind($d.endpoint_id)
        .bind($d.event_id)
        .bind(&$d.event)
        .bind(Json(&$d.payload))
        .bind($d.at)
        .execute($exec)
        .await?
    };
}

pub async fn enqueue(db: &Db, d: &NewDelivery) -> Result<(), sqlx::Error> {
    on_db!(db, |p| {
        insert_delivery!(p, d);
        Ok::<(), sqlx::Error>(())
    })?;
    changes::local(db, Change::deliveries(d.tenant_id));
    Ok(())
}

/// Tells this process's Notifications pages that delivery `id` changed (SQLite; on
/// PostgreSQL a trigger tells every replica).
async fn delivery_changed(db: &Db, id: Uuid) {
    let Db::Sqlite(p) = db else {
        return;
    };
    let tenant: Result<Option<Uuid>, _> =
        sqlx::query_scalar("SELECT tenant_id FROM notification_deliveries WHERE id = $1")
            .bind(id)
            .fetch_optional(p)
            .await;
    if let Ok(Some(tenant)) = tenant {
        changes::local(db, Change::deliveries(tenant));
    }
}

/// A finished run not yet notified, with the names a message shows.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct FinishedRun {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub tenant_name: String,
    pub synchronization_id: Uuid,
    pub sync_name: String,
    pub status: RunStatus,
    pub triggered_by: String,
    pub dry_run: bool,
    pub counts: Json<RunCounts>,
    pub error: Option<String>,
    pub held_reason: Option<String>,
    pub started_at: OffsetDateTime,
    pub finished_at: Option<OffsetDateTime>,
}

const FINISHED_POSTGRES: &str = "SELECT r.id, r.tenant_id, t.name AS tenant_name, r.synchronization_id, s.name AS sync_name, r.status, r.triggered_by, r.dry_run, r.counts, r.error, r.held_reason, r.started_at, r.finished_at
     FROM runs r JOIN synchronizations s ON s.id = r.synchronization_id JOIN tenants t ON t.id = r.tenant_id
     WHERE r.notified = FALSE AND r.status <> $1 ORDER BY r.started_at LIMIT $2 FOR UPDATE OF r SKIP LOCKED";
const FINISHED_SQLITE: &str = "SELECT r.id, r.tenant_id, t.name AS tenant_name, r.synchronization_id, s.name AS sync_name, r.status, r.triggered_by, r.dry_run, r.counts, r.error, r.held_reason, r.started_at, r.finished_at
     FROM runs r JOIN synchronizations s ON s.id = r.synchronization_id JOIN tenants t ON t.id = r.tenant_id
     WHERE r.notified = FALSE AND r.status <> $1 ORDER BY r.started_at LIMIT $2";

/// Claims up to `limit` finished runs not yet notified and queues what `fan_out` makes
/// of each (given the tenant's enabled endpoints), in one transaction; how many runs.
pub async fn claim_finished_runs<F>(
    db: &Db,
    limit: i64,
    mut fan_out: F,
) -> Result<usize, sqlx::Error>
where
    F: FnMut(&FinishedRun, &[Endpoint]) -> Vec<NewDelivery>,
{
    let sql = match db {
        Db::Postgres(_) => FINISHED_POSTGRES,
        Db::Sqlite(_) => FINISHED_SQLITE,
    };
    on_db!(db, |p| {
        let mut tx = p.begin().await?;
        let runs: Vec<FinishedRun> = sqlx::query_as(sql)
            .bind(RunStatus::Running)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
        for run in &runs {
            let endpoints: Vec<Endpoint> = sqlx::query_as(
                "SELECT id, tenant_id, kind, target, secret, events, enabled, created_at FROM notification_endpoints WHERE tenant_id = $1 AND enabled = TRUE",
            )
            .bind(run.tenant_id)
            .fetch_all(&mut *tx)
            .await?;
            for d in fan_out(run, &endpoints) {
                insert_delivery!(&mut *tx, d);
            }
            sqlx::query("UPDATE runs SET notified = TRUE WHERE id = $1")
                .bind(run.id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok::<_, sqlx::Error>(runs.iter().map(|r| r.tenant_id).collect::<Vec<_>>())
    })
    .map(|tenants| {
        for t in &tenants {
            changes::local(db, Change::deliveries(*t));
        }
        tenants.len()
    })
}

/// A synchronization as the offline and stale checks see it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Watched {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub tenant_name: String,
    pub name: String,
    pub schedule_minutes: Option<i32>,
    pub created_at: OffsetDateTime,
    /// When an agent was last connected (None: never).
    pub agent_last_seen_at: Option<OffsetDateTime>,
    pub offline_notified_at: Option<OffsetDateTime>,
    pub stale_notified_at: Option<OffsetDateTime>,
    /// Whether an agent is connected now, to any replica.
    pub agent_connected: bool,
    /// The newest successful run's end.
    pub last_success_at: Option<OffsetDateTime>,
    pub agent_offline_minutes: i32,
    pub stale_factor: i32,
}

pub async fn watched(db: &Db) -> Result<Vec<Watched>, sqlx::Error> {
    on_db!(db, |p| {
        sqlx::query_as::<_, Watched>(
        "SELECT s.id, s.tenant_id, t.name AS tenant_name, s.name, s.schedule_minutes, s.created_at,
                s.agent_last_seen_at, s.offline_notified_at, s.stale_notified_at,
                EXISTS (SELECT 1 FROM agent_connections a WHERE a.synchronization_id = s.id) AS agent_connected,
                (SELECT MAX(r.finished_at) FROM runs r WHERE r.synchronization_id = s.id AND r.status = $1) AS last_success_at,
                t.notify_agent_offline_minutes AS agent_offline_minutes, t.notify_stale_factor AS stale_factor
         FROM synchronizations s JOIN tenants t ON t.id = s.tenant_id"
    )
    .bind(RunStatus::Succeeded)
    .fetch_all(p)
    .await
    })
}

/// Which condition a claim is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Condition {
    /// No agent since `since` (its last connection).
    AgentOffline,
    /// No successful run since `since`.
    Stale,
}

/// Claims the notification of `condition` for synchronization `w` — true for the one
/// replica that wins — and queues what `fan_out` makes of it, in one transaction.
pub async fn claim_condition<F>(
    db: &Db,
    w: &Watched,
    condition: Condition,
    since: OffsetDateTime,
    now: OffsetDateTime,
    fan_out: F,
) -> Result<bool, sqlx::Error>
where
    F: FnOnce(&[Endpoint]) -> Vec<NewDelivery>,
{
    let sql = match condition {
        Condition::AgentOffline => {
            "UPDATE synchronizations SET offline_notified_at = $1 WHERE id = $2 AND (offline_notified_at IS NULL OR offline_notified_at < $3)"
        }
        Condition::Stale => {
            "UPDATE synchronizations SET stale_notified_at = $1 WHERE id = $2 AND (stale_notified_at IS NULL OR stale_notified_at < $3)"
        }
    };
    on_db!(db, |p| {
        let mut tx = p.begin().await?;
        let won = sqlx::query(sql)
            .bind(now)
            .bind(w.id)
            .bind(since)
            .execute(&mut *tx)
            .await?
            .rows_affected()
            == 1;
        if won {
            let endpoints: Vec<Endpoint> = sqlx::query_as(
                "SELECT id, tenant_id, kind, target, secret, events, enabled, created_at FROM notification_endpoints WHERE tenant_id = $1 AND enabled = TRUE",
            )
            .bind(w.tenant_id)
            .fetch_all(&mut *tx)
            .await?;
            for d in fan_out(&endpoints) {
                insert_delivery!(&mut *tx, d);
            }
        }
        tx.commit().await?;
        Ok::<_, sqlx::Error>(won)
    })
    .inspect(|&won| {
        if won {
            changes::local(db, Change::deliveries(w.tenant_id));
        }
    })
}

/// A delivery claimed for sending, with its endpoint.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Due {
    pub id: Uuid,
    pub event_id: Uuid,
    pub event: String,
    pub payload: Json<Value>,
    pub attempts: i32,
    pub created_at: OffsetDateTime,
    pub kind: String,
    pub target: String,
    pub secret: Option<String>,
}

const CLAIM_POSTGRES: &str = "UPDATE notification_deliveries SET claimed_until = $1, claimed_by = $4
     WHERE id IN (SELECT id FROM notification_deliveries
                  WHERE status = 'pending' AND next_attempt_at <= $2 AND (claimed_until IS NULL OR claimed_until < $2)
                  ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED)
     RETURNING id";
const CLAIM_SQLITE: &str = "UPDATE notification_deliveries SET claimed_until = $1, claimed_by = $4
     WHERE id IN (SELECT id FROM notification_deliveries
                  WHERE status = 'pending' AND next_attempt_at <= $2 AND (claimed_until IS NULL OR claimed_until < $2)
                  ORDER BY next_attempt_at LIMIT $3)
     RETURNING id";

/// Claims up to `limit` due deliveries until `until`: no other replica takes them
/// meanwhile; one that is not settled by then is due again (its sender died).
pub async fn claim_due(
    db: &Db,
    replica: &str,
    now: OffsetDateTime,
    until: OffsetDateTime,
    limit: i64,
) -> Result<Vec<Due>, sqlx::Error> {
    let sql = match db {
        Db::Postgres(_) => CLAIM_POSTGRES,
        Db::Sqlite(_) => CLAIM_SQLITE,
    };
    on_db!(db, |p| {
        let ids: Vec<(Uuid,)> = sqlx::query_as(sql)
            .bind(until)
            .bind(now)
            .bind(limit)
            .bind(replica)
            .fetch_all(p)
            .await?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // What was claimed, with its endpoint, in one query (`limit` IDs at most).
        let mut qb = sqlx::QueryBuilder::new(
            "SELECT d.id, d.event_id, d.event, d.payload, d.attempts, d.created_at, e.kind, e.target, e.secret
             FROM notification_deliveries d JOIN notification_endpoints e ON e.id = d.endpoint_id WHERE d.id IN (",
        );
        let mut list = qb.separated(", ");
        for (id,) in &ids {
            list.push_bind(*id);
        }
        qb.push(") ORDER BY d.next_attempt_at");
        qb.build_query_as::<Due>().fetch_all(p).await
    })
}

/// Gives back what `replica`'s previous life had claimed (it was killed while sending):
/// due again at once, not when the claim runs out.
pub async fn release_claims(db: &Db, replica: &str) -> Result<u64, sqlx::Error> {
    db_execute!(db, |p| {
        sqlx::query(
        "UPDATE notification_deliveries SET claimed_until = NULL, claimed_by = NULL WHERE claimed_by = $1 AND status = 'pending'"
    )
    .bind(replica)
    .execute(p)
    .await
    })
}

/// Gives back every claim: for a database this server has alone (SQLite), where any
/// claim is a previous life's.
pub async fn release_all_claims(db: &Db) -> Result<u64, sqlx::Error> {
    db_execute!(db, |p| {
        sqlx::query(
        "UPDATE notification_deliveries SET claimed_until = NULL, claimed_by = NULL WHERE claimed_by IS NOT NULL AND status = 'pending'"
    )
    .execute(p)
    .await
    })
}

/// Records a delivery's success.
pub async fn delivered(db: &Db, id: Uuid, now: OffsetDateTime) -> Result<(), sqlx::Error> {
    db_execute!(db, |p| {
        sqlx::query(
        "UPDATE notification_deliveries SET status = 'delivered', attempts = attempts + 1, delivered_at = $1, claimed_until = NULL, claimed_by = NULL WHERE id = $2"
    )
    .bind(now)
    .bind(id)
    .execute(p)
    .await
    })?;
    delivery_changed(db, id).await;
    Ok(())
}

/// Records a failed attempt: tried again at `retry_at`, or given up (`None`).
pub async fn attempt_failed(
    db: &Db,
    id: Uuid,
    error: &str,
    retry_at: Option<OffsetDateTime>,
) -> Result<(), sqlx::Error> {
    match retry_at {
        Some(at) => db_execute!(db, |p| {
            sqlx::query(
            "UPDATE notification_deliveries SET attempts = attempts + 1, last_error = $1, next_attempt_at = $2, claimed_until = NULL, claimed_by = NULL WHERE id = $3"
        )
        .bind(error)
        .bind(at)
        .bind(id)
        .execute(p)
        .await
        })?,
        None => db_execute!(db, |p| {
            sqlx::query(
            "UPDATE notification_deliveries SET status = 'failed', attempts = attempts + 1, last_error = $1, claimed_until = NULL, claimed_by = NULL WHERE id = $2"
        )
        .bind(error)
        .bind(id)
        .execute(p)
        .await
        })?,
    };
    delivery_changed(db, id).await;
    Ok(())
}

/// A delivery as the log shows it.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = NotificationDelivery)]
pub struct Delivery {
    pub id: Uuid,
    pub endpoint_id: Uuid,
    /// The endpoint's kind and target, for the log.
    pub kind: String,
    pub target: String,
    /// The same for every endpoint told of one event.
    pub event_id: Uuid,
    pub event: String,
    /// `pending` (tried again at `next_attempt_at`), `delivered`, or `failed` (given up).
    pub status: String,
    pub attempts: i32,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub next_attempt_at: OffsetDateTime,
    /// Why the last failed attempt failed.
    pub last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub delivered_at: Option<OffsetDateTime>,
}

/// The tenant's newest deliveries, of one endpoint and/or status when given.
pub async fn deliveries(
    db: &Db,
    tenant_id: Uuid,
    endpoint_id: Option<Uuid>,
    status: Option<&str>,
    limit: i64,
) -> Result<Vec<Delivery>, sqlx::Error> {
    on_db!(db, |p| {
        let mut qb = sqlx::QueryBuilder::new(
            "SELECT d.id, d.endpoint_id, e.kind, e.target, d.event_id, d.event, d.status, d.attempts, d.next_attempt_at, d.last_error, d.created_at, d.delivered_at
             FROM notification_deliveries d JOIN notification_endpoints e ON e.id = d.endpoint_id WHERE d.tenant_id = ",
        );
        qb.push_bind(tenant_id);
        if let Some(e) = endpoint_id {
            qb.push(" AND d.endpoint_id = ").push_bind(e);
        }
        if let Some(s) = status {
            qb.push(" AND d.status = ").push_bind(s.to_owned());
        }
        qb.push(" ORDER BY d.created_at DESC, d.id LIMIT ")
            .push_bind(limit);
        qb.build_query_as::<Delivery>().fetch_all(p).await
    })
}

/// Removes settled deliveries older than `before`.
pub async fn sweep(db: &Db, before: OffsetDateTime) -> Result<u64, sqlx::Error> {
    db_execute!(db, |p| sqlx::query(
        "DELETE FROM notification_deliveries WHERE status <> 'pending' AND created_at < $1"
    )
    .bind(before)
    .execute(p)
    .await)
}

/// Notes that an agent of `sync_id` is (or was until now) connected.
pub async fn agent_seen(db: &Db, sync_id: Uuid, at: OffsetDateTime) -> Result<(), sqlx::Error> {
    db_execute!(db, |p| sqlx::query(
        "UPDATE synchronizations SET agent_last_seen_at = $1 WHERE id = $2"
    )
    .bind(at)
    .bind(sync_id)
    .execute(p)
    .await)?;
    Ok(())
}
