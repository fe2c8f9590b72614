//! The admin page's live view (architecture §7.4): Server-Sent Events telling a
//! signed-in caller's page that a run of its tenant changed, the agents of one of its
//! synchronizations, or a notification's delivery. An event names what changed, never what it is now: the page reads
//! that through REST, as its caller may. Idle, a stream costs a task waiting on a
//! channel and a keep-alive comment every 25 s.

use crate::caller::Caller;
use crate::db::changes::{ChangeKind, Heard};
use crate::state::AppState;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use std::convert::Infallible;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

const KEEP_ALIVE: Duration = Duration::from_secs(25);

pub async fn stream(
    State(state): State<AppState>,
    caller: Caller,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = state.page_changes.subscribe();
    let tenant = caller.tenant_id;
    let shutdown = state.shutdown.clone();
    // First `ready`, so the page knows it hears from here on.
    let ready =
        futures_util::stream::once(async { Ok(Event::default().event("ready").data("{}")) });
    let heard =
        futures_util::stream::unfold((rx, shutdown), move |(mut rx, shutdown)| async move {
            loop {
                let next = tokio::select! {
                    r = rx.recv() => r,
                    // The server stops: the stream ends, so shutdown does not wait for it.
                    _ = shutdown.cancelled() => return None,
                };
                let event = match next {
                    Ok(Heard::Change(c)) if c.tenant_id == tenant => {
                        let name = match c.kind {
                            ChangeKind::Run => "run",
                            ChangeKind::Agents => "agents",
                            ChangeKind::Deliveries => "deliveries",
                        };
                        let data = serde_json::json!({
                            "synchronization_id": c.synchronization_id,
                            "run_id": c.run_id,
                        });
                        Event::default().event(name).data(data.to_string())
                    }
                    Ok(Heard::Change(_)) => continue,
                    // Fell behind, or the channel was re-established: read everything again.
                    Ok(Heard::Missed) | Err(RecvError::Lagged(_)) => {
                        Event::default().event("missed").data("{}")
                    }
                    Err(RecvError::Closed) => return None,
                };
                return Some((Ok(event), (rx, shutdown)));
            }
        });
    Sse::new(futures_util::StreamExt::chain(ready, heard))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}
