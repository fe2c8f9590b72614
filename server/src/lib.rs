//! adc-server: the ad-connect cloud service (DESIGN §1).

pub mod agents;
pub mod app;
pub mod bootstrap;
pub mod caller;
pub mod cli;
pub mod config;
pub mod db;
pub mod downloads;
pub mod error;
pub mod limits;
pub mod metrics;
pub mod role;
mod routes;
pub mod secrets;
pub mod sync;
pub mod telemetry;

pub use app::serve;
pub use config::Config;
