//! The replicas sharing the database, each with the public key that pass-through
//! authentications relayed to it are sealed to.

use super::{Db, now};
use crate::{db_execute, on_db};

/// Records this replica's public key for this start (replacing an earlier one).
pub async fn announce(db: &Db, name: &str, public_key: &str) -> Result<(), sqlx::Error> {
    db_execute!(db, |p| {
        sqlx::query(
        "INSERT INTO replicas (name, public_key, started_at) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET public_key = excluded.public_key, started_at = excluded.started_at"
    )
    .bind(name)
    .bind(public_key)
    .bind(now())
    .execute(p)
    .await
    })?;
    Ok(())
}

/// A replica's current public key.
pub async fn public_key(db: &Db, name: &str) -> Result<Option<String>, sqlx::Error> {
    on_db!(db, |p| sqlx::query_scalar::<_, String>(
        "SELECT public_key FROM replicas WHERE name = $1"
    )
    .bind(name)
    .fetch_optional(p)
    .await)
}
