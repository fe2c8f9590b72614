//! Reading groups after the users (architecture §5.5): the group entries page by page,
//! new or changed ones sent in batches; then each group's members resolved against
//! what was read and compared with the manifest, so only the memberships that changed
//! travel: added ones now, removed ones after the read is known to be complete.

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
                pending.push(Pending {
                    id: record.external_id.clone(),
                    dn: entry.dn.clone(),
                    members,
                    more,
                });
                if known_digest == Some(record.content_digest()) && !start.full {
                    continue;
                }
                bytes += record.source_dn.len() + record.name.len() + 256;
                groups.push(record);
            }
            Err(reason) => errors.push(EntryError {
                dn: entry.dn.clone(),
                external_id: id,
                reason,
            }),
        }
        if groups.len() + errors.len() >= batch_size || bytes >= BATCH_BYTES {
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
    let groups = pending.into_iter().map(|p| (p.id, p.members));
    let removed = send_member_changes(tx, run_id, directory, groups).await?;
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
/// additions (and unresolved values) go out as they are found, gathered into messages of
/// the limit (unresolved reports count towards it); the removals are returned, to wait
/// for the complete read. Used by the full read and the delta read of groups.
pub(super) async fn send_member_changes(
    tx: &mut Sender<'_>,
    run_id: uuid::Uuid,
    directory: &Directory,
    groups: impl IntoIterator<Item = (String, Resolved)>,
) -> Result<Vec<MemberDelta>, Halt> {
    let mut added = Batcher::new(MAX_MEMBERSHIPS_PER_MESSAGE);
    let mut unresolved: Vec<Unresolved> = Vec::new();
    let mut removed: Vec<MemberDelta> = Vec::new();
    // Each group's values are dropped once compared.
    for (id, mut members) in groups {
        directory.resolve_rest(&mut members);
        let found = directory.edges(&members);
        let not_found: Vec<&str> = members.unresolved.iter().map(String::as_str).collect();
        let known = tx.catalog.groups.get(id.as_str());
        let known = known.map_or(&[][..], |g| &g.members[..]);
        let (a, r, u) = diff(&tx.catalog, &id, &found, &not_found, known);
        if !r.is_empty() {
            removed.push(r);
        }
        if let Some(u) = u {
            if added.room() == 0 {
                let parts = added.finish();
                send_added(tx, run_id, parts, std::mem::take(&mut unresolved)).await?;
            }
            added.reserve(1);
            unresolved.push(u);
        }
        for parts in added.push(a) {
            send_added(tx, run_id, parts, std::mem::take(&mut unresolved)).await?;
        }
    }
    let parts = added.finish();
    if !parts.is_empty() || !unresolved.is_empty() {
        send_added(tx, run_id, parts, unresolved).await?;
    }
    Ok(removed)
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
