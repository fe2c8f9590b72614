//! The end-to-end test harness: real slapd, real PostgreSQL and SQLite, the real server
//! started in-process on port 0 (or as its binary), and the real agent.

pub mod agent;
pub mod api;
pub mod browser;
pub mod certs;
pub mod cut;
pub mod engine;
pub mod process;
pub mod raw;
pub mod server;
pub mod slapd;
pub mod sync;

use std::time::Duration;

/// Polls `f` every 50 ms until it returns `Some`, for at most `limit`; panics naming
/// `what` otherwise. Waiting for an event, never asserting on elapsed time.
pub async fn eventually<T, F, Fut>(limit: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Generates an engine-parametrised test: `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! both_engines {
    ($(#[$m:meta])* async fn $name:ident($engine:ident: Engine) $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[allow(unused_imports)]
            use $crate::engine::Engine;
            async fn run($engine: $crate::engine::Engine) $body
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() { run($crate::engine::Engine::Sqlite).await }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() { run($crate::engine::Engine::Postgres).await }
        }
    };
}
