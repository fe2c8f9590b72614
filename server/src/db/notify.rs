//! What replicas tell each other through PostgreSQL's LISTEN/NOTIFY (architecture §2): a
//! run recorded by one replica for an agent another holds, and pass-through
//! authentications asked of such an agent and their answers, and what the admin page
//! hears live (`changes`). SQLite is single-replica:
//! nothing is sent and nothing arrives.

use super::Db;
use sqlx::postgres::PgListener;
use uuid::Uuid;

const RUNS: &str = "adc_start_run";
const AUTH_REQUESTS: &str = "adc_auth_request";
const AUTH_RESULTS: &str = "adc_auth_result";

async fn notify(db: &Db, channel: &str, payload: &str) -> Result<(), sqlx::Error> {
    if let Db::Postgres(p) = db {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(channel)
            .bind(payload)
            .execute(p)
            .await?;
    }
    Ok(())
}

/// Tells the replicas that `run_id` waits for its agent.
pub async fn run_waiting(db: &Db, run_id: Uuid) -> Result<(), sqlx::Error> {
    notify(db, RUNS, &run_id.to_string()).await
}

/// Asks the replicas for a pass-through authentication (`payload` carries no readable
/// password: it is sealed to the replica that holds the agent).
pub async fn auth_request(db: &Db, payload: &str) -> Result<(), sqlx::Error> {
    notify(db, AUTH_REQUESTS, payload).await
}

/// Answers a pass-through authentication asked by another replica.
pub async fn auth_result(db: &Db, payload: &str) -> Result<(), sqlx::Error> {
    notify(db, AUTH_RESULTS, payload).await
}

/// What the channels brought.
pub enum Notice {
    /// A run waits for its agent.
    Run(Uuid),
    AuthRequest(String),
    AuthResult(String),
    /// A run or an agent connection changed (the page's live view; `changes`).
    PageChange(String),
    /// A payload that is not a run ID (ignored).
    Malformed,
    /// The connection was lost and is re-established: notifications sent meanwhile
    /// are gone.
    Reconnected,
}

/// This replica's subscription to what other replicas tell it.
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
                l.listen_all([RUNS, AUTH_REQUESTS, AUTH_RESULTS, super::changes::CHANNEL])
                    .await?;
                Ok(Listener(l))
            }
            .await,
        )
    }

    /// The next notice; an error means the subscription is lost and must be renewed.
    pub async fn next(&mut self) -> Result<Notice, sqlx::Error> {
        let Some(n) = self.0.try_recv().await? else {
            return Ok(Notice::Reconnected);
        };
        Ok(match n.channel() {
            RUNS => match n.payload().parse::<Uuid>() {
                Ok(id) => Notice::Run(id),
                Err(_) => Notice::Malformed,
            },
            AUTH_REQUESTS => Notice::AuthRequest(n.payload().to_owned()),
            AUTH_RESULTS => Notice::AuthResult(n.payload().to_owned()),
            super::changes::CHANNEL => Notice::PageChange(n.payload().to_owned()),
            _ => Notice::Malformed,
        })
    }
}
