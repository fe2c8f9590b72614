//! Agents connected to this replica: the registry, and the WebSocket session of each.

mod registry;
mod runs;
mod session;

pub use registry::{Order, Registry};
pub use session::connect;
