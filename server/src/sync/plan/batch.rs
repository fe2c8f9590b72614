//! One batch: each record created, updated, re-enabled, skipped or refused, and the
//! change row that says which.

use crate::db::users::Stored;
use crate::db::writes::{BatchWrite, ChangeRow, FieldChange, Insert, Update};
use crate::vocabulary::{Operation, Outcome};
use adc_shared::protocol::EntryError;
use adc_shared::{EffectiveSettings, Setting, Source, UserRecord};
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
    // Each record's username key, computed once.
    let keys: Vec<String> = records.iter().map(|r| r.username.to_lowercase()).collect();
    // Users of this synchronization that this batch renames, to their new names: their
    // old names are free for others of the batch (two users swapping names converge).
    let moving: HashMap<Uuid, String> = records
        .iter()
        .zip(&keys)
        .filter_map(|(r, key)| {
            let e = by_external.get(&r.external_id)?;
            (&e.username_key != key).then(|| (e.id, key.clone()))
        })
        .collect();
    let claims = claims(&records, &keys, by_username, sync_id);
    let mut p = Planner {
        settings,
        sync_id,
        dry: settings.on(Setting::DryRun),
        moving,
        claims,
        plan: BatchWrite::default(),
        seen_ids: HashSet::new(),
        takes: Vec::new(),
    };
    for (i, (record, key)) in records.into_iter().zip(&keys).enumerate() {
        p.record(i, record, key, by_external, by_username);
    }
    let mut plan = p.plan;
    settle_takes(&mut plan, p.takes);
    if p.dry {
        plan.inserts.clear();
        plan.updates.clear();
        plan.vacate.clear();
    }
    plan
}

/// One batch being planned.
struct Planner<'a> {
    settings: &'a EffectiveSettings,
    sync_id: Uuid,
    dry: bool,
    moving: HashMap<Uuid, String>,
    /// Which entry of the batch a username goes to when several have it.
    claims: Claims<'a>,
    plan: BatchWrite,
    seen_ids: HashSet<String>,
    takes: Vec<Takes>,
}

/// Which record of a batch each username goes to (by its index), and for the names
/// several records have, the winner's DN to name in the others' conflicts.
struct Claims<'a> {
    winner: HashMap<&'a str, usize>,
    contested: HashMap<&'a str, String>,
}

/// For each username of the batch, the record that gets it: the one of this
/// synchronization that holds it already, when that one is in the batch, else the
/// batch's first. So two directory entries with one username are told apart the same
/// way on every run, whichever batch each lands in, and the first holder keeps it.
fn claims<'a>(
    records: &[UserRecord],
    keys: &'a [String],
    by_username: &HashMap<String, Stored>,
    sync_id: Uuid,
) -> Claims<'a> {
    let mut winner: HashMap<&str, usize> = HashMap::default();
    let mut contested: HashMap<&str, String> = HashMap::default();
    for (i, (r, key)) in records.iter().zip(keys).enumerate() {
        let holds = by_username.get(key).is_some_and(|h| {
            h.synchronization_id == Some(sync_id)
                && h.external_id.as_deref() == Some(r.external_id.as_str())
        });
        match winner.get(key.as_str()).copied() {
            None => {
                winner.insert(key, i);
            }
            // The same ID again is the sender's error, reported as such.
            Some(w) if records[w].external_id == r.external_id => {}
            Some(_) => {
                contested.insert(key, String::new());
                if holds {
                    winner.insert(key, i);
                }
            }
        }
    }
    // Rare: only names two records of the batch share.
    for (key, dn) in &mut contested {
        dn.clone_from(&records[winner[key]].source_dn);
    }
    Claims { winner, contested }
}

/// The conflict of a directory entry whose username another entry of the same
/// synchronization has: both named, the same text on every run.
fn same_username(r: &UserRecord, holder_dn: &str) -> Outcome {
    Outcome::Conflict(format!(
        "username `{}` of `{}` is already that of the directory entry `{holder_dn}`; one of them must change",
        r.username, r.source_dn
    ))
}

/// The longest value a change row keeps of a field (a photo in an extra attribute
/// would otherwise fill the change list).
const FIELD_VALUE_CHARS: usize = 200;

fn shown(v: Option<&str>) -> Option<String> {
    v.map(|v| {
        if v.chars().count() <= FIELD_VALUE_CHARS {
            v.to_owned()
        } else {
            let mut cut: String = v.chars().take(FIELD_VALUE_CHARS).collect();
            cut.push('…');
            cut
        }
    })
}

/// What updating `e` with `r` changes, field by field, old → new; nothing when the
/// lookup did not read `e`'s details. `enabled` is the cloud state the update sets.
pub fn changed_fields(e: &Stored, r: &UserRecord, enabled: bool) -> Vec<FieldChange> {
    let Some(extra) = &e.extra else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut field = |name: &str, old: Option<&str>, new: Option<&str>| {
        if old != new {
            out.push(FieldChange {
                field: name.to_owned(),
                old: shown(old),
                new: shown(new),
            });
        }
    };
    field("username", Some(&e.username), Some(&r.username));
    field("email", e.email.as_deref(), r.email.as_deref());
    field(
        "display_name",
        e.display_name.as_deref(),
        r.display_name.as_deref(),
    );
    field(
        "given_name",
        e.given_name.as_deref(),
        r.given_name.as_deref(),
    );
    field("surname", e.surname.as_deref(), r.surname.as_deref());
    let state = |on: bool| if on { "enabled" } else { "disabled" };
    field("enabled", Some(state(e.enabled)), Some(state(enabled)));
    field("source_dn", e.source_dn.as_deref(), Some(&r.source_dn));
    let names: std::collections::BTreeSet<&String> = extra.keys().chain(r.extra.keys()).collect();
    for name in names {
        field(
            name,
            extra.get(name).map(String::as_str),
            r.extra.get(name).map(String::as_str),
        );
    }
    out
}

impl Planner<'_> {
    fn change(&mut self, user_id: Option<Uuid>, op: Operation, outcome: Outcome, r: &UserRecord) {
        self.plan.changes.push(ChangeRow::user(
            user_id,
            Some(r.external_id.clone()),
            r.username.clone(),
            op,
            outcome,
        ));
    }

    /// The last change says what it changes.
    fn with_fields(&mut self, fields: Vec<FieldChange>) {
        if let Some(c) = self.plan.changes.last_mut() {
            c.fields = fields;
        }
    }

    /// Whether `holder` is renamed away from `key` in this batch.
    fn moves_away(&self, holder: &Stored, key: &str) -> bool {
        self.moving.get(&holder.id).is_some_and(|k| k != key)
    }

    fn record(
        &mut self,
        i: usize,
        record: UserRecord,
        key: &str,
        by_external: &HashMap<String, Stored>,
        by_username: &HashMap<String, Stored>,
    ) {
        let existing = by_external.get(&record.external_id);
        let op = if existing.is_some() {
            Operation::Update
        } else {
            Operation::Create
        };
        if let Err(reason) = record.validate() {
            self.plan.counts.errors += 1;
            self.change(existing.map(|e| e.id), op, Outcome::Error(reason), &record);
            return;
        }
        if !self.seen_ids.insert(record.external_id.clone()) {
            self.plan.counts.errors += 1;
            let outcome = Outcome::Error("sent twice in one batch".into());
            self.change(None, op, outcome, &record);
            return;
        }
        if self.claims.winner.get(key).is_some_and(|&w| w != i) {
            self.plan.counts.conflicts += 1;
            let outcome = same_username(&record, &self.claims.contested[key]);
            self.change(existing.map(|e| e.id), op, outcome, &record);
            return;
        }
        let holder = by_username.get(key);
        match existing {
            Some(e) => self.known_user(record, e, key, holder),
            None => self.new_user(record, key, holder),
        }
    }

    /// A record of a user this synchronization already has: `holder` is whoever holds
    /// its username now.
    fn known_user(&mut self, record: UserRecord, e: &Stored, key: &str, holder: Option<&Stored>) {
        let taken_from = holder.filter(|h| h.id != e.id);
        if let Some(h) = taken_from.filter(|h| !self.moves_away(h, key)) {
            self.plan.counts.conflicts += 1;
            let reason =
                Outcome::Conflict(format!("username `{}` belongs to another user", h.username));
            self.change(Some(e.id), Operation::Update, reason, &record);
            return;
        }
        let hash = record.content_hash();
        if !e.removed_from_source && e.content_hash.as_deref() == Some(hash.as_str()) {
            self.plan.counts.unchanged += 1;
            return;
        }
        let op = if e.removed_from_source && record.enabled {
            Operation::Enable
        } else {
            Operation::Update
        };
        // The sync changes the cloud's enabled state only when the source's changed,
        // or when the user comes back (architecture §5.3 step 7).
        let enabled = if e.removed_from_source || record.enabled != e.source_enabled {
            record.enabled
        } else {
            e.enabled
        };
        let fields = changed_fields(e, &record, enabled);
        if self.settings.on(Setting::NoUpdate) {
            self.plan.counts.skipped += 1;
            self.change(
                Some(e.id),
                op,
                Outcome::Skipped("no-update".into()),
                &record,
            );
            self.with_fields(fields);
            return;
        }
        if let Some(h) = taken_from {
            self.takes.push(Takes {
                holder: h.id,
                change: self.plan.changes.len(),
                user: e.id,
                reason: Outcome::Conflict(format!(
                    "username `{}` belongs to another user",
                    h.username
                )),
            });
        }
        self.plan.counts.updated += 1;
        self.change(Some(e.id), op, Outcome::done(self.dry), &record);
        self.with_fields(fields);
        self.plan.updates.push(Update {
            id: e.id,
            record,
            hash,
            enabled,
            take_over: false,
        });
    }

    /// A record whose external ID this synchronization does not know: a new user, or a
    /// username held by another user (`holder`), which may be taken over.
    fn new_user(&mut self, record: UserRecord, key: &str, holder: Option<&Stored>) {
        match holder.filter(|h| !self.moves_away(h, key)) {
            Some(h) if h.synchronization_id == Some(self.sync_id) => {
                self.plan.counts.conflicts += 1;
                let reason = same_username(&record, h.source_dn.as_deref().unwrap_or("?"));
                self.change(Some(h.id), Operation::Create, reason, &record);
            }
            Some(h) => self.take_over(record, h),
            None => {
                if self.settings.on(Setting::NoCreate) {
                    self.plan.counts.skipped += 1;
                    let outcome = Outcome::Skipped("no-create".into());
                    self.change(None, Operation::Create, outcome, &record);
                    return;
                }
                // Time-ordered: a first sync's inserts append to the primary key's
                // index instead of landing all over it.
                let id = Uuid::now_v7();
                if let Some(h) = holder {
                    self.takes.push(Takes {
                        holder: h.id,
                        change: self.plan.changes.len(),
                        user: id,
                        reason: same_username(&record, h.source_dn.as_deref().unwrap_or("?")),
                    });
                }
                let enabled = record.enabled && !self.settings.on(Setting::CreateAsDisabled);
                self.plan.counts.created += 1;
                self.change(
                    Some(id),
                    Operation::Create,
                    Outcome::done(self.dry),
                    &record,
                );
                let hash = record.content_hash();
                self.plan.inserts.push(Insert {
                    id,
                    record,
                    hash,
                    enabled,
                });
            }
        }
    }

    /// A user of another provider (`h`) whose username the record has: a conflict, or
    /// taken over when the effective settings allow it.
    fn take_over(&mut self, record: UserRecord, h: &Stored) {
        let mismatch = self.settings.get(Setting::NoUpdateProviderMismatch);
        if mismatch.value {
            self.plan.counts.conflicts += 1;
            let outcome = Outcome::Conflict("provider mismatch".into());
            self.change(Some(h.id), Operation::Update, outcome, &record);
        } else if h.synchronization_id.is_some() && mismatch.source != Source::Server {
            // Another synchronization's user: an agent touches only its own
            // synchronization's users (architecture §8.4), so its adc.yaml alone may take
            // over manual users, never another synchronization's.
            self.plan.counts.conflicts += 1;
            let outcome = Outcome::Conflict(
                "provider mismatch: the user belongs to another synchronization; only the server's no-update-provider-mismatch set to false takes it over".into(),
            );
            self.change(Some(h.id), Operation::Update, outcome, &record);
        } else if self.settings.on(Setting::NoUpdate) {
            self.plan.counts.skipped += 1;
            let outcome = Outcome::Skipped("no-update".into());
            self.change(Some(h.id), Operation::Update, outcome, &record);
        } else {
            self.plan.counts.updated += 1;
            let outcome = Outcome::TakenOver { dry_run: self.dry };
            self.change(Some(h.id), Operation::Update, outcome, &record);
            let (enabled, hash) = (record.enabled, record.content_hash());
            self.plan.updates.push(Update {
                id: h.id,
                record,
                hash,
                enabled,
                take_over: true,
            });
        }
    }
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
        plan.changes.push(ChangeRow::user(
            None,
            e.external_id.map(|i| i.chars().take(256).collect()),
            name,
            Operation::Read,
            Outcome::Error(reason),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::plan::testing::{SYNC, record, settings, stored};

    #[test]
    fn an_update_says_which_fields_change_from_what_to_what() {
        let before = record("1", "ann", true);
        let mut e = stored(&before, true, false);
        let mut after = before.clone();
        after.email = Some("ann.new@example.com".into());
        after.extra.insert("title".into(), "x".repeat(300));
        after.enabled = false;
        let fields = changed_fields(&e, &after, false);
        let names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(names, ["email", "enabled", "title"]);
        assert_eq!(fields[0].old, before.email);
        assert_eq!(fields[0].new.as_deref(), Some("ann.new@example.com"));
        assert_eq!(
            (fields[1].old.as_deref(), fields[1].new.as_deref()),
            (Some("enabled"), Some("disabled"))
        );
        assert_eq!(fields[2].old, None, "an attribute the user did not have");
        assert_eq!(
            fields[2].new.as_ref().unwrap().chars().count(),
            201,
            "a long value is cut, and says so"
        );
        // A lookup that did not read the details says nothing rather than guess.
        e.extra = None;
        assert!(changed_fields(&e, &after, false).is_empty());
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
        assert_eq!((p.inserts.len(), p.counts.conflicts), (1, 1));
        // The same external ID twice is an error of the sender.
        let p = plan(
            &settings(|_| {}),
            vec![record("5", "cy", true), record("5", "cy2", true)],
            &[],
        );
        assert_eq!((p.inserts.len(), p.counts.errors), (1, 1));
    }

    #[test]
    fn two_entries_with_one_username_are_told_apart_the_same_way_in_one_batch_or_two() {
        let first = record("1", "ann", true);
        let second = record("2", "Ann", true);
        // One batch, the first entry first: it gets the name.
        let p = plan(&settings(|_| {}), vec![first.clone(), second.clone()], &[]);
        assert_eq!(p.inserts.len(), 1);
        assert_eq!(p.inserts[0].record.external_id, "1");
        let said = p.changes[1].outcome.to_string();
        assert_eq!(
            said,
            "conflict: username `Ann` of `uid=Ann,dc=x` is already that of the directory entry `uid=ann,dc=x`; one of them must change"
        );
        // Later, alone in its batch: the same conflict, word for word.
        let holder = stored(&first, true, false);
        let p = plan(
            &settings(|_| {}),
            vec![second.clone()],
            std::slice::from_ref(&holder),
        );
        assert_eq!(p.changes[0].outcome.to_string(), said);
        // Both sent again, the second first (a full resync): the holder keeps the name.
        let p = plan(&settings(|_| {}), vec![second, first], &[holder]);
        assert!(p.inserts.is_empty());
        assert_eq!(p.changes[0].outcome.to_string(), said);
        assert_eq!(p.counts.conflicts, 1);
    }

    #[test]
    fn another_synchronization_s_user_is_taken_over_only_on_the_server_s_word() {
        let r = record("new-id", "ann", true);
        let mut theirs = stored(&record("their-id", "ann", true), true, false);
        theirs.synchronization_id = Some(Uuid::from_u128(99));
        let mut manual = stored(&record("x", "ann", true), true, false);
        manual.synchronization_id = None;
        manual.external_id = None;
        let by_name = |u: &Stored| [(u.username_key.clone(), u.clone())].into_iter().collect();
        let plan_with = |server: Option<bool>, agent: bool, holder: &Stored| {
            let s = adc_shared::Settings {
                no_update_provider_mismatch: server,
                ..Default::default()
            };
            let a = adc_shared::Settings {
                no_update_provider_mismatch: Some(agent),
                ..Default::default()
            };
            let eff = adc_shared::Settings::effective(&s, &a);
            plan_batch(
                &eff,
                SYNC,
                vec![r.clone()],
                &HashMap::default(),
                &by_name(holder),
            )
        };
        // The agent's adc.yaml says take over: not another synchronization's user.
        let p = plan_with(None, false, &theirs);
        assert!(p.updates.is_empty() && p.counts.conflicts == 1);
        assert!(p.changes[0].outcome.to_string().starts_with(
            "conflict: provider mismatch: the user belongs to another synchronization"
        ));
        // ... but a manual one, yes.
        let p = plan_with(None, false, &manual);
        assert_eq!(p.updates.len(), 1);
        assert!(p.updates[0].take_over);
        // The server's own setting takes over either.
        let p = plan_with(Some(false), true, &theirs);
        assert_eq!(p.updates.len(), 1);
        assert_eq!(p.changes[0].outcome, Outcome::TakenOver { dry_run: false });
    }
}
