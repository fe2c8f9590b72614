//! `adc run` (DESIGN §7.2): stay connected, reconnect with backoff, reload adc.yaml on
//! SIGHUP (keeping the old one when the new one is bad), stop cleanly on SIGTERM.

use crate::backoff::Backoff;
use crate::config::AgentConfig;
use crate::connection::{self, ConnectError, Connection};
use crate::env::ServerAccess;
use crate::tls;
use adc_shared::protocol::{
    AgentMessage, ErrorCode, HEARTBEAT_TIMEOUT_SECS, Hello, PROTOCOL_VERSION, ServerMessage,
};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// What the process asks of the running agent (signals, or a test).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    Reload,
    Shutdown,
}

/// What the agent is doing, for whoever watches (tests, a future status command).
#[derive(Clone, Debug, Default)]
pub struct Status {
    pub connected_to: Option<String>,
    pub attempts: u64,
    pub last_error: Option<String>,
    pub reloads: u64,
    pub last_reload_error: Option<String>,
}

pub fn hostname() -> String {
    let h = gethostname::gethostname().to_string_lossy().into_owned();
    let h: String = h.chars().take(255).collect();
    if h.is_empty() { "unknown".into() } else { h }
}

enum End {
    Shutdown,
    Lost(String),
}

pub struct Agent {
    access: ServerAccess,
    config_path: PathBuf,
    config: AgentConfig,
    status: watch::Sender<Status>,
}

impl Agent {
    /// Reads adc.yaml; a bad file at start is an error, not a retry.
    pub fn new(
        access: ServerAccess,
        config_path: &Path,
        status: watch::Sender<Status>,
    ) -> anyhow::Result<Agent> {
        let config = AgentConfig::load(config_path)?;
        Ok(Agent {
            access,
            config_path: config_path.to_owned(),
            config,
            status,
        })
    }

    fn reload(&mut self) -> bool {
        match AgentConfig::load(&self.config_path) {
            Ok(c) => {
                self.config = c;
                tracing::info!(path = %self.config_path.display(), "configuration reloaded");
                self.status.send_modify(|s| {
                    s.reloads += 1;
                    s.last_reload_error = None;
                });
                true
            }
            Err(e) => {
                tracing::error!("reload failed, keeping the previous configuration: {e}");
                self.status
                    .send_modify(|s| s.last_reload_error = Some(e.to_string()));
                false
            }
        }
    }

    fn hello(&self) -> Hello {
        Hello {
            protocol_version: PROTOCOL_VERSION,
            agent_version: crate::VERSION.to_owned(),
            hostname: hostname(),
            settings: self.config.settings,
        }
    }

    /// Runs until told to shut down.
    pub async fn run(mut self, mut control: mpsc::Receiver<Control>) -> anyhow::Result<()> {
        let tls = tls::client_config(self.access.extra_ca.as_deref())?;
        let mut backoff = Backoff::default();
        loop {
            self.status.send_modify(|s| s.attempts += 1);
            let attempt = tokio::select! {
                r = connection::connect(&self.access, tls.clone(), self.hello()) => Some(r),
                c = control.recv() => match c {
                    Some(Control::Reload) => { self.reload(); None }
                    Some(Control::Shutdown) | None => return Ok(()),
                },
            };
            match attempt {
                None => continue,
                Some(Ok(conn)) => {
                    backoff.reset();
                    tracing::info!(
                        server = self.access.url,
                        synchronization = conn.welcome.synchronization_name,
                        "connected"
                    );
                    let name = conn.welcome.synchronization_name.clone();
                    self.status.send_modify(|s| {
                        s.connected_to = Some(name);
                        s.last_error = None;
                    });
                    let end = self.serve(conn, &mut control).await;
                    self.status.send_modify(|s| s.connected_to = None);
                    match end {
                        End::Shutdown => return Ok(()),
                        End::Lost(reason) => {
                            tracing::warn!(reason, "disconnected");
                            self.status.send_modify(|s| s.last_error = Some(reason));
                        }
                    }
                }
                Some(Err(e)) => {
                    match &e {
                        ConnectError::Refused(_) | ConnectError::Incompatible(_) => {
                            tracing::error!("{e}")
                        }
                        _ => tracing::warn!("{e}"),
                    }
                    self.status
                        .send_modify(|s| s.last_error = Some(e.to_string()));
                }
            }
            let delay = backoff.next_delay();
            tracing::info!(retry_in_ms = delay.as_millis() as u64, "reconnecting later");
            let deadline = Instant::now() + delay;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep_until(deadline) => break,
                    c = control.recv() => match c {
                        Some(Control::Reload) => { self.reload(); }
                        Some(Control::Shutdown) | None => return Ok(()),
                    },
                }
            }
        }
    }

    async fn serve(&mut self, mut conn: Connection, control: &mut mpsc::Receiver<Control>) -> End {
        let interval = Duration::from_secs(conn.welcome.heartbeat_interval_secs.max(1));
        let silence = (interval * 3).max(Duration::from_secs(HEARTBEAT_TIMEOUT_SECS));
        let mut tick = tokio::time::interval(interval);
        tick.tick().await;
        let mut last_seen = Instant::now();
        loop {
            tokio::select! {
                m = connection::next_message(&mut conn.socket) => {
                    last_seen = Instant::now();
                    match m {
                        Ok(Some(ServerMessage::Heartbeat)) => {}
                        Ok(Some(ServerMessage::Error { code, message })) => {
                            if code == ErrorCode::CredentialsRevoked {
                                tracing::error!("the server revoked this agent's credentials: {message}");
                            }
                            return End::Lost(format!("the server closed the connection: {message}"));
                        }
                        Ok(Some(other)) => return End::Lost(format!("unexpected message from the server: {other:?}")),
                        Ok(None) => return End::Lost("the server closed the connection".into()),
                        Err(e) => return End::Lost(e),
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
                        let frame = CloseFrame { code: CloseCode::Normal, reason: "agent stopping".into() };
                        let _ = futures_util::SinkExt::send(&mut conn.socket, Message::Close(Some(frame))).await;
                        // Give the server a moment to see the close before the process exits.
                        let _ = tokio::time::timeout(Duration::from_secs(2), async {
                            while let Ok(Some(_)) = connection::next_message(&mut conn.socket).await {}
                        })
                        .await;
                        tracing::info!("stopped");
                        return End::Shutdown;
                    }
                },
            }
        }
    }
}
