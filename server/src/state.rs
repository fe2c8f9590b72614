//! What every request handler and agent session shares: the database, this replica's
//! agent connections, the metrics, the settings. Built from the layers below it and
//! imported by the layers above (routes, agent sessions, the application); the run
//! engine takes only the parts it uses.

use crate::config::Config;
use crate::db::Db;
use crate::limits::FailureLimits;
use crate::metrics::Metrics;
use crate::passthrough::Passthrough;
use crate::registry::Registry;
use std::ops::Deref;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub db: Db,
    pub config: Config,
    pub agents: Registry,
    pub metrics: Metrics,
    pub auth_limits: FailureLimits,
    /// Sign-in failures: per account from one address (an attacker elsewhere cannot
    /// lock its owner out), and per address.
    pub sign_in_limits: FailureLimits,
    /// Pass-through authentication: this replica's key and its requests to others.
    pub passthrough: Passthrough,
    /// Cancelled when the server shuts down; agent sessions watch it.
    pub shutdown: CancellationToken,
    /// The agent sessions, awaited at shutdown so each can remove its record while the
    /// database is still open.
    pub sessions: TaskTracker,
    /// What this replica's admin pages hear live (`db::changes`): fed by the listener
    /// on PostgreSQL, by `db/` itself on SQLite.
    pub page_changes: tokio::sync::broadcast::Sender<crate::db::changes::Heard>,
    /// Agents being admitted (looked up, verified, recorded) at once: a few, so that
    /// thousands reconnecting together after a restart leave most of the database pool
    /// to REST (see bench/README.md, "Many agents").
    pub admissions: tokio::sync::Semaphore,
}

/// Agents admitted at once; the database pool holds 16 connections.
pub const ADMISSIONS: usize = 4;

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(db: Db, config: Config) -> Self {
        let auth_limits = FailureLimits::new(
            config.auth_window,
            config.auth_failures_per_username,
            config.auth_failures_per_address,
        );
        let sign_in_limits = FailureLimits::new(
            config.auth_window,
            config.sign_in_failures_per_account,
            config.sign_in_failures_per_address,
        );
        let passthrough = Passthrough::new(config.replica_name.clone(), config.auth_timeout);
        let page_changes = crate::db::changes::bus_for(&db);
        AppState(Arc::new(Inner {
            page_changes,
            db,
            config,
            agents: Registry::default(),
            metrics: Metrics::default(),
            auth_limits,
            sign_in_limits,
            passthrough,
            shutdown: CancellationToken::new(),
            sessions: TaskTracker::new(),
            admissions: tokio::sync::Semaphore::new(ADMISSIONS),
        }))
    }
}
