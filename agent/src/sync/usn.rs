//! Active Directory's delta reads (issue 17): entries whose `uSNChanged` passed the last
//! run's `highestCommittedUSN`, and deletions from tombstones. A USN is a counter of one
//! domain controller: the watermark is bound to that DC (`dsServiceName`) and to its
//! database's `invocationId`, which changes when it is restored from a backup. Either
//! differing asks for a full read.

use super::mapping::{Entry, guid_to_uuid};
use crate::config::AgentConfig;
use crate::ldap::DirEntry;
use ldap3::Scope;
use ldap3::controls::RawControl;
use uuid::Uuid;

/// The watermark's token: `usn:<highestCommittedUSN>:<invocationId>:<dsServiceName>`.
const TOKEN_PREFIX: &str = "usn:";
/// LDAP_SERVER_SHOW_DELETED_OID: tombstones are returned too.
const SHOW_DELETED_OID: &str = "1.2.840.113556.1.4.417";

/// Where a domain controller's changes stand.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mark {
    pub usn: u64,
    pub invocation: Uuid,
    /// The DC's `dsServiceName` (its NTDS Settings object).
    pub dsa: String,
}

impl Mark {
    pub fn token(&self) -> String {
        format!(
            "{TOKEN_PREFIX}{}:{}:{}",
            self.usn,
            self.invocation.hyphenated(),
            self.dsa
        )
    }

    pub fn parse(token: &str) -> Option<Mark> {
        let rest = token.strip_prefix(TOKEN_PREFIX)?;
        let mut parts = rest.splitn(3, ':');
        let usn = parts.next()?.parse().ok()?;
        let invocation = parts.next()?.parse().ok()?;
        let dsa = parts.next()?.to_owned();
        (!dsa.is_empty()).then_some(Mark {
            usn,
            invocation,
            dsa,
        })
    }
}

/// Whether the watermark `old` can be continued from on the DC as it is `now`.
pub fn same_dc(old: &Mark, now: &Mark) -> Result<(), String> {
    if !old.dsa.eq_ignore_ascii_case(&now.dsa) {
        return Err(format!(
            "another domain controller answers ({}); the watermark is from {}, and USNs are counted per domain controller",
            now.dsa, old.dsa
        ));
    }
    if old.invocation != now.invocation {
        return Err(format!(
            "the domain controller's invocationId changed ({} → {}): it was restored from a backup, so its USNs are not comparable",
            old.invocation, now.invocation
        ));
    }
    if now.usn < old.usn {
        return Err(format!(
            "the domain controller's highestCommittedUSN went back ({} → {})",
            old.usn, now.usn
        ));
    }
    Ok(())
}

/// The users' filter narrowed to entries changed after `usn`.
pub fn changed_filter(filter: &str, usn: u64) -> String {
    format!("(&{filter}(uSNChanged>={}))", usn.saturating_add(1))
}

/// Tombstones of objects deleted after `usn`; of one object class only with `class`
/// (a tombstone keeps its `objectClass`).
pub fn tombstone_filter(usn: u64, class: Option<&str>) -> String {
    let class = class.map_or_else(String::new, |c| {
        format!("(objectClass={})", ldap3::ldap_escape(c))
    });
    format!(
        "(&(isDeleted=TRUE){class}(uSNChanged>={}))",
        usn.saturating_add(1)
    )
}

/// The users a group with the RID `rid` holds through their `primaryGroupID` (Active
/// Directory never lists them in `member`), within the users' `filter`.
pub fn primary_members_filter(filter: &str, rid: u32) -> String {
    format!("(&{filter}(primaryGroupID={rid}))")
}

/// The root DSE's `highestCommittedUSN`, `dsServiceName` and `defaultNamingContext`.
pub fn root_dse(e: &DirEntry) -> Result<(u64, String, String), String> {
    let e = Entry::of(e);
    let text = |name: &str| {
        e.text(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| format!("the root DSE has no `{name}`: is this Active Directory?"))
    };
    let usn = text("highestCommittedUSN")?;
    let usn = usn
        .parse()
        .map_err(|_| format!("the root DSE's highestCommittedUSN `{usn}` is not a number"))?;
    Ok((usn, text("dsServiceName")?, text("defaultNamingContext")?))
}

/// The NTDS Settings object's `invocationId`: 16 bytes, in objectGUID's byte order (a
/// value that happens to be valid UTF-8 comes among the text attributes).
pub fn invocation_id(e: &DirEntry) -> Result<Uuid, String> {
    Entry::of(e)
        .bytes("invocationId")
        .and_then(|b| guid_to_uuid(&b))
        .ok_or_else(|| "the domain controller's invocationId is missing or not 16 bytes".into())
}

/// A tombstone's external ID (its objectGUID, as the mapping writes it).
pub fn tombstone_id(e: &DirEntry) -> Option<String> {
    Entry::of(e).external_id("objectGUID")
}

async fn one(
    cfg: &AgentConfig,
    conn: &mut ldap3::Ldap,
    base: &str,
    attrs: Vec<&str>,
) -> Result<DirEntry, String> {
    let (entries, _) = conn
        .with_timeout(cfg.backend.ldap.operation_timeout())
        .search(base, Scope::Base, "(objectClass=*)", attrs)
        .await
        .and_then(|r| r.success())
        .map_err(|e| format!("reading `{base}`: {e}"))?;
    let raw = entries
        .into_iter()
        .next()
        .ok_or_else(|| format!("`{base}` was not found"))?;
    crate::ldap::entry(raw).ok_or_else(|| format!("`{base}` came malformed"))
}

/// The DC's mark now, and the domain's naming context (where tombstones live).
pub async fn current(cfg: &AgentConfig, conn: &mut ldap3::Ldap) -> Result<(Mark, String), String> {
    let dse = one(
        cfg,
        conn,
        "",
        vec![
            "highestCommittedUSN",
            "dsServiceName",
            "defaultNamingContext",
        ],
    )
    .await?;
    let (usn, dsa, naming_context) = root_dse(&dse)?;
    let settings = one(cfg, conn, &dsa, vec!["invocationId"]).await?;
    let invocation = invocation_id(&settings)?;
    Ok((
        Mark {
            usn,
            invocation,
            dsa,
        },
        naming_context,
    ))
}

/// The external IDs of objects deleted after `usn` (tombstones, by the Show Deleted
/// control). The error says why they could not be read (the account lacks the right,
/// more than one page of them): then the deletions wait for the next full read.
pub async fn deleted_since(
    cfg: &AgentConfig,
    conn: &mut ldap3::Ldap,
    naming_context: &str,
    usn: u64,
    class: Option<&str>,
) -> Result<Vec<String>, String> {
    let show_deleted = RawControl {
        ctype: SHOW_DELETED_OID.into(),
        crit: true,
        val: None,
    };
    let ldap3::SearchResult(entries, result) = conn
        .with_timeout(cfg.backend.ldap.operation_timeout())
        .with_controls(show_deleted)
        .search(
            naming_context,
            Scope::Subtree,
            &tombstone_filter(usn, class),
            vec!["objectGUID"],
        )
        .await
        .map_err(|e| format!("reading the tombstones: {e}"))?;
    if result.rc != 0 {
        let (meaning, _) = crate::explain::result_code(result.rc);
        return Err(format!(
            "reading the tombstones: {meaning} (result code {})",
            result.rc
        ));
    }
    let mut ids = Vec::new();
    for raw in entries {
        let e = crate::ldap::entry(raw).ok_or("a tombstone came malformed")?;
        ids.extend(tombstone_id(&e));
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    // invocationId and objectGUID as a DC sends them: the first three fields of the
    // GUID little-endian. This one shows as {6b4fa2c1-8d3e-4f5a-9b7c-0d1e2f3a4b5c}.
    const GUID_BYTES: [u8; 16] = [
        0xc1, 0xa2, 0x4f, 0x6b, 0x3e, 0x8d, 0x5a, 0x4f, 0x9b, 0x7c, 0x0d, 0x1e, 0x2f, 0x3a, 0x4b,
        0x5c,
    ];
    const DSA: &str = "CN=NTDS Settings,CN=DC1,CN=Servers,CN=Default-First-Site-Name,CN=Sites,CN=Configuration,DC=corp,DC=example,DC=com";

    fn entry(text: &[(&str, &str)], bin: &[(&str, &[u8])]) -> DirEntry {
        let text = text.iter().map(|(k, v)| (*k, v.as_bytes()));
        DirEntry::of_values("", &text.chain(bin.iter().copied()).collect::<Vec<_>>())
    }

    fn mark(usn: u64) -> Mark {
        Mark {
            usn,
            invocation: "6b4fa2c1-8d3e-4f5a-9b7c-0d1e2f3a4b5c".parse().unwrap(),
            dsa: DSA.into(),
        }
    }

    #[test]
    fn the_root_dse_gives_the_usn_the_dc_and_the_domain() {
        let dse = entry(
            &[
                ("highestCommittedUSN", "2147483658"),
                ("dsServiceName", DSA),
                ("defaultNamingContext", "DC=corp,DC=example,DC=com"),
            ],
            &[],
        );
        assert_eq!(
            root_dse(&dse).unwrap(),
            (
                2_147_483_658,
                DSA.to_owned(),
                "DC=corp,DC=example,DC=com".to_owned()
            )
        );
        let slapd = entry(&[("namingContexts", "dc=example,dc=com")], &[]);
        assert!(root_dse(&slapd).unwrap_err().contains("Active Directory"));
        let bad = entry(
            &[
                ("highestCommittedUSN", "12x"),
                ("dsServiceName", DSA),
                ("defaultNamingContext", "DC=corp"),
            ],
            &[],
        );
        assert!(root_dse(&bad).unwrap_err().contains("`12x`"));
    }

    #[test]
    fn the_invocation_id_and_a_tombstone_s_guid_read_in_windows_byte_order() {
        let settings = entry(&[], &[("invocationId", &GUID_BYTES)]);
        assert_eq!(
            invocation_id(&settings).unwrap().to_string(),
            "6b4fa2c1-8d3e-4f5a-9b7c-0d1e2f3a4b5c"
        );
        assert!(invocation_id(&entry(&[], &[("invocationId", &GUID_BYTES[..8])])).is_err());
        let tombstone = entry(&[("isDeleted", "TRUE")], &[("objectGUID", &GUID_BYTES)]);
        assert_eq!(
            tombstone_id(&tombstone).as_deref(),
            Some("6b4fa2c1-8d3e-4f5a-9b7c-0d1e2f3a4b5c")
        );
        // Sixteen bytes that are all ASCII (one GUID in 65 536 is) arrive as text.
        let ascii = entry(&[("invocationId", "cZZZZZZZZZZZZZZZ")], &[]);
        assert_eq!(
            invocation_id(&ascii).unwrap().to_string(),
            "5a5a5a63-5a5a-5a5a-5a5a-5a5a5a5a5a5a"
        );
        let tombstone = entry(&[("objectGUID", "cZZZZZZZZZZZZZZZ")], &[]);
        assert_eq!(
            tombstone_id(&tombstone).as_deref(),
            Some("5a5a5a63-5a5a-5a5a-5a5a-5a5a5a5a5a5a")
        );
    }

    #[test]
    fn a_token_names_the_usn_the_database_and_the_dc() {
        let m = mark(12_345);
        let t = m.token();
        assert_eq!(
            t,
            format!("usn:12345:6b4fa2c1-8d3e-4f5a-9b7c-0d1e2f3a4b5c:{DSA}")
        );
        assert_eq!(Mark::parse(&t), Some(m));
        for bad in [
            "usn:",
            "usn:x:y:z",
            "rfc4533:abc",
            "usn:1:6b4fa2c1-8d3e-4f5a-9b7c-0d1e2f3a4b5c:",
        ] {
            assert_eq!(Mark::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn another_dc_a_restore_or_a_usn_gone_back_asks_for_a_full_read() {
        assert_eq!(same_dc(&mark(100), &mark(250)), Ok(()));
        let other = Mark {
            dsa: DSA.replace("DC1", "DC2"),
            ..mark(250)
        };
        assert!(
            same_dc(&mark(100), &other)
                .unwrap_err()
                .contains("another domain controller")
        );
        let restored = Mark {
            invocation: Uuid::nil(),
            ..mark(250)
        };
        assert!(
            same_dc(&mark(100), &restored)
                .unwrap_err()
                .contains("restored")
        );
        assert!(
            same_dc(&mark(100), &mark(99))
                .unwrap_err()
                .contains("went back")
        );
    }

    #[test]
    fn the_filters_ask_for_what_changed_after_the_watermark() {
        assert_eq!(
            changed_filter("(&(objectClass=user)(objectCategory=person))", 4711),
            "(&(&(objectClass=user)(objectCategory=person))(uSNChanged>=4712))"
        );
        assert_eq!(
            tombstone_filter(4711, None),
            "(&(isDeleted=TRUE)(uSNChanged>=4712))"
        );
        // A group's tombstone keeps its objectClass; only groups' are deletions of groups.
        assert_eq!(
            tombstone_filter(4711, Some("group")),
            "(&(isDeleted=TRUE)(objectClass=group)(uSNChanged>=4712))"
        );
        // Domain Users (RID 513) holds most users only through their primaryGroupID.
        assert_eq!(
            primary_members_filter("(&(objectClass=user)(objectCategory=person))", 513),
            "(&(&(objectClass=user)(objectCategory=person))(primaryGroupID=513))"
        );
    }
}
