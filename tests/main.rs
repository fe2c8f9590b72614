//! The one end-to-end test binary (architecture §1): each module a user-visible area.
#![allow(clippy::unwrap_used)] // a test fails loudly where it unwraps: that is its job

mod admin_accounts;
mod admin_page;
mod agent_cli;
mod agent_connection;
mod api_auth;
mod api_contract;
mod api_meta;
mod api_synchronizations;
mod api_tokens;
mod audit_log;
mod authenticate;
mod delta_reads;
mod groups;
mod live_events;
mod notifications;
mod schema;
mod server_process;
mod shipping;
mod structure;
mod sync_engine;
mod sync_policy;
mod sync_runs;
mod sync_safety;
mod tenancy;
mod users_api;
mod web_page;
