//! The end-to-end test harness: real slapd, real PostgreSQL and SQLite, the real server
//! started in-process on port 0 (or as its binary), and the real agent.
#![allow(clippy::unwrap_used)] // a test fails loudly where it unwraps: that is its job

pub mod agent;
pub mod api;
pub mod browser;
pub mod certs;
pub mod cut;
pub mod engine;
pub mod podman;
pub mod process;
pub mod raw;
pub mod server;
pub mod slapd;
pub mod smtp;
pub mod sql;
pub mod sync;
pub mod webhook;

/// `#[engines] async fn name(engine: Engine)`: the test `name::sqlite` and `name::postgres`.
pub use adc_e2e_macros::engines;

use std::time::Duration;

/// Installs the process's rustls crypto provider (ring), once; every helper that makes
/// a TLS-capable client calls it, so a test that runs alone works as in the full suite.
pub fn crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

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
