//! The agent ⇄ server wire protocol (architecture §7.3): JSON messages, one per WebSocket
//! text frame, tagged by `type`.
//!
//! Compatibility rules:
//! - The first message on a connection is the agent's [`Hello`] carrying
//!   [`PROTOCOL_VERSION`]; the server answers [`Welcome`] or an [`ServerMessage::Error`]
//!   with code [`ErrorCode::IncompatibleProtocol`] and closes. Versions are compatible
//!   when the peer's lies in `MIN_COMPATIBLE_VERSION..=PROTOCOL_VERSION`.
//! - A field added later carries `#[serde(default)]` and a comment naming the protocol
//!   version that introduced it, so older peers still parse.
//! - A new message type needs a protocol version bump: an unknown `type` is a
//!   malformed message, which closes the connection with a reason.

use crate::group::{GroupRecord, GroupState, MemberDelta, Unresolved};
use crate::record::UserRecord;
use crate::secret::Secret;
use crate::settings::{EffectiveSettings, Settings};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The protocol version this build speaks. 2 added groups and memberships, 3 the
/// read's progress, 4 delta reads (watermarks).
pub const PROTOCOL_VERSION: u32 = 4;
/// The first version with groups: the server sends a group manifest to agents that
/// speak it, and takes their group messages.
pub const GROUPS_VERSION: u32 = 2;
/// The first version with [`AgentMessage::Progress`]: the agent sends it only to a
/// server that speaks it.
pub const PROGRESS_VERSION: u32 = 3;
/// The first version with delta reads: the server offers a [`Watermark`] in
/// [`StartRun`], the agent says which kind of read it does in its manifest request and
/// returns the next watermark with `read_complete`.
pub const DELTA_VERSION: u32 = 4;
/// The oldest peer version this build still talks to.
pub const MIN_COMPATIBLE_VERSION: u32 = 1;
/// The largest message either side accepts, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;
/// The most memberships (added or removed) and unresolved reports one message may carry.
pub const MAX_MEMBERSHIPS_PER_MESSAGE: usize = 10_000;
/// Seconds between heartbeats in each direction.
pub const HEARTBEAT_INTERVAL_SECS: u64 = 15;
/// A peer silent for this long is considered gone.
pub const HEARTBEAT_TIMEOUT_SECS: u64 = 45;
/// The WebSocket path on the server.
pub const CONNECT_PATH: &str = "/api/v1/agent/connect";

/// Whether a peer speaking `version` can talk to this build; the error says why not.
pub fn check_compatible(version: u32) -> Result<(), String> {
    if (MIN_COMPATIBLE_VERSION..=PROTOCOL_VERSION).contains(&version) {
        Ok(())
    } else if version > PROTOCOL_VERSION {
        Err(format!(
            "peer speaks protocol {version}, this build speaks {MIN_COMPATIBLE_VERSION}..={PROTOCOL_VERSION}: upgrade this side"
        ))
    } else {
        Err(format!(
            "peer speaks protocol {version}, this build needs at least {MIN_COMPATIBLE_VERSION}: upgrade the peer"
        ))
    }
}

/// Messages from the agent to the server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AgentMessage {
    Hello(Hello),
    Heartbeat,
    /// The agent reloaded adc.yaml (SIGHUP); these are its settings now.
    SettingsChanged {
        settings: Settings,
    },
    /// `adc imp`: asks the server to start a run on this connection.
    RequestRun {
        dry_run: bool,
        full: bool,
    },
    /// Asks for the manifest of the run the server started.
    ManifestRequest {
        run_id: Uuid,
        /// Whether this run reads groups (protocol 2, added after its first build;
        /// absent: false). The server then keeps what a first run stores, to name
        /// members from it.
        #[serde(default)]
        groups: bool,
        /// Which kind of read this run does (protocol 4; absent: a full read). A delta
        /// read gets an empty manifest: the agent sends what the directory says changed.
        #[serde(default)]
        read: Option<ReadPlan>,
    },
    /// Users new or changed in the directory; acknowledged by [`ServerMessage::BatchAck`].
    Batch {
        run_id: Uuid,
        seq: u64,
        users: Vec<UserRecord>,
        /// Entries the agent read but could not map; they are not deleted.
        #[serde(default)]
        errors: Vec<EntryError>,
    },
    /// The directory read finished completely: every page returned, no error, no limit
    /// hit. Only after this may deletions be sent (architecture §5.3 step 5).
    ReadComplete {
        run_id: Uuid,
        read: u64,
        /// Groups read, when the agent read groups (protocol 2): only then may it send
        /// group deletions and member removals.
        #[serde(default)]
        groups_read: Option<u64>,
        /// Where the next run may continue reading from (protocol 4): committed by the
        /// server only if this run succeeds. `None`: the directory offers no delta
        /// reads, so the next run reads in full.
        #[serde(default)]
        watermark: Option<Watermark>,
        /// A delta read that could not prove which entries were deleted (the directory
        /// answered without a delete phase): the deletions wait for the next full read
        /// (protocol 4).
        #[serde(default)]
        deletions_deferred: bool,
    },
    /// Groups new or changed in the directory (protocol 2); acknowledged like a batch.
    GroupBatch {
        run_id: Uuid,
        seq: u64,
        groups: Vec<GroupRecord>,
        /// Group entries the agent read but could not map; they are not deleted.
        #[serde(default)]
        errors: Vec<EntryError>,
    },
    /// Memberships the directory has and the manifest lacks, and per group the member
    /// values that name nobody of the synchronization (protocol 2). Sent after every
    /// user batch and after the group batches of the groups it names (more group
    /// batches may follow it: every server of protocol 2 takes them), before
    /// `read_complete`.
    MembersAdded {
        run_id: Uuid,
        seq: u64,
        added: Vec<MemberDelta>,
        #[serde(default)]
        unresolved: Vec<Unresolved>,
    },
    /// A delta read's groups that changed (protocol 4): asks for what the server holds
    /// of each — its members with their DNs — answered by `group_manifest_chunk`s, the
    /// last with `last`. Sent after every user and group batch was acknowledged.
    GroupStateRequest {
        run_id: Uuid,
        groups: Vec<String>,
    },
    /// External IDs of manifest groups the complete read did not see (protocol 2).
    GroupDeletions {
        run_id: Uuid,
        seq: u64,
        external_ids: Vec<String>,
    },
    /// Memberships of the manifest the complete read did not find (protocol 2).
    MembersRemoved {
        run_id: Uuid,
        seq: u64,
        removed: Vec<MemberDelta>,
    },
    /// External IDs of the manifest the complete read did not see.
    Deletions {
        run_id: Uuid,
        seq: u64,
        external_ids: Vec<String>,
    },
    /// Everything was sent.
    Done {
        run_id: Uuid,
    },
    /// How far the directory read has got (protocol 3): entries read so far, sent
    /// about once a second while it changes. Not acknowledged.
    Progress {
        run_id: Uuid,
        read: u64,
    },
    /// The run cannot go on (the read ended early, the directory failed); nothing more
    /// will be sent for it and nothing may be deleted.
    RunFailed {
        run_id: Uuid,
        reason: String,
    },
    /// The answer to [`ServerMessage::Authenticate`].
    AuthResult {
        request_id: Uuid,
        outcome: AuthOutcome,
    },
}

/// What the directory said about a username and password (architecture §6).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum AuthOutcome {
    /// Exactly one entry matched and the bind as it succeeded.
    Ok { dn: String },
    /// Wrong username or password, no entry, or several: all look the same outside.
    Invalid,
    /// The directory could not answer (down, not configured).
    Unavailable { reason: String },
    /// The directory did not answer within adc.yaml's `authentication.timeout`.
    /// (Added in protocol 1 before its first release.)
    TimedOut,
}

/// The first message of every connection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hello {
    pub protocol_version: u32,
    pub agent_version: String,
    pub hostname: String,
    /// The settings of the agent's adc.yaml; the server's win where set.
    #[serde(default)]
    pub settings: Settings,
}

/// Messages from the server to the agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    Welcome(Welcome),
    Heartbeat,
    /// Sent just before the server closes the connection.
    Error {
        code: ErrorCode,
        message: String,
    },
    /// Read the directory and send the differences for this run.
    StartRun(StartRun),
    /// A request to start a run was refused (another run is active, …).
    RunRefused {
        reason: String,
    },
    /// Part of the manifest: (external ID, content hash) of the users the server holds
    /// for this synchronization; an empty hash asks for the user to be re-sent.
    ManifestChunk {
        run_id: Uuid,
        entries: Vec<(String, String)>,
        last: bool,
    },
    /// Part of the group manifest (protocol 2), sent after the user manifest's last
    /// chunk to agents that speak protocol 2: each group of this synchronization with
    /// its hash and direct members. Also the answer to a `group_state_request`.
    GroupManifestChunk {
        run_id: Uuid,
        groups: Vec<GroupState>,
        last: bool,
    },
    /// A batch (or deletions) `seq` was applied.
    BatchAck {
        run_id: Uuid,
        seq: u64,
    },
    /// The run ended; the agent stops working on it.
    RunFinished {
        run_id: Uuid,
        report: RunSummary,
    },
    /// Check a user's password against the directory (pass-through authentication).
    /// The password is a [`Secret`]: its `Debug` never shows it.
    Authenticate {
        request_id: Uuid,
        username: String,
        password: Secret,
    },
}

/// A directory entry that could not be turned into a user record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryError {
    pub dn: String,
    pub external_id: Option<String>,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StartRun {
    pub run_id: Uuid,
    /// Re-send every user, whatever its hash.
    pub full: bool,
    /// The settings this run applies (the server enforces them; the agent shows them).
    pub settings: EffectiveSettings,
    /// How many batches the agent may have unacknowledged.
    pub window: u32,
    /// How many users a batch may hold.
    pub batch_size: u32,
    /// Where to continue reading from (protocol 4): `None` asks for a full read (none
    /// yet, one is due, or one was asked for).
    #[serde(default)]
    pub watermark: Option<Watermark>,
}

/// Where a delta read continues from: the agent's opaque `token` (an RFC 4533 cookie,
/// say), valid only while the read settings hash to `fingerprint`. The server keeps it
/// per synchronization, so every agent of the synchronization continues from it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watermark {
    pub token: String,
    pub fingerprint: String,
}

/// Which kind of read a run does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadKind {
    /// Every entry: proves deletions, and reconciles.
    Full,
    /// Only what changed since the watermark.
    Delta,
}

/// The agent's choice of read for a run, and why when it is not what the server
/// offered (a full read although a watermark was offered).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadPlan {
    pub kind: ReadKind,
    #[serde(default)]
    pub reason: Option<String>,
}

/// What a run did, as `adc imp` prints it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSummary {
    pub status: String,
    #[serde(default)]
    pub error: Option<String>,
    pub counts: RunCounts,
    /// Which kind of read the run did, `full` or `delta`, and why (protocol 4; absent
    /// from older servers).
    #[serde(default)]
    pub read_kind: Option<String>,
    #[serde(default)]
    pub read_reason: Option<String>,
}

/// The counts of a run (architecture §5.3 step 6). `read` to `unchanged` count users,
/// the `groups_` and `members_` ones groups and memberships (protocol 2; absent from
/// older reports, read as 0); `skipped`, `conflicts`, `errors` and `held` count changes
/// of every kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunCounts {
    pub read: u64,
    pub created: u64,
    pub updated: u64,
    pub deleted: u64,
    pub disabled: u64,
    pub unchanged: u64,
    pub skipped: u64,
    pub conflicts: u64,
    pub errors: u64,
    pub held: u64,
    #[serde(default)]
    pub groups_read: u64,
    #[serde(default)]
    pub groups_created: u64,
    #[serde(default)]
    pub groups_updated: u64,
    #[serde(default)]
    pub groups_deleted: u64,
    #[serde(default)]
    pub groups_disabled: u64,
    #[serde(default)]
    pub groups_unchanged: u64,
    #[serde(default)]
    pub members_added: u64,
    #[serde(default)]
    pub members_removed: u64,
    /// Member values that named nobody of the synchronization.
    #[serde(default)]
    pub members_unresolved: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Welcome {
    pub protocol_version: u32,
    pub synchronization_id: Uuid,
    pub synchronization_name: String,
    pub heartbeat_interval_secs: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    IncompatibleProtocol,
    MalformedMessage,
    MessageTooLarge,
    /// The secret was rotated or the synchronization deleted.
    CredentialsRevoked,
    HeartbeatTimeout,
    /// A message out of order for the run (deletions before the read completed, …).
    ProtocolViolation,
    ShuttingDown,
    /// The server lost track of this connection (its record expired while the server
    /// could not reach its database): connect again. Agents that predate it read it as
    /// `other` and reconnect all the same.
    Reconnect,
    /// A code this build does not know, from a newer peer.
    #[serde(other)]
    Other,
}

// The two bulk messages, a batch and a manifest chunk, can be a megabyte each. serde
// reads an internally tagged enum by first copying the whole message into a generic
// tree (the tag may come last), which cost the server a sixth of its CPU in the sync
// benchmark. When `type` is the first key, as every peer of ours writes it, these
// messages are read in one pass into their fields; any other shape takes the generic
// path, with the same result.

#[derive(Deserialize)]
struct BatchFields {
    run_id: Uuid,
    seq: u64,
    users: Vec<UserRecord>,
    #[serde(default)]
    errors: Vec<EntryError>,
}

#[derive(Deserialize)]
struct ManifestChunkFields {
    run_id: Uuid,
    entries: Vec<(String, String)>,
    last: bool,
}

/// Reads a message whose text starts with `prefix` (its `type` first) as the fields
/// `F` in one pass; anything else, or fields that do not read, through the enum `M`.
fn type_first<F, M>(text: &str, prefix: &str) -> serde_json::Result<M>
where
    F: serde::de::DeserializeOwned + Into<M>,
    M: serde::de::DeserializeOwned,
{
    if text.starts_with(prefix)
        && let Ok(fields) = serde_json::from_str::<F>(text)
    {
        return Ok(fields.into());
    }
    serde_json::from_str(text)
}

impl From<BatchFields> for AgentMessage {
    fn from(b: BatchFields) -> Self {
        AgentMessage::Batch {
            run_id: b.run_id,
            seq: b.seq,
            users: b.users,
            errors: b.errors,
        }
    }
}

impl From<ManifestChunkFields> for ServerMessage {
    fn from(m: ManifestChunkFields) -> Self {
        ServerMessage::ManifestChunk {
            run_id: m.run_id,
            entries: m.entries,
            last: m.last,
        }
    }
}

impl AgentMessage {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("agent messages always serialize")
    }

    pub fn from_json(text: &str) -> serde_json::Result<AgentMessage> {
        type_first::<BatchFields, _>(text, r#"{"type":"batch","#)
    }
}

impl ServerMessage {
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("server messages always serialize")
    }

    pub fn from_json(text: &str) -> serde_json::Result<ServerMessage> {
        type_first::<ManifestChunkFields, _>(text, r#"{"type":"manifest_chunk","#)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch() -> AgentMessage {
        AgentMessage::Batch {
            run_id: Uuid::from_u128(7),
            seq: 3,
            users: vec![UserRecord {
                external_id: "e1".into(),
                username: "alice".into(),
                email: None,
                display_name: Some("A \"quoted\" name".into()),
                given_name: None,
                surname: None,
                enabled: true,
                source_dn: "uid=alice,dc=example".into(),
                extra: Default::default(),
            }],
            errors: vec![EntryError {
                dn: "uid=x".into(),
                external_id: None,
                reason: "no username".into(),
            }],
        }
    }

    #[test]
    fn bulk_messages_read_the_same_on_the_fast_and_the_generic_path() {
        let m = batch();
        let json = m.to_json();
        assert!(json.starts_with(r#"{"type":"batch","#), "{json}");
        assert_eq!(AgentMessage::from_json(&json).unwrap(), m);
        // The tag last: the generic path, same message.
        let moved = format!(r#"{{{},"type":"batch"}}"#, &json[16..json.len() - 1]);
        assert_eq!(AgentMessage::from_json(&moved).unwrap(), m);
        // A bad record is refused on both paths.
        let bad = json.replace(
            r#""username":"alice""#,
            r#""username":"alice","nickname":"al""#,
        );
        assert!(AgentMessage::from_json(&bad).is_err());
        assert!(serde_json::from_str::<AgentMessage>(&bad).is_err());

        let chunk = ServerMessage::ManifestChunk {
            run_id: Uuid::from_u128(9),
            entries: vec![("e1".into(), "h1".into()), ("e2".into(), String::new())],
            last: true,
        };
        let json = chunk.to_json();
        assert!(json.starts_with(r#"{"type":"manifest_chunk","#), "{json}");
        assert_eq!(ServerMessage::from_json(&json).unwrap(), chunk);
        // A malformed one fails with the generic path's own message.
        let bad = r#"{"type":"manifest_chunk","run_id":"x","entries":[],"last":true}"#;
        assert_eq!(
            ServerMessage::from_json(bad).unwrap_err().to_string(),
            serde_json::from_str::<ServerMessage>(bad)
                .unwrap_err()
                .to_string()
        );
    }

    #[test]
    fn hello_round_trips_with_a_type_tag() {
        let m = AgentMessage::Hello(Hello {
            protocol_version: PROTOCOL_VERSION,
            agent_version: "0.1.0".into(),
            hostname: "dc1".into(),
            settings: Settings {
                dry_run: Some(true),
                ..Default::default()
            },
        });
        let json = m.to_json();
        assert!(json.contains(r#""type":"hello""#), "{json}");
        assert!(json.contains(r#""dry-run":true"#), "{json}");
        assert_eq!(serde_json::from_str::<AgentMessage>(&json).unwrap(), m);
    }

    #[test]
    fn hello_without_settings_from_a_minimal_peer_parses() {
        let m: AgentMessage = serde_json::from_str(
            r#"{"type":"hello","protocol_version":1,"agent_version":"x","hostname":"h"}"#,
        )
        .unwrap();
        assert!(matches!(m, AgentMessage::Hello(h) if h.settings == Settings::default()));
    }

    #[test]
    fn unknown_message_types_are_errors_not_silently_dropped() {
        assert!(serde_json::from_str::<AgentMessage>(r#"{"type":"launch"}"#).is_err());
        assert!(serde_json::from_str::<ServerMessage>(r#"{"type":"launch"}"#).is_err());
    }

    #[test]
    fn unknown_error_codes_from_newer_servers_still_parse() {
        let m: ServerMessage =
            serde_json::from_str(r#"{"type":"error","code":"brand_new","message":"m"}"#).unwrap();
        assert!(matches!(
            m,
            ServerMessage::Error {
                code: ErrorCode::Other,
                ..
            }
        ));
    }

    #[test]
    fn compatibility_is_a_range_with_a_reason_either_way() {
        assert!(check_compatible(PROTOCOL_VERSION).is_ok());
        assert!(
            check_compatible(PROTOCOL_VERSION + 1)
                .unwrap_err()
                .contains("upgrade this side")
        );
        assert!(
            check_compatible(0)
                .unwrap_err()
                .contains("upgrade the peer")
        );
    }
}
