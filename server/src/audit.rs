//! The audit log's vocabulary and the one way an entry is written (architecture §3.4).
//!
//! Every state-changing request records one [`Event`] once its change is done, with
//! the caller as actor, its address and request ID; agents, the scheduler and the CLI
//! record theirs the same way. Details say what changed (old and new values), never a
//! secret. Writing an entry never fails the action it records: the action is done by
//! then, so a failed write is logged at error level with the whole entry instead.

use crate::db::{self, Db};
pub use crate::vocabulary::AuditAction as Action;
use axum::http::request::Parts;
use serde_json::{Map, Value, json};
use std::fmt::Display;
use std::net::SocketAddr;
use uuid::Uuid;

/// Who did it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActorKind {
    Admin,
    Token,
    Agent,
    Schedule,
    Cli,
}

impl ActorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::Admin => "admin",
            ActorKind::Token => "token",
            ActorKind::Agent => "agent",
            ActorKind::Schedule => "schedule",
            ActorKind::Cli => "cli",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Actor {
    pub kind: ActorKind,
    pub id: Option<Uuid>,
    pub name: String,
}

impl Actor {
    pub fn schedule() -> Actor {
        Actor {
            kind: ActorKind::Schedule,
            id: None,
            name: "schedule".into(),
        }
    }

    /// `adc-server` on the command line, named by the system user and host that ran it.
    pub fn cli() -> Actor {
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "unknown user".into());
        let host = gethostname::gethostname().to_string_lossy().into_owned();
        Actor {
            kind: ActorKind::Cli,
            id: None,
            name: format!("adc-server CLI ({user}@{host})"),
        }
    }

    /// The server creating the first tenant of an empty database.
    pub fn first_start() -> Actor {
        Actor {
            kind: ActorKind::Cli,
            id: None,
            name: "adc-server first start".into(),
        }
    }

    /// An agent of synchronization `sync_id`, named by its host.
    pub fn agent(sync_id: Uuid, hostname: &str) -> Actor {
        Actor {
            kind: ActorKind::Agent,
            id: Some(sync_id),
            name: hostname.to_owned(),
        }
    }
}

/// Where a request came from.
#[derive(Clone, Debug, Default)]
pub struct Origin {
    pub address: Option<String>,
    pub request_id: Option<String>,
}

impl Origin {
    pub fn of_request(parts: &Parts) -> Origin {
        Origin {
            address: parts
                .extensions
                .get::<axum::extract::ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip().to_string()),
            // Kept as sent (a proxy's ID correlates), but never more than 200 bytes.
            request_id: parts
                .headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(|v| v.chars().take(200).collect()),
        }
    }

    pub fn address(address: SocketAddr) -> Origin {
        Origin {
            address: Some(address.ip().to_string()),
            request_id: None,
        }
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Origin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Origin::of_request(parts))
    }
}

/// What was acted on.
#[derive(Clone, Debug)]
pub struct Target {
    kind: &'static str,
    id: String,
    name: Option<String>,
}

impl Target {
    fn new(kind: &'static str, id: impl Display, name: Option<&str>) -> Target {
        Target {
            kind,
            id: id.to_string(),
            name: name.map(str::to_owned),
        }
    }

    pub fn sync(id: Uuid, name: &str) -> Target {
        Target::new("synchronization", id, Some(name))
    }

    /// A run, named by its synchronization.
    pub fn run(id: Uuid, sync_name: &str) -> Target {
        Target::new("run", id, Some(sync_name))
    }

    pub fn user(id: Uuid, username: &str) -> Target {
        Target::new("user", id, Some(username))
    }

    pub fn group(id: Uuid, name: &str) -> Target {
        Target::new("group", id, Some(name))
    }

    pub fn token(id: Uuid, name: &str) -> Target {
        Target::new("token", id, Some(name))
    }

    pub fn admin(id: Uuid, email: &str) -> Target {
        Target::new("admin", id, Some(email))
    }

    /// A notification endpoint, named by its URL or address.
    pub fn endpoint(id: Uuid, target: &str) -> Target {
        Target::new("notification_endpoint", id, Some(target))
    }

    pub fn tenant(id: Uuid, name: &str) -> Target {
        Target::new("tenant", id, Some(name))
    }
}

/// One entry about to be written.
#[must_use = "an event is written by .record(db)"]
pub struct Event {
    tenant_id: Uuid,
    actor: Actor,
    origin: Origin,
    action: Action,
    target: Option<Target>,
    details: Value,
}

impl Event {
    pub fn new(tenant_id: Uuid, actor: Actor, origin: Origin, action: Action) -> Event {
        Event {
            tenant_id,
            actor,
            origin,
            action,
            target: None,
            details: json!({}),
        }
    }

    pub fn target(mut self, target: Target) -> Event {
        self.target = Some(target);
        self
    }

    pub fn details(mut self, details: Value) -> Event {
        self.details = details;
        self
    }

    /// Writes the entry; a failure is logged with the whole entry, never returned.
    pub async fn record(self, db: &Db) {
        let t = self.target.as_ref();
        let entry = db::audit::NewEntry {
            tenant_id: self.tenant_id,
            at: db::now(),
            actor_kind: self.actor.kind.as_str(),
            actor_id: self.actor.id,
            actor_name: &self.actor.name,
            action: self.action.as_str(),
            target_kind: t.map(|t| t.kind),
            target_id: t.map(|t| t.id.as_str()),
            target_name: t.and_then(|t| t.name.as_deref()),
            address: self.origin.address.as_deref(),
            request_id: self.origin.request_id.as_deref(),
            details: &self.details,
        };
        if let Err(e) = db::audit::insert(db, &entry).await {
            tracing::error!(
                error = %e,
                tenant_id = %entry.tenant_id,
                actor = entry.actor_name,
                action = entry.action,
                target_id = entry.target_id,
                target_name = entry.target_name,
                address = entry.address,
                request_id = entry.request_id,
                details = %entry.details,
                "could not write an audit entry"
            );
        }
    }
}

/// The fields that differ between two JSON objects, as `{"field": {"old": …, "new":
/// …}}`; nested objects are compared field by field under dotted names
/// (`settings.no_delete`).
pub fn changes(old: &Value, new: &Value) -> Value {
    let mut out = Map::new();
    diff("", old, new, &mut out);
    Value::Object(out)
}

fn diff(prefix: &str, old: &Value, new: &Value, out: &mut Map<String, Value>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let name = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                diff(
                    &name,
                    a.get(k).unwrap_or(&Value::Null),
                    b.get(k).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (a, b) if a != b => {
            out.insert(prefix.to_owned(), json!({ "old": a, "new": b }));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_name_each_differing_field_with_old_and_new() {
        let old =
            json!({"name": "a", "settings": {"no_delete": null, "dry_run": true}, "schedule": 5});
        let new =
            json!({"name": "b", "settings": {"no_delete": true, "dry_run": true}, "schedule": 5});
        assert_eq!(
            changes(&old, &new),
            json!({
                "name": {"old": "a", "new": "b"},
                "settings.no_delete": {"old": null, "new": true},
            })
        );
        assert_eq!(changes(&old, &old), json!({}));
    }

    #[test]
    fn every_action_is_an_object_and_a_verb() {
        let mut seen = std::collections::HashSet::new();
        for a in Action::ALL {
            let (object, verb) = a.as_str().split_once('.').expect("object.verb");
            assert!(!object.is_empty() && !verb.is_empty(), "{a:?}");
            assert!(seen.insert(a.as_str()), "{a:?} twice");
            assert_eq!(serde_json::to_value(a).unwrap(), json!(a.as_str()));
        }
    }
}
