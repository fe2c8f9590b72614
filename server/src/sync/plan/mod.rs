//! Deciding, without touching the database, what each record of a batch (`batch`) and
//! each deletion (`deletions`) does under the effective settings. The server enforces
//! policy here; it never trusts the agent to have honoured it (architecture §4, §8.3).

mod batch;
mod deletions;
#[cfg(test)]
mod testing;

pub use batch::{add_entry_errors, plan_batch};
pub use deletions::{guard_trips, plan_deletions};

use adc_shared::protocol::RunCounts;

/// Adds a plan's counts to the run's.
pub fn add_counts(into: &mut RunCounts, c: &RunCounts) {
    into.read += c.read;
    into.created += c.created;
    into.updated += c.updated;
    into.deleted += c.deleted;
    into.disabled += c.disabled;
    into.unchanged += c.unchanged;
    into.skipped += c.skipped;
    into.conflicts += c.conflicts;
    into.errors += c.errors;
    into.held += c.held;
}
