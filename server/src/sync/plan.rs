//! Deciding, without touching the database, what each record of a batch and each
//! deletion does under the effective settings. The server enforces policy here; it
//! never trusts the agent to have honoured it (architecture §4, §8.3).

use crate::db::syncs::DeletionGuard;
use crate::db::users::Stored;
use crate::db::writes::{BatchWrite, ChangeRow, DeletionWrite, Insert, Update};
use crate::vocabulary::{Operation, Outcome};
use adc_shared::protocol::{EntryError, RunCounts};
use adc_shared::{EffectiveSettings, Setting, UserRecord};
use foldhash::{HashMap, HashSet, HashSetExt};
use uuid::Uuid;

/// A record that takes the name of a user renamed away in the same batch: valid only
/// if that rename is applied.
struct Takes {
    /// The stored user whose name is taken.
    holder: Uuid,
    /// The taker: its change row, and its row in `updates` or `inserts`.
    change: usize,
    user: Uuid,
    reason: Outcome,
}

/// Plans one batch. `by_external` holds this synchronization's users matching the
/// batch's external IDs, `by_username` the tenant's users matching its usernames.
pub fn plan_batch(
    settings: &EffectiveSettings,
    sync_id: Uuid,
    records: Vec<UserRecord>,
    by_external: &HashMap<String, Stored>,
    by_username: &HashMap<String, Stored>,
) -> BatchWrite {
    let dry = settings.on(Setting::DryRun);
    let done = Outcome::done(dry);
    let mut plan = BatchWrite::default();
    let mut seen_ids = HashSet::new();
    let mut seen_keys = HashSet::new();
    // Users of this synchronization that this batch renames, to their new names: their
    // old names are free for others of the batch (two users swapping names converge).
    let moving: HashMap<Uuid, String> = records
        .iter()
        .filter_map(|r| {
            let e = by_external.get(&r.external_id)?;
            let key = r.username.to_lowercase();
            (e.username_key != key).then_some((e.id, key))
        })
        .collect();
    let moves_away = |h: &Stored, key: &str| moving.get(&h.id).is_some_and(|k| k != key);
    let mut takes: Vec<Takes> = Vec::new();
    for record in records {
        let existing = by_external.get(&record.external_id);
        let op_of = |e: Option<&Stored>| {
            if e.is_some() {
                Operation::Update
            } else {
                Operation::Create
            }
        };
        let change = |plan: &mut BatchWrite,
                      user_id: Option<Uuid>,
                      op: Operation,
                      outcome: Outcome,
                      r: &UserRecord| {
            plan.changes.push(ChangeRow {
                user_id,
                external_id: Some(r.external_id.clone()),
                username: r.username.clone(),
                operation: op,
                outcome,
            });
        };
        if let Err(reason) = record.validate() {
            plan.counts.errors += 1;
            change(
                &mut plan,
                existing.map(|e| e.id),
                op_of(existing),
                Outcome::Error(reason),
                &record,
            );
            continue;
        }
        let key = record.username.to_lowercase();
        if !seen_ids.insert(record.external_id.clone()) || !seen_keys.insert(key.clone()) {
            plan.counts.errors += 1;
            change(
                &mut plan,
                None,
                op_of(existing),
                Outcome::Error("sent twice in one batch".into()),
                &record,
            );
            continue;
        }
        let hash = record.content_hash();
        let holder = by_username.get(&key);
        match existing {
            Some(e) => {
                let taken_from = holder.filter(|h| h.id != e.id);
                if let Some(h) = taken_from.filter(|h| !moves_away(h, &key)) {
                    plan.counts.conflicts += 1;
                    let reason = Outcome::Conflict(format!(
                        "username `{}` belongs to another user",
                        h.username
                    ));
                    change(&mut plan, Some(e.id), Operation::Update, reason, &record);
                    continue;
                }

                if !e.removed_from_source && e.content_hash.as_deref() == Some(hash.as_str()) {
                    plan.counts.unchanged += 1;
                    continue;
                }
                let op = if e.removed_from_source && record.enabled {
                    Operation::Enable
                } else {
                    Operation::Update
                };
                if settings.on(Setting::NoUpdate) {
                    plan.counts.skipped += 1;
                    change(
                        &mut plan,
                        Some(e.id),
                        op,
                        Outcome::Skipped("no-update".into()),
                        &record,
                    );
                    continue;
                }
                // The sync changes the cloud's enabled state only when the source's
                // changed, or when the user comes back (architecture §5.3 step 7).
                let enabled = if e.removed_from_source || record.enabled != e.source_enabled {
                    record.enabled
                } else {
                    e.enabled
                };
                if let Some(h) = taken_from {
                    takes.push(Takes {
                        holder: h.id,
                        change: plan.changes.len(),
                        user: e.id,
                        reason: Outcome::Conflict(format!(
                            "username `{}` belongs to another user",
                            h.username
                        )),
                    });
                }
                plan.counts.updated += 1;
                change(&mut plan, Some(e.id), op, done.clone(), &record);
                plan.updates.push(Update {
                    id: e.id,
                    record,
                    hash,
                    enabled,
                    take_over: false,
                });
            }
            None => {
                match holder.filter(|h| !moves_away(h, &key)) {
                    Some(h) if h.synchronization_id == Some(sync_id) => {
                        plan.counts.conflicts += 1;
                        let reason = Outcome::Conflict(
                            "username in use by another user of this synchronization".into(),
                        );
                        change(&mut plan, Some(h.id), Operation::Create, reason, &record);
                    }
                    Some(h) => {
                        if settings.on(Setting::NoUpdateProviderMismatch) {
                            plan.counts.conflicts += 1;
                            change(
                                &mut plan,
                                Some(h.id),
                                Operation::Update,
                                Outcome::Conflict("provider mismatch".into()),
                                &record,
                            );
                        } else if settings.on(Setting::NoUpdate) {
                            plan.counts.skipped += 1;
                            change(
                                &mut plan,
                                Some(h.id),
                                Operation::Update,
                                Outcome::Skipped("no-update".into()),
                                &record,
                            );
                        } else {
                            plan.counts.updated += 1;
                            change(
                                &mut plan,
                                Some(h.id),
                                Operation::Update,
                                Outcome::TakenOver { dry_run: dry },
                                &record,
                            );
                            let enabled = record.enabled;
                            plan.updates.push(Update {
                                id: h.id,
                                record,
                                hash,
                                enabled,
                                take_over: true,
                            });
                        }
                    }
                    None => {
                        if settings.on(Setting::NoCreate) {
                            plan.counts.skipped += 1;
                            change(
                                &mut plan,
                                None,
                                Operation::Create,
                                Outcome::Skipped("no-create".into()),
                                &record,
                            );
                            continue;
                        }
                        // Time-ordered: a first sync's inserts append to the primary
                        // key's index instead of landing all over it.
                        let id = Uuid::now_v7();
                        if let Some(h) = holder {
                            takes.push(Takes {
                                holder: h.id,
                                change: plan.changes.len(),
                                user: id,
                                reason: Outcome::Conflict(
                                    "username in use by another user of this synchronization"
                                        .into(),
                                ),
                            });
                        }
                        let enabled = record.enabled && !settings.on(Setting::CreateAsDisabled);
                        plan.counts.created += 1;
                        change(
                            &mut plan,
                            Some(id),
                            Operation::Create,
                            done.clone(),
                            &record,
                        );
                        plan.inserts.push(Insert {
                            id,
                            record,
                            hash,
                            enabled,
                        });
                    }
                }
            }
        }
    }
    settle_takes(&mut plan, takes);
    if dry {
        plan.inserts.clear();
        plan.updates.clear();
        plan.vacate.clear();
    }
    plan
}

/// A name taken from a user renamed in the same batch stays taken only if that rename
/// is applied (not skipped, in conflict or in error); otherwise the taker becomes a
/// conflict, which may undo a chain of such takes.
fn settle_takes(plan: &mut BatchWrite, mut takes: Vec<Takes>) {
    loop {
        let applied: HashSet<Uuid> = plan.updates.iter().map(|u| u.id).collect();
        let Some(i) = takes.iter().position(|t| !applied.contains(&t.holder)) else {
            break;
        };
        let t = takes.swap_remove(i);
        if let Some(pos) = plan.updates.iter().position(|u| u.id == t.user) {
            plan.updates.remove(pos);
            plan.counts.updated -= 1;
        } else if let Some(pos) = plan.inserts.iter().position(|u| u.id == t.user) {
            plan.inserts.remove(pos);
            plan.counts.created -= 1;
            plan.changes[t.change].user_id = Some(t.holder);
        }
        plan.counts.conflicts += 1;
        plan.changes[t.change].outcome = t.reason;
    }
    plan.vacate = takes.iter().map(|t| t.holder).collect();
    plan.vacate.sort();
    plan.vacate.dedup();
}

/// Entries the agent could not map: reported as errors, never deleted (their IDs
/// count as seen on the agent's side).
pub fn add_entry_errors(plan: &mut BatchWrite, errors: Vec<EntryError>) {
    for e in errors {
        plan.counts.errors += 1;
        let name: String = e.dn.chars().filter(|c| !c.is_control()).take(512).collect();
        let reason: String = e
            .reason
            .chars()
            .filter(|c| !c.is_control())
            .take(512)
            .collect();
        plan.changes.push(ChangeRow {
            user_id: None,
            external_id: e.external_id.map(|i| i.chars().take(256).collect()),
            username: name,
            operation: Operation::Read,
            outcome: Outcome::Error(reason),
        });
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use adc_shared::Settings;
    use std::collections::BTreeMap;

    const SYNC: Uuid = Uuid::from_u128(1);

    fn settings(f: impl FnOnce(&mut Settings)) -> EffectiveSettings {
        let mut s = Settings::default();
        f(&mut s);
        Settings::effective(&s, &Settings::default())
    }

    fn record(id: &str, name: &str, enabled: bool) -> UserRecord {
        UserRecord {
            external_id: id.into(),
            username: name.into(),
            email: None,
            display_name: None,
            given_name: None,
            surname: None,
            enabled,
            source_dn: format!("uid={name},dc=x"),
            extra: BTreeMap::new(),
        }
    }

    fn stored(r: &UserRecord, enabled: bool, removed: bool) -> Stored {
        Stored {
            id: Uuid::new_v4(),
            synchronization_id: Some(SYNC),
            external_id: Some(r.external_id.clone()),
            username: r.username.clone(),
            username_key: r.username.to_lowercase(),
            enabled,
            source_enabled: r.enabled,
            removed_from_source: removed,
            content_hash: Some(r.content_hash()),
        }
    }

    fn plan(s: &EffectiveSettings, records: Vec<UserRecord>, known: &[Stored]) -> BatchWrite {
        let by_ext = known
            .iter()
            .map(|u| (u.external_id.clone().unwrap(), u.clone()))
            .collect();
        let by_name = known
            .iter()
            .map(|u| (u.username_key.clone(), u.clone()))
            .collect();
        plan_batch(s, SYNC, records, &by_ext, &by_name)
    }

    #[test]
    fn two_users_swapping_names_in_one_batch_are_both_updated() {
        let (a, b) = (record("1", "ann", true), record("2", "bob", true));
        let known = [stored(&a, true, false), stored(&b, true, false)];
        let p = plan(
            &settings(|_| {}),
            vec![record("1", "bob", true), record("2", "ann", true)],
            &known,
        );
        assert_eq!(
            (p.counts.updated, p.counts.conflicts),
            (2, 0),
            "{:?}",
            p.changes
        );
        let mut vacate = vec![known[0].id, known[1].id];
        vacate.sort();
        assert_eq!(p.vacate, vacate, "both names are parked before the update");
    }

    #[test]
    fn a_name_freed_by_a_rename_that_is_not_applied_stays_taken() {
        // bob would take ann's name, but ann's rename fails validation: bob conflicts,
        // and carol, who would take bob's name, conflicts in turn.
        let (a, b, c) = (
            record("1", "ann", true),
            record("2", "bob", true),
            record("3", "carol", true),
        );
        let known = [
            stored(&a, true, false),
            stored(&b, true, false),
            stored(&c, true, false),
        ];
        let p = plan(
            &settings(|_| {}),
            vec![
                record("2", "ann", true),
                record("3", "bob", true),
                record("1", "bad\u{7}name", true),
            ],
            &known,
        );
        assert_eq!(
            (p.counts.updated, p.counts.conflicts, p.counts.errors),
            (0, 2, 1),
            "{:?}",
            p.changes
        );
        assert!(p.updates.is_empty() && p.vacate.is_empty());
        assert!(
            p.changes[0]
                .outcome
                .to_string()
                .starts_with("conflict: username `ann`")
        );
        assert!(
            p.changes[1]
                .outcome
                .to_string()
                .starts_with("conflict: username `bob`")
        );
    }

    #[test]
    fn a_new_user_may_take_the_name_a_rename_frees() {
        let a = record("1", "ann", true);
        let known = [stored(&a, true, false)];
        let p = plan(
            &settings(|_| {}),
            vec![record("1", "annie", true), record("9", "ann", true)],
            &known,
        );
        assert_eq!(
            (p.counts.updated, p.counts.created, p.counts.conflicts),
            (1, 1, 0)
        );
        assert_eq!(p.vacate, vec![known[0].id]);
        // In a dry run nothing is written, so nothing is parked either.
        let dry = plan(
            &settings(|s| s.dry_run = Some(true)),
            vec![record("1", "annie", true), record("9", "ann", true)],
            &known,
        );
        assert!(dry.vacate.is_empty() && dry.inserts.is_empty());
        assert_eq!(dry.counts.created, 1);
    }

    #[test]
    fn a_user_disabled_in_the_source_stays_disabled_until_the_source_enables_it() {
        let before = record("1", "ann", false);
        let known = stored(&before, false, false);
        // Another attribute changes; the source still says disabled.
        let mut changed = before.clone();
        changed.surname = Some("New".into());
        let p = plan(
            &settings(|_| {}),
            vec![changed],
            std::slice::from_ref(&known),
        );
        assert!(!p.updates[0].enabled);
        // The source enables it.
        let enabled = record("1", "ann", true);
        let p = plan(&settings(|_| {}), vec![enabled], &[known]);
        assert!(p.updates[0].enabled);
    }

    #[test]
    fn a_user_back_in_the_source_is_re_enabled_as_the_same_user() {
        let r = record("1", "ann", true);
        let known = stored(&r, false, true);
        let p = plan(&settings(|_| {}), vec![r], std::slice::from_ref(&known));
        assert_eq!(p.updates.len(), 1);
        assert_eq!(p.updates[0].id, known.id, "the same cloud user");
        assert!(p.updates[0].enabled);
        assert_eq!(p.changes[0].operation, Operation::Enable);
        assert!(p.inserts.is_empty());
    }

    #[test]
    fn a_cloud_side_disable_survives_updates_while_the_source_state_is_unchanged() {
        let r = record("1", "ann", true);
        let known = stored(&r, false, false); // disabled by an admin, or created disabled
        let mut changed = r.clone();
        changed.email = Some("a@x".into());
        let p = plan(&settings(|_| {}), vec![changed], &[known]);
        assert!(!p.updates[0].enabled);
    }

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

    #[test]
    fn a_batch_cannot_smuggle_a_duplicate_or_a_taken_username() {
        let a = record("1", "ann", true);
        let known = stored(&a, true, false);
        let twin = record("2", "ANN", true);
        let p = plan(&settings(|_| {}), vec![twin], std::slice::from_ref(&known));
        assert_eq!(p.counts.conflicts, 1);
        assert!(p.inserts.is_empty());
        let p = plan(
            &settings(|_| {}),
            vec![record("3", "bob", true), record("4", "Bob", true)],
            &[],
        );
        assert_eq!((p.inserts.len(), p.counts.errors), (1, 1));
    }
}
