//! The real server, in-process on 127.0.0.1:0 with an injected shutdown.

use crate::api::Api;
use crate::engine::{Engine, TestDb};
use adc_server::Config;
use adc_server::secrets::Secret;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

pub struct TestServer {
    pub addr: SocketAddr,
    pub db: TestDb,
    pub tls: bool,
    /// The certificate an HTTPS server presents, for clients to trust.
    ca_pem: Option<Vec<u8>>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestServer {
    pub async fn start(engine: Engine) -> TestServer {
        Self::start_with(TestDb::new(engine).await, |_| {}).await
    }

    /// Starts on `db` with the test defaults, after `tweak` has adjusted the config.
    pub async fn start_with(db: TestDb, tweak: impl FnOnce(&mut Config)) -> TestServer {
        Self::start_on(db, "127.0.0.1:0", tweak).await
    }

    /// Starts on a given address: a restart on the same port, as agents see it.
    pub async fn start_on(db: TestDb, addr: &str, tweak: impl FnOnce(&mut Config)) -> TestServer {
        crate::crypto();
        let mut config = Config::new(Some(db.url.clone()));
        config.bootstrap_admin_email = Some(ADMIN_EMAIL.into());
        config.bootstrap_admin_password = Some(Secret::new(ADMIN_PASSWORD));
        tweak(&mut config);
        let tls = config.tls.is_some();
        // The test CA sits beside the certificate (see certs.rs).
        let ca_pem = config
            .tls
            .as_ref()
            .map(|t| std::fs::read(t.cert.with_file_name("ca.pem")).expect("test CA file"));
        let listener = std::net::TcpListener::bind(addr).unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(adc_server::serve(listener, config, async move {
            let _ = rx.await;
        }));
        let mut server = TestServer {
            addr,
            db,
            tls,
            ca_pem,
            shutdown: Some(tx),
            task: Some(task),
        };
        server.wait_ready().await;
        server
    }

    async fn wait_ready(&mut self) {
        let client = self.http_client();
        let url = format!("{}/healthz", self.base_url());
        let mut last = String::new();
        for _ in 0..200 {
            match client.get(&url).send().await {
                Ok(r) if r.status().is_success() => return,
                Ok(r) => last = format!("status {}", r.status()),
                Err(e) => last = format!("{e:?}"),
            }
            if self.task.as_ref().is_some_and(|t| t.is_finished()) {
                let r = self.task.take().unwrap().await;
                panic!("the server stopped while starting: {r:?}");
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the server did not become healthy: {last}");
    }

    pub fn base_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        let host = if self.tls { "localhost" } else { "127.0.0.1" };
        format!("{scheme}://{host}:{}", self.addr.port())
    }

    /// The value a user puts in `AD_CONNECT_ADDR`.
    pub fn agent_addr(&self) -> String {
        if self.tls {
            format!("localhost:{}", self.addr.port())
        } else {
            format!("ws://127.0.0.1:{}", self.addr.port())
        }
    }

    fn http_client(&self) -> reqwest::Client {
        let mut b = reqwest::Client::builder().cookie_store(true);
        if let Some(pem) = &self.ca_pem {
            b = b.tls_certs_only([reqwest::Certificate::from_pem(pem).unwrap()]);
        }
        b.build().unwrap()
    }

    /// An API client with no credentials.
    pub fn anonymous(&self) -> Api {
        Api::new(self.http_client(), self.base_url())
    }

    /// Signed in as the bootstrap system-admin.
    pub async fn admin(&self) -> Api {
        self.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> Api {
        let mut api = self.anonymous();
        api.login(email, password).await;
        api
    }

    /// Stops the server the way SIGTERM does, waits for it, and hands back its
    /// database for a restart.
    pub async fn stop(mut self) -> TestDb {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.expect("server task").expect("server exits cleanly");
        }
        let empty = TestDb::borrowed(&self.db);
        std::mem::replace(&mut self.db, empty)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
