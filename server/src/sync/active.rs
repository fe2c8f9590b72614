//! A run in progress on one agent connection (architecture §5.3 steps 3-6): fed by the
//! agent's batches, deletions only after a complete read, ended with a status and
//! counts, or failed with the reason.

use super::failure::{RunFailure, internal};
use super::pipeline::Pipeline;
use super::plan::{self, add_counts};
use super::run::BATCH_SIZE;
use super::run::ReadOffer;
use crate::db::Db;
use crate::db::groups::{self, StoredGroup};
use crate::db::runs::{self, Run};
use crate::db::syncs::{self, DeletionGuard};
use crate::db::users::{self, Stored};
use crate::db::writes::{self, Progress};
use crate::registry::Registry;
use crate::vocabulary::{Operation, Outcome, ReadKind, RunStatus};
use adc_shared::group::Unresolved;
use adc_shared::protocol::{
    EntryError, MAX_MEMBERSHIPS_PER_MESSAGE, ReadPlan, RunCounts, RunSummary, Watermark,
};
use adc_shared::{
    EffectiveSettings, GroupRecord, MemberDelta, MemberKind, Membership, Setting, UserRecord,
};
use foldhash::{HashMap, HashSet};
use uuid::Uuid;

/// What a delta read that proved no deletion says.
const DEFERRED: &str = "only what changed was read; the directory did not say which entries were deleted, so deletions wait for the next full read";

/// How long a failing run waits for its writes in flight to end before aborting them.
const WRITES_SETTLE: std::time::Duration = std::time::Duration::from_secs(10);

/// A run in progress on one agent connection.
pub struct ActiveRun {
    pub id: Uuid,
    tenant_id: Uuid,
    sync_id: Uuid,
    settings: EffectiveSettings,
    guard: DeletionGuard,
    pub full: bool,
    counts: RunCounts,
    next_seq: i64,
    received: u64,
    read_complete: bool,
    /// Manifest entries sent: no more deletions than that can be genuine.
    pub manifest_size: u64,
    deletions: Vec<String>,
    /// When the agent last sent something for this run.
    pub last_progress: std::time::Instant,
    /// Users this run inserted: when they are many, the table's statistics are
    /// refreshed as the run ends (`refresh_statistics`).
    inserted: u64,
    /// Batches being written while the next one is looked up and planned.
    pipeline: Pipeline,
    /// When the synchronization had no users as the run started, the external IDs
    /// this run has been sent so far: only those can exist, so only those are looked
    /// up (a first sync then does no ID lookups). `None`: look up every ID.
    sent_ids: Option<SentIds>,
    /// The names a first run of an empty tenant was sent ([`StartedEmpty`]).
    sent_names: Option<SentIds>,
    /// With `sent_ids`, when the agent reads groups: the users this run stored, by
    /// external ID — every user of the synchronization there is — so memberships name
    /// them without a lookup (a first sync's 250 000 memberships made 500 lookups, a
    /// fifth of PostgreSQL's work). `None` otherwise: a users-only run keeps nothing.
    stored: Option<UserNames>,
    /// Groups (architecture §5.5); see [`GroupsOfRun`].
    groups: GroupsOfRun,
    /// What the server offered to read from, and the read the agent does.
    offer: ReadOffer,
    read: ReadKind,
    /// From the complete read: where the next run continues (committed if this one
    /// succeeds), and whether a delta read left its deletions to the next full read.
    watermark: Option<Watermark>,
    deletions_deferred: bool,
    /// The agent said this run reads groups (its manifest request).
    groups_asked: bool,
    /// Why the agent read in full although a watermark was offered.
    full_because: Option<String>,
    /// A delta read's bounds on deletions were counted (`count_for_delta`).
    counted: bool,
}

/// The group side of a run.
#[derive(Default)]
pub struct GroupsOfRun {
    /// Group manifest entries and memberships sent: no more deletions than that.
    pub manifest_groups: u64,
    pub manifest_edges: u64,
    received: u64,
    /// Set by a complete read that covered groups: only then may groups go.
    read: Option<u64>,
    deletions: Vec<String>,
    removals: Vec<Membership>,
    /// Groups this run created: their first members are part of the creation.
    created: HashSet<Uuid>,
    /// In a dry run, the groups it would have created, by external ID: their names.
    planned: HashMap<String, String>,
    /// Whether member additions began (every user and group batch is written then).
    members_started: bool,
    /// Edges this run planned to add: one sent again is not planned twice (edges of
    /// groups it created are not looked up, and a write may still be in flight).
    planned_edges: HashSet<(Uuid, Uuid)>,
}

/// The external IDs (or names) a first run has been sent, as keyed 64-bit hashes: about
/// 10 bytes an ID, where the IDs themselves took about 90 (a million users' first sync
/// held 80 MB of them). An ID whose hash is here may have been sent, and is looked up;
/// one whose hash is not was certainly not sent. Two IDs that hash alike cost a
/// needless lookup, never a wrong answer; the key is random, so an agent cannot aim
/// for that.
#[derive(Default)]
struct SentIds {
    seen: HashSet<u64>,
    key: foldhash::quality::RandomState,
}

impl SentIds {
    /// Records `id`; whether no ID with its hash was sent before.
    fn first_time(&mut self, id: &str) -> bool {
        use std::hash::BuildHasher;
        self.seen.insert(self.key.hash_one(id))
    }

    /// Of `values` (each recorded), those to look up: all of them without a record of
    /// what was sent, else those that may have been sent before.
    fn to_look_up(sent: &mut Option<SentIds>, values: &[String]) -> Vec<String> {
        match sent {
            Some(sent) => values
                .iter()
                .filter(|v| !sent.first_time(v))
                .cloned()
                .collect(),
            None => values.to_vec(),
        }
    }
}

/// Whether a run started with no users to look up, which spares it lookups.
#[derive(Clone, Copy, Debug)]
pub struct StartedEmpty {
    /// The synchronization had no users (only runs attach users to it, and one runs at
    /// a time): the run looks up only the external IDs it was sent before.
    pub sync: bool,
    /// Nor had the tenant: a name can then only be taken by this run, which looks up
    /// only the names it was sent before (a million users' first sync spent 1.9 s of
    /// PostgreSQL's time looking up names nobody had). A user an admin adds meanwhile
    /// under a name the run then sends fails that batch on the name's unique index:
    /// the run fails, nothing is half-written, and the next run reports the conflict.
    pub tenant: bool,
}

impl StartedEmpty {
    /// Asks the database; if unsure, assumes users, which only costs lookups.
    pub async fn of(db: &Db, run: &Run) -> StartedEmpty {
        let sync = !users::sync_has_users(db, run.tenant_id, run.synchronization_id)
            .await
            .unwrap_or(true);
        let tenant = sync
            && !users::tenant_has_users(db, run.tenant_id)
                .await
                .unwrap_or(true);
        StartedEmpty { sync, tenant }
    }
}

impl ActiveRun {
    pub fn new(
        run: &Run,
        guard: DeletionGuard,
        empty: StartedEmpty,
        offer: ReadOffer,
    ) -> ActiveRun {
        ActiveRun {
            id: run.id,
            tenant_id: run.tenant_id,
            sync_id: run.synchronization_id,
            settings: run.settings.0,
            guard,
            full: run.full_resync,
            counts: RunCounts::default(),
            next_seq: 0,
            received: 0,
            read_complete: false,
            manifest_size: 0,
            deletions: Vec::new(),
            last_progress: std::time::Instant::now(),
            inserted: 0,
            pipeline: Pipeline::new(run.id),
            sent_ids: empty.sync.then(SentIds::default),
            sent_names: empty.tenant.then(SentIds::default),
            stored: None,
            groups: GroupsOfRun::default(),
            offer,
            read: ReadKind::Full,
            watermark: None,
            deletions_deferred: false,
            groups_asked: false,
            full_because: None,
            counted: false,
        }
    }

    /// The agent's choice of read (its manifest request): a delta read only where one
    /// was offered. Returns the reason to record when the agent read
    /// in full although a watermark was offered (its fingerprint differed, the
    /// directory refused it…).
    pub fn choose_read(&mut self, plan: Option<ReadPlan>) -> Result<Option<String>, RunFailure> {
        let Some(plan) = plan else {
            self.read = ReadKind::Full;
            return Ok(None);
        };
        match plan.kind {
            adc_shared::protocol::ReadKind::Delta => {
                if !matches!(self.offer, ReadOffer::Delta(_)) {
                    return Err(RunFailure::DeltaNotOffered);
                }
                self.read = ReadKind::Delta;
                Ok(None)
            }
            adc_shared::protocol::ReadKind::Full => {
                self.read = ReadKind::Full;
                self.full_because = match &self.offer {
                    ReadOffer::Delta(_) => Some(
                        plan.reason
                            .unwrap_or_else(|| "the agent chose a full read".into()),
                    ),
                    ReadOffer::Full(_) => None,
                };
                Ok(self.full_because.clone())
            }
        }
    }

    /// A delta read sent no manifest: the bound on its deletions is what the
    /// synchronization holds, counted when the first deletions arrive (most delta runs
    /// have none, and at a million users the count is a tenth of a second).
    async fn count_for_delta(&mut self, db: &Db) -> Result<(), RunFailure> {
        if !self.is_delta() || self.counted {
            return Ok(());
        }
        self.counted = true;
        let (tenant, sync) = (self.tenant_id, self.sync_id);
        self.manifest_size = users::count_in_source(db, tenant, sync)
            .await
            .map_err(internal)? as u64;
        if self.groups_asked {
            self.groups.manifest_groups = groups::count_in_source(db, tenant, sync)
                .await
                .map_err(internal)? as u64;
        }
        Ok(())
    }

    /// Whether this run reads only what changed (it gets no manifest).
    pub fn is_delta(&self) -> bool {
        self.read == ReadKind::Delta
    }

    /// The agent said whether this run reads groups (its manifest request).
    pub fn reads_groups(&mut self, groups: bool) {
        self.groups_asked = groups;
        if groups && self.sent_ids.is_some() && self.stored.is_none() {
            self.stored = Some(HashMap::default());
        }
    }

    /// A delta read's groups that changed: what the server holds of each, with its
    /// members' DNs, as the messages that answer (architecture §5.3.1). Their members
    /// count as the manifest's: no more removals than that.
    pub async fn group_states(
        &mut self,
        db: &Db,
        ids: &[String],
    ) -> Result<Vec<adc_shared::protocol::ServerMessage>, RunFailure> {
        if !self.is_delta() || !self.groups_asked {
            return Err(RunFailure::GroupStateOutsideDelta);
        }
        let chunks = groups::member_states(db, self.tenant_id, self.sync_id, ids)
            .await
            .map_err(internal)?;
        let count = chunks.len();
        Ok(chunks
            .into_iter()
            .enumerate()
            .map(|(i, states)| {
                for s in &states {
                    self.groups.manifest_edges += (s.users.len() + s.groups.len()) as u64;
                }
                adc_shared::protocol::ServerMessage::GroupManifestChunk {
                    run_id: self.id,
                    groups: states,
                    last: i + 1 == count,
                }
            })
            .collect())
    }

    pub fn groups_mut(&mut self) -> &mut GroupsOfRun {
        &mut self.groups
    }

    pub fn sync_id(&self) -> Uuid {
        self.sync_id
    }

    pub fn tenant_id(&self) -> Uuid {
        self.tenant_id
    }

    /// The next write's place in the run: its first change number, and its own counts
    /// (added to the run's as it commits). Advances the change numbers past `changes`.
    fn progress(&mut self, changes: usize, counts: RunCounts) -> Progress {
        let first_seq = self.next_seq;
        self.next_seq += changes as i64;
        Progress {
            run_id: self.id,
            tenant_id: self.tenant_id,
            sync_id: self.sync_id,
            first_seq,
            counts,
        }
    }

    /// Whether a batch is being written.
    pub fn writing(&self) -> bool {
        self.pipeline.busy()
    }

    /// Waits for the oldest batch being written; its sequence number, to acknowledge.
    /// Safe to cancel: the write goes on and is waited for again.
    pub async fn written(&mut self) -> Result<Option<u64>, RunFailure> {
        self.pipeline.written().await
    }

    /// Applies one batch of new or changed users: looks it up and plans it while the
    /// previous ones are still being written, then writes it in the background. Returns
    /// the sequence numbers of the batches whose writes finished, to acknowledge.
    pub async fn batch(
        &mut self,
        db: &Db,
        seq: u64,
        records: Vec<UserRecord>,
        errors: Vec<EntryError>,
    ) -> Result<Vec<u64>, RunFailure> {
        if self.read_complete {
            return Err(RunFailure::BatchAfterRead);
        }
        if records.len() + errors.len() > BATCH_SIZE as usize {
            return Err(RunFailure::BatchTooLarge(records.len() + errors.len()));
        }
        self.received += (records.len() + errors.len()) as u64;
        let started = std::time::Instant::now();
        let ids: Vec<String> = records.iter().map(|r| r.external_id.clone()).collect();
        let keys: Vec<String> = records.iter().map(|r| r.username.to_lowercase()).collect();
        let mut acked = Vec::new();
        // A user the batch in flight creates, renames or takes over must be seen as it
        // will be: wait for that write first (directories with duplicate IDs or names).
        if self.pipeline.touches(&ids, &keys) {
            acked.extend(self.pipeline.flush().await?);
        }
        let lookup_ids = SentIds::to_look_up(&mut self.sent_ids, &ids);
        let lookup_keys = SentIds::to_look_up(&mut self.sent_names, &keys);
        let (by_external, by_username) = tokio::try_join!(
            users::by_external_ids(db, self.tenant_id, self.sync_id, &lookup_ids),
            users::by_username_keys(db, self.tenant_id, &lookup_keys),
        )
        .map_err(internal)?;
        let by_external: HashMap<String, Stored> = by_external
            .into_iter()
            .filter_map(|u| u.external_id.clone().map(|e| (e, u)))
            .collect();
        let by_username: HashMap<String, Stored> = by_username
            .into_iter()
            .map(|u| (u.username_key.clone(), u))
            .collect();
        let looked_up = started.elapsed();
        // What this batch may change, for the next batch to check against.
        let mut username_keys: HashSet<String> = keys.into_iter().collect();
        username_keys.extend(by_external.values().map(|u| u.username_key.clone()));
        let external_ids: HashSet<String> = ids.into_iter().collect();
        let mut plan = plan::plan_batch(
            &self.settings,
            self.sync_id,
            records,
            &by_external,
            &by_username,
        );
        plan::add_entry_errors(&mut plan, errors);
        add_counts(&mut self.counts, &plan.counts);
        let planned = started.elapsed();
        // Independent writes overlap; a full pipeline waits for its oldest.
        // SQLite has one writer at a time: nothing to overlap there.
        if self.pipeline.len() >= db.parallel_writes() {
            acked.extend(self.pipeline.written().await?);
        }
        let waited = started.elapsed();
        self.inserted += plan.inserts.len() as u64;
        if let Some(stored) = &mut self.stored {
            let rows = plan.inserts.iter().map(|i| (i.id, &i.record));
            let rows = rows.chain(plan.updates.iter().map(|u| (u.id, &u.record)));
            for (id, r) in rows {
                stored.insert(r.external_id.clone(), (id, r.username.clone()));
            }
        }
        let at = self.progress(plan.changes.len(), plan.counts);
        let db = db.clone();
        let run_id = self.id;
        let task = tokio::spawn(async move {
            let t = std::time::Instant::now();
            writes::write_batch(&db, at, &plan).await?;
            tracing::debug!(
                %run_id,
                users = plan.changes.len(),
                write_ms = t.elapsed().as_millis() as u64,
                "batch written"
            );
            Ok(())
        });
        self.pipeline
            .push(seq, task, at.counts, external_ids, username_keys);
        tracing::debug!(
            run_id = %self.id,
            lookup_ms = looked_up.as_millis() as u64,
            plan_ms = (planned - looked_up).as_millis() as u64,
            wait_ms = (waited - planned).as_millis() as u64,
            "batch planned"
        );
        Ok(acked)
    }

    /// Applies one batch of new or changed groups, at once (groups are few).
    pub async fn group_batch(
        &mut self,
        db: &Db,
        records: Vec<GroupRecord>,
        errors: Vec<EntryError>,
    ) -> Result<(), RunFailure> {
        if self.read_complete {
            return Err(RunFailure::BatchAfterRead);
        }
        if records.len() + errors.len() > BATCH_SIZE as usize {
            return Err(RunFailure::BatchTooLarge(records.len() + errors.len()));
        }
        self.groups.received += (records.len() + errors.len()) as u64;
        let ids: Vec<String> = records.iter().map(|r| r.external_id.clone()).collect();
        let keys: Vec<String> = records.iter().map(|r| r.name.to_lowercase()).collect();
        let (by_external, by_name) = tokio::try_join!(
            groups::by_external_ids(db, self.tenant_id, self.sync_id, &ids),
            groups::by_name_keys(db, self.tenant_id, &keys),
        )
        .map_err(internal)?;
        let by_external: HashMap<String, StoredGroup> = by_external
            .into_iter()
            .filter_map(|g| g.external_id.clone().map(|e| (e, g)))
            .collect();
        let by_name: HashMap<String, StoredGroup> = by_name
            .into_iter()
            .map(|g| (g.name_key.clone(), g))
            .collect();
        let mut plan = plan::plan_groups(
            &self.settings,
            self.sync_id,
            records,
            &by_external,
            &by_name,
        );
        if self.settings.on(Setting::DryRun) {
            // What a dry run would have created: its first members are planned with it.
            for c in &plan.changes {
                if let (Operation::Create, Outcome::Planned, Some(id)) =
                    (c.operation, &c.outcome, &c.external_id)
                {
                    self.groups.planned.insert(id.clone(), c.username.clone());
                }
            }
        }
        plan::add_group_errors(&mut plan, errors);
        self.groups
            .created
            .extend(plan.inserts.iter().map(|g| g.id));
        add_counts(&mut self.counts, &plan.counts);
        let at = self.progress(plan.changes.len(), plan.counts);
        writes::write_groups(db, at, &plan)
            .await
            .map_err(internal)?;
        self.pipeline.applied(&at.counts);
        Ok(())
    }

    /// Applies a message of member additions (after every user and group batch: the
    /// members they name must be stored first).
    pub async fn members_added(
        &mut self,
        db: &Db,
        seq: u64,
        added: Vec<MemberDelta>,
        unresolved: Vec<Unresolved>,
    ) -> Result<Vec<u64>, RunFailure> {
        if self.read_complete {
            return Err(RunFailure::BatchAfterRead);
        }
        let n = added.iter().map(MemberDelta::len).sum::<usize>() + unresolved.len();
        if n > MAX_MEMBERSHIPS_PER_MESSAGE {
            return Err(RunFailure::TooManyMemberships(n));
        }
        // The users and groups the memberships name must be stored first: the first
        // such message waits for every batch in flight. Later ones overlap their
        // lookups with the previous one's write (memberships never collide).
        let mut acked = Vec::new();
        if !self.groups.members_started {
            self.groups.members_started = true;
            acked = self.pipeline.flush().await?;
        }
        let mut group_ids: Vec<&str> = unresolved.iter().map(|u| u.group.as_str()).collect();
        let mut user_ids = Vec::new();
        for d in &added {
            group_ids.push(&d.group);
            group_ids.extend(d.groups.iter().map(String::as_str));
            if self.stored.is_none() {
                user_ids.extend(d.users.iter().map(String::as_str));
            }
        }
        let (by_group, looked_up) = self.named(db, group_ids, user_ids).await?;
        let by_user = users_named(&looked_up, &self.stored);
        // Edges of groups this run created cannot exist yet: only the others' are looked up.
        let (mut user_pairs, mut group_pairs) = (Vec::new(), Vec::new());
        for d in &added {
            let Some(g) = by_group
                .get(&d.group)
                .filter(|g| !self.groups.created.contains(&g.id))
            else {
                continue;
            };
            let users = d.users.iter().filter_map(|m| by_user.get(m));
            user_pairs.extend(users.map(|(u, _)| (g.id, *u)));
            let nested = d.groups.iter().filter_map(|m| by_group.get(m));
            group_pairs.extend(nested.map(|c| (g.id, c.id)));
        }
        let (existing_users, existing_groups) = tokio::try_join!(
            groups::existing_edges(db, &user_pairs, false),
            groups::existing_edges(db, &group_pairs, true),
        )
        .map_err(internal)?;
        let existing: HashSet<(Uuid, Uuid)> =
            existing_users.into_iter().chain(existing_groups).collect();
        let known = plan::Known {
            groups: &by_group,
            users: by_user,
            created: &self.groups.created,
            planned: &self.groups.planned,
            existing: &existing,
        };
        let plan = plan::plan_additions(
            &self.settings,
            added,
            unresolved,
            &known,
            &mut self.groups.planned_edges,
        );
        add_counts(&mut self.counts, &plan.counts);
        if self.pipeline.len() >= db.parallel_writes() {
            acked.extend(self.pipeline.written().await?);
        }
        let at = self.progress(plan.changes.len(), plan.counts);
        let db = db.clone();
        let task = tokio::spawn(async move { writes::write_members(&db, at, &plan).await });
        self.pipeline
            .push(seq, task, at.counts, HashSet::default(), HashSet::default());
        Ok(acked)
    }

    /// Collects group deletions; refused before a complete read of the groups.
    pub async fn group_deletions(&mut self, db: &Db, ids: Vec<String>) -> Result<(), RunFailure> {
        if !self.read_complete {
            return Err(RunFailure::DeletionsBeforeRead);
        }
        if self.groups.read.is_none() {
            return Err(RunFailure::GroupsNotRead);
        }
        self.count_for_delta(db).await?;
        if self.groups.deletions.len() as u64 + ids.len() as u64 > self.groups.manifest_groups {
            return Err(RunFailure::TooManyGroupDeletions);
        }
        self.groups.deletions.extend(ids);
        Ok(())
    }

    /// Collects member removals; refused before a complete read of the groups.
    pub fn members_removed(&mut self, removed: Vec<MemberDelta>) -> Result<(), RunFailure> {
        if !self.read_complete {
            return Err(RunFailure::DeletionsBeforeRead);
        }
        if self.groups.read.is_none() {
            return Err(RunFailure::GroupsNotRead);
        }
        let n: usize = removed.iter().map(MemberDelta::len).sum();
        if n > MAX_MEMBERSHIPS_PER_MESSAGE {
            return Err(RunFailure::TooManyMemberships(n));
        }
        let removed: Vec<Membership> = removed
            .into_iter()
            .flat_map(MemberDelta::into_memberships)
            .collect();
        if self.groups.removals.len() as u64 + removed.len() as u64 > self.groups.manifest_edges {
            return Err(RunFailure::TooManyRemovals);
        }
        self.groups.removals.extend(removed);
        Ok(())
    }

    /// The read finished completely; `read` entries matched, and `groups_read` groups
    /// when groups were read. Returns the batches whose writes finished meanwhile, to
    /// acknowledge.
    pub async fn read_complete(
        &mut self,
        db: &Db,
        read: u64,
        groups_read: Option<u64>,
        watermark: Option<Watermark>,
        deletions_deferred: bool,
    ) -> Result<Vec<u64>, RunFailure> {
        if self.read_complete {
            return Err(RunFailure::ReadCompleteTwice);
        }
        self.watermark = watermark;
        // Only a delta read can leave deletions to a full one.
        self.deletions_deferred = deletions_deferred && self.is_delta();
        if self.deletions_deferred {
            runs::set_read(db, self.id, ReadKind::Delta, Some(DEFERRED))
                .await
                .map_err(internal)?;
        }
        let acked = self.pipeline.flush().await?;
        self.read_complete = true;
        self.groups.read = groups_read;
        let groups_read = groups_read.unwrap_or(0);
        let delta = RunCounts {
            read,
            unchanged: read.saturating_sub(self.received),
            groups_read,
            groups_unchanged: groups_read.saturating_sub(self.groups.received),
            ..RunCounts::default()
        };
        add_counts(&mut self.counts, &delta);
        runs::set_read_complete(db, self.id, &delta)
            .await
            .map_err(internal)?;
        self.pipeline.applied(&delta);
        Ok(acked)
    }

    /// Collects deletions; refused before the read is complete (architecture §8.2).
    pub async fn deletions(&mut self, db: &Db, ids: Vec<String>) -> Result<(), RunFailure> {
        if !self.read_complete {
            return Err(RunFailure::DeletionsBeforeRead);
        }
        self.count_for_delta(db).await?;
        // A delta read's deletions are what the directory names: Active Directory's
        // tombstones are every object deleted (computers, contacts, other OUs' users).
        // Only this synchronization's users count, against its size; a full read's come
        // from the manifest.
        let ids = if self.is_delta() {
            users::by_external_ids(db, self.tenant_id, self.sync_id, &ids)
                .await
                .map_err(internal)?
                .into_iter()
                .filter_map(|u| u.external_id)
                .collect()
        } else {
            ids
        };
        if self.deletions.len() as u64 + ids.len() as u64 > self.manifest_size {
            return Err(RunFailure::TooManyDeletions);
        }
        self.deletions.extend(ids);
        Ok(())
    }

    /// Everything was sent: applies the deletions under policy and the guard, and
    /// ends the run. Returns the status.
    pub async fn done(&mut self, db: &Db) -> Result<RunStatus, RunFailure> {
        if !self.read_complete {
            return Err(RunFailure::EndedBeforeRead);
        }
        self.pipeline.flush().await?;
        let gone: Vec<Stored> =
            users::by_external_ids(db, self.tenant_id, self.sync_id, &self.deletions)
                .await
                .map_err(internal)?
                .into_iter()
                .filter(|u| !u.removed_from_source)
                .collect();
        // The guard's base; a scan of all the synchronization's users, so only when
        // something is to go.
        let users_total = if gone.is_empty() {
            0
        } else {
            users::count_in_source(db, self.tenant_id, self.sync_id)
                .await
                .map_err(internal)? as u64
        };
        let gone_groups: Vec<StoredGroup> =
            groups::by_external_ids(db, self.tenant_id, self.sync_id, &self.groups.deletions)
                .await
                .map_err(internal)?
                .into_iter()
                .filter(|g| !g.removed_from_source)
                .collect();
        let groups_total = if gone_groups.is_empty() {
            0
        } else {
            groups::count_in_source(db, self.tenant_id, self.sync_id)
                .await
                .map_err(internal)? as u64
        };
        let removals = self.resolve_removals(db, &gone_groups).await?;
        let touched: Vec<Uuid> = {
            let mut t: Vec<Uuid> = removals.iter().map(|r| r.group_id).collect();
            t.sort();
            t.dedup();
            t
        };
        let member_counts = groups::member_counts(db, &touched)
            .await
            .map_err(internal)?;
        let gone_all = plan::Gone {
            users: &gone,
            users_total,
            groups: &gone_groups,
            groups_total,
            removals: &removals,
            member_counts,
        };
        let mut plan = plan::plan_deletions(&self.settings, &self.guard, &gone_all);
        if self.groups.read.is_some() {
            self.report_cycles(db, &mut plan.changes).await?;
        }
        add_counts(&mut self.counts, &plan.counts);
        let at = self.progress(plan.changes.len(), plan.counts);
        writes::write_deletions(db, at, &plan)
            .await
            .map_err(internal)?;
        self.pipeline.applied(&plan.counts);
        let status = if plan.held.is_some() {
            RunStatus::Held
        } else {
            RunStatus::Succeeded
        };
        runs::finish(db, self.id, status, &self.counts, plan.held.as_deref())
            .await
            .map_err(internal)?;
        // The next run continues from here only if this one applied everything: a
        // held, failed or dry run leaves the watermark where it was, so what it read
        // is read again.
        if status == RunStatus::Succeeded && !self.settings.dry_run.value {
            let full = self.read == ReadKind::Full;
            syncs::commit_read(db, self.sync_id, self.watermark.as_ref(), full)
                .await
                .map_err(internal)?;
        }
        self.refresh_statistics(db);
        Ok(status)
    }

    /// Ends the run as failed with `reason`; what was applied stays (it is idempotent),
    /// and the run's counts become exactly what was applied: the stored sum of the
    /// writes that committed (writes in flight are let end first, see `settle`).
    /// When the database cannot take that now (it being away is often why the run
    /// failed), it is retried in the background, and this replica's relay leaves the
    /// still-`running` run alone meanwhile: left `running`, it would refuse every later
    /// run of its synchronization, its connection being alive.
    pub async fn fail(&mut self, db: &Db, registry: &Registry, reason: &RunFailure) {
        self.pipeline.settle(WRITES_SETTLE).await;
        // What this process saw commit; the database's sum is the authority (a write
        // aborted just after its commit counts there).
        self.counts = self.pipeline.applied_so_far();
        let reason = reason.to_string();
        match runs::fail(db, self.id, &reason).await {
            Ok(_) => {
                if let Ok(Some(run)) = runs::by_id(db, self.id).await {
                    self.counts = run.counts.0;
                }
            }
            Err(e) => {
                tracing::error!(run_id = %self.id, error = %e, "could not record the run's failure; retrying");
                let (db, agents, id) = (db.clone(), registry.clone(), self.id);
                registry.ending(id);
                crate::db::retry_until_done("a run's failure", move || {
                    let (db, agents, reason) = (db.clone(), agents.clone(), reason.clone());
                    async move {
                        runs::fail(&db, id, &reason).await?;
                        agents.ended(id);
                        Ok(())
                    }
                });
            }
        }
        self.refresh_statistics(db);
    }

    /// After a run that grew the users table by a tenth or more (a first sync, say),
    /// refreshes its statistics in the background, so the next run's manifest is read
    /// as a range of the external-ID index and not sorted from a bitmap scan planned
    /// for a table of a few rows (50 ms per page at 100 000 users). Autovacuum would
    /// get there too, a minute or so later.
    fn refresh_statistics(&self, db: &Db) {
        if self.inserted < 1000 || self.inserted * 10 < self.manifest_size {
            return;
        }
        let (db, run_id) = (db.clone(), self.id);
        tokio::spawn(async move {
            if let Err(e) = users::analyze(&db).await {
                tracing::warn!(%run_id, error = %e, "could not refresh the users table's statistics");
            }
        });
    }

    /// The stored groups with these external IDs, and the users with these as (ID,
    /// username) — none looked up (`None`) when the run keeps the users it stored
    /// (`self.stored`: a synchronization that started empty has only those).
    async fn named(
        &self,
        db: &Db,
        mut group_ids: Vec<&str>,
        mut user_ids: Vec<&str>,
    ) -> Result<(HashMap<String, StoredGroup>, Option<UserNames>), RunFailure> {
        for ids in [&mut group_ids, &mut user_ids] {
            ids.sort_unstable();
            ids.dedup();
        }
        let owned =
            |ids: Vec<&str>| -> Vec<String> { ids.into_iter().map(str::to_owned).collect() };
        let group_ids = owned(group_ids);
        if self.stored.is_some() {
            let stored_groups =
                groups::by_external_ids(db, self.tenant_id, self.sync_id, &group_ids)
                    .await
                    .map_err(internal)?;
            return Ok((by_external(stored_groups), None));
        }
        let user_ids = owned(user_ids);
        let (stored_groups, stored_users) = tokio::try_join!(
            groups::by_external_ids(db, self.tenant_id, self.sync_id, &group_ids),
            users::by_external_ids(db, self.tenant_id, self.sync_id, &user_ids),
        )
        .map_err(internal)?;
        let by_user = stored_users
            .into_iter()
            .filter_map(|u| Some((u.external_id?, (u.id, u.username))))
            .collect();
        Ok((by_external(stored_groups), Some(by_user)))
    }

    /// The memberships the agent found gone, as stored edges with names: those whose
    /// group or member the server no longer has, or whose group goes anyway, drop out.
    async fn resolve_removals(
        &self,
        db: &Db,
        gone_groups: &[StoredGroup],
    ) -> Result<Vec<plan::Removal>, RunFailure> {
        let removed = &self.groups.removals;
        if removed.is_empty() {
            return Ok(Vec::new());
        }
        let (mut group_ids, mut user_ids) = (Vec::new(), Vec::new());
        for m in removed {
            group_ids.push(m.group.as_str());
            match m.kind {
                MemberKind::Group => group_ids.push(&m.member),
                MemberKind::User => user_ids.push(m.member.as_str()),
            }
        }
        let (by_group, looked_up) = self.named(db, group_ids, user_ids).await?;
        let by_user = users_named(&looked_up, &self.stored);
        let going: HashSet<Uuid> = gone_groups.iter().map(|g| g.id).collect();
        let mut out = Vec::new();
        for m in removed {
            let Some(g) = by_group.get(&m.group).filter(|g| !going.contains(&g.id)) else {
                continue;
            };
            let member = match m.kind {
                MemberKind::User => by_user.get(&m.member).cloned(),
                MemberKind::Group => by_group.get(&m.member).map(|c| (c.id, c.name.clone())),
            };
            let Some((member_id, member_name)) = member else {
                continue;
            };
            out.push(plan::Removal {
                group_id: g.id,
                group_name: g.name.clone(),
                kind: m.kind,
                member_id,
                member_name,
                member_external_id: m.member.clone(),
            });
        }
        // Only edges that exist: a repeated removal is nothing to count or hold.
        let pairs = |kind| -> Vec<(Uuid, Uuid)> {
            out.iter()
                .filter(|r| r.kind == kind)
                .map(|r| (r.group_id, r.member_id))
                .collect()
        };
        let (user_pairs, group_pairs) = (pairs(MemberKind::User), pairs(MemberKind::Group));
        let (u, n) = tokio::try_join!(
            groups::existing_edges(db, &user_pairs, false),
            groups::existing_edges(db, &group_pairs, true),
        )
        .map_err(internal)?;
        let exists: HashSet<(Uuid, Uuid)> = u.into_iter().chain(n).collect();
        out.retain(|r| exists.contains(&(r.group_id, r.member_id)));
        Ok(out)
    }

    /// Reports each cycle among the synchronization's nested groups once, as a
    /// warning row of the run (cycles are tolerated: effective membership ends on them).
    async fn report_cycles(
        &self,
        db: &Db,
        changes: &mut Vec<crate::db::writes::ChangeRow>,
    ) -> Result<(), RunFailure> {
        let edges = groups::nesting(db, self.tenant_id, self.sync_id)
            .await
            .map_err(internal)?;
        for cycle in plan::cycles(&edges) {
            let mut row = crate::db::writes::ChangeRow::group(
                None,
                None,
                &cycle[0],
                Operation::Read,
                Outcome::Warning(format!("groups nested in a cycle: {}", cycle.join(" → "))),
            );
            row.group_name = None;
            changes.push(row);
        }
        Ok(())
    }

    /// Lets the writes in flight finish (a cancelled run's roll back) before its end
    /// is reported.
    pub async fn settle(&mut self) {
        self.pipeline.settle(WRITES_SETTLE).await;
    }

    /// The end of a run whose counts the database holds (a cancelled run: what its
    /// committed writes applied).
    pub fn summary_with(&self, status: RunStatus, counts: RunCounts) -> RunSummary {
        RunSummary {
            status: status.as_str().into(),
            error: None,
            counts,
            read_kind: Some(self.read.as_str().into()),
            read_reason: self.read_reason(),
        }
    }

    pub fn summary(&self, status: RunStatus, error: Option<&RunFailure>) -> RunSummary {
        RunSummary {
            error: error.map(RunFailure::to_string),
            ..self.summary_with(status, self.counts)
        }
    }

    /// Why the run read as it did, as recorded (`runs.read_reason`).
    fn read_reason(&self) -> Option<String> {
        if self.deletions_deferred {
            return Some(DEFERRED.into());
        }
        match (&self.offer, self.read) {
            (ReadOffer::Full(r), _) => Some(r.clone()),
            (ReadOffer::Delta(_), ReadKind::Full) => self.full_because.clone(),
            (ReadOffer::Delta(_), ReadKind::Delta) => None,
        }
    }
}

/// Users by external ID: (ID, username).
type UserNames = HashMap<String, (Uuid, String)>;

/// The users a `named` call looked up, or, when it looked none up, those the run keeps.
fn users_named<'a>(
    looked_up: &'a Option<UserNames>,
    stored: &'a Option<UserNames>,
) -> &'a UserNames {
    static NONE: std::sync::LazyLock<UserNames> = std::sync::LazyLock::new(HashMap::default);
    looked_up.as_ref().or(stored.as_ref()).unwrap_or(&NONE)
}

/// Stored groups by external ID.
fn by_external(stored: Vec<StoredGroup>) -> HashMap<String, StoredGroup> {
    stored
        .into_iter()
        .filter_map(|g| g.external_id.clone().map(|e| (e, g)))
        .collect()
}
