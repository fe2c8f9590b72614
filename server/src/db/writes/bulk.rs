//! Bulk inserts, per engine: PostgreSQL takes binary `COPY` (the benchmark's reference
//! speed), SQLite multi-row INSERTs of bound values. Both inside the caller's
//! transaction.

use super::pgcopy::BinaryCopy;
use super::{ChangeRow, Insert, Update};
use crate::db::users::sort_key;
use crate::vocabulary::{RunStatus, Subject};
use adc_shared::protocol::RunCounts;
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

/// Rows per multi-row INSERT on SQLite: 18 columns × 500 stays under its variable limit.
const ROWS: usize = 500;

/// Adds the counts `$1` (JSON) to run `$2`'s while it has status `$3`, key by key, in
/// one statement: concurrent writers each add their own.
pub(crate) const ADD_COUNTS_POSTGRES: &str = "UPDATE runs SET counts = (
         SELECT jsonb_object_agg(k, COALESCE((counts ->> k)::bigint, 0) + COALESCE(($1::jsonb ->> k)::bigint, 0))
         FROM jsonb_object_keys(counts || $1::jsonb) AS k)
     WHERE id = $2 AND status = $3";
pub(crate) const ADD_COUNTS_SQLITE: &str = "UPDATE runs SET counts = (
         SELECT json_group_object(key, COALESCE(json_extract(runs.counts, '$.' || key), 0) + COALESCE(json_extract($1, '$.' || key), 0))
         FROM json_each(json_patch(runs.counts, $1)))
     WHERE id = $2 AND status = $3";

pub trait Bulk {
    /// Adds a write's counts to its run's ([`ADD_COUNTS_POSTGRES`]); the rows changed
    /// (0 when the run is no longer running).
    async fn add_run_counts(&mut self, run: Uuid, delta: &RunCounts) -> Result<u64, sqlx::Error>;
    /// A run's writes are idempotent (the next run converges, architecture §5.3 step 8), so a
    /// batch need not wait for its WAL to reach the disk: a crash loses at most the
    /// last moments of a run, never consistency. This removes an fsync per batch.
    async fn relax(&mut self) -> Result<(), sqlx::Error>;
    async fn insert_users(
        &mut self,
        tenant: Uuid,
        sync: Uuid,
        at: OffsetDateTime,
        rows: &[Insert],
    ) -> Result<(), sqlx::Error>;
    async fn insert_changes(
        &mut self,
        run: Uuid,
        first_seq: i64,
        rows: &[ChangeRow],
    ) -> Result<(), sqlx::Error>;
    async fn update_users(
        &mut self,
        tenant: Uuid,
        sync: Uuid,
        at: OffsetDateTime,
        rows: &[Update],
    ) -> Result<(), sqlx::Error>;
    /// Adds edges (group, member) to `group_users` or, `nested`, `group_groups`. The
    /// caller knows none of them exists yet (PostgreSQL copies them in; SQLite skips
    /// any that does).
    async fn insert_edges(
        &mut self,
        nested: bool,
        pairs: &[(Uuid, Uuid)],
    ) -> Result<(), sqlx::Error>;
}

const EDGE_COPY: [&str; 2] = [
    "COPY group_users (group_id, user_id) FROM STDIN (FORMAT binary)",
    "COPY group_groups (parent_id, child_id) FROM STDIN (FORMAT binary)",
];

/// The one UPDATE of a stored user from its record, for engines without arrays.
const UPDATE_ONE: &str = "UPDATE users SET synchronization_id = $1, external_id = $2, username = $3, username_key = $4, email = $5, display_name = $6,
     given_name = $7, surname = $8, enabled = $9, source_enabled = $10, removed_from_source = $11, source_dn = $12, extra = $13,
     content_hash = $14, updated_at = $15, sort_key = $18 WHERE id = $16 AND tenant_id = $17";

/// Sends `data` to PostgreSQL's `COPY … FROM STDIN (FORMAT binary)` in one message.
async fn copy_in(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    statement: &'static str,
    data: BinaryCopy,
) -> Result<(), sqlx::Error> {
    let mut copy = tx.copy_in_raw(statement).await?;
    copy.send(data.finish()).await?;
    copy.finish().await.map(|_| ())
}

/// Changes stored in one PostgreSQL row at most (a row of them stays a few hundred
/// kilobytes).
const MEMBERS_PER_ROW: usize = 4096;

/// How many of `rows`, from the first, PostgreSQL stores as one row: a run of changes
/// to users, or of one group's user members, with one operation and outcome and no
/// fields (a first sync's creates and memberships, a group's removals), else 1. A
/// million users' first sync wrote a million change rows, each with its tuple header,
/// key entry and WAL (about 2 s of PostgreSQL's time); now about 250.
fn change_run(rows: &[ChangeRow]) -> usize {
    let first = &rows[0];
    let same = |c: &ChangeRow| {
        matches!(c.subject, Subject::User | Subject::Membership)
            && c.subject == first.subject
            && c.member_group_id.is_none()
            && c.fields.is_empty()
            && c.operation == first.operation
            && c.outcome == first.outcome
            && c.group_id == first.group_id
            && c.group_name == first.group_name
    };
    if !same(first) {
        return 1;
    }
    rows.iter()
        .take(MEMBERS_PER_ROW)
        .take_while(|c| same(c))
        .count()
}

impl Bulk for sqlx::Transaction<'_, sqlx::Postgres> {
    async fn add_run_counts(&mut self, run: Uuid, delta: &RunCounts) -> Result<u64, sqlx::Error> {
        sqlx::query(ADD_COUNTS_POSTGRES)
            .bind(Json(delta))
            .bind(run)
            .bind(RunStatus::Running)
            .execute(&mut **self)
            .await
            .map(|r| r.rows_affected())
    }

    async fn relax(&mut self) -> Result<(), sqlx::Error> {
        sqlx::query("SET LOCAL synchronous_commit = off")
            .execute(&mut **self)
            .await
            .map(|_| ())
    }

    async fn insert_users(
        &mut self,
        tenant: Uuid,
        sync: Uuid,
        at: OffsetDateTime,
        rows: &[Insert],
    ) -> Result<(), sqlx::Error> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut data = BinaryCopy::with_capacity(rows.len() * 400);
        for u in rows {
            let r = &u.record;
            data.row(19);
            data.uuid(u.id);
            data.uuid(tenant);
            data.uuid(sync);
            data.text(&r.external_id);
            data.text(&r.username);
            data.text(&r.username.to_lowercase());
            data.opt_text(r.email.as_deref());
            data.opt_text(r.display_name.as_deref());
            data.opt_text(r.given_name.as_deref());
            data.opt_text(r.surname.as_deref());
            data.bool(u.enabled);
            data.bool(r.enabled);
            data.bool(false);
            data.text(&r.source_dn);
            data.jsonb(&r.extra);
            data.text(&u.hash);
            data.timestamptz(at);
            data.timestamptz(at);
            data.text(&sort_key(tenant, &r.username));
        }
        copy_in(
            self,
            "COPY users (id, tenant_id, synchronization_id, external_id, username, username_key, email, display_name, given_name, surname, enabled, source_enabled, removed_from_source, source_dn, extra, content_hash, created_at, updated_at, sort_key) FROM STDIN (FORMAT binary)",
            data,
        )
        .await
    }

    async fn insert_changes(
        &mut self,
        run: Uuid,
        first_seq: i64,
        rows: &[ChangeRow],
    ) -> Result<(), sqlx::Error> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut data = BinaryCopy::with_capacity(rows.len() * 100);
        let mut i = 0;
        while i < rows.len() {
            let c = &rows[i];
            let n = change_run(&rows[i..]);
            // The stored row's seq is its last change's (migration 0013).
            data.row(15);
            data.uuid(run);
            data.int8(first_seq + (i + n - 1) as i64);
            data.text(c.operation.as_str());
            data.text(&c.outcome.as_text());
            data.text(c.subject.as_str());
            data.opt_uuid(c.group_id);
            data.opt_text(c.group_name.as_deref());
            data.opt_uuid(c.member_group_id);
            // The user or member: in its own columns, or, for a run of them, in the arrays.
            if n == 1 {
                data.opt_uuid(c.user_id);
                data.opt_text(c.external_id.as_deref());
                data.text(&c.username);
                data.null();
                data.null();
                data.null();
            } else {
                let members = &rows[i..i + n];
                data.null();
                data.null();
                data.text("");
                data.uuid_array(members.iter().map(|m| m.user_id.as_ref()));
                data.text_array(members.iter().map(|m| m.external_id.as_deref()));
                data.text_array(members.iter().map(|m| Some(m.username.as_str())));
            }
            if c.fields.is_empty() {
                data.null();
            } else {
                data.jsonb(&c.fields);
            }
            i += n;
        }
        copy_in(
            self,
            "COPY run_changes (run_id, seq, operation, outcome, subject, group_id, group_name, member_group_id, user_id, external_id, username, member_ids, member_external_ids, member_names, fields) FROM STDIN (FORMAT binary)",
            data,
        )
        .await
    }

    /// All of a batch's updates in one statement: the rows arrive as arrays, one per
    /// column, joined to the table by ID.
    async fn update_users(
        &mut self,
        tenant: Uuid,
        sync: Uuid,
        at: OffsetDateTime,
        rows: &[Update],
    ) -> Result<(), sqlx::Error> {
        if rows.is_empty() {
            return Ok(());
        }
        let col =
            |f: fn(&Update) -> Option<String>| rows.iter().map(f).collect::<Vec<Option<String>>>();
        let ids: Vec<Uuid> = rows.iter().map(|u| u.id).collect();
        let enabled: Vec<bool> = rows.iter().map(|u| u.enabled).collect();
        let source_enabled: Vec<bool> = rows.iter().map(|u| u.record.enabled).collect();
        sqlx::query(
            "UPDATE users AS u SET synchronization_id = $1, external_id = d.external_id, username = d.username, username_key = d.username_key,
                 email = d.email, display_name = d.display_name, given_name = d.given_name, surname = d.surname, enabled = d.enabled,
                 source_enabled = d.source_enabled, removed_from_source = FALSE, source_dn = d.source_dn, extra = d.extra::jsonb,
                 content_hash = d.content_hash, updated_at = $2, sort_key = d.sort_key
             FROM unnest($3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
                         $11::bool[], $12::bool[], $13::text[], $14::text[], $15::text[], $17::text[])
                  AS d(id, external_id, username, username_key, email, display_name, given_name, surname, enabled, source_enabled, source_dn, extra, content_hash, sort_key)
             WHERE u.id = d.id AND u.tenant_id = $16",
        )
        .bind(sync)
        .bind(at)
        .bind(ids)
        .bind(col(|u| Some(u.record.external_id.clone())))
        .bind(col(|u| Some(u.record.username.clone())))
        .bind(col(|u| Some(u.record.username.to_lowercase())))
        .bind(col(|u| u.record.email.clone()))
        .bind(col(|u| u.record.display_name.clone()))
        .bind(col(|u| u.record.given_name.clone()))
        .bind(col(|u| u.record.surname.clone()))
        .bind(enabled)
        .bind(source_enabled)
        .bind(col(|u| Some(u.record.source_dn.clone())))
        .bind(col(|u| Some(serde_json::to_string(&u.record.extra).expect("a map serializes"))))
        .bind(col(|u| Some(u.hash.clone())))
        .bind(tenant)
        .bind(
            rows.iter()
                .map(|u| Some(sort_key(tenant, &u.record.username)))
                .collect::<Vec<Option<String>>>(),
        )
        .execute(&mut **self)
        .await
        .map(|_| ())
    }

    async fn insert_edges(
        &mut self,
        nested: bool,
        pairs: &[(Uuid, Uuid)],
    ) -> Result<(), sqlx::Error> {
        if pairs.is_empty() {
            return Ok(());
        }
        let mut data = BinaryCopy::with_capacity(pairs.len() * 48);
        for (g, m) in pairs {
            data.row(2);
            data.uuid(*g);
            data.uuid(*m);
        }
        copy_in(self, EDGE_COPY[usize::from(nested)], data).await
    }
}

impl Bulk for sqlx::Transaction<'_, sqlx::Sqlite> {
    async fn add_run_counts(&mut self, run: Uuid, delta: &RunCounts) -> Result<u64, sqlx::Error> {
        sqlx::query(ADD_COUNTS_SQLITE)
            .bind(Json(delta))
            .bind(run)
            .bind(RunStatus::Running)
            .execute(&mut **self)
            .await
            .map(|r| r.rows_affected())
    }

    async fn relax(&mut self) -> Result<(), sqlx::Error> {
        // SQLite runs in WAL mode with synchronous=NORMAL already (db/mod.rs).
        Ok(())
    }

    async fn insert_users(
        &mut self,
        tenant: Uuid,
        sync: Uuid,
        at: OffsetDateTime,
        rows: &[Insert],
    ) -> Result<(), sqlx::Error> {
        for chunk in rows.chunks(ROWS) {
            let mut qb = sqlx::QueryBuilder::new(
                "INSERT INTO users (id, tenant_id, synchronization_id, external_id, username, username_key, email, display_name, given_name, surname, enabled, source_enabled, removed_from_source, source_dn, extra, content_hash, created_at, updated_at, sort_key) ",
            );
            qb.push_values(chunk, |mut b, u| {
                let r = &u.record;
                b.push_bind(u.id)
                    .push_bind(tenant)
                    .push_bind(sync)
                    .push_bind(r.external_id.clone())
                    .push_bind(r.username.clone())
                    .push_bind(r.username.to_lowercase())
                    .push_bind(r.email.clone())
                    .push_bind(r.display_name.clone())
                    .push_bind(r.given_name.clone())
                    .push_bind(r.surname.clone())
                    .push_bind(u.enabled)
                    .push_bind(r.enabled)
                    .push_bind(false)
                    .push_bind(r.source_dn.clone())
                    .push_bind(Json(r.extra.clone()))
                    .push_bind(u.hash.clone())
                    .push_bind(at)
                    .push_bind(at)
                    .push_bind(sort_key(tenant, &r.username));
            });
            qb.build().execute(&mut **self).await?;
        }
        Ok(())
    }

    async fn insert_changes(
        &mut self,
        run: Uuid,
        first_seq: i64,
        rows: &[ChangeRow],
    ) -> Result<(), sqlx::Error> {
        for (i, chunk) in rows.chunks(ROWS).enumerate() {
            let base = first_seq + (i * ROWS) as i64;
            let mut qb = sqlx::QueryBuilder::new(
                "INSERT INTO run_changes (run_id, seq, user_id, external_id, username, operation, outcome, subject, group_id, group_name, member_group_id, fields) ",
            );
            qb.push_values(chunk.iter().enumerate(), |mut b, (j, c)| {
                b.push_bind(run)
                    .push_bind(base + j as i64)
                    .push_bind(c.user_id)
                    .push_bind(c.external_id.clone())
                    .push_bind(c.username.clone())
                    .push_bind(c.operation)
                    .push_bind(c.outcome.clone())
                    .push_bind(c.subject)
                    .push_bind(c.group_id)
                    .push_bind(c.group_name.clone())
                    .push_bind(c.member_group_id)
                    .push_bind((!c.fields.is_empty()).then(|| Json(c.fields.clone())));
            });
            qb.build().execute(&mut **self).await?;
        }
        Ok(())
    }

    async fn update_users(
        &mut self,
        tenant: Uuid,
        sync: Uuid,
        at: OffsetDateTime,
        rows: &[Update],
    ) -> Result<(), sqlx::Error> {
        for u in rows {
            let r = &u.record;
            sqlx::query(UPDATE_ONE)
                .bind(sync)
                .bind(&r.external_id)
                .bind(&r.username)
                .bind(r.username.to_lowercase())
                .bind(&r.email)
                .bind(&r.display_name)
                .bind(&r.given_name)
                .bind(&r.surname)
                .bind(u.enabled)
                .bind(r.enabled)
                .bind(false)
                .bind(&r.source_dn)
                .bind(Json(&r.extra))
                .bind(&u.hash)
                .bind(at)
                .bind(u.id)
                .bind(tenant)
                .bind(sort_key(tenant, &r.username))
                .execute(&mut **self)
                .await?;
        }
        Ok(())
    }

    async fn insert_edges(
        &mut self,
        nested: bool,
        pairs: &[(Uuid, Uuid)],
    ) -> Result<(), sqlx::Error> {
        let (table, columns) = if nested {
            ("group_groups", "(parent_id, child_id)")
        } else {
            ("group_users", "(group_id, user_id)")
        };
        for chunk in pairs.chunks(ROWS) {
            let mut qb = sqlx::QueryBuilder::new(format!("INSERT INTO {table} {columns} "));
            qb.push_values(chunk, |mut b, (g, m)| {
                b.push_bind(*g).push_bind(*m);
            });
            qb.push(" ON CONFLICT DO NOTHING");
            qb.build().execute(&mut **self).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::writes::FieldChange;
    use crate::vocabulary::{Operation, Outcome};

    fn member(group: u128, user: u128, op: Operation, outcome: Outcome) -> ChangeRow {
        ChangeRow {
            subject: Subject::Membership,
            user_id: Some(Uuid::from_u128(user)),
            external_id: Some(format!("u{user}")),
            username: format!("user{user}"),
            operation: op,
            outcome,
            group_id: Some(Uuid::from_u128(group)),
            group_name: Some(format!("g{group}")),
            member_group_id: None,
            fields: Vec::new(),
        }
    }

    fn runs(rows: &[ChangeRow]) -> Vec<usize> {
        let mut runs = Vec::new();
        let mut i = 0;
        while i < rows.len() {
            let n = change_run(&rows[i..]);
            runs.push(n);
            i += n;
        }
        runs
    }

    #[test]
    fn a_group_s_user_members_with_one_operation_and_outcome_share_a_row() {
        let add = |g, u| member(g, u, Operation::AddMember, Outcome::Applied);
        let mut nested = add(1, 9);
        nested.user_id = None;
        nested.member_group_id = Some(Uuid::from_u128(9));
        let rows = [
            add(1, 1),
            add(1, 2),
            add(1, 3),
            member(1, 4, Operation::AddMember, Outcome::Held),
            nested,
            add(2, 5),
            member(2, 6, Operation::RemoveMember, Outcome::Applied),
            ChangeRow::user(None, None, "x".into(), Operation::Create, Outcome::Applied),
        ];
        assert_eq!(runs(&rows), [3, 1, 1, 1, 1, 1]);
        let many = vec![add(1, 1); MEMBERS_PER_ROW + 1];
        assert_eq!(runs(&many), [MEMBERS_PER_ROW, 1]);
    }

    #[test]
    fn users_with_one_operation_and_outcome_share_a_row_unless_an_update_names_its_fields() {
        let user = |n: u128, op, outcome| {
            ChangeRow::user(
                Some(Uuid::from_u128(n)),
                Some(format!("u{n}")),
                format!("user{n}"),
                op,
                outcome,
            )
        };
        let mut update = user(5, Operation::Update, Outcome::Applied);
        update.fields.push(FieldChange {
            field: "email".into(),
            old: None,
            new: Some("a@example.com".into()),
        });
        let rows = [
            user(1, Operation::Create, Outcome::Applied),
            user(2, Operation::Create, Outcome::Applied),
            user(3, Operation::Create, Outcome::Skipped("no-create".into())),
            user(4, Operation::Delete, Outcome::Held),
            user(6, Operation::Delete, Outcome::Held),
            update.clone(),
            update,
            // A membership after users starts a run of its own.
            member(1, 7, Operation::AddMember, Outcome::Applied),
            user(8, Operation::Create, Outcome::Applied),
        ];
        assert_eq!(runs(&rows), [2, 1, 2, 1, 1, 1, 1]);
    }
}
