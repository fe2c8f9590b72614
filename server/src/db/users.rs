//! The tenant's directory (architecture §5.1, §5.4). Batch reads and writes for the sync
//! engine: one statement per kind per batch, never a round trip per user.

use super::search::{self, Matcher, Purpose, Target};
use super::{Db, now};
use crate::on_db;
use serde::Serialize;
use sqlx::types::Json;
use std::collections::BTreeMap;
use time::OffsetDateTime;
use uuid::Uuid;

/// What the sync engine needs to know about a stored user.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Stored {
    pub id: Uuid,
    pub synchronization_id: Option<Uuid>,
    pub external_id: Option<String>,
    pub username: String,
    pub username_key: String,
    pub enabled: bool,
    pub source_enabled: bool,
    pub removed_from_source: bool,
    pub content_hash: Option<String>,
    /// The entry's DN as last read, to name it in a conflict.
    pub source_dn: Option<String>,
    /// The rest of the record, read by a run's lookup by external ID only (`extra` is
    /// then `Some`), so an update can say what it changes, old → new.
    #[sqlx(default)]
    pub email: Option<String>,
    #[sqlx(default)]
    pub display_name: Option<String>,
    #[sqlx(default)]
    pub given_name: Option<String>,
    #[sqlx(default)]
    pub surname: Option<String>,
    #[sqlx(default)]
    pub extra: Option<Json<BTreeMap<String, String>>>,
}

/// The key users are listed by: the username's key (lower case) with each run of
/// digits stripped of leading zeros and prefixed by its length, so that byte order is
/// natural order (`user2` < `user10`: "user" '1' "2" < "user" '2' "10"), then the
/// whole key after a separator, so that no two users share one (`user02`, `user2`).
pub fn natural_key(username: &str) -> String {
    let key = username.to_lowercase();
    let mut out = String::with_capacity(key.len() + 8);
    let mut chars = key.chars().peekable();
    while let Some(c) = chars.next() {
        if !c.is_ascii_digit() {
            out.push(c);
            continue;
        }
        let mut digits = String::from(c);
        while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            digits.push(d);
            chars.next();
        }
        let significant = digits.trim_start_matches('0');
        let significant = if significant.is_empty() {
            "0"
        } else {
            significant
        };
        // Lengths of up to 74 digits keep their order ('0' + 74 is 'z').
        let len = significant.len().min(74) as u8;
        out.push(char::from(b'0' + len));
        out.push_str(significant);
    }
    out.push('\u{1}');
    out.push_str(&key);
    out
}

/// What users and groups are listed by: the tenant, then [`natural_key`]. The tenant
/// leads the key, not the index: an index led by `tenant_id` would tempt PostgreSQL to
/// plan a run's lookups on an empty table as a scan of the tenant (see
/// `PG_BY_EXTERNAL_ID`).
pub fn sort_key(tenant_id: Uuid, name: &str) -> String {
    format!("{tenant_id}/{}", natural_key(name))
}

/// The tenant's column as a page walked in natural order names it: on SQLite `+column`,
/// which keeps its planner (it has no statistics) off the tenant's unique index, from
/// which it would sort the whole tenant for one page (300 ms at a million users)
/// instead of walking `sort_key`, whose keys begin with the tenant.
pub(super) fn page_tenant(db: &Db, column: &str) -> String {
    match db {
        Db::Postgres(_) => column.to_owned(),
        Db::Sqlite(_) => format!("+{column}"),
    }
}

/// Ends a query of `tenant_id`'s users or groups (`column` names their sort key) with
/// a keyset page in natural order: the tenant's range of the sort-key index from the
/// cursor `after` (a [`natural_key`]) on, compared byte by byte as the index is.
pub(super) fn push_natural_page<DB: sqlx::Database>(
    qb: &mut sqlx::QueryBuilder<DB>,
    db: &Db,
    column: &str,
    tenant_id: Uuid,
    after: Option<&str>,
    limit: i64,
) where
    for<'t> String: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    let order = match db {
        Db::Postgres(_) => format!("{column} COLLATE \"C\""),
        Db::Sqlite(_) => column.to_owned(),
    };
    // Every key of the tenant lies strictly between "<tenant>/" and "<tenant>0".
    let low = format!("{tenant_id}/{}", after.unwrap_or_default());
    qb.push(format!(" AND {order} > ")).push_bind(low);
    qb.push(format!(" AND {order} < "))
        .push_bind(format!("{tenant_id}0"));
    qb.push(format!(" ORDER BY {order} LIMIT "))
        .push_bind(limit);
}

/// The rows without a sort key, and how one is set: users, then groups.
const SORT_KEY_FILLS: [(&str, &str); 2] = [
    (
        "SELECT id, tenant_id, username FROM users WHERE sort_key IS NULL LIMIT 1000",
        "UPDATE users SET sort_key = $1 WHERE id = $2",
    ),
    (
        "SELECT id, tenant_id, name FROM groups WHERE sort_key IS NULL LIMIT 1000",
        "UPDATE groups SET sort_key = $1 WHERE id = $2",
    ),
];

/// Fills in the sort keys of users and groups stored before they existed (migration
/// 0018), a thousand per transaction; run at start, before the server serves.
pub async fn fill_sort_keys(db: &Db) -> Result<u64, sqlx::Error> {
    let mut filled = 0;
    for (select, update) in SORT_KEY_FILLS {
        loop {
            let rows: Vec<(Uuid, Uuid, String)> =
                on_db!(db, |p| sqlx::query_as(select).fetch_all(p).await)?;
            if rows.is_empty() {
                break;
            }
            on_db!(db, |p| {
                let mut tx = p.begin().await?;
                for (id, tenant, name) in &rows {
                    sqlx::query(update)
                        .bind(sort_key(*tenant, name))
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await
            })?;
            filled += rows.len() as u64;
        }
    }
    Ok(filled)
}

/// Largest IN list per statement (SQLite allows 32766 variables).
pub const CHUNK: usize = 1000;

const STORED_COLUMNS: &str = "id, synchronization_id, external_id, username, username_key, enabled, source_enabled, removed_from_source, content_hash, source_dn";
/// What a run's lookup by external ID reads besides, to say what an update changes.
const DETAIL_COLUMNS: &str = ", email, display_name, given_name, surname, extra";

/// This synchronization's users with these external IDs.
pub async fn by_external_ids(
    db: &Db,
    tenant_id: Uuid,
    sync_id: Uuid,
    ids: &[String],
) -> Result<Vec<Stored>, sqlx::Error> {
    lookup(db, tenant_id, Key::External(sync_id), ids).await
}

/// The tenant's users with these (lower-case) usernames, whatever their provider.
pub async fn by_username_keys(
    db: &Db,
    tenant_id: Uuid,
    keys: &[String],
) -> Result<Vec<Stored>, sqlx::Error> {
    lookup(db, tenant_id, Key::Username, keys).await
}

/// The tenant's user with this (lower-case) username: pass-through authentication's
/// lookup, one indexed row (by its [`sort_key`], the name's one index: migration 0020),
/// prepared once per connection (its plan cannot go stale).
pub async fn by_username_key(
    db: &Db,
    tenant_id: Uuid,
    key: &str,
) -> Result<Option<Stored>, sqlx::Error> {
    on_db!(db, |p| {
        sqlx::query_as::<_, Stored>(
            "SELECT id, synchronization_id, external_id, username, username_key, enabled, source_enabled, removed_from_source, content_hash, source_dn
             FROM users WHERE sort_key = $1 AND tenant_id = $2",
        )
        .bind(sort_key(tenant_id, key))
        .bind(tenant_id)
        .fetch_optional(p)
        .await
    })
}

/// A run's lookups on PostgreSQL ($1 the tenant, $2 the keys, $3 the synchronization):
/// one probe of the unique index of the key per value. A plain join of the unnested
/// keys was planned as a sequential scan and hash join of the tenant's users (up to
/// 15 ms per batch) until the table passed ~20 000 users; LATERAL … LIMIT 1 leaves the
/// planner nothing to hash. Each key has an index that serves it (migration 0006), but
/// a table of a few rows is cheaper to scan: a plan made then and kept (a prepared
/// statement turns generic after five runs) scans the table per key as it grows — an
/// initial sync took 58–116 s instead of 2.6 in 2 of 5 groups benchmarks. So these are
/// never prepared: each is planned for the table as it is (well under a millisecond).
pub const PG_BY_EXTERNAL_ID: &str = "SELECT u.id, u.synchronization_id, u.external_id, u.username, u.username_key, u.enabled, u.source_enabled, u.removed_from_source, u.content_hash, u.source_dn,
            u.email, u.display_name, u.given_name, u.surname, u.extra
     FROM unnest($2::text[]) AS k(v) CROSS JOIN LATERAL
       (SELECT * FROM users WHERE tenant_id = $1 AND synchronization_id = $3 AND external_id = k.v LIMIT 1) u";
pub const PG_BY_USERNAME: &str = "SELECT u.id, u.synchronization_id, u.external_id, u.username, u.username_key, u.enabled, u.source_enabled, u.removed_from_source, u.content_hash, u.source_dn
     FROM unnest($2::text[]) AS k(v) CROSS JOIN LATERAL
       (SELECT * FROM users WHERE sort_key = k.v AND tenant_id = $1 LIMIT 1) u";

#[derive(Clone, Copy)]
enum Key {
    External(Uuid),
    Username,
}

async fn lookup(
    db: &Db,
    tenant_id: Uuid,
    key: Key,
    values: &[String],
) -> Result<Vec<Stored>, sqlx::Error> {
    // Names are found by their sort key, the one index of a user's name.
    let sort_keys: Vec<String>;
    let values = match key {
        Key::External(_) => values,
        Key::Username => {
            sort_keys = values.iter().map(|k| sort_key(tenant_id, k)).collect();
            &sort_keys
        }
    };
    let mut out = Vec::new();
    for chunk in values.chunks(CHUNK) {
        let rows = match db {
            Db::Postgres(p) => {
                let sql = match key {
                    Key::External(_) => PG_BY_EXTERNAL_ID,
                    Key::Username => PG_BY_USERNAME,
                };
                let q = sqlx::query_as::<_, Stored>(sql)
                    .persistent(false) // planned as the table is: see above
                    .bind(tenant_id)
                    .bind(chunk);
                match key {
                    Key::External(sync_id) => q.bind(sync_id),
                    Key::Username => q,
                }
                .fetch_all(p)
                .await?
            }
            Db::Sqlite(p) => {
                let details = match key {
                    Key::External(_) => DETAIL_COLUMNS,
                    Key::Username => "",
                };
                let mut qb = sqlx::QueryBuilder::new(format!(
                    "SELECT {STORED_COLUMNS}{details} FROM users WHERE tenant_id = "
                ));
                qb.push_bind(tenant_id);
                match key {
                    Key::External(sync_id) => qb
                        .push(" AND synchronization_id = ")
                        .push_bind(sync_id)
                        .push(" AND external_id IN ("),
                    Key::Username => qb.push(" AND sort_key IN ("),
                };
                let mut sep = qb.separated(", ");
                for v in chunk {
                    sep.push_bind(v.as_str());
                }
                qb.push(")");
                qb.build_query_as::<Stored>().fetch_all(p).await?
            }
        };
        out.extend(rows);
    }
    Ok(out)
}

/// Refreshes the planner's statistics of the users table (PostgreSQL), for the
/// columns a run's reads filter on (the others' statistics take most of the time).
pub async fn analyze(db: &Db) -> Result<(), sqlx::Error> {
    match db {
        Db::Postgres(p) => {
            sqlx::query("ANALYZE users (tenant_id, synchronization_id, external_id, sort_key)")
                .execute(p)
                .await
                .map(|_| ())
        }
        // SQLite's planner takes the unique indexes without statistics.
        Db::Sqlite(_) => Ok(()),
    }
}

/// One page of the manifest: (external ID, hash) after `after`, in ID order. Users
/// disabled because they left the source are not in it: if they come back they are
/// sent as new and re-enabled.
pub async fn manifest_page(
    db: &Db,
    tenant_id: Uuid,
    sync_id: Uuid,
    after: &str,
    limit: i64,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    // Keyed on the (tenant, synchronization, external ID) index: a page is a range scan.
    on_db!(db, |p| {
        sqlx::query_as::<_, (String, String)>(
        "SELECT external_id, COALESCE(content_hash, '') FROM users
         WHERE tenant_id = $5 AND synchronization_id = $1 AND external_id > $3 AND removed_from_source = $2
         ORDER BY external_id LIMIT $4"
    )
    .bind(sync_id)
    .bind(false)
    .bind(after)
    .bind(limit)
    .bind(tenant_id)
    .fetch_all(p)
    .await
    })
}

/// Whether any user belongs to the synchronization, removed from the source or not.
pub async fn sync_has_users(db: &Db, tenant_id: Uuid, sync_id: Uuid) -> Result<bool, sqlx::Error> {
    on_db!(db, |p| {
        sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT 1 FROM users WHERE tenant_id = $1 AND synchronization_id = $2)",
        )
        .bind(tenant_id)
        .bind(sync_id)
        .fetch_one(p)
        .await
    })
}

/// Whether the tenant has any user at all: one probe of the sort-key index (whose keys
/// begin with the tenant and '/'), not a walk of the table.
pub async fn tenant_has_users(db: &Db, tenant_id: Uuid) -> Result<bool, sqlx::Error> {
    on_db!(db, |p| {
        sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT 1 FROM users WHERE sort_key >= $1 AND sort_key < $2 AND tenant_id = $3)",
        )
        .bind(format!("{tenant_id}/"))
        // '0' follows '/' in byte order.
        .bind(format!("{tenant_id}0"))
        .bind(tenant_id)
        .fetch_one(p)
        .await
    })
}

/// Users of a synchronization still in the source: the base of the deletion guard's
/// percentage.
pub async fn count_in_source(db: &Db, tenant_id: Uuid, sync_id: Uuid) -> Result<i64, sqlx::Error> {
    on_db!(db, |p| {
        sqlx::query_scalar::<_, i64>(
        "SELECT COUNT(*) FROM users WHERE tenant_id = $3 AND synchronization_id = $1 AND removed_from_source = $2"
    )
    .bind(sync_id)
    .bind(false)
    .bind(tenant_id)
    .fetch_one(p)
    .await
    })
}

/// A user as the API shows it.
#[derive(Clone, Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
#[schema(as = UserFields)]
pub struct User {
    pub id: Uuid,
    pub synchronization_id: Option<Uuid>,
    pub external_id: Option<String>,
    pub username: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    pub given_name: Option<String>,
    pub surname: Option<String>,
    pub enabled: bool,
    pub removed_from_source: bool,
    pub source_dn: Option<String>,
    #[schema(value_type = BTreeMap<String, String>)]
    pub extra: Json<BTreeMap<String, String>>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Default)]
pub struct Filter {
    /// Matches username, e-mail or display name, case-insensitively.
    pub q: Option<String>,
    /// `manual`, or a synchronization ID.
    pub provider: Option<Provider>,
    pub enabled: Option<bool>,
}

#[derive(Debug, Clone, Copy)]
pub enum Provider {
    Manual,
    Sync(Uuid),
}

/// One page of users ordered by username, after the username key `after`.
/// Adds `f`'s conditions (after `WHERE tenant_id = …`) to a query of users.
fn push_filter<DB: sqlx::Database>(
    qb: &mut sqlx::QueryBuilder<DB>,
    db: &Db,
    m: Option<&Matcher>,
    f: &Filter,
) where
    for<'t> String: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> bool: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> Uuid: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    if let Some(m) = m {
        m.push(qb, db);
    }
    match f.provider {
        Some(Provider::Manual) => {
            qb.push(" AND synchronization_id IS NULL");
        }
        Some(Provider::Sync(id)) => {
            qb.push(" AND synchronization_id = ").push_bind(id);
        }
        None => {}
    }
    if let Some(e) = f.enabled {
        qb.push(" AND enabled = ").push_bind(e);
    }
}

pub async fn search(
    db: &Db,
    tenant_id: Uuid,
    f: &Filter,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<User>, sqlx::Error> {
    let m = Matcher::of(db, Target::Users, "", f.q.as_deref(), Purpose::Page).await?;
    on_db!(db, |p| {
        let mut qb = sqlx::QueryBuilder::new(
            "SELECT id, synchronization_id, external_id, username, email, display_name, given_name, surname, enabled, removed_from_source, source_dn, extra, created_at, updated_at FROM ",
        );
        search::push_from(&mut qb, db, Target::Users, "", m.as_ref());
        qb.push(format!(" WHERE {} = ", page_tenant(db, "tenant_id")));
        qb.push_bind(tenant_id);
        push_filter(&mut qb, db, m.as_ref(), f);
        push_natural_page(&mut qb, db, "sort_key", tenant_id, after, limit);
        // Planned with the query's own text (an unnamed statement): a cached generic plan
        // guesses every pattern's selectivity alike and would walk a million rows in name
        // order for a search that one row matches, which the trigram index answers.
        qb.build_query_as::<User>()
            .persistent(false)
            .fetch_all(p)
            .await
    })
}

/// How many users match `f`, counted up to `cap` (a tenant of a million users is not
/// counted on every page view): `cap` means "at least".
pub async fn count(db: &Db, tenant_id: Uuid, f: &Filter, cap: i64) -> Result<i64, sqlx::Error> {
    let m = Matcher::of(db, Target::Users, "", f.q.as_deref(), Purpose::Count).await?;
    on_db!(db, |p| {
        let mut qb = sqlx::QueryBuilder::new("SELECT COUNT(*) FROM (SELECT 1 FROM ");
        search::push_from(&mut qb, db, Target::Users, "", m.as_ref());
        qb.push(" WHERE tenant_id = ");
        qb.push_bind(tenant_id);
        push_filter(&mut qb, db, m.as_ref(), f);
        qb.push(" LIMIT ").push_bind(cap).push(") AS matching");
        qb.build_query_scalar::<i64>()
            .persistent(false) // as in `search`
            .fetch_one(p)
            .await
    })
}

pub async fn get(db: &Db, tenant_id: Uuid, id: Uuid) -> Result<Option<User>, sqlx::Error> {
    on_db!(db, |p| {
        sqlx::query_as::<_, User>(
        "SELECT id, synchronization_id, external_id, username, email, display_name, given_name, surname, enabled, removed_from_source, source_dn, extra, created_at, updated_at
         FROM users WHERE tenant_id = $1 AND id = $2"
    )
    .bind(tenant_id)
    .bind(id)
    .fetch_optional(p)
    .await
    })
}

/// A user added by hand (provider `manual`).
pub struct NewManual<'a> {
    pub username: &'a str,
    pub email: Option<&'a str>,
    pub display_name: Option<&'a str>,
    pub given_name: Option<&'a str>,
    pub surname: Option<&'a str>,
    pub enabled: bool,
}

pub async fn insert_manual(
    db: &Db,
    tenant_id: Uuid,
    u: NewManual<'_>,
) -> Result<Uuid, sqlx::Error> {
    let id = Uuid::new_v4();
    let t = now();
    crate::db_execute!(db, |p| {
        sqlx::query(
        "INSERT INTO users (id, tenant_id, synchronization_id, external_id, username, username_key, email, display_name, given_name, surname,
                            enabled, source_enabled, removed_from_source, source_dn, extra, content_hash, created_at, updated_at, sort_key)
         VALUES ($1, $2, NULL, NULL, $3, $4, $5, $6, $7, $8, $9, $9, $10, NULL, $11, NULL, $12, $12, $13)"
    )
    .bind(id)
    .bind(tenant_id)
    .bind(u.username)
    .bind(u.username.to_lowercase())
    .bind(u.email)
    .bind(u.display_name)
    .bind(u.given_name)
    .bind(u.surname)
    .bind(u.enabled)
    .bind(false)
    .bind(Json(BTreeMap::<String, String>::new()))
    .bind(t)
    .bind(sort_key(tenant_id, u.username))
    .execute(p)
    .await
    })?;
    Ok(id)
}

pub async fn set_enabled(
    db: &Db,
    tenant_id: Uuid,
    id: Uuid,
    enabled: bool,
) -> Result<bool, sqlx::Error> {
    crate::db_execute!(db, |p| sqlx::query(
        "UPDATE users SET enabled = $1, updated_at = $2 WHERE tenant_id = $3 AND id = $4"
    )
    .bind(enabled)
    .bind(now())
    .bind(tenant_id)
    .bind(id)
    .execute(p)
    .await)
    .map(|n| n == 1)
}

/// Detaches a synced user: it becomes `manual` and the synchronization leaves it alone.
pub async fn detach(db: &Db, tenant_id: Uuid, id: Uuid) -> Result<bool, sqlx::Error> {
    crate::db_execute!(db, |p| sqlx::query(
        "UPDATE users SET synchronization_id = NULL, external_id = NULL, content_hash = NULL, removed_from_source = $1, updated_at = $2
         WHERE tenant_id = $3 AND id = $4"
    )
    .bind(false)
    .bind(now())
    .bind(tenant_id)
    .bind(id)
    .execute(p)
    .await)
    .map(|n| n == 1)
}

/// Deletes a user that no synchronization owns, with its memberships (PostgreSQL has
/// no foreign key to cascade them).
pub async fn delete_manual(db: &Db, tenant_id: Uuid, id: Uuid) -> Result<bool, sqlx::Error> {
    on_db!(db, |p| {
        let mut tx = p.begin().await?;
        let n = sqlx::query(
            "DELETE FROM users WHERE tenant_id = $1 AND id = $2 AND synchronization_id IS NULL",
        )
        .bind(tenant_id)
        .bind(id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 1 {
            sqlx::query("DELETE FROM group_users WHERE user_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(n == 1)
    })
}

#[cfg(test)]
mod tests {
    use super::natural_key;

    #[test]
    fn the_sort_key_orders_numbers_by_their_value() {
        let mut names = vec![
            "user10", "User2", "user1", "user02", "user1a", "usera", "user", "a9b", "a10b",
        ];
        names.sort_by_key(|n| natural_key(n));
        assert_eq!(
            names,
            [
                "a9b", "a10b", "user", "user1", "user1a", "user02", "User2", "user10", "usera"
            ]
        );
        assert_ne!(
            natural_key("user02"),
            natural_key("user2"),
            "no two usernames share a key"
        );
    }
}
