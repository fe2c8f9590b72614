//! The users' and groups' search (architecture §9): a substring of any of a row's
//! searched fields, case-insensitively, and on PostgreSQL the trigram index that answers
//! it without reading every row of a large tenant.
//!
//! The fields are searched as one text, joined by a character no query contains (U+0001),
//! so that one expression can be indexed: `a LIKE p OR b LIKE p` would need an index per
//! field, and each costs every write its trigrams.

use super::Db;

/// What is searched.
#[derive(Clone, Copy, Debug)]
pub enum Target {
    Users,
    Groups,
}

impl Target {
    /// The searched fields, lower-cased, each column qualified by `alias` (`g.name_key`;
    /// none with `""`): an alias does not change the expression PostgreSQL matches
    /// against the index.
    fn fields(self, alias: &str) -> [String; 3] {
        let templates = match self {
            Target::Users => [
                "{t}username_key",
                "LOWER(COALESCE({t}email, ''))",
                "LOWER(COALESCE({t}display_name, ''))",
            ],
            Target::Groups => [
                "{t}name_key",
                "LOWER(COALESCE({t}description, ''))",
                "LOWER(COALESCE({t}email, ''))",
            ],
        };
        let prefix = if alias.is_empty() {
            String::new()
        } else {
            format!("{alias}.")
        };
        templates.map(|f| f.replace("{t}", &prefix))
    }

    fn table(self) -> &'static str {
        match self {
            Target::Users => "users",
            Target::Groups => "groups",
        }
    }

    /// The trigram index's name (PostgreSQL).
    pub fn index(self) -> &'static str {
        match self {
            Target::Users => "users_search_trgm",
            Target::Groups => "groups_search_trgm",
        }
    }

    /// The fields joined into the one searched text.
    fn expression(self, db: &Db, alias: &str) -> String {
        let separator = match db {
            Db::Postgres(_) => " || chr(1) || ",
            Db::Sqlite(_) => " || char(1) || ",
        };
        format!("({})", self.fields(alias).join(separator))
    }
}

/// Adds ` AND <the row matches q>` to a query of `target` (its table named `alias`, or
/// unnamed with `""`).
pub(super) fn push_match<DB: sqlx::Database>(
    qb: &mut sqlx::QueryBuilder<DB>,
    db: &Db,
    target: Target,
    alias: &str,
    q: &str,
) where
    for<'t> String: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    // LIKE wildcards in the query are escaped: a search for `a_b` means `a_b`.
    let pattern = format!("%{}%", super::like_escape(&q.to_lowercase()));
    if !q.contains('\u{1}') {
        qb.push(format!(" AND {} LIKE ", target.expression(db, alias)))
            .push_bind(pattern)
            .push(" ESCAPE '\\'");
        return;
    }
    // A query holding the separator could match across two fields of the joined text:
    // it is matched field by field (no index; nobody types U+0001).
    let mut sep = " AND (";
    for field in target.fields(alias) {
        qb.push(format!("{sep}{field} LIKE "))
            .push_bind(pattern.clone())
            .push(" ESCAPE '\\'");
        sep = " OR ";
    }
    qb.push(")");
}

/// Where a target's search index stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexState {
    /// Built and valid: searches use it.
    Ready,
    /// Fewer rows than the threshold: a scan answers as fast, and no write pays for it.
    NotYet,
    /// Due, but a run is writing (see [`ensure_index`]), or another replica is building it.
    Waiting,
    /// SQLite: its searches scan (they stay usable at the sizes SQLite is run with).
    NotApplicable,
}

/// Builds `target`'s trigram index once the table holds `min_rows` rows, if it is not
/// there yet: `CREATE INDEX CONCURRENTLY`, so that nothing waits for it, after the first
/// large sync rather than during it (one pass over the rows costs much less than
/// maintaining the index row by row while a million are copied in, and a run's batches
/// commit as they go), then `ANALYZE`, which gives the planner the indexed text's
/// statistics to choose between the index and a walk in name order. Unless `now`, it
/// waits while any run is running. One replica at a time builds it (an advisory lock); a
/// build that was interrupted leaves an invalid index, which is dropped and built again.
///
/// An error is the database refusing: typically `CREATE EXTENSION pg_trgm` without the
/// right, which the caller reports.
pub async fn ensure_index(
    db: &Db,
    target: Target,
    min_rows: u64,
    now: bool,
) -> Result<IndexState, sqlx::Error> {
    let Db::Postgres(pool) = db else {
        return Ok(IndexState::NotApplicable);
    };
    let index = target.index();
    if index_valid(pool, index).await? == Some(true) {
        return Ok(IndexState::Ready);
    }
    let counted: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM (SELECT 1 FROM {} LIMIT $1) AS r",
        target.table()
    )))
    .bind(i64::try_from(min_rows).unwrap_or(i64::MAX))
    .fetch_one(pool)
    .await?;
    if (counted as u64) < min_rows {
        return Ok(IndexState::NotYet);
    }
    if !now {
        let running: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM runs WHERE status = $1)")
                .bind(crate::vocabulary::RunStatus::Running.as_str())
                .fetch_one(pool)
                .await?;
        if running {
            return Ok(IndexState::Waiting);
        }
    }
    // A session-level lock, so the same connection takes, builds and releases it.
    let mut conn = pool.acquire().await?;
    let key = LOCK_KEY + target as i64;
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
        .bind(key)
        .fetch_one(&mut *conn)
        .await?;
    if !locked {
        return Ok(IndexState::Waiting);
    }
    // Another replica may have built it between the look above and the lock.
    let built = match index_valid(pool, index).await {
        Ok(Some(true)) => Ok(()),
        Ok(_) => build(&mut conn, db, target).await,
        Err(e) => Err(e),
    };
    let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(key)
        .execute(&mut *conn)
        .await;
    built?;
    unlocked?;
    Ok(IndexState::Ready)
}

/// Advisory lock keys of the index builds (users, then groups): "adcsrch1" in ASCII.
const LOCK_KEY: i64 = 0x6164_6373_7263_6831;

/// `Some(valid)` when the index exists.
async fn index_valid(pool: &sqlx::PgPool, index: &str) -> Result<Option<bool>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
         WHERE c.relname = $1 AND c.relnamespace = current_schema()::regnamespace",
    )
    .bind(index)
    .fetch_optional(pool)
    .await
}

async fn build(conn: &mut sqlx::PgConnection, db: &Db, target: Target) -> Result<(), sqlx::Error> {
    let index = target.index();
    let table = target.table();
    sqlx::raw_sql("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        .execute(&mut *conn)
        .await?;
    // CONCURRENTLY cannot run in a transaction: plain statements, one at a time. The
    // names and the expression are this module's constants, not values.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP INDEX CONCURRENTLY IF EXISTS {index}"
    )))
    .execute(&mut *conn)
    .await?;
    let started = std::time::Instant::now();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE INDEX CONCURRENTLY {index} ON {table} USING gin ({} gin_trgm_ops)",
        target.expression(db, "")
    )))
    .execute(&mut *conn)
    .await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("ANALYZE {table}")))
        .execute(&mut *conn)
        .await?;
    tracing::info!(
        index,
        seconds = started.elapsed().as_secs_f64(),
        "built the search index"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alias_qualifies_each_column_and_nothing_else() {
        assert_eq!(
            Target::Groups.fields("g"),
            [
                "g.name_key",
                "LOWER(COALESCE(g.description, ''))",
                "LOWER(COALESCE(g.email, ''))"
            ]
        );
        assert_eq!(Target::Users.fields("")[0], "username_key");
    }
}
