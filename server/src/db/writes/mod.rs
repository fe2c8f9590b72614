//! A run's writes: each batch in one transaction, one statement per kind of row
//! (never a round trip or a commit per user), with the run's counts stored in the
//! same transaction.

mod bulk;
mod groups;
mod pgcopy;

pub use groups::{
    GroupBatchWrite, GroupInsert, GroupUpdate, MemberWrite, write_groups, write_members,
};

pub(crate) use bulk::{ADD_COUNTS_POSTGRES, ADD_COUNTS_SQLITE};

use crate::db::users::sort_key;
use crate::db::{Db, now};
use crate::on_db;
use crate::vocabulary::{Operation, Outcome, Subject};
use adc_shared::UserRecord;
use adc_shared::protocol::RunCounts;
use bulk::Bulk;
use uuid::Uuid;

/// Rows per IN list: well under SQLite's 32766 bound variables.
pub(crate) const ROWS: usize = 500;

/// Deletes `$delete` and disables `$disable` (users of one synchronization that left the
/// source) inside the transaction `$tx`, an IN list per chunk. Shared by a run's
/// deletions and the approval of held ones.
macro_rules! remove_users {
    ($tx:ident, $tenant:expr, $sync:expr, $delete:expr, $disable:expr, $at:expr) => {{
        let (delete, disable): (&[uuid::Uuid], &[uuid::Uuid]) = ($delete, $disable);
        for chunk in delete.chunks($crate::db::writes::ROWS) {
            // Their memberships first: PostgreSQL has no foreign key to cascade them.
            let mut qb = sqlx::QueryBuilder::new("DELETE FROM group_users WHERE user_id IN (");
            let mut sep = qb.separated(", ");
            for id in chunk {
                sep.push_bind(*id);
            }
            qb.push(") AND group_id IN (SELECT id FROM groups WHERE tenant_id = ").push_bind($tenant).push(")");
            qb.build().execute(&mut *$tx).await?;
            let mut qb = sqlx::QueryBuilder::new("DELETE FROM users WHERE tenant_id = ");
            qb.push_bind($tenant).push(" AND synchronization_id = ").push_bind($sync).push(" AND id IN (");
            let mut sep = qb.separated(", ");
            for id in chunk {
                sep.push_bind(*id);
            }
            qb.push(")");
            qb.build().execute(&mut *$tx).await?;
        }
        for chunk in disable.chunks($crate::db::writes::ROWS) {
            let mut qb = sqlx::QueryBuilder::new("UPDATE users SET enabled = ");
            qb.push_bind(false).push(", removed_from_source = ").push_bind(true).push(", updated_at = ").push_bind($at);
            qb.push(" WHERE tenant_id = ").push_bind($tenant).push(" AND synchronization_id = ").push_bind($sync);
            qb.push(" AND id IN (");
            let mut sep = qb.separated(", ");
            for id in chunk {
                sep.push_bind(*id);
            }
            qb.push(")");
            qb.build().execute(&mut *$tx).await?;
        }
    }};
}
pub(crate) use remove_users;

/// Deletes `$delete` and marks `$disable` removed from the source (groups of one
/// synchronization that left it), and removes the memberships `$users` (group, user)
/// and `$nested` (parent, child), inside the transaction `$tx`. Shared by a run's
/// deletions and the approval of held ones.
macro_rules! remove_groups {
    ($tx:ident, $tenant:expr, $sync:expr, $delete:expr, $disable:expr, $users:expr, $nested:expr, $at:expr) => {{
        let (delete, disable): (&[uuid::Uuid], &[uuid::Uuid]) = ($delete, $disable);
        let (users, nested): (&[(uuid::Uuid, uuid::Uuid)], &[(uuid::Uuid, uuid::Uuid)]) = ($users, $nested);
        for (table, parent, child, pairs) in [
            ("group_users", "group_id", "user_id", users),
            ("group_groups", "parent_id", "child_id", nested),
        ] {
            for chunk in pairs.chunks($crate::db::writes::ROWS) {
                let mut qb = sqlx::QueryBuilder::new(format!("DELETE FROM {table} WHERE ({parent}, {child}) IN (VALUES "));
                let mut sep = qb.separated(", ");
                for (g, m) in chunk {
                    sep.push("(").push_bind_unseparated(*g).push_unseparated(", ").push_bind_unseparated(*m).push_unseparated(")");
                }
                qb.push(") AND ").push(parent).push(" IN (SELECT id FROM groups WHERE tenant_id = ").push_bind($tenant);
                qb.push(" AND synchronization_id = ").push_bind($sync).push(")");
                qb.build().execute(&mut *$tx).await?;
            }
        }
        for chunk in delete.chunks($crate::db::writes::ROWS) {
            let mut qb = sqlx::QueryBuilder::new("DELETE FROM groups WHERE tenant_id = ");
            qb.push_bind($tenant).push(" AND synchronization_id = ").push_bind($sync).push(" AND id IN (");
            let mut sep = qb.separated(", ");
            for id in chunk {
                sep.push_bind(*id);
            }
            qb.push(")");
            let gone = qb.build().execute(&mut *$tx).await?.rows_affected();
            if gone > 0 {
                // Their edges, either way round: PostgreSQL has no foreign keys to cascade them.
                for q in ["DELETE FROM group_users WHERE group_id IN (", "DELETE FROM group_groups WHERE parent_id IN (", "DELETE FROM group_groups WHERE child_id IN ("] {
                    let mut qb = sqlx::QueryBuilder::new(q);
                    let mut sep = qb.separated(", ");
                    for id in chunk {
                        sep.push_bind(*id);
                    }
                    qb.push(")");
                    qb.build().execute(&mut *$tx).await?;
                }
            }
        }
        for chunk in disable.chunks($crate::db::writes::ROWS) {
            let mut qb = sqlx::QueryBuilder::new("UPDATE groups SET removed_from_source = ");
            qb.push_bind(true).push(", updated_at = ").push_bind($at);
            qb.push(" WHERE tenant_id = ").push_bind($tenant).push(" AND synchronization_id = ").push_bind($sync);
            qb.push(" AND id IN (");
            let mut sep = qb.separated(", ");
            for id in chunk {
                sep.push_bind(*id);
            }
            qb.push(")");
            qb.build().execute(&mut *$tx).await?;
        }
    }};
}
pub(crate) use remove_groups;

/// Adds this write's counts `$at.counts` to the run's in `$tx` and commits: the stored
/// counts are always the sum of the writes that committed, whatever order concurrent
/// writes commit in and whichever are rolled back. A run that stopped running
/// meanwhile (its synchronization deleted) takes nothing: the transaction rolls back.
macro_rules! commit_with_counts {
    ($tx:ident, $at:expr) => {{
        if $tx.add_run_counts($at.run_id, &$at.counts).await? != 1 {
            return Err(sqlx::Error::RowNotFound);
        }
        $tx.commit().await
    }};
}
use commit_with_counts;

/// A new user to insert.
#[derive(Clone, Debug)]
pub struct Insert {
    pub id: Uuid,
    pub record: UserRecord,
    pub hash: String,
    pub enabled: bool,
}

/// A stored user to rewrite from its record.
#[derive(Clone, Debug)]
pub struct Update {
    pub id: Uuid,
    pub record: UserRecord,
    pub hash: String,
    pub enabled: bool,
    /// A user of another provider that this synchronization takes over.
    pub take_over: bool,
}

/// One row of the run's change list: about a user, a group, or a membership (the
/// member is `user_id` or `member_group_id`, named by `username`; its group is
/// `group_id`, named by `group_name`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeRow {
    pub subject: Subject,
    pub user_id: Option<Uuid>,
    pub external_id: Option<String>,
    /// The user's name; a group's for a group change; the member's for a membership.
    pub username: String,
    pub operation: Operation,
    pub outcome: Outcome,
    pub group_id: Option<Uuid>,
    pub group_name: Option<String>,
    pub member_group_id: Option<Uuid>,
    /// What an update changes, field by field; empty for other changes.
    pub fields: Vec<FieldChange>,
}

/// One field an update changes, with its value before and after (null: none).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct FieldChange {
    /// `username`, `email`, `display_name`, `given_name`, `surname`, `enabled`,
    /// `source_dn`, or an extra attribute's name.
    pub field: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

impl ChangeRow {
    /// The same change, saying what it changes.
    pub fn with_fields(mut self, fields: Vec<FieldChange>) -> ChangeRow {
        self.fields = fields;
        self
    }

    /// A change of a user.
    pub fn user(
        user_id: Option<Uuid>,
        external_id: Option<String>,
        username: String,
        operation: Operation,
        outcome: Outcome,
    ) -> ChangeRow {
        ChangeRow {
            subject: Subject::User,
            user_id,
            external_id,
            username,
            operation,
            outcome,
            group_id: None,
            group_name: None,
            member_group_id: None,
            fields: Vec::new(),
        }
    }

    /// A change of a group.
    pub fn group(
        group_id: Option<Uuid>,
        external_id: Option<String>,
        name: &str,
        operation: Operation,
        outcome: Outcome,
    ) -> ChangeRow {
        ChangeRow {
            subject: Subject::Group,
            user_id: None,
            external_id,
            username: name.to_owned(),
            operation,
            outcome,
            group_id,
            group_name: Some(name.to_owned()),
            member_group_id: None,
            fields: Vec::new(),
        }
    }
}

/// What a batch writes: planned by the sync engine, written in one transaction.
#[derive(Debug, Default)]
pub struct BatchWrite {
    pub inserts: Vec<Insert>,
    pub updates: Vec<Update>,
    pub changes: Vec<ChangeRow>,
    pub counts: RunCounts,
    /// Users renamed in this batch whose old name another user of the batch takes:
    /// their name is parked first, so the unique key holds at every step.
    pub vacate: Vec<Uuid>,
}

/// What the deletions of a run write (or, held, only record).
#[derive(Debug, Default)]
pub struct DeletionWrite {
    /// Users to delete outright.
    pub delete: Vec<Uuid>,
    /// Users to disable because they left the source.
    pub disable: Vec<Uuid>,
    /// Groups to delete outright, with their edges.
    pub delete_groups: Vec<Uuid>,
    /// Groups to mark removed from the source (`delete-disables`).
    pub disable_groups: Vec<Uuid>,
    /// Memberships to remove: (group, user) and (parent group, child group).
    pub remove_users: Vec<(Uuid, Uuid)>,
    pub remove_nested: Vec<(Uuid, Uuid)>,
    pub changes: Vec<ChangeRow>,
    pub counts: RunCounts,
    /// Why the guard stopped them, when it did: the run ends `held`.
    pub held: Option<String>,
}

/// Where a run stands when one of its writes is made.
#[derive(Clone, Copy)]
pub struct Progress {
    pub run_id: Uuid,
    pub tenant_id: Uuid,
    pub sync_id: Uuid,
    /// The change-list sequence number of this write's first change.
    pub first_seq: i64,
    /// This write's counts, added to the run's with it.
    pub counts: RunCounts,
}

impl Progress {
    /// Tells this process's pages that the run's counts changed (SQLite; PostgreSQL's
    /// triggers tell every replica).
    fn changed(&self, db: &Db) {
        super::changes::local(
            db,
            super::changes::Change::run(self.tenant_id, self.sync_id, self.run_id),
        );
    }
}

/// Applies a batch plan and records its changes and the run's counts atomically.
pub async fn write_batch(db: &Db, at: Progress, plan: &BatchWrite) -> Result<(), sqlx::Error> {
    let t = now();
    let first_seq = at.first_seq;
    on_db!(db, |p| {
        let mut tx = p.begin().await?;
        tx.relax().await?;
        // Names that change hands within the batch: park the old holders' keys (a
        // control character can never start a real one) so no step breaks uniqueness.
        // The sort key too: on PostgreSQL it is what keeps names unique (migration 0020).
        for id in &plan.vacate {
            let parked = format!("\u{1}{id}");
            sqlx::query(
                "UPDATE users SET username_key = $1, sort_key = $2 WHERE tenant_id = $3 AND id = $4",
            )
            .bind(&parked)
            .bind(sort_key(at.tenant_id, &parked))
            .bind(at.tenant_id)
            .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.insert_users(at.tenant_id, at.sync_id, t, &plan.inserts)
            .await?;
        tx.update_users(at.tenant_id, at.sync_id, t, &plan.updates)
            .await?;
        tx.insert_changes(at.run_id, first_seq, &plan.changes)
            .await?;
        commit_with_counts!(tx, at)
    })?;
    at.changed(db);
    Ok(())
}

/// Applies a deletion plan (deletes, disables, or only the change rows when held,
/// skipped or planned) in one transaction per call.
pub async fn write_deletions(
    db: &Db,
    at: Progress,
    plan: &DeletionWrite,
) -> Result<(), sqlx::Error> {
    let t = now();
    let first_seq = at.first_seq;
    on_db!(db, |p| {
        let mut tx = p.begin().await?;
        tx.relax().await?;
        remove_users!(tx, at.tenant_id, at.sync_id, &plan.delete, &plan.disable, t);
        remove_groups!(
            tx,
            at.tenant_id,
            at.sync_id,
            &plan.delete_groups,
            &plan.disable_groups,
            &plan.remove_users,
            &plan.remove_nested,
            t
        );
        tx.insert_changes(at.run_id, first_seq, &plan.changes)
            .await?;
        commit_with_counts!(tx, at)
    })?;
    at.changed(db);
    Ok(())
}
