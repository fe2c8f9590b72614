//! Deciding, without touching the database, what each record of a batch (`batch`) and
//! each deletion (`deletions`) does under the effective settings. The server enforces
//! policy here; it never trusts the agent to have honoured it (architecture §4, §8.3).

mod batch;
mod deletions;
mod groups;
#[cfg(test)]
mod testing;

pub use batch::{add_entry_errors, plan_batch};
pub use deletions::{Gone, Removal, plan_deletions};
pub use groups::{Known, add_group_errors, cycles, member_row, plan_additions, plan_groups};

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
    into.groups_read += c.groups_read;
    into.groups_created += c.groups_created;
    into.groups_updated += c.groups_updated;
    into.groups_deleted += c.groups_deleted;
    into.groups_disabled += c.groups_disabled;
    into.groups_unchanged += c.groups_unchanged;
    into.members_added += c.members_added;
    into.members_removed += c.members_removed;
    into.members_unresolved += c.members_unresolved;
}
