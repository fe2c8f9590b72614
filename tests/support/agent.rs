//! The real agent code, in-process, with a handle to reload, stop and watch it.

use adc_agent::env::ServerAccess;
use adc_agent::run::{Agent, Control, Status};
use adc_agent::secret::Secret;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub struct TestAgent {
    pub config_path: PathBuf,
    control: mpsc::Sender<Control>,
    pub status: watch::Receiver<Status>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
}

pub struct AgentSetup {
    pub addr: String,
    pub client_id: String,
    pub secret: String,
    pub yaml: String,
    pub extra_ca: Option<PathBuf>,
}

impl TestAgent {
    pub fn start(setup: AgentSetup) -> TestAgent {
        crate::crypto();
        let dir = tempfile::tempdir().unwrap();
        let config_path = dir.path().join("adc.yaml");
        std::fs::write(&config_path, &setup.yaml).unwrap();
        let access = ServerAccess {
            url: adc_agent::env::websocket_url(&setup.addr).unwrap(),
            client_id: setup.client_id.parse().unwrap(),
            secret: Secret::new(setup.secret),
            extra_ca: setup.extra_ca,
        };
        let (status_tx, status) = watch::channel(Status::default());
        let agent = Agent::new(access, &config_path, status_tx).expect("agent starts");
        let (control, rx) = mpsc::channel(8);
        let task = tokio::spawn(agent.run(rx));
        TestAgent {
            config_path,
            control,
            status,
            task: Some(task),
            _dir: dir,
        }
    }

    /// Waits until connected; returns the synchronization name the server welcomed it as.
    pub async fn connected(&mut self) -> String {
        self.wait_for("the agent to connect", |s| s.connected_to.clone())
            .await
    }

    pub async fn wait_for<T>(&mut self, what: &str, f: impl Fn(&Status) -> Option<T>) -> T {
        let r = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                if let Some(v) = f(&self.status.borrow_and_update()) {
                    return v;
                }
                if self.status.changed().await.is_err() {
                    panic!(
                        "the agent stopped while waiting for {what}: {:?}",
                        self.status.borrow()
                    );
                }
            }
        })
        .await;
        r.unwrap_or_else(|_| {
            panic!(
                "timed out waiting for {what}; status {:?}",
                self.status.borrow()
            )
        })
    }

    /// Ends the agent abruptly, as a crash would: no goodbye to the server.
    pub fn kill(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }

    pub async fn reload(&self) {
        self.control.send(Control::Reload).await.unwrap();
    }

    /// Stops it as SIGTERM does; returns what `run` returned.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let _ = self.control.send(Control::Shutdown).await;
        self.task.take().unwrap().await.unwrap()
    }
}

impl Drop for TestAgent {
    fn drop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}
