//! The deletions of a complete read: deleted, disabled, skipped by `no-delete`, or
//! held by the deletion guard.

use super::groups::member_row;
use crate::db::groups::StoredGroup;
use crate::db::syncs::DeletionGuard;
use crate::db::users::Stored;
use crate::db::writes::{ChangeRow, DeletionWrite};
use crate::vocabulary::{Operation, Outcome};
use adc_shared::{EffectiveSettings, MemberKind, Setting};
use foldhash::HashMap;
use uuid::Uuid;

/// A share as an admin reads it: whole percents, with one decimal where rounding would
/// make it look equal to the limit it exceeds (20.4 % of a 20 % guard).
fn percent(n: u64, total: u64, limit: u32) -> String {
    let exact = n as f64 * 100.0 / total.max(1) as f64;
    if exact.round() as u64 == u64::from(limit) {
        format!("{exact:.1} %")
    } else {
        format!("{} %", exact.round() as u64)
    }
}

/// Whether `n` of `total` things (`what`: "users", "groups", "members of “devs”")
/// gone trip the guard's share; the reason, with the numbers, if so.
pub fn share_trips(guard: &DeletionGuard, n: u64, total: u64, what: &str) -> Option<String> {
    let pct = guard.max_percent?;
    (total >= u64::from(guard.min_users_for_percent) && n * 100 > u64::from(pct) * total).then(
        || {
            format!(
                "{n} of {total} {what}, {} — the guard allows {pct} %",
                percent(n, total, pct)
            )
        },
    )
}

/// Whether `n` deletions in all trip the guard's count; the reason if so.
pub fn count_trips(guard: &DeletionGuard, n: u64) -> Option<String> {
    let max = guard.max_deletes?;
    (n > u64::from(max)).then(|| format!("{n} deletions in one run — the guard allows {max}"))
}

/// A membership a complete read no longer found.
#[derive(Clone, Debug)]
pub struct Removal {
    pub group_id: Uuid,
    pub group_name: String,
    pub kind: MemberKind,
    pub member_id: Uuid,
    pub member_name: String,
    pub member_external_id: String,
}

/// What a complete read found gone, and the bases of the guard's shares.
#[derive(Default)]
pub struct Gone<'a> {
    /// This synchronization's users the read did not see.
    pub users: &'a [Stored],
    /// Its users still in the source before this run.
    pub users_total: u64,
    pub groups: &'a [StoredGroup],
    pub groups_total: u64,
    pub removals: &'a [Removal],
    /// Direct members of each group that loses some.
    pub member_counts: HashMap<Uuid, u64>,
}

/// Whether the deletions of `gone` trip the guard, and why: the count limit applies to
/// all of them together (users, groups and member removals), the share to users, to
/// groups, and to each group's members. The reason names the first limit hit.
fn guard_verdict(guard: &DeletionGuard, gone: &Gone<'_>, removals: u64) -> Option<String> {
    let n = gone.users.len() as u64 + gone.groups.len() as u64 + removals;
    let reason = count_trips(guard, n)
        .or_else(|| share_trips(guard, gone.users.len() as u64, gone.users_total, "users"))
        .or_else(|| share_trips(guard, gone.groups.len() as u64, gone.groups_total, "groups"));
    if reason.is_some() || removals == 0 {
        return reason;
    }
    let mut per_group: HashMap<Uuid, (u64, &str)> = HashMap::default();
    for r in gone.removals {
        per_group.entry(r.group_id).or_insert((0, &r.group_name)).0 += 1;
    }
    // The same group is named whatever order the removals came in.
    let mut tripped: Vec<(&str, String)> = per_group
        .iter()
        .filter_map(|(g, &(lost, name))| {
            let members = gone.member_counts.get(g).copied().unwrap_or(lost);
            share_trips(guard, lost, members, &format!("members of “{name}”"))
                .map(|why| (name, why))
        })
        .collect();
    tripped.sort();
    tripped.into_iter().next().map(|(_, why)| why)
}

/// Plans the deletions of a complete read: users and groups gone are deleted or
/// disabled (`delete-disables`), memberships gone removed; `no-delete` skips them all,
/// `no-update` skips member removals (they change a group that exists), and the guard
/// holds them all.
pub fn plan_deletions(
    settings: &EffectiveSettings,
    guard: &DeletionGuard,
    gone: &Gone<'_>,
) -> DeletionWrite {
    let mut plan = DeletionWrite::default();
    let disables = settings.on(Setting::DeleteDisables);
    let dry = settings.on(Setting::DryRun);
    let op = if disables {
        Operation::Disable
    } else {
        Operation::Delete
    };
    let user_row = |u: &Stored, outcome: Outcome| {
        ChangeRow::user(
            Some(u.id),
            u.external_id.clone(),
            u.username.clone(),
            op,
            outcome,
        )
    };
    let group_row = |g: &StoredGroup, outcome: Outcome| {
        ChangeRow::group(Some(g.id), g.external_id.clone(), &g.name, op, outcome)
    };
    let removal_row = |r: &Removal, outcome: Outcome| {
        member_row(
            Operation::RemoveMember,
            outcome,
            (Some(r.group_id), &r.group_name),
            (r.kind, Some(r.member_id), &r.member_name),
            Some(r.member_external_id.clone()),
        )
    };
    let all_rows = |plan: &mut DeletionWrite, outcome: &dyn Fn() -> Outcome, removals: bool| {
        plan.changes
            .extend(gone.users.iter().map(|u| user_row(u, outcome())));
        plan.changes
            .extend(gone.groups.iter().map(|g| group_row(g, outcome())));
        if removals {
            plan.changes
                .extend(gone.removals.iter().map(|r| removal_row(r, outcome())));
        }
    };
    if settings.on(Setting::NoDelete) {
        plan.counts.skipped += (gone.users.len() + gone.groups.len() + gone.removals.len()) as u64;
        all_rows(&mut plan, &|| Outcome::Skipped("no-delete".into()), true);
        return plan;
    }
    let removals_skipped = settings.on(Setting::NoUpdate);
    let removals = if removals_skipped {
        0
    } else {
        gone.removals.len() as u64
    };
    let verdict = guard_verdict(guard, gone, removals).filter(|_| !dry);
    if let Some(reason) = verdict {
        plan.held = Some(reason);
        plan.counts.held = gone.users.len() as u64 + gone.groups.len() as u64 + removals;
        all_rows(&mut plan, &|| Outcome::Held, !removals_skipped);
    } else {
        let outcome = Outcome::done(dry);
        all_rows(&mut plan, &|| outcome.clone(), !removals_skipped);
        let (users, groups) = (gone.users.len() as u64, gone.groups.len() as u64);
        if disables {
            plan.counts.disabled = users;
            plan.counts.groups_disabled = groups;
        } else {
            plan.counts.deleted = users;
            plan.counts.groups_deleted = groups;
        }
        plan.counts.members_removed = removals;
        if !dry {
            let users: Vec<Uuid> = gone.users.iter().map(|u| u.id).collect();
            let groups: Vec<Uuid> = gone.groups.iter().map(|g| g.id).collect();
            if disables {
                plan.disable = users;
                plan.disable_groups = groups;
            } else {
                plan.delete = users;
                plan.delete_groups = groups;
            }
            if !removals_skipped {
                for r in gone.removals {
                    match r.kind {
                        MemberKind::User => plan.remove_users.push((r.group_id, r.member_id)),
                        MemberKind::Group => plan.remove_nested.push((r.group_id, r.member_id)),
                    }
                }
            }
        }
    }
    if removals_skipped {
        plan.counts.skipped += gone.removals.len() as u64;
        plan.changes.extend(
            gone.removals
                .iter()
                .map(|r| removal_row(r, Outcome::Skipped("no-update".into()))),
        );
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
        assert!(count_trips(&g, 500).is_none());
        assert_eq!(
            count_trips(&g, 501).as_deref(),
            Some("501 deletions in one run — the guard allows 500")
        );
        assert!(share_trips(&g, 20, 100, "users").is_none());
        assert_eq!(
            share_trips(&g, 100, 300, "users").as_deref(),
            Some("100 of 300 users, 33 % — the guard allows 20 %")
        );
        assert_eq!(
            share_trips(&g, 204, 1000, "users").as_deref(),
            Some("204 of 1000 users, 20.4 % — the guard allows 20 %"),
            "a share just over the limit does not read as equal to it"
        );
        assert!(
            share_trips(&g, 50, 99, "users").is_none(),
            "too few users for the percentage"
        );
        let off = DeletionGuard {
            max_deletes: None,
            max_percent: None,
            min_users_for_percent: 0,
        };
        assert!(count_trips(&off, 1_000_000).is_none());
        assert!(share_trips(&off, 1_000_000, 1_000_000, "users").is_none());
    }

    fn users(gone: &[Stored]) -> Gone<'_> {
        Gone {
            users: gone,
            users_total: 3,
            ..Gone::default()
        }
    }

    #[test]
    fn deletions_follow_no_delete_then_delete_disables_then_the_guard() {
        let gone: Vec<Stored> = (0..3)
            .map(|i| stored(&record(&i.to_string(), &format!("u{i}"), true), true, false))
            .collect();
        let g = DeletionGuard::default();
        let p = plan_deletions(&settings(|s| s.no_delete = Some(true)), &g, &users(&gone));
        assert!(p.delete.is_empty() && p.disable.is_empty());
        assert!(
            p.changes
                .iter()
                .all(|c| c.outcome == Outcome::Skipped("no-delete".into()))
        );
        let p = plan_deletions(&settings(|_| {}), &g, &users(&gone));
        assert_eq!(
            (p.disable.len(), p.counts.disabled),
            (3, 3),
            "delete-disables is the default"
        );
        let p = plan_deletions(
            &settings(|s| s.delete_disables = Some(false)),
            &g,
            &users(&gone),
        );
        assert_eq!((p.delete.len(), p.counts.deleted), (3, 3));
        let tight = DeletionGuard {
            max_deletes: Some(2),
            ..g
        };
        let p = plan_deletions(&settings(|_| {}), &tight, &users(&gone));
        assert!(p.delete.is_empty() && p.disable.is_empty());
        assert_eq!(
            p.held.as_deref(),
            Some("3 deletions in one run — the guard allows 2")
        );
        assert_eq!(p.counts.held, 3);
        let p = plan_deletions(&settings(|s| s.dry_run = Some(true)), &g, &users(&gone));
        assert!(p.disable.is_empty() && p.changes.iter().all(|c| c.outcome == Outcome::Planned));
    }
}
