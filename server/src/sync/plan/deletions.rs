//! The deletions of a complete read: deleted, disabled, skipped by `no-delete`, or
//! held by the deletion guard.

use crate::db::syncs::DeletionGuard;
use crate::db::users::Stored;
use crate::db::writes::{ChangeRow, DeletionWrite};
use crate::vocabulary::{Operation, Outcome};
use adc_shared::{EffectiveSettings, Setting};

/// Whether `n` deletions out of `total` users trip the guard; the reason if so.
pub fn guard_trips(guard: &DeletionGuard, n: u64, total: u64) -> Option<String> {
    if let Some(max) = guard.max_deletes
        && n > u64::from(max)
    {
        return Some(format!("{n} deletions exceed the limit of {max}"));
    }
    if let Some(pct) = guard.max_percent
        && total >= u64::from(guard.min_users_for_percent)
        && n * 100 > u64::from(pct) * total
    {
        return Some(format!("{n} deletions exceed {pct} % of {total} users"));
    }
    None
}

/// Plans the deletions of a complete read: `gone` are this synchronization's users
/// the read did not see; `total` its users still in the source before this run.
pub fn plan_deletions(
    settings: &EffectiveSettings,
    guard: &DeletionGuard,
    gone: &[Stored],
    total: u64,
) -> DeletionWrite {
    let mut plan = DeletionWrite::default();
    let disables = settings.on(Setting::DeleteDisables);
    let op = if disables {
        Operation::Disable
    } else {
        Operation::Delete
    };
    let row = |u: &Stored, outcome: Outcome| ChangeRow {
        user_id: Some(u.id),
        external_id: u.external_id.clone(),
        username: u.username.clone(),
        operation: op,
        outcome,
    };
    if settings.on(Setting::NoDelete) {
        plan.counts.skipped += gone.len() as u64;
        plan.changes = gone
            .iter()
            .map(|u| row(u, Outcome::Skipped("no-delete".into())))
            .collect();
        return plan;
    }
    let n = gone.len() as u64;
    if guard_trips(guard, n, total).is_some() && !settings.on(Setting::DryRun) {
        plan.held = true;
        plan.counts.held = n;
        plan.changes = gone.iter().map(|u| row(u, Outcome::Held)).collect();
        return plan;
    }
    let outcome = Outcome::done(settings.on(Setting::DryRun));
    plan.changes = gone.iter().map(|u| row(u, outcome.clone())).collect();
    if disables {
        plan.counts.disabled = n;
    } else {
        plan.counts.deleted = n;
    }
    if !settings.on(Setting::DryRun) {
        let ids = gone.iter().map(|u| u.id).collect();
        if disables {
            plan.disable = ids;
        } else {
            plan.delete = ids;
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::plan::testing::{record, settings, stored};

    #[test]
    fn the_guard_trips_on_the_count_or_on_the_share_once_there_are_enough_users() {
        let g = DeletionGuard {
            max_deletes: Some(500),
            max_percent: Some(20),
            min_users_for_percent: 100,
        };
        assert!(guard_trips(&g, 500, 100_000).is_none());
        assert!(guard_trips(&g, 501, 100_000).is_some());
        assert!(guard_trips(&g, 20, 100).is_none());
        assert!(guard_trips(&g, 21, 100).is_some());
        assert!(
            guard_trips(&g, 50, 99).is_none(),
            "too few users for the percentage"
        );
        let off = DeletionGuard {
            max_deletes: None,
            max_percent: None,
            min_users_for_percent: 0,
        };
        assert!(guard_trips(&off, 1_000_000, 1_000_000).is_none());
    }

    #[test]
    fn deletions_follow_no_delete_then_delete_disables_then_the_guard() {
        let gone: Vec<Stored> = (0..3)
            .map(|i| stored(&record(&i.to_string(), &format!("u{i}"), true), true, false))
            .collect();
        let g = DeletionGuard::default();
        let p = plan_deletions(&settings(|s| s.no_delete = Some(true)), &g, &gone, 3);
        assert!(p.delete.is_empty() && p.disable.is_empty());
        assert!(
            p.changes
                .iter()
                .all(|c| c.outcome == Outcome::Skipped("no-delete".into()))
        );
        let p = plan_deletions(&settings(|_| {}), &g, &gone, 3);
        assert_eq!(
            (p.disable.len(), p.counts.disabled),
            (3, 3),
            "delete-disables is the default"
        );
        let p = plan_deletions(&settings(|s| s.delete_disables = Some(false)), &g, &gone, 3);
        assert_eq!((p.delete.len(), p.counts.deleted), (3, 3));
        let tight = DeletionGuard {
            max_deletes: Some(2),
            ..g
        };
        let p = plan_deletions(&settings(|_| {}), &tight, &gone, 3);
        assert!(p.held && p.delete.is_empty() && p.disable.is_empty());
        assert_eq!(p.counts.held, 3);
        let p = plan_deletions(&settings(|s| s.dry_run = Some(true)), &g, &gone, 3);
        assert!(p.disable.is_empty() && p.changes.iter().all(|c| c.outcome == Outcome::Planned));
    }
}
