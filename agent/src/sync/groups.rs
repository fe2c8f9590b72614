//! Groups on the agent's side (architecture §5.5): from a group entry to the canonical
//! group record, its member values, and — once users and groups are read — the member
//! values resolved to external IDs and compared with the server's manifest.
//!
//! A member is resolved by the identity of the entry it names, as read now: a DN (any
//! spacing or case) to the user or group read with that DN, a posixGroup `memberUid` to
//! the user with that uid, an Active Directory primary group through the group's
//! objectSid. Never by DN text stored from an earlier run.

use super::catalog::{Catalog, Member};
use super::mapping::Entry;
use crate::config::{AgentConfig, Flavour};
use adc_shared::group::{UNRESOLVED_NAMED, Unresolved};
use adc_shared::{GroupRecord, MemberDelta, MemberKind};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};

#[derive(Clone, Debug)]
pub struct GroupMapper {
    flavour: Flavour,
    id: String,
    name: String,
    description: String,
    email: String,
    extra: BTreeMap<String, String>,
    member_dn: Vec<String>,
    member_uid: Option<String>,
    /// The users' attribute `member_uid` values name.
    pub uid_attribute: String,
}

/// A group entry's member values, as read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawMembers {
    pub dns: Vec<String>,
    pub uids: Vec<String>,
    /// Active Directory: the group's RID, which users name in `primaryGroupID`.
    pub rid: Option<u32>,
    /// Active Directory: the member attribute came in a range that is not the last;
    /// the next range starts here (attribute name, first index).
    pub more: Option<(String, u32)>,
}

impl GroupMapper {
    /// The mapper of adc.yaml's `groups` section; `None` without one.
    pub fn new(cfg: &AgentConfig) -> Option<GroupMapper> {
        let l = &cfg.backend.ldap;
        let g = l.groups.as_ref()?;
        let ad = l.flavour == Flavour::ActiveDirectory;
        let mut overrides = g.attributes.clone().unwrap_or_default();
        let mut take =
            |key: &str, default: &str| overrides.remove(key).unwrap_or_else(|| default.to_owned());
        let id_default = if ad { "objectGUID" } else { "entryUUID" };
        let id = l
            .sync
            .id_attribute
            .clone()
            .unwrap_or_else(|| id_default.into());
        let id = take("external_id", &id);
        let name = take("name", "cn");
        let description = take("description", "description");
        let email = take("email", "mail");
        let member_dn = g.member_attributes.clone().unwrap_or_else(|| {
            if ad {
                vec!["member".into()]
            } else {
                vec!["member".into(), "uniqueMember".into()]
            }
        });
        let member_uid = match &g.member_uid_attribute {
            Some(a) if a.trim().is_empty() => None,
            Some(a) => Some(a.clone()),
            None if ad => None,
            None => Some("memberUid".into()),
        };
        Some(GroupMapper {
            flavour: l.flavour,
            id,
            name,
            description,
            email,
            extra: overrides,
            member_dn,
            member_uid,
            uid_attribute: g.uid_attribute.clone().unwrap_or_else(|| "uid".into()),
        })
    }

    /// Where and how to search for groups: base DN, scope, filter.
    pub fn search(cfg: &AgentConfig) -> (String, ldap3::Scope, String) {
        let l = &cfg.backend.ldap;
        let g = l.groups.clone().unwrap_or_default();
        let filter = g.filter.map(|f| f.as_str().to_owned()).unwrap_or_else(|| {
            match l.flavour {
                Flavour::ActiveDirectory => "(objectClass=group)".into(),
                Flavour::Openldap => {
                    "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))".into()
                }
            }
        });
        (
            g.base_dn.unwrap_or_else(|| l.base_dn.clone()),
            g.scope.unwrap_or(l.scope).into(),
            filter,
        )
    }

    /// Whether member values name users by uid (the users' read must fetch it).
    pub fn uses_uids(&self) -> bool {
        self.member_uid.is_some()
    }

    /// Whether users' primary groups count (Active Directory).
    pub fn uses_primary_group(&self) -> bool {
        self.flavour == Flavour::ActiveDirectory
    }

    /// The attributes to ask the directory for.
    pub fn attributes(&self) -> Vec<String> {
        let mut a = vec![
            self.id.clone(),
            self.name.clone(),
            self.description.clone(),
            self.email.clone(),
        ];
        a.extend(self.extra.values().cloned());
        a.extend(self.member_dn.iter().cloned());
        a.extend(self.member_uid.iter().cloned());
        if self.flavour == Flavour::ActiveDirectory {
            a.push("objectSid".into());
        }
        a.sort();
        a.dedup();
        a
    }

    /// The entry's external ID, if it has one.
    pub fn external_id(&self, e: &Entry<'_>) -> Option<String> {
        e.external_id(&self.id)
    }

    /// The attribute holding a group's external ID.
    pub fn id_attribute(&self) -> &str {
        &self.id
    }

    /// The attribute of a posixGroup's member uids, if used.
    pub fn member_uid_attribute(&self) -> Option<&str> {
        self.member_uid.as_deref()
    }

    /// Maps a group entry; the error says what is missing or wrong.
    pub fn map(&self, e: &Entry<'_>) -> Result<GroupRecord, String> {
        let external_id = self
            .external_id(e)
            .ok_or_else(|| format!("no usable `{}` (the external ID)", self.id))?;
        let name = e
            .text(&self.name)
            .ok_or_else(|| format!("no `{}` (the group name)", self.name))?;
        let text = |name: &str| e.text(name).map(str::to_owned);
        let record = GroupRecord {
            external_id,
            name: name.to_owned(),
            description: text(&self.description),
            email: text(&self.email),
            source_dn: e.dn.to_owned(),
            extra: self
                .extra
                .iter()
                .filter_map(|(k, a)| text(a).map(|v| (k.clone(), v)))
                .collect(),
        };
        record.validate()?;
        Ok(record)
    }

    /// The entry's member values: DNs, uids, and for Active Directory its RID and the
    /// next range of a member attribute read in ranges.
    pub fn members(&self, e: &Entry<'_>) -> RawMembers {
        let mut m = RawMembers::default();
        for (key, values) in e.attrs {
            // Member values are DNs and uids: text (a value that is not is no member).
            let values = values.iter().filter_map(|v| std::str::from_utf8(v).ok());
            let (base, range) = match key.split_once(';') {
                Some((b, opts)) => (b, parse_range(opts)),
                None => (key.as_str(), None),
            };
            if self.member_dn.iter().any(|a| a.eq_ignore_ascii_case(base)) {
                m.dns.extend(values.map(|v| strip_uid_suffix(v).to_owned()));
                if let Some((_, Some(hi))) = range {
                    m.more = Some((base.to_owned(), hi + 1));
                }
            } else if self
                .member_uid
                .as_deref()
                .is_some_and(|a| a.eq_ignore_ascii_case(base))
            {
                m.uids.extend(values.map(str::to_owned));
            }
        }
        if self.flavour == Flavour::ActiveDirectory {
            m.rid = e.bytes("objectSid").and_then(|b| sid_rid(&b));
        }
        m
    }
}

/// `range=0-1499` → (0, Some(1499)); `range=1500-*` → (1500, None).
pub fn parse_range(options: &str) -> Option<(u32, Option<u32>)> {
    let r = options.split(';').find_map(|o| {
        o.strip_prefix("range=")
            .or_else(|| o.strip_prefix("Range="))
    })?;
    let (lo, hi) = r.split_once('-')?;
    let lo = lo.parse().ok()?;
    let hi = if hi == "*" {
        None
    } else {
        Some(hi.parse().ok()?)
    };
    Some((lo, hi))
}

/// groupOfUniqueNames may add `#'0101'B` (an optional unique identifier) to a DN.
fn strip_uid_suffix(v: &str) -> &str {
    match v.rfind("#'") {
        Some(i) if v.ends_with("'B") => &v[..i],
        _ => v,
    }
}

/// The last sub-authority of a binary SID (its RID): revision, count, a 48-bit
/// authority, then `count` little-endian 32-bit sub-authorities.
pub fn sid_rid(sid: &[u8]) -> Option<u32> {
    let count = usize::from(*sid.get(1)?);
    if sid.first() != Some(&1) || count == 0 || sid.len() != 8 + 4 * count {
        return None;
    }
    let last = &sid[8 + 4 * (count - 1)..];
    Some(u32::from_le_bytes(last.try_into().ok()?))
}

/// A binary SID as Windows writes it (`S-1-5-21-…`).
pub fn sid_string(sid: &[u8]) -> Option<String> {
    let count = usize::from(*sid.get(1)?);
    if sid.first() != Some(&1) || sid.len() != 8 + 4 * count {
        return None;
    }
    let authority = sid[2..8].iter().fold(0u64, |a, b| (a << 8) | u64::from(*b));
    let mut s = format!("S-1-{authority}");
    for c in sid[8..].chunks(4) {
        s.push_str(&format!("-{}", u32::from_le_bytes(c.try_into().ok()?)));
    }
    Some(s)
}

/// A DN in one spelling: attribute types and values lower-case, no spaces around `=`,
/// `,` or `+` (escaped characters kept as written). Two spellings of one DN match.
pub fn normalize_dn(dn: &str) -> String {
    let mut out = String::with_capacity(dn.len());
    let mut escaped = false;
    // Spaces after a separator are dropped, those before one too (trimmed when it
    // comes), others kept once the next character shows they are inside a value.
    let mut after_separator = true;
    let mut pending_space = false;
    for c in dn.trim().chars() {
        if escaped {
            push_lower(&mut out, c);
            escaped = false;
            continue;
        }
        match c {
            ',' | '=' | '+' => {
                pending_space = false;
                out.push(c);
                after_separator = true;
            }
            ' ' => {
                if !after_separator {
                    pending_space = true;
                }
            }
            _ => {
                if pending_space {
                    out.push(' ');
                    pending_space = false;
                }
                if c == '\\' {
                    escaped = true;
                    out.push(c);
                } else {
                    push_lower(&mut out, c);
                }
                after_separator = false;
            }
        }
    }
    out
}

/// Lower-case, without Unicode's tables for ASCII (nearly every DN is ASCII, and this is
/// the agent's hottest loop with groups).
fn push_lower(out: &mut String, c: char) {
    if c.is_ascii() {
        out.push(c.to_ascii_lowercase());
    } else {
        out.extend(c.to_lowercase());
    }
}

/// A normalized DN or a uid as a 128-bit key: the index of 110 000 entries then holds
/// no strings (SHA-256, so no directory value can be made to collide with another).
fn key(text: &str) -> u128 {
    let d = Sha256::digest(text.as_bytes());
    u128::from_le_bytes(d[..16].try_into().expect("a digest has 32 bytes"))
}

/// The key of a DN, in any spelling.
pub fn dn_key(dn: &str) -> u128 {
    key(&normalize_dn(dn))
}

/// The key of a uid (`memberUid` matches it in any case).
pub fn uid_key(uid: &str) -> u128 {
    key(&uid.to_lowercase())
}

/// What the read found, indexed to resolve member values.
#[derive(Default)]
pub struct Directory {
    /// Users, then groups, by position in the read.
    members: Vec<Member>,
    by_dn: HashMap<u128, u32>,
    by_uid: HashMap<u128, u32>,
    /// Users by primary group RID (Active Directory).
    by_primary: HashMap<u32, Vec<u32>>,
}

impl Directory {
    fn push(&mut self, member: Member, dn: u128) -> u32 {
        let at = u32::try_from(self.members.len()).expect("fewer than 2^32 entries");
        self.members.push(member);
        self.by_dn.insert(dn, at);
        at
    }

    /// A user read (its keys from [`dn_key`] and [`uid_key`]), with its uid and
    /// primary group where those are used.
    pub fn add_user(&mut self, member: Member, dn: u128, uid: Option<u128>, primary: Option<u32>) {
        let at = self.push(member, dn);
        if let Some(u) = uid {
            self.by_uid.insert(u, at);
        }
        if let Some(rid) = primary {
            self.by_primary.entry(rid).or_default().push(at);
        }
    }

    pub fn add_group(&mut self, member: Member, dn: &str) {
        self.push(member, dn_key(dn));
    }

    /// Whether an entry with this DN is known.
    pub fn knows_dn(&self, dn: &str) -> bool {
        self.by_dn.contains_key(&dn_key(dn))
    }

    /// Whether a user with this uid is known.
    pub fn knows_uid(&self, uid: &str) -> bool {
        self.by_uid.contains_key(&uid_key(uid))
    }

    /// Resolves what the entries read so far allow: DNs of entries not read yet (groups
    /// later in the read) wait in `later`. Users are all read before any group, so a
    /// uid or a primary group resolves now or never.
    pub fn resolve_now(&self, raw: RawMembers, into: &mut Resolved) {
        for dn in raw.dns {
            match self.by_dn.get(&dn_key(&dn)) {
                Some(&at) => into.found.push(at),
                None => into.later.push(dn),
            }
        }
        for uid in raw.uids {
            match self.by_uid.get(&uid_key(&uid)) {
                Some(&at) if self.members[at as usize].kind() == MemberKind::User => {
                    into.found.push(at);
                }
                _ => into.unresolved.push(uid),
            }
        }
        if let Some(users) = raw.rid.and_then(|r| self.by_primary.get(&r)) {
            into.found.extend(users);
        }
    }

    /// Once every entry is read: what waited resolves now or names nobody.
    pub fn resolve_rest(&self, r: &mut Resolved) {
        for dn in std::mem::take(&mut r.later) {
            match self.by_dn.get(&dn_key(&dn)) {
                Some(&at) => r.found.push(at),
                None => r.unresolved.push(dn),
            }
        }
    }

    /// The members found, sorted, each once.
    pub fn edges(&self, r: &Resolved) -> Vec<Member> {
        let mut found: Vec<Member> = r
            .found
            .iter()
            .map(|&at| self.members[at as usize])
            .collect();
        found.sort_unstable();
        found.dedup();
        found
    }
}

/// A group's member values, resolved to entries of the read (by position) as far as
/// the read allows so far. Kept small: a member is four bytes once resolved.
#[derive(Default)]
pub struct Resolved {
    pub found: Vec<u32>,
    pub later: Vec<String>,
    pub unresolved: Vec<String>,
}

/// The differences of one group's members: what to add and to remove, and the
/// unresolved values to report. `found` and `known` are sorted, each member once.
pub fn diff(
    catalog: &Catalog,
    group: &str,
    found: &[Member],
    unresolved: &[&str],
    known: &[Member],
) -> (MemberDelta, MemberDelta, Option<Unresolved>) {
    let delta = || MemberDelta {
        group: group.to_owned(),
        ..MemberDelta::default()
    };
    let (mut added, mut removed) = (delta(), delta());
    let push = |d: &mut MemberDelta, m: Member| {
        let id = catalog.id(m).into_owned();
        match m.kind() {
            MemberKind::User => d.users.push(id),
            MemberKind::Group => d.groups.push(id),
        }
    };
    // Both sorted: one merge.
    let (mut f, mut k) = (found.iter().peekable(), known.iter().peekable());
    loop {
        match (f.peek(), k.peek()) {
            (Some(a), Some(b)) if a == b => {
                f.next();
                k.next();
            }
            (Some(&&a), Some(&&b)) if a < b => {
                push(&mut added, a);
                f.next();
            }
            (_, Some(&&b)) => {
                push(&mut removed, b);
                k.next();
            }
            (Some(&&a), None) => {
                push(&mut added, a);
                f.next();
            }
            (None, None) => break,
        }
    }
    for d in [&mut added, &mut removed] {
        d.users.sort();
        d.groups.sort();
    }
    let unresolved = (!unresolved.is_empty()).then(|| Unresolved {
        group: group.to_owned(),
        count: unresolved.len() as u64,
        values: unresolved
            .iter()
            .take(UNRESOLVED_NAMED)
            .map(|v| (*v).to_owned())
            .collect(),
    });
    (added, removed, unresolved)
}

/// Member deltas gathered into messages of at most `limit` memberships, a large
/// delta split across messages.
pub struct Batcher {
    limit: usize,
    size: usize,
    parts: Vec<MemberDelta>,
}

impl Batcher {
    pub fn new(limit: usize) -> Batcher {
        Batcher {
            limit: limit.max(1),
            size: 0,
            parts: Vec::new(),
        }
    }

    /// Adds a delta; the messages' worth of parts that filled up, to send now.
    pub fn push(&mut self, mut d: MemberDelta) -> Vec<Vec<MemberDelta>> {
        let mut full = Vec::new();
        while !d.is_empty() {
            let room = self.limit - self.size;
            let mut part = MemberDelta {
                group: d.group.clone(),
                ..MemberDelta::default()
            };
            let take = d.users.len().min(room);
            part.users = d.users.drain(..take).collect();
            let take = d.groups.len().min(room - part.users.len());
            part.groups = d.groups.drain(..take).collect();
            self.size += part.len();
            self.parts.push(part);
            if self.size >= self.limit {
                full.push(std::mem::take(&mut self.parts));
                self.size = 0;
            }
        }
        full
    }

    /// Room left in the message being gathered.
    pub fn room(&self) -> usize {
        self.limit - self.size
    }

    /// Counts `n` more entries (unresolved reports) in the message being gathered.
    pub fn reserve(&mut self, n: usize) {
        self.size += n;
    }

    /// What is left, for a last message.
    pub fn finish(&mut self) -> Vec<MemberDelta> {
        self.size = 0;
        std::mem::take(&mut self.parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ldap::DirEntry;

    #[test]
    fn two_spellings_of_one_dn_match() {
        assert_eq!(
            normalize_dn("uid=Ann , OU=People,dc=Example, dc=org"),
            normalize_dn("UID=ann,ou=people,DC=example,DC=org")
        );
        assert_eq!(normalize_dn("cn=a\\, b,dc=x"), "cn=a\\, b,dc=x");
        assert_ne!(normalize_dn("cn=a\\,b,dc=x"), normalize_dn("cn=a,b,dc=x"));
        assert_eq!(normalize_dn("cn=Two  Words,dc=x"), "cn=two words,dc=x");
    }

    #[test]
    fn unique_member_suffixes_are_not_part_of_the_dn() {
        assert_eq!(strip_uid_suffix("uid=a,dc=x#'0101'B"), "uid=a,dc=x");
        assert_eq!(strip_uid_suffix("uid=a#b,dc=x"), "uid=a#b,dc=x");
    }

    #[test]
    fn active_directory_ranges_read_as_the_next_range_to_ask_for() {
        assert_eq!(parse_range("range=0-1499"), Some((0, Some(1499))));
        assert_eq!(parse_range("range=1500-*"), Some((1500, None)));
        assert_eq!(parse_range("binary"), None);
        assert_eq!(parse_range("range=x-1"), None);
    }

    /// objectSid of a domain's "Domain Users" group, byte for byte as Active Directory
    /// returns it: S-1-5-21-1004336348-1177238915-682003330-513.
    const DOMAIN_USERS_SID: [u8; 28] = [
        0x01, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x15, 0x00, 0x00, 0x00, 0xDC, 0xF4, 0xDC,
        0x3B, 0x83, 0x3D, 0x2B, 0x46, 0x82, 0x8B, 0xA6, 0x28, 0x01, 0x02, 0x00, 0x00,
    ];

    #[test]
    fn a_group_s_rid_comes_from_its_object_sid() {
        assert_eq!(
            sid_string(&DOMAIN_USERS_SID).unwrap(),
            "S-1-5-21-1004336348-1177238915-682003330-513"
        );
        assert_eq!(sid_rid(&DOMAIN_USERS_SID), Some(513));
        assert_eq!(sid_rid(&DOMAIN_USERS_SID[..27]), None, "truncated");
        assert_eq!(sid_rid(&[2, 0, 0, 0, 0, 0, 0, 5]), None, "no sub-authority");
    }

    fn mapper(yaml_groups: &str, flavour: &str) -> GroupMapper {
        let yaml = format!(
            "backend:\n  ldap:\n    addr: ldap://x\n    base_dn: dc=x\n    flavour: {flavour}\n    groups: {yaml_groups}\n"
        );
        let cfg = AgentConfig::parse(&yaml, std::path::Path::new("adc.yaml")).unwrap();
        GroupMapper::new(&cfg).unwrap()
    }

    #[test]
    fn an_active_directory_group_read_in_ranges_asks_for_the_next_one() {
        let m = mapper("{}", "active-directory");
        let sid = ("objectSid".to_owned(), vec![DOMAIN_USERS_SID.to_vec()]);
        let first = DirEntry {
            dn: "CN=Big,DC=x".into(),
            attrs: vec![
                ("cn".to_owned(), vec![b"Big".to_vec()]),
                (
                    "member;range=0-1499".to_owned(),
                    (0..1500)
                        .map(|i| format!("CN=u{i},DC=x").into_bytes())
                        .collect(),
                ),
                sid.clone(),
            ],
        };
        let raw = m.members(&Entry::of(&first));
        assert_eq!(raw.dns.len(), 1500);
        assert_eq!(raw.more, Some(("member".to_owned(), 1500)));
        assert_eq!(raw.rid, Some(513));
        // The last range: nothing more to ask for.
        let last = DirEntry {
            dn: "CN=Big,DC=x".into(),
            attrs: vec![
                (
                    "member;range=1500-*".to_owned(),
                    vec![b"CN=last,DC=x".to_vec()],
                ),
                sid,
            ],
        };
        let e = Entry::of(&last);
        assert_eq!(m.members(&e).more, None);
    }

    #[test]
    fn members_resolve_by_dn_uid_and_primary_group_and_the_rest_is_unresolved() {
        let mut c = Catalog::default();
        let mut d = Directory::default();
        let u1 = c.user("u1");
        d.add_user(
            u1,
            dn_key("uid=ann,ou=people,dc=x"),
            Some(uid_key("ann")),
            Some(513),
        );
        let u2 = c.user("u2");
        d.add_user(
            u2,
            dn_key("uid=bob,ou=people,dc=x"),
            Some(uid_key("bob")),
            None,
        );
        let raw = RawMembers {
            dns: vec![
                "UID=Bob, OU=People,DC=x".into(),
                "cn=inner,ou=groups,dc=x".into(),
                "uid=ghost,ou=people,dc=x".into(),
            ],
            uids: vec!["ANN".into(), "nobody".into()],
            rid: Some(513),
            more: None,
        };
        let mut r = Resolved::default();
        d.resolve_now(raw, &mut r);
        assert_eq!(r.later.len(), 2, "the group is read later, the ghost never");
        // The nested group is read after the group that names it.
        let g2 = c.group("g2");
        d.add_group(g2, "cn=inner,ou=groups,dc=x");
        d.resolve_rest(&mut r);
        let found: Vec<(MemberKind, String)> = d
            .edges(&r)
            .into_iter()
            .map(|m| (m.kind(), c.id(m).into_owned()))
            .collect();
        assert_eq!(
            found,
            vec![
                (MemberKind::User, "u1".to_owned()),
                (MemberKind::User, "u2".to_owned()),
                (MemberKind::Group, "g2".to_owned())
            ]
        );
        assert_eq!(r.unresolved, vec!["nobody", "uid=ghost,ou=people,dc=x"]);
    }

    #[test]
    fn a_diff_names_only_what_changed() {
        let mut c = Catalog::default();
        let users = (0..5000)
            .map(|i| (format!("u{i}"), "00".repeat(32)))
            .collect();
        c.add_users(users);
        let known: Vec<String> = (0..5000).map(|i| format!("u{i}")).collect();
        c.add_groups(vec![adc_shared::group::GroupState {
            external_id: "g".into(),
            hash: "00".repeat(32),
            users: known,
            groups: vec![],
            member_dns: vec![],
        }]);
        c.groups_done();
        // u0 left; "new" (not a user of the manifest) and the group "sub" joined.
        let mut found: Vec<Member> = (1..5000).map(|i| c.user(&format!("u{i}"))).collect();
        found.push(c.user("new"));
        found.push(c.group("sub"));
        found.sort_unstable();
        let members = c.groups["g"].members.clone();
        let (added, removed, unresolved) = diff(&c, "g", &found, &["ghost"], &members);
        assert_eq!(
            (added.users, added.groups),
            (vec!["new".to_owned()], vec!["sub".to_owned()])
        );
        assert_eq!(removed.users, vec!["u0".to_owned()]);
        assert!(removed.groups.is_empty());
        assert_eq!(unresolved.map(|u| u.count), Some(1));
    }

    #[test]
    fn large_deltas_are_split_across_messages_of_the_limit() {
        let mut b = Batcher::new(4);
        let d = |g: &str, n: usize| MemberDelta {
            group: g.into(),
            users: (0..n).map(|i| format!("u{i}")).collect(),
            groups: vec![],
        };
        assert!(b.push(d("a", 3)).is_empty());
        let full = b.push(d("b", 6));
        assert_eq!(full.len(), 2);
        assert_eq!(
            full.iter()
                .map(|m| m.iter().map(MemberDelta::len).sum::<usize>())
                .collect::<Vec<_>>(),
            [4, 4]
        );
        assert_eq!(full[0][1].group, "b");
        let rest = b.finish();
        assert_eq!(rest.iter().map(MemberDelta::len).sum::<usize>(), 1);
    }
}
