//! Agents connected to this replica: the registry, and the WebSocket session of each.

mod registry;
mod session;

pub use registry::Registry;
pub use session::connect;
