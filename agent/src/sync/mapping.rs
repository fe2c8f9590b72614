//! From a directory entry to the canonical user record (architecture §5.1, §5.2), by flavour
//! and the overrides of `sync.attributes`.

use crate::config::{AgentConfig, Flavour};
use crate::ldap::DirEntry;
use adc_shared::UserRecord;
use std::collections::BTreeMap;
use uuid::Uuid;

/// The userAccountControl bit for a disabled account.
const ACCOUNTDISABLE: u32 = 0x2;

#[derive(Clone, Debug)]
pub struct Mapper {
    flavour: Flavour,
    id: String,
    username: String,
    email: String,
    display_name: Vec<String>,
    given_name: String,
    surname: String,
    extra: BTreeMap<String, String>,
}

/// An entry's attributes, looked up case-insensitively as LDAP names are (a handful
/// per entry: a walk beats a hash).
#[derive(Clone, Copy)]
pub struct Entry<'a> {
    pub dn: &'a str,
    pub attrs: &'a [(String, Vec<Vec<u8>>)],
}

impl<'a> Entry<'a> {
    /// The attributes of an entry as read.
    pub fn of(e: &'a DirEntry) -> Entry<'a> {
        Entry {
            dn: &e.dn,
            attrs: &e.attrs,
        }
    }

    /// The values of attribute `name` (with no options: `member`, not `member;range=…`).
    pub(crate) fn values(&self, name: &str) -> &'a [Vec<u8>] {
        self.attrs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map_or(&[], |(_, v)| v.as_slice())
    }

    /// The first value of `name` as text: `None` when absent, empty or not UTF-8.
    pub(crate) fn text(&self, name: &str) -> Option<&'a str> {
        self.values(name)
            .first()
            .and_then(|v| std::str::from_utf8(v).ok())
            .filter(|s| !s.is_empty())
    }

    /// The stable ID in attribute `attr`: objectGUID as the UUID Windows shows, any
    /// other attribute's text, trimmed and lower-case. Users and groups alike.
    pub(crate) fn external_id(&self, attr: &str) -> Option<String> {
        if attr.eq_ignore_ascii_case("objectGUID") {
            return self
                .bytes(attr)
                .and_then(|b| guid_to_uuid(&b))
                .map(|u| u.hyphenated().to_string());
        }
        self.text(attr).map(|s| s.trim().to_ascii_lowercase())
    }

    /// The first value of `name` as bytes (objectGUID, objectSid, invocationId).
    pub(crate) fn bytes(&self, name: &str) -> Option<Vec<u8>> {
        self.values(name).first().cloned()
    }
}

/// objectGUID's 16 bytes as the UUID Windows shows: the first three fields little-endian.
pub fn guid_to_uuid(bytes: &[u8]) -> Option<Uuid> {
    Uuid::from_slice_le(bytes).ok()
}

/// Whether userAccountControl marks the account enabled.
pub fn uac_enabled(uac: &str) -> Option<bool> {
    uac.trim()
        .parse::<i64>()
        .ok()
        .map(|v| (v as u32) & ACCOUNTDISABLE == 0)
}

impl Mapper {
    pub fn new(cfg: &AgentConfig) -> Mapper {
        let l = &cfg.backend.ldap;
        let ad = l.flavour == Flavour::ActiveDirectory;
        let mut overrides = l.sync.attributes.clone().unwrap_or_default();
        fn take(o: &mut BTreeMap<String, String>, key: &str, default: &str) -> String {
            o.remove(key).unwrap_or_else(|| default.to_owned())
        }
        let username_default = l
            .authentication
            .as_ref()
            .and_then(|a| a.username_attribute.clone())
            .unwrap_or_else(|| {
                if ad {
                    "userPrincipalName".into()
                } else {
                    "uid".into()
                }
            });
        let id_default = l.sync.id_attribute.clone().unwrap_or_else(|| {
            if ad {
                "objectGUID".into()
            } else {
                "entryUUID".into()
            }
        });
        let id = take(&mut overrides, "external_id", &id_default);
        let username = take(&mut overrides, "username", &username_default);
        let email = take(&mut overrides, "email", "mail");
        let display_name = match overrides.remove("display_name") {
            Some(a) => vec![a],
            None => vec!["displayName".into(), "cn".into()],
        };
        let given_name = take(&mut overrides, "given_name", "givenName");
        let surname = take(&mut overrides, "surname", "sn");
        Mapper {
            flavour: l.flavour,
            id,
            username,
            email,
            display_name,
            given_name,
            surname,
            extra: overrides,
        }
    }

    /// The attributes to ask the directory for.
    pub fn attributes(&self) -> Vec<String> {
        let mut a = vec![
            self.id.clone(),
            self.username.clone(),
            self.email.clone(),
            self.given_name.clone(),
            self.surname.clone(),
        ];
        a.extend(self.display_name.iter().cloned());
        a.extend(self.extra.values().cloned());
        if self.flavour == Flavour::ActiveDirectory {
            a.push("userAccountControl".into());
        }
        a.sort();
        a.dedup();
        a
    }

    /// The attribute holding the external ID.
    pub fn id_attribute(&self) -> &str {
        &self.id
    }

    /// The entry's external ID, if it has one.
    pub fn external_id(&self, e: &Entry<'_>) -> Option<String> {
        e.external_id(&self.id)
    }

    /// Maps an entry; the error says what is missing or wrong.
    pub fn map(&self, e: &Entry<'_>) -> Result<UserRecord, String> {
        let external_id = self
            .external_id(e)
            .ok_or_else(|| format!("no usable `{}` (the external ID)", self.id))?;
        let username = e
            .text(&self.username)
            .ok_or_else(|| format!("no `{}` (the username)", self.username))?;
        let enabled = match self.flavour {
            Flavour::ActiveDirectory => match e.text("userAccountControl") {
                Some(v) => uac_enabled(v)
                    .ok_or_else(|| format!("userAccountControl `{v}` is not a number"))?,
                None => true,
            },
            Flavour::Openldap => true,
        };
        let text = |name: &str| e.text(name).map(str::to_owned);
        let record = UserRecord {
            external_id,
            username: username.to_owned(),
            email: text(&self.email),
            display_name: self.display_name.iter().find_map(|a| text(a)),
            given_name: text(&self.given_name),
            surname: text(&self.surname),
            enabled,
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_guid_converts_to_the_uuid_windows_shows() {
        // The GUID {3F2504E0-4F89-11D3-9A0C-0305E82C3301} is stored as these bytes.
        let bytes = [
            0xE0, 0x04, 0x25, 0x3F, 0x89, 0x4F, 0xD3, 0x11, 0x9A, 0x0C, 0x03, 0x05, 0xE8, 0x2C,
            0x33, 0x01,
        ];
        assert_eq!(
            guid_to_uuid(&bytes).unwrap().hyphenated().to_string(),
            "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
        );
        assert!(guid_to_uuid(&bytes[..15]).is_none());
    }

    #[test]
    fn user_account_control_bit_two_means_disabled() {
        assert_eq!(uac_enabled("512"), Some(true)); // NORMAL_ACCOUNT
        assert_eq!(uac_enabled("514"), Some(false)); // NORMAL_ACCOUNT | ACCOUNTDISABLE
        assert_eq!(uac_enabled("66050"), Some(false)); // + DONT_EXPIRE_PASSWORD
        assert_eq!(uac_enabled("66048"), Some(true));
        assert_eq!(
            uac_enabled("-2147483646"),
            Some(false),
            "AD may show the value signed"
        );
        assert_eq!(uac_enabled("x"), None);
    }

    fn cfg(yaml_extra: &str, flavour: &str) -> AgentConfig {
        let text = format!(
            "backend:\n  ldap:\n    addr: ldap://h\n    base_dn: dc=x\n    flavour: {flavour}\n{yaml_extra}"
        );
        AgentConfig::parse(&text, std::path::Path::new("adc.yaml")).unwrap()
    }

    fn entry(dn: &str, attrs: &[(&str, &str)], bin: &[(&str, Vec<u8>)]) -> DirEntry {
        let mut e = DirEntry::of_values(
            dn,
            &attrs
                .iter()
                .map(|(k, v)| (*k, v.as_bytes()))
                .collect::<Vec<_>>(),
        );
        e.attrs
            .extend(bin.iter().map(|(k, v)| ((*k).to_owned(), vec![v.clone()])));
        e
    }

    #[test]
    fn active_directory_entries_map_by_upn_guid_and_uac() {
        let m = Mapper::new(&cfg("", "active-directory"));
        let guid = vec![
            0xE0, 0x04, 0x25, 0x3F, 0x89, 0x4F, 0xD3, 0x11, 0x9A, 0x0C, 0x03, 0x05, 0xE8, 0x2C,
            0x33, 0x01,
        ];
        let e = entry(
            "CN=John Doe,OU=Staff,DC=corp",
            &[
                ("userPrincipalName", "jdoe@corp.example"),
                ("userAccountControl", "514"),
                ("CN", "John Doe"),
                ("mail", "j@x"),
            ],
            &[("objectGUID", guid)],
        );
        let r = m.map(&Entry::of(&e)).unwrap();
        assert_eq!(r.external_id, "3f2504e0-4f89-11d3-9a0c-0305e82c3301");
        assert_eq!(r.username, "jdoe@corp.example");
        assert!(!r.enabled);
        assert_eq!(
            r.display_name.as_deref(),
            Some("John Doe"),
            "cn when there is no displayName"
        );
    }

    #[test]
    fn openldap_entries_map_by_uid_and_entry_uuid_with_overrides() {
        let m = Mapper::new(&cfg(
            "    sync:\n      attributes:\n        email: otherMail\n        department: ou\n",
            "openldap",
        ));
        let e = entry(
            "uid=jdoe,dc=x",
            &[
                ("entryUUID", "ABC-1"),
                ("uid", "jdoe"),
                ("otherMail", "o@x"),
                ("mail", "m@x"),
                ("ou", "IT"),
                ("displayName", "J"),
            ],
            &[],
        );
        let r = m.map(&Entry::of(&e)).unwrap();
        assert_eq!(r.external_id, "abc-1");
        assert_eq!(r.username, "jdoe");
        assert_eq!(r.email.as_deref(), Some("o@x"));
        assert_eq!(r.extra.get("department").map(String::as_str), Some("IT"));
        assert!(m.attributes().contains(&"ou".to_owned()));
    }

    #[test]
    fn entries_without_an_id_or_username_are_errors_not_records() {
        let m = Mapper::new(&cfg("", "openldap"));
        let e = entry("d", &[("uid", "jdoe")], &[]);
        assert!(m.map(&Entry::of(&e)).unwrap_err().contains("entryUUID"));
        let e = entry("d", &[("entryUUID", "x")], &[]);
        assert!(m.map(&Entry::of(&e)).unwrap_err().contains("uid"));
    }
}
