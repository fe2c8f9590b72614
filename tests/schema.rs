//! The two migration folders describe one schema: what one engine has, the other has.

use adc_e2e::engine::{Engine, TestDb};
use sqlx::Connection;
use std::collections::BTreeMap;

/// Each table and view of a migrated database with its column names, sorted.
async fn tables(engine: Engine) -> BTreeMap<String, Vec<String>> {
    let db = TestDb::new(engine).await;
    // The server migrates the database as it connects.
    adc_server::db::Db::connect(Some(&db.url))
        .await
        .unwrap()
        .close()
        .await;
    let rows: Vec<(String, String)> = match engine {
        Engine::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            sqlx::query_as(
                "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p
                 WHERE m.type IN ('table', 'view') AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations'",
            )
            .fetch_all(&mut c)
            .await
            .unwrap()
        }
        Engine::Postgres => {
            let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::query_as(
                "SELECT table_name::text, column_name::text FROM information_schema.columns
                 WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'",
            )
            .fetch_all(&mut c)
            .await
            .unwrap()
        }
    };
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (table, column) in rows {
        out.entry(table).or_default().push(column);
    }
    out.values_mut().for_each(|c| c.sort());
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_postgresql_migrations_make_the_same_tables_and_columns() {
    let (sqlite, postgres) = (tables(Engine::Sqlite).await, tables(Engine::Postgres).await);
    assert!(
        sqlite.contains_key("users") && sqlite["users"].contains(&"username_key".to_owned()),
        "{sqlite:?}"
    );
    for (table, columns) in &sqlite {
        assert_eq!(
            Some(columns),
            postgres.get(table),
            "table {table}: SQLite has {columns:?}, PostgreSQL has {:?}",
            postgres.get(table)
        );
    }
    let only_pg: Vec<&String> = postgres
        .keys()
        .filter(|t| !sqlite.contains_key(*t))
        .collect();
    assert!(
        only_pg.is_empty(),
        "tables only PostgreSQL has: {only_pg:?}"
    );
}
