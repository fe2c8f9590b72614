//! The system under test: slapd with N users, the release `adc-server` on PostgreSQL
//! (or SQLite, `--sqlite-search`)
//! and the release `adc run`, connected; and a run started over REST and waited for.

use crate::Args;
use crate::measure::release_bin;
use adc_e2e::engine::{Engine, TestDb};
use adc_e2e::process::{Proc, free_port};
use adc_e2e::slapd::{self, Person, Slapd, UNLIMITED};
use anyhow::{Context, bail};
use serde_json::{Value, json};
use std::process::Command;
use std::time::{Duration, Instant};

/// adc.yaml's groups section of the groups benchmark.
const GROUPS_SECTION: &str = "    groups:\n      base_dn: ou=groups,dc=example,dc=com\n";

pub struct Rig {
    pub api: reqwest::Client,
    pub base: String,
    pub sync_id: String,
    pub csrf: String,
    pub ldap: Slapd,
    /// The database URL the server and the reference COPY use.
    pub db_url: String,
    pub server: Proc,
    /// What starts the server again: its binary and port.
    server_restart: (std::path::PathBuf, u16),
    pub agent: Proc,
    /// Bytes the agent sent to the server so far (groups mode: the agent connects
    /// through a counting relay).
    pub agent_sent: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
    /// Whether the server builds its search indexes (from its next start).
    pub search_index: bool,
    _db: TestDb,
    _dir: tempfile::TempDir,
}

impl Rig {
    /// Loads the directory, starts the server and the agent, and waits until the
    /// agent is connected.
    pub async fn start(args: &Args) -> anyhow::Result<Rig> {
        let n = args.users;
        let server_bin = release_bin("adc-server")?;
        let agent_bin = release_bin("adc")?;
        let dir = tempfile::tempdir()?;

        eprintln!("loading {n} users into slapd…");
        let people: Vec<Person> = (0..n)
            .map(|i| Person {
                password: Some(format!("pw-{i}")),
                ..Person::numbered(i)
            })
            .collect();
        let mut ldif = slapd::ldif(&people);
        if args.groups > 0 {
            eprintln!(
                "… and {} groups of {} and one of {}",
                args.groups, args.group_size, args.big_group
            );
            ldif.push_str(&crate::groups::ldif(n, args));
        }
        // With syncprov and a session log, as a directory offering delta reads is set up.
        let mut ldap = Slapd::start_syncprov(&ldif, true);
        // The 1 % modification goes over the wire; without fsync it takes seconds, not minutes.
        ldap.restart(&format!("{UNLIMITED}dbnosync\n"));
        let engine = if args.sqlite_search {
            Engine::Sqlite
        } else {
            Engine::Postgres
        };
        let db = TestDb::new(engine).await;
        // The database is on this host (loopback): without TLS, as a local PostgreSQL is
        // usually reached. The server and the reference COPY use the same URL.
        let db_url = match engine {
            Engine::Postgres => format!(
                "{}{}sslmode=disable",
                db.url,
                if db.url.contains('?') { '&' } else { '?' }
            ),
            Engine::Sqlite => db.url.clone(),
        };
        // The SQLite search benchmark measures the scan first, then starts the server
        // again to build the index.
        let search_index = !crate::measure::search_index_off() && !args.sqlite_search;

        let port = free_port();
        let server_cmd = server_command(&server_bin, &db_url, port, search_index);
        let server = Proc::spawn(server_cmd, dir.path(), "server");
        let server_restart = (server_bin.clone(), port);
        let base = format!("http://127.0.0.1:{port}");
        let api = reqwest::Client::builder().cookie_store(true).build()?;
        let mut login = None;
        for _ in 0..200 {
            if let Ok(r) = api
                .post(format!("{base}/api/v1/auth/login"))
                .json(&json!({"email": "bench@example.com", "password": "bench-password"}))
                .send()
                .await
            {
                login = Some(r.json::<Value>().await?);
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let login = login
            .with_context(|| format!("the server did not start; it said:\n{}", server.stderr()))?;
        let csrf = login["csrf_token"]
            .as_str()
            .context("no csrf token")?
            .to_owned();
        let sync: Value = api
            .post(format!("{base}/api/v1/synchronizations"))
            .header("x-csrf-token", &csrf)
            .json(&json!({"name": "bench"}))
            .send()
            .await?
            .json()
            .await?;
        let sync_id = sync["id"].as_str().context("no sync")?.to_owned();
        let secret = sync["secret"].as_str().context("no secret")?.to_owned();

        let mut yaml = ldap
            .adc_yaml("")
            .replace("page_size: 20", &format!("page_size: {}", args.page_size));
        let mut agent_port = port;
        let mut agent_sent = None;
        if args.groups > 0 {
            yaml = yaml.replace(
                "    authentication:\n",
                &format!("{GROUPS_SECTION}    authentication:\n"),
            );
            let (relay_port, sent) = counting_relay(port).await?;
            agent_port = relay_port;
            agent_sent = Some(sent);
        }
        std::fs::write(dir.path().join("adc.yaml"), yaml)?;
        let mut agent_cmd = Command::new(&agent_bin);
        agent_cmd
            .current_dir(dir.path())
            .env("AD_CONNECT_ADDR", format!("ws://127.0.0.1:{agent_port}"))
            .env("AD_CONNECT_AUTH", format!("{sync_id}:{secret}"))
            .env("AD_CONNECT_CONFIG", dir.path().join("adc.yaml"))
            .env(
                "AD_CONNECT_LOG",
                std::env::var("ADC_BENCH_AGENT_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .arg("run");
        let agent = Proc::spawn(agent_cmd, dir.path(), "agent");
        struct Conn {
            api: reqwest::Client,
            base: String,
            sync_id: String,
            csrf: String,
        }
        let rig = Conn {
            api,
            base: base.clone(),
            sync_id: sync_id.clone(),
            csrf,
        };
        for _ in 0..200 {
            let a: Value = rig
                .api
                .get(format!("{base}/api/v1/synchronizations/{sync_id}/agents"))
                .send()
                .await?
                .json()
                .await?;
            if a.as_array().is_some_and(|a| !a.is_empty()) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        Ok(Rig {
            api: rig.api,
            base: rig.base,
            sync_id: rig.sync_id,
            csrf: rig.csrf,
            ldap,
            db_url,
            server,
            server_restart,
            agent,
            agent_sent,
            search_index,
            _db: db,
            _dir: dir,
        })
    }

    /// Starts a run and waits for it to succeed: its duration and report.
    pub async fn run(&self) -> anyhow::Result<(Duration, Value)> {
        let t = Instant::now();
        let r: Value = self
            .api
            .post(format!(
                "{}/api/v1/synchronizations/{}/runs",
                self.base, self.sync_id
            ))
            .header("x-csrf-token", &self.csrf)
            .json(&json!({}))
            .send()
            .await?
            .json()
            .await?;
        let id = r["id"]
            .as_str()
            .with_context(|| format!("run not started: {r}"))?
            .to_owned();
        loop {
            // A delta re-sync takes milliseconds: look often at first.
            let wait = if t.elapsed() < Duration::from_millis(200) {
                2
            } else {
                20
            };
            tokio::time::sleep(Duration::from_millis(wait)).await;
            let r: Value = self
                .api
                .get(format!("{}/api/v1/runs/{id}", self.base))
                .send()
                .await?
                .json()
                .await?;
            if r["status"] != "running" {
                if r["status"] != "succeeded" {
                    bail!("the run ended {}: {}", r["status"], r["error"]);
                }
                return Ok((t.elapsed(), r));
            }
        }
    }

    /// Stops the server (SIGTERM) and starts it again on the same port and database;
    /// returns once it answers.
    pub async fn restart_server(&mut self) -> anyhow::Result<()> {
        self.server.signal(nix::sys::signal::Signal::SIGTERM);
        self.server.wait(Duration::from_secs(30)).await;
        let (bin, port) = &self.server_restart;
        let cmd = server_command(bin, &self.db_url, *port, self.search_index);
        self.server = Proc::spawn(cmd, self._dir.path(), "server-restarted");
        for _ in 0..400 {
            if let Ok(r) = self.api.get(format!("{}/readyz", self.base)).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        bail!("the server did not come back: {}", self.server.stderr())
    }

    /// Changes the synchronization (`full_read_hours`, say).
    pub async fn patch_sync(&self, body: Value) -> anyhow::Result<()> {
        let r = self
            .api
            .patch(format!(
                "{}/api/v1/synchronizations/{}",
                self.base, self.sync_id
            ))
            .header("x-csrf-token", &self.csrf)
            .json(&body)
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("PATCH {body}: {} {}", r.status(), r.text().await?);
        }
        Ok(())
    }

    /// Bytes the agent has sent the server so far (groups mode).
    pub fn agent_sent(&self) -> u64 {
        self.agent_sent
            .as_ref()
            .map_or(0, |s| s.load(std::sync::atomic::Ordering::SeqCst))
    }

    /// The server's and the agent's logs, when asked for with ADC_BENCH_SERVER_LOG or
    /// ADC_BENCH_AGENT_LOG.
    pub fn print_logs(&self) {
        if std::env::var_os("ADC_BENCH_SERVER_LOG").is_some() {
            eprintln!("{}", self.server.stderr());
        }
        if std::env::var_os("ADC_BENCH_AGENT_LOG").is_some() {
            eprintln!("{}", self.agent.stderr());
        }
    }
}

/// A loopback relay to the server's `port` that counts the bytes the agent sends.
async fn counting_relay(
    port: u16,
) -> anyhow::Result<(u16, std::sync::Arc<std::sync::atomic::AtomicU64>)> {
    use std::sync::atomic::{AtomicU64, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let relay_port = listener.local_addr()?.port();
    let sent = std::sync::Arc::new(AtomicU64::new(0));
    let counter = sent.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
                    return;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let (mut cr, mut cw) = client.into_split();
                let (mut sr, mut sw) = server.into_split();
                let up = async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    while let Ok(n) = cr.read(&mut buf).await {
                        if n == 0 || sw.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                        counter.fetch_add(n as u64, Ordering::SeqCst);
                    }
                };
                let down = async move {
                    let _ = tokio::io::copy(&mut sr, &mut cw).await;
                };
                tokio::select! {
                    _ = up => {}
                    _ = down => {}
                }
            });
        }
    });
    Ok((relay_port, sent))
}

/// The server's command line, as the benchmark runs it.
fn server_command(bin: &std::path::Path, db_url: &str, port: u16, search_index: bool) -> Command {
    let mut server_cmd = Command::new(bin);
    server_cmd
        .env("ADC_DATABASE_URL", db_url)
        .env("ADC_LISTEN", format!("127.0.0.1:{port}"))
        .env("ADC_BOOTSTRAP_ADMIN_EMAIL", "bench@example.com")
        .env("ADC_BOOTSTRAP_ADMIN_PASSWORD", "bench-password")
        .env(
            "ADC_LOG",
            std::env::var("ADC_BENCH_SERVER_LOG").unwrap_or_else(|_| "warn".into()),
        );
    if !search_index {
        server_cmd.env("ADC_SEARCH_INDEX_MIN_ROWS", u64::MAX.to_string());
    }
    // The bench's own settings are not the server's (it warns of unknown ADC_* names).
    for (k, _) in std::env::vars() {
        if k.starts_with("ADC_BENCH_") || k.starts_with("ADC_TEST_") {
            server_cmd.env_remove(k);
        }
    }
    server_cmd
}
