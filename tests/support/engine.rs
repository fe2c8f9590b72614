//! A fresh, empty database per test on either engine.

use sqlx::Connection;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server the tests create their databases on; the README's test
/// command sets it (an existing server on 127.0.0.1:5432, or a throwaway one).
pub fn postgres_admin_url() -> String {
    std::env::var("ADC_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

fn database_url(admin: &str, name: &str) -> String {
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(admin);
    format!("{base}/{name}")
}

async fn admin_connection(admin: &str) -> sqlx::PgConnection {
    sqlx::PgConnection::connect(admin).await.unwrap_or_else(|e| {
        panic!("PostgreSQL at {admin} is not reachable ({e}); run the tests with scripts/test, which starts one")
    })
}

/// The name of a database holding the current PostgreSQL schema, from which each test's
/// database is cloned (a copy is much cheaper than running every migration per test).
/// It is named after the migrations' contents, so a changed migration builds a new one;
/// it is kept between test runs, and older ones are dropped when a new one is built.
async fn migrated_template() -> &'static str {
    static TEMPLATE: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    TEMPLATE.get_or_init(build_template).await
}

async fn build_template() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations/postgres");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the PostgreSQL migrations folder")
        .map(|e| e.expect("a migration file").path())
        .collect();
    files.sort();
    let mut hasher = std::hash::DefaultHasher::new();
    for f in &files {
        f.file_name().hash(&mut hasher);
        std::fs::read(f)
            .expect("a migration file")
            .hash(&mut hasher);
    }
    let name = format!("adc_tmpl_{:016x}", hasher.finish());
    let admin = postgres_admin_url();
    let mut conn = admin_connection(&admin).await;
    // Test processes started at once build it once: the second waits, then finds it.
    sqlx::query("SELECT pg_advisory_lock(7361)")
        .execute(&mut conn)
        .await
        .expect("lock for the template database");
    let existing: Vec<String> = sqlx::query_scalar(
        "SELECT datname::text FROM pg_database WHERE datname LIKE 'adc_tmpl_%' ORDER BY oid DESC",
    )
    .fetch_all(&mut conn)
    .await
    .expect("list template databases");
    if !existing.contains(&name) {
        // The two newest other templates stay: another suite on this PostgreSQL (a
        // checkout with other migrations, CI beside a developer) may be using one.
        // Older ones, and leftovers of a build that failed, go.
        let finished = existing.iter().filter(|t| !t.ends_with("_wip"));
        let keep: Vec<&String> = finished.take(2).collect();
        for old in existing.iter().filter(|t| !keep.contains(t)) {
            let sql = format!("DROP DATABASE IF EXISTS {old} WITH (FORCE)");
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .expect("drop an outdated template database");
        }
        // Built under another name and renamed once migrated: a build that fails half-way
        // leaves nothing a later run would take for a template.
        let building = format!("{name}_wip");
        for sql in [
            format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)"),
            format!("CREATE DATABASE {building}"),
        ] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                .execute(&mut conn)
                .await
                .expect("create the template database");
        }
        let db = adc_server::db::Db::connect(Some(&database_url(&admin, &building)))
            .await
            .expect("migrate the template database");
        db.close().await;
        let sql = format!("ALTER DATABASE {building} RENAME TO {name}");
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
            .expect("rename the template database");
    }
    let _ = conn.close().await;
    name
}

/// A database that exists for one test and is dropped after it.
pub struct TestDb {
    pub url: String,
    pub engine: Engine,
    dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

impl TestDb {
    pub async fn new(engine: Engine) -> TestDb {
        match engine {
            Engine::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("adc.sqlite").display());
                TestDb {
                    url,
                    engine,
                    dir: Some(dir),
                    pg_name: None,
                }
            }
            Engine::Postgres => {
                let admin = postgres_admin_url();
                let template = migrated_template().await;
                let name = format!("adc_t_{}", uuid::Uuid::new_v4().simple());
                let mut conn = admin_connection(&admin).await;
                // Both names are generated here (a UUID, a hash): nothing user-supplied
                // reaches this SQL.
                let sql = format!("CREATE DATABASE {name} TEMPLATE {template}");
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&mut conn)
                    .await
                    .expect("create test database from the template");
                let _ = conn.close().await;
                TestDb {
                    url: database_url(&admin, &name),
                    engine,
                    dir: None,
                    pg_name: Some(name),
                }
            }
        }
    }

    /// The same database, for a second server (a replica); dropping it drops nothing.
    pub fn borrowed(&self) -> TestDb {
        TestDb {
            url: self.url.clone(),
            engine: self.engine,
            dir: None,
            pg_name: None,
        }
    }

    /// PostgreSQL: refuses new connections to this database and ends the open ones
    /// (`false`: accepts them again), as a database that went away and came back.
    /// Returns how many sessions were ended.
    pub async fn refuse_connections(&self, refuse: bool) -> usize {
        assert_eq!(self.engine, Engine::Postgres, "PostgreSQL only");
        let name = self.url.rsplit('/').next().unwrap().to_owned();
        let mut admin = admin_connection(&postgres_admin_url()).await;
        // The name is this test's generated database: nothing user-supplied.
        let sql = format!("ALTER DATABASE {name} ALLOW_CONNECTIONS {}", !refuse);
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&mut admin)
            .await
            .unwrap();
        let mut ended = 0;
        if refuse {
            let rows: Vec<(bool,)> = sqlx::query_as(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
            )
            .bind(&name)
            .fetch_all(&mut admin)
            .await
            .unwrap();
            ended = rows.len();
        }
        let _ = admin.close().await;
        ended
    }

    /// Where a SQLite test keeps its files (and other scratch files).
    pub fn dir(&self) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.path().to_owned())
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        // Drop runs outside async; a short-lived runtime on its own thread does the work.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                if let Ok(mut c) = sqlx::PgConnection::connect(&postgres_admin_url()).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                        .execute(&mut c)
                        .await;
                    let _ = c.close().await;
                }
            })
        })
        .join();
    }
}
