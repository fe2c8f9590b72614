//! Deciding on deletions held by the deletion guard: approving applies exactly the
//! held list, once; rejecting drops it.

use crate::db::Db;
use crate::db::runs::{self, Decision, Run};
use crate::vocabulary::{Operation, Outcome};
use adc_shared::protocol::RunCounts;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    #[error("a newer run exists, so this list may be stale; reject it and act on the newer run")]
    Stale,
    #[error("the run was decided meanwhile")]
    DecidedMeanwhile,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

pub async fn decide(db: &Db, run: &Run, approve: bool, by: &str) -> Result<(), DecideError> {
    if approve && runs::newer_exists(db, run).await? {
        return Err(DecideError::Stale);
    }
    let held = runs::held_changes(db, run.id).await?;
    let users_of = |op: Operation| -> Vec<Uuid> {
        held.iter()
            .filter(|(_, o)| *o == op)
            .filter_map(|(id, _)| *id)
            .collect()
    };
    let (deletes, disables) = if approve {
        (users_of(Operation::Delete), users_of(Operation::Disable))
    } else {
        (Vec::new(), Vec::new())
    };
    let mut counts: RunCounts = run.counts.0;
    let (outcome, decision) = if approve {
        counts.deleted += deletes.len() as u64;
        counts.disabled += disables.len() as u64;
        counts.held = 0;
        (Outcome::Approved, format!("approved by {by}"))
    } else {
        (Outcome::Rejected, format!("rejected by {by}"))
    };
    let d = Decision {
        delete: &deletes,
        disable: &disables,
        outcome,
        decision,
        counts,
    };
    if runs::decide(db, run, d).await? {
        Ok(())
    } else {
        Err(DecideError::DecidedMeanwhile)
    }
}
