//! Deciding on deletions held by the deletion guard (DESIGN §4): approving applies
//! exactly the held list, once; rejecting drops it.

use crate::db::runs::Run;
use crate::db::{Db, now};
use crate::error::{ApiError, ApiResult};
use crate::on_db;
use crate::sync::apply::remove_users;
use adc_shared::protocol::RunCounts;
use sqlx::types::Json;
use uuid::Uuid;

pub async fn decide(db: &Db, run: &Run, approve: bool, by: &str) -> ApiResult<()> {
    let newer = on_db!(db, |p| sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM runs WHERE synchronization_id = $1 AND started_at > $2"
    )
    .bind(run.synchronization_id)
    .bind(run.started_at)
    .fetch_one(p)
    .await)?;
    if approve && newer > 0 {
        return Err(ApiError::Conflict(
            "a newer run exists, so this list may be stale; reject it and act on the newer run"
                .into(),
        ));
    }
    let held = on_db!(db, |p| {
        sqlx::query_as::<_, (Option<Uuid>, String)>(
        "SELECT user_id, operation FROM run_changes WHERE run_id = $1 AND outcome = 'held' ORDER BY seq"
    )
    .bind(run.id)
    .fetch_all(p)
    .await
    })?;
    let deletes: Vec<Uuid> = held
        .iter()
        .filter(|(_, op)| op == "delete")
        .filter_map(|(id, _)| *id)
        .collect();
    let disables: Vec<Uuid> = held
        .iter()
        .filter(|(_, op)| op == "disable")
        .filter_map(|(id, _)| *id)
        .collect();
    let mut counts: RunCounts = run.counts.0;
    let (outcome, decision) = if approve {
        counts.deleted += deletes.len() as u64;
        counts.disabled += disables.len() as u64;
        counts.held = 0;
        ("applied (approved)", format!("approved by {by}"))
    } else {
        ("rejected", format!("rejected by {by}"))
    };
    let t = now();
    on_db!(db, |p| {
        let mut tx = p.begin().await?;
        if approve {
            remove_users!(
                tx,
                run.tenant_id,
                run.synchronization_id,
                &deletes,
                &disables,
                t
            );
        }
        sqlx::query("UPDATE run_changes SET outcome = $1 WHERE run_id = $2 AND outcome = 'held'")
            .bind(outcome)
            .bind(run.id)
            .execute(&mut *tx)
            .await?;
        let updated = sqlx::query("UPDATE runs SET status = 'succeeded', decision = $1, counts = $2 WHERE id = $3 AND status = 'held'")
            .bind(&decision)
            .bind(Json(counts))
            .bind(run.id)
            .execute(&mut *tx)
            .await?;
        if updated.rows_affected() != 1 {
            // Decided concurrently by someone else: change nothing.
            tx.rollback().await?;
            return Err(ApiError::Conflict("the run was decided meanwhile".into()));
        }
        tx.commit().await?;
        Ok::<(), ApiError>(())
    })
}
