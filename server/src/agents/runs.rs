//! The run side of an agent session: at most one active run per connection, fed by the
//! agent's messages, ended with `run_finished` (architecture §5.3).

use super::wire::Conn;
use crate::audit::{Action, Actor, Event, Origin, Target};
use crate::db::runs::Run;
use crate::db::{groups, runs, syncs, users};
use crate::state::AppState;
use crate::sync::active::{ActiveRun, StartedEmpty};
use crate::sync::failure::RunFailure;
use crate::sync::run::{self, MANIFEST_CHUNK, NewRun, ReadOffer, StartError};
use crate::vocabulary::{ReadKind, RunPhase, RunStatus, Trigger};
use adc_shared::Settings;
use adc_shared::protocol::{AgentMessage, GROUPS_VERSION, Hello, ServerMessage};
use uuid::Uuid;

pub struct RunSlot<'a> {
    state: &'a AppState,
    sync: &'a syncs::Sync,
    conn_id: Uuid,
    hostname: String,
    /// The agent's protocol version: groups from [`GROUPS_VERSION`] on.
    protocol: u32,
    pub agent_settings: Settings,
    active: Option<ActiveRun>,
    manifest_pending: bool,
    /// When each unacknowledged batch arrived, for `adc_batch_apply_seconds`; and when
    /// the active run began, for its users per second.
    batches: std::collections::HashMap<u64, std::time::Instant>,
    began: std::time::Instant,
}

impl<'a> RunSlot<'a> {
    pub fn new(state: &'a AppState, sync: &'a syncs::Sync, conn_id: Uuid, hello: &Hello) -> Self {
        RunSlot {
            state,
            sync,
            conn_id,
            hostname: hello.hostname.clone(),
            protocol: hello.protocol_version,
            agent_settings: hello.settings,
            active: None,
            manifest_pending: false,
            batches: std::collections::HashMap::new(),
            began: std::time::Instant::now(),
        }
    }

    /// A batch's acknowledgement, timed from its arrival.
    fn ack(&mut self, run_id: Uuid, seq: u64) -> ServerMessage {
        if let Some(t) = self.batches.remove(&seq) {
            self.state
                .metrics
                .batch_seconds
                .observe(t.elapsed().as_secs_f64());
        }
        ServerMessage::BatchAck { run_id, seq }
    }

    /// Counts a run that ended here, by status, and how fast it wrote.
    fn ended(&mut self, report: &adc_shared::protocol::RunSummary) {
        let m = &self.state.metrics;
        m.runs_finished
            .get_or_create(&crate::metrics::RunLabels {
                synchronization_id: self.sync.id.to_string(),
                status: report.status.clone(),
            })
            .inc();
        let c = &report.counts;
        let written = c.created
            + c.updated
            + c.unchanged
            + c.groups_created
            + c.groups_updated
            + c.groups_unchanged;
        let secs = self.began.elapsed().as_secs_f64();
        if written > 0 && secs > 0.0 {
            m.run_users_per_second.observe(written as f64 / secs);
        }
        self.batches.clear();
    }

    /// Takes on a run recorded by REST or the schedule; the message to send the agent.
    pub async fn begin(&mut self, run: &Run) -> Option<ServerMessage> {
        if let Some(a) = &self.active {
            if a.id == run.id {
                // Handed over twice (a notification and a sweep, architecture §2).
                return None;
            }
            // Cannot happen while the database allows one active run per synchronization.
            tracing::error!(run_id = %run.id, active = %a.id, "a second run was sent to a busy connection");
            crate::db::runs::fail(&self.state.db, run.id, "the agent was busy")
                .await
                .ok();
            return None;
        }
        let sync = syncs::get(&self.state.db, run.tenant_id, run.synchronization_id)
            .await
            .ok()
            .flatten();
        let guard = sync.as_ref().map(|s| s.guard.0).unwrap_or_default();
        // Unsure where the reads stand: read in full, which is always right.
        let offer = match syncs::read_state(&self.state.db, run.synchronization_id).await {
            Ok(state) => run::offer(
                run,
                sync.as_ref().map_or(24, |s| s.full_read_hours),
                state,
                self.protocol,
                crate::db::now(),
            ),
            Err(e) => ReadOffer::Full(format!("the watermark could not be read: {e}")),
        };
        if let Err(e) = runs::set_read(&self.state.db, run.id, offer.kind(), offer.reason()).await {
            tracing::warn!(run_id = %run.id, error = %e, "could not record the run's kind of read");
        }
        let empty = StartedEmpty::of(&self.state.db, run).await;
        let message = run::start_message(run, &offer);
        self.active = Some(ActiveRun::new(run, guard, empty, offer));
        self.began = std::time::Instant::now();
        self.batches.clear();
        tracing::info!(run_id = %run.id, connection_id = %self.conn_id, "run started");
        Some(message)
    }

    pub fn wants_manifest(&self) -> bool {
        self.manifest_pending
    }

    /// Records where the active run stands, for the page. Best effort: a run is never
    /// failed for its progress.
    async fn progress(&self, phase: RunPhase, read: Option<u64>, expected: Option<u64>) {
        let Some(active) = self.active.as_ref() else {
            return;
        };
        if let Err(e) = runs::set_progress(&self.state.db, active.id, phase, read, expected).await {
            tracing::warn!(run_id = %active.id, error = %e, "could not record the run's progress");
        }
    }

    /// Sends the manifest; the run is then reading, expecting about as many users.
    pub async fn send_manifest(&mut self, conn: &mut Conn) -> anyhow::Result<()> {
        self.send_manifest_chunks(conn).await?;
        let expected = self.active.as_ref().map(|a| a.manifest_size);
        self.progress(RunPhase::Reading, None, expected).await;
        Ok(())
    }

    /// Streams the manifest in chunks, in external-ID order; the next chunk is read
    /// from the database while the previous one goes out.
    async fn send_manifest_chunks(&mut self, conn: &mut Conn) -> anyhow::Result<()> {
        self.manifest_pending = false;
        let Some(active) = self.active.as_mut() else {
            return Ok(());
        };
        let db = &self.state.db;
        let (tenant, sync) = (active.tenant_id(), active.sync_id());
        if active.is_delta() {
            // A delta read compares nothing: the directory says what changed. (Its
            // deletions' bound is counted when they come: `ActiveRun::deletions`.)
            let chunk = ServerMessage::ManifestChunk {
                run_id: active.id,
                entries: Vec::new(),
                last: true,
            };
            return conn.send(&chunk).await;
        }
        // The group manifest is read while the users' goes out.
        let group_manifest = (self.protocol >= GROUPS_VERSION).then(|| {
            let db = db.clone();
            tokio::spawn(async move { groups::manifest(&db, tenant, sync).await })
        });
        let page = |after: String| async move {
            users::manifest_page(db, tenant, sync, &after, MANIFEST_CHUNK).await
        };
        let mut entries = page(String::new()).await?;
        loop {
            let last = (entries.len() as i64) < MANIFEST_CHUNK;
            let after = entries.last().map(|(id, _)| id.clone()).unwrap_or_default();
            active.manifest_size += entries.len() as u64;
            if active.full {
                // A full resync asks for every user again.
                entries.iter_mut().for_each(|(_, h)| h.clear());
            }
            let chunk = ServerMessage::ManifestChunk {
                run_id: active.id,
                entries,
                last,
            };
            if last {
                conn.send(&chunk).await?;
                break;
            }
            let (sent, next) = tokio::join!(conn.send(&chunk), page(after));
            sent?;
            entries = next?;
        }
        let Some(group_manifest) = group_manifest else {
            return Ok(());
        };
        let chunks = group_manifest.await??;
        let count = chunks.len();
        let mut previous = String::new();
        for (i, mut states) in chunks.into_iter().enumerate() {
            let full = active.full;
            let g = active.groups_mut();
            for s in &mut states {
                g.manifest_edges += (s.users.len() + s.groups.len()) as u64;
                // A group with many members spans consecutive entries.
                if s.external_id != previous {
                    g.manifest_groups += 1;
                    previous.clone_from(&s.external_id);
                }
                if full {
                    s.hash.clear();
                }
            }
            conn.send(&ServerMessage::GroupManifestChunk {
                run_id: active.id,
                groups: states,
                last: i + 1 == count,
            })
            .await?;
        }
        Ok(())
    }

    /// Handles a run message; returns what to send back.
    pub async fn handle(&mut self, m: AgentMessage) -> Vec<ServerMessage> {
        let db = &self.state.db;
        if let AgentMessage::RequestRun { dry_run, full } = m {
            return self.request(dry_run, full).await;
        }
        let run_id = match &m {
            AgentMessage::ManifestRequest { run_id, .. }
            | AgentMessage::Batch { run_id, .. }
            | AgentMessage::ReadComplete { run_id, .. }
            | AgentMessage::GroupBatch { run_id, .. }
            | AgentMessage::MembersAdded { run_id, .. }
            | AgentMessage::GroupDeletions { run_id, .. }
            | AgentMessage::GroupStateRequest { run_id, .. }
            | AgentMessage::MembersRemoved { run_id, .. }
            | AgentMessage::Deletions { run_id, .. }
            | AgentMessage::Done { run_id }
            | AgentMessage::Progress { run_id, .. }
            | AgentMessage::RunFailed { run_id, .. } => *run_id,
            _ => return vec![],
        };
        let Some(active) = self.active.as_mut().filter(|a| a.id == run_id) else {
            // A late message of a run that ended (e.g. failed on the server side).
            tracing::debug!(%run_id, "message for a run that is not active here");
            return vec![];
        };
        active.last_progress = std::time::Instant::now();
        // Where the run stands, for the page, before the message is handled.
        match &m {
            AgentMessage::ManifestRequest { .. } => {
                self.progress(RunPhase::Manifest, None, None).await
            }
            AgentMessage::Progress { read, .. } => {
                self.progress(RunPhase::Reading, Some(*read), None).await
            }
            AgentMessage::ReadComplete { read, .. } => {
                self.progress(RunPhase::Applying, Some(*read), None).await
            }
            AgentMessage::Done { .. } => self.progress(RunPhase::Deletions, None, None).await,
            _ => {}
        }
        let Some(active) = self.active.as_mut().filter(|a| a.id == run_id) else {
            return vec![];
        };
        let step = match m {
            AgentMessage::ManifestRequest { groups, read, .. } => match active.choose_read(read) {
                Ok(full_because) => {
                    if let Some(reason) = full_because {
                        let recorded =
                            runs::set_read(db, run_id, ReadKind::Full, Some(&reason)).await;
                        if let Err(e) = recorded {
                            tracing::warn!(%run_id, error = %e, "could not record the run's kind of read");
                        }
                    }
                    active.reads_groups(groups);
                    self.manifest_pending = true;
                    return vec![];
                }
                Err(e) => Err(e),
            },
            AgentMessage::Batch {
                seq, users, errors, ..
            } => {
                self.batches.insert(seq, std::time::Instant::now());
                active.batch(db, seq, users, errors).await
            }
            AgentMessage::ReadComplete {
                read,
                groups_read,
                watermark,
                deletions_deferred,
                ..
            } => {
                active
                    .read_complete(db, read, groups_read, watermark, deletions_deferred)
                    .await
            }
            AgentMessage::GroupBatch {
                seq,
                groups,
                errors,
                ..
            } => active
                .group_batch(db, groups, errors)
                .await
                .map(|()| vec![seq]),
            AgentMessage::MembersAdded {
                seq,
                added,
                unresolved,
                ..
            } => active.members_added(db, seq, added, unresolved).await,
            AgentMessage::GroupDeletions {
                seq, external_ids, ..
            } => active
                .group_deletions(db, external_ids)
                .await
                .map(|()| vec![seq]),
            AgentMessage::GroupStateRequest { groups, .. } => {
                match active.group_states(db, &groups).await {
                    Ok(chunks) => return chunks,
                    Err(e) => Err(e),
                }
            }
            AgentMessage::MembersRemoved { seq, removed, .. } => {
                active.members_removed(removed).map(|()| vec![seq])
            }
            AgentMessage::Deletions {
                seq, external_ids, ..
            } => active.deletions(db, external_ids).await.map(|()| vec![seq]),
            AgentMessage::Done { .. } => match active.done(db).await {
                Ok(status) => {
                    let report = active.summary(status, None);
                    let c = &report.counts;
                    tracing::info!(%run_id, %status, read = c.read, created = c.created, updated = c.updated, deleted = c.deleted, disabled = c.disabled, unchanged = c.unchanged, skipped = c.skipped, conflicts = c.conflicts, errors = c.errors, held = c.held, "run finished");
                    self.active = None;
                    self.ended(&report);
                    return vec![ServerMessage::RunFinished { run_id, report }];
                }
                Err(e) => Err(e),
            },
            AgentMessage::RunFailed { reason, .. } => Err(RunFailure::Agent(reason)),
            _ => Ok(vec![]),
        };
        match step {
            Ok(acked) => acked.into_iter().map(|seq| self.ack(run_id, seq)).collect(),
            Err(reason) => self.fail_active(reason).await.into_iter().collect(),
        }
    }

    /// Fails the active run with `reason`; the message that tells the agent.
    async fn fail_active(&mut self, reason: RunFailure) -> Option<ServerMessage> {
        let mut active = self.active.take()?;
        active
            .fail(&self.state.db, &self.state.agents, &reason)
            .await;
        // A write that failed because the run was cancelled meanwhile: it ends cancelled.
        if let Ok(Some((RunStatus::Cancelled, counts))) =
            runs::status_and_counts(&self.state.db, active.id).await
        {
            let report = active.summary_with(RunStatus::Cancelled, counts);
            tracing::info!(run_id = %active.id, "run cancelled");
            self.ended(&report);
            return Some(ServerMessage::RunFinished {
                run_id: active.id,
                report,
            });
        }
        let report = active.summary(RunStatus::Failed, Some(&reason));
        let c = &report.counts;
        tracing::warn!(run_id = %active.id, %reason, read = c.read, created = c.created, updated = c.updated, deleted = c.deleted, disabled = c.disabled, "run failed");
        self.ended(&report);
        Some(ServerMessage::RunFinished {
            run_id: active.id,
            report,
        })
    }

    /// Whether a batch of the active run is being written.
    pub fn writing(&self) -> bool {
        self.active.as_ref().is_some_and(ActiveRun::writing)
    }

    /// Waits for the batch being written: its acknowledgement, or the run's end when
    /// the write failed. Safe to cancel.
    pub async fn written(&mut self) -> Vec<ServerMessage> {
        let Some(active) = self.active.as_mut() else {
            return vec![];
        };
        let run_id = active.id;
        match active.written().await {
            Ok(seq) => seq.map(|seq| self.ack(run_id, seq)).into_iter().collect(),
            Err(reason) => self.fail_active(reason).await.into_iter().collect(),
        }
    }

    /// `adc imp`: the agent asks for a run on this connection.
    async fn request(&mut self, dry_run: bool, full: bool) -> Vec<ServerMessage> {
        if self.active.is_some() {
            return vec![ServerMessage::RunRefused {
                reason: "this agent is running a sync already".into(),
            }];
        }
        let sync = match syncs::get(&self.state.db, self.sync.tenant_id, self.sync.id).await {
            Ok(Some(s)) => s,
            _ => {
                return vec![ServerMessage::RunRefused {
                    reason: "the synchronization is gone".into(),
                }];
            }
        };
        let new = NewRun {
            sync: &sync,
            connection_id: self.conn_id,
            agent_settings: self.agent_settings,
            trigger: Trigger::Agent,
            triggered_by: format!("adc imp on {}", self.hostname),
            dry_run,
            full,
        };
        match run::start(&self.state.db, new).await {
            Ok(r) => {
                let actor = Actor::agent(sync.id, &self.hostname);
                Event::new(sync.tenant_id, actor, Origin::default(), Action::RunStarted)
                    .target(Target::run(r.id, &sync.name))
                    .details(serde_json::json!({ "synchronization_id": sync.id, "dry_run": dry_run, "full": full }))
                    .record(&self.state.db)
                    .await;
                self.begin(&r).await.into_iter().collect()
            }
            Err(StartError::Active(id)) => vec![ServerMessage::RunRefused {
                reason: match id {
                    Some(id) => format!("another run of this synchronization is active ({id})"),
                    None => "another run of this synchronization is active".into(),
                },
            }],
            Err(StartError::Db(e)) => {
                tracing::error!(error = %e, "could not record a run");
                vec![ServerMessage::RunRefused {
                    reason: "the server could not record the run".into(),
                }]
            }
        }
    }

    /// Fails the active run when the agent sent nothing for it for `limit`, though the
    /// connection is alive: a run is never left running forever.
    pub async fn check_stalled(&mut self, limit: std::time::Duration) -> Option<ServerMessage> {
        let stalled = self
            .active
            .as_ref()
            .is_some_and(|a| a.last_progress.elapsed() > limit);
        if !stalled {
            return None;
        }
        self.fail_active(RunFailure::Stalled(limit.as_secs())).await
    }

    /// Ends the active run if it was cancelled (REST set it `cancelled` in the database):
    /// `run_id` names it when this replica was told, `None` asks the database. The
    /// writes in flight finish or roll back (a cancelled run takes no more); the agent
    /// gets the run's end, stops reading, and nothing is deleted.
    pub async fn cancelled(&mut self, run_id: Option<Uuid>) -> Option<ServerMessage> {
        let id = self.active.as_ref()?.id;
        if run_id.is_some_and(|r| r != id) {
            return None;
        }
        let db = &self.state.db;
        let (status, counts) = match runs::status_and_counts(db, id).await {
            Ok(Some(s)) => s,
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!(run_id = %id, error = %e, "cannot check whether the run was cancelled");
                return None;
            }
        };
        if status != RunStatus::Cancelled {
            return None;
        }
        let mut active = self.active.take()?;
        active.settle().await;
        let (_, counts) = runs::status_and_counts(db, id)
            .await
            .ok()
            .flatten()
            .unwrap_or((status, counts));
        let report = active.summary_with(RunStatus::Cancelled, counts);
        tracing::info!(run_id = %id, created = report.counts.created, updated = report.counts.updated, "run cancelled");
        self.ended(&report);
        Some(ServerMessage::RunFinished { run_id: id, report })
    }

    /// Fails the active run, if any: the connection ended under it.
    pub async fn abandon(&mut self, reason: String) {
        self.fail_active(RunFailure::Disconnected(reason)).await;
    }
}
