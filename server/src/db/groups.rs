//! The tenant's groups and who is in them (architecture §5.5): lookups for the sync
//! engine, the group manifest, and the reads and manual changes of the REST API.
//! Effective membership is a recursive query over the direct edges; `UNION` (not
//! `UNION ALL`) makes it end on cycles.

use super::search::{self, Matcher, Purpose, Target};
use super::{Db, now};
use crate::on_db;
use adc_shared::group::GroupState;
use foldhash::{HashMap, HashMapExt};
use serde::Serialize;
use sqlx::types::Json;
use std::collections::BTreeMap;
use time::OffsetDateTime;
use uuid::Uuid;

/// Largest IN list per statement.
const CHUNK: usize = 500;
/// Member IDs per manifest chunk: a chunk stays well under the message limit.
pub const MANIFEST_MEMBERS: usize = 20_000;

/// What the sync engine needs to know about a stored group.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct StoredGroup {
    pub id: Uuid,
    pub synchronization_id: Option<Uuid>,
    pub external_id: Option<String>,
    pub name: String,
    pub name_key: String,
    pub removed_from_source: bool,
    pub content_hash: Option<String>,
    pub source_dn: Option<String>,
}

const STORED: &str = "id, synchronization_id, external_id, name, name_key, removed_from_source, content_hash, source_dn";

/// This synchronization's groups with these external IDs.
pub async fn by_external_ids(
    db: &Db,
    tenant_id: Uuid,
    sync_id: Uuid,
    ids: &[String],
) -> Result<Vec<StoredGroup>, sqlx::Error> {
    lookup(db, tenant_id, Some(sync_id), ids).await
}

/// The tenant's groups with these (lower-case) names, whatever their provider.
pub async fn by_name_keys(
    db: &Db,
    tenant_id: Uuid,
    keys: &[String],
) -> Result<Vec<StoredGroup>, sqlx::Error> {
    lookup(db, tenant_id, None, keys).await
}

/// A run's lookups on PostgreSQL, as the users' (`db/users.rs`): one probe of the key's
/// unique index per value. An IN list was planned as a scan of the table, since the
/// plan kept by a connection was made while the table was empty (200 ms per lookup at
/// 10 000 groups).
const PG_BY_EXTERNAL_ID: &str = "SELECT g.id, g.synchronization_id, g.external_id, g.name, g.name_key, g.removed_from_source, g.content_hash, g.source_dn
     FROM unnest($2::text[]) AS k(v) CROSS JOIN LATERAL
       (SELECT * FROM groups WHERE synchronization_id = $3 AND external_id = k.v AND tenant_id = $1 LIMIT 1) g";
const PG_BY_NAME: &str = "SELECT g.id, g.synchronization_id, g.external_id, g.name, g.name_key, g.removed_from_source, g.content_hash, g.source_dn
     FROM unnest($2::text[]) AS k(v) CROSS JOIN LATERAL
       (SELECT * FROM groups WHERE tenant_id = $1 AND name_key = k.v LIMIT 1) g";

/// Groups by external ID (of `sync`) or, without one, by name key.
async fn lookup(
    db: &Db,
    tenant_id: Uuid,
    sync: Option<Uuid>,
    values: &[String],
) -> Result<Vec<StoredGroup>, sqlx::Error> {
    let mut out = Vec::new();
    for chunk in values.chunks(CHUNK) {
        let rows = match db {
            Db::Postgres(p) => match sync {
                Some(sync_id) => {
                    sqlx::query_as::<_, StoredGroup>(PG_BY_EXTERNAL_ID)
                        .persistent(false) // planned as the table is: see users::PG_BY_EXTERNAL_ID
                        .bind(tenant_id)
                        .bind(chunk)
                        .bind(sync_id)
                        .fetch_all(p)
                        .await?
                }
                None => {
                    sqlx::query_as::<_, StoredGroup>(PG_BY_NAME)
                        .persistent(false) // planned as the table is: see users::PG_BY_EXTERNAL_ID
                        .bind(tenant_id)
                        .bind(chunk)
                        .fetch_all(p)
                        .await?
                }
            },
            Db::Sqlite(p) => {
                let mut qb = sqlx::QueryBuilder::new(format!(
                    "SELECT {STORED} FROM groups WHERE tenant_id = "
                ));
                qb.push_bind(tenant_id);
                match sync {
                    Some(sync_id) => qb
                        .push(" AND synchronization_id = ")
                        .push_bind(sync_id)
                        .push(" AND external_id IN ("),
                    None => qb.push(" AND name_key IN ("),
                };
                let mut sep = qb.separated(", ");
                for v in chunk {
                    sep.push_bind(v.as_str());
                }
                qb.push(")");
                qb.build_query_as::<StoredGroup>().fetch_all(p).await?
            }
        };
        out.extend(rows);
    }
    Ok(out)
}

/// Which of these edges (group, member) exist: users when `groups` is false, nested
/// groups when true.
pub async fn existing_edges(
    db: &Db,
    pairs: &[(Uuid, Uuid)],
    groups: bool,
) -> Result<Vec<(Uuid, Uuid)>, sqlx::Error> {
    let (table, parent, child) = if groups {
        ("group_groups", "parent_id", "child_id")
    } else {
        ("group_users", "group_id", "user_id")
    };
    let mut out = Vec::new();
    for chunk in pairs.chunks(CHUNK) {
        let rows = on_db!(db, |p| {
            let mut qb = sqlx::QueryBuilder::new(format!(
                "SELECT {parent}, {child} FROM {table} WHERE ({parent}, {child}) IN (VALUES "
            ));
            let mut sep = qb.separated(", ");
            for (g, m) in chunk {
                sep.push("(")
                    .push_bind_unseparated(*g)
                    .push_unseparated(", ")
                    .push_bind_unseparated(*m)
                    .push_unseparated(")");
            }
            qb.push(")");
            qb.build_query_as::<(Uuid, Uuid)>().fetch_all(p).await
        })?;
        out.extend(rows);
    }
    Ok(out)
}

/// How many direct members (users and groups) each of these groups has.
pub async fn member_counts(db: &Db, ids: &[Uuid]) -> Result<HashMap<Uuid, u64>, sqlx::Error> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(CHUNK) {
        let rows = on_db!(db, |p| {
            let mut qb = sqlx::QueryBuilder::new(
                "SELECT g, COUNT(*) FROM (SELECT group_id AS g FROM group_users UNION ALL SELECT parent_id AS g FROM group_groups) AS e WHERE g IN (",
            );
            let mut sep = qb.separated(", ");
            for id in chunk {
                sep.push_bind(*id);
            }
            qb.push(") GROUP BY g");
            qb.build_query_as::<(Uuid, i64)>().fetch_all(p).await
        })?;
        out.extend(rows.into_iter().map(|(g, n)| (g, n as u64)));
    }
    Ok(out)
}

/// Groups of a synchronization still in the source: the base of the guard's share.
pub async fn count_in_source(db: &Db, tenant_id: Uuid, sync_id: Uuid) -> Result<i64, sqlx::Error> {
    on_db!(db, |p| {
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM groups WHERE tenant_id = $1 AND synchronization_id = $2 AND removed_from_source = $3",
        )
        .bind(tenant_id)
        .bind(sync_id)
        .bind(false)
        .fetch_one(p)
        .await
    })
}

/// A group's direct members as its manifest names them, kept with the group
/// (`groups.member_list`, migration 0014 of PostgreSQL).
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct MemberList {
    users: Vec<String>,
    groups: Vec<String>,
}

/// Above this many groups whose kept list is out of date, the manifest joins all of
/// the synchronization's edges at once instead of one group at a time.
const REBUILD_ONE_BY_ONE: usize = 64;

/// The group manifest of a synchronization: every group with its hash (empty for a
/// group removed from the source, so it is sent again if it comes back) and its
/// direct members of the same synchronization, in chunks of at most
/// [`MANIFEST_MEMBERS`] member IDs. Member lists come from each group's kept list
/// where it is current; the others are built from the edges and kept.
pub async fn manifest(
    db: &Db,
    tenant_id: Uuid,
    sync_id: Uuid,
) -> Result<Vec<Vec<GroupState>>, sqlx::Error> {
    type Row = (Uuid, String, Option<String>, bool, i64, Option<String>);
    // The versions are read before the edges: a list built from edges that changed
    // since is then refused when kept (its version has moved on).
    let groups: Vec<Row> = on_db!(db, |p| {
        sqlx::query_as::<_, Row>(
            "SELECT id, external_id, content_hash, removed_from_source, members_version,
                    CASE WHEN member_list_version = members_version THEN member_list END
             FROM groups
             WHERE tenant_id = $1 AND synchronization_id = $2 AND external_id IS NOT NULL ORDER BY external_id",
        )
        .bind(tenant_id)
        .bind(sync_id)
        .fetch_all(p)
        .await
    })?;
    let mut members: HashMap<Uuid, MemberList> = HashMap::with_capacity(groups.len());
    let mut stale: Vec<(Uuid, i64)> = Vec::new();
    for (id, .., version, list) in &groups {
        match list.as_deref().map(serde_json::from_str::<MemberList>) {
            Some(Ok(list)) => {
                members.insert(*id, list);
            }
            _ => stale.push((*id, *version)),
        }
    }
    if !stale.is_empty() {
        let built = build_member_lists(db, tenant_id, sync_id, &stale).await?;
        keep_member_lists(db, &stale, &built).await?;
        members.extend(built);
    }
    let mut chunks = vec![Vec::new()];
    let mut in_chunk = 0usize;
    for (id, external_id, hash, removed, ..) in groups {
        let hash = if removed {
            String::new()
        } else {
            hash.unwrap_or_default()
        };
        let MemberList {
            mut users,
            mut groups,
        } = members.remove(&id).unwrap_or_default();
        loop {
            let room = MANIFEST_MEMBERS.saturating_sub(in_chunk).max(1);
            let take_u = users.len().min(room);
            let take_g = groups.len().min(room - take_u);
            let part = GroupState {
                external_id: external_id.clone(),
                hash: hash.clone(),
                users: users.drain(..take_u).collect(),
                groups: groups.drain(..take_g).collect(),
                member_dns: Vec::new(),
            };
            in_chunk += take_u + take_g + 1;
            chunks.last_mut().expect("one chunk at least").push(part);
            if in_chunk >= MANIFEST_MEMBERS {
                chunks.push(Vec::new());
                in_chunk = 0;
            }
            if users.is_empty() && groups.is_empty() {
                break;
            }
        }
    }
    if chunks.len() > 1 && chunks.last().is_some_and(Vec::is_empty) {
        chunks.pop();
    }
    Ok(chunks)
}

/// What a delta read needs of the groups `ids` that changed (architecture §5.3.1): each
/// with its hash and direct members, and each member's stored DN (empty for a user gone
/// from the source), in chunks of at most [`MANIFEST_MEMBERS`] members. Groups this
/// synchronization does not hold are left out.
pub async fn member_states(
    db: &Db,
    tenant_id: Uuid,
    sync_id: Uuid,
    ids: &[String],
) -> Result<Vec<Vec<GroupState>>, sqlx::Error> {
    const USERS: &str = "SELECT u.external_id, u.source_dn, u.removed_from_source FROM group_users e
         JOIN users u ON u.id = e.user_id
         WHERE e.group_id = $1 AND u.tenant_id = $2 AND u.synchronization_id = $3 AND u.external_id IS NOT NULL
         ORDER BY u.external_id";
    const NESTED: &str = "SELECT c.external_id, c.source_dn, c.removed_from_source FROM group_groups e
         JOIN groups c ON c.id = e.child_id
         WHERE e.parent_id = $1 AND c.tenant_id = $2 AND c.synchronization_id = $3 AND c.external_id IS NOT NULL
         ORDER BY c.external_id";
    type Member = (String, Option<String>, bool);
    let stored = by_external_ids(db, tenant_id, sync_id, ids).await?;
    let mut chunks = vec![Vec::new()];
    let mut in_chunk = 0usize;
    for g in stored {
        let Some(external_id) = g.external_id else {
            continue;
        };
        let (users, groups) = on_db!(db, |p| {
            let mut out: Vec<Vec<Member>> = Vec::with_capacity(2);
            for sql in [USERS, NESTED] {
                out.push(
                    sqlx::query_as::<_, Member>(sql)
                        .bind(g.id)
                        .bind(tenant_id)
                        .bind(sync_id)
                        .fetch_all(p)
                        .await?,
                );
            }
            let n = out.pop().unwrap_or_default();
            let u = out.pop().unwrap_or_default();
            Ok::<_, sqlx::Error>((u, n))
        })?;
        let hash = if g.removed_from_source {
            String::new()
        } else {
            g.content_hash.unwrap_or_default()
        };
        let dn = |(_, dn, gone): &Member| {
            if *gone {
                String::new()
            } else {
                dn.clone().unwrap_or_default()
            }
        };
        let (mut users, mut groups) = (users.into_iter().peekable(), groups.into_iter().peekable());
        loop {
            let room = MANIFEST_MEMBERS.saturating_sub(in_chunk).max(1);
            let mut part = GroupState {
                external_id: external_id.clone(),
                hash: hash.clone(),
                ..GroupState::default()
            };
            let mut group_dns = Vec::new();
            while part.users.len() + part.groups.len() < room {
                if let Some(u) = users.next() {
                    part.member_dns.push(dn(&u));
                    part.users.push(u.0);
                } else if let Some(c) = groups.next() {
                    group_dns.push(dn(&c));
                    part.groups.push(c.0);
                } else {
                    break;
                }
            }
            part.member_dns.extend(group_dns);
            in_chunk += part.users.len() + part.groups.len() + 1;
            chunks.last_mut().expect("one chunk at least").push(part);
            if in_chunk >= MANIFEST_MEMBERS {
                chunks.push(Vec::new());
                in_chunk = 0;
            }
            if users.peek().is_none() && groups.peek().is_none() {
                break;
            }
        }
    }
    if chunks.len() > 1 && chunks.last().is_some_and(Vec::is_empty) {
        chunks.pop();
    }
    Ok(chunks)
}

/// The member lists of the `stale` groups, from the edges: one group at a time when
/// they are few (an index probe each), else the synchronization's whole join.
async fn build_member_lists(
    db: &Db,
    tenant_id: Uuid,
    sync_id: Uuid,
    stale: &[(Uuid, i64)],
) -> Result<HashMap<Uuid, MemberList>, sqlx::Error> {
    // Each join, and the same restricted to the group `$3`.
    macro_rules! users {
        () => {
            "SELECT e.group_id, u.external_id FROM group_users e
             JOIN groups g ON g.id = e.group_id JOIN users u ON u.id = e.user_id
             WHERE g.tenant_id = $1 AND g.synchronization_id = $2 AND u.synchronization_id = $2 AND u.external_id IS NOT NULL"
        };
    }
    macro_rules! nested {
        () => {
            "SELECT e.parent_id, c.external_id FROM group_groups e
             JOIN groups g ON g.id = e.parent_id JOIN groups c ON c.id = e.child_id
             WHERE g.tenant_id = $1 AND g.synchronization_id = $2 AND c.synchronization_id = $2 AND c.external_id IS NOT NULL"
        };
    }
    const USERS: &str = users!();
    const USERS_OF_ONE: &str = concat!(users!(), " AND e.group_id = $3");
    const NESTED: &str = nested!();
    const NESTED_OF_ONE: &str = concat!(nested!(), " AND e.parent_id = $3");
    let one_by_one = stale.len() <= REBUILD_ONE_BY_ONE;
    let (users, nested) = on_db!(db, |p| {
        let (mut users, mut nested) = (Vec::new(), Vec::new());
        if one_by_one {
            for (g, _) in stale {
                for (sql, out) in [(USERS_OF_ONE, &mut users), (NESTED_OF_ONE, &mut nested)] {
                    out.extend(
                        sqlx::query_as::<_, (Uuid, String)>(sql)
                            .bind(tenant_id)
                            .bind(sync_id)
                            .bind(g)
                            .fetch_all(p)
                            .await?,
                    );
                }
            }
        } else {
            for (sql, out) in [(USERS, &mut users), (NESTED, &mut nested)] {
                *out = sqlx::query_as::<_, (Uuid, String)>(sql)
                    .bind(tenant_id)
                    .bind(sync_id)
                    .fetch_all(p)
                    .await?;
            }
        }
        Ok::<_, sqlx::Error>((users, nested))
    })?;
    let mut lists: HashMap<Uuid, MemberList> = stale
        .iter()
        .map(|(g, _)| (*g, MemberList::default()))
        .collect();
    for (g, u) in users {
        if let Some(l) = lists.get_mut(&g) {
            l.users.push(u);
        }
    }
    for (g, c) in nested {
        if let Some(l) = lists.get_mut(&g) {
            l.groups.push(c);
        }
    }
    Ok(lists)
}

/// Keeps the lists just built, each only if its group's members have not changed
/// since its version was read.
async fn keep_member_lists(
    db: &Db,
    stale: &[(Uuid, i64)],
    built: &HashMap<Uuid, MemberList>,
) -> Result<(), sqlx::Error> {
    let rows: Vec<(Uuid, i64, String)> = stale
        .iter()
        .filter_map(|(g, v)| {
            let list = serde_json::to_string(built.get(g)?).ok()?;
            Some((*g, *v, list))
        })
        .collect();
    match db {
        Db::Postgres(p) => {
            for chunk in rows.chunks(CHUNK * 4) {
                let ids: Vec<Uuid> = chunk.iter().map(|r| r.0).collect();
                let versions: Vec<i64> = chunk.iter().map(|r| r.1).collect();
                let lists: Vec<&str> = chunk.iter().map(|r| r.2.as_str()).collect();
                sqlx::query(
                    "UPDATE groups AS g SET member_list = k.list, member_list_version = k.version
                     FROM unnest($1::uuid[], $2::bigint[], $3::text[]) AS k(id, version, list)
                     WHERE g.id = k.id AND g.members_version = k.version",
                )
                .bind(ids)
                .bind(versions)
                .bind(lists)
                .execute(p)
                .await?;
            }
        }
        Db::Sqlite(p) => {
            let mut tx = p.begin().await?;
            for (g, v, list) in &rows {
                sqlx::query(
                    "UPDATE groups SET member_list = $1, member_list_version = $2 WHERE id = $3 AND members_version = $2",
                )
                .bind(list)
                .bind(v)
                .bind(g)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        }
    }
    Ok(())
}

/// Every nesting edge among a synchronization's groups, by name: (parent, child).
pub async fn nesting(
    db: &Db,
    tenant_id: Uuid,
    sync_id: Uuid,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    on_db!(db, |p| {
        sqlx::query_as::<_, (String, String)>(
            "SELECT g.name, c.name FROM group_groups e
             JOIN groups g ON g.id = e.parent_id JOIN groups c ON c.id = e.child_id
             WHERE g.tenant_id = $1 AND g.synchronization_id = $2 AND c.synchronization_id = $2",
        )
        .bind(tenant_id)
        .bind(sync_id)
        .fetch_all(p)
        .await
    })
}

/// A group as the API shows it.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = GroupFields)]
pub struct Group {
    pub id: Uuid,
    /// Null for a manual group.
    pub synchronization_id: Option<Uuid>,
    pub external_id: Option<String>,
    pub name: String,
    pub description: Option<String>,
    pub email: Option<String>,
    pub source_dn: Option<String>,
    #[schema(value_type = BTreeMap<String, String>)]
    pub extra: Json<BTreeMap<String, String>>,
    /// It left the source under `delete-disables`: kept with its members, but it no
    /// longer counts in anyone's effective groups.
    pub removed_from_source: bool,
    /// Direct members: users and nested groups.
    pub member_count: i64,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

const GROUP_COLUMNS: &str = "g.id, g.synchronization_id, g.external_id, g.name, g.description, g.email, g.source_dn, g.extra, g.removed_from_source,
     (SELECT COUNT(*) FROM group_users e WHERE e.group_id = g.id) + (SELECT COUNT(*) FROM group_groups e WHERE e.parent_id = g.id) AS member_count,
     g.created_at, g.updated_at";

/// Where a group comes from, for a search.
#[derive(Debug, Clone, Copy)]
pub enum Provider {
    Manual,
    Sync(Uuid),
}

/// One page of the tenant's groups ordered by name, after the name key `after`;
/// `q` matches name, description or e-mail, case-insensitively.
/// Adds the search's conditions (after `WHERE g.tenant_id = …`) to a query of groups.
fn push_filter<DB: sqlx::Database>(
    qb: &mut sqlx::QueryBuilder<DB>,
    db: &Db,
    m: Option<&Matcher>,
    provider: Option<Provider>,
) where
    for<'t> String: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> Uuid: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    if let Some(m) = m {
        m.push(qb, db);
    }
    match provider {
        Some(Provider::Manual) => {
            qb.push(" AND g.synchronization_id IS NULL");
        }
        Some(Provider::Sync(id)) => {
            qb.push(" AND g.synchronization_id = ").push_bind(id);
        }
        None => {}
    }
}

pub async fn search(
    db: &Db,
    tenant_id: Uuid,
    q: Option<&str>,
    provider: Option<Provider>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<Group>, sqlx::Error> {
    let m = Matcher::of(db, Target::Groups, "g", q, Purpose::Page).await?;
    on_db!(db, |p| {
        let mut qb = sqlx::QueryBuilder::new(format!("SELECT {GROUP_COLUMNS} FROM "));
        search::push_from(&mut qb, db, Target::Groups, "g", m.as_ref());
        qb.push(format!(
            " WHERE {} = ",
            super::users::page_tenant(db, "g.tenant_id")
        ));
        qb.push_bind(tenant_id);
        push_filter(&mut qb, db, m.as_ref(), provider);
        super::users::push_natural_page(&mut qb, db, "g.sort_key", tenant_id, after, limit);
        qb.build_query_as::<Group>()
            .persistent(false) // see users::search
            .fetch_all(p)
            .await
    })
}

/// How many groups match, counted up to `cap` (then: at least that many).
pub async fn count(
    db: &Db,
    tenant_id: Uuid,
    q: Option<&str>,
    provider: Option<Provider>,
    cap: i64,
) -> Result<i64, sqlx::Error> {
    let m = Matcher::of(db, Target::Groups, "g", q, Purpose::Count).await?;
    on_db!(db, |p| {
        let mut qb = sqlx::QueryBuilder::new("SELECT COUNT(*) FROM (SELECT 1 FROM ");
        search::push_from(&mut qb, db, Target::Groups, "g", m.as_ref());
        qb.push(" WHERE g.tenant_id = ");
        qb.push_bind(tenant_id);
        push_filter(&mut qb, db, m.as_ref(), provider);
        qb.push(" LIMIT ").push_bind(cap).push(") AS matching");
        qb.build_query_scalar::<i64>()
            .persistent(false) // see users::search
            .fetch_one(p)
            .await
    })
}

pub async fn get(db: &Db, tenant_id: Uuid, id: Uuid) -> Result<Option<Group>, sqlx::Error> {
    on_db!(db, |p| {
        sqlx::query_as::<_, Group>(sqlx::AssertSqlSafe(format!(
            "SELECT {GROUP_COLUMNS} FROM groups g WHERE g.tenant_id = $1 AND g.id = $2"
        )))
        .bind(tenant_id)
        .bind(id)
        .fetch_optional(p)
        .await
    })
}

/// A member of a group, as the API lists it.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Member {
    /// `user` or `group`.
    pub kind: String,
    pub id: Uuid,
    /// The username, or the group's name.
    pub name: String,
    /// Lower-case name: pass the last one's as `after` (with `after_kind`) for the next page.
    #[serde(skip)]
    pub key: String,
}

/// One page of a group's members (users and groups) ordered by name and kind, after
/// (`after`, `after_kind`). Effective: everyone reached through nested groups (those
/// removed from the source not followed), the groups passed through included.
pub async fn members(
    db: &Db,
    tenant_id: Uuid,
    group_id: Uuid,
    effective: bool,
    after: Option<(&str, &str)>,
    limit: i64,
) -> Result<Vec<Member>, sqlx::Error> {
    on_db!(db, |p| {
        let mut qb = sqlx::QueryBuilder::new("");
        if effective {
            qb.push("WITH RECURSIVE down(id) AS (SELECT id FROM groups WHERE tenant_id = ");
            qb.push_bind(tenant_id)
                .push(" AND id = ")
                .push_bind(group_id);
            qb.push(
                " UNION SELECT e.child_id FROM group_groups e JOIN down ON e.parent_id = down.id
                  JOIN groups c ON c.id = e.child_id WHERE c.removed_from_source = ",
            );
            qb.push_bind(false);
            qb.push(
                ") SELECT kind, id, name, key FROM (
                   SELECT DISTINCT 'user' AS kind, u.id AS id, u.username AS name, u.username_key AS key
                   FROM group_users e JOIN down ON e.group_id = down.id JOIN users u ON u.id = e.user_id
                   UNION SELECT 'group', c.id, c.name, c.name_key FROM down JOIN groups c ON c.id = down.id WHERE c.id <> ",
            );
            qb.push_bind(group_id);
            qb.push(") AS m WHERE 1 = 1");
        } else {
            qb.push("SELECT kind, id, name, key FROM (SELECT 'user' AS kind, u.id AS id, u.username AS name, u.username_key AS key FROM group_users e JOIN users u ON u.id = e.user_id JOIN groups g ON g.id = e.group_id WHERE g.tenant_id = ");
            qb.push_bind(tenant_id)
                .push(" AND e.group_id = ")
                .push_bind(group_id);
            qb.push(" UNION ALL SELECT 'group', c.id, c.name, c.name_key FROM group_groups e JOIN groups c ON c.id = e.child_id JOIN groups g ON g.id = e.parent_id WHERE g.tenant_id = ");
            qb.push_bind(tenant_id)
                .push(" AND e.parent_id = ")
                .push_bind(group_id);
            qb.push(") AS m WHERE 1 = 1");
        }
        if let Some((key, kind)) = after {
            qb.push(" AND (key > ").push_bind(key.to_owned());
            qb.push(" OR (key = ").push_bind(key.to_owned());
            qb.push(" AND kind > ")
                .push_bind(kind.to_owned())
                .push("))");
        }
        qb.push(" ORDER BY key, kind LIMIT ").push_bind(limit);
        qb.build_query_as::<Member>().fetch_all(p).await
    })
}

/// A group a user (or group) is in, as the API lists it.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct GroupRef {
    pub id: Uuid,
    pub name: String,
    /// Null for a manual group.
    pub synchronization_id: Option<Uuid>,
}

/// The groups a user is directly in, or effectively (through nesting; groups removed
/// from the source neither count nor lead further), by name.
pub async fn of_user(
    db: &Db,
    tenant_id: Uuid,
    user_id: Uuid,
    effective: bool,
) -> Result<Vec<GroupRef>, sqlx::Error> {
    on_db!(db, |p| {
        if effective {
            sqlx::query_as::<_, GroupRef>(
                "WITH RECURSIVE up(id) AS (
                   SELECT e.group_id FROM group_users e JOIN groups g ON g.id = e.group_id
                   WHERE e.user_id = $1 AND g.tenant_id = $2 AND g.removed_from_source = $3
                   UNION
                   SELECT e.parent_id FROM group_groups e JOIN up ON e.child_id = up.id
                   JOIN groups g ON g.id = e.parent_id WHERE g.removed_from_source = $3)
                 SELECT g.id, g.name, g.synchronization_id FROM groups g JOIN up ON up.id = g.id ORDER BY g.name_key",
            )
            .bind(user_id)
            .bind(tenant_id)
            .bind(false)
            .fetch_all(p)
            .await
        } else {
            sqlx::query_as::<_, GroupRef>(
                "SELECT g.id, g.name, g.synchronization_id FROM group_users e JOIN groups g ON g.id = e.group_id
                 WHERE e.user_id = $1 AND g.tenant_id = $2 ORDER BY g.name_key",
            )
            .bind(user_id)
            .bind(tenant_id)
            .fetch_all(p)
            .await
        }
    })
}

/// The groups a group is directly nested in.
pub async fn parents(
    db: &Db,
    tenant_id: Uuid,
    group_id: Uuid,
) -> Result<Vec<GroupRef>, sqlx::Error> {
    on_db!(db, |p| {
        sqlx::query_as::<_, GroupRef>(
            "SELECT g.id, g.name, g.synchronization_id FROM group_groups e JOIN groups g ON g.id = e.parent_id
             WHERE e.child_id = $1 AND g.tenant_id = $2 ORDER BY g.name_key",
        )
        .bind(group_id)
        .bind(tenant_id)
        .fetch_all(p)
        .await
    })
}

/// A group added by hand (provider `manual`); `None` when the name is taken.
pub async fn insert_manual(
    db: &Db,
    tenant_id: Uuid,
    name: &str,
    description: Option<&str>,
    email: Option<&str>,
) -> Result<Option<Uuid>, sqlx::Error> {
    let id = Uuid::new_v4();
    let t = now();
    let r = crate::db_execute!(db, |p| {
        sqlx::query(
            "INSERT INTO groups (id, tenant_id, synchronization_id, external_id, name, name_key, description, email, source_dn, extra,
                                 content_hash, removed_from_source, created_at, updated_at, sort_key)
             VALUES ($1, $2, NULL, NULL, $3, $4, $5, $6, NULL, $7, NULL, $8, $9, $9, $10)",
        )
        .bind(id)
        .bind(tenant_id)
        .bind(name)
        .bind(name.to_lowercase())
        .bind(description)
        .bind(email)
        .bind(Json(BTreeMap::<String, String>::new()))
        .bind(false)
        .bind(t)
        .bind(super::users::sort_key(tenant_id, name))
        .execute(p)
        .await
    });
    match r {
        Ok(_) => Ok(Some(id)),
        Err(sqlx::Error::Database(d)) if d.is_unique_violation() => Ok(None),
        Err(e) => Err(e),
    }
}

/// Makes a synchronized group manual: its synchronization no longer changes, removes or
/// fills it; its members stay. False when it was manual already.
pub async fn detach(db: &Db, tenant_id: Uuid, id: Uuid) -> Result<bool, sqlx::Error> {
    crate::db_execute!(db, |p| sqlx::query(
        "UPDATE groups SET synchronization_id = NULL, external_id = NULL, content_hash = NULL, removed_from_source = $1, updated_at = $2
         WHERE tenant_id = $3 AND id = $4 AND synchronization_id IS NOT NULL"
    )
    .bind(false)
    .bind(now())
    .bind(tenant_id)
    .bind(id)
    .execute(p)
    .await)
    .map(|n| n == 1)
}

/// Deletes a group no synchronization owns, with its edges.
pub async fn delete_manual(db: &Db, tenant_id: Uuid, id: Uuid) -> Result<bool, sqlx::Error> {
    on_db!(db, |p| {
        let mut tx = p.begin().await?;
        let n = sqlx::query(
            "DELETE FROM groups WHERE tenant_id = $1 AND id = $2 AND synchronization_id IS NULL",
        )
        .bind(tenant_id)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 1 {
            for q in [
                "DELETE FROM group_users WHERE group_id = $1",
                "DELETE FROM group_groups WHERE parent_id = $1 OR child_id = $1",
            ] {
                sqlx::query(q).bind(id).execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        Ok(n == 1)
    })
}

/// Adds a user (or, `nested`, a group) to a group; whether it was new.
pub async fn add_edge(
    db: &Db,
    group_id: Uuid,
    member: Uuid,
    nested: bool,
) -> Result<bool, sqlx::Error> {
    let q = if nested {
        "INSERT INTO group_groups (parent_id, child_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
    } else {
        "INSERT INTO group_users (group_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
    };
    crate::db_execute!(db, |p| sqlx::query(q)
        .bind(group_id)
        .bind(member)
        .execute(p)
        .await)
    .map(|n| n == 1)
}

/// Removes a member from a group; whether it was there.
pub async fn remove_edge(db: &Db, group_id: Uuid, member: Uuid) -> Result<bool, sqlx::Error> {
    let mut n = 0;
    for q in [
        "DELETE FROM group_users WHERE group_id = $1 AND user_id = $2",
        "DELETE FROM group_groups WHERE parent_id = $1 AND child_id = $2",
    ] {
        n += crate::db_execute!(db, |p| sqlx::query(q)
            .bind(group_id)
            .bind(member)
            .execute(p)
            .await)?;
    }
    Ok(n > 0)
}
