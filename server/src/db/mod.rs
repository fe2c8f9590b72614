//! Storage: one narrow interface over the two engines (architecture §2).
//!
//! SQL is written once with `$n` placeholders, which both drivers accept, and run on
//! whichever pool is configured through [`on_db!`]; where the dialects differ a
//! function says so. Every value is bound, never formatted into SQL (architecture §8.6).

pub mod admins;
pub mod agents;
pub mod audit;
pub mod changes;
pub mod groups;
pub mod health_state;
pub mod notifications;
pub mod notify;
pub mod principals;
pub mod replicas;
pub mod runs;
pub mod search;
pub mod syncs;
pub mod tenants;
pub mod users;
pub mod writes;

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};
use std::str::FromStr;
use std::time::Duration;

#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same expression against whichever engine `db` holds; `$pool` is bound to
/// the concrete pool so binds and row types are checked per engine.
#[macro_export]
macro_rules! on_db {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($pool) => $body,
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}

/// Like [`on_db!`] for a statement run with `.execute(..)`: yields the number of rows
/// affected, whatever the engine.
#[macro_export]
macro_rules! db_execute {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($pool) => $body.map(|r| r.rows_affected()),
            $crate::db::Db::Postgres($pool) => $body.map(|r| r.rows_affected()),
        }
    };
}

/// `s` with LIKE's wildcards taken literally (used with `ESCAPE '\'`): a search for
/// `a_b` means `a_b`.
pub fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Where the embedded default database lives (architecture §2).
pub const DEFAULT_SQLITE_PATH: &str = "./data/adc.sqlite";

impl Db {
    /// Connects to `url` (`postgres://…` or `sqlite:…`), or to the embedded SQLite file
    /// when `url` is `None`, and brings the schema up to date.
    pub async fn connect(url: Option<&str>) -> anyhow::Result<Db> {
        let db = match url {
            Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => {
                let opts = PgConnectOptions::from_str(u)
                    .context("ADC_DATABASE_URL is not a valid PostgreSQL URL")?;
                first_connection(&opts).await?;
                let pool = PgPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(opts)
                    .await
                    .context("cannot connect to PostgreSQL")?;
                Db::Postgres(pool)
            }
            Some(u) if u.starts_with("sqlite:") => {
                let opts = SqliteConnectOptions::from_str(u)
                    .with_context(|| format!("ADC_DATABASE_URL `{u}` is not a valid SQLite URL"))?;
                create_private(opts.get_filename())?;
                Db::Sqlite(sqlite_pool(opts).await?)
            }
            Some(_) => anyhow::bail!(
                "ADC_DATABASE_URL must start with postgres://, postgresql:// or sqlite:"
            ),
            None => {
                let path = std::path::Path::new(DEFAULT_SQLITE_PATH);
                create_private(path)?;
                Db::Sqlite(sqlite_pool(SqliteConnectOptions::new().filename(path)).await?)
            }
        };
        db.migrate().await?;
        Ok(db)
    }

    async fn migrate(&self) -> anyhow::Result<()> {
        match self {
            Db::Sqlite(p) => sqlx::migrate!("../migrations/sqlite").run(p).await,
            Db::Postgres(p) => sqlx::migrate!("../migrations/postgres").run(p).await,
        }
        .context("cannot apply database migrations")?;
        // What SQL cannot compute: the natural sort keys of users and groups stored
        // before them.
        let filled = users::fill_sort_keys(self)
            .await
            .context("cannot fill in the sort keys of users and groups (migration 0018)")?;
        if filled > 0 {
            tracing::info!(rows = filled, "filled in the sort keys of users and groups");
        }
        Ok(())
    }

    pub fn engine(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// Whether other replicas may share this database (PostgreSQL); an embedded SQLite
    /// file has this server alone.
    pub fn may_be_shared(&self) -> bool {
        matches!(self, Db::Postgres(_))
    }

    /// How many independent writes may usefully run at once: SQLite has one writer.
    pub fn parallel_writes(&self) -> usize {
        match self {
            Db::Postgres(_) => 2,
            Db::Sqlite(_) => 1,
        }
    }

    /// A cheap round trip, for `/readyz`: an error after `limit` at the latest (the
    /// pool alone would wait its acquire timeout, longer than a load balancer's probe).
    pub async fn ping(&self, limit: Duration) -> Result<(), sqlx::Error> {
        let ping = async {
            on_db!(self, |p| sqlx::query("SELECT 1")
                .execute(p)
                .await
                .map(|_| ()))
        };
        tokio::time::timeout(limit, ping)
            .await
            .unwrap_or(Err(sqlx::Error::PoolTimedOut))
    }

    pub async fn close(&self) {
        on_db!(self, |p| p.close().await)
    }
}

/// Creates a SQLite database file that does not exist yet readable by its owner only
/// (0600), and the folders above it that do not exist 0700: it holds password hashes
/// and the directory's users. SQLite gives its `-wal` and `-shm` files the same mode.
/// An existing file or folder is left as its owner set it.
fn create_private(path: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if path.as_os_str().is_empty() || path == std::path::Path::new(":memory:") || path.exists() {
        return Ok(());
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create the database folder {}", dir.display()))?;
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        // Created meanwhile by another process: theirs to keep.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e).with_context(|| {
            format!(
                "cannot create the SQLite database {}: check that its folder is writable",
                path.display()
            )
        }),
    }
}

/// One connection before the pool is built, so that an unreachable or refusing
/// PostgreSQL is reported at once with the address tried and its own reason (a pool
/// retries until its timeout and then says only "pool timed out").
async fn first_connection(opts: &PgConnectOptions) -> anyhow::Result<()> {
    use sqlx::ConnectOptions;
    let at = format!(
        "{}:{} (database `{}`, user `{}`)",
        opts.get_host(),
        opts.get_port(),
        opts.get_database().unwrap_or("postgres"),
        opts.get_username()
    );
    let hint = "check ADC_DATABASE_URL, and that PostgreSQL runs there and accepts this server";
    match tokio::time::timeout(Duration::from_secs(10), opts.connect()).await {
        Ok(Ok(c)) => {
            let _ = sqlx::Connection::close(c).await;
            Ok(())
        }
        Ok(Err(e)) => anyhow::bail!("cannot connect to PostgreSQL at {at}: {e}; {hint}"),
        Err(_) => {
            anyhow::bail!("cannot connect to PostgreSQL at {at}: no answer within 10 s; {hint}")
        }
    }
}

async fn sqlite_pool(opts: SqliteConnectOptions) -> anyhow::Result<SqlitePool> {
    let opts = opts
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // The usual pairing with WAL: durable across application crashes, and at most
        // the last transactions lost on power loss, without an fsync per commit.
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true);
    SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(opts)
        .await
        .context("cannot open the SQLite database")
}

/// Runs `op` again in the background, backing off to 10 s between tries, until it
/// succeeds: for records that must not stay wrong once a database that was away for a
/// while comes back (a run left `running`, a connection left listed).
pub fn retry_until_done<F, Fut>(what: &'static str, op: F)
where
    F: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<(), sqlx::Error>> + Send,
{
    tokio::spawn(async move {
        let mut wait = Duration::from_millis(500);
        loop {
            tokio::time::sleep(wait).await;
            match op().await {
                Ok(()) => {
                    tracing::info!(what, "recorded after the database came back");
                    return;
                }
                Err(e) => tracing::warn!(what, error = %e, "still cannot reach the database"),
            }
            wait = (wait * 2).min(Duration::from_secs(10));
        }
    });
}

/// The current time, truncated to microseconds so that both engines store and return
/// the same value.
pub fn now() -> time::OffsetDateTime {
    let t = time::OffsetDateTime::now_utc();
    t.replace_nanosecond(t.nanosecond() / 1000 * 1000)
        .expect("valid nanosecond")
}
