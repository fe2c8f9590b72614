//! One run on the agent's side (architecture §5.3 steps 3-5): fetch the manifest, read the
//! directory page by page, send what is new or changed in acknowledged batches, and —
//! only after a complete read — the IDs that are gone.

pub mod catalog;
pub mod delta;
mod group_delta;
mod group_read;
pub mod groups;
pub mod mapping;
mod user_read;
pub mod usn;

use crate::config::AgentConfig;
use crate::ldap;
use adc_shared::UserRecord;
use adc_shared::protocol::{
    AgentMessage, DELTA_VERSION, EntryError, GROUPS_VERSION, ReadKind, ReadPlan, RunSummary,
    ServerMessage, StartRun,
};
use catalog::Catalog;
use groups::{Directory, GroupMapper};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use tokio::sync::mpsc;
use uuid::Uuid;

/// Deletions per message.
const DELETIONS_PER_MESSAGE: usize = 1000;
/// A batch is sent early when its users' text passes this size, well under the
/// protocol's message limit.
const BATCH_BYTES: usize = 1024 * 1024;

/// The run's link to the connection: messages out, server messages in, and the users'
/// manifest apart from them.
pub struct Link {
    pub out: mpsc::Sender<AgentMessage>,
    pub inbox: mpsc::UnboundedReceiver<ServerMessage>,
    /// The users' manifest, a chunk (and whether it is the last) at a time, on a short
    /// channel: the connection decodes chunks no faster than they are taken in, so a
    /// million users' manifest is never held twice, once decoded and once compact (see
    /// bench/README.md, session 12). Only the manifest waits on it: the run sends nothing
    /// while it takes the manifest in, so the connection's wait cannot close a cycle.
    pub manifest: mpsc::Receiver<ManifestPart>,
}

/// A chunk of the users' manifest: (external ID, content hash) pairs, and whether it is
/// the last.
pub type ManifestPart = (Vec<(String, String)>, bool);

/// Chunks of the users' manifest decoded ahead of the run taking them in.
pub const MANIFEST_AHEAD: usize = 2;

/// The groups' part of a complete read.
struct GroupsDone {
    read: u64,
    removed: Vec<adc_shared::MemberDelta>,
    /// A delta read's deleted groups (a full read's are the manifest's unseen ones).
    gone: Option<Vec<String>>,
    deferred: bool,
}

/// Why a run stopped before its end.
enum Halt {
    /// The run must fail with this reason; nothing may be deleted.
    Fail(String),
    /// The server ended the run (its report says why).
    Finished(Box<RunSummary>),
    /// The connection went away.
    Gone,
}

struct Sender<'a> {
    run_id: Uuid,
    link: &'a mut Link,
    window: usize,
    unacked: usize,
    seq: u64,
    /// The manifests; the groups' arrives while the users are read.
    catalog: Catalog,
    /// Whether this run reads groups (else the group manifest is dropped as it comes).
    want_groups: bool,
    /// A delta read's group states, while it waits for them.
    states: Option<Vec<adc_shared::group::GroupState>>,
}

impl Sender<'_> {
    async fn send(&mut self, m: AgentMessage) -> Result<(), Halt> {
        self.link.out.send(m).await.map_err(|_| Halt::Gone)
    }

    /// Sends a message the server acknowledges, waiting while the window is full.
    async fn send_acked(&mut self, make: impl FnOnce(u64) -> AgentMessage) -> Result<(), Halt> {
        while self.unacked >= self.window {
            self.wait_ack().await?;
        }
        self.seq += 1;
        let m = make(self.seq);
        self.send(m).await?;
        self.unacked += 1;
        Ok(())
    }

    /// Waits until everything sent was acknowledged (stored by the server).
    async fn drain(&mut self) -> Result<(), Halt> {
        while self.unacked > 0 {
            self.wait_ack().await?;
        }
        Ok(())
    }

    /// What the server holds of these groups (a delta read), as it answers.
    async fn group_states(
        &mut self,
        groups: Vec<String>,
    ) -> Result<Vec<adc_shared::group::GroupState>, Halt> {
        self.states = Some(Vec::new());
        self.catalog.groups_complete = false;
        let run_id = self.run_id;
        self.send(AgentMessage::GroupStateRequest { run_id, groups })
            .await?;
        self.group_manifest().await?;
        Ok(self.states.take().unwrap_or_default())
    }

    async fn wait_ack(&mut self) -> Result<(), Halt> {
        let m = self.link.inbox.recv().await;
        self.take(m)
    }

    /// Takes what has arrived without waiting: acknowledgements, and the group
    /// manifest's chunks while the users are read.
    fn poll(&mut self) -> Result<(), Halt> {
        while let Ok(m) = self.link.inbox.try_recv() {
            self.take(Some(m))?;
        }
        Ok(())
    }

    /// Waits for the group manifest's last chunk.
    async fn group_manifest(&mut self) -> Result<(), Halt> {
        while !self.catalog.groups_complete {
            let m = self.link.inbox.recv().await;
            self.take(m)?;
        }
        Ok(())
    }

    fn take(&mut self, m: Option<ServerMessage>) -> Result<(), Halt> {
        match m {
            Some(ServerMessage::BatchAck { run_id, .. }) if run_id == self.run_id => {
                self.unacked = self.unacked.saturating_sub(1);
            }
            Some(ServerMessage::GroupManifestChunk {
                run_id,
                groups,
                last,
            }) if run_id == self.run_id => {
                if let Some(states) = self.states.as_mut() {
                    states.extend(groups);
                    self.catalog.groups_complete |= last;
                    return Ok(());
                }
                if self.want_groups {
                    self.catalog.add_groups(groups);
                }
                if last {
                    self.catalog.groups_done();
                }
            }
            Some(ServerMessage::RunFinished { report, .. }) => {
                return Err(Halt::Finished(Box::new(report)));
            }
            Some(_) => {}
            None => return Err(Halt::Gone),
        }
        Ok(())
    }

    /// Waits for the server's end of the run.
    async fn finished(&mut self) -> Option<RunSummary> {
        loop {
            match self.link.inbox.recv().await {
                Some(ServerMessage::RunFinished { report, .. }) => return Some(report),
                Some(_) => continue,
                None => return None,
            }
        }
    }
}

/// Receives the users' manifest.
async fn users_manifest(tx: &mut Sender<'_>) -> Result<(), Halt> {
    // What the connection passed on meanwhile (the group manifest's first chunks, which
    // follow the users' last one on the wire), taken in order once the users' manifest
    // is complete: the two channels do not keep their order between them.
    let mut early = Vec::new();
    loop {
        tokio::select! {
            biased;
            part = tx.link.manifest.recv() => match part {
                Some((entries, last)) => {
                    tx.catalog.add_users(entries);
                    if last {
                        break;
                    }
                }
                None => return Err(Halt::Gone),
            },
            m = tx.link.inbox.recv() => match m {
                Some(ServerMessage::RunFinished { report, .. }) => {
                    return Err(Halt::Finished(Box::new(report)));
                }
                Some(m) => early.push(m),
                None => return Err(Halt::Gone),
            },
        }
    }
    for m in early {
        tx.take(Some(m))?;
    }
    Ok(())
}

/// Runs `start` to its end; `None` when the connection went away first. `read`
/// counts the entries read, for a progress display; `server_protocol` is the version
/// the server speaks (a group manifest follows the users' from [`GROUPS_VERSION`] on).
pub async fn execute(
    cfg: AgentConfig,
    start: StartRun,
    mut link: Link,
    read: Arc<AtomicU64>,
    server_protocol: u32,
) -> Option<RunSummary> {
    let run_id = start.run_id;
    // Groups only with a `groups` section, and a server that takes them.
    let group_mapper = GroupMapper::new(&cfg).filter(|_| server_protocol >= GROUPS_VERSION);
    let mut tx = Sender {
        run_id,
        link: &mut link,
        window: start.window.max(1) as usize,
        unacked: 0,
        seq: 0,
        catalog: Catalog::default(),
        want_groups: group_mapper.is_some(),
        states: None,
    };
    // A server without groups sends no group manifest.
    tx.catalog.groups_complete = server_protocol < GROUPS_VERSION;
    let result = read_and_send(
        &cfg,
        &start,
        &mut tx,
        &read,
        group_mapper.as_ref(),
        server_protocol,
    )
    .await;
    match result {
        Ok(()) => {}
        Err(Halt::Finished(report)) => return Some(*report),
        Err(Halt::Gone) => return None,
        Err(Halt::Fail(reason)) => {
            tracing::error!(%run_id, reason, "run failed; nothing was deleted");
            if tx
                .send(AgentMessage::RunFailed { run_id, reason })
                .await
                .is_err()
            {
                return None;
            }
        }
    }
    tx.finished().await
}

/// Starts the users' read: from the offered watermark when it is usable, else in full.
/// Returns the plan to tell the server, the read's channel, and the read's first
/// message when it was waited for (to learn whether the directory took the watermark).
async fn begin_read(
    cfg: &AgentConfig,
    start: &StartRun,
    conn: &ldap3::Ldap,
    member_keys: Option<user_read::MemberKeys>,
    read: &Arc<AtomicU64>,
    server_protocol: u32,
) -> Begun {
    let reason = match delta::usable(cfg, start.watermark.as_ref()) {
        Ok(since) => {
            let mode = user_read::Mode::Delta(since.clone());
            let mut rx =
                user_read::start(cfg, conn.clone(), member_keys.clone(), read.clone(), mode);
            match rx.recv().await {
                Some(user_read::Read::Refused(reason)) => Some(reason),
                first => {
                    let plan = ReadPlan {
                        kind: ReadKind::Delta,
                        reason: None,
                    };
                    return Begun {
                        plan,
                        entries: rx,
                        first,
                        since: Some(since),
                    };
                }
            }
        }
        Err(reason) => reason,
    };
    if let Some(r) = &reason {
        tracing::info!(run_id = %start.run_id, reason = r, "reading in full");
    }
    let mode = user_read::Mode::Full {
        watermark: server_protocol >= DELTA_VERSION,
    };
    let rx = user_read::start(cfg, conn.clone(), member_keys, read.clone(), mode);
    let plan = ReadPlan {
        kind: ReadKind::Full,
        reason,
    };
    Begun {
        plan,
        entries: rx,
        first: None,
        since: None,
    }
}

/// A users' read begun: the plan to tell the server, the read's channel, its first
/// message when it was waited for (to learn whether the directory took the watermark),
/// and, for a delta read, where it started (the groups' delta read starts there too).
struct Begun {
    plan: ReadPlan,
    entries: mpsc::Receiver<user_read::Read>,
    first: Option<user_read::Read>,
    since: Option<delta::Since>,
}

async fn read_and_send(
    cfg: &AgentConfig,
    start: &StartRun,
    tx: &mut Sender<'_>,
    read: &Arc<AtomicU64>,
    group_mapper: Option<&GroupMapper>,
    server_protocol: u32,
) -> Result<(), Halt> {
    let run_id = start.run_id;
    let started = std::time::Instant::now();
    let member_keys = group_mapper.map(|g| user_read::MemberKeys {
        uid_attribute: g.uses_uids().then(|| g.uid_attribute.clone()),
        primary_group: g.uses_primary_group(),
    });
    let mut conn = ldap::connect(cfg)
        .await
        .map_err(|e| Halt::Fail(crate::explain::anyhow_chain(&e)))?;
    let Begun {
        plan,
        mut entries,
        mut first,
        since,
    } = begin_read(cfg, start, &conn, member_keys, read, server_protocol).await;
    let delta = plan.kind == ReadKind::Delta;
    tx.send(AgentMessage::ManifestRequest {
        run_id,
        groups: group_mapper.is_some(),
        read: (server_protocol >= DELTA_VERSION).then_some(plan),
    })
    .await?;
    // The directory is read while the manifest arrives.
    users_manifest(tx).await?;
    let mut directory = Directory::default();
    tracing::info!(
        %run_id,
        manifest = tx.catalog.users.len(),
        manifest_ms = started.elapsed().as_millis() as u64,
        "manifest received, reading the directory"
    );

    let batch_size = start.batch_size.max(1) as usize;
    let mut users: Vec<UserRecord> = Vec::new();
    let mut errors: Vec<EntryError> = Vec::new();
    let mut bytes = 0usize;
    let end = loop {
        let next = match first.take() {
            Some(m) => Some(m),
            None => entries.recv().await,
        };
        let chunk = match next {
            Some(user_read::Read::Users(chunk)) => chunk,
            Some(user_read::Read::Done(Ok(end))) => break end,
            Some(user_read::Read::Done(Err(reason))) => return Err(Halt::Fail(reason)),
            Some(user_read::Read::Refused(reason)) => return Err(Halt::Fail(reason)),
            None => return Err(Halt::Fail("the directory read stopped unexpectedly".into())),
        };
        tx.poll()?;
        for u in chunk {
            if let (Some(k), Some(id)) = (u.keys, &u.id) {
                let member = tx.catalog.user(id);
                directory.add_user(member, k.dn, k.uid, k.primary);
            }
            let digest = u.mapped.as_ref().ok().map(|(_, d)| d);
            let unchanged =
                u.id.as_deref()
                    .is_some_and(|i| tx.catalog.users.see(i, digest));
            match u.mapped {
                Ok((record, _)) => {
                    if unchanged && !start.full {
                        continue;
                    }
                    bytes += record.source_dn.len() + record.username.len() + 256;
                    users.push(record);
                }
                Err(reason) => errors.push(EntryError {
                    dn: u.dn,
                    external_id: u.id,
                    reason,
                }),
            }
            if users.len() + errors.len() >= batch_size || bytes >= BATCH_BYTES {
                let (u, e) = (std::mem::take(&mut users), std::mem::take(&mut errors));
                bytes = 0;
                tx.send_acked(|seq| AgentMessage::Batch {
                    run_id,
                    seq,
                    users: u,
                    errors: e,
                })
                .await?;
            }
        }
    };
    if !users.is_empty() || !errors.is_empty() {
        tx.send_acked(|seq| AgentMessage::Batch {
            run_id,
            seq,
            users,
            errors,
        })
        .await?;
    }
    // Groups: every one against the manifest (a full read), or the changed ones
    // against what the server holds of them (a delta read).
    let mut groups_done: Option<GroupsDone> = None;
    if let Some(g) = group_mapper {
        groups_done = Some(match &since {
            Some(since) => {
                let d = group_delta::read(
                    cfg,
                    start,
                    tx,
                    &mut conn,
                    g,
                    &mut directory,
                    since,
                    &end.deletions,
                )
                .await?;
                GroupsDone {
                    read: d.read,
                    removed: d.removed,
                    gone: Some(d.deletions),
                    deferred: d.deferred,
                }
            }
            None => {
                tx.group_manifest().await?;
                let r =
                    group_read::read_groups(cfg, start, tx, &mut conn, g, &mut directory).await?;
                GroupsDone {
                    read: r.read,
                    removed: r.removed,
                    gone: None,
                    deferred: false,
                }
            }
        });
    }
    let _ = conn.unbind().await;
    tracing::info!(
        %run_id,
        entries = end.count,
        delta,
        groups = groups_done.as_ref().map(|g| g.read),
        ms = started.elapsed().as_millis() as u64,
        "directory read completely"
    );
    tx.send(AgentMessage::ReadComplete {
        run_id,
        read: end.count,
        groups_read: groups_done.as_ref().map(|g| g.read),
        watermark: end.token.map(|t| delta::watermark(cfg, t)),
        deletions_deferred: end.deletions_deferred
            || groups_done.as_ref().is_some_and(|g| g.deferred),
    })
    .await?;
    // A delta read's deletions are what the directory said; a full read's, what the
    // manifest holds and the read did not see.
    let gone: Vec<String> = if delta {
        end.deletions
    } else {
        tx.catalog.gone_users().map(|id| id.into_owned()).collect()
    };
    for chunk in gone.chunks(DELETIONS_PER_MESSAGE) {
        let ids = chunk.to_vec();
        tx.send_acked(|seq| AgentMessage::Deletions {
            run_id,
            seq,
            external_ids: ids,
        })
        .await?;
    }
    if let Some(g) = groups_done {
        let gone: Vec<String> = match g.gone {
            Some(ids) => ids,
            None => tx.catalog.gone_groups().map(str::to_owned).collect(),
        };
        for chunk in gone.chunks(DELETIONS_PER_MESSAGE) {
            let ids = chunk.to_vec();
            tx.send_acked(|seq| AgentMessage::GroupDeletions {
                run_id,
                seq,
                external_ids: ids,
            })
            .await?;
        }
        let mut batcher = groups::Batcher::new(adc_shared::protocol::MAX_MEMBERSHIPS_PER_MESSAGE);
        let mut messages = Vec::new();
        for d in g.removed {
            messages.extend(batcher.push(d));
        }
        messages.push(batcher.finish());
        for removed in messages.into_iter().filter(|m| !m.is_empty()) {
            tx.send_acked(|seq| AgentMessage::MembersRemoved {
                run_id,
                seq,
                removed,
            })
            .await?;
        }
    }
    tx.send(AgentMessage::Done { run_id }).await?;
    Ok(())
}
