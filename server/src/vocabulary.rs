//! The run vocabulary: a run's status and trigger, and each change's operation and
//! outcome; and the audit log's actions. One type each, stored as text by both engines and written as the same text
//! in REST answers, so a new value is a compile error wherever it is not handled.
//! Imports no other module of the server: every layer may use it.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Database, Decode, Encode, Type};
use std::fmt;
use std::str::FromStr;

/// A value that is not part of the vocabulary (a row written by a newer server, say).
#[derive(Debug, thiserror::Error)]
#[error("`{value}` is not a known {what}")]
pub struct Unknown {
    what: &'static str,
    value: String,
}

/// Text storage and serde for a vocabulary type with `as_text` and `FromStr`.
macro_rules! stored_as_text {
    ($t:ty) => {
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.as_text())
            }
        }

        impl Serialize for $t {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.as_text())
            }
        }

        impl<'de> Deserialize<'de> for $t {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }

        impl<DB: Database> Type<DB> for $t
        where
            String: Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <String as Type<DB>>::type_info()
            }
            fn compatible(ty: &DB::TypeInfo) -> bool {
                <String as Type<DB>>::compatible(ty)
            }
        }

        impl<'q, DB: Database> Encode<'q, DB> for $t
        where
            String: Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut <DB as Database>::ArgumentBuffer,
            ) -> Result<IsNull, BoxDynError> {
                <String as Encode<'q, DB>>::encode(self.as_text().into_owned(), buf)
            }
        }

        impl<'r, DB: Database> Decode<'r, DB> for $t
        where
            String: Decode<'r, DB>,
        {
            fn decode(value: <DB as Database>::ValueRef<'r>) -> Result<Self, BoxDynError> {
                Ok(<String as Decode<'r, DB>>::decode(value)?.parse()?)
            }
        }
    };
}

/// A string schema, with its values when they are a closed set.
fn text_schema(
    values: Option<Vec<&'static str>>,
    what: &str,
) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(values)
        .description(Some(what.to_owned()))
        .into()
}

/// An enum without data whose variants are the given words.
macro_rules! words {
    ($(#[$m:meta])* $name:ident, $what:literal { $($(#[$vm:meta])* $v:ident = $text:literal,)+ }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vm])* $v,)+
        }

        impl $name {
            pub const ALL: &[$name] = &[$($name::$v,)+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$v => $text,)+
                }
            }

            fn as_text(&self) -> std::borrow::Cow<'static, str> {
                self.as_str().into()
            }
        }

        impl FromStr for $name {
            type Err = Unknown;
            fn from_str(s: &str) -> Result<Self, Unknown> {
                match s {
                    $($text => Ok($name::$v),)+
                    _ => Err(Unknown { what: $what, value: s.into() }),
                }
            }
        }

        stored_as_text!($name);

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                text_schema(Some($name::ALL.iter().map(|v| v.as_str()).collect()), $what)
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

words! {
    /// Where a run stands. At most one run per synchronization is `Running`.
    RunStatus, "run status" {
        Running = "running",
        Succeeded = "succeeded",
        Failed = "failed",
        /// Ended with deletions beyond the guard, waiting for approval or rejection.
        Held = "held",
        Cancelled = "cancelled",
    }
}

words! {
    /// Where a running run stands (the page's progress; architecture §5.3).
    RunPhase, "run phase" {
        /// Recorded; the agent has not asked for the manifest yet.
        Waiting = "waiting",
        /// The server sends what it holds, for the agent to compare against.
        Manifest = "manifest",
        /// The agent reads the directory; the server applies what changed as it comes.
        Reading = "reading",
        /// The read is complete; the last writes, groups and memberships are applied.
        Applying = "applying",
        /// Everything was sent; deletions are planned under the guard and applied.
        Deletions = "deletions",
    }
}

words! {
    /// Which kind of directory read a run did (issue 17).
    ReadKind, "read kind" {
        /// Every entry: proves deletions and reconciles.
        Full = "full",
        /// Only what changed since the synchronization's watermark.
        Delta = "delta",
    }
}

impl From<adc_shared::protocol::ReadKind> for ReadKind {
    fn from(k: adc_shared::protocol::ReadKind) -> Self {
        match k {
            adc_shared::protocol::ReadKind::Full => ReadKind::Full,
            adc_shared::protocol::ReadKind::Delta => ReadKind::Delta,
        }
    }
}

words! {
    /// Who started a run.
    Trigger, "trigger" {
        /// REST (the page or automation).
        Api = "api",
        Schedule = "schedule",
        /// `adc imp` on the agent's host.
        Agent = "agent",
    }
}

words! {
    /// What a change does to a user.
    Operation, "operation" {
        Create = "create",
        Update = "update",
        Delete = "delete",
        Disable = "disable",
        /// A user who left the source and came back is enabled again.
        Enable = "enable",
        /// A directory entry the agent could not turn into a user or group (its error
        /// says why), or a finding about what was read (a cycle of nested groups).
        Read = "read",
        /// A member added to a group.
        AddMember = "add-member",
        /// A member removed from a group.
        RemoveMember = "remove-member",
    }
}

words! {
    /// What a change is about.
    Subject, "subject" {
        User = "user",
        Group = "group",
        /// An edge group → member (a user or a group).
        Membership = "membership",
    }
}

/// What became of one change. Stored and answered as text: the word, then the detail
/// after `: ` where there is one (`conflict: username \`ann\` …`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    /// A dry run: what would have been applied.
    Planned,
    /// Beyond the deletion guard: waits for a decision on the run.
    Held,
    /// Applied to a user of another provider, which this synchronization took over
    /// (`planned` in a dry run).
    TakenOver {
        dry_run: bool,
    },
    /// A held change applied on approval.
    Approved,
    /// A held change dropped on rejection.
    Rejected,
    /// Not applied: a setting forbids it (`no-update`, …).
    Skipped(String),
    /// Not applied: it would clash with another user.
    Conflict(String),
    /// Not applied: the record is invalid or could not be read.
    Error(String),
    /// A member value that names nobody of the synchronization: reported, not applied.
    Unresolved(String),
    /// Nothing to apply, but worth knowing (a cycle of nested groups).
    Warning(String),
}

impl Outcome {
    /// `Applied`, or `Planned` in a dry run.
    pub fn done(dry_run: bool) -> Outcome {
        if dry_run {
            Outcome::Planned
        } else {
            Outcome::Applied
        }
    }

    /// The stored text; borrowed for the outcomes without a detail (most of a run's).
    pub fn as_text(&self) -> std::borrow::Cow<'static, str> {
        match self {
            Outcome::Applied => "applied".into(),
            Outcome::Planned => "planned".into(),
            Outcome::Held => "held".into(),
            Outcome::TakenOver { dry_run: false } => "applied (taken over)".into(),
            Outcome::TakenOver { dry_run: true } => "planned (taken over)".into(),
            Outcome::Approved => "applied (approved)".into(),
            Outcome::Rejected => "rejected".into(),
            Outcome::Skipped(why) => format!("skipped: {why}").into(),
            Outcome::Conflict(why) => format!("conflict: {why}").into(),
            Outcome::Error(why) => format!("error: {why}").into(),
            Outcome::Unresolved(why) => format!("unresolved: {why}").into(),
            Outcome::Warning(why) => format!("warning: {why}").into(),
        }
    }
}

impl FromStr for Outcome {
    type Err = Unknown;
    fn from_str(s: &str) -> Result<Self, Unknown> {
        Ok(match s {
            "applied" => Outcome::Applied,
            "planned" => Outcome::Planned,
            "held" => Outcome::Held,
            "applied (taken over)" => Outcome::TakenOver { dry_run: false },
            "planned (taken over)" => Outcome::TakenOver { dry_run: true },
            "applied (approved)" => Outcome::Approved,
            "rejected" => Outcome::Rejected,
            _ => match s.split_once(": ") {
                Some(("skipped", why)) => Outcome::Skipped(why.into()),
                Some(("conflict", why)) => Outcome::Conflict(why.into()),
                Some(("error", why)) => Outcome::Error(why.into()),
                Some(("unresolved", why)) => Outcome::Unresolved(why.into()),
                Some(("warning", why)) => Outcome::Warning(why.into()),
                _ => {
                    return Err(Unknown {
                        what: "outcome",
                        value: s.into(),
                    });
                }
            },
        })
    }
}

stored_as_text!(Outcome);

impl utoipa::PartialSchema for Outcome {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        text_schema(
            None,
            "applied, planned, held, applied (taken over), planned (taken over), applied (approved), rejected, or `skipped: …`, `conflict: …`, `error: …`, `unresolved: …`, `warning: …` with the reason",
        )
    }
}

impl utoipa::ToSchema for Outcome {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_reads_back_as_itself() {
        for s in RunStatus::ALL {
            assert_eq!(s.as_str().parse::<RunStatus>().unwrap(), *s);
        }
        for t in Trigger::ALL {
            assert_eq!(t.as_str().parse::<Trigger>().unwrap(), *t);
        }
        for k in ReadKind::ALL {
            assert_eq!(k.as_str().parse::<ReadKind>().unwrap(), *k);
        }
        for p in RunPhase::ALL {
            assert_eq!(p.as_str().parse::<RunPhase>().unwrap(), *p);
        }
        for o in Operation::ALL {
            assert_eq!(o.as_str().parse::<Operation>().unwrap(), *o);
        }
        for k in Subject::ALL {
            assert_eq!(k.as_str().parse::<Subject>().unwrap(), *k);
        }
        assert!("paused".parse::<RunStatus>().is_err());
    }

    #[test]
    fn outcomes_keep_their_detail_and_their_text() {
        let all = [
            Outcome::Applied,
            Outcome::Planned,
            Outcome::Held,
            Outcome::TakenOver { dry_run: false },
            Outcome::TakenOver { dry_run: true },
            Outcome::Approved,
            Outcome::Rejected,
            Outcome::Skipped("no-update".into()),
            Outcome::Conflict("username `ann`: held by a manual user".into()),
            Outcome::Error("the username is empty".into()),
            Outcome::Unresolved("not among the synchronization's users or groups".into()),
            Outcome::Warning("nested in a cycle: a → b → a".into()),
        ];
        for o in all {
            assert_eq!(o.to_string().parse::<Outcome>().unwrap(), o);
        }
        assert_eq!(
            Outcome::Skipped("no-delete".into()).to_string(),
            "skipped: no-delete"
        );
        assert_eq!(
            serde_json::to_value(Outcome::TakenOver { dry_run: false }).unwrap(),
            "applied (taken over)"
        );
        assert!("done".parse::<Outcome>().is_err());
    }
}

/// Declares the actions once: the enum, its text, and the list REST documents.
macro_rules! audit_actions {
    ($($variant:ident = $text:literal,)*) => {
        /// What an audit entry records, as `<object>.<verb>`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum AuditAction {
            $($variant,)*
        }

        impl AuditAction {
            pub const ALL: &[AuditAction] = &[$(AuditAction::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(AuditAction::$variant => $text,)*
                }
            }
        }
    };
}

audit_actions! {
    SignedIn = "session.signed_in",
    SignInFailed = "session.sign_in_failed",
    SignedOut = "session.signed_out",
    SyncCreated = "synchronization.created",
    SyncChanged = "synchronization.changed",
    SyncDeleted = "synchronization.deleted",
    SyncSecretRotated = "synchronization.secret_rotated",
    RunStarted = "run.started",
    RunCancelled = "run.cancelled",
    RunApproved = "run.approved",
    RunRejected = "run.rejected",
    UserCreated = "user.created",
    UserChanged = "user.changed",
    UserEnabled = "user.enabled",
    UserDisabled = "user.disabled",
    UserDetached = "user.detached",
    UserDeleted = "user.deleted",
    GroupCreated = "group.created",
    GroupDeleted = "group.deleted",
    GroupDetached = "group.detached",
    GroupMemberAdded = "group.member_added",
    GroupMemberRemoved = "group.member_removed",
    TokenCreated = "token.created",
    TokenRevoked = "token.revoked",
    AdminCreated = "admin.created",
    AdminChanged = "admin.changed",
    AdminDeleted = "admin.deleted",
    AdminPasswordReset = "admin.password_reset",
    AdminPasswordChanged = "admin.password_changed",
    TenantCreated = "tenant.created",
    AuditRetentionChanged = "audit.retention_changed",
    NotificationEndpointCreated = "notification.endpoint_created",
    NotificationEndpointChanged = "notification.endpoint_changed",
    NotificationEndpointDeleted = "notification.endpoint_deleted",
    NotificationSecretRotated = "notification.secret_rotated",
    NotificationTestSent = "notification.test_sent",
    NotificationSettingsChanged = "notification.settings_changed",
    AgentConnected = "agent.connected",
    AgentDisconnected = "agent.disconnected",
}

impl Serialize for AuditAction {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

// Written by hand: the derive cannot see a variant's text through the macro above.
impl utoipa::PartialSchema for AuditAction {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(AuditAction::ALL.iter().map(|a| a.as_str())))
            .description(Some("What an audit entry records, as `<object>.<verb>`."))
            .into()
    }
}

impl utoipa::ToSchema for AuditAction {}

/// What a notification endpoint can be told of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NotificationEvent {
    RunFailed,
    RunHeld,
    RunSucceeded,
    AgentOffline,
    SyncStale,
    /// Sent by the page's "Send test" button to one endpoint, whatever it subscribes to.
    Test,
}

impl NotificationEvent {
    /// The events an endpoint may subscribe to.
    pub const SUBSCRIBABLE: [NotificationEvent; 5] = [
        NotificationEvent::RunFailed,
        NotificationEvent::RunHeld,
        NotificationEvent::RunSucceeded,
        NotificationEvent::AgentOffline,
        NotificationEvent::SyncStale,
    ];
    /// Subscribed when an endpoint names none: all but `run.succeeded`.
    pub const DEFAULT: [NotificationEvent; 4] = [
        NotificationEvent::RunFailed,
        NotificationEvent::RunHeld,
        NotificationEvent::AgentOffline,
        NotificationEvent::SyncStale,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NotificationEvent::RunFailed => "run.failed",
            NotificationEvent::RunHeld => "run.held",
            NotificationEvent::RunSucceeded => "run.succeeded",
            NotificationEvent::AgentOffline => "agent.offline",
            NotificationEvent::SyncStale => "synchronization.stale",
            NotificationEvent::Test => "test",
        }
    }
}

impl FromStr for NotificationEvent {
    type Err = Unknown;
    fn from_str(s: &str) -> Result<Self, Unknown> {
        NotificationEvent::SUBSCRIBABLE
            .into_iter()
            .chain([NotificationEvent::Test])
            .find(|e| e.as_str() == s)
            .ok_or_else(|| Unknown {
                what: "notification event",
                value: s.to_owned(),
            })
    }
}

impl Serialize for NotificationEvent {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for NotificationEvent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for NotificationEvent {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(
                NotificationEvent::SUBSCRIBABLE.iter().map(|e| e.as_str()),
            ))
            .description(Some(
                "An event a notification endpoint subscribes to (`test` is sent by the test button).",
            ))
            .into()
    }
}

impl utoipa::ToSchema for NotificationEvent {}
