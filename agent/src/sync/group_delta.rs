//! A delta read of groups (architecture §5.3.1): the groups that changed since the
//! watermark, their members compared with what the server holds of them. OpenLDAP names
//! them by RFC 4533 content synchronization; Active Directory by `uSNChanged`, with
//! deletions from the groups' tombstones (those the server holds), the rest of a big
//! group's members range by range, and a changed group's primary-group members searched
//! by `primaryGroupID` (AD never lists them in `member`; when a user's primary group
//! changes, AD moves it into the old group's `member` and out of the new one's, so both
//! groups change).
//!
//! Only changed groups are read, each with all its member values. A value resolves to
//! an entry read in this run, else to a stored member by the DN the server holds for it
//! (kept current by every delta read, which brings renamed entries), else by looking
//! the DN (or uid) up in the directory — the new members, usually few. A stored
//! member whose entry this read saw deleted, or that left the source, resolves no
//! value; a value that names nobody is reported unresolved, as in a full read.

use super::catalog::Member;
use super::delta::{self, Since};
use super::group_read::{next_range, send_member_changes, start_failed};
use super::groups::{Directory, GroupMapper, RawMembers, Resolved, dn_key, normalize_dn, uid_key};
use super::mapping::{Entry, Mapper};
use super::usn::{self, Mark};
use super::{BATCH_BYTES, Halt, Sender};
use crate::config::AgentConfig;
use crate::ldap::DirEntry;
use adc_shared::group::GroupState;
use adc_shared::protocol::{AgentMessage, EntryError, StartRun};
use adc_shared::{GroupRecord, MemberDelta};
use ldap3::Scope;
use std::collections::HashSet;

/// What the delta read of groups leaves for after the complete read.
pub struct GroupsDelta {
    /// Groups read (the changed ones).
    pub read: u64,
    pub removed: Vec<MemberDelta>,
    /// External IDs of the groups the directory said are gone.
    pub deletions: Vec<String>,
    /// Deletions it could not prove (a present phase).
    pub deferred: bool,
}

/// A changed group, as read.
struct Changed {
    id: String,
    dn: String,
    raw: RawMembers,
}

/// What the search for changed groups found.
#[derive(Default)]
struct Found {
    changed: Vec<Changed>,
    records: Vec<GroupRecord>,
    errors: Vec<EntryError>,
    count: u64,
    /// External IDs of groups gone; for Active Directory every group tombstone, of
    /// which only those the server holds are deletions.
    gone: Vec<String>,
    gone_unfiltered: bool,
    /// Deletions it could not prove (a present phase, tombstones unreadable).
    deferred: bool,
}

impl Found {
    /// Takes one changed group entry as it came.
    fn take(
        &mut self,
        tx: &mut Sender<'_>,
        mapper: &GroupMapper,
        directory: &mut Directory,
        raw: ldap3::ResultEntry,
    ) -> Result<(), Halt> {
        let Some(entry) = crate::ldap::entry(raw) else {
            return Err(Halt::Fail(format!(
                "group entry {} from the directory is malformed",
                self.count + 1
            )));
        };
        self.count += 1;
        let view = Entry::of(&entry);
        let id = mapper.external_id(&view);
        if let Some(id) = &id {
            let member = tx.catalog.group(id);
            directory.add_group(member, &entry.dn);
        }
        match mapper.map(&view) {
            Ok(record) => {
                self.changed.push(Changed {
                    id: record.external_id.clone(),
                    dn: entry.dn.clone(),
                    raw: mapper.members(&view),
                });
                self.records.push(record);
            }
            Err(reason) => self.errors.push(EntryError {
                dn: entry.dn.clone(),
                external_id: id,
                reason,
            }),
        }
        Ok(())
    }
}

/// Reads the groups changed since `since`; `users_gone` are the users this run's
/// delta read saw deleted (their stored DNs name nobody now).
#[allow(clippy::too_many_arguments)]
pub async fn read(
    cfg: &AgentConfig,
    start: &StartRun,
    tx: &mut Sender<'_>,
    conn: &mut ldap3::Ldap,
    mapper: &GroupMapper,
    directory: &mut Directory,
    since: &Since,
    users_gone: &[String],
) -> Result<GroupsDelta, Halt> {
    let run_id = start.run_id;
    let mut found = match since {
        Since::Cookie(cookie) => by_cookie(cfg, tx, conn, mapper, directory, cookie).await?,
        Since::Usn(old) => by_usn(cfg, tx, conn, mapper, directory, old).await?,
    };
    let records = std::mem::take(&mut found.records);
    let errors = std::mem::take(&mut found.errors);

    // The records, in batches as a full read sends them.
    let batch_size = start.batch_size.max(1) as usize;
    let mut batch: Vec<GroupRecord> = Vec::new();
    let mut bytes = 0usize;
    for r in records {
        bytes += r.source_dn.len() + r.name.len() + 256;
        batch.push(r);
        if batch.len() >= batch_size || bytes >= BATCH_BYTES {
            let groups = std::mem::take(&mut batch);
            bytes = 0;
            tx.send_acked(|seq| AgentMessage::GroupBatch {
                run_id,
                seq,
                groups,
                errors: Vec::new(),
            })
            .await?;
        }
    }
    if !batch.is_empty() || !errors.is_empty() {
        tx.send_acked(|seq| AgentMessage::GroupBatch {
            run_id,
            seq,
            groups: batch,
            errors,
        })
        .await?;
    }

    // What the server holds of the changed groups, once it stored every change of this
    // run (renamed members then have their new DNs).
    // Active Directory's tombstones are asked about too: only the groups the server
    // holds are deletions (the others were never synchronized).
    tx.drain().await?;
    let mut ids: Vec<String> = found.changed.iter().map(|c| c.id.clone()).collect();
    if found.gone_unfiltered {
        ids.extend(found.gone.iter().cloned());
    }
    let answered = tx.group_states(ids).await?;
    let states = if found.gone_unfiltered {
        let (states, gone) = held_of_gone(answered, &found.gone);
        found.gone = gone;
        states
    } else {
        answered
    };
    let gone: HashSet<&str> = users_gone.iter().map(String::as_str).collect();
    for s in &states {
        register(tx, directory, s, &gone);
    }
    tx.catalog.add_groups(states);
    tx.catalog.groups_done();

    if mapper.uses_primary_group() {
        for c in &mut found.changed {
            while let Some((attr, next)) = c.raw.more.take() {
                let more = next_range(cfg, conn, mapper, &c.dn, &attr, next).await?;
                c.raw.dns.extend(more.dns);
                c.raw.more = more.more;
            }
        }
        primary_members(cfg, conn, tx, directory, &found.changed).await?;
    }
    // Values nobody known names: look them up in the directory.
    look_up_new_members(cfg, conn, tx, directory, mapper, &found.changed).await?;

    let groups = found.changed.into_iter().map(|c| {
        let mut members = Resolved::default();
        directory.resolve_now(c.raw, &mut members);
        (c.id, members)
    });
    let removed = send_member_changes(tx, run_id, directory, groups).await?;
    Ok(GroupsDelta {
        read: found.count,
        removed,
        deletions: found.gone,
        deferred: found.deferred,
    })
}

/// The groups changed since an RFC 4533 cookie (OpenLDAP), and those gone.
async fn by_cookie(
    cfg: &AgentConfig,
    tx: &mut Sender<'_>,
    conn: &mut ldap3::Ldap,
    mapper: &GroupMapper,
    directory: &mut Directory,
    cookie: &[u8],
) -> Result<Found, Halt> {
    let l = &cfg.backend.ldap;
    let (base, scope, filter) = GroupMapper::search(cfg);
    conn.with_controls(delta::request(Some(cookie.to_vec())));
    let mut stream = conn
        .with_timeout(l.operation_timeout())
        .streaming_search(&base, scope, &filter, mapper.attributes())
        .await
        .map_err(|e| start_failed("the delta read of groups", cfg, &base, &filter, &e))?;
    let mut state = delta::Delta::for_ids_in(mapper.id_attribute());
    let mut found = Found::default();
    loop {
        let raw = match stream.next().await {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(e) => return Err(ended_early(cfg, found.count, &e)),
        };
        if state.take(&raw).map_err(Halt::Fail)? != Some(delta::State::Changed) {
            continue;
        }
        found.take(tx, mapper, directory, raw)?;
    }
    let result = stream.finish().await;
    if result.rc != 0 {
        return Err(Halt::Fail(format!(
            "the delta read of groups was incomplete after {} groups: {}; nothing is deleted",
            found.count,
            delta::refusal(result.rc, &result.text)
        )));
    }
    let done = delta::sync_done(&result).map_err(Halt::Fail)?;
    found.gone = state.deletions;
    found.deferred = state.deferred || !done.refresh_deletes;
    Ok(found)
}

/// The groups whose `uSNChanged` passed the watermark `old` (Active Directory), page by
/// page, and the groups' tombstones since.
async fn by_usn(
    cfg: &AgentConfig,
    tx: &mut Sender<'_>,
    conn: &mut ldap3::Ldap,
    mapper: &GroupMapper,
    directory: &mut Directory,
    old: &Mark,
) -> Result<Found, Halt> {
    let l = &cfg.backend.ldap;
    // The users' read checked the domain controller a moment ago; another one answering
    // now (a failover between the two reads) cannot be continued from.
    let (now, naming_context) = usn::current(cfg, conn)
        .await
        .map_err(|e| Halt::Fail(format!("the delta read of groups could not start: {e}")))?;
    usn::same_dc(old, &now)
        .map_err(|e| Halt::Fail(format!("the delta read of groups could not start: {e}")))?;
    let (base, scope, filter) = GroupMapper::search(cfg);
    let filter = usn::changed_filter(&filter, old.usn);
    let mut stream = conn
        .with_timeout(l.operation_timeout())
        .streaming_search_with(
            crate::ldap::paged(cfg),
            &base,
            scope,
            &filter,
            mapper.attributes(),
        )
        .await
        .map_err(|e| start_failed("the delta read of groups", cfg, &base, &filter, &e))?;
    let mut found = Found::default();
    loop {
        match stream.next().await {
            Ok(Some(raw)) => found.take(tx, mapper, directory, raw)?,
            Ok(None) => break,
            Err(e) => return Err(ended_early(cfg, found.count, &e)),
        }
    }
    let result = stream.finish().await;
    if result.rc != 0 {
        let (meaning, check) = crate::explain::result_code(result.rc);
        return Err(Halt::Fail(format!(
            "the delta read of groups was incomplete after {} groups: {meaning} (result code {}); nothing is deleted; check {check}",
            found.count, result.rc
        )));
    }
    match usn::deleted_since(cfg, conn, &naming_context, old.usn, Some("group")).await {
        Ok(ids) => {
            found.gone = ids;
            found.gone_unfiltered = true;
        }
        Err(reason) => {
            tracing::warn!(reason, "group deletions wait for the next full read");
            found.deferred = true;
        }
    }
    Ok(found)
}

fn ended_early(cfg: &AgentConfig, count: u64, e: &ldap3::LdapError) -> Halt {
    Halt::Fail(crate::explain::ldap(
        &format!("the delta read of groups ended early after {count} groups"),
        cfg.backend.ldap.operation_timeout(),
        e,
    ))
}

/// Active Directory: the users whose primary group is one of the changed groups, by
/// their `primaryGroupID` (a user changed in this read is known already; the others
/// are found here), so that the group's members are complete. A group that is most
/// users' primary group (Domain Users) lists them all: read only when that group
/// changed.
async fn primary_members(
    cfg: &AgentConfig,
    conn: &mut ldap3::Ldap,
    tx: &mut Sender<'_>,
    directory: &mut Directory,
    changed: &[Changed],
) -> Result<(), Halt> {
    let l = &cfg.backend.ldap;
    let users = Mapper::new(cfg);
    let mut rids: Vec<u32> = changed.iter().filter_map(|c| c.raw.rid).collect();
    rids.sort_unstable();
    rids.dedup();
    for rid in rids {
        let filter = usn::primary_members_filter(&l.sync.filter, rid);
        let mut stream = conn
            .with_timeout(l.operation_timeout())
            .streaming_search_with(
                crate::ldap::paged(cfg),
                &l.base_dn,
                l.scope.into(),
                &filter,
                vec![users.id_attribute().to_owned()],
            )
            .await
            .map_err(|e| {
                start_failed(
                    "the search for primary-group members",
                    cfg,
                    &l.base_dn,
                    &filter,
                    &e,
                )
            })?;
        let failed = |what: String| {
            Halt::Fail(format!(
                "reading the users whose primary group has the RID {rid} {what}; nothing is deleted"
            ))
        };
        loop {
            let raw = match stream.next().await {
                Ok(Some(r)) => r,
                Ok(None) => break,
                Err(e) => return Err(failed(format!("failed: {e}"))),
            };
            let Some(e) = crate::ldap::entry(raw) else {
                return Err(failed("met a malformed entry".into()));
            };
            let view = Entry::of(&e);
            if let Some(id) = users.external_id(&view) {
                let m = tx.catalog.user(&id);
                directory.add_user(m, dn_key(&e.dn), None, Some(rid));
            }
        }
        let result = stream.finish().await;
        if result.rc != 0 {
            let (meaning, _) = crate::explain::result_code(result.rc);
            return Err(failed(format!(
                "was incomplete: {meaning} (result code {})",
                result.rc
            )));
        }
    }
    Ok(())
}

/// Splits the server's answer about the changed groups and the tombstones' groups into
/// the changed groups' states, and the tombstones' groups it holds: the deletions.
fn held_of_gone(
    answered: Vec<GroupState>,
    tombstones: &[String],
) -> (Vec<GroupState>, Vec<String>) {
    let tombstones: HashSet<&str> = tombstones.iter().map(String::as_str).collect();
    let (gone, changed): (Vec<GroupState>, Vec<GroupState>) = answered
        .into_iter()
        .partition(|s| tombstones.contains(s.external_id.as_str()));
    (changed, gone.into_iter().map(|s| s.external_id).collect())
}

/// Puts the stored members of one group state where values resolve: by their stored
/// DN, unless they left the source (no DN) or this read saw them deleted.
fn register(tx: &mut Sender<'_>, directory: &mut Directory, s: &GroupState, gone: &HashSet<&str>) {
    let users = s.users.iter().map(|u| (u, true));
    let groups = s.groups.iter().map(|g| (g, false));
    for ((id, is_user), dn) in users.chain(groups).zip(&s.member_dns) {
        if dn.is_empty() || gone.contains(id.as_str()) || directory.knows_dn(dn) {
            continue;
        }
        if is_user {
            let m = tx.catalog.user(id);
            directory.add_user(m, dn_key(dn), None, None);
        } else {
            let m = tx.catalog.group(id);
            directory.add_group(m, dn);
        }
    }
}

/// Looks up the member values of the changed groups that name no entry known yet: a
/// DN by a base search as a user, then as a group (each within its base DN and scope,
/// matching its filter); a posixGroup's uid by a search among the users.
async fn look_up_new_members(
    cfg: &AgentConfig,
    conn: &mut ldap3::Ldap,
    tx: &mut Sender<'_>,
    directory: &mut Directory,
    mapper: &GroupMapper,
    changed: &[Changed],
) -> Result<(), Halt> {
    let l = &cfg.backend.ldap;
    let users = Mapper::new(cfg);
    let (group_base, group_scope, group_filter) = GroupMapper::search(cfg);
    let mut dns: Vec<&str> = Vec::new();
    let mut uids: Vec<&str> = Vec::new();
    let mut asked = HashSet::new();
    for c in changed {
        for dn in &c.raw.dns {
            if !directory.knows_dn(dn) && asked.insert(dn_key(dn)) {
                dns.push(dn);
            }
        }
        for uid in &c.raw.uids {
            if !directory.knows_uid(uid) && asked.insert(uid_key(uid)) {
                uids.push(uid);
            }
        }
    }
    for dn in dns {
        if in_scope(dn, &l.base_dn, l.scope.into()) {
            let attrs = vec![users.id_attribute().to_owned()];
            if let Some(e) = one(cfg, conn, dn, Scope::Base, &l.sync.filter, attrs).await? {
                let view = Entry::of(&e);
                if let Some(id) = users.external_id(&view) {
                    let m = tx.catalog.user(&id);
                    directory.add_user(m, dn_key(dn), None, None);
                    continue;
                }
            }
        }
        if in_scope(dn, &group_base, group_scope) {
            let attrs = vec![mapper.id_attribute().to_owned()];
            if let Some(e) = one(cfg, conn, dn, Scope::Base, &group_filter, attrs).await? {
                let view = Entry::of(&e);
                if let Some(id) = mapper.external_id(&view) {
                    let m = tx.catalog.group(&id);
                    directory.add_group(m, dn);
                }
            }
        }
    }
    if let (false, Some(_)) = (uids.is_empty(), mapper.member_uid_attribute()) {
        let uid_attr = mapper.uid_attribute.clone();
        for uid in uids {
            let filter = format!(
                "(&{}({uid_attr}={}))",
                l.sync.filter,
                ldap3::ldap_escape(uid)
            );
            let attrs = vec![users.id_attribute().to_owned(), uid_attr.clone()];
            let Some(e) = one(cfg, conn, &l.base_dn, l.scope.into(), &filter, attrs).await? else {
                continue;
            };
            let view = Entry::of(&e);
            if let Some(id) = users.external_id(&view) {
                let m: Member = tx.catalog.user(&id);
                directory.add_user(m, dn_key(&e.dn), Some(uid_key(uid)), None);
            }
        }
    }
    Ok(())
}

/// The one entry a search finds; `None` for none, or several (a uid that is not
/// unique names nobody).
async fn one(
    cfg: &AgentConfig,
    conn: &mut ldap3::Ldap,
    base: &str,
    scope: Scope,
    filter: &str,
    attrs: Vec<String>,
) -> Result<Option<DirEntry>, Halt> {
    let timeout = cfg.backend.ldap.operation_timeout();
    let result = conn
        .with_timeout(timeout)
        .search(base, scope, filter, attrs)
        .await
        .map_err(|e| {
            Halt::Fail(crate::explain::ldap(
                &format!("looking up the member `{base}` failed"),
                timeout,
                &e,
            ))
        })?;
    match result.1.rc {
        0 => {}
        // noSuchObject: the value names nobody.
        32 => return Ok(None),
        rc => {
            let (meaning, _) = crate::explain::result_code(rc);
            return Err(Halt::Fail(format!(
                "looking up the member `{base}` failed: {meaning} (result code {rc}); nothing is deleted"
            )));
        }
    }
    let mut entries = result.0.into_iter();
    let (Some(raw), None) = (entries.next(), entries.next()) else {
        return Ok(None);
    };
    crate::ldap::entry(raw)
        .map(Some)
        .ok_or_else(|| Halt::Fail(format!("the entry `{base}` came malformed")))
}

/// Whether the entry `dn` lies within `base` at `scope`.
fn in_scope(dn: &str, base: &str, scope: Scope) -> bool {
    let (dn, base) = (normalize_dn(dn), normalize_dn(base));
    if dn == base {
        return !matches!(scope, Scope::OneLevel);
    }
    let Some(rest) = dn.strip_suffix(&base).and_then(|r| r.strip_suffix(',')) else {
        return base.is_empty() && !dn.is_empty();
    };
    match scope {
        Scope::Base => false,
        Scope::OneLevel => rdns(rest) == 1,
        Scope::Subtree => true,
    }
}

/// How many RDNs a normalized DN has (separators escaped with `\` do not count).
fn rdns(dn: &str) -> usize {
    let mut n = 1;
    let mut escaped = false;
    for c in dn.chars() {
        match (escaped, c) {
            (true, _) => escaped = false,
            (false, '\\') => escaped = true,
            (false, ',') => n += 1,
            _ => {}
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(id: &str) -> GroupState {
        GroupState {
            external_id: id.into(),
            hash: String::new(),
            users: vec!["u1".into()],
            groups: Vec::new(),
            member_dns: vec!["cn=u1,dc=corp".into()],
        }
    }

    #[test]
    fn only_tombstones_of_groups_the_server_holds_are_deletions() {
        // Asked about two changed groups and three tombstones; the server holds one of
        // the tombstones' groups (the others were never synchronized: out of scope).
        let answered = vec![state("changed-1"), state("gone-held"), state("changed-2")];
        let tombstones = [
            "gone-held".to_owned(),
            "gone-other".into(),
            "gone-never".into(),
        ];
        let (changed, gone) = held_of_gone(answered, &tombstones);
        let changed: Vec<&str> = changed.iter().map(|s| s.external_id.as_str()).collect();
        assert_eq!(changed, ["changed-1", "changed-2"]);
        assert_eq!(gone, ["gone-held"]);
    }

    #[test]
    fn a_member_is_in_scope_below_the_base_as_the_scope_allows() {
        let base = "ou=people,dc=example,dc=com";
        let dn = "uid=ann,ou=people,dc=example,dc=com";
        let deep = "uid=bob,ou=x,ou=people,dc=example,dc=com";
        assert!(in_scope(dn, base, Scope::Subtree));
        assert!(in_scope(
            " UID=ann , OU=People,dc=example,dc=com",
            base,
            Scope::OneLevel
        ));
        assert!(in_scope(deep, base, Scope::Subtree));
        assert!(!in_scope(deep, base, Scope::OneLevel));
        assert!(!in_scope(dn, base, Scope::Base));
        assert!(in_scope(base, base, Scope::Base));
        assert!(!in_scope(
            "uid=ann,ou=staff,dc=example,dc=com",
            base,
            Scope::Subtree
        ));
        // A value that merely ends like the base is not below it.
        assert!(!in_scope(
            "uid=ann,xou=people,dc=example,dc=com",
            base,
            Scope::Subtree
        ));
        assert!(in_scope(
            r"cn=a\,b,ou=people,dc=example,dc=com",
            base,
            Scope::OneLevel
        ));
    }
}
