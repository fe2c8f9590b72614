//! Runs started on one replica for an agent held by another: the replica that records
//! the run notifies a PostgreSQL channel, every replica listens. SQLite is
//! single-replica: nothing is sent and nothing arrives.

use super::Db;
use sqlx::postgres::PgListener;
use uuid::Uuid;

const CHANNEL: &str = "adc_start_run";

/// Tells the replicas that `run_id` waits for its agent.
pub async fn run_waiting(db: &Db, run_id: Uuid) -> Result<(), sqlx::Error> {
    if let Db::Postgres(p) = db {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(run_id.to_string())
            .execute(p)
            .await?;
    }
    Ok(())
}

/// What the channel brought.
pub enum Notice {
    /// A run waits for its agent.
    Run(Uuid),
    /// A payload that is not a run ID (ignored).
    Malformed,
    /// The connection was lost and is re-established: notifications sent meanwhile
    /// are gone.
    Reconnected,
}

/// This replica's subscription to runs waiting for their agent.
pub struct Listener(PgListener);

impl Listener {
    /// Subscribes; `None` on SQLite, where there are no other replicas.
    pub async fn connect(db: &Db) -> Option<Result<Listener, sqlx::Error>> {
        let Db::Postgres(pool) = db else {
            return None;
        };
        Some(
            async {
                let mut l = PgListener::connect_with(pool).await?;
                l.listen(CHANNEL).await?;
                Ok(Listener(l))
            }
            .await,
        )
    }

    /// The next notice; an error means the subscription is lost and must be renewed.
    pub async fn next(&mut self) -> Result<Notice, sqlx::Error> {
        Ok(match self.0.try_recv().await? {
            Some(n) => match n.payload().parse::<Uuid>() {
                Ok(id) => Notice::Run(id),
                Err(_) => Notice::Malformed,
            },
            None => Notice::Reconnected,
        })
    }
}
