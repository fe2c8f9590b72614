//! Runs and their change lists (architecture §5.3).

use super::changes::{self, Change as PageChange};
use super::writes::{
    ADD_COUNTS_POSTGRES, ADD_COUNTS_SQLITE, FieldChange, remove_groups, remove_users,
};
use super::{Db, now};
use crate::vocabulary::{Operation, Outcome, ReadKind, RunPhase, RunStatus, Subject, Trigger};
use crate::{db_execute, on_db};
use adc_shared::EffectiveSettings;
use adc_shared::protocol::RunCounts;
use serde::Serialize;
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Run {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub synchronization_id: Uuid,
    pub status: RunStatus,
    pub trigger_source: Trigger,
    pub triggered_by: String,
    pub dry_run: bool,
    pub full_resync: bool,
    pub settings: Json<EffectiveSettings>,
    pub connection_id: Option<Uuid>,
    pub read_complete: bool,
    pub counts: Json<RunCounts>,
    pub error: Option<String>,
    /// Why the deletion guard held the run's deletions, with the numbers.
    pub held_reason: Option<String>,
    /// While running: its phase, entries read so far, and the manifest's size.
    pub phase: Option<RunPhase>,
    pub read_so_far: Option<i64>,
    pub expected: Option<i64>,
    pub decision: Option<String>,
    /// Which kind of read the run did, and why (a full read's cause; a delta read's
    /// deletions that wait for the next full read).
    pub read_kind: Option<ReadKind>,
    pub read_reason: Option<String>,
    pub started_at: OffsetDateTime,
    pub finished_at: Option<OffsetDateTime>,
}

macro_rules! select_run {
    ($rest:literal) => {
        concat!(
            "SELECT id, tenant_id, synchronization_id, status, trigger_source, triggered_by, dry_run, full_resync, settings, connection_id, read_complete, counts, error, held_reason, phase, read_so_far, expected, decision, read_kind, read_reason, started_at, finished_at FROM runs ",
            $rest
        )
    };
}

/// Tells this process's pages that run `id` changed. Only SQLite needs it: on
/// PostgreSQL the triggers tell every replica (see `changes`).
async fn changed(db: &Db, id: Uuid) {
    let Db::Sqlite(p) = db else {
        return;
    };
    let row: Result<Option<(Uuid, Uuid)>, _> =
        sqlx::query_as("SELECT tenant_id, synchronization_id FROM runs WHERE id = $1")
            .bind(id)
            .fetch_optional(p)
            .await;
    if let Ok(Some((tenant, sync))) = row {
        changes::local(db, PageChange::run(tenant, sync, id));
    }
}

/// Says that run `id` changed when `done`; passes `done` on.
async fn changed_if(db: &Db, id: Uuid, done: bool) -> Result<bool, sqlx::Error> {
    if done {
        changed(db, id).await;
    }
    Ok(done)
}

/// Records a new running run; a unique violation means another run is active.
pub async fn insert(db: &Db, r: &Run) -> Result<(), sqlx::Error> {
    db_execute!(db, |p| {
        sqlx::query(
        "INSERT INTO runs (id, tenant_id, synchronization_id, status, trigger_source, triggered_by, dry_run, full_resync, settings, connection_id, read_complete, counts, error, decision, phase, started_at, finished_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, NULL, NULL, $13, $14, NULL)"
    )
    .bind(r.id)
    .bind(r.tenant_id)
    .bind(r.synchronization_id)
    .bind(r.status)
    .bind(r.trigger_source)
    .bind(&r.triggered_by)
    .bind(r.dry_run)
    .bind(r.full_resync)
    .bind(r.settings)
    .bind(r.connection_id)
    .bind(r.read_complete)
    .bind(r.counts)
    .bind(r.phase)
    .bind(r.started_at)
    .execute(p)
    .await
    })?;
    changes::local(db, PageChange::run(r.tenant_id, r.synchronization_id, r.id));
    Ok(())
}

pub async fn get(db: &Db, tenant_id: Uuid, id: Uuid) -> Result<Option<Run>, sqlx::Error> {
    on_db!(db, |p| sqlx::query_as::<_, Run>(select_run!(
        "WHERE tenant_id = $1 AND id = $2"
    ))
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(p)
    .await)
}

/// A run by ID alone: for a run this server's own notification names.
pub async fn by_id(db: &Db, id: Uuid) -> Result<Option<Run>, sqlx::Error> {
    on_db!(db, |p| sqlx::query_as::<_, Run>(select_run!(
        "WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(p)
    .await)
}

/// Running runs assigned to these agent connections (PostgreSQL: replicas only).
pub async fn running_on(db: &Db, conns: &[Uuid]) -> Result<Vec<Run>, sqlx::Error> {
    match db {
        Db::Postgres(p) => {
            sqlx::query_as::<_, Run>(select_run!("WHERE status = $1 AND connection_id = ANY($2)"))
                .bind(RunStatus::Running)
                .bind(conns)
                .fetch_all(p)
                .await
        }
        Db::Sqlite(_) => Ok(Vec::new()),
    }
}

pub async fn active_for_sync(db: &Db, sync_id: Uuid) -> Result<Option<Uuid>, sqlx::Error> {
    on_db!(db, |p| sqlx::query_scalar::<_, Uuid>(
        "SELECT id FROM runs WHERE synchronization_id = $1 AND status = $2"
    )
    .bind(sync_id)
    .bind(RunStatus::Running)
    .fetch_optional(p)
    .await)
}

/// The newest run of each synchronization of a tenant, for the list view.
pub async fn latest_per_sync(db: &Db, tenant_id: Uuid) -> Result<Vec<Run>, sqlx::Error> {
    on_db!(db, |p| {
        sqlx::query_as::<_, Run>(select_run!(
        "r WHERE tenant_id = $1 AND started_at = (SELECT MAX(started_at) FROM runs WHERE synchronization_id = r.synchronization_id)"
    ))
    .bind(tenant_id)
    .fetch_all(p)
    .await
    })
}

/// The runs of a synchronization, newest first.
pub async fn list(
    db: &Db,
    tenant_id: Uuid,
    sync_id: Uuid,
    limit: i64,
) -> Result<Vec<Run>, sqlx::Error> {
    on_db!(db, |p| sqlx::query_as::<_, Run>(select_run!(
        "WHERE tenant_id = $1 AND synchronization_id = $2 ORDER BY started_at DESC, id LIMIT $3"
    ))
    .bind(tenant_id)
    .bind(sync_id)
    .bind(limit)
    .fetch_all(p)
    .await)
}

/// Marks the read complete and adds `delta` (what the read itself counts: entries
/// read, those unchanged) to the run's counts.
pub async fn set_read_complete(db: &Db, id: Uuid, delta: &RunCounts) -> Result<(), sqlx::Error> {
    // Its counts are what the page shows; `add_counts` tells it.
    add_counts(db, id, delta).await?;
    db_execute!(db, |p| sqlx::query(
        "UPDATE runs SET read_complete = $1 WHERE id = $2"
    )
    .bind(true)
    .bind(id)
    .execute(p)
    .await)?;
    Ok(())
}

/// Where a running run stands: its phase, and (when known) the entries read so far and
/// the manifest's size. A run that ended is left alone.
pub async fn set_progress(
    db: &Db,
    id: Uuid,
    phase: RunPhase,
    read_so_far: Option<u64>,
    expected: Option<u64>,
) -> Result<(), sqlx::Error> {
    db_execute!(db, |p| {
        sqlx::query(
        "UPDATE runs SET phase = $1, read_so_far = COALESCE($2, read_so_far), expected = COALESCE($3, expected) WHERE id = $4 AND status = $5"
    )
    .bind(phase)
    .bind(read_so_far.map(|n| n as i64))
    .bind(expected.map(|n| n as i64))
    .bind(id)
    .bind(RunStatus::Running)
    .execute(p)
    .await
    })?;
    changed(db, id).await;
    Ok(())
}

/// Records which kind of read a running run does, and why.
pub async fn set_read(
    db: &Db,
    id: Uuid,
    kind: ReadKind,
    reason: Option<&str>,
) -> Result<(), sqlx::Error> {
    db_execute!(db, |p| sqlx::query(
        "UPDATE runs SET read_kind = $1, read_reason = $2 WHERE id = $3"
    )
    .bind(kind)
    .bind(reason)
    .bind(id)
    .execute(p)
    .await)?;
    changed(db, id).await;
    Ok(())
}

/// Adds `delta` to a running run's counts.
pub async fn add_counts(db: &Db, id: Uuid, delta: &RunCounts) -> Result<(), sqlx::Error> {
    let sql = match db {
        Db::Postgres(_) => ADD_COUNTS_POSTGRES,
        Db::Sqlite(_) => ADD_COUNTS_SQLITE,
    };
    db_execute!(db, |p| sqlx::query(sql)
        .bind(Json(delta))
        .bind(id)
        .bind(RunStatus::Running)
        .execute(p)
        .await)?;
    changed(db, id).await;
    Ok(())
}

/// Gives a running run to another agent connection; false when it is not running.
pub async fn reassign(db: &Db, id: Uuid, connection_id: Uuid) -> Result<bool, sqlx::Error> {
    db_execute!(db, |p| sqlx::query(
        "UPDATE runs SET connection_id = $1 WHERE id = $2 AND status = $3"
    )
    .bind(connection_id)
    .bind(id)
    .bind(RunStatus::Running)
    .execute(p)
    .await)
    .map(|n| n == 1)
}

/// Ends a running run as failed with `reason`, keeping the counts its committed writes
/// stored; returns false when it had ended already.
pub async fn fail(db: &Db, id: Uuid, reason: &str) -> Result<bool, sqlx::Error> {
    let done = db_execute!(db, |p| {
        sqlx::query(
        "UPDATE runs SET status = $1, error = $2, finished_at = $3 WHERE id = $4 AND status = $5"
    )
    .bind(RunStatus::Failed)
    .bind(reason)
    .bind(now())
    .bind(id)
    .bind(RunStatus::Running)
    .execute(p)
    .await
    })
    .map(|n| n == 1)?;
    changed_if(db, id, done).await
}

/// Cancels a running run of `tenant_id` (REST): it ends `cancelled` now, with the counts
/// its committed writes stored; a write still in flight finds it no longer running and
/// rolls back. False when the run was not running.
pub async fn cancel(db: &Db, tenant_id: Uuid, id: Uuid, by: &str) -> Result<bool, sqlx::Error> {
    let done = db_execute!(db, |p| sqlx::query(
        "UPDATE runs SET status = $1, error = $2, finished_at = $3 WHERE id = $4 AND tenant_id = $5 AND status = $6"
    )
    .bind(RunStatus::Cancelled)
    .bind(format!("cancelled by {by}"))
    .bind(now())
    .bind(id)
    .bind(tenant_id)
    .bind(RunStatus::Running)
    .execute(p)
    .await)
    .map(|n| n == 1)?;
    changed_if(db, id, done).await
}

/// A run's status and stored counts, as its writes left them.
pub async fn status_and_counts(
    db: &Db,
    id: Uuid,
) -> Result<Option<(RunStatus, RunCounts)>, sqlx::Error> {
    let row: Option<(RunStatus, Json<RunCounts>)> = on_db!(db, |p| {
        sqlx::query_as("SELECT status, counts FROM runs WHERE id = $1")
            .bind(id)
            .fetch_optional(p)
            .await
    })?;
    Ok(row.map(|(s, c)| (s, c.0)))
}

/// Ends a run that is still running (held: with the guard's reason); returns false
/// when it had ended already.
pub async fn finish(
    db: &Db,
    id: Uuid,
    status: RunStatus,
    counts: &RunCounts,
    held_reason: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let done = db_execute!(db, |p| sqlx::query(
        "UPDATE runs SET status = $1, counts = $2, held_reason = $3, finished_at = $4 WHERE id = $5 AND status = $6"
    )
    .bind(status)
    .bind(Json(counts))
    .bind(held_reason)
    .bind(now())
    .bind(id)
    .bind(RunStatus::Running)
    .execute(p)
    .await)
    .map(|n| n == 1)?;
    changed_if(db, id, done).await
}

/// Fails every running run whose agent connection is gone: the server restarted or a
/// replica died mid-run (architecture §5.3 step 8).
pub async fn fail_orphans(db: &Db, reason: &str) -> Result<u64, sqlx::Error> {
    db_execute!(db, |p| {
        sqlx::query(
        "UPDATE runs SET status = $4, error = $1, finished_at = $2
         WHERE status = $3 AND (connection_id IS NULL OR connection_id NOT IN (SELECT id FROM agent_connections))"
    )
    .bind(reason)
    .bind(now())
    .bind(RunStatus::Running)
    .bind(RunStatus::Failed)
    .execute(p)
    .await
    })
}

/// One row of a run's change list.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Change {
    pub seq: i64,
    /// What the change is about: a user, a group, or a membership (group → member).
    pub subject: Subject,
    /// The user; for a membership, the member when it is a user.
    pub user_id: Option<Uuid>,
    pub external_id: Option<String>,
    /// The user's name; for a group change the group's, for a membership the member's.
    pub username: String,
    pub operation: Operation,
    pub outcome: Outcome,
    /// The group of a group or membership change.
    pub group_id: Option<Uuid>,
    /// Its name.
    #[sqlx(rename = "group_name")]
    pub group: Option<String>,
    /// For a membership, the member when it is a group.
    pub member_group_id: Option<Uuid>,
    /// For an update: the fields it changes, old → new.
    #[schema(value_type = Option<Vec<FieldChange>>)]
    pub fields: Option<Json<Vec<FieldChange>>>,
}

/// Which of a run's changes to list; `None` leaves a filter out.
#[derive(Default)]
pub struct ChangeFilter<'a> {
    pub subject: Option<Subject>,
    pub operation: Option<Operation>,
    /// A prefix: `skipped` matches `skipped: no-create`.
    pub outcome: Option<&'a str>,
    /// Part of the name or external ID, any case.
    pub search: Option<&'a str>,
}

/// A page of changes after `after` (a seq) that pass `filter`.
pub async fn changes(
    db: &Db,
    run_id: Uuid,
    filter: &ChangeFilter<'_>,
    after: i64,
    limit: i64,
) -> Result<Vec<Change>, sqlx::Error> {
    on_db!(db, |p| {
        let mut qb = sqlx::QueryBuilder::new(
            "SELECT seq, subject, user_id, external_id, username, operation, outcome, group_id, group_name, member_group_id, fields FROM run_change_list WHERE run_id = ",
        );
        // `row_seq` (the stored row's, its last change's) lets the key find the rows;
        // `seq` drops a row's changes up to `after`.
        qb.push_bind(run_id)
            .push(" AND row_seq > ")
            .push_bind(after)
            .push(" AND seq > ")
            .push_bind(after);
        if let Some(s) = filter.subject {
            qb.push(" AND subject = ").push_bind(s);
        }
        if let Some(op) = filter.operation {
            qb.push(" AND operation = ").push_bind(op);
        }
        if let Some(o) = filter.outcome {
            // A prefix: `skipped` matches `skipped: no-create`, `applied` matches
            // `applied (approved)`. LIKE's wildcards in the filter are taken literally.
            let prefix = super::like_escape(o);
            qb.push(" AND outcome LIKE ")
                .push_bind(format!("{prefix}%"))
                .push(" ESCAPE '\\'");
        }
        if let Some(q) = filter.search {
            // Anywhere in the name (the user's, group's or member's) or the external ID.
            let pattern = format!("%{}%", super::like_escape(&q.to_lowercase()));
            qb.push(" AND (lower(username) LIKE ")
                .push_bind(pattern.clone())
                .push(" ESCAPE '\\' OR lower(external_id) LIKE ")
                .push_bind(pattern)
                .push(" ESCAPE '\\')");
        }
        qb.push(" ORDER BY row_seq, ord LIMIT ").push_bind(limit);
        qb.build_query_as::<Change>().fetch_all(p).await
    })
}

/// How far back the runs that touched a user or group are looked for: the tenant's
/// newest runs.
pub const TOUCHING_RUNS_SCANNED: i64 = 50;

/// What a run may have touched.
#[derive(Clone, Copy)]
pub enum Touched {
    User(Uuid),
    /// A group, or its memberships.
    Group(Uuid),
}

/// Which of the tenant's newest [`TOUCHING_RUNS_SCANNED`] runs changed (or planned,
/// held, skipped…) `what`, newest first: each run's change list is read through its
/// primary key, never the whole table.
pub async fn touching(db: &Db, tenant_id: Uuid, what: Touched) -> Result<Vec<Run>, sqlx::Error> {
    let (sql, id) = match what {
        Touched::User(id) => (
            select_run!(
                "r WHERE r.id IN (SELECT id FROM runs WHERE tenant_id = $1 ORDER BY started_at DESC LIMIT $3)
                   AND EXISTS (SELECT 1 FROM run_change_list c WHERE c.run_id = r.id AND c.user_id = $2)
                 ORDER BY r.started_at DESC"
            ),
            id,
        ),
        Touched::Group(id) => (
            select_run!(
                "r WHERE r.id IN (SELECT id FROM runs WHERE tenant_id = $1 ORDER BY started_at DESC LIMIT $3)
                   AND EXISTS (SELECT 1 FROM run_changes c WHERE c.run_id = r.id AND (c.group_id = $2 OR c.member_group_id = $2))
                 ORDER BY r.started_at DESC"
            ),
            id,
        ),
    };
    on_db!(db, |p| {
        sqlx::query_as::<_, Run>(sql)
            .bind(tenant_id)
            .bind(id)
            .bind(TOUCHING_RUNS_SCANNED)
            .fetch_all(p)
            .await
    })
}

/// Whether a run of the same synchronization started after `run`.
pub async fn newer_exists(db: &Db, run: &Run) -> Result<bool, sqlx::Error> {
    let n = on_db!(db, |p| sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM runs WHERE synchronization_id = $1 AND started_at > $2"
    )
    .bind(run.synchronization_id)
    .bind(run.started_at)
    .fetch_one(p)
    .await)?;
    Ok(n > 0)
}

/// One held change: what it is about and what it does.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Held {
    pub subject: Subject,
    pub operation: Operation,
    pub user_id: Option<Uuid>,
    pub group_id: Option<Uuid>,
    pub member_group_id: Option<Uuid>,
}

/// A run's held changes, in order.
pub async fn held_changes(db: &Db, run_id: Uuid) -> Result<Vec<Held>, sqlx::Error> {
    on_db!(db, |p| {
        sqlx::query_as::<_, Held>(
        "SELECT subject, operation, user_id, group_id, member_group_id FROM run_change_list WHERE run_id = $1 AND outcome = $2 ORDER BY row_seq, ord"
    )
    .bind(run_id)
    .bind(Outcome::Held)
    .fetch_all(p)
    .await
    })
}

/// What deciding on a held run writes: the users removed on approval, the held
/// changes' new outcome, and the run's decision and counts.
pub struct Decision<'a> {
    pub delete: &'a [Uuid],
    pub disable: &'a [Uuid],
    pub delete_groups: &'a [Uuid],
    pub disable_groups: &'a [Uuid],
    pub remove_users: &'a [(Uuid, Uuid)],
    pub remove_nested: &'a [(Uuid, Uuid)],
    pub outcome: Outcome,
    pub decision: String,
    pub counts: RunCounts,
}

/// Records a decision on a held run in one transaction; false (and nothing written)
/// when the run is no longer held: decided meanwhile by someone else.
pub async fn decide(db: &Db, run: &Run, d: Decision<'_>) -> Result<bool, sqlx::Error> {
    let t = now();
    let decided = on_db!(db, |p| {
        let mut tx = p.begin().await?;
        remove_users!(
            tx,
            run.tenant_id,
            run.synchronization_id,
            d.delete,
            d.disable,
            t
        );
        remove_groups!(
            tx,
            run.tenant_id,
            run.synchronization_id,
            d.delete_groups,
            d.disable_groups,
            d.remove_users,
            d.remove_nested,
            t
        );
        sqlx::query("UPDATE run_changes SET outcome = $1 WHERE run_id = $2 AND outcome = $3")
            .bind(&d.outcome)
            .bind(run.id)
            .bind(Outcome::Held)
            .execute(&mut *tx)
            .await?;
        let updated = sqlx::query(
            "UPDATE runs SET status = $1, decision = $2, counts = $3 WHERE id = $4 AND status = $5",
        )
        .bind(RunStatus::Succeeded)
        .bind(&d.decision)
        .bind(Json(d.counts))
        .bind(run.id)
        .bind(RunStatus::Held)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        tx.commit().await?;
        Ok::<bool, sqlx::Error>(true)
    })?;
    changed_if(db, run.id, decided).await
}
