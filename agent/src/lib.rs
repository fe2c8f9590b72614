//! adc: the ad-connect agent (architecture §1, §7.1, §7.2). It runs next to the customer's
//! directory, connects out to the server over a WebSocket, and reads the directory
//! when told to.

pub mod auth;
pub mod backoff;
pub mod check;
pub mod config;
pub mod connection;
pub mod env;
pub mod explain;
pub mod ldap;
pub mod report;
pub mod run;
pub mod sync;
pub mod tls;

/// Secrets are the shared type, so neither half can print one by accident.
pub use adc_shared::secret;

/// The agent's version, as reported to the server.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git commit this build is from (`build/git_commit.rs`).
pub const COMMIT: &str = env!("ADC_GIT_COMMIT");
