//! Types both halves of ad-connect agree on: the wire protocol between agent and
//! server, and the synchronization settings with their tri-state merge (architecture §4, §7.3).
//!
//! This crate has no server or agent dependencies, so either side can be upgraded on
//! its own; the compatibility rules are written next to each type in `protocol`.

pub mod group;
pub mod protocol;
pub mod record;
pub mod secret;
pub mod settings;

pub use group::{GroupRecord, MemberDelta, MemberKind, Membership};
pub use protocol::{AgentMessage, PROTOCOL_VERSION, ServerMessage};
pub use record::UserRecord;
pub use secret::Secret;
pub use settings::{Effective, EffectiveSettings, Setting, Settings, Source};
