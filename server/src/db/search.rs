//! The users' and groups' search (architecture §9): a substring of any of a row's
//! searched fields, case-insensitively, and the index that answers it without reading
//! every row of a large tenant — PostgreSQL's trigram index (`pg_trgm`), SQLite's FTS5
//! table with its trigram tokenizer.
//!
//! The fields are searched as one text, joined by a character no query contains (U+0001),
//! so that one expression can be indexed: `a LIKE p OR b LIKE p` would need an index per
//! field, and each costs every write its trigrams.
//!
//! Whatever finds the candidates, the row's own text is matched with the whole query
//! last, so both engines and both ways (index or scan) give the same answers.
//!
//! PostgreSQL's trigram index reads, for every trigram of the query, the list of all
//! rows holding it, and intersects them: a trigram that most rows hold (`use` of
//! `user900000`, `com` of an e-mail) costs the most and narrows the least — 7 of the
//! 7.5 ms of one match at a million users. So the index is asked only for the part of
//! the query between such trigrams at its ends ([`index_part`], judged on the sample of
//! the indexed text that `ANALYZE` keeps), and the whole query is matched on what it
//! finds.

use super::Db;
use crate::on_db;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

/// What is searched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Users,
    Groups,
}

/// SQLite: a page of a search is sorted from the index's matches when they are at most
/// this many (20 ms at a million users); beyond, the tenant's rows are walked in name
/// order, where so many match that the page fills quickly.
const INDEX_PAGE_MAX: i64 = 20_000;

/// PostgreSQL: a trigram held by at least this share of the sampled rows is left out of
/// what the index is asked for, when it is at an end of the query. Each such trigram
/// read costs about as much as the rows holding it, and at a fifth or more it narrows
/// the candidates at most five-fold.
const COMMON_SHARE: f64 = 0.2;

/// PostgreSQL: fewer sampled rows than this tell nothing about which trigrams are common.
const MIN_SAMPLE: usize = 20;

/// PostgreSQL: how long a sample read from `pg_stats` is used before it is read again.
/// Reading it cost a search about 0.7 ms (twice for a first page, which is counted too),
/// and only `ANALYZE` changes it.
const SAMPLE_KEPT: Duration = Duration::from_secs(60);

/// The samples read, by database and index. None is kept while there is none (no index
/// yet), so that the first searches after the index is built use it.
type Samples = HashMap<(String, &'static str), (Instant, Arc<Vec<String>>)>;

static SAMPLES: LazyLock<Mutex<Samples>> = LazyLock::new(Default::default);

/// SQLite: rows copied into a new FTS5 index per transaction (about 0.1 s), so that the
/// build never holds the one writer long.
const FILL_ROWS: i64 = 5_000;

/// SQLite: the fill cursor of an index that is complete.
const FILLED: i64 = i64::MAX;

impl Target {
    /// The searched columns; the first is already lower-case and never NULL.
    fn columns(self) -> [&'static str; 3] {
        match self {
            Target::Users => ["username_key", "email", "display_name"],
            Target::Groups => ["name_key", "description", "email"],
        }
    }

    /// The searched fields, lower-cased, each column qualified by `alias` (`g.name_key`;
    /// none with `""`): an alias does not change the expression PostgreSQL matches
    /// against the index.
    fn fields(self, alias: &str) -> [String; 3] {
        let t = if alias.is_empty() {
            String::new()
        } else {
            format!("{alias}.")
        };
        let [key, a, b] = self.columns();
        [
            format!("{t}{key}"),
            format!("LOWER(COALESCE({t}{a}, ''))"),
            format!("LOWER(COALESCE({t}{b}, ''))"),
        ]
    }

    fn table(self) -> &'static str {
        match self {
            Target::Users => "users",
            Target::Groups => "groups",
        }
    }

    /// The index's name: PostgreSQL's trigram index, SQLite's FTS5 table.
    pub fn index_name(self, db: &Db) -> &'static str {
        match (db, self) {
            (Db::Postgres(_), Target::Users) => "users_search_trgm",
            (Db::Postgres(_), Target::Groups) => "groups_search_trgm",
            (Db::Sqlite(_), Target::Users) => "users_search",
            (Db::Sqlite(_), Target::Groups) => "groups_search",
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

/// What a search is for: its page, or its count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Purpose {
    Page,
    Count,
}

/// How one query of one target is matched, chosen before its statement is built.
pub(super) struct Matcher {
    target: Target,
    /// The table's name in the statement (`""`: unnamed).
    alias: &'static str,
    /// The query, lower-cased.
    q: String,
    /// SQLite: the FTS5 phrase that finds the candidates, when its index is used.
    phrase: Option<String>,
    /// PostgreSQL: the part of the query the trigram index is asked for, when it is
    /// not the whole query (see [`index_part`]).
    index_part: Option<String>,
}

impl Matcher {
    /// PostgreSQL's planner chooses between the trigram index and a walk in name order by
    /// itself. SQLite's does not know how many rows a phrase matches, so it is asked
    /// first: a count, or a page of few matches, starts from the index; a page of very
    /// many walks the rows in order and stops when it is full.
    pub async fn new(
        db: &Db,
        target: Target,
        alias: &'static str,
        q: &str,
        purpose: Purpose,
    ) -> Result<Matcher, sqlx::Error> {
        let q = q.to_lowercase();
        let mut phrase = None;
        if let Db::Sqlite(pool) = db
            // A trigram index finds nothing shorter than a trigram; a query holding the
            // separator is matched field by field.
            && q.chars().count() >= 3
            && !q.contains('\u{1}')
            && fill_state(pool, target).await? == Some(FILLED)
        {
            let quoted = format!("\"{}\"", q.replace('"', "\"\""));
            let index = target.index_name(db);
            // The rows written since the index was last brought up to date are
            // candidates too; after a change of nearly every row they are most of them.
            let pending: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM (SELECT 1 FROM {index}_pending LIMIT $1)"
            )))
            .bind(INDEX_PAGE_MAX + 1)
            .fetch_one(pool)
            .await?;
            let use_index = pending <= INDEX_PAGE_MAX
                && match purpose {
                    Purpose::Count => true,
                    Purpose::Page => {
                        let found: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                            "SELECT COUNT(*) FROM (SELECT rowid FROM {index} WHERE {index} MATCH $1 LIMIT $2)"
                        )))
                        .bind(&quoted)
                        .bind(INDEX_PAGE_MAX + 1)
                        .fetch_one(pool)
                        .await?;
                        found + pending <= INDEX_PAGE_MAX
                    }
                };
            phrase = use_index.then_some(quoted);
        }
        let mut part = None;
        if let Db::Postgres(pool) = db
            && q.chars().count() > 3
            && !q.contains('\u{1}')
        {
            let sample = sample(pool, target.index_name(db)).await?;
            part = index_part(&q, &sample);
        }
        Ok(Matcher {
            target,
            alias,
            q,
            phrase,
            index_part: part,
        })
    }

    /// The matcher of `q`, if there is a query.
    pub async fn of(
        db: &Db,
        target: Target,
        alias: &'static str,
        q: Option<&str>,
        purpose: Purpose,
    ) -> Result<Option<Matcher>, sqlx::Error> {
        match q {
            Some(q) => Ok(Some(Matcher::new(db, target, alias, q, purpose).await?)),
            None => Ok(None),
        }
    }

    /// Adds what follows `FROM`: the table, or on SQLite the candidates — the index's
    /// matches and the rows written since it was brought up to date — joined to it
    /// (`CROSS JOIN` keeps them first).
    fn push_from<DB: sqlx::Database>(&self, qb: &mut sqlx::QueryBuilder<DB>, db: &Db)
    where
        for<'t> String: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    {
        let table = self.target.table();
        let named = named(table, self.alias);
        let Some(phrase) = &self.phrase else {
            qb.push(named);
            return;
        };
        let index = self.target.index_name(db);
        let t = if self.alias.is_empty() {
            table
        } else {
            self.alias
        };
        qb.push(format!(
            "(SELECT rowid AS hit FROM {index} WHERE {index} MATCH "
        ))
        .push_bind(phrase.clone())
        .push(format!(
            " AND rowid NOT IN (SELECT rowid FROM {index}_pending)
              UNION ALL SELECT rowid FROM {index}_pending) AS hits
             CROSS JOIN {named} ON {t}.rowid = hits.hit"
        ));
    }

    /// Adds ` AND <the row matches>` to the statement: whatever found the candidates,
    /// the row's own text decides.
    pub fn push<DB: sqlx::Database>(&self, qb: &mut sqlx::QueryBuilder<DB>, db: &Db)
    where
        for<'t> String: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    {
        // LIKE wildcards in the query are escaped: a search for `a_b` means `a_b`.
        let pattern = format!("%{}%", super::like_escape(&self.q));
        if let Some(part) = &self.index_part {
            // The index finds the rows holding the part; `strpos`, which no index
            // answers, keeps those holding the whole query.
            let text = self.target.expression(db, self.alias);
            qb.push(format!(" AND {text} LIKE "))
                .push_bind(format!("%{}%", super::like_escape(part)))
                .push(format!(" ESCAPE '\\' AND strpos({text}, "))
                .push_bind(self.q.clone())
                .push(") > 0");
            return;
        }
        if !self.q.contains('\u{1}') {
            qb.push(format!(
                " AND {} LIKE ",
                self.target.expression(db, self.alias)
            ))
            .push_bind(pattern)
            .push(" ESCAPE '\\'");
            return;
        }
        // A query holding the separator could match across two fields of the joined text:
        // it is matched field by field (no index; nobody types U+0001).
        let mut sep = " AND (";
        for field in self.target.fields(self.alias) {
            qb.push(format!("{sep}{field} LIKE "))
                .push_bind(pattern.clone())
                .push(" ESCAPE '\\'");
            sep = " OR ";
        }
        qb.push(")");
    }
}

/// PostgreSQL: the sample `ANALYZE` keeps of `index`'s text — its most common values
/// and its histogram's bounds; none before the index is built — as read at most
/// [`SAMPLE_KEPT`] ago.
async fn sample(pool: &sqlx::PgPool, index: &'static str) -> Result<Arc<Vec<String>>, sqlx::Error> {
    let o = pool.connect_options();
    let key = (
        format!(
            "{}:{}/{}",
            o.get_host(),
            o.get_port(),
            o.get_database().unwrap_or_default()
        ),
        index,
    );
    if let Some((at, sample)) = SAMPLES.lock().expect("the search samples").get(&key)
        && at.elapsed() < SAMPLE_KEPT
    {
        return Ok(sample.clone());
    }
    let read: Option<Vec<String>> = sqlx::query_scalar(
        "SELECT COALESCE(most_common_vals::text::text[], '{}')
                || COALESCE(histogram_bounds::text::text[], '{}')
         FROM pg_stats WHERE schemaname = current_schema() AND tablename = $1",
    )
    .bind(index)
    .fetch_optional(pool)
    .await?;
    let sample = Arc::new(read.unwrap_or_default());
    if !sample.is_empty() {
        SAMPLES
            .lock()
            .expect("the search samples")
            .insert(key, (Instant::now(), sample.clone()));
    }
    Ok(sample)
}

/// PostgreSQL: the part of the (lower-case) query `q` that the trigram index is asked
/// for: `q` without the characters at either end whose trigram at least
/// [`COMMON_SHARE`] of `sample` (the indexed text's) hold. `None` when that is all of
/// `q`, or would leave only a common trigram, or no run of three letters or digits —
/// from which `pg_trgm` takes its trigrams, so that the index could not be used at all.
fn index_part(q: &str, sample: &[String]) -> Option<String> {
    if sample.len() < MIN_SAMPLE {
        return None;
    }
    let chars: Vec<char> = q.chars().collect();
    let common = |at: usize| {
        let trigram: String = chars[at..at + 3].iter().collect();
        let holding = sample.iter().filter(|s| s.contains(&trigram)).count();
        holding as f64 >= COMMON_SHARE * sample.len() as f64
    };
    let (mut start, mut end) = (0, chars.len());
    while end - start > 3 && common(start) {
        start += 1;
    }
    while end - start > 3 && common(end - 3) {
        end -= 1;
    }
    if (start, end) == (0, chars.len()) || end - start < 3 || common(start) {
        return None;
    }
    let part = &chars[start..end];
    let word_run = part
        .windows(3)
        .any(|w| w.iter().all(char::is_ascii_alphanumeric));
    word_run.then(|| part.iter().collect())
}

/// `FROM`'s part of a query of `target` named `alias`: the table, or what `m` narrows
/// it to.
pub(super) fn push_from<DB: sqlx::Database>(
    qb: &mut sqlx::QueryBuilder<DB>,
    db: &Db,
    target: Target,
    alias: &str,
    m: Option<&Matcher>,
) where
    for<'t> String: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    match m {
        Some(m) => m.push_from(qb, db),
        None => {
            qb.push(named(target.table(), alias));
        }
    }
}

fn named(table: &str, alias: &str) -> String {
    if alias.is_empty() {
        table.to_owned()
    } else {
        format!("{table} {alias}")
    }
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
}

/// Builds `target`'s search index once the table holds `min_rows` rows, if it is not
/// there yet, after the first large sync rather than during it (one pass over the rows
/// costs much less than maintaining the index row by row while a million are copied in,
/// and a run's batches commit as they go). Unless `now`, it waits while any run is
/// running.
///
/// PostgreSQL: `CREATE INDEX CONCURRENTLY`, so that nothing waits for it, then `ANALYZE`,
/// which gives the planner the indexed text's statistics to choose between the index and
/// a walk in name order. One replica at a time builds it (an advisory lock); a build that
/// was interrupted leaves an invalid index, which is dropped and built again.
///
/// SQLite: an FTS5 table keyed by the rows' rowids, kept by triggers, filled a few
/// thousand rows per transaction behind a cursor the triggers respect, so that the one
/// writer is never held long and an interrupted fill goes on where it stopped.
///
/// An error is the database refusing: typically `CREATE EXTENSION pg_trgm` without the
/// right, which the caller reports with [`what_to_check`].
pub async fn ensure_index(
    db: &Db,
    target: Target,
    min_rows: u64,
    now: bool,
) -> Result<IndexState, sqlx::Error> {
    match db {
        Db::Postgres(pool) => ensure_pg(pool, db, target, min_rows, now).await,
        Db::Sqlite(pool) => ensure_fts(pool, db, target, min_rows, now).await,
    }
}

/// Whether `target`'s index is built and searches use it.
pub async fn ready(db: &Db, target: Target) -> Result<bool, sqlx::Error> {
    match db {
        Db::Postgres(pool) => Ok(index_valid(pool, target.index_name(db)).await? == Some(true)),
        Db::Sqlite(pool) => Ok(fill_state(pool, target).await? == Some(FILLED)),
    }
}

/// What an operator checks when [`ensure_index`] fails.
pub fn what_to_check(db: &Db) -> &'static str {
    match db {
        Db::Postgres(_) => {
            "check that the server's database role may run CREATE EXTENSION pg_trgm and \
             CREATE INDEX (or run CREATE EXTENSION pg_trgm as the database's owner)"
        }
        Db::Sqlite(_) => {
            "check that the database's disk has room and that no other program holds the \
             SQLite file"
        }
    }
}

/// Whether the table holds at least `min_rows` rows, counting no further.
async fn rows_at_least(db: &Db, target: Target, min_rows: u64) -> Result<bool, sqlx::Error> {
    let sql = format!(
        "SELECT COUNT(*) FROM (SELECT 1 FROM {} LIMIT $1) AS r",
        target.table()
    );
    let limit = i64::try_from(min_rows).unwrap_or(i64::MAX);
    let counted: i64 = on_db!(db, |p| {
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(limit)
            .fetch_one(p)
            .await
    })?;
    Ok(counted as u64 >= min_rows)
}

async fn a_run_is_running(db: &Db) -> Result<bool, sqlx::Error> {
    on_db!(db, |p| {
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM runs WHERE status = $1)")
            .bind(crate::vocabulary::RunStatus::Running.as_str())
            .fetch_one(p)
            .await
    })
}

async fn ensure_pg(
    pool: &sqlx::PgPool,
    db: &Db,
    target: Target,
    min_rows: u64,
    now: bool,
) -> Result<IndexState, sqlx::Error> {
    let index = target.index_name(db);
    if index_valid(pool, index).await? == Some(true) {
        return Ok(IndexState::Ready);
    }
    if !rows_at_least(db, target, min_rows).await? {
        return Ok(IndexState::NotYet);
    }
    if !now && a_run_is_running(db).await? {
        return Ok(IndexState::Waiting);
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
        Ok(_) => build_pg(&mut conn, db, target).await,
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

async fn build_pg(
    conn: &mut sqlx::PgConnection,
    db: &Db,
    target: Target,
) -> Result<(), sqlx::Error> {
    let index = target.index_name(db);
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

/// SQLite: the fill cursor of `target`'s FTS5 index (`FILLED` when complete), `None`
/// when there is none. The cursor's table is made with the first index, not by a
/// migration, as the index itself.
async fn fill_state(pool: &sqlx::SqlitePool, target: Target) -> Result<Option<i64>, sqlx::Error> {
    let exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'search_index_fill')",
    )
    .fetch_one(pool)
    .await?;
    if !exists {
        return Ok(None);
    }
    sqlx::query_scalar("SELECT filled_to FROM search_index_fill WHERE target = $1")
        .bind(target.table())
        .fetch_optional(pool)
        .await
}

async fn ensure_fts(
    pool: &sqlx::SqlitePool,
    db: &Db,
    target: Target,
    min_rows: u64,
    now: bool,
) -> Result<IndexState, sqlx::Error> {
    let mut state = fill_state(pool, target).await?;
    if state == Some(FILLED) {
        // Applied first: the look below compares what the index holds with the rows.
        while !apply_pending(pool, db, target).await? {}
        if intact(pool, db, target).await? {
            return Ok(IndexState::Ready);
        }
        tracing::warn!(
            index = target.index_name(db),
            "the search index no longer matches its table (its row numbers changed, as a \
             copy or a VACUUM may do, or its triggers are gone): building it again; \
             searches read every row until it is built"
        );
        drop_fts(pool, db, target).await?;
        state = None;
    }
    if state.is_none() && !rows_at_least(db, target, min_rows).await? {
        return Ok(IndexState::NotYet);
    }
    if !now && a_run_is_running(db).await? {
        return Ok(IndexState::Waiting);
    }
    if state.is_none() {
        create_fts(pool, db, target).await?;
    }
    let started = std::time::Instant::now();
    loop {
        if fill_some(pool, db, target).await? {
            break;
        }
        // A run that starts meanwhile has the writer between two fills; the cursor
        // keeps the place.
        if !now && a_run_is_running(db).await? {
            return Ok(IndexState::Waiting);
        }
    }
    tracing::info!(
        index = target.index_name(db),
        seconds = started.elapsed().as_secs_f64(),
        "built the search index"
    );
    Ok(IndexState::Ready)
}

/// Makes the FTS5 table, its cursor before the first row (SQLite numbers rows from 1), and the triggers that keep the rows
/// behind the cursor in step, in one transaction.
///
/// The table stores no text, only each row's ID beside its rowid (`owner`), by which a
/// look tells that the rowids came to mean other rows: SQLite keeps rowids through
/// `VACUUM` in practice, but does not promise to for a table without an integer primary
/// key.
///
/// The triggers do not write the index: they note the rowid in `<index>_pending`, which
/// [`apply_pending`] brings into the index a few thousand at a time, and which searches
/// read beside it. FTS5 writes what it holds in memory at every statement of a
/// transaction that uses it, so an index kept by the triggers themselves cost a run
/// 0.6 ms per changed row (1 % of a million users' e-mails: 9.1 s against 3.4 s). An
/// update is noted only when a searched field changed.
async fn create_fts(pool: &sqlx::SqlitePool, db: &Db, target: Target) -> Result<(), sqlx::Error> {
    let index = target.index_name(db);
    let table = target.table();
    let cursor = format!("(SELECT filled_to FROM search_index_fill WHERE target = '{table}')");
    let changed = target
        .columns()
        .map(|c| format!("OLD.{c} IS NOT NEW.{c}"))
        .join(" OR ");
    let columns = target.columns().join(", ");
    let sql = format!(
        "CREATE TABLE IF NOT EXISTS search_index_fill (target TEXT PRIMARY KEY, filled_to INTEGER NOT NULL);
         DELETE FROM search_index_fill WHERE target = '{table}';
         INSERT INTO search_index_fill (target, filled_to) VALUES ('{table}', 0);
         CREATE VIRTUAL TABLE {index} USING fts5(searched, owner UNINDEXED, content = '',
             contentless_delete = 1, contentless_unindexed = 1, tokenize = 'trigram');
         CREATE TABLE {index}_pending (rowid INTEGER PRIMARY KEY);
         CREATE TRIGGER {index}_insert AFTER INSERT ON {table} WHEN NEW.rowid <= {cursor}
         BEGIN
             INSERT OR IGNORE INTO {index}_pending (rowid) VALUES (NEW.rowid);
         END;
         CREATE TRIGGER {index}_update AFTER UPDATE OF {columns} ON {table}
         WHEN OLD.rowid <= {cursor} AND ({changed})
         BEGIN
             INSERT OR IGNORE INTO {index}_pending (rowid) VALUES (OLD.rowid);
         END;
         CREATE TRIGGER {index}_delete AFTER DELETE ON {table} WHEN OLD.rowid <= {cursor}
         BEGIN
             INSERT OR IGNORE INTO {index}_pending (rowid) VALUES (OLD.rowid);
         END;",
    );
    let mut tx = pool.begin().await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

/// Copies the next rows behind the cursor into the index and moves it on, in one
/// transaction whose first statement writes (so it takes the writer at once). `true`
/// when the index is complete.
async fn fill_some(pool: &sqlx::SqlitePool, db: &Db, target: Target) -> Result<bool, sqlx::Error> {
    let index = target.index_name(db);
    let table = target.table();
    let cursor = format!("(SELECT filled_to FROM search_index_fill WHERE target = '{table}')");
    let mut tx = pool.begin().await?;
    let copied = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {index} (rowid, searched, owner)
         SELECT rowid, {}, id FROM {table} WHERE rowid > {cursor} ORDER BY rowid LIMIT $1",
        target.expression(db, "")
    )))
    .bind(FILL_ROWS)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let done = (copied as i64) < FILL_ROWS;
    let moved = if done {
        format!("{FILLED}")
    } else {
        format!(
            "(SELECT MAX(rowid) FROM (SELECT rowid FROM {table} WHERE rowid > {cursor} ORDER BY rowid LIMIT {FILL_ROWS}))"
        )
    };
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE search_index_fill SET filled_to = {moved} WHERE target = $1"
    )))
    .bind(table)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(done)
}

/// Brings the next rows noted pending into the index: each one's entry out, and in
/// again with the row's text if the row is still there. `true` when none are left.
pub async fn apply_pending(
    pool: &sqlx::SqlitePool,
    db: &Db,
    target: Target,
) -> Result<bool, sqlx::Error> {
    let index = target.index_name(db);
    let table = target.table();
    let next = format!(
        "SELECT rowid FROM {index}_pending WHERE rowid <= (SELECT MAX(rowid) FROM \
         (SELECT rowid FROM {index}_pending ORDER BY rowid LIMIT {FILL_ROWS}))"
    );
    // The first statement writes, so the transaction takes the writer at once; the
    // three see the same rows, as nothing else writes meanwhile.
    let mut tx = pool.begin().await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DELETE FROM {index} WHERE rowid IN ({next})"
    )))
    .execute(&mut *tx)
    .await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO {index} (rowid, searched, owner)
         SELECT rowid, {}, id FROM {table} WHERE rowid IN ({next})",
        target.expression(db, "")
    )))
    .execute(&mut *tx)
    .await?;
    let applied = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DELETE FROM {index}_pending WHERE rowid IN ({next})"
    )))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok((applied as i64) < FILL_ROWS)
}

/// Whether the index is still kept (its triggers are there: a migration that rebuilds
/// the table drops them) and its newest entries still name the rows they were made
/// from.
async fn intact(pool: &sqlx::SqlitePool, db: &Db, target: Target) -> Result<bool, sqlx::Error> {
    let index = target.index_name(db);
    let table = target.table();
    let triggers: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger' AND tbl_name = $1 AND name IN ($2, $3, $4)",
    )
    .bind(table)
    .bind(format!("{index}_insert"))
    .bind(format!("{index}_update"))
    .bind(format!("{index}_delete"))
    .fetch_one(pool)
    .await?;
    if triggers != 3 {
        return Ok(false);
    }
    let strays: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT COUNT(*) FROM (SELECT rowid, owner FROM {index} ORDER BY rowid DESC LIMIT 64) AS s
         LEFT JOIN {table} t ON t.rowid = s.rowid
         WHERE t.id IS NOT s.owner AND s.rowid NOT IN (SELECT rowid FROM {index}_pending)"
    )))
    .fetch_one(pool)
    .await?;
    Ok(strays == 0)
}

async fn drop_fts(pool: &sqlx::SqlitePool, db: &Db, target: Target) -> Result<(), sqlx::Error> {
    let index = target.index_name(db);
    let table = target.table();
    // SQLite 3.51 leaves a contentless_unindexed table's `_content` behind on DROP.
    let sql = format!(
        "DROP TRIGGER IF EXISTS {index}_insert;
         DROP TRIGGER IF EXISTS {index}_update;
         DROP TRIGGER IF EXISTS {index}_delete;
         DROP TABLE IF EXISTS {index};
         DROP TABLE IF EXISTS {index}_content;
         DROP TABLE IF EXISTS {index}_pending;
         DELETE FROM search_index_fill WHERE target = '{table}';"
    );
    let mut tx = pool.begin().await?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(&mut *tx)
        .await?;
    tx.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sample of the bench's indexed text: every row holds `user`, `example.com` and
    /// `given`.
    fn bench_sample() -> Vec<String> {
        (0..100)
            .map(|i| {
                let i = i * 9_973;
                format!("user{i:05}\u{1}user{i:05}@example.com\u{1}given{i} surname{i}")
            })
            .collect()
    }

    #[test]
    fn the_index_is_asked_for_a_query_without_its_common_ends() {
        let s = bench_sample();
        assert_eq!(index_part("user900000", &s).as_deref(), Some("er900000"));
        assert_eq!(index_part("given12345", &s).as_deref(), Some("en12345"));
        assert_eq!(
            index_part("user00299@example.com", &s).as_deref(),
            Some("er00299@e"),
            "both ends"
        );
        // Nothing common at the ends: the whole query.
        assert_eq!(index_part("smith", &s), None);
        assert_eq!(index_part("xuserx", &s), None, "common only in the middle");
        // Only common trigrams: nothing better to ask.
        assert_eq!(index_part("user", &s), None);
        assert_eq!(index_part("example.com", &s), None);
        // What is left must hold three letters or digits in a row for pg_trgm.
        assert_eq!(index_part("user.@x", &s), None);
        // Too small a sample tells nothing.
        assert_eq!(index_part("user900000", &s[..5]), None);
    }

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
