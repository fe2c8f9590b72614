//! What other replicas sharing PostgreSQL ask of this one (architecture §2), heard on
//! LISTEN/NOTIFY until shutdown: runs for agents held here (`sync::relay`), and
//! pass-through authentications and their answers (`passthrough`), and changes the
//! admin pages follow live (`db::changes`).

use crate::db::changes;
use crate::db::notify::{Listener, Notice};
use crate::state::AppState;
use crate::sync::relay;
use std::time::Duration;

pub async fn run(state: AppState) {
    if !state.db.may_be_shared() {
        return;
    }
    loop {
        let mut listener = match Listener::connect(&state.db).await {
            Some(Ok(l)) => l,
            None => return,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "cannot listen to the other replicas; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(2)) => continue,
                    _ = state.shutdown.cancelled() => return,
                }
            }
        };
        // Runs notified while this replica was not listening.
        relay::sweep(&state.db, &state.agents).await;
        loop {
            let next = tokio::select! {
                n = listener.next() => n,
                _ = state.shutdown.cancelled() => return,
            };
            match next {
                Ok(Notice::Run(run_id)) => relay::take(&state.db, &state.agents, run_id).await,
                Ok(Notice::AuthRequest(payload)) => {
                    // Answered on a task of its own: an agent's answer takes a moment,
                    // and the next notice must not wait for it.
                    let state = state.clone();
                    tokio::spawn(async move {
                        state
                            .passthrough
                            .serve(&state.db, &state.agents, &payload)
                            .await
                    });
                }
                Ok(Notice::AuthResult(payload)) => state.passthrough.deliver(&payload),
                Ok(Notice::PageChange(payload)) => {
                    if let Err(e) = changes::notified(&state.page_changes, &payload) {
                        tracing::warn!(error = %e, "ignored a malformed page change");
                    }
                }
                Ok(Notice::Malformed) => tracing::warn!("ignored a malformed notification"),
                Ok(Notice::Reconnected) => {
                    changes::missed(&state.page_changes);
                    relay::sweep(&state.db, &state.agents).await
                }
                Err(e) => {
                    tracing::warn!(error = %e, "lost the channel to the other replicas; reconnecting");
                    break;
                }
            }
        }
    }
}
