//! The canonical group record and memberships (architecture §5.5): what the agent reads
//! from a group entry, and the edges group → member it sends as differences.

use crate::record::{
    ContentDigest, MAX_DN_CHARS, MAX_EXTRA_ATTRIBUTES, MAX_FIELD_CHARS, check_field, hex,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// One directory group, as the agent maps it. Its members travel apart, as edges.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupRecord {
    /// The stable ID (entryUUID, or objectGUID as a UUID for Active Directory).
    pub external_id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    pub source_dn: String,
    #[serde(default)]
    pub extra: BTreeMap<String, String>,
}

/// The fields the hash covers, in a fixed order: everything but the external ID.
#[derive(Serialize)]
struct Canonical<'a> {
    v: u8,
    kind: &'static str,
    name: &'a str,
    description: &'a Option<String>,
    email: &'a Option<String>,
    source_dn: &'a str,
    extra: &'a BTreeMap<String, String>,
}

impl GroupRecord {
    /// SHA-256 of the canonical JSON serialization, hex (as [`crate::UserRecord`]'s).
    pub fn content_hash(&self) -> String {
        hex(&self.content_digest())
    }

    /// The content hash's 32 bytes.
    pub fn content_digest(&self) -> ContentDigest {
        let c = Canonical {
            v: 1,
            kind: "group",
            name: &self.name,
            description: &self.description,
            email: &self.email,
            source_dn: &self.source_dn,
            extra: &self.extra,
        };
        Sha256::digest(serde_json::to_vec(&c).expect("records always serialize")).into()
    }

    /// Checks what the server stores: a clear reason for the first problem found.
    pub fn validate(&self) -> Result<(), String> {
        check_field("external ID", &self.external_id, 256, true)?;
        check_group_profile(
            &self.name,
            self.description.as_deref(),
            self.email.as_deref(),
        )?;
        check_field("source DN", &self.source_dn, MAX_DN_CHARS, false)?;
        if self.extra.len() > MAX_EXTRA_ATTRIBUTES {
            return Err(format!("more than {MAX_EXTRA_ATTRIBUTES} extra attributes"));
        }
        for (k, v) in &self.extra {
            check_field("extra attribute name", k, 128, true)?;
            check_field(k, v, MAX_FIELD_CHARS, false)?;
        }
        Ok(())
    }
}

/// The checks a group's own fields pass wherever it comes from: a directory entry, or
/// an admin creating a manual group.
pub fn check_group_profile(
    name: &str,
    description: Option<&str>,
    email: Option<&str>,
) -> Result<(), String> {
    check_field("group name", name, 256, true)?;
    if let Some(d) = description {
        check_field("description", d, MAX_FIELD_CHARS, false)?;
    }
    if let Some(e) = email {
        check_field("email", e, MAX_FIELD_CHARS, false)?;
    }
    Ok(())
}

/// What a member of a group is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberKind {
    User,
    Group,
}

/// One edge: the group (external ID) has the member (external ID of a user or group of
/// the same synchronization).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Membership {
    pub group: String,
    pub member: String,
    pub kind: MemberKind,
}

/// Members of one group (external IDs, users and groups apart): the part of a
/// `members_added` or `members_removed` message about that group. A group with many
/// changed members may come in several parts, in one message or several.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberDelta {
    pub group: String,
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
}

impl MemberDelta {
    /// How many memberships it names.
    pub fn len(&self) -> usize {
        self.users.len() + self.groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Its memberships, one by one.
    pub fn into_memberships(self) -> impl Iterator<Item = Membership> {
        let group = self.group;
        let users = self.users.into_iter().map(|m| (MemberKind::User, m));
        let groups = self.groups.into_iter().map(|m| (MemberKind::Group, m));
        users.chain(groups).map(move |(kind, member)| Membership {
            group: group.clone(),
            member,
            kind,
        })
    }
}

/// Member values of one group that name nobody among the synchronization's users and
/// groups: reported, never an error (architecture §5.5).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Unresolved {
    /// The group's external ID.
    pub group: String,
    /// How many values did not resolve.
    pub count: u64,
    /// The first few of them, as the directory wrote them.
    pub values: Vec<String>,
}

/// How many unresolved values of a group are named; the rest are counted.
pub const UNRESOLVED_NAMED: usize = 20;

/// One group of the server's manifest: its hash (empty: send it again) and direct
/// members. A group with many members comes in several consecutive entries with the
/// same external ID, the later ones with more members and the same hash.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupState {
    pub external_id: String,
    pub hash: String,
    /// External IDs of member users.
    #[serde(default)]
    pub users: Vec<String>,
    /// External IDs of member groups.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Only in answer to a delta read's [`crate::AgentMessage::GroupStateRequest`]
    /// (protocol 4): the stored DN of each member, `users` then `groups`, in their
    /// order; empty for a user gone from the source (its DN names nobody now).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub member_dns: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staff() -> GroupRecord {
        GroupRecord {
            external_id: "g1".into(),
            name: "staff".into(),
            description: Some("Everyone".into()),
            email: None,
            source_dn: "cn=staff,ou=groups,dc=example".into(),
            extra: BTreeMap::new(),
        }
    }

    #[test]
    fn the_hash_changes_with_every_field_but_the_external_id() {
        let g = staff();
        let h = g.content_hash();
        assert_eq!(h.len(), 64);
        let mut moved = g.clone();
        moved.external_id = "other".into();
        assert_eq!(moved.content_hash(), h);
        let mut renamed = g.clone();
        renamed.name = "Staff".into();
        assert_ne!(renamed.content_hash(), h);
        let mut described = g;
        described.description = None;
        assert_ne!(described.content_hash(), h);
    }

    #[test]
    fn a_group_and_a_user_with_the_same_text_never_share_a_hash() {
        let g = staff();
        let u = crate::UserRecord {
            external_id: "g1".into(),
            username: "staff".into(),
            email: None,
            display_name: None,
            given_name: None,
            surname: None,
            enabled: true,
            source_dn: g.source_dn.clone(),
            extra: BTreeMap::new(),
        };
        assert_ne!(g.content_hash(), u.content_hash());
    }

    #[test]
    fn invalid_groups_are_refused_with_the_reason() {
        let mut g = staff();
        g.name = " ".into();
        assert_eq!(g.validate().unwrap_err(), "group name is empty");
        let mut g = staff();
        g.description = Some("a\u{0}b".into());
        assert!(g.validate().unwrap_err().contains("control"));
        assert!(staff().validate().is_ok());
    }

    #[test]
    fn memberships_read_and_write_as_the_protocol_documents() {
        let m = Membership {
            group: "g".into(),
            member: "u".into(),
            kind: MemberKind::User,
        };
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(json, r#"{"group":"g","member":"u","kind":"user"}"#);
        assert!(
            serde_json::from_str::<Membership>(r#"{"group":"g","member":"u","kind":"role"}"#)
                .is_err()
        );
    }
}
