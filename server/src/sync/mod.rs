//! The run engine (architecture §5): starting a run (`run`) on an agent (`dispatch`, or
//! `relay` from another replica), carrying it (`active`, its writes in `pipeline`),
//! deciding what each record and deletion does (`plan`, pure), why it failed
//! (`failure`), and decisions on held deletions (`held`). It takes the database and the
//! registry it uses, never the application state.

pub mod active;
pub mod dispatch;
pub mod failure;
pub mod held;
mod pipeline;
pub mod plan;
pub mod relay;
pub mod run;
