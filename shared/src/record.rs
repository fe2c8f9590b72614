//! The canonical user record (architecture §5.2) and its content hash, defined once here so
//! the agent's diff and the server's check agree byte for byte.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Limits a record must respect; the server refuses records beyond them.
pub const MAX_FIELD_CHARS: usize = 1024;
pub const MAX_DN_CHARS: usize = 4096;
pub const MAX_EXTRA_ATTRIBUTES: usize = 64;

/// One directory user, as the agent maps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRecord {
    /// The stable ID (entryUUID, or objectGUID as a UUID for Active Directory).
    pub external_id: String,
    pub username: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub given_name: Option<String>,
    #[serde(default)]
    pub surname: Option<String>,
    /// False when the source says the account is disabled.
    pub enabled: bool,
    pub source_dn: String,
    #[serde(default)]
    pub extra: BTreeMap<String, String>,
}

/// The fields the hash covers, in a fixed order: everything but the external ID.
#[derive(Serialize)]
struct Canonical<'a> {
    v: u8,
    username: &'a str,
    email: &'a Option<String>,
    display_name: &'a Option<String>,
    given_name: &'a Option<String>,
    surname: &'a Option<String>,
    enabled: bool,
    source_dn: &'a str,
    extra: &'a BTreeMap<String, String>,
}

impl UserRecord {
    /// SHA-256 of the canonical JSON serialization, hex. Struct fields serialize in
    /// declaration order and the extras are a sorted map, so the bytes are canonical.
    pub fn content_hash(&self) -> String {
        hex(&self.content_digest())
    }

    /// The content hash's 32 bytes (what the agent holds per manifest entry).
    pub fn content_digest(&self) -> ContentDigest {
        let c = Canonical {
            v: 1,
            username: &self.username,
            email: &self.email,
            display_name: &self.display_name,
            given_name: &self.given_name,
            surname: &self.surname,
            enabled: self.enabled,
            source_dn: &self.source_dn,
            extra: &self.extra,
        };
        let bytes = serde_json::to_vec(&c).expect("records always serialize");
        Sha256::digest(&bytes).into()
    }

    /// Checks what the server stores: a clear reason for the first problem found.
    pub fn validate(&self) -> Result<(), String> {
        check_field("external ID", &self.external_id, 256, true)?;
        check_profile(
            &self.username,
            self.email.as_deref(),
            self.display_name.as_deref(),
            self.given_name.as_deref(),
            self.surname.as_deref(),
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

/// The checks a user's own fields pass wherever the user comes from: a directory
/// entry, or an admin creating a manual user.
pub fn check_profile(
    username: &str,
    email: Option<&str>,
    display_name: Option<&str>,
    given_name: Option<&str>,
    surname: Option<&str>,
) -> Result<(), String> {
    check_field("username", username, 256, true)?;
    for (name, v) in [
        ("email", email),
        ("display_name", display_name),
        ("given_name", given_name),
        ("surname", surname),
    ] {
        if let Some(v) = v {
            check_field(name, v, MAX_FIELD_CHARS, false)?;
        }
    }
    Ok(())
}

/// Lower-case hex, by table: this runs once per entry on both sides of a sync.
/// A content hash's bytes: a manifest's hex hash parsed, or a record's digest.
pub type ContentDigest = [u8; 32];

/// The bytes of a hex content hash; `None` when it is not 64 hex digits (then it
/// matches no record, and the entry is sent as changed).
pub fn parse_digest(hex: &str) -> Option<ContentDigest> {
    let b = hex.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (i, pair) in b.chunks_exact(2).enumerate() {
        out[i] = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 0x0f)] as char);
    }
    out
}

pub(crate) fn check_field(name: &str, v: &str, max: usize, required: bool) -> Result<(), String> {
    if required && v.trim().is_empty() {
        return Err(format!("{name} is empty"));
    }
    // Runs for every field of every entry on both sides: ASCII (most values) is
    // checked by byte.
    let (chars, control) = if v.is_ascii() {
        (v.len(), v.bytes().any(|b| b.is_ascii_control()))
    } else {
        (v.chars().count(), v.chars().any(char::is_control))
    };
    if chars > max {
        return Err(format!("{name} is longer than {max} characters"));
    }
    if control {
        return Err(format!("{name} contains control characters"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> UserRecord {
        UserRecord {
            external_id: "5d8e7f2a-0000-4000-8000-000000000001".into(),
            username: "alice".into(),
            email: Some("alice@example.com".into()),
            display_name: Some("Alice Example".into()),
            given_name: Some("Alice".into()),
            surname: Some("Example".into()),
            enabled: true,
            source_dn: "uid=alice,ou=people,dc=example,dc=com".into(),
            extra: BTreeMap::new(),
        }
    }

    #[test]
    fn the_hash_is_stable_and_pinned() {
        // Changing the canonical form changes every hash, so every user would be re-sent
        // once. Do it on purpose only, with a new `v`.
        assert_eq!(
            alice().content_hash(),
            "ff81b1ed0887ad418a110c5462026675eb03d0fd1515af4905c176d6c11ce33e"
        );
    }

    #[test]
    fn every_field_but_the_external_id_changes_the_hash() {
        let base = alice().content_hash();
        let mut r = alice();
        r.external_id = "other".into();
        assert_eq!(
            r.content_hash(),
            base,
            "a moved ID is the matcher's business, not content"
        );
        let changes: [fn(&mut UserRecord); 8] = [
            |r| r.username = "alice2".into(),
            |r| r.email = None,
            |r| r.display_name = Some("A".into()),
            |r| r.given_name = None,
            |r| r.surname = Some("X".into()),
            |r| r.enabled = false,
            |r| r.source_dn = "uid=alice,ou=moved,dc=example,dc=com".into(),
            |r| {
                r.extra.insert("department".into(), "IT".into());
            },
        ];
        for change in changes {
            let mut r = alice();
            change(&mut r);
            assert_ne!(r.content_hash(), base, "{r:?}");
        }
    }

    #[test]
    fn hostile_values_are_refused_with_a_reason() {
        let mut r = alice();
        r.username = "ali\u{0}ce".into();
        assert!(r.validate().unwrap_err().contains("username"));
        let mut r = alice();
        r.username = "  ".into();
        assert!(r.validate().is_err());
        let mut r = alice();
        r.display_name = Some("x".repeat(MAX_FIELD_CHARS + 1));
        assert!(r.validate().unwrap_err().contains("display_name"));
        let mut r = alice();
        r.display_name = Some("<img src=x onerror=alert(1)>".into());
        assert!(r.validate().is_ok(), "markup is data, escaped where shown");
        // Control characters, ASCII or not, beside non-ASCII text.
        for bad in ["a\x7fb", "tab\there", "é\u{85}", "ü\nline"] {
            let mut r = alice();
            r.surname = Some(bad.into());
            let err = r.validate().unwrap_err();
            assert!(
                err.contains("surname contains control characters"),
                "{bad:?}: {err}"
            );
        }
        // Length counts characters, not bytes.
        let mut r = alice();
        r.given_name = Some("é".repeat(MAX_FIELD_CHARS));
        assert!(r.validate().is_ok());
        r.given_name = Some("é".repeat(MAX_FIELD_CHARS + 1));
        assert!(r.validate().unwrap_err().contains("given_name is longer"));
    }
}
