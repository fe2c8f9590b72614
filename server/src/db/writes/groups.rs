//! A run's writes of groups and memberships: each message in one transaction, with
//! the run's counts. Groups are few next to users and edges are two IDs, so multi-row
//! INSERTs of bound values serve both engines.

use super::bulk::Bulk;
use super::{ChangeRow, Progress, ROWS};
use crate::db::users::sort_key;
use crate::db::{Db, now};
use crate::on_db;
use adc_shared::GroupRecord;
use adc_shared::protocol::RunCounts;
use sqlx::types::Json;
use uuid::Uuid;

/// A new group to insert.
#[derive(Clone, Debug)]
pub struct GroupInsert {
    pub id: Uuid,
    pub record: GroupRecord,
    pub hash: String,
}

/// A stored group to rewrite from its record (back in the source, if it had left).
#[derive(Clone, Debug)]
pub struct GroupUpdate {
    pub id: Uuid,
    pub record: GroupRecord,
    pub hash: String,
    /// A group of another provider that this synchronization takes over.
    pub take_over: bool,
}

/// What a group batch writes.
#[derive(Debug, Default)]
pub struct GroupBatchWrite {
    pub inserts: Vec<GroupInsert>,
    pub updates: Vec<GroupUpdate>,
    pub changes: Vec<ChangeRow>,
    pub counts: RunCounts,
}

/// What a message of member additions writes: (group, user) and (parent, child).
#[derive(Debug, Default)]
pub struct MemberWrite {
    pub users: Vec<(Uuid, Uuid)>,
    pub nested: Vec<(Uuid, Uuid)>,
    pub changes: Vec<ChangeRow>,
    pub counts: RunCounts,
}

/// Applies a group batch and records its changes and the run's counts atomically.
pub async fn write_groups(
    db: &Db,
    at: Progress,
    plan: &GroupBatchWrite,
) -> Result<(), sqlx::Error> {
    let t = now();
    on_db!(db, |p| {
        let mut tx = p.begin().await?;
        tx.relax().await?;
        for chunk in plan.inserts.chunks(ROWS) {
            let mut qb = sqlx::QueryBuilder::new(
                "INSERT INTO groups (id, tenant_id, synchronization_id, external_id, name, name_key, description, email, source_dn, extra, content_hash, removed_from_source, created_at, updated_at, sort_key) ",
            );
            qb.push_values(chunk, |mut b, g| {
                let r = &g.record;
                b.push_bind(g.id)
                    .push_bind(at.tenant_id)
                    .push_bind(at.sync_id)
                    .push_bind(r.external_id.clone())
                    .push_bind(r.name.clone())
                    .push_bind(r.name.to_lowercase())
                    .push_bind(r.description.clone())
                    .push_bind(r.email.clone())
                    .push_bind(r.source_dn.clone())
                    .push_bind(Json(r.extra.clone()))
                    .push_bind(g.hash.clone())
                    .push_bind(false)
                    .push_bind(t)
                    .push_bind(t)
                    .push_bind(sort_key(at.tenant_id, &r.name));
            });
            qb.build().execute(&mut *tx).await?;
        }
        for g in &plan.updates {
            let r = &g.record;
            sqlx::query(
                "UPDATE groups SET synchronization_id = $1, external_id = $2, name = $3, name_key = $4, description = $5, email = $6,
                 source_dn = $7, extra = $8, content_hash = $9, removed_from_source = $10, updated_at = $11, sort_key = $14 WHERE id = $12 AND tenant_id = $13",
            )
            .bind(at.sync_id)
            .bind(&r.external_id)
            .bind(&r.name)
            .bind(r.name.to_lowercase())
            .bind(&r.description)
            .bind(&r.email)
            .bind(&r.source_dn)
            .bind(Json(&r.extra))
            .bind(&g.hash)
            .bind(false)
            .bind(t)
            .bind(g.id)
            .bind(at.tenant_id)
            .bind(sort_key(at.tenant_id, &r.name))
            .execute(&mut *tx)
            .await?;
        }
        tx.insert_changes(at.run_id, at.first_seq, &plan.changes)
            .await?;
        super::commit_with_counts!(tx, at)
    })?;
    at.changed(db);
    Ok(())
}

/// Adds the memberships of `plan` (none of which exists yet: the caller checked) and
/// records its changes and the run's counts atomically.
pub async fn write_members(db: &Db, at: Progress, plan: &MemberWrite) -> Result<(), sqlx::Error> {
    on_db!(db, |p| {
        let mut tx = p.begin().await?;
        tx.relax().await?;
        tx.insert_edges(false, &plan.users).await?;
        tx.insert_edges(true, &plan.nested).await?;
        tx.insert_changes(at.run_id, at.first_seq, &plan.changes)
            .await?;
        super::commit_with_counts!(tx, at)
    })?;
    at.changed(db);
    Ok(())
}
