//! Writing a plan: each batch in one transaction, one statement per kind of row
//! (DESIGN §9: never a round trip or a commit per user).

mod bulk;

use super::plan::{BatchPlan, DeletionPlan};
use crate::db::{Db, now};
use crate::on_db;
use adc_shared::protocol::RunCounts;
use bulk::Bulk;
use sqlx::types::Json;
use uuid::Uuid;

/// Rows per IN list: well under SQLite's 32766 bound variables.
const ROWS: usize = 500;

/// Where a run stands while its batches are written.
pub struct Progress<'a> {
    pub run_id: Uuid,
    pub tenant_id: Uuid,
    pub sync_id: Uuid,
    /// The next change-list sequence number; advanced by what is written.
    pub next_seq: &'a mut i64,
    /// The run's counts after this write, stored with it.
    pub counts: &'a RunCounts,
}

/// Applies a batch plan and records its changes and the run's counts atomically.
pub async fn write_batch(db: &Db, at: Progress<'_>, plan: &BatchPlan) -> Result<(), sqlx::Error> {
    let t = now();
    let first_seq = *at.next_seq;
    on_db!(db, |p| {
        let mut tx = p.begin().await?;
        tx.relax().await?;
        tx.insert_users(at.tenant_id, at.sync_id, t, &plan.inserts)
            .await?;
        tx.update_users(at.tenant_id, at.sync_id, t, &plan.updates)
            .await?;
        tx.insert_changes(at.run_id, first_seq, &plan.changes)
            .await?;
        sqlx::query("UPDATE runs SET counts = $1 WHERE id = $2")
            .bind(Json(at.counts))
            .bind(at.run_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    })?;
    *at.next_seq += plan.changes.len() as i64;
    Ok(())
}

/// Applies a deletion plan (deletes, disables, or only the change rows when held,
/// skipped or planned) in one transaction per call.
pub async fn write_deletions(
    db: &Db,
    at: Progress<'_>,
    plan: &DeletionPlan,
) -> Result<(), sqlx::Error> {
    let t = now();
    let first_seq = *at.next_seq;
    on_db!(db, |p| {
        let mut tx = p.begin().await?;
        tx.relax().await?;
        for chunk in plan.delete.chunks(ROWS) {
            let mut qb = sqlx::QueryBuilder::new("DELETE FROM users WHERE tenant_id = ");
            qb.push_bind(at.tenant_id)
                .push(" AND synchronization_id = ")
                .push_bind(at.sync_id)
                .push(" AND id IN (");
            let mut sep = qb.separated(", ");
            for id in chunk {
                sep.push_bind(*id);
            }
            qb.push(")");
            qb.build().execute(&mut *tx).await?;
        }
        for chunk in plan.disable.chunks(ROWS) {
            let mut qb = sqlx::QueryBuilder::new("UPDATE users SET enabled = ");
            qb.push_bind(false)
                .push(", removed_from_source = ")
                .push_bind(true)
                .push(", updated_at = ")
                .push_bind(t);
            qb.push(" WHERE tenant_id = ")
                .push_bind(at.tenant_id)
                .push(" AND synchronization_id = ")
                .push_bind(at.sync_id);
            qb.push(" AND id IN (");
            let mut sep = qb.separated(", ");
            for id in chunk {
                sep.push_bind(*id);
            }
            qb.push(")");
            qb.build().execute(&mut *tx).await?;
        }
        tx.insert_changes(at.run_id, first_seq, &plan.changes)
            .await?;
        sqlx::query("UPDATE runs SET counts = $1 WHERE id = $2")
            .bind(Json(at.counts))
            .bind(at.run_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    })?;
    *at.next_seq += plan.changes.len() as i64;
    Ok(())
}
