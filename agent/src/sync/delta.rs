//! Delta reads (issue 17): RFC 4533 content synchronization, `refreshOnly` with a
//! cookie, against an OpenLDAP directory with the `syncprov` overlay. The server keeps
//! the cookie as the synchronization's watermark; this agent only reads from it.
//!
//! A delta read never infers a deletion: an entry is gone only when the directory says
//! so (a delete phase: entries in state `delete`, or a `syncIdSet` with
//! `refreshDeletes`). A present phase proves deletions only against a complete list,
//! which a delta read does not have, so its deletions wait for the next full read.
//!
//! The directory's answers are parsed here, never by ldap3's own parsers, which panic
//! on malformed values: a hostile or broken directory fails the read with a reason.

use super::mapping::Mapper;
use super::usn::Mark;
use crate::config::{AgentConfig, Flavour};
use adc_shared::protocol::Watermark;
use base64::Engine as _;
use ldap3::asn1::{PL, StructureTag, TagClass, Types, parse_tag};
use ldap3::controls::{RawControl, RefreshMode, SyncRequest};
use ldap3::{LdapResult, ResultEntry};
use sha2::{Digest, Sha256};

const SYNC_REQUEST_OID: &str = "1.3.6.1.4.1.4203.1.9.1.1";
const SYNC_STATE_OID: &str = "1.3.6.1.4.1.4203.1.9.1.2";
const SYNC_DONE_OID: &str = "1.3.6.1.4.1.4203.1.9.1.3";
const SYNC_INFO_OID: &str = "1.3.6.1.4.1.4203.1.9.1.4";
/// e-syncRefreshRequired: the cookie is too old or unknown; read in full.
const REFRESH_REQUIRED: u32 = 4096;
/// The watermark's token: this prefix, then the cookie in base64.
const TOKEN_PREFIX: &str = "rfc4533:";

/// What a watermark is valid for: the directory and everything that decides which
/// entries are read and how they map. Any change asks for a full read.
pub fn fingerprint(cfg: &AgentConfig) -> String {
    let l = &cfg.backend.ldap;
    let described = format!(
        "v1\naddr={}\nbase={}\nscope={:?}\nfilter={}\nflavour={:?}\nmapping={:?}\ngroups={:?}",
        l.addr.as_str(),
        l.base_dn,
        l.scope,
        l.sync.filter,
        l.flavour,
        Mapper::new(cfg),
        l.groups,
    );
    let digest = Sha256::digest(described.as_bytes());
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// The watermark for `token` (see [`cookie_token`], [`super::usn::Mark::token`]) under
/// this configuration.
pub fn watermark(cfg: &AgentConfig, token: String) -> Watermark {
    Watermark {
        token,
        fingerprint: fingerprint(cfg),
    }
}

/// An RFC 4533 cookie as a watermark's token.
pub fn cookie_token(cookie: &[u8]) -> String {
    format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::STANDARD.encode(cookie)
    )
}

/// Where a delta read starts from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Since {
    /// An RFC 4533 cookie (OpenLDAP).
    Cookie(Vec<u8>),
    /// A domain controller's USN (Active Directory).
    Usn(Mark),
}

/// Whether a delta read can continue from `offered`, or why not (then the run reads in
/// full, and says so). `None` offered: the server asked for a full read.
pub fn usable(cfg: &AgentConfig, offered: Option<&Watermark>) -> Result<Since, Option<String>> {
    let Some(w) = offered else {
        return Err(None);
    };
    if w.fingerprint != fingerprint(cfg) {
        return Err(Some(
            "adc.yaml's directory address, base DN, scope, filter or attribute mapping changed since the watermark was set".into(),
        ));
    }
    let since = match cfg.backend.ldap.flavour {
        Flavour::Openldap => w
            .token
            .strip_prefix(TOKEN_PREFIX)
            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
            .map(Since::Cookie),
        Flavour::ActiveDirectory => Mark::parse(&w.token).map(Since::Usn),
    };
    since.ok_or_else(|| Some("the watermark is not one this agent wrote".into()))
}

/// The Sync Request control: refreshOnly from `cookie` (none: from the start). It is
/// critical, so a directory without content synchronization refuses the search
/// instead of answering it as a plain one.
pub fn request(cookie: Option<Vec<u8>>) -> RawControl {
    let mut c = RawControl::from(SyncRequest {
        mode: RefreshMode::RefreshOnly,
        cookie,
        reload_hint: false,
    });
    debug_assert_eq!(c.ctype, SYNC_REQUEST_OID);
    c.crit = true;
    c
}

/// Why the directory would not continue from the watermark, from the result code and
/// text that ended the delta read before any entry.
pub fn refusal(rc: u32, text: &str) -> String {
    match rc {
        REFRESH_REQUIRED => {
            "the directory no longer continues from the watermark (e-syncRefreshRequired, result code 4096)".into()
        }
        12 => "the directory no longer offers content synchronization (unavailableCriticalExtension, result code 12); check that slapd still loads the syncprov overlay".into(),
        _ => {
            let (meaning, _) = crate::explain::result_code(rc);
            let text = if text.is_empty() {
                String::new()
            } else {
                format!(": {text}")
            };
            format!(
                "the directory refused to continue from the watermark: {meaning} (result code {rc}){text}"
            )
        }
    }
}

/// The directory's cookie now, taken before a full read by a refresh of the base entry
/// alone: changes made while the full read goes on are read again by the next delta
/// read, never missed. The error says why there is none (no syncprov, say).
pub async fn current_cookie(cfg: &AgentConfig, conn: &mut ldap3::Ldap) -> Result<Vec<u8>, String> {
    let l = &cfg.backend.ldap;
    let result = conn
        .with_timeout(l.operation_timeout())
        .with_controls(request(None))
        .search(
            &l.base_dn,
            ldap3::Scope::Base,
            "(objectClass=*)",
            vec!["1.1"],
        )
        .await
        .map_err(|e| e.to_string())?;
    let done = &result.1;
    if done.rc != 0 {
        let (meaning, _) = crate::explain::result_code(done.rc);
        return Err(format!(
            "the directory offers no content synchronization here: {meaning} (result code {}); check that slapd loads the syncprov overlay on the database holding `{}`",
            done.rc, l.base_dn
        ));
    }
    sync_done(done)?
        .cookie
        .ok_or_else(|| "the directory sent no cookie".to_owned())
}

/// An entry's state in a delta read.
#[derive(Debug, PartialEq, Eq)]
pub enum State {
    /// New or changed: the whole entry came; map and send it.
    Changed,
    /// Unchanged since the cookie (a present phase): nothing came but its UUID.
    Present,
    /// Deleted, or moved out of the read's scope (its ID is among the deletions).
    Deleted,
}

/// Where a delta read stands: what it learnt besides the changed entries.
#[derive(Debug, Default)]
pub struct Delta {
    /// External IDs the directory said are gone.
    pub deletions: Vec<String>,
    /// A present phase happened, or deletions named entries by a UUID that is not the
    /// external ID: the deletions wait for the next full read.
    pub deferred: bool,
    /// Whether the external ID is the entryUUID syncrepl names entries by.
    pub ids_are_uuids: bool,
}

impl Delta {
    pub fn new(mapper: &Mapper) -> Delta {
        Delta::for_ids_in(mapper.id_attribute())
    }

    /// A delta read of entries whose external ID is the attribute `id_attribute`.
    pub fn for_ids_in(id_attribute: &str) -> Delta {
        Delta {
            ids_are_uuids: id_attribute.eq_ignore_ascii_case("entryUUID"),
            ..Delta::default()
        }
    }

    /// Takes one message of the search: `Some` for an entry, with its state; `None`
    /// for what is not an entry (a Sync Info message, a referral).
    pub fn take(&mut self, raw: &ResultEntry) -> Result<Option<State>, String> {
        if raw.is_ref() {
            return Ok(None);
        }
        if raw.is_intermediate() {
            self.info(&raw.0)?;
            return Ok(None);
        }
        let control = raw
            .1
            .iter()
            .find(|c| c.1.ctype == SYNC_STATE_OID)
            .and_then(|c| c.1.val.as_deref())
            .ok_or("an entry of the delta read came without its Sync State control")?;
        let (state, uuid) = sync_state(control)?;
        Ok(Some(match state {
            0 => {
                self.deferred = true;
                State::Present
            }
            1 | 2 => State::Changed,
            3 => {
                self.deleted(uuid);
                State::Deleted
            }
            other => return Err(format!("unknown Sync State {other} in the delta read")),
        }))
    }

    fn deleted(&mut self, uuid: [u8; 16]) {
        if self.ids_are_uuids {
            self.deletions
                .push(uuid::Uuid::from_bytes(uuid).to_string());
        } else {
            self.deferred = true;
        }
    }

    /// A Sync Info intermediate message: a syncIdSet names deleted entries (with
    /// refreshDeletes) or present ones (without); the phase markers say which phase.
    fn info(&mut self, tag: &StructureTag) -> Result<(), String> {
        let bad = || "a malformed Sync Info message in the delta read".to_owned();
        let PL::C(parts) = &tag.payload else {
            return Err(bad());
        };
        let mut name = None;
        let mut value = None;
        for p in parts {
            match (p.class, p.id, &p.payload) {
                (TagClass::Context, 0, PL::P(v)) => name = Some(v.as_slice()),
                (TagClass::Context, 1, PL::P(v)) => value = Some(v.as_slice()),
                _ => return Err(bad()),
            }
        }
        if name != Some(SYNC_INFO_OID.as_bytes()) {
            // Another intermediate response: not ours to read.
            return Ok(());
        }
        let info = parse(value.ok_or_else(bad)?)?;
        if info.class != TagClass::Context {
            return Err(bad());
        }
        match (info.id, &info.payload) {
            // newcookie: the final cookie comes with the search's end.
            (0, PL::P(_)) => {}
            // refreshDelete: a delete phase follows (or ended).
            (1, PL::C(_)) => {}
            // refreshPresent: a present phase.
            (2, PL::C(_)) => self.deferred = true,
            (3, PL::C(fields)) => {
                let mut deletes = false;
                let mut uuids = None;
                for f in fields {
                    match (f.class, f.id, &f.payload) {
                        (TagClass::Universal, id, PL::P(_)) if id == Types::OctetString as u64 => {}
                        (TagClass::Universal, id, PL::P(v)) if id == Types::Boolean as u64 => {
                            deletes = v.first().is_some_and(|b| *b != 0);
                        }
                        (TagClass::Universal, id, PL::C(set)) if id == Types::Set as u64 => {
                            uuids = Some(set);
                        }
                        _ => return Err(bad()),
                    }
                }
                let uuids = uuids.ok_or_else(bad)?;
                if !deletes {
                    self.deferred = true;
                    return Ok(());
                }
                for u in uuids {
                    let PL::P(bytes) = &u.payload else {
                        return Err(bad());
                    };
                    self.deleted(uuid_bytes(bytes)?);
                }
            }
            _ => return Err(bad()),
        }
        Ok(())
    }
}

/// The Sync Done control of a search's end.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Done {
    pub cookie: Option<Vec<u8>>,
    /// The refresh ended with a delete phase (else a present phase).
    pub refresh_deletes: bool,
}

/// The Sync Done control of `result`; an error when it is missing or malformed.
pub fn sync_done(result: &LdapResult) -> Result<Done, String> {
    let value = result
        .ctrls
        .iter()
        .find(|c| c.1.ctype == SYNC_DONE_OID)
        .ok_or("the directory ended the read without a Sync Done control")?
        .1
        .val
        .as_deref()
        .unwrap_or(&[0x30, 0x00]);
    parse_done(value)
}

fn parse_done(value: &[u8]) -> Result<Done, String> {
    let bad = || "a malformed Sync Done control".to_owned();
    let tag = parse(value)?;
    let PL::C(fields) = tag.payload else {
        return Err(bad());
    };
    let mut done = Done::default();
    for f in fields {
        match (f.class, f.payload) {
            (TagClass::Universal, PL::P(v)) if f.id == Types::OctetString as u64 => {
                done.cookie = Some(v)
            }
            (TagClass::Universal, PL::P(v)) if f.id == Types::Boolean as u64 => {
                done.refresh_deletes = v.first().is_some_and(|b| *b != 0)
            }
            _ => return Err(bad()),
        }
    }
    Ok(done)
}

/// A Sync State control's value: the state (0 present, 1 add, 2 modify, 3 delete) and
/// the entry's UUID.
fn sync_state(value: &[u8]) -> Result<(u64, [u8; 16]), String> {
    let bad = || "a malformed Sync State control".to_owned();
    let tag = parse(value)?;
    let PL::C(fields) = tag.payload else {
        return Err(bad());
    };
    let mut fields = fields.into_iter();
    let state = match fields.next() {
        Some(StructureTag {
            class: TagClass::Universal,
            id,
            payload: PL::P(v),
        }) if id == Types::Enumerated as u64 && !v.is_empty() && v.len() <= 2 => {
            v.iter().fold(0u64, |n, b| (n << 8) | u64::from(*b))
        }
        _ => return Err(bad()),
    };
    let uuid = match fields.next() {
        Some(StructureTag {
            payload: PL::P(v), ..
        }) => uuid_bytes(&v)?,
        _ => return Err(bad()),
    };
    Ok((state, uuid))
}

fn uuid_bytes(v: &[u8]) -> Result<[u8; 16], String> {
    v.try_into().map_err(|_| {
        format!(
            "an entry UUID of {} bytes in the delta read (16 expected)",
            v.len()
        )
    })
}

/// One BER element, the whole of `bytes`.
fn parse(bytes: &[u8]) -> Result<StructureTag, String> {
    // lber is not known to panic on malformed input, but a directory's bytes are not
    // trusted to prove it.
    let parsed = std::panic::catch_unwind(|| parse_tag(bytes).map(|(rest, t)| (rest.len(), t)));
    match parsed {
        Ok(Ok((0, tag))) => Ok(tag),
        _ => Err("a malformed control or message from the directory".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_active_directory_synchronization_with_groups_continues_from_its_usn() {
        let yaml = "backend:\n  ldap:\n    addr: ldap://dc1.corp.example.com\n    base_dn: dc=corp,dc=example,dc=com\n    flavour: active-directory\n    groups: {}\n";
        let cfg = AgentConfig::parse(yaml, std::path::Path::new("adc.yaml")).unwrap();
        let dsa = "CN=NTDS Settings,CN=DC1,CN=Servers,CN=Default-First-Site-Name,CN=Sites,CN=Configuration,DC=corp,DC=example,DC=com";
        let token = format!("usn:4711:6b4fa2c1-8d3e-4f5a-9b7c-0d1e2f3a4b5c:{dsa}");
        let offered = watermark(&cfg, token);
        match usable(&cfg, Some(&offered)) {
            Ok(Since::Usn(m)) => assert_eq!((m.usn, m.dsa.as_str()), (4711, dsa)),
            other => panic!("{other:?}"),
        }
        // The groups' section is part of what the watermark is valid for.
        let other = AgentConfig::parse(
            &yaml.replace(
                "groups: {}",
                "groups: {base_dn: 'ou=teams,dc=corp,dc=example,dc=com'}",
            ),
            std::path::Path::new("adc.yaml"),
        )
        .unwrap();
        assert!(
            usable(&other, Some(&offered))
                .unwrap_err()
                .unwrap()
                .contains("changed since the watermark")
        );
    }

    // Byte-exact values as slapd 2.5 sends them (RFC 4533 §2.2, 2.4, 2.5).
    const UUID: [u8; 16] = [
        0x1f, 0x6b, 0x8e, 0x2a, 0x3c, 0x4d, 0x10, 0x3f, 0x8a, 0x1e, 0x5b, 0x6c, 0x7d, 0x8e, 0x9f,
        0x00,
    ];

    fn state_value(state: u8) -> Vec<u8> {
        let mut v = vec![0x30, 0x15, 0x0a, 0x01, state, 0x04, 0x10];
        v.extend_from_slice(&UUID);
        v
    }

    #[test]
    fn a_refusal_says_what_the_directory_said() {
        assert!(refusal(4096, "").contains("e-syncRefreshRequired"));
        assert!(refusal(12, "").contains("syncprov"));
        let restored = refusal(53, "consumer state is newer than provider!");
        assert!(
            restored.ends_with("(result code 53): consumer state is newer than provider!"),
            "{restored}"
        );
    }

    #[test]
    fn a_sync_state_names_the_state_and_the_entry() {
        assert_eq!(sync_state(&state_value(1)).unwrap(), (1, UUID));
        assert_eq!(sync_state(&state_value(3)).unwrap().0, 3);
        assert_eq!(
            uuid::Uuid::from_bytes(UUID).to_string(),
            "1f6b8e2a-3c4d-103f-8a1e-5b6c7d8e9f00"
        );
    }

    #[test]
    fn a_malformed_sync_state_is_an_error_not_a_panic() {
        for bad in [
            &[][..],
            &[0x30, 0x03, 0x0a, 0x01][..],
            &[0x30, 0x06, 0x0a, 0x01, 0x01, 0x04, 0x01, 0xff][..],
            &[0x04, 0x00][..],
            &[0x30, 0x80, 0x00, 0x00][..],
        ] {
            assert!(sync_state(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_sync_done_carries_the_cookie_and_the_phase() {
        // SEQUENCE { cookie "rid=000,csn=1", refreshDeletes TRUE }
        let mut v = vec![0x30, 0x12, 0x04, 0x0d];
        v.extend_from_slice(b"rid=000,csn=1");
        v.extend_from_slice(&[0x01, 0x01, 0xff]);
        let done = parse_done(&v).unwrap();
        assert_eq!(done.cookie.as_deref(), Some(&b"rid=000,csn=1"[..]));
        assert!(done.refresh_deletes);
        // An empty value: no cookie, a present phase.
        assert_eq!(parse_done(&[0x30, 0x00]).unwrap(), Done::default());
        assert!(parse_done(&[0x30, 0x02, 0x02, 0x00]).is_err());
    }

    fn intermediate(value: &[u8]) -> StructureTag {
        let mut bytes = vec![0x79];
        let mut inner = vec![0x80, SYNC_INFO_OID.len() as u8];
        inner.extend_from_slice(SYNC_INFO_OID.as_bytes());
        inner.push(0x81);
        inner.push(value.len() as u8);
        inner.extend_from_slice(value);
        bytes.push(inner.len() as u8);
        bytes.extend_from_slice(&inner);
        parse(&bytes).unwrap()
    }

    fn delta(ids_are_uuids: bool) -> Delta {
        Delta {
            ids_are_uuids,
            ..Delta::default()
        }
    }

    #[test]
    fn a_sync_id_set_with_refresh_deletes_names_the_deleted() {
        // syncIdSet [3] { refreshDeletes TRUE, syncUUIDs SET { uuid } }
        let mut v = vec![0xa3, 0x17, 0x01, 0x01, 0xff, 0x31, 0x12, 0x04, 0x10];
        v.extend_from_slice(&UUID);
        let mut d = delta(true);
        d.info(&intermediate(&v)).unwrap();
        assert_eq!(d.deletions, ["1f6b8e2a-3c4d-103f-8a1e-5b6c7d8e9f00"]);
        assert!(!d.deferred);
        // The external ID is another attribute: the UUIDs name nobody we know.
        let mut d = delta(false);
        d.info(&intermediate(&v)).unwrap();
        assert!(d.deletions.is_empty() && d.deferred);
    }

    #[test]
    fn a_present_phase_defers_the_deletions() {
        // syncIdSet without refreshDeletes: these are present, not deleted.
        let mut v = vec![0xa3, 0x14, 0x31, 0x12, 0x04, 0x10];
        v.extend_from_slice(&UUID);
        let mut d = delta(true);
        d.info(&intermediate(&v)).unwrap();
        assert!(d.deletions.is_empty() && d.deferred);
        // refreshPresent [2] { refreshDone TRUE }
        let mut d = delta(true);
        d.info(&intermediate(&[0xa2, 0x03, 0x01, 0x01, 0xff]))
            .unwrap();
        assert!(d.deferred);
        // newcookie [0] and refreshDelete [1] defer nothing.
        let mut d = delta(true);
        d.info(&intermediate(&[0x80, 0x01, 0x41])).unwrap();
        d.info(&intermediate(&[0xa1, 0x00])).unwrap();
        assert!(!d.deferred);
    }

    #[test]
    fn a_malformed_sync_info_is_an_error() {
        let mut d = delta(true);
        assert!(
            d.info(&intermediate(&[0xa3, 0x03, 0x01, 0x01, 0xff]))
                .is_err()
        );
        // A deleted entry named by a UUID of no bytes.
        let v = [0xa3, 0x07, 0x01, 0x01, 0xff, 0x31, 0x02, 0x04, 0x00];
        assert!(d.info(&intermediate(&v)).is_err());
        assert!(d.info(&intermediate(&[0xa7, 0x00])).is_err());
        assert!(d.info(&intermediate(&[0x04, 0x00])).is_err());
    }
}
