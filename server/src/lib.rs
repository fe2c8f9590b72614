//! adc-server: the ad-connect cloud service (architecture §1).

pub mod agent_bundle;
pub mod agents;
pub mod app;
pub mod audit;
pub mod bootstrap;
pub mod caller;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod limits;
pub mod listener;
pub mod metrics;
pub mod notifications;
pub mod passthrough;
pub mod registry;
pub mod role;
mod routes;
pub mod secrets;
pub mod state;
pub mod sync;
pub mod telemetry;
pub mod vocabulary;

pub use app::serve;
pub use config::Config;
/// The OpenAPI document the server serves (its schemas generated from its types).
pub use routes::openapi::document as openapi_document;
