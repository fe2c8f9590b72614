//! Reading groups after the users (architecture §5.5): the group entries page by page,
//! new or changed ones sent in batches; each group's members resolved against what was
//! read and compared with the manifest, so only the memberships that changed travel:
//! added ones during the read, removed ones after it is known to be complete.
//!
//! A group whose members all resolve when it is read (they are users, read before, or
//! groups read before it) is compared at once, as soon as every group read so far is
//! with the server, so that the server writes its memberships while the directory is
//! still being read; the others wait for the end of the read.

use super::groups::{Batcher, Directory, GroupMapper, RawMembers, Resolved, diff};
use super::mapping::Entry;
use super::{BATCH_BYTES, Halt, Sender};
use crate::config::AgentConfig;
use adc_shared::group::Unresolved;
use adc_shared::protocol::{AgentMessage, EntryError, MAX_MEMBERSHIPS_PER_MESSAGE, StartRun};
use adc_shared::{GroupRecord, MemberDelta};
use ldap3::Scope;

/// What the group read leaves for after the complete read.
pub struct GroupsRead {
    pub read: u64,
    pub removed: Vec<MemberDelta>,
}

/// A group read, its members resolved as far as the read allows so far.
struct Pending {
    id: String,
    dn: String,
    members: Resolved,
    /// Active Directory: the next range of the member attribute to read.
    more: Option<(String, u32)>,
}

pub async fn read_groups(
    cfg: &AgentConfig,
    start: &StartRun,
    tx: &mut Sender<'_>,
    conn: &mut ldap3::Ldap,
    mapper: &GroupMapper,
    directory: &mut Directory,
) -> Result<GroupsRead, Halt> {
    let run_id = start.run_id;
    let started = std::time::Instant::now();
    let l = &cfg.backend.ldap;
    let (base, scope, filter) = GroupMapper::search(cfg);
    let stream = conn
        .with_timeout(l.operation_timeout())
        .streaming_search_with(
            crate::ldap::paged(cfg),
            &base,
            scope,
            &filter,
            mapper.attributes(),
        )
        .await
        .map_err(|e| start_failed("the group read", cfg, &base, &filter, &e))?;
    // Read ahead: the directory prepares the next page while this one is resolved.
    let mut stream = crate::ldap::ReadAhead::start(cfg, stream);
    let batch_size = start.batch_size.max(1) as usize;
    let (mut groups, mut errors): (Vec<GroupRecord>, Vec<EntryError>) = (Vec::new(), Vec::new());
    let mut pending: Vec<Pending> = Vec::new();
    // Groups whose members all resolved when read, to compare once the server holds
    // every group read so far (the members they name).
    let mut ready: Vec<(String, Resolved)> = Vec::new();
    let mut changes = MemberChanges::new();
    let (mut bytes, mut count) = (0usize, 0u64);
    loop {
        let raw = match stream.next().await {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(e) => {
                return Err(Halt::Fail(crate::explain::ldap(
                    &format!("the group read ended early after {count} groups"),
                    l.operation_timeout(),
                    &e,
                )));
            }
        };
        count += 1;
        let Some(entry) = crate::ldap::entry(raw) else {
            return Err(Halt::Fail(format!(
                "group entry {count} from the directory is malformed"
            )));
        };
        let view = Entry::of(&entry);
        if count.is_multiple_of(256) {
            tx.poll()?;
        }
        let id = mapper.external_id(&view);
        let known = id.as_deref().and_then(|i| tx.catalog.groups.get_mut(i));
        let known_digest = known.and_then(|k| {
            k.seen = true;
            k.digest
        });
        if let Some(id) = &id {
            let member = tx.catalog.group(id);
            directory.add_group(member, &entry.dn);
        }
        match mapper.map(&view) {
            Ok(record) => {
                let mut raw = mapper.members(&view);
                let more = raw.more.take();
                let mut members = Resolved::default();
                directory.resolve_now(raw, &mut members);
                if members.later.is_empty() && more.is_none() {
                    ready.push((record.external_id.clone(), members));
                } else {
                    pending.push(Pending {
                        id: record.external_id.clone(),
                        dn: entry.dn.clone(),
                        members,
                        more,
                    });
                }
                if known_digest != Some(record.content_digest()) || start.full {
                    bytes += record.source_dn.len() + record.name.len() + 256;
                    groups.push(record);
                }
            }
            Err(reason) => errors.push(EntryError {
                dn: entry.dn.clone(),
                external_id: id,
                reason,
            }),
        }
        let full = groups.len() + errors.len() >= batch_size || bytes >= BATCH_BYTES;
        if full {
            let (g, e) = (std::mem::take(&mut groups), std::mem::take(&mut errors));
            bytes = 0;
            tx.send_acked(|seq| AgentMessage::GroupBatch {
                run_id,
                seq,
                groups: g,
                errors: e,
            })
            .await?;
        }
        // Every group read so far is with the server (sent, or unchanged and stored):
        // the ready ones can be compared, and after a batch their additions go out at
        // once, for the server to write beside the next batches.
        if groups.is_empty() {
            for (id, members) in ready.drain(..) {
                changes.group(tx, run_id, directory, id, members).await?;
            }
            if full {
                changes.flush(tx, run_id).await?;
            }
        }
    }
    let result = stream.finish().await;
    if result.rc != 0 {
        let (meaning, check) = crate::explain::result_code(result.rc);
        return Err(Halt::Fail(format!(
            "the group read was incomplete after {count} groups: {meaning} (result code {}); nothing is deleted; check {check}",
            result.rc
        )));
    }
    if !groups.is_empty() || !errors.is_empty() {
        tx.send_acked(|seq| AgentMessage::GroupBatch {
            run_id,
            seq,
            groups,
            errors,
        })
        .await?;
    }
    let read_ms = started.elapsed().as_millis() as u64;
    // Active Directory hands out at most 1500 values of an attribute at a time: the
    // rest of each such group, range by range.
    for p in &mut pending {
        while let Some((attr, next)) = p.more.take() {
            let mut more = next_range(cfg, conn, mapper, &p.dn, &attr, next).await?;
            p.more = more.more.take();
            directory.resolve_now(more, &mut p.members);
        }
    }
    let groups = ready
        .into_iter()
        .chain(pending.into_iter().map(|p| (p.id, p.members)));
    for (id, members) in groups {
        changes.group(tx, run_id, directory, id, members).await?;
    }
    let removed = changes.finish(tx, run_id).await?;
    tracing::info!(
        %run_id,
        groups = count,
        read_ms,
        resolved_and_sent_ms = started.elapsed().as_millis() as u64 - read_ms,
        "groups read, member changes sent"
    );
    Ok(GroupsRead {
        read: count,
        removed,
    })
}

/// `what` could not start its search under `base` with `filter`.
pub(super) fn start_failed(
    what: &str,
    cfg: &AgentConfig,
    base: &str,
    filter: &str,
    e: &ldap3::LdapError,
) -> Halt {
    Halt::Fail(format!(
        "{what} could not start: {}; check backend.ldap.groups",
        crate::explain::anyhow_chain(&crate::ldap::search_error_at(cfg, base, filter, e))
    ))
}

/// Active Directory hands out at most 1500 values of an attribute at a time: the values
/// of `attr` of the group `dn` from `next` on, as far as this range goes (`more` says
/// where the next one starts). Only the member values: the group's RID came with its
/// entry.
pub(super) async fn next_range(
    cfg: &AgentConfig,
    conn: &mut ldap3::Ldap,
    mapper: &GroupMapper,
    dn: &str,
    attr: &str,
    next: u32,
) -> Result<RawMembers, Halt> {
    let l = &cfg.backend.ldap;
    let wanted = format!("{attr};range={next}-*");
    let (entries, _) = conn
        .with_timeout(l.operation_timeout())
        .search(dn, Scope::Base, "(objectClass=*)", vec![wanted.clone()])
        .await
        .and_then(|r| r.success())
        .map_err(|e| {
            Halt::Fail(crate::explain::ldap(
                &format!("reading `{wanted}` of the group `{dn}` failed"),
                l.operation_timeout(),
                &e,
            ))
        })?;
    let Some(raw) = entries.into_iter().next() else {
        return Err(Halt::Fail(format!(
            "the group `{dn}` went away while its members were read in ranges; nothing is deleted"
        )));
    };
    let Some(entry) = crate::ldap::entry(raw) else {
        return Err(Halt::Fail(format!(
            "`{wanted}` of the group `{dn}` came malformed; nothing is deleted"
        )));
    };
    let view = Entry::of(&entry);
    let mut more = mapper.members(&view);
    if more.dns.is_empty() {
        return Err(Halt::Fail(format!(
            "the directory returned no values for `{wanted}` of the group `{dn}`; nothing is deleted"
        )));
    }
    more.rid = None;
    Ok(more)
}

/// Resolves each group's remaining member values and compares them with the manifest:
/// additions (and unresolved values) go out as they are found; the removals are
/// returned, to wait for the complete read. The delta read's way; the full read uses
/// [`MemberChanges`] as it goes.
pub(super) async fn send_member_changes(
    tx: &mut Sender<'_>,
    run_id: uuid::Uuid,
    directory: &Directory,
    groups: impl IntoIterator<Item = (String, Resolved)>,
) -> Result<Vec<MemberDelta>, Halt> {
    let mut changes = MemberChanges::new();
    for (id, members) in groups {
        changes.group(tx, run_id, directory, id, members).await?;
    }
    changes.finish(tx, run_id).await
}

/// The member changes of a read, group by group: additions (and unresolved values)
/// gathered into messages of the limit (unresolved reports count towards it) and sent
/// as each fills; removals kept for after the complete read.
struct MemberChanges {
    added: Batcher,
    unresolved: Vec<Unresolved>,
    removed: Vec<MemberDelta>,
}

impl MemberChanges {
    fn new() -> MemberChanges {
        MemberChanges {
            added: Batcher::new(MAX_MEMBERSHIPS_PER_MESSAGE),
            unresolved: Vec::new(),
            removed: Vec::new(),
        }
    }

    /// Compares group `id`'s members with the manifest, resolving what waited for the
    /// whole read; its values are dropped once compared. Only once the server holds
    /// every user and group the members may name.
    async fn group(
        &mut self,
        tx: &mut Sender<'_>,
        run_id: uuid::Uuid,
        directory: &Directory,
        id: String,
        mut members: Resolved,
    ) -> Result<(), Halt> {
        directory.resolve_rest(&mut members);
        let found = directory.edges(&members);
        let not_found: Vec<&str> = members.unresolved.iter().map(String::as_str).collect();
        let known = tx.catalog.groups.get(id.as_str());
        let known = known.map_or(&[][..], |g| &g.members[..]);
        let (a, r, u) = diff(&tx.catalog, &id, &found, &not_found, known);
        if !r.is_empty() {
            self.removed.push(r);
        }
        if let Some(u) = u {
            if self.added.room() == 0 {
                let parts = self.added.finish();
                let unresolved = std::mem::take(&mut self.unresolved);
                send_added(tx, run_id, parts, unresolved).await?;
            }
            self.added.reserve(1);
            self.unresolved.push(u);
        }
        for parts in self.added.push(a) {
            let unresolved = std::mem::take(&mut self.unresolved);
            send_added(tx, run_id, parts, unresolved).await?;
        }
        Ok(())
    }

    /// Sends what is gathered.
    async fn flush(&mut self, tx: &mut Sender<'_>, run_id: uuid::Uuid) -> Result<(), Halt> {
        let parts = self.added.finish();
        if !parts.is_empty() || !self.unresolved.is_empty() {
            let unresolved = std::mem::take(&mut self.unresolved);
            send_added(tx, run_id, parts, unresolved).await?;
        }
        Ok(())
    }

    /// Sends what is gathered; the removals.
    async fn finish(
        mut self,
        tx: &mut Sender<'_>,
        run_id: uuid::Uuid,
    ) -> Result<Vec<MemberDelta>, Halt> {
        self.flush(tx, run_id).await?;
        Ok(self.removed)
    }
}

async fn send_added(
    tx: &mut Sender<'_>,
    run_id: uuid::Uuid,
    added: Vec<MemberDelta>,
    unresolved: Vec<Unresolved>,
) -> Result<(), Halt> {
    tx.send_acked(|seq| AgentMessage::MembersAdded {
        run_id,
        seq,
        added,
        unresolved,
    })
    .await
}
