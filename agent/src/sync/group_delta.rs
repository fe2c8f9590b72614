//! A delta read of groups (architecture §5.3.1): the groups that changed since the
//! watermark, their members compared with what the server holds of them.
//!
//! Only changed groups are read, each with all its member values. A value resolves to
//! an entry read in this run, else to a stored member by the DN the server holds for it
//! (kept current by every delta read, which brings renamed entries), else by looking
//! the DN (or uid) up in the directory — the new members, usually few. A stored
//! member whose entry this read saw deleted, or that left the source, resolves no
//! value; a value that names nobody is reported unresolved, as in a full read.

use super::catalog::Member;
use super::delta::{self, Since};
use super::group_read::send_member_changes;
use super::groups::{Directory, GroupMapper, RawMembers, Resolved, dn_key, normalize_dn, uid_key};
use super::mapping::{Entry, Mapper};
use super::{BATCH_BYTES, Halt, Sender};
use crate::config::AgentConfig;
use adc_shared::group::GroupState;
use adc_shared::protocol::{AgentMessage, EntryError, StartRun};
use adc_shared::{GroupRecord, MemberDelta};
use ldap3::{Scope, SearchEntry};
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
    raw: RawMembers,
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
    let Since::Cookie(cookie) = since else {
        return Err(Halt::Fail(
            "delta reads of Active Directory groups are not built".into(),
        ));
    };
    let l = &cfg.backend.ldap;
    let (base, scope, filter) = GroupMapper::search(cfg);
    conn.with_controls(delta::request(Some(cookie.clone())));
    let mut stream = conn
        .with_timeout(l.operation_timeout())
        .streaming_search(&base, scope, &filter, mapper.attributes())
        .await
        .map_err(|e| {
            Halt::Fail(format!(
                "the delta read of groups could not start: {}; check backend.ldap.groups",
                crate::explain::anyhow_chain(&crate::ldap::search_error_at(
                    cfg, &base, &filter, &e
                ))
            ))
        })?;
    let mut state = delta::Delta::for_ids_in(mapper.id_attribute());
    let mut changed: Vec<Changed> = Vec::new();
    let (mut records, mut errors): (Vec<GroupRecord>, Vec<EntryError>) = (Vec::new(), Vec::new());
    let mut count = 0u64;
    loop {
        let raw = match stream.next().await {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(e) => {
                return Err(Halt::Fail(crate::explain::ldap(
                    &format!("the delta read of groups ended early after {count} groups"),
                    l.operation_timeout(),
                    &e,
                )));
            }
        };
        if state.take(&raw).map_err(Halt::Fail)? != Some(delta::State::Changed) {
            continue;
        }
        count += 1;
        let Some(entry) = crate::ldap::entry(raw) else {
            return Err(Halt::Fail(format!(
                "group entry {count} from the directory is malformed"
            )));
        };
        let view = Entry {
            dn: &entry.dn,
            attrs: &entry.attrs,
            bin_attrs: &entry.bin_attrs,
        };
        let id = mapper.external_id(&view);
        if let Some(id) = &id {
            let member = tx.catalog.group(id);
            directory.add_group(member, &entry.dn);
        }
        match mapper.map(&view) {
            Ok(record) => {
                changed.push(Changed {
                    id: record.external_id.clone(),
                    raw: mapper.members(&view),
                });
                records.push(record);
            }
            Err(reason) => errors.push(EntryError {
                dn: entry.dn.clone(),
                external_id: id,
                reason,
            }),
        }
    }
    let result = stream.finish().await;
    if result.rc != 0 {
        return Err(Halt::Fail(format!(
            "the delta read of groups was incomplete after {count} groups: {}; nothing is deleted",
            delta::refusal(result.rc, &result.text)
        )));
    }
    let done = delta::sync_done(&result).map_err(Halt::Fail)?;
    let deferred = state.deferred || !done.refresh_deletes;

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
    tx.drain().await?;
    let ids: Vec<String> = changed.iter().map(|c| c.id.clone()).collect();
    let states = tx.group_states(ids).await?;
    let gone: HashSet<&str> = users_gone.iter().map(String::as_str).collect();
    for s in &states {
        register(tx, directory, s, &gone);
    }
    tx.catalog.add_groups(states);
    tx.catalog.groups_done();

    // Values nobody known names: look them up in the directory.
    look_up_new_members(cfg, conn, tx, directory, mapper, &changed).await?;

    let groups = changed.into_iter().map(|c| {
        let mut members = Resolved::default();
        directory.resolve_now(c.raw, &mut members);
        (c.id, members)
    });
    let removed = send_member_changes(tx, run_id, directory, groups).await?;
    Ok(GroupsDelta {
        read: count,
        removed,
        deletions: state.deletions,
        deferred,
    })
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
                let view = Entry {
                    dn: &e.dn,
                    attrs: &e.attrs,
                    bin_attrs: &e.bin_attrs,
                };
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
                let view = Entry {
                    dn: &e.dn,
                    attrs: &e.attrs,
                    bin_attrs: &e.bin_attrs,
                };
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
            let view = Entry {
                dn: &e.dn,
                attrs: &e.attrs,
                bin_attrs: &e.bin_attrs,
            };
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
) -> Result<Option<SearchEntry>, Halt> {
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
