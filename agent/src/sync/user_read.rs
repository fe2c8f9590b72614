//! The users' read as a task of its own: it pages through the directory, maps each
//! entry and hashes it while the run's task receives the manifest and compares. The
//! directory is read while the manifest is still arriving, and reading, mapping and
//! hashing take a core of their own beside the comparison and the sending.

use super::groups::{dn_key, uid_key};
use super::mapping::{Entry, Mapper};
use super::{delta, usn};
use crate::config::{AgentConfig, Flavour};
use crate::ldap;
use adc_shared::UserRecord;
use adc_shared::record::ContentDigest;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc;

/// Entries per message from the reader to the run.
const CHUNK: usize = 256;
/// Chunks the reader may be ahead: about 16 000 entries, what this machine reads while
/// a manifest of 100 000 arrives, and a bound on the memory it costs (a few MB).
const AHEAD: usize = 16;

/// One user entry as read and mapped.
pub struct ReadUser {
    pub id: Option<String>,
    pub dn: String,
    pub mapped: Result<(UserRecord, ContentDigest), String>,
    /// Keys to resolve member values by, when groups are read.
    pub keys: Option<Keys>,
}

pub struct Keys {
    pub dn: u128,
    pub uid: Option<u128>,
    pub primary: Option<u32>,
}

pub enum Read {
    Users(Vec<ReadUser>),
    /// The read ended completely, or why it is not complete.
    Done(Result<ReadEnd, String>),
    /// The directory would not continue from the watermark (before any entry): the
    /// run reads in full instead, and says why.
    Refused(String),
}

/// How the users are read.
pub enum Mode {
    /// Every entry; `watermark`: take the directory's watermark first, for the next run.
    Full { watermark: bool },
    /// Only what changed since the watermark.
    Delta(delta::Since),
}

/// A complete read.
#[derive(Debug, Default)]
pub struct ReadEnd {
    /// Entries read (a delta read: the changed ones).
    pub count: u64,
    /// Where the next run may continue from (a watermark's token).
    pub token: Option<String>,
    /// A delta read: the external IDs the directory said are gone, and whether some
    /// deletions could not be proven (they wait for the next full read).
    pub deletions: Vec<String>,
    pub deletions_deferred: bool,
}

/// What member values may name a user by, when groups are read.
#[derive(Clone)]
pub struct MemberKeys {
    pub uid_attribute: Option<String>,
    pub primary_group: bool,
}

/// Starts the read on `conn`; its entries arrive on the returned channel.
pub fn start(
    cfg: &AgentConfig,
    conn: ldap3::Ldap,
    member_keys: Option<MemberKeys>,
    read: Arc<AtomicU64>,
    mode: Mode,
) -> mpsc::Receiver<Read> {
    let (tx, rx) = mpsc::channel(AHEAD);
    let cfg = cfg.clone();
    tokio::spawn(async move {
        let done = read_users(&cfg, conn, member_keys.as_ref(), &read, &tx, mode).await;
        let m = match done {
            Ok(end) => Read::Done(Ok(end)),
            Err(Stop::Failed(reason)) => Read::Done(Err(reason)),
            Err(Stop::Refused(reason)) => Read::Refused(reason),
        };
        // The run may have ended already: then nobody listens.
        let _ = tx.send(m).await;
    });
    rx
}

enum Stop {
    Failed(String),
    Refused(String),
}

impl From<String> for Stop {
    fn from(reason: String) -> Self {
        Stop::Failed(reason)
    }
}

async fn read_users(
    cfg: &AgentConfig,
    mut conn: ldap3::Ldap,
    member_keys: Option<&MemberKeys>,
    read: &AtomicU64,
    out: &mpsc::Sender<Read>,
    mode: Mode,
) -> Result<ReadEnd, Stop> {
    let l = &cfg.backend.ldap;
    let mapper = Mapper::new(cfg);
    let mut attributes = mapper.attributes();
    if let Some(k) = member_keys {
        attributes.extend(k.uid_attribute.iter().cloned());
        if k.primary_group {
            attributes.push("primaryGroupID".into());
        }
    }
    let mut end = ReadEnd::default();
    // A delta read's state: RFC 4533's, or Active Directory's (the USN it starts
    // after, and where its tombstones live); `None` for a full read.
    let mut delta = None;
    let mut usn_delta = None;
    let mut filter = l.sync.filter.clone();
    let adapters = match mode {
        Mode::Full { watermark } => {
            if watermark {
                match take_watermark(cfg, &mut conn).await {
                    Ok(t) => end.token = Some(t),
                    Err(reason) => {
                        tracing::info!(reason, "no watermark: the next run reads in full too")
                    }
                }
            }
            crate::ldap::paged(cfg)
        }
        Mode::Delta(delta::Since::Cookie(cookie)) => {
            conn.with_controls(delta::request(Some(cookie.clone())));
            // Without news the directory sends no cookie: the one given stays good.
            end.token = Some(delta::cookie_token(&cookie));
            delta = Some(delta::Delta::new(&mapper));
            Vec::new()
        }
        Mode::Delta(delta::Since::Usn(old)) => {
            // Taken before the read: what changes meanwhile is read again next time.
            let (now, naming_context) =
                usn::current(cfg, &mut conn).await.map_err(Stop::Refused)?;
            usn::same_dc(&old, &now).map_err(Stop::Refused)?;
            end.token = Some(now.token());
            filter = usn::changed_filter(&l.sync.filter, old.usn);
            usn_delta = Some((old.usn, naming_context));
            crate::ldap::paged(cfg)
        }
    };
    let stream = conn
        .with_timeout(l.operation_timeout())
        .streaming_search_with(adapters, &l.base_dn, l.scope.into(), &filter, attributes)
        .await
        .map_err(|e| crate::explain::anyhow_chain(&ldap::search_error(cfg, &e)))?;
    // Read ahead: the directory prepares the next page while this one is mapped.
    let mut stream = ldap::ReadAhead::start(cfg, stream);
    let mut chunk = Vec::with_capacity(CHUNK);
    let mut count = 0u64;
    loop {
        let raw = match stream.next().await {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(e) => {
                return Err(Stop::Failed(crate::explain::ldap(
                    &format!("the directory read ended early after {count} entries"),
                    l.operation_timeout(),
                    &e,
                )));
            }
        };
        if let Some(d) = delta.as_mut() {
            // Only new and changed entries are mapped and sent.
            if d.take(&raw)? != Some(delta::State::Changed) {
                continue;
            }
        }
        count += 1;
        read.store(count, Ordering::Relaxed);
        let Some(entry) = ldap::entry(raw) else {
            return Err(Stop::Failed(format!(
                "entry {count} from the directory is malformed"
            )));
        };
        let view = Entry::of(&entry);
        let keys = member_keys.map(|k| Keys {
            dn: dn_key(&entry.dn),
            uid: k
                .uid_attribute
                .as_ref()
                .and_then(|a| view.text(a))
                .map(uid_key),
            primary: view
                .text("primaryGroupID")
                .filter(|_| k.primary_group)
                .and_then(|v| v.trim().parse().ok()),
        });
        chunk.push(ReadUser {
            id: mapper.external_id(&view),
            mapped: mapper.map(&view).map(|r| {
                let d = r.content_digest();
                (r, d)
            }),
            dn: entry.dn,
            keys,
        });
        if chunk.len() == CHUNK {
            let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK));
            if out.send(Read::Users(full)).await.is_err() {
                end.count = count;
                return Ok(end);
            }
        }
    }
    // Every page returned, but did the search end well? A size or time limit ends it
    // early with a result code: then nothing may be deleted (architecture §5.3 step 5).
    let result = stream.finish().await;
    if let Some(d) = delta {
        if result.rc != 0 && count == 0 && chunk.is_empty() {
            // Nothing was sent yet: read in full instead.
            return Err(Stop::Refused(delta::refusal(result.rc, &result.text)));
        }
        if result.rc == 0 {
            let done = delta::sync_done(&result)?;
            if let Some(c) = done.cookie {
                end.token = Some(delta::cookie_token(&c));
            }
            end.deletions = d.deletions;
            // Without a delete phase, an entry the directory did not mention may be gone.
            end.deletions_deferred = d.deferred || !done.refresh_deletes;
        }
    }
    if result.rc != 0 {
        let text = if result.text.is_empty() {
            String::new()
        } else {
            format!(": {}", result.text)
        };
        let (meaning, check) = crate::explain::result_code(result.rc);
        return Err(Stop::Failed(format!(
            "the directory read was incomplete after {count} entries: {meaning} (result code {}){text}; nothing is deleted; check {check}",
            result.rc
        )));
    }
    if let Some((after, naming_context)) = usn_delta {
        match usn::deleted_since(cfg, &mut conn, &naming_context, after, None).await {
            Ok(ids) => end.deletions = ids,
            Err(reason) => {
                tracing::warn!(reason, "deletions wait for the next full read");
                end.deletions_deferred = true;
            }
        }
    }
    if !chunk.is_empty() {
        let _ = out.send(Read::Users(chunk)).await;
    }
    end.count = count;
    Ok(end)
}

/// The directory's watermark now, before a full read: an RFC 4533 cookie, or a domain
/// controller's USN.
async fn take_watermark(cfg: &AgentConfig, conn: &mut ldap3::Ldap) -> Result<String, String> {
    match cfg.backend.ldap.flavour {
        Flavour::Openldap => delta::current_cookie(cfg, conn)
            .await
            .map(|c| delta::cookie_token(&c)),
        Flavour::ActiveDirectory => usn::current(cfg, conn).await.map(|(m, _)| m.token()),
    }
}
