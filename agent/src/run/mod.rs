//! `adc run` (architecture §7.2): stay connected, reconnect with backoff, reload adc.yaml on
//! SIGHUP (keeping the old one when the new one is bad), stop cleanly on SIGTERM.

use crate::backoff::Backoff;
use crate::config::AgentConfig;
use crate::connection::{self, ConnectError};
use crate::env::ServerAccess;
use crate::tls;
use adc_shared::protocol::{AgentMessage, Hello, PROTOCOL_VERSION, RunSummary, ServerMessage};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use uuid::Uuid;

/// What the process asks of the running agent (signals, or a test).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    Reload,
    Shutdown,
}

pub const RECENT_ATTEMPTS: usize = 8;

/// What the agent is doing, for whoever watches (tests, a future status command).
#[derive(Clone, Debug, Default)]
pub struct Status {
    pub connected_to: Option<String>,
    /// The report of the last run this agent worked on.
    pub last_run: Option<RunSummary>,
    pub runs_finished: u64,
    /// Pass-through authentications this agent answered.
    pub authentications: u64,
    pub attempts: u64,
    /// When the latest connection attempts started (the last [`RECENT_ATTEMPTS`]), so
    /// the backoff between them can be seen.
    pub recent_attempts: std::collections::VecDeque<std::time::Instant>,
    pub last_error: Option<String>,
    pub reloads: u64,
    pub last_reload_error: Option<String>,
}

mod session;

pub fn hostname() -> String {
    let h = gethostname::gethostname().to_string_lossy().into_owned();
    let h: String = h.chars().take(255).collect();
    if h.is_empty() { "unknown".into() } else { h }
}

enum End {
    Shutdown,
    Lost(String),
    /// `adc imp`: the run ended with this report.
    Finished(Box<Finished>),
    /// `adc imp`: the server would not start a run.
    Refused(String),
}

/// A run `adc imp` asked for, as it ended.
#[derive(Clone, Debug)]
pub struct Finished {
    pub run_id: Uuid,
    /// The run's effective `dry-run`: nothing was applied. `None` when the run ended
    /// before it started here.
    pub dry_run: Option<bool>,
    /// From the start command to the report, as seen by the agent.
    pub duration: Option<Duration>,
    pub report: RunSummary,
}

/// The run this connection is working on.
struct Task {
    run_id: Uuid,
    dry_run: bool,
    started: Instant,
    inbox: mpsc::UnboundedSender<ServerMessage>,
    manifest: mpsc::Sender<crate::sync::ManifestPart>,
    handle: tokio::task::JoinHandle<Option<RunSummary>>,
}

pub struct Agent {
    access: ServerAccess,
    config_path: PathBuf,
    config: AgentConfig,
    status: watch::Sender<Status>,
    /// `adc imp`: end after one run instead of waiting for the next command.
    imp: bool,
    read: Arc<AtomicU64>,
    /// The protocol the server of the current connection speaks.
    server_protocol: u32,
    /// Directory connections kept for pass-through authentication (new on reload).
    auth_pool: Arc<crate::auth::Pool>,
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
            imp: false,
            read: Arc::new(AtomicU64::new(0)),
            server_protocol: PROTOCOL_VERSION,
            auth_pool: Arc::default(),
        })
    }

    fn reload(&mut self) -> bool {
        match AgentConfig::load(&self.config_path) {
            Ok(c) => {
                self.config = c;
                // Connections made with the old settings (address, account) go.
                self.auth_pool = Arc::default();
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
            self.status.send_modify(|s| {
                s.attempts += 1;
                if s.recent_attempts.len() == RECENT_ATTEMPTS {
                    s.recent_attempts.pop_front();
                }
                s.recent_attempts.push_back(std::time::Instant::now());
            });
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
                        End::Finished(_) | End::Refused(_) => {}
                        End::Lost(reason) => {
                            tracing::warn!(reason, "disconnected");
                            self.status.send_modify(|s| s.last_error = Some(reason));
                        }
                    }
                }
                Some(Err(e)) => {
                    // A network failure's message names the server already.
                    let server = self.access.url.as_str();
                    match &e {
                        ConnectError::Refused(_) | ConnectError::Incompatible(_) => {
                            tracing::error!(server, "{e}")
                        }
                        ConnectError::Rejected(_) => tracing::warn!(server, "{e}"),
                        ConnectError::Network(_) => tracing::warn!("{e}"),
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

    /// `adc imp`: one connection, one run, its report.
    pub async fn imp(
        mut self,
        dry_run: bool,
        full: bool,
        mut control: mpsc::Receiver<Control>,
    ) -> anyhow::Result<Finished> {
        let tls = tls::client_config(self.access.extra_ca.as_deref())?;
        self.imp = true;
        let mut conn = connection::connect(&self.access, tls, self.hello()).await?;
        tracing::info!(
            synchronization = conn.welcome.synchronization_name,
            "connected; asking for a run"
        );
        connection::send(
            &mut conn.socket,
            &AgentMessage::RequestRun { dry_run, full },
        )
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach the server: {e}"))?;
        match self.serve(conn, &mut control).await {
            End::Finished(f) => Ok(*f),
            End::Refused(reason) => anyhow::bail!("the server refused the run: {reason}"),
            End::Lost(reason) => anyhow::bail!("{reason}"),
            End::Shutdown => anyhow::bail!("stopped before the run ended"),
        }
    }

    /// How many entries the current run has read, for a progress display.
    pub fn progress(&self) -> Arc<AtomicU64> {
        self.read.clone()
    }
}
