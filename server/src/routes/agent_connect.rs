//! `GET /api/v1/agent/connect`: the agent's WebSocket upgrade, refused with a plain 401
//! before the upgrade when the Application ID or Secret Token is wrong.

use crate::agents;
use crate::db::syncs;
use crate::error::ApiError;
use crate::secrets::{self, Secret};
use crate::state::AppState;
use adc_shared::protocol::MAX_MESSAGE_BYTES;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, State};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::net::SocketAddr;
use uuid::Uuid;

/// `GET /api/v1/agent/connect`: checks the Application ID and Secret Token before the
/// upgrade, so a wrong secret gets a plain 401 the agent can report.
pub async fn connect(
    State(state): State<AppState>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let Some((client_id, secret)) = basic_credentials(&headers) else {
        return ApiError::Unauthenticated(
            "send Authorization: Basic base64(client-id:client-secret)",
        )
        .into_response();
    };
    // Released once the secret is verified; the session takes its turn again to be
    // recorded.
    let Ok(admission) = state.admissions.acquire().await else {
        return ApiError::Unavailable("the server is shutting down".into()).into_response();
    };
    let sync = match client_id {
        Some(id) => match syncs::by_application_id(&state.db, id).await {
            Ok(s) => s,
            Err(e) => return ApiError::from(e).into_response(),
        },
        None => None,
    };
    // Verified even when the ID is unknown, against a dummy hash: no timing oracle.
    if !secrets::verify_sync_secret(secret, sync.as_ref().map(|s| s.secret_hash.clone())).await {
        state.metrics.agent_auth_failures.inc();
        tracing::warn!(application_id = ?client_id, %remote, "agent refused: unknown Application ID or wrong Secret Token");
        return ApiError::Unauthenticated("unknown Application ID or wrong Secret Token")
            .into_response();
    }
    drop(admission);
    let sync = sync.expect("verified secrets belong to a synchronization");
    // tungstenite's buffers are 128 KiB each by default: a replica holding thousands of
    // idle agents paid 150 KiB per connection. 16 KiB reads keep a run's megabyte batches
    // at a few dozen reads each (see bench/README.md, "Many agents").
    ws.max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        .read_buffer_size(16 * 1024)
        .write_buffer_size(16 * 1024)
        .on_upgrade(move |socket| {
            let tracker = state.sessions.clone();
            tracker.track_future(async move {
                let sync_id = sync.id;
                if let Err(e) = agents::serve(state, sync, remote, socket).await {
                    tracing::warn!(synchronization_id = %sync_id, %remote, error = format!("{e:#}"), "agent session ended with an error");
                }
            })
        })
}

/// Parses `Authorization: Basic base64(client-id:client-secret)`. The ID is `None`
/// when it is not a UUID, so that case costs the same dummy verification.
fn basic_credentials(headers: &HeaderMap) -> Option<(Option<Uuid>, Secret)> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((Uuid::parse_str(id).ok(), Secret::new(secret)))
}
