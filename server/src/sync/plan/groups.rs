//! Groups and memberships (architecture §5.5): each group record created, updated,
//! skipped or refused as users are; each membership added, skipped or reported
//! unresolved. The effective settings govern both, enforced here.

use crate::db::groups::StoredGroup;
use crate::db::writes::{ChangeRow, GroupBatchWrite, GroupInsert, GroupUpdate, MemberWrite};
use crate::vocabulary::{Operation, Outcome, Subject};
use adc_shared::group::Unresolved;
use adc_shared::protocol::EntryError;
use adc_shared::{EffectiveSettings, GroupRecord, MemberDelta, MemberKind, Setting, Source};
use foldhash::{HashMap, HashSet, HashSetExt};
use std::borrow::Cow;
use uuid::Uuid;

/// Plans one batch of group records. `by_external` holds this synchronization's groups
/// matching the batch's external IDs, `by_name` the tenant's groups matching its names.
pub fn plan_groups(
    settings: &EffectiveSettings,
    sync_id: Uuid,
    records: Vec<GroupRecord>,
    by_external: &HashMap<String, StoredGroup>,
    by_name: &HashMap<String, StoredGroup>,
) -> GroupBatchWrite {
    let dry = settings.on(Setting::DryRun);
    let mut plan = GroupBatchWrite::default();
    let mut seen = HashSet::new();
    // Each name goes to the batch's first record that has it.
    let mut claimed: HashMap<String, String> = HashMap::default();
    for r in records {
        let existing = by_external.get(&r.external_id);
        let op = match existing {
            Some(e) if e.removed_from_source => Operation::Enable,
            Some(_) => Operation::Update,
            None => Operation::Create,
        };
        let id = existing.map(|e| e.id);
        let change = |plan: &mut GroupBatchWrite, id: Option<Uuid>, op, outcome| {
            plan.changes.push(ChangeRow::group(
                id,
                Some(r.external_id.clone()),
                &r.name,
                op,
                outcome,
            ));
        };
        if let Err(reason) = r.validate() {
            plan.counts.errors += 1;
            change(&mut plan, id, op, Outcome::Error(reason));
            continue;
        }
        if !seen.insert(r.external_id.clone()) {
            plan.counts.errors += 1;
            change(
                &mut plan,
                None,
                op,
                Outcome::Error("sent twice in one batch".into()),
            );
            continue;
        }
        let key = r.name.to_lowercase();
        if let Some(dn) = claimed.get(&key) {
            plan.counts.conflicts += 1;
            let reason = same_name(&r, dn);
            change(&mut plan, id, op, reason);
            continue;
        }
        claimed.insert(key.clone(), r.source_dn.clone());
        let holder = by_name.get(&key);
        match existing {
            Some(e) => {
                if let Some(h) = holder.filter(|h| h.id != e.id) {
                    plan.counts.conflicts += 1;
                    let reason = Outcome::Conflict(format!(
                        "group name `{}` belongs to another group",
                        h.name
                    ));
                    change(&mut plan, id, op, reason);
                    continue;
                }
                let hash = r.content_hash();
                if !e.removed_from_source && e.content_hash.as_deref() == Some(hash.as_str()) {
                    plan.counts.groups_unchanged += 1;
                    continue;
                }
                if settings.on(Setting::NoUpdate) {
                    plan.counts.skipped += 1;
                    change(&mut plan, id, op, Outcome::Skipped("no-update".into()));
                    continue;
                }
                plan.counts.groups_updated += 1;
                change(&mut plan, id, op, Outcome::done(dry));
                plan.updates.push(GroupUpdate {
                    id: e.id,
                    record: r,
                    hash,
                    take_over: false,
                });
            }
            None => match holder {
                Some(h) if h.synchronization_id == Some(sync_id) => {
                    plan.counts.conflicts += 1;
                    let reason = same_name(&r, h.source_dn.as_deref().unwrap_or("?"));
                    change(&mut plan, Some(h.id), Operation::Create, reason);
                }
                Some(h) => {
                    let mismatch = settings.get(Setting::NoUpdateProviderMismatch);
                    let refused = if mismatch.value {
                        Some(Outcome::Conflict("provider mismatch".into()))
                    } else if h.synchronization_id.is_some() && mismatch.source != Source::Server {
                        // As for users (architecture §8.4): an agent's adc.yaml alone may take
                        // over manual groups, never another synchronization's.
                        Some(Outcome::Conflict(
                            "provider mismatch: the group belongs to another synchronization; only the server's no-update-provider-mismatch set to false takes it over".into(),
                        ))
                    } else {
                        None
                    };
                    if let Some(reason) = refused {
                        plan.counts.conflicts += 1;
                        change(&mut plan, Some(h.id), Operation::Update, reason);
                    } else if settings.on(Setting::NoUpdate) {
                        plan.counts.skipped += 1;
                        let outcome = Outcome::Skipped("no-update".into());
                        change(&mut plan, Some(h.id), Operation::Update, outcome);
                    } else {
                        plan.counts.groups_updated += 1;
                        let outcome = Outcome::TakenOver { dry_run: dry };
                        change(&mut plan, Some(h.id), Operation::Update, outcome);
                        let hash = r.content_hash();
                        plan.updates.push(GroupUpdate {
                            id: h.id,
                            record: r,
                            hash,
                            take_over: true,
                        });
                    }
                }
                None if settings.on(Setting::NoCreate) => {
                    plan.counts.skipped += 1;
                    change(
                        &mut plan,
                        None,
                        Operation::Create,
                        Outcome::Skipped("no-create".into()),
                    );
                }
                None => {
                    let id = Uuid::now_v7();
                    plan.counts.groups_created += 1;
                    change(&mut plan, Some(id), Operation::Create, Outcome::done(dry));
                    let hash = r.content_hash();
                    plan.inserts.push(GroupInsert {
                        id,
                        record: r,
                        hash,
                    });
                }
            },
        }
    }
    if dry {
        plan.inserts.clear();
        plan.updates.clear();
    }
    plan
}

fn same_name(r: &GroupRecord, holder_dn: &str) -> Outcome {
    Outcome::Conflict(format!(
        "group name `{}` of `{}` is already that of the directory entry `{holder_dn}`; one of them must change",
        r.name, r.source_dn
    ))
}

/// Group entries the agent could not map: reported as errors, never deleted.
pub fn add_group_errors(plan: &mut GroupBatchWrite, errors: Vec<EntryError>) {
    for e in errors {
        plan.counts.errors += 1;
        let name: String = e.dn.chars().filter(|c| !c.is_control()).take(512).collect();
        let reason: String = e
            .reason
            .chars()
            .filter(|c| !c.is_control())
            .take(512)
            .collect();
        let mut row = ChangeRow::group(
            None,
            e.external_id.map(|i| i.chars().take(256).collect()),
            &name,
            Operation::Read,
            Outcome::Error(reason),
        );
        row.group_name = None;
        plan.changes.push(row);
    }
}

/// What the server knows of the groups and members a message of additions names.
pub struct Known<'a> {
    /// This synchronization's groups by external ID.
    pub groups: &'a HashMap<String, StoredGroup>,
    /// This synchronization's users by external ID: (ID, username).
    pub users: &'a HashMap<String, (Uuid, String)>,
    /// Groups created by this run: a new group's first members are part of its creation.
    pub created: &'a HashSet<Uuid>,
    /// In a dry run, the groups this run would have created, by external ID: their names.
    pub planned: &'a HashMap<String, String>,
    /// Of the additions, the edges stored already.
    pub existing: &'a HashSet<(Uuid, Uuid)>,
}

/// A membership change row.
pub fn member_row(
    op: Operation,
    outcome: Outcome,
    group: (Option<Uuid>, &str),
    member: (MemberKind, Option<Uuid>, &str),
    external_id: Option<String>,
) -> ChangeRow {
    let (kind, id, name) = member;
    ChangeRow {
        subject: Subject::Membership,
        user_id: if kind == MemberKind::User { id } else { None },
        external_id,
        username: name.to_owned(),
        operation: op,
        outcome,
        group_id: group.0,
        group_name: Some(group.1.to_owned()),
        member_group_id: if kind == MemberKind::Group { id } else { None },
        fields: Vec::new(),
    }
}

/// Plans a message of member additions and unresolved member values.
/// `planned` holds the edges this run planned before (added, or in a dry run would
/// add) and takes this message's: an edge sent twice, in one message or two, is planned
/// once (a real agent sends each once; the first is kept).
///
/// A first sync adds every membership once: each group and member is looked up once
/// and a change row costs two strings (the names), the external ID being the one sent.
pub fn plan_additions(
    settings: &EffectiveSettings,
    added: Vec<MemberDelta>,
    unresolved: Vec<Unresolved>,
    k: &Known<'_>,
    planned: &mut HashSet<(Uuid, Uuid)>,
) -> MemberWrite {
    let dry = settings.on(Setting::DryRun);
    let mut plan = MemberWrite::default();
    plan.changes
        .reserve(added.iter().map(MemberDelta::len).sum::<usize>());
    for d in added {
        let group = k.groups.get(&d.group);
        let group_name: Cow<'_, str> = match (group, k.planned.get(&d.group)) {
            (Some(g), _) => Cow::Borrowed(&g.name),
            (None, Some(name)) => Cow::Borrowed(name),
            (None, None) => Cow::Owned(bounded(&d.group)),
        };
        let users = d.users.into_iter().map(|m| (MemberKind::User, m));
        let members = users.chain(d.groups.into_iter().map(|m| (MemberKind::Group, m)));
        for (kind, external_id) in members {
            let member: Option<(Uuid, &str)> = match kind {
                MemberKind::User => k.users.get(&external_id).map(|(id, n)| (*id, n.as_str())),
                MemberKind::Group => k.groups.get(&external_id).map(|g| (g.id, g.name.as_str())),
            };
            let row = |plan: &mut MemberWrite, outcome, external_id: String| {
                let planned_name = || k.planned.get(&external_id).map(String::as_str);
                let name: Cow<'_, str> = match member.map(|(_, n)| n).or_else(planned_name) {
                    Some(n) => Cow::Borrowed(n),
                    None => Cow::Owned(bounded(&external_id)),
                };
                plan.changes.push(member_row(
                    Operation::AddMember,
                    outcome,
                    (group.map(|g| g.id), &group_name),
                    (kind, member.map(|(id, _)| id), &name),
                    Some(bounded_owned(external_id)),
                ));
            };
            let (Some(g), Some((member_id, _))) = (group, member) else {
                // A group or member this run would create, in a dry run: planned with it.
                let planned = |id: &str| k.planned.contains_key(id);
                let group_ok = group.is_some() || planned(&d.group);
                let member_ok = member.is_some()
                    || (dry && (planned(&external_id) || kind == MemberKind::User));
                if dry && group_ok && member_ok {
                    plan.counts.members_added += 1;
                    row(&mut plan, Outcome::Planned, external_id);
                } else {
                    plan.counts.skipped += 1;
                    let which = if group.is_none() { "group" } else { "member" };
                    let why = format!("the {which} is not stored (see its own change)");
                    row(&mut plan, Outcome::Skipped(why), external_id);
                }
                continue;
            };
            if k.existing.contains(&(g.id, member_id)) || !planned.insert((g.id, member_id)) {
                continue;
            }
            if settings.on(Setting::NoUpdate) && !k.created.contains(&g.id) {
                plan.counts.skipped += 1;
                row(&mut plan, Outcome::Skipped("no-update".into()), external_id);
                continue;
            }
            plan.counts.members_added += 1;
            row(&mut plan, Outcome::done(dry), external_id);
            if !dry {
                match kind {
                    MemberKind::User => plan.users.push((g.id, member_id)),
                    MemberKind::Group => plan.nested.push((g.id, member_id)),
                }
            }
        }
    }
    for u in unresolved {
        let group = k.groups.get(&u.group);
        let group_name = group
            .map(|g| g.name.clone())
            .or_else(|| k.planned.get(&u.group).cloned())
            .unwrap_or_else(|| bounded(&u.group));
        // The count is the agent's word: bounded, so no sum of them can overflow.
        let count = u.count.min(u64::from(u32::MAX));
        plan.counts.members_unresolved += count;
        let reason = "not among the synchronization's users or groups";
        for v in u.values.iter().take(adc_shared::group::UNRESOLVED_NAMED) {
            let value: String = v.chars().filter(|c| !c.is_control()).take(1024).collect();
            plan.changes.push(member_row(
                Operation::AddMember,
                Outcome::Unresolved(reason.into()),
                (group.map(|g| g.id), &group_name),
                (MemberKind::User, None, &value),
                None,
            ));
        }
        let named = u.values.len().min(adc_shared::group::UNRESOLVED_NAMED) as u64;
        if u.count > named {
            plan.changes.push(member_row(
                Operation::AddMember,
                Outcome::Unresolved(reason.into()),
                (group.map(|g| g.id), &group_name),
                (
                    MemberKind::User,
                    None,
                    &format!("… and {} more", u.count - named),
                ),
                None,
            ));
        }
    }
    plan
}

/// An external ID as the agent sent it, for a report: at most 256 characters, no
/// control characters (a record's IDs are checked; these name what was not found).
fn bounded(id: &str) -> String {
    if fits(id) {
        return id.to_owned();
    }
    id.chars().filter(|c| !c.is_control()).take(256).collect()
}

/// `bounded`, keeping the string when it already is (as every real agent's is).
fn bounded_owned(id: String) -> String {
    if fits(&id) { id } else { bounded(&id) }
}

/// At most 256 characters (bytes, the quicker test), none of them a control.
fn fits(id: &str) -> bool {
    id.len() <= 256 && !id.chars().any(char::is_control)
}

/// The cycles among nested groups (`edges` parent → child, by name), each as the
/// names around it, the first repeated at the end; each cycle once.
pub fn cycles(edges: &[(String, String)]) -> Vec<Vec<String>> {
    // Tarjan's strongly connected components, iteratively: a component of more than
    // one group, or a group in itself, holds a cycle.
    let mut index: HashMap<&str, usize> = HashMap::default();
    let mut names: Vec<&str> = Vec::new();
    for (p, c) in edges {
        for n in [p.as_str(), c.as_str()] {
            if !index.contains_key(n) {
                index.insert(n, names.len());
                names.push(n);
            }
        }
    }
    let n = names.len();
    let mut next: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (p, c) in edges {
        next[index[p.as_str()]].push(index[c.as_str()]);
    }
    for v in &mut next {
        v.sort_by_key(|&i| names[i]);
    }
    let (mut order, mut low) = (vec![usize::MAX; n], vec![0usize; n]);
    let mut on_stack = vec![false; n];
    let (mut stack, mut counter, mut out) = (Vec::new(), 0usize, Vec::new());
    let mut roots: Vec<usize> = (0..n).collect();
    roots.sort_by_key(|&i| names[i]);
    for root in roots {
        if order[root] != usize::MAX {
            continue;
        }
        let mut work = vec![(root, 0usize)];
        while let Some(&mut (v, ref mut i)) = work.last_mut() {
            if *i == 0 && order[v] == usize::MAX {
                order[v] = counter;
                low[v] = counter;
                counter += 1;
                stack.push(v);
                on_stack[v] = true;
            }
            if let Some(&w) = next[v].get(*i) {
                *i += 1;
                if order[w] == usize::MAX {
                    work.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(order[w]);
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == order[v] {
                let mut component = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    component.push(w);
                    if w == v {
                        break;
                    }
                }
                let self_loop = next[v].contains(&v);
                if component.len() > 1 || self_loop {
                    out.push(cycle_through(&component, &next, &names));
                }
            }
        }
    }
    out.sort();
    out
}

/// One cycle through a strongly connected component, from its first name.
fn cycle_through(component: &[usize], next: &[Vec<usize>], names: &[&str]) -> Vec<String> {
    let inside: HashSet<usize> = component.iter().copied().collect();
    let start = *component
        .iter()
        .min_by_key(|&&i| names[i])
        .expect("a component has a member");
    // Breadth-first from the start back to it, within the component: the shortest cycle.
    let mut from: HashMap<usize, usize> = HashMap::default();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        for &w in &next[v] {
            if !inside.contains(&w) {
                continue;
            }
            if w == start {
                let mut back = vec![v];
                let mut at = v;
                while at != start {
                    at = from[&at];
                    back.push(at);
                }
                back.reverse();
                let mut path: Vec<String> = back.iter().map(|&i| names[i].to_owned()).collect();
                path.push(names[start].to_owned());
                return path;
            }
            if let std::collections::hash_map::Entry::Vacant(e) = from.entry(w) {
                e.insert(v);
                queue.push_back(w);
            }
        }
    }
    vec![names[start].to_owned(), names[start].to_owned()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::plan::testing::{SYNC, settings};

    fn group(id: &str, name: &str) -> GroupRecord {
        GroupRecord {
            external_id: id.into(),
            name: name.into(),
            description: None,
            email: None,
            source_dn: format!("cn={name},ou=groups,dc=x"),
            extra: Default::default(),
        }
    }

    fn stored(r: &GroupRecord, sync: Option<Uuid>) -> StoredGroup {
        StoredGroup {
            id: Uuid::new_v4(),
            synchronization_id: sync,
            external_id: Some(r.external_id.clone()),
            name: r.name.clone(),
            name_key: r.name.to_lowercase(),
            removed_from_source: false,
            content_hash: Some(r.content_hash()),
            source_dn: Some(r.source_dn.clone()),
        }
    }

    fn plan(
        s: &EffectiveSettings,
        records: Vec<GroupRecord>,
        known: &[StoredGroup],
    ) -> GroupBatchWrite {
        let by_ext = known
            .iter()
            .filter(|g| g.synchronization_id == Some(SYNC))
            .map(|g| (g.external_id.clone().unwrap(), g.clone()))
            .collect();
        let by_name = known
            .iter()
            .map(|g| (g.name_key.clone(), g.clone()))
            .collect();
        plan_groups(s, SYNC, records, &by_ext, &by_name)
    }

    #[test]
    fn a_renamed_group_is_updated_in_place_and_an_unchanged_one_left_alone() {
        let staff = group("1", "staff");
        let known = [stored(&staff, Some(SYNC))];
        let p = plan(&settings(|_| {}), vec![group("1", "crew")], &known);
        assert_eq!(p.updates.len(), 1);
        assert_eq!(p.updates[0].id, known[0].id, "the same cloud group");
        let p = plan(&settings(|_| {}), vec![staff], &known);
        assert_eq!((p.counts.groups_unchanged, p.changes.len()), (1, 0));
    }

    #[test]
    fn settings_govern_group_creates_updates_and_takeovers() {
        let p = plan(
            &settings(|s| s.no_create = Some(true)),
            vec![group("1", "a")],
            &[],
        );
        assert!(p.inserts.is_empty());
        assert_eq!(p.changes[0].outcome, Outcome::Skipped("no-create".into()));
        let known = [stored(&group("1", "a"), Some(SYNC))];
        let p = plan(
            &settings(|s| s.no_update = Some(true)),
            vec![group("1", "b")],
            &known,
        );
        assert!(p.updates.is_empty() && p.counts.skipped == 1);
        let p = plan(
            &settings(|s| s.dry_run = Some(true)),
            vec![group("2", "c")],
            &[],
        );
        assert!(p.inserts.is_empty() && p.counts.groups_created == 1);
        assert_eq!(p.changes[0].outcome, Outcome::Planned);
        // A manual group of the same name: a conflict by default, taken over on request.
        let manual = stored(&group("x", "Admins"), None);
        let p = plan(
            &settings(|_| {}),
            vec![group("3", "admins")],
            std::slice::from_ref(&manual),
        );
        assert_eq!(
            p.changes[0].outcome,
            Outcome::Conflict("provider mismatch".into())
        );
        let p = plan(
            &settings(|s| s.no_update_provider_mismatch = Some(false)),
            vec![group("3", "admins")],
            std::slice::from_ref(&manual),
        );
        assert_eq!(p.updates.len(), 1);
        assert!(p.updates[0].take_over && p.updates[0].id == manual.id);
    }

    #[test]
    fn two_entries_with_one_group_name_conflict_naming_both() {
        let p = plan(
            &settings(|_| {}),
            vec![group("1", "ops"), group("2", "OPS")],
            &[],
        );
        assert_eq!((p.inserts.len(), p.counts.conflicts), (1, 1));
        assert_eq!(
            p.changes[1].outcome.to_string(),
            "conflict: group name `OPS` of `cn=OPS,ou=groups,dc=x` is already that of the directory entry `cn=ops,ou=groups,dc=x`; one of them must change"
        );
    }

    #[test]
    fn hostile_additions_from_an_agent_stay_bounded_in_the_report() {
        let long = "x".repeat(5000);
        let none = HashMap::default();
        let users = HashMap::default();
        let (created, existing) = (HashSet::new(), HashSet::new());
        let k = Known {
            groups: &none,
            users: &users,
            created: &created,
            planned: &none_names(),
            existing: &existing,
        };
        let p = plan_additions(
            &settings(|_| {}),
            vec![MemberDelta {
                group: long.clone(),
                users: vec![format!("{long}\u{7}")],
                groups: Vec::new(),
            }],
            vec![Unresolved {
                group: long.clone(),
                count: u64::MAX,
                values: vec![long.clone(); 100],
            }],
            &k,
            &mut HashSet::new(),
        );
        assert_eq!(p.counts.members_unresolved, u64::from(u32::MAX));
        assert_eq!(p.counts.skipped, 1, "a group the server does not have");
        assert_eq!(
            p.changes.len(),
            1 + 20 + 1,
            "20 values named, then `… and N more`"
        );
        for c in &p.changes {
            assert!(c.group_name.as_ref().unwrap().chars().count() <= 256);
            assert!(c.username.chars().count() <= 1024);
            assert!(!c.username.chars().any(char::is_control));
            let id = c.external_id.as_deref().unwrap_or_default();
            assert!(id.chars().count() <= 256 && !id.chars().any(char::is_control));
        }
    }

    fn none_names() -> HashMap<String, String> {
        HashMap::default()
    }

    #[test]
    fn cycles_are_found_once_each_and_never_loop() {
        let e = |p: &str, c: &str| (p.to_owned(), c.to_owned());
        let edges = [
            e("a", "b"),
            e("b", "c"),
            e("c", "a"),
            e("c", "d"),
            e("x", "x"),
            e("p", "q"),
            e("q", "p"),
            e("r", "a"),
        ];
        let found = cycles(&edges);
        assert_eq!(
            found,
            vec![
                vec!["a".to_owned(), "b".into(), "c".into(), "a".into()],
                vec!["p".to_owned(), "q".into(), "p".into()],
                vec!["x".to_owned(), "x".into()],
            ]
        );
        assert!(cycles(&[e("a", "b"), e("b", "c"), e("a", "c")]).is_empty());
    }
}
