//! Talking to the customer's directory with ldap3 over rustls.

use crate::config::AgentConfig;
use crate::explain;
use ldap3::adapters::{EntriesOnly, PagedResults};
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings};
use std::time::Duration;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connects and binds as configured (anonymously when no bind_dn is given).
pub async fn connect(cfg: &AgentConfig) -> anyhow::Result<Ldap> {
    let l = &cfg.backend.ldap;
    let mut settings = LdapConnSettings::new()
        .set_conn_timeout(CONNECT_TIMEOUT)
        .set_starttls(l.starttls);
    if l.addr.is_ldaps() || l.starttls {
        if l.tls_insecure_skip_verify {
            tracing::warn!(
                addr = l.addr.as_str(),
                "tls_insecure_skip_verify is set: the directory's certificate is NOT checked; anyone on the path can read the bind password"
            );
            settings = settings.set_no_tls_verify(true);
        } else {
            // Our own config: ldap3's built-in root loading ends up empty on any error.
            settings = settings.set_config(crate::tls::client_config(l.tls_ca_file.as_deref())?);
        }
    }
    let (conn, mut ldap) = LdapConnAsync::with_settings(settings, l.addr.as_str())
        .await
        .map_err(|e| {
            let what = format!("cannot connect to the directory at {}", l.addr.as_str());
            let text = explain::chain(&e);
            match untrusted_certificate_hint(&text, l.tls_ca_file.as_deref()) {
                Some(hint) => anyhow::anyhow!("{what}: {hint} ({text})"),
                None => anyhow::anyhow!("{}", explain::ldap(&what, l.operation_timeout(), &e)),
            }
        })?;
    ldap3::drive!(conn);
    let dn = l.bind_dn.as_deref().unwrap_or("");
    let password = cfg.bind_password()?;
    let pw = password.as_ref().map(|p| p.expose()).unwrap_or("");
    if !dn.is_empty() && pw.is_empty() {
        anyhow::bail!(
            "bind_dn is set but the bind password is empty; an LDAP bind with an empty password is unauthenticated"
        );
    }
    ldap.with_timeout(l.operation_timeout())
        .simple_bind(dn, pw)
        .await
        .and_then(|r| r.success())
        .map_err(|e| {
            anyhow::anyhow!(
                "{}",
                explain::ldap(&format!("bind as `{dn}`"), l.operation_timeout(), &e)
            )
        })?;
    Ok(ldap)
}

/// What to check when the directory's TLS certificate was refused: `tls_ca_file`, not
/// `AD_CONNECT_CA`, which covers only the connection to the ad-connect server.
fn untrusted_certificate_hint(text: &str, ca_file: Option<&std::path::Path>) -> Option<String> {
    if !text.to_lowercase().contains("certificate") {
        return None;
    }
    let using = match ca_file {
        Some(p) => format!("the CA in tls_ca_file ({}) did not sign it", p.display()),
        None => "no tls_ca_file is set, and no system CA signed it".to_owned(),
    };
    Some(format!(
        "the directory's TLS certificate is not trusted ({using}); set tls_ca_file in adc.yaml to the CA that signed it (AD_CONNECT_CA covers only the connection to the ad-connect server)"
    ))
}

/// A directory entry as read: its DN, and its attributes in the order the directory
/// sent them, each value as its bytes (text or not: `sync::mapping::Entry` reads them).
/// Taken straight from ldap3's tag tree: its `SearchEntry` hashed every attribute name
/// into two maps that nothing here looks up by hash (a twelfth of the agent's CPU
/// reading a directory).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DirEntry {
    pub dn: String,
    pub attrs: Vec<(String, Vec<Vec<u8>>)>,
}

#[cfg(test)]
impl DirEntry {
    /// An entry of one value per attribute (sample values).
    pub fn of_values(dn: &str, attrs: &[(&str, &[u8])]) -> DirEntry {
        DirEntry {
            dn: dn.to_owned(),
            attrs: attrs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), vec![v.to_vec()]))
                .collect(),
        }
    }
}

/// A search result as an entry (RFC 4511 SearchResultEntry: the DN, then a sequence of
/// attributes, each a type and a set of values); `None` when it is malformed, which
/// ldap3's own reading of it would panic on.
pub fn entry(raw: ldap3::ResultEntry) -> Option<DirEntry> {
    let mut parts = raw.0.match_id(4)?.expect_constructed()?.into_iter();
    let dn = String::from_utf8(parts.next()?.expect_primitive()?).ok()?;
    let listed = parts.next()?.expect_constructed()?;
    let mut attrs = Vec::with_capacity(listed.len());
    for attribute in listed {
        let mut a = attribute.expect_constructed()?.into_iter();
        let name = String::from_utf8(a.next()?.expect_primitive()?).ok()?;
        let values = a
            .next()?
            .expect_constructed()?
            .into_iter()
            .map(|v| v.expect_primitive())
            .collect::<Option<Vec<Vec<u8>>>>()?;
        attrs.push((name, values));
    }
    Some(DirEntry { dn, attrs })
}

/// The adapters of a paged read: entries only, adc.yaml's `page_size` per page.
pub fn paged<'a, S, A>(cfg: &AgentConfig) -> Vec<Box<dyn ldap3::adapters::Adapter<'a, S, A>>>
where
    S: AsRef<str> + Clone + std::fmt::Debug + Send + Sync + 'a,
    A: AsRef<[S]> + Clone + std::fmt::Debug + Send + Sync + 'a,
{
    let page = i32::try_from(cfg.backend.ldap.sync.page_size.get()).unwrap_or(i32::MAX);
    vec![
        Box::new(EntriesOnly::new()),
        Box::new(PagedResults::new(page)),
    ]
}

/// A search's entries read ahead on a task of their own. A paged search asks for the
/// next page when its stream is handed the last page's end; read inline, that was once
/// the caller had mapped and hashed every entry of the page, so the directory waited
/// for the agent and the agent for the directory, page after page. Read ahead, the
/// next page is asked for as soon as the last one has arrived and the directory
/// prepares it while the agent works.
pub struct ReadAhead {
    entries: tokio::sync::mpsc::Receiver<ldap3::result::Result<ldap3::ResultEntry>>,
    reader: tokio::task::JoinHandle<SearchStream>,
}

type SearchStream = ldap3::SearchStream<'static, String, Vec<String>>;

/// Entries read ahead at most: the next page is asked for when the agent has this many
/// left of the last one, about as long as the directory takes to prepare a page, and
/// the entries held stay a few hundred kilobytes (a whole page of 500 ahead cost a
/// million users' read a few megabytes of its 64).
const AHEAD: usize = 256;

impl ReadAhead {
    /// Reads `stream` up to [`AHEAD`] entries (or adc.yaml's `page_size`, if smaller)
    /// ahead of the caller.
    pub fn start(cfg: &AgentConfig, mut stream: SearchStream) -> ReadAhead {
        let page = usize::try_from(cfg.backend.ldap.sync.page_size.get()).unwrap_or(usize::MAX);
        let (tx, entries) = tokio::sync::mpsc::channel(page.clamp(1, AHEAD));
        let reader = tokio::spawn(async move {
            loop {
                match stream.next().await {
                    // A failed send: the caller stopped reading and ends the search.
                    Ok(Some(e)) => {
                        if tx.send(Ok(e)).await.is_err() {
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        break;
                    }
                }
            }
            stream
        });
        ReadAhead { entries, reader }
    }

    /// The next entry, `None` at the end, or why the read broke off.
    pub async fn next(&mut self) -> ldap3::result::Result<Option<ldap3::ResultEntry>> {
        self.entries.recv().await.transpose()
    }

    /// The search's result, once every entry was taken ([`ldap3::SearchStream::finish`]).
    pub async fn finish(self) -> ldap3::LdapResult {
        drop(self.entries);
        match self.reader.await {
            Ok(mut stream) => stream.finish().await,
            Err(e) => ldap3::LdapResult {
                rc: 80, // other
                matched: String::new(),
                text: format!("the directory read's task ended: {e}"),
                refs: Vec::new(),
                ctrls: Vec::new(),
            },
        }
    }
}

pub fn search_error(cfg: &AgentConfig, e: &ldap3::LdapError) -> anyhow::Error {
    let l = &cfg.backend.ldap;
    search_error_at(cfg, &l.base_dn, &l.sync.filter, e)
}

/// [`search_error`] for a search under `base` with `filter` (the groups', say).
pub fn search_error_at(
    cfg: &AgentConfig,
    base: &str,
    filter: &str,
    e: &ldap3::LdapError,
) -> anyhow::Error {
    anyhow::anyhow!(
        "{}",
        explain::ldap(
            &format!("the search for {filter} under `{base}`"),
            cfg.backend.ldap.operation_timeout(),
            e
        )
    )
}

/// Counts the entries the sync would read: the configured base, scope and filter,
/// paged as configured, no attributes fetched.
pub async fn count_entries(ldap: &mut Ldap, cfg: &AgentConfig) -> anyhow::Result<u64> {
    let l = &cfg.backend.ldap;
    count_matching(ldap, cfg, &l.base_dn, l.scope.into(), &l.sync.filter).await
}

/// How many entries a search under `base` with `filter` finds (read page by page).
pub async fn count_matching(
    ldap: &mut Ldap,
    cfg: &AgentConfig,
    base: &str,
    scope: ldap3::Scope,
    filter: &str,
) -> anyhow::Result<u64> {
    let l = &cfg.backend.ldap;
    let mut stream = ldap
        .with_timeout(l.operation_timeout())
        .streaming_search_with(paged(cfg), base, scope, filter, vec!["1.1"])
        .await
        .map_err(|e| search_error_at(cfg, base, filter, &e))?;
    let mut n = 0u64;
    while stream
        .next()
        .await
        .map_err(|e| search_error_at(cfg, base, filter, &e))?
        .is_some()
    {
        n += 1;
    }
    stream
        .finish()
        .await
        .success()
        .map_err(|e| search_error_at(cfg, base, filter, &e))?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ldap3::asn1::{PL, StructureTag, TagClass};

    fn octets(v: &[u8]) -> StructureTag {
        StructureTag {
            class: TagClass::Universal,
            id: 4,
            payload: PL::P(v.to_vec()),
        }
    }

    fn constructed(class: TagClass, id: u64, inner: Vec<StructureTag>) -> StructureTag {
        StructureTag {
            class,
            id,
            payload: PL::C(inner),
        }
    }

    fn attribute(name: &str, values: &[&[u8]]) -> StructureTag {
        let set = constructed(
            TagClass::Universal,
            17,
            values.iter().map(|v| octets(v)).collect(),
        );
        constructed(TagClass::Universal, 16, vec![octets(name.as_bytes()), set])
    }

    fn result_entry(dn: &[u8], attributes: Vec<StructureTag>) -> ldap3::ResultEntry {
        let list = constructed(TagClass::Universal, 16, attributes);
        ldap3::ResultEntry::new(constructed(
            TagClass::Application,
            4,
            vec![octets(dn), list],
        ))
    }

    #[test]
    fn an_entry_reads_as_its_dn_and_its_attributes_in_order_with_every_value() {
        let guid: &[u8] = &[0xe0, 0x04, 0x25, 0xff];
        let raw = result_entry(
            b"uid=ann,dc=example,dc=com",
            vec![
                attribute("uid", &[b"ann"]),
                attribute("objectGUID", &[guid]),
                attribute("mail", &[b"ann@example.com", b"a@example.com"]),
            ],
        );
        assert_eq!(
            entry(raw),
            Some(DirEntry {
                dn: "uid=ann,dc=example,dc=com".into(),
                attrs: vec![
                    ("uid".into(), vec![b"ann".to_vec()]),
                    ("objectGUID".into(), vec![guid.to_vec()]),
                    (
                        "mail".into(),
                        vec![b"ann@example.com".to_vec(), b"a@example.com".to_vec()]
                    ),
                ],
            })
        );
    }

    #[test]
    fn a_malformed_entry_is_none_not_a_panic() {
        // An attribute without its set of values; a DN that is not UTF-8; not an entry.
        let no_values = constructed(TagClass::Universal, 16, vec![octets(b"uid")]);
        assert_eq!(entry(result_entry(b"uid=ann", vec![no_values])), None);
        assert_eq!(entry(result_entry(&[0xff, 0xfe], vec![])), None);
        let done = ldap3::ResultEntry::new(constructed(TagClass::Application, 5, Vec::new()));
        assert_eq!(entry(done), None);
    }
}
