//! What the server already holds, as the agent keeps it during a run (architecture
//! §5.3, §5.5): the users' and the groups' manifests — external ID, content digest,
//! seen by this read or not — and each group's direct members as four-byte codes. A
//! member's external ID is kept once, in the manifest that names it, so 250 000
//! memberships cost a megabyte rather than twenty.

use adc_shared::MemberKind;
use adc_shared::group::GroupState;
use adc_shared::record::{ContentDigest, parse_digest};
use indexmap::{IndexMap, IndexSet};
use std::borrow::Cow;
use std::hash::BuildHasher;

/// A group of the manifest, with its direct members (sorted once the manifest is in).
#[derive(Default)]
pub struct KnownGroup {
    pub digest: Option<ContentDigest>,
    pub members: Vec<Member>,
    pub seen: bool,
    /// False for a group known only as another group's member so far: it is in the
    /// manifest only once its own state arrives, and only then can it be gone.
    pub listed: bool,
}

/// A user or group, by position: in the users' manifest, the groups' manifest, or
/// among the IDs neither holds (new this run). Two bits of kind, thirty of position.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Member(u32);

const USER: u32 = 0;
const GROUP: u32 = 1;
const NEW_USER: u32 = 2;
const NEW_GROUP: u32 = 3;
const SHIFT: u32 = 30;
const POSITION: u32 = (1 << SHIFT) - 1;

impl Member {
    fn new(tag: u32, position: usize) -> Member {
        let p = u32::try_from(position)
            .ok()
            .filter(|p| *p <= POSITION)
            .expect("a run holds fewer than 2^30 users and groups");
        Member(tag << SHIFT | p)
    }

    fn tag(self) -> u32 {
        self.0 >> SHIFT
    }

    fn position(self) -> usize {
        (self.0 & POSITION) as usize
    }

    pub fn kind(self) -> MemberKind {
        match self.tag() {
            USER | NEW_USER => MemberKind::User,
            _ => MemberKind::Group,
        }
    }
}

/// The users' manifest, held compactly (a million users in about 32 MB): an external
/// ID that is a UUID in its canonical form (entryUUID, objectGUID) as 16 bytes, any
/// other in one shared text; the first 8 bytes of the content digest (enough to tell a
/// change: a changed entry whose new digest began like the old one, one chance in
/// 2^64, would wait for its next change to be updated); seen and has-a-digest as bits;
/// positions in a hash table.
#[derive(Default)]
pub struct Users {
    keys: Blocks<u128>,
    digests: Blocks<u64>,
    flags: Blocks<u8>,
    text: String,
    index: hashbrown::HashTable<u32>,
    hasher: std::collections::hash_map::RandomState,
}

/// A growing array kept in blocks of 65 536: growing never copies it, so a million
/// users' keys are never held twice, as a `Vec` holds them while it doubles.
struct Blocks<T> {
    blocks: Vec<Vec<T>>,
    len: usize,
}

const BLOCK: usize = 1 << 16;

impl<T> Default for Blocks<T> {
    fn default() -> Self {
        Blocks {
            blocks: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Blocks<T> {
    fn len(&self) -> usize {
        self.len
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn push(&mut self, v: T) {
        if self.len.is_multiple_of(BLOCK) {
            self.blocks.push(Vec::with_capacity(BLOCK));
        }
        self.blocks.last_mut().expect("a block").push(v);
        self.len += 1;
    }
}

impl<T> std::ops::Index<usize> for Blocks<T> {
    type Output = T;
    fn index(&self, at: usize) -> &T {
        &self.blocks[at / BLOCK][at % BLOCK]
    }
}

impl<T> std::ops::IndexMut<usize> for Blocks<T> {
    fn index_mut(&mut self, at: usize) -> &mut T {
        &mut self.blocks[at / BLOCK][at % BLOCK]
    }
}

const SEEN: u8 = 1;
const HAS_DIGEST: u8 = 2;
const TEXT_KEY: u8 = 4;

/// How an external ID is held: as a UUID only when it reads back exactly.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Key<'a> {
    Uuid(u128),
    Text(&'a str),
}

impl<'a> Key<'a> {
    fn of(id: &'a str) -> Key<'a> {
        if id.len() == 36
            && let Ok(u) = uuid::Uuid::try_parse(id)
            && u.hyphenated()
                .encode_lower(&mut uuid::Uuid::encode_buffer())
                == id
        {
            return Key::Uuid(u.as_u128());
        }
        Key::Text(id)
    }
}

fn short(d: &ContentDigest) -> u64 {
    u64::from_le_bytes(d[..8].try_into().expect("8 bytes"))
}

impl Users {
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn key(&self, at: usize) -> Key<'_> {
        if self.flags[at] & TEXT_KEY != 0 {
            let k = self.keys[at];
            let (start, len) = ((k >> 32) as usize, (k & 0xffff_ffff) as usize);
            Key::Text(&self.text[start..start + len])
        } else {
            Key::Uuid(self.keys[at])
        }
    }

    fn hash(&self, k: Key<'_>) -> u64 {
        match k {
            Key::Uuid(u) => self.hasher.hash_one(u),
            Key::Text(t) => self.hasher.hash_one(t),
        }
    }

    /// The position of `id`, if the manifest holds it.
    pub fn position(&self, id: &str) -> Option<usize> {
        let k = Key::of(id);
        self.index
            .find(self.hash(k), |&at| self.key(at as usize) == k)
            .map(|&at| at as usize)
    }

    /// Adds `id` (a later duplicate replaces the earlier digest).
    pub fn insert(&mut self, id: &str, digest: Option<ContentDigest>) {
        if let Some(at) = self.position(id) {
            self.digests[at] = digest.as_ref().map(short).unwrap_or_default();
            self.flags[at] =
                (self.flags[at] & !HAS_DIGEST) | if digest.is_some() { HAS_DIGEST } else { 0 };
            return;
        }
        let at = u32::try_from(self.keys.len()).expect("fewer than 2^32 users");
        let k = Key::of(id);
        let (key, mut flags) = match k {
            Key::Uuid(u) => (u, 0),
            Key::Text(t) => {
                let start = self.text.len() as u128;
                self.text.push_str(t);
                ((start << 32) | t.len() as u128, TEXT_KEY)
            }
        };
        if digest.is_some() {
            flags |= HAS_DIGEST;
        }
        let hash = self.hash(k);
        self.keys.push(key);
        self.digests
            .push(digest.as_ref().map(short).unwrap_or_default());
        self.flags.push(flags);
        let (keys, flags_v, text, hasher) = (&self.keys, &self.flags, &self.text, &self.hasher);
        self.index.insert_unique(hash, at, |&p| {
            let p = p as usize;
            if flags_v[p] & TEXT_KEY != 0 {
                let k = keys[p];
                let (start, len) = ((k >> 32) as usize, (k & 0xffff_ffff) as usize);
                hasher.hash_one(&text[start..start + len])
            } else {
                hasher.hash_one(keys[p])
            }
        });
    }

    /// Marks `id` seen by this read; whether the server's digest is `digest` (false for
    /// an ID the manifest does not hold).
    pub fn see(&mut self, id: &str, digest: Option<&ContentDigest>) -> bool {
        let Some(at) = self.position(id) else {
            return false;
        };
        self.flags[at] |= SEEN;
        self.flags[at] & HAS_DIGEST != 0 && digest.is_some_and(|d| short(d) == self.digests[at])
    }

    /// The external ID at `at`.
    pub fn id(&self, at: usize) -> Cow<'_, str> {
        match self.key(at) {
            Key::Text(t) => Cow::Borrowed(t),
            Key::Uuid(u) => Cow::Owned(uuid::Uuid::from_u128(u).hyphenated().to_string()),
        }
    }

    /// The IDs this read did not see.
    pub fn unseen(&self) -> impl Iterator<Item = Cow<'_, str>> {
        (0..self.keys.len())
            .filter(|&at| self.flags[at] & SEEN == 0)
            .map(|at| self.id(at))
    }
}

#[derive(Default)]
pub struct Catalog {
    pub users: Users,
    pub groups: IndexMap<Box<str>, KnownGroup>,
    new_users: IndexSet<Box<str>>,
    new_groups: IndexSet<Box<str>>,
    /// The group manifest's last chunk arrived.
    pub groups_complete: bool,
}

impl Catalog {
    /// A chunk of the users' manifest.
    pub fn add_users(&mut self, entries: Vec<(String, String)>) {
        for (id, hash) in entries {
            self.users.insert(&id, parse_digest(&hash));
        }
    }

    /// A chunk of the groups' manifest (after the users' last chunk, so a member
    /// user's ID is found there). A large group may span chunks.
    pub fn add_groups(&mut self, states: Vec<GroupState>) {
        for s in states {
            let mut members: Vec<Member> = s.users.iter().map(|u| self.user(u)).collect();
            // A member group gets its place in the manifest now, so the code it has
            // here is the one the group gets when its own state arrives, or is read.
            members.extend(s.groups.into_iter().map(|g| {
                let e = self.groups.entry(g.into_boxed_str());
                let at = e.index();
                e.or_default();
                Member::new(GROUP, at)
            }));
            let g = self
                .groups
                .entry(s.external_id.into_boxed_str())
                .or_default();
            g.digest = parse_digest(&s.hash);
            g.listed = true;
            g.members.extend(members);
        }
    }

    /// The manifest's last chunk arrived: members sorted, for the diff.
    pub fn groups_done(&mut self) {
        for g in self.groups.values_mut() {
            g.members.sort_unstable();
            g.members.dedup();
        }
        self.groups_complete = true;
    }

    /// The code of a user's external ID.
    pub fn user(&mut self, id: &str) -> Member {
        match self.users.position(id) {
            Some(at) => Member::new(USER, at),
            None => Member::new(NEW_USER, self.new_users.insert_full(id.into()).0),
        }
    }

    /// The code of a group's external ID.
    pub fn group(&mut self, id: &str) -> Member {
        match self.groups.get_index_of(id) {
            Some(at) => Member::new(GROUP, at),
            None => Member::new(NEW_GROUP, self.new_groups.insert_full(id.into()).0),
        }
    }

    /// The external ID a code stands for.
    pub fn id(&self, m: Member) -> Cow<'_, str> {
        let p = m.position();
        let id = match m.tag() {
            USER => return self.users.id(p),
            GROUP => self.groups.get_index(p).map(|(k, _)| k),
            NEW_USER => self.new_users.get_index(p),
            _ => self.new_groups.get_index(p),
        };
        Cow::Borrowed(id.expect("codes are made by this catalog"))
    }

    /// Users of the manifest this read did not see.
    pub fn gone_users(&self) -> impl Iterator<Item = Cow<'_, str>> {
        self.users.unseen()
    }

    /// Groups of the manifest this read did not see.
    pub fn gone_groups(&self) -> impl Iterator<Item = &str> {
        self.groups
            .iter()
            .filter(|(_, g)| g.listed && !g.seen)
            .map(|(id, _)| &**id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(id: &str, users: &[&str], groups: &[&str]) -> GroupState {
        GroupState {
            external_id: id.into(),
            hash: "ab".repeat(32),
            users: users.iter().map(|s| (*s).to_owned()).collect(),
            groups: groups.iter().map(|s| (*s).to_owned()).collect(),
            member_dns: Vec::new(),
        }
    }

    #[test]
    fn a_member_is_the_same_code_wherever_it_is_named() {
        let mut c = Catalog::default();
        c.add_users(vec![
            ("u1".into(), "00".repeat(32)),
            ("u2".into(), "x".into()),
        ]);
        assert!(c.users.see("u1", Some(&[0; 32])), "the digest matches");
        assert!(
            !c.users.see("u2", Some(&[0; 32])),
            "not a digest: matches nothing"
        );
        // The inner group is named as a member before its own state arrives.
        c.add_groups(vec![state("outer", &["u2", "stranger"], &["inner"])]);
        c.add_groups(vec![state("inner", &["u1"], &[])]);
        c.groups_done();
        let outer = &c.groups["outer"].members;
        let names: Vec<(MemberKind, String)> = outer
            .iter()
            .map(|m| (m.kind(), c.id(*m).into_owned()))
            .collect();
        assert!(names.contains(&(MemberKind::User, "u2".into())));
        assert!(names.contains(&(MemberKind::User, "stranger".into())));
        assert!(names.contains(&(MemberKind::Group, "inner".into())));
        let inner = c.group("inner");
        assert!(c.groups["outer"].members.binary_search(&inner).is_ok());
        assert_eq!(c.user("stranger"), c.user("stranger"));
        assert_eq!(c.gone_groups().count(), 2, "both listed, neither seen");
    }

    #[test]
    fn the_users_manifest_holds_uuids_and_other_ids_and_tells_changes() {
        let mut c = Catalog::default();
        let uuid = "0b8a3b2e-6f5d-4c1a-9e2f-3a4b5c6d7e8f";
        let upper = "0B8A3B2E-6F5D-4C1A-9E2F-3A4B5C6D7E8F";
        let d1 = [1u8; 32];
        let mut d2 = d1;
        d2[0] = 2;
        c.add_users(vec![
            (uuid.into(), "01".repeat(32)),
            (upper.into(), "01".repeat(32)),
            ("uid=odd,ou=x".into(), "01".repeat(32)),
            ("gone".into(), "01".repeat(32)),
        ]);
        assert_eq!(
            c.users.len(),
            4,
            "an upper-case UUID is another ID, kept as text"
        );
        assert!(c.users.see(uuid, Some(&d1)));
        assert!(!c.users.see(upper, Some(&d2)), "a changed digest");
        assert!(c.users.see("uid=odd,ou=x", Some(&d1)));
        assert!(!c.users.see("never-listed", Some(&d1)));
        let (a, b) = (c.user(uuid), c.user(upper));
        assert_eq!(c.id(a), uuid);
        assert_eq!(c.id(b), upper);
        assert_eq!(c.gone_users().collect::<Vec<_>>(), vec!["gone"]);
    }

    #[test]
    fn a_manifest_past_one_block_keeps_every_id_and_digest() {
        let mut c = Catalog::default();
        let n = BLOCK * 2 + 7;
        let id = |i: usize| uuid::Uuid::from_u128(i as u128 * 0x9e37_79b9_7f4a_7c15).to_string();
        let hash = |i: usize| format!("{:064x}", i);
        c.add_users((0..n).map(|i| (id(i), hash(i))).collect());
        assert_eq!(c.users.len(), n);
        for i in [0, BLOCK - 1, BLOCK, BLOCK + 1, 2 * BLOCK, n - 1] {
            let mut digest = [0u8; 32];
            hex_into(&hash(i), &mut digest);
            assert!(c.users.see(&id(i), Some(&digest)), "user {i}");
            assert_eq!(c.users.position(&id(i)), Some(i));
        }
        assert_eq!(c.gone_users().count(), n - 6, "the six seen are not gone");
    }

    fn hex_into(hex: &str, out: &mut [u8; 32]) {
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap();
        }
    }

    #[test]
    fn a_group_known_only_as_a_member_is_never_gone() {
        let mut c = Catalog::default();
        c.add_groups(vec![state("outer", &[], &["elsewhere"])]);
        c.groups_done();
        assert_eq!(c.gone_groups().collect::<Vec<_>>(), vec!["outer"]);
    }
}
