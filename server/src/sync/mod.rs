//! The sync engine (architecture §5): what a batch or a set of deletions means under the
//! effective settings (`plan`, pure), writing it (`apply`), and the life of a run
//! (`run`).

pub mod dispatch;
pub mod held;
pub mod plan;
pub mod relay;
pub mod run;
