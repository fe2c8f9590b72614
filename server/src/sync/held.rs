//! Deciding on deletions held by the deletion guard: approving applies exactly the
//! held list, once; rejecting drops it.

use crate::db::Db;
use crate::db::runs::{self, Decision, Run};
use crate::vocabulary::{Operation, Outcome, Subject};
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
    let held = if approve {
        runs::held_changes(db, run.id).await?
    } else {
        Vec::new()
    };
    let pick = |subject: Subject, op: Operation| -> Vec<Uuid> {
        held.iter()
            .filter(|h| h.subject == subject && h.operation == op)
            .filter_map(|h| match subject {
                Subject::Group => h.group_id,
                _ => h.user_id,
            })
            .collect()
    };
    let (deletes, disables) = (
        pick(Subject::User, Operation::Delete),
        pick(Subject::User, Operation::Disable),
    );
    let (group_deletes, group_disables) = (
        pick(Subject::Group, Operation::Delete),
        pick(Subject::Group, Operation::Disable),
    );
    let removals = held
        .iter()
        .filter(|h| h.subject == Subject::Membership && h.operation == Operation::RemoveMember);
    let remove_users: Vec<(Uuid, Uuid)> = removals
        .clone()
        .filter_map(|h| Some((h.group_id?, h.user_id?)))
        .collect();
    let remove_nested: Vec<(Uuid, Uuid)> = removals
        .filter_map(|h| Some((h.group_id?, h.member_group_id?)))
        .collect();
    let mut counts: RunCounts = run.counts.0;
    let (outcome, decision) = if approve {
        counts.deleted += deletes.len() as u64;
        counts.disabled += disables.len() as u64;
        counts.groups_deleted += group_deletes.len() as u64;
        counts.groups_disabled += group_disables.len() as u64;
        counts.members_removed += (remove_users.len() + remove_nested.len()) as u64;
        counts.held = 0;
        (Outcome::Approved, format!("approved by {by}"))
    } else {
        (Outcome::Rejected, format!("rejected by {by}"))
    };
    let d = Decision {
        delete: &deletes,
        disable: &disables,
        delete_groups: &group_deletes,
        disable_groups: &group_disables,
        remove_users: &remove_users,
        remove_nested: &remove_nested,
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
