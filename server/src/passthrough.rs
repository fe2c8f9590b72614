//! Asking an agent to check a password (architecture §6): one of this replica's, else,
//! when replicas share PostgreSQL, one held by another replica, reached through
//! LISTEN/NOTIFY. The password travels between replicas sealed (X25519 sealed box) to
//! the public key the holding replica announced at its start, so PostgreSQL, its logs
//! and its notification queue never see it readable; answers carry no secret.

use crate::db::{self, Db, agents, replicas};
use crate::registry::{Order, Registry};
use adc_shared::Secret;
use adc_shared::protocol::AuthOutcome;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use crypto_box::aead::OsRng;
use crypto_box::{PublicKey, SecretKey};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::time::Instant;
use uuid::Uuid;

/// This replica's side of pass-through authentication.
pub struct Passthrough {
    replica: String,
    key: SecretKey,
    /// Requests sent to other replicas, waiting for their answers.
    pending: Mutex<HashMap<Uuid, oneshot::Sender<AuthOutcome>>>,
    /// How long an agent may take to answer.
    timeout: Duration,
}

/// A password to check, for a user of `sync_id`.
pub struct Question<'a> {
    pub tenant_id: Uuid,
    pub sync_id: Uuid,
    pub username: &'a str,
    pub password: &'a Secret,
}

/// What asking came to.
pub enum Asked {
    Answered(AuthOutcome),
    /// No agent of the synchronization is connected to any replica.
    NoAgent,
    /// The agent did not answer before the deadline.
    TimedOut,
}

/// A request relayed to the replica holding `connection_id`.
#[derive(Serialize, Deserialize)]
struct Request {
    id: Uuid,
    connection_id: Uuid,
    /// `Credentials` as JSON, sealed to the holding replica's public key, base64.
    sealed: String,
}

#[derive(Serialize, Deserialize)]
struct Credentials {
    username: String,
    password: Secret,
}

#[derive(Serialize, Deserialize)]
struct Answer {
    id: Uuid,
    outcome: AuthOutcome,
}

impl Passthrough {
    /// A fresh key pair for this start of `replica`.
    pub fn new(replica: String, timeout: Duration) -> Passthrough {
        Passthrough {
            replica,
            key: SecretKey::generate(&mut OsRng),
            pending: Mutex::new(HashMap::new()),
            timeout,
        }
    }

    /// Publishes this start's public key, for other replicas to seal requests to.
    pub async fn announce(&self, db: &Db) -> Result<(), sqlx::Error> {
        let public = STANDARD.encode(self.key.public_key().as_bytes());
        replicas::announce(db, &self.replica, &public).await
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, oneshot::Sender<AuthOutcome>>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Asks an agent of the synchronization whether the password is the user's, before
    /// `deadline`:
    /// this replica's agents first (in turn), then one held by another replica.
    pub async fn ask(
        &self,
        db: &Db,
        registry: &Registry,
        q: Question<'_>,
        deadline: Instant,
    ) -> Result<Asked, sqlx::Error> {
        let Question {
            tenant_id,
            sync_id,
            username,
            password,
        } = q;
        for conn in registry.rotation(sync_id) {
            let (tx, rx) = oneshot::channel();
            let order = Order::Authenticate {
                username: username.to_owned(),
                password: password.clone(),
                reply: tx,
            };
            if !registry.send(conn, order) {
                continue;
            }
            match tokio::time::timeout_at(deadline, rx).await {
                Ok(Ok(o)) => return Ok(Asked::Answered(o)),
                // That agent went away before answering: the next one may still serve.
                Ok(Err(_)) => continue,
                Err(_) => {
                    tracing::warn!(connection_id = %conn, "pass-through authentication timed out");
                    return Ok(Asked::TimedOut);
                }
            }
        }
        if !db.may_be_shared() {
            return Ok(Asked::NoAgent);
        }
        let elsewhere = agents::list_for_sync(db, tenant_id, sync_id).await?;
        let Some(conn) = elsewhere
            .iter()
            .find(|c| c.replica.as_deref().is_some_and(|r| r != self.replica))
        else {
            return Ok(Asked::NoAgent);
        };
        let Some(replica) = conn.replica.as_deref() else {
            return Ok(Asked::NoAgent);
        };
        let Some(public) = replicas::public_key(db, replica).await? else {
            tracing::warn!(replica, "no public key for the replica holding the agent");
            return Ok(Asked::NoAgent);
        };
        let Some(sealed) = seal(&public, username, password) else {
            tracing::warn!(replica, "the replica's public key is malformed");
            return Ok(Asked::NoAgent);
        };
        let id = Uuid::new_v4();
        let (tx, rx) = oneshot::channel();
        self.pending().insert(id, tx);
        let request = Request {
            id,
            connection_id: conn.id,
            sealed,
        };
        let payload = serde_json::to_string(&request).expect("a request serializes");
        if let Err(e) = db::notify::auth_request(db, &payload).await {
            self.pending().remove(&id);
            return Err(e);
        }
        let answer = tokio::time::timeout_at(deadline, rx).await;
        self.pending().remove(&id);
        Ok(match answer {
            Ok(Ok(outcome)) => Asked::Answered(outcome),
            Ok(Err(_)) => Asked::NoAgent,
            Err(_) => {
                tracing::warn!(replica, connection_id = %conn.id, "pass-through authentication relayed to another replica timed out");
                Asked::TimedOut
            }
        })
    }

    /// Another replica asks: answered when this replica holds the agent connection.
    pub async fn serve(&self, db: &Db, registry: &Registry, payload: &str) {
        let Ok(request) = serde_json::from_str::<Request>(payload) else {
            tracing::warn!("ignored a malformed pass-through request");
            return;
        };
        if !registry.holds(request.connection_id) {
            return;
        }
        let Some(creds) = self.open(&request.sealed) else {
            // Sealed to an earlier start's key, or not by a replica: no answer, the
            // asking replica times out.
            tracing::warn!(request_id = %request.id, "a pass-through request could not be opened");
            return;
        };
        let (tx, rx) = oneshot::channel();
        let order = Order::Authenticate {
            username: creds.username,
            password: creds.password,
            reply: tx,
        };
        let outcome = if registry.send(request.connection_id, order) {
            match tokio::time::timeout(self.timeout, rx).await {
                Ok(Ok(o)) => o,
                Ok(Err(_)) => return,
                Err(_) => AuthOutcome::TimedOut,
            }
        } else {
            return;
        };
        // The DN names the user: not needed by the asking replica, so not sent.
        let outcome = match outcome {
            AuthOutcome::Ok { .. } => AuthOutcome::Ok { dn: String::new() },
            other => other,
        };
        let answer = Answer {
            id: request.id,
            outcome,
        };
        let payload = serde_json::to_string(&answer).expect("an answer serializes");
        if let Err(e) = db::notify::auth_result(db, &payload).await {
            tracing::warn!(error = %e, "could not answer a pass-through request of another replica");
        }
    }

    /// An answer to one of this replica's requests.
    pub fn deliver(&self, payload: &str) {
        let Ok(answer) = serde_json::from_str::<Answer>(payload) else {
            tracing::warn!("ignored a malformed pass-through answer");
            return;
        };
        if let Some(tx) = self.pending().remove(&answer.id) {
            let _ = tx.send(answer.outcome);
        }
    }

    fn open(&self, sealed: &str) -> Option<Credentials> {
        let bytes = STANDARD.decode(sealed).ok()?;
        let plain = self.key.unseal(&bytes).ok()?;
        serde_json::from_slice(&plain).ok()
    }
}

/// The credentials as JSON sealed to `public` (base64 of its 32 bytes).
fn seal(public: &str, username: &str, password: &Secret) -> Option<String> {
    let key: [u8; 32] = STANDARD.decode(public).ok()?.try_into().ok()?;
    let creds = Credentials {
        username: username.to_owned(),
        password: password.clone(),
    };
    let plain = serde_json::to_vec(&creds).ok()?;
    let sealed = PublicKey::from_bytes(key).seal(&mut OsRng, &plain).ok()?;
    Some(STANDARD.encode(sealed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_replica_a_request_is_sealed_to_can_read_it() {
        let holder = Passthrough::new("b:8080".into(), Duration::from_secs(1));
        let other = Passthrough::new("c:8080".into(), Duration::from_secs(1));
        let public = STANDARD.encode(holder.key.public_key().as_bytes());
        let sealed = seal(&public, "ann", &Secret::new("pw-of-ann")).unwrap();
        assert!(!sealed.contains("pw-of-ann"));
        assert!(!String::from_utf8_lossy(&STANDARD.decode(&sealed).unwrap()).contains("pw-of-ann"));
        let creds = holder.open(&sealed).unwrap();
        assert_eq!(
            (creds.username.as_str(), creds.password.expose()),
            ("ann", "pw-of-ann")
        );
        assert!(other.open(&sealed).is_none());
    }
}
