//! One connection to the server: the loop that carries heartbeats, runs, password
//! checks and reloads, and what each server message does.

use super::{Agent, Control, End, Finished, Task};
use crate::connection::{self, Connection};
use crate::sync::{self, Link};
use adc_shared::protocol::{
    AgentMessage, ErrorCode, HEARTBEAT_TIMEOUT_SECS, PROGRESS_VERSION, ServerMessage,
};
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

impl Agent {
    pub(super) async fn serve(
        &mut self,
        mut conn: Connection,
        control: &mut mpsc::Receiver<Control>,
    ) -> End {
        let (out_tx, mut out_rx) = mpsc::channel::<AgentMessage>(16);
        self.server_protocol = conn.welcome.protocol_version;
        let mut task: Option<Task> = None;
        let end = self
            .serve_loop(&mut conn, control, &out_tx, &mut out_rx, &mut task)
            .await;
        if let Some(t) = task {
            t.handle.abort();
            if matches!(end, End::Shutdown) {
                // Tell the server now rather than after the heartbeat timeout.
                let m = AgentMessage::RunFailed {
                    run_id: t.run_id,
                    reason: "the agent was stopped".into(),
                };
                let _ = connection::send(&mut conn.socket, &m).await;
            }
        }
        if matches!(end, End::Shutdown | End::Finished(_) | End::Refused(_)) {
            let frame = CloseFrame {
                code: CloseCode::Normal,
                reason: "agent stopping".into(),
            };
            let _ =
                futures_util::SinkExt::send(&mut conn.socket, Message::Close(Some(frame))).await;
            // Give the server a moment to see the close before the process exits.
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                while let Ok(Some(_)) = connection::next_message(&mut conn.socket).await {}
            })
            .await;
        }
        end
    }

    async fn serve_loop(
        &mut self,
        conn: &mut Connection,
        control: &mut mpsc::Receiver<Control>,
        out_tx: &mpsc::Sender<AgentMessage>,
        out_rx: &mut mpsc::Receiver<AgentMessage>,
        task: &mut Option<Task>,
    ) -> End {
        let interval = Duration::from_secs(conn.welcome.heartbeat_interval_secs.max(1));
        let silence = (interval * 3).max(Duration::from_secs(HEARTBEAT_TIMEOUT_SECS));
        let mut tick = tokio::time::interval(interval);
        tick.tick().await;
        let mut last_seen = Instant::now();
        // The read's progress, for the page: about once a second while it changes, to a
        // server that takes it.
        let mut progress = tokio::time::interval(Duration::from_secs(1));
        progress.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut progress_sent = 0u64;
        loop {
            tokio::select! {
                _ = progress.tick(), if self.server_protocol >= PROGRESS_VERSION => {
                    let Some(t) = task.as_ref() else {
                        progress_sent = 0;
                        continue;
                    };
                    let read = self.read.load(Ordering::Relaxed);
                    if read != progress_sent {
                        progress_sent = read;
                        let m = AgentMessage::Progress { run_id: t.run_id, read };
                        if let Err(e) = connection::send(&mut conn.socket, &m).await {
                            return End::Lost(e);
                        }
                    }
                }
                m = connection::next_message(&mut conn.socket) => {
                    last_seen = Instant::now();
                    let m = match m {
                        Ok(Some(m)) => m,
                        Ok(None) => return End::Lost("the server closed the connection".into()),
                        Err(e) => return End::Lost(e),
                    };
                    if let ServerMessage::ManifestChunk { entries, last, .. } = m {
                        // Waits while the run takes in the chunks before (see `sync::Link`).
                        if let Some(t) = task.as_ref() {
                            let _ = t.manifest.send((entries, last)).await;
                        }
                        continue;
                    }
                    if let Some(end) = self.on_message(m, out_tx, task) {
                        return end;
                    }
                }
                Some(m) = out_rx.recv() => {
                    if let Err(e) = connection::send(&mut conn.socket, &m).await {
                        return End::Lost(e);
                    }
                }
                _ = tick.tick() => {
                    if last_seen.elapsed() > silence {
                        return End::Lost(format!("no heartbeat from the server for {} s", silence.as_secs()));
                    }
                    if let Err(e) = connection::send(&mut conn.socket, &AgentMessage::Heartbeat).await {
                        return End::Lost(e);
                    }
                }
                c = control.recv() => match c {
                    Some(Control::Reload) => {
                        if self.reload() {
                            let m = AgentMessage::SettingsChanged { settings: self.config.settings };
                            if let Err(e) = connection::send(&mut conn.socket, &m).await {
                                return End::Lost(e);
                            }
                        }
                    }
                    Some(Control::Shutdown) | None => {
                        tracing::info!("stopping");
                        return End::Shutdown;
                    }
                },
            }
        }
    }

    /// What a message from the server does; `Some` ends the connection.
    fn on_message(
        &mut self,
        m: ServerMessage,
        out_tx: &mpsc::Sender<AgentMessage>,
        task: &mut Option<Task>,
    ) -> Option<End> {
        match m {
            ServerMessage::Heartbeat => {}
            ServerMessage::Error { code, message } => {
                if code == ErrorCode::CredentialsRevoked {
                    tracing::error!("the server revoked this agent's credentials: {message}");
                }
                return Some(End::Lost(format!(
                    "the server closed the connection: {message}"
                )));
            }
            ServerMessage::StartRun(start) => {
                // The server knows which run is active: a task still here belongs to a
                // run it has ended.
                if let Some(t) = task.take() {
                    tracing::warn!(run_id = %start.run_id, abandoned = %t.run_id, "a new run replaces one the server ended");
                    t.handle.abort();
                }
                tracing::info!(run_id = %start.run_id, dry_run = start.settings.dry_run.value, full = start.full, "run started");
                self.read.store(0, Ordering::Relaxed);
                let (inbox, rx) = mpsc::unbounded_channel();
                let (manifest, manifest_rx) = mpsc::channel(crate::sync::MANIFEST_AHEAD);
                let link = Link {
                    out: out_tx.clone(),
                    inbox: rx,
                    manifest: manifest_rx,
                };
                let (run_id, dry_run) = (start.run_id, start.settings.dry_run.value);
                let handle = tokio::spawn(sync::execute(
                    self.config.clone(),
                    start,
                    link,
                    self.read.clone(),
                    self.server_protocol,
                ));
                *task = Some(Task {
                    run_id,
                    dry_run,
                    started: Instant::now(),
                    inbox,
                    manifest,
                    handle,
                });
            }
            ServerMessage::RunFinished { run_id, report } => {
                let c = &report.counts;
                match &report.error {
                    Some(error) => {
                        tracing::warn!(%run_id, status = report.status, error, "run finished")
                    }
                    None => {
                        tracing::info!(%run_id, status = report.status, read = c.read, created = c.created, updated = c.updated, deleted = c.deleted, disabled = c.disabled, unchanged = c.unchanged, held = c.held, "run finished")
                    }
                }
                let mut finished = Finished {
                    run_id,
                    dry_run: None,
                    duration: None,
                    report: report.clone(),
                };
                if let Some(t) = task.take_if(|t| t.run_id == run_id) {
                    finished.dry_run = Some(t.dry_run);
                    finished.duration = Some(t.started.elapsed());
                    // The task ends by itself once it sees the report.
                    let _ = t.inbox.send(ServerMessage::RunFinished {
                        run_id,
                        report: report.clone(),
                    });
                }
                self.status.send_modify(|s| {
                    s.last_run = Some(report.clone());
                    s.runs_finished += 1;
                });
                if self.imp {
                    return Some(End::Finished(Box::new(finished)));
                }
            }
            ServerMessage::RunRefused { reason } => {
                tracing::warn!(reason, "the server refused the run");
                if self.imp {
                    return Some(End::Refused(reason));
                }
            }
            // Passed on by `serve_loop`, which may wait for the run to take it.
            ServerMessage::ManifestChunk { .. } => {}
            m @ (ServerMessage::GroupManifestChunk { .. } | ServerMessage::BatchAck { .. }) => {
                if let Some(t) = task.as_ref() {
                    let _ = t.inbox.send(m);
                }
            }
            ServerMessage::Authenticate {
                request_id,
                username,
                password,
            } => {
                // Answered on a task of its own: a slow directory must not hold up
                // heartbeats or a run.
                let cfg = self.config.clone();
                let pool = self.auth_pool.clone();
                let out = out_tx.clone();
                let status = self.status.clone();
                tokio::spawn(async move {
                    let outcome =
                        crate::auth::authenticate(&cfg, &pool, &username, &password).await;
                    status.send_modify(|s| s.authentications += 1);
                    let _ = out
                        .send(AgentMessage::AuthResult {
                            request_id,
                            outcome,
                        })
                        .await;
                });
            }
            other @ ServerMessage::Welcome(_) => {
                return Some(End::Lost(format!(
                    "unexpected message from the server: {other:?}"
                )));
            }
        }
        None
    }
}
