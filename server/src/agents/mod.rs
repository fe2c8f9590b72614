//! The WebSocket session of each agent connected to this replica, and the run it
//! carries (the connections themselves are listed in `registry.rs`).

mod runs;
mod session;
mod wire;

pub use session::serve;
