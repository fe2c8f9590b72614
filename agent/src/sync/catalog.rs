//! What the server already holds, as the agent keeps it during a run (architecture
//! §5.3, §5.5): the users' and the groups' manifests — external ID, content digest,
//! seen by this read or not — and each group's direct members as four-byte codes. A
//! member's external ID is kept once, in the manifest that names it, so 250 000
//! memberships cost a megabyte rather than twenty.

use adc_shared::MemberKind;
use adc_shared::group::GroupState;
use adc_shared::record::{ContentDigest, parse_digest};
use indexmap::{IndexMap, IndexSet};

/// A manifest entry: the digest the server holds and whether this read saw the entry.
#[derive(Default)]
pub struct Known {
    /// `None` when the server's hash was not one this build computes (it then matches
    /// nothing and the entry is sent as changed).
    pub digest: Option<ContentDigest>,
    pub seen: bool,
}

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

#[derive(Default)]
pub struct Catalog {
    pub users: IndexMap<Box<str>, Known>,
    pub groups: IndexMap<Box<str>, KnownGroup>,
    new_users: IndexSet<Box<str>>,
    new_groups: IndexSet<Box<str>>,
    /// The group manifest's last chunk arrived.
    pub groups_complete: bool,
}

impl Catalog {
    /// A chunk of the users' manifest.
    pub fn add_users(&mut self, entries: Vec<(String, String)>) {
        self.users.reserve(entries.len());
        for (id, hash) in entries {
            self.users.insert(
                id.into_boxed_str(),
                Known {
                    digest: parse_digest(&hash),
                    seen: false,
                },
            );
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
        match self.users.get_index_of(id) {
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
    pub fn id(&self, m: Member) -> &str {
        let p = m.position();
        let id = match m.tag() {
            USER => self.users.get_index(p).map(|(k, _)| k),
            GROUP => self.groups.get_index(p).map(|(k, _)| k),
            NEW_USER => self.new_users.get_index(p),
            _ => self.new_groups.get_index(p),
        };
        id.expect("codes are made by this catalog")
    }

    /// Users of the manifest this read did not see.
    pub fn gone_users(&self) -> impl Iterator<Item = &str> {
        self.users
            .iter()
            .filter(|(_, k)| !k.seen)
            .map(|(id, _)| &**id)
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
        }
    }

    #[test]
    fn a_member_is_the_same_code_wherever_it_is_named() {
        let mut c = Catalog::default();
        c.add_users(vec![
            ("u1".into(), "00".repeat(32)),
            ("u2".into(), "x".into()),
        ]);
        assert_eq!(c.users["u1"].digest, Some([0; 32]));
        assert_eq!(c.users["u2"].digest, None, "not a digest: matches nothing");
        // The inner group is named as a member before its own state arrives.
        c.add_groups(vec![state("outer", &["u2", "stranger"], &["inner"])]);
        c.add_groups(vec![state("inner", &["u1"], &[])]);
        c.groups_done();
        let outer = &c.groups["outer"].members;
        let names: Vec<(MemberKind, &str)> = outer.iter().map(|m| (m.kind(), c.id(*m))).collect();
        assert!(names.contains(&(MemberKind::User, "u2")));
        assert!(names.contains(&(MemberKind::User, "stranger")));
        assert!(names.contains(&(MemberKind::Group, "inner")));
        let inner = c.group("inner");
        assert!(c.groups["outer"].members.binary_search(&inner).is_ok());
        assert_eq!(c.user("stranger"), c.user("stranger"));
        assert_eq!(c.gone_groups().count(), 2, "both listed, neither seen");
    }

    #[test]
    fn a_group_known_only_as_a_member_is_never_gone() {
        let mut c = Catalog::default();
        c.add_groups(vec![state("outer", &[], &["elsewhere"])]);
        c.groups_done();
        assert_eq!(c.gone_groups().collect::<Vec<_>>(), vec!["outer"]);
    }
}
