//! One agent's WebSocket session (architecture §7.3): authenticated on upgrade
//! (`routes/agent_connect.rs`), a `hello`
//! with a compatible protocol version first, heartbeats both ways, and a clear reason
//! before every close the server initiates.

use super::runs::RunSlot;
use super::wire::{Conn, Incoming, receive};
use crate::audit::{Action, Actor, Event, Origin, Target};
use crate::db::{agents, now, syncs};
use crate::registry::Order;
use crate::state::AppState;
use adc_shared::protocol::{self, AgentMessage, ErrorCode, Hello, ServerMessage, Welcome};
use axum::extract::ws::WebSocket;
use sqlx::types::Json;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use uuid::Uuid;

const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

fn check_hello(h: &Hello) -> Result<(), (ErrorCode, String)> {
    protocol::check_compatible(h.protocol_version)
        .map_err(|e| (ErrorCode::IncompatibleProtocol, e))?;
    if h.hostname.is_empty() || h.hostname.len() > 255 || h.agent_version.len() > 64 {
        return Err((
            ErrorCode::MalformedMessage,
            "hello: hostname must be 1-255 bytes, agent_version at most 64".into(),
        ));
    }
    Ok(())
}

/// Serves one agent's WebSocket, its Application ID and Secret Token already verified,
/// until either side ends it.
pub async fn serve(
    state: AppState,
    sync: syncs::Sync,
    remote: SocketAddr,
    socket: WebSocket,
) -> anyhow::Result<()> {
    let mut conn = Conn { socket };
    let hello = match tokio::time::timeout(HELLO_TIMEOUT, receive(&mut conn.socket)).await {
        Err(_) => {
            conn.close(ErrorCode::MalformedMessage, "no hello within 10 seconds")
                .await;
            return Ok(());
        }
        Ok(Incoming::Message(AgentMessage::Hello(h))) => h,
        Ok(Incoming::Message(_)) => {
            conn.close(
                ErrorCode::MalformedMessage,
                "the first message must be hello",
            )
            .await;
            return Ok(());
        }
        Ok(Incoming::Bad(code, reason)) => {
            conn.close(code, &reason).await;
            return Ok(());
        }
        Ok(Incoming::Closed) => return Ok(()),
    };
    if let Err((code, reason)) = check_hello(&hello) {
        tracing::warn!(synchronization_id = %sync.id, %remote, reason, "agent refused");
        conn.close(code, &reason).await;
        return Ok(());
    }

    // Recorded a few at a time (see `AppState::admissions`).
    let admission = state.admissions.acquire().await?;
    let t = now();
    let record = agents::AgentConnection {
        id: Uuid::new_v4(),
        tenant_id: sync.tenant_id,
        synchronization_id: sync.id,
        hostname: hello.hostname.clone(),
        agent_version: hello.agent_version.clone(),
        protocol_version: hello.protocol_version as i32,
        remote_addr: remote.to_string(),
        settings: Json(hello.settings),
        connected_at: t,
        last_heartbeat_at: t,
        replica: Some(state.config.replica_name.clone()),
    };
    agents::insert(&state.db, &record).await?;
    let (registration, mut orders) = state.agents.register(record.id, sync.id);
    state.metrics.agents_connected.inc();
    tracing::info!(synchronization_id = %sync.id, connection_id = %record.id, hostname = hello.hostname, agent_version = hello.agent_version, %remote, "agent connected");
    let audit = |action| {
        Event::new(
            sync.tenant_id,
            Actor::agent(sync.id, &hello.hostname),
            Origin::address(remote),
            action,
        )
        .target(Target::sync(sync.id, &sync.name))
    };
    if let Err(e) = crate::db::notifications::agent_seen(&state.db, sync.id, t).await {
        tracing::warn!(error = %e, "could not note when the agent connected");
    }
    audit(Action::AgentConnected)
        .details(
            serde_json::json!({ "connection_id": record.id, "agent_version": hello.agent_version }),
        )
        .record(&state.db)
        .await;
    drop(admission);

    let result = serve_connection(&state, &sync, record.id, &hello, &mut conn, &mut orders).await;
    // Orders that arrived as the connection ended: a run handed to it goes to another
    // agent of the synchronization on this replica, or fails with the reason; a
    // pass-through request dropped unanswered makes its caller try another agent.
    drop(registration);
    orders.close();
    while let Ok(order) = orders.try_recv() {
        if let Order::StartRun(run) = order {
            crate::sync::dispatch::pass_on(&state.db, &state.agents, *run).await;
        }
    }
    let (code, reason) = match &result {
        Ok(Some(end)) => end.clone(),
        Ok(None) => (ErrorCode::Other, String::new()),
        Err(e) => (ErrorCode::Other, format!("{e:#}")),
    };
    state.metrics.agents_connected.dec();
    if let Err(e) = agents::remove(&state.db, record.id).await {
        // Left listed, the connection would be offered runs that nobody hands over.
        tracing::warn!(connection_id = %record.id, error = %e, "could not remove the agent connection record; retrying");
        let (db, id) = (state.db.clone(), record.id);
        crate::db::retry_until_done("removing an agent connection record", move || {
            let db = db.clone();
            async move { agents::remove(&db, id).await }
        });
    }
    if code != ErrorCode::Other {
        conn.close(code, &reason).await;
    }
    let reason = if reason.is_empty() {
        "the agent closed the connection"
    } else {
        reason.as_str()
    };
    tracing::info!(synchronization_id = %sync.id, connection_id = %record.id, reason, "agent disconnected");
    if let Err(e) = crate::db::notifications::agent_seen(&state.db, sync.id, now()).await {
        tracing::warn!(error = %e, "could not note when the agent left");
    }
    audit(Action::AgentDisconnected)
        .details(serde_json::json!({ "connection_id": record.id, "reason": reason }))
        .record(&state.db)
        .await;
    result.map(|_| ())
}

/// The session's main loop. `Ok(Some(..))` is a close the server initiates, with the
/// reason to send; `Ok(None)` is the agent going away.
async fn serve_connection(
    state: &AppState,
    sync: &syncs::Sync,
    conn_id: Uuid,
    hello: &Hello,
    conn: &mut Conn,
    orders: &mut tokio::sync::mpsc::Receiver<Order>,
) -> anyhow::Result<Option<(ErrorCode, String)>> {
    conn.send(&ServerMessage::Welcome(Welcome {
        protocol_version: protocol::PROTOCOL_VERSION,
        synchronization_id: sync.id,
        synchronization_name: sync.name.clone(),
        heartbeat_interval_secs: state.config.heartbeat_interval.as_secs().max(1),
    }))
    .await?;
    let mut runs = RunSlot::new(state, sync, conn_id, hello);
    let result = serve_loop(state, sync, conn_id, conn, orders, &mut runs).await;
    let reason = match &result {
        Ok(Some((ErrorCode::HeartbeatTimeout, why))) => {
            format!("the agent stopped answering ({why})")
        }
        Ok(Some((ErrorCode::ShuttingDown, _))) => "the server shut down during the run".to_owned(),
        Ok(Some((ErrorCode::CredentialsRevoked, why))) => {
            format!("the agent was disconnected: {why}")
        }
        _ => "the agent disconnected during the run".to_owned(),
    };
    runs.abandon(reason).await;
    result
}

async fn serve_loop(
    state: &AppState,
    sync: &syncs::Sync,
    conn_id: Uuid,
    conn: &mut Conn,
    orders: &mut tokio::sync::mpsc::Receiver<Order>,
    runs: &mut RunSlot<'_>,
) -> anyhow::Result<Option<(ErrorCode, String)>> {
    let mut tick = tokio::time::interval(state.config.heartbeat_interval);
    tick.tick().await;
    let mut last_seen = Instant::now();
    // Three missed heartbeats: 45 s with the default interval of 15 s.
    let timeout = state.config.heartbeat_timeout();
    // Authentications waiting for this agent's answer.
    let mut pending: std::collections::HashMap<
        Uuid,
        tokio::sync::oneshot::Sender<adc_shared::protocol::AuthOutcome>,
    > = std::collections::HashMap::new();
    loop {
        tokio::select! {
            incoming = receive(&mut conn.socket) => {
                last_seen = Instant::now();
                match incoming {
                    Incoming::Closed => return Ok(None),
                    Incoming::Bad(code, reason) => {
                        tracing::warn!(connection_id = %conn_id, reason, "closing agent connection");
                        return Ok(Some((code, reason)));
                    }
                    Incoming::Message(AgentMessage::Heartbeat) => {
                        // Recorded with every agent's of this replica at the next
                        // housekeeping tick (`app::record_heartbeats`).
                        state.agents.beat(conn_id);
                    }
                    Incoming::Message(AgentMessage::SettingsChanged { settings }) => {
                        agents::set_settings(&state.db, conn_id, &settings).await?;
                        runs.agent_settings = settings;
                        tracing::info!(connection_id = %conn_id, "agent reported new settings");
                    }
                    Incoming::Message(AgentMessage::Hello(_)) => {
                        return Ok(Some((ErrorCode::MalformedMessage, "hello may only be sent once".into())));
                    }
                    Incoming::Message(AgentMessage::AuthResult { request_id, outcome }) => {
                        // An answer nobody waits for any more (timed out) is dropped.
                        if let Some(reply) = pending.remove(&request_id) {
                            let _ = reply.send(outcome);
                        }
                    }
                    Incoming::Message(m) => {
                        for out in runs.handle(m).await {
                            conn.send(&out).await?;
                        }
                        if runs.wants_manifest() {
                            runs.send_manifest(conn).await?;
                        }
                    }
                }
            }
            // A batch write finished: acknowledge it at once, so the agent's window
            // moves even when it has nothing more to send.
            out = runs.written(), if runs.writing() => {
                for m in out {
                    conn.send(&m).await?;
                }
            }
            order = orders.recv() => match order {
                Some(Order::Close(code, reason)) => return Ok(Some((code, reason))),
                Some(Order::Authenticate { username, password, reply }) => {
                    let request_id = Uuid::new_v4();
                    pending.insert(request_id, reply);
                    conn.send(&ServerMessage::Authenticate { request_id, username, password }).await?;
                }
                Some(Order::StartRun(run)) => {
                    if let Some(m) = runs.begin(&run).await {
                        conn.send(&m).await?;
                    }
                }
                Some(Order::CancelRun(run_id)) => {
                    if let Some(m) = runs.cancelled(Some(run_id)).await {
                        conn.send(&m).await?;
                    }
                }
                None => return Ok(None),
            },
            _ = tick.tick() => {
                if last_seen.elapsed() > timeout {
                    return Ok(Some((ErrorCode::HeartbeatTimeout, format!("no message for {} seconds", timeout.as_secs()))));
                }
                // A rotation or deletion on another replica shows here. With the
                // database away (nothing can be rotated then either), the agent stays
                // and the next tick checks again.
                match syncs::secret_version(&state.db, sync.id).await {
                    Ok(Some(v)) if v == sync.secret_version => {}
                    Ok(Some(_)) => return Ok(Some((ErrorCode::CredentialsRevoked, "the Secret Token was rotated".into()))),
                    Ok(None) => return Ok(Some((ErrorCode::CredentialsRevoked, "the synchronization was deleted".into()))),
                    Err(e) => tracing::warn!(connection_id = %conn_id, error = %e, "cannot check the synchronization's secret"),
                }
                conn.send(&ServerMessage::Heartbeat).await?;
                if let Some(m) = runs.check_stalled(state.config.run_stall_timeout).await {
                    conn.send(&m).await?;
                }
                // A run cancelled through another replica ends here at the latest.
                if let Some(m) = runs.cancelled(None).await {
                    conn.send(&m).await?;
                }
            }
            _ = state.shutdown.cancelled() => {
                return Ok(Some((ErrorCode::ShuttingDown, "the server is shutting down; reconnect".into())));
            }
        }
    }
}
