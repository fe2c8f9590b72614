//! The database behind a test server, for what no API may do: try to change history,
//! or plant an entry from the past.

use adc_server::db::Db;

/// Runs `sql` on `db`; the database's error message when it refuses.
pub async fn execute(db: &Db, sql: &'static str) -> Result<u64, String> {
    let done = match db {
        Db::Sqlite(p) => sqlx::query(sql).execute(p).await.map(|r| r.rows_affected()),
        Db::Postgres(p) => sqlx::query(sql).execute(p).await.map(|r| r.rows_affected()),
    };
    done.map_err(|e| e.to_string())
}

/// An audit entry of the (only) tenant written `days_ago`, by the actor `archive`.
pub async fn old_audit_entry(db: &Db, days_ago: i64) {
    let at = time::OffsetDateTime::now_utc() - time::Duration::days(days_ago);
    const SQL: &str =
        "INSERT INTO audit_entries (tenant_id, at, actor_kind, actor_name, action, details)
         SELECT id, $1, 'cli', 'archive', 'tenant.created', '{}' FROM tenants";
    match db {
        Db::Sqlite(p) => sqlx::query(SQL).bind(at).execute(p).await.map(|_| ()),
        Db::Postgres(p) => sqlx::query(SQL).bind(at).execute(p).await.map(|_| ()),
    }
    .expect("an old audit entry");
}

/// Makes every synchronization look as if its agent left `offline_minutes` ago and its
/// last successful run ended `stale_minutes` ago (created long before).
pub async fn age_synchronization(db: &Db, offline_minutes: i64, stale_minutes: i64) {
    let now = time::OffsetDateTime::now_utc();
    let seen = now - time::Duration::minutes(offline_minutes);
    let success = now - time::Duration::minutes(stale_minutes);
    let created = now - time::Duration::days(1);
    const SYNCS: &str = "UPDATE synchronizations SET agent_last_seen_at = $1, created_at = $2";
    const RUNS: &str =
        "UPDATE runs SET started_at = $1, finished_at = $1 WHERE status = 'succeeded'";
    match db {
        Db::Sqlite(p) => {
            sqlx::query(SYNCS)
                .bind(seen)
                .bind(created)
                .execute(p)
                .await
                .unwrap();
            sqlx::query(RUNS).bind(success).execute(p).await.unwrap();
        }
        Db::Postgres(p) => {
            sqlx::query(SYNCS)
                .bind(seen)
                .bind(created)
                .execute(p)
                .await
                .unwrap();
            sqlx::query(RUNS).bind(success).execute(p).await.unwrap();
        }
    }
}

/// Whether the server's search index of `target` is built and used (PostgreSQL's trigram
/// index valid, SQLite's FTS5 table filled).
pub async fn index_ready(db: &Db, target: adc_server::db::search::Target) -> bool {
    adc_server::db::search::ready(db, target)
        .await
        .expect("the database answers")
}
