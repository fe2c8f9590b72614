//! The sync benchmark (issue: sync engine, performance). Builds a directory of N
//! inetOrgPerson users in a throwaway slapd (bulk-loaded with slapadd), runs the real
//! release `adc-server` on PostgreSQL and the real release `adc`, and prints each
//! figure beside the reference measured in the same run: a paged `ldapsearch` dump of
//! the same entries and a PostgreSQL `COPY` of as many rows.
//!
//! Run with `bench/run` (it builds the release binaries first).

use adc_e2e::engine::{Engine, TestDb};
use adc_e2e::process::{Proc, free_port};
use adc_e2e::slapd::{self, BASE_DN, Person, READONLY_DN, READONLY_PASSWORD, Slapd, UNLIMITED};
use anyhow::{Context, bail};
use clap::Parser;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

#[derive(Parser)]
struct Args {
    /// Users in the directory.
    #[arg(long, default_value_t = 100_000)]
    users: usize,
    /// LDAP page size of the agent and of the reference ldapsearch.
    #[arg(long, default_value_t = 500)]
    page_size: u32,
    /// Pass-through authentications to time.
    #[arg(long, default_value_t = 3000)]
    auth_requests: usize,
    /// Rounds of (ldapsearch dump, COPY, first sync) whose medians are the initial
    /// sync's figures.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Stop after the initial syncs (for profiling one stage).
    #[arg(long)]
    initial_only: bool,
    /// Record the whole machine with `perf record -a -g` into this file during the
    /// first round's initial sync.
    #[arg(long)]
    perf: Option<PathBuf>,
}

/// `requests` authentications of random users from 8 concurrent callers: the rate and
/// the p50 and p99 latencies in ms. Every one must succeed.
async fn auth_load(
    base: &str,
    token: &str,
    users: usize,
    requests: usize,
) -> anyhow::Result<(f64, f64, f64)> {
    let client = reqwest::Client::new();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let (client, base, token) = (client.clone(), base.to_owned(), token.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            for k in (worker..requests).step_by(8) {
                let i = (k * 7919) % users;
                let p = Person::numbered(i);
                let t = Instant::now();
                let r = client
                    .post(format!("{base}/api/v1/authenticate"))
                    .bearer_auth(&token)
                    .json(&json!({"username": p.mail, "password": format!("pw-{i}")}))
                    .send()
                    .await?;
                if !r.status().is_success() {
                    bail!(
                        "authentication of {} answered {}: {}",
                        p.mail,
                        r.status(),
                        r.text().await.unwrap_or_default()
                    );
                }
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            Ok::<_, anyhow::Error>(lat)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await??);
    }
    let rate = all.len() as f64 / started.elapsed().as_secs_f64();
    all.sort_by(|a, b| a.total_cmp(b));
    let pct = |q: f64| all[((all.len() as f64 - 1.0) * q) as usize];
    Ok((rate, pct(0.50), pct(0.99)))
}

/// Binds per second of bare `ldapwhoami` processes, two at a time (one per core).
fn whoami_rate(ldap: &Slapd, users: usize, binds: usize) -> anyhow::Result<f64> {
    let started = Instant::now();
    std::thread::scope(|s| -> anyhow::Result<()> {
        let handles: Vec<_> = (0..2)
            .map(|w| {
                s.spawn(move || -> anyhow::Result<()> {
                    for k in (w..binds).step_by(2) {
                        let i = (k * 7919) % users;
                        let dn = format!("uid={},ou=people,{BASE_DN}", Person::numbered(i).uid);
                        let out = Command::new("ldapwhoami")
                            .args(["-x", "-H", &ldap.url, "-D", &dn, "-w", &format!("pw-{i}")])
                            .output()?;
                        if !out.status.success() {
                            bail!(
                                "ldapwhoami failed: {}",
                                String::from_utf8_lossy(&out.stderr)
                            );
                        }
                    }
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join().expect("thread")?;
        }
        Ok(())
    })?;
    Ok(binds as f64 / started.elapsed().as_secs_f64())
}

fn release_bin(name: &str) -> anyhow::Result<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/release")
        .join(name);
    if !p.exists() {
        bail!(
            "{} is missing: run `cargo build --release --workspace --bins` (bench/run does)",
            p.display()
        );
    }
    Ok(p)
}

/// CPU seconds (user + system) a process has used so far.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after ")";
    // cutime and cstime (16, 17) are those of its children that exited and were
    // waited for: PostgreSQL's backends that closed, counted by the postmaster.
    (ticks(11) + ticks(12) + ticks(13) + ticks(14)) / 100.0
}

/// CPU seconds used so far by every process named `comm` (slapd, postgres).
fn cpu_of(comm: &str) -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == comm)
        })
        .map(cpu_secs)
        .sum()
}

/// Peak resident memory of a process so far, in MiB.
fn peak_rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

fn ldapsearch_dump(ldap: &Slapd, page: u32) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let out = Command::new("ldapsearch")
        .args([
            "-x",
            "-LLL",
            "-H",
            &ldap.url,
            "-D",
            READONLY_DN,
            "-w",
            READONLY_PASSWORD,
            "-b",
            BASE_DN,
        ])
        .args([
            "-E",
            &format!("pr={page}/noprompt"),
            "(objectClass=inetOrgPerson)",
        ])
        .output()
        .context("ldapsearch runs (ldap-utils)")?;
    if !out.status.success() {
        bail!(
            "ldapsearch failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(t.elapsed())
}

/// COPY of `n` rows shaped like the users table into a scratch table: a temporary
/// one without keys (the reference of the ratio), or, `keyed`, a logged table with the
/// users table's primary key and unique keys (for context: what storing them costs).
async fn copy_reference(db_url: &str, n: usize, keyed: bool) -> anyhow::Result<Duration> {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(db_url).await?;
    let columns = "id uuid, tenant_id uuid, synchronization_id uuid, external_id text COLLATE \"C\", username text, username_key text COLLATE \"C\",
         email text, display_name text, given_name text, surname text, enabled bool, source_enabled bool, removed_from_source bool,
         source_dn text, extra jsonb, content_hash text, created_at timestamptz, updated_at timestamptz";
    let ddl = if keyed {
        format!(
            "DROP TABLE IF EXISTS copy_ref; CREATE TABLE copy_ref ({columns}, PRIMARY KEY (id), UNIQUE (tenant_id, username_key));
             CREATE UNIQUE INDEX copy_ref_ext ON copy_ref (tenant_id, synchronization_id, external_id)"
        )
    } else {
        format!("CREATE TEMP TABLE copy_ref ({columns})")
    };
    sqlx::raw_sql(sqlx::AssertSqlSafe(ddl))
        .execute(&mut c)
        .await?;
    let mut data = String::with_capacity(n * 400);
    let t0 = "00000000-0000-4000-8000-000000000000";
    for i in 0..n {
        // Spread like v4 UUIDs: the primary key's inserts land all over the index.
        let i_id = (i as u32).wrapping_mul(2_654_435_761);
        data.push_str(&format!(
            "{i_id:08x}-0000-4000-8000-000000000001\t{t0}\t{t0}\t{:08x}-1111-4000-8000-000000000000\tuser{i:06}@example.com\tuser{i:06}@example.com\tuser{i:06}@example.com\tGiven{i} Surname{i}\tGiven{i}\tSurname{i}\tt\tt\tf\tuid=user{i:06},ou=people,{BASE_DN}\t{{}}\t{:064x}\t2026-01-01T00:00:00Z\t2026-01-01T00:00:00Z\n",
            i, i
        ));
    }
    let t = Instant::now();
    let mut copy = c.copy_in_raw("COPY copy_ref FROM STDIN").await?;
    copy.send(data.as_bytes()).await?;
    copy.finish().await?;
    let took = t.elapsed();
    if keyed {
        sqlx::raw_sql("DROP TABLE copy_ref").execute(&mut c).await?;
    }
    Ok(took)
}

/// One round of the initial-sync measurement.
struct Round {
    initial: Duration,
    search: Duration,
    copy: Duration,
    /// CPU seconds of the server, the agent, slapd and PostgreSQL during the sync.
    cpu: [f64; 4],
}

fn cpu(server: &Proc, agent: &Proc) -> [f64; 4] {
    [
        cpu_secs(server.child.id()),
        cpu_secs(agent.child.id()),
        cpu_of("slapd"),
        cpu_of("postgres"),
    ]
}

/// Empties the users table and the change lists, so that the next run is a first sync
/// again (TRUNCATE: new, empty files, as before the first round).
async fn empty_users(db_url: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(db_url).await?;
    sqlx::raw_sql("TRUNCATE users, run_changes; CHECKPOINT")
        .execute(&mut c)
        .await?;
    Ok(())
}

struct Rig {
    api: reqwest::Client,
    base: String,
    sync_id: String,
    csrf: String,
}

impl Rig {
    async fn run(&self) -> anyhow::Result<(Duration, Value)> {
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
            tokio::time::sleep(Duration::from_millis(20)).await;
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
}

/// The server's and the agent's logs, when asked for with ADC_BENCH_SERVER_LOG or
/// ADC_BENCH_AGENT_LOG.
fn print_logs(server: &Proc, agent: &Proc) {
    if std::env::var_os("ADC_BENCH_SERVER_LOG").is_some() {
        eprintln!("{}", server.stderr());
    }
    if std::env::var_os("ADC_BENCH_AGENT_LOG").is_some() {
        eprintln!("{}", agent.stderr());
    }
}

fn secs(d: Duration) -> String {
    format!("{:7.2} s", d.as_secs_f64())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = Args::parse();
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
    let mut ldap = Slapd::start(&slapd::ldif(&people));
    // The 1 % modification goes over the wire; without fsync it takes seconds, not minutes.
    ldap.restart(&format!("{UNLIMITED}dbnosync\n"));
    let db = TestDb::new(Engine::Postgres).await;
    // The database is on this host (loopback): without TLS, as a local PostgreSQL is
    // usually reached. The server and the reference COPY use the same URL.
    let db_url = format!(
        "{}{}sslmode=disable",
        db.url,
        if db.url.contains('?') { '&' } else { '?' }
    );

    let port = free_port();
    let mut server_cmd = Command::new(&server_bin);
    server_cmd
        .env("ADC_DATABASE_URL", &db_url)
        .env("ADC_LISTEN", format!("127.0.0.1:{port}"))
        .env("ADC_BOOTSTRAP_ADMIN_EMAIL", "bench@example.com")
        .env("ADC_BOOTSTRAP_ADMIN_PASSWORD", "bench-password")
        .env(
            "ADC_LOG",
            std::env::var("ADC_BENCH_SERVER_LOG").unwrap_or_else(|_| "warn".into()),
        );
    // The bench's own settings are not the server's (it warns of unknown ADC_* names).
    for (k, _) in std::env::vars() {
        if k.starts_with("ADC_BENCH_") || k.starts_with("ADC_TEST_") {
            server_cmd.env_remove(k);
        }
    }
    let server = Proc::spawn(server_cmd, dir.path(), "server");
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
    let login = login.context("the server did not start")?;
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

    let yaml = ldap
        .adc_yaml("")
        .replace("page_size: 20", &format!("page_size: {}", args.page_size));
    std::fs::write(dir.path().join("adc.yaml"), yaml)?;
    let mut agent_cmd = Command::new(&agent_bin);
    agent_cmd
        .current_dir(dir.path())
        .env("AD_CONNECT_ADDR", format!("ws://127.0.0.1:{port}"))
        .env("AD_CONNECT_AUTH", format!("{sync_id}:{secret}"))
        .env("AD_CONNECT_CONFIG", dir.path().join("adc.yaml"))
        .env(
            "AD_CONNECT_LOG",
            std::env::var("ADC_BENCH_AGENT_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .arg("run");
    let agent = Proc::spawn(agent_cmd, dir.path(), "agent");
    let rig = Rig {
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

    eprintln!("measuring…");
    let copy_keyed = copy_reference(&db_url, n, true).await?;
    // Rounds of dump, COPY and first sync, one after the other, so that a slow spell of
    // this shared machine weighs on ours and the references alike; each figure is the
    // median over the rounds. Before each round but the first the users table and the
    // change lists are emptied: every round is a synchronization's first run.
    let mut rounds: Vec<Round> = Vec::new();
    let mut r1 = Value::Null;
    for round in 0..args.rounds.max(1) {
        if round > 0 {
            empty_users(&db_url).await?;
        }
        let search = ldapsearch_dump(&ldap, args.page_size)?;
        let copy = copy_reference(&db_url, n, false).await?;
        let perf = match (&args.perf, round) {
            (Some(out), 0) => {
                let child = Command::new("perf")
                    .args(["record", "-a", "-g", "-q", "-o"])
                    .arg(out)
                    .stdout(std::process::Stdio::null())
                    .spawn()
                    .context("perf record")?;
                // perf needs a moment before it records anything.
                tokio::time::sleep(Duration::from_millis(500)).await;
                Some(child)
            }
            _ => None,
        };
        let cpu_before = cpu(&server, &agent);
        let (initial, r) = rig.run().await?;
        let cpu_after = cpu(&server, &agent);
        if let Some(mut child) = perf {
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            child.wait()?;
        }
        if r["counts"]["created"] != json!(n) {
            bail!(
                "round {round}: the first sync created {}, not {n}",
                r["counts"]["created"]
            );
        }
        let cpu: [f64; 4] = std::array::from_fn(|i| cpu_after[i] - cpu_before[i]);
        eprintln!(
            "round {}: initial {} (ldapsearch {} + COPY {}, ratio {:.2}); CPU server {:.2} s, agent {:.2} s, slapd {:.2} s, PostgreSQL {:.2} s",
            round + 1,
            secs(initial),
            secs(search),
            secs(copy),
            initial.as_secs_f64() / (search + copy).as_secs_f64(),
            cpu[0],
            cpu[1],
            cpu[2],
            cpu[3]
        );
        rounds.push(Round {
            initial,
            search,
            copy,
            cpu,
        });
        r1 = r;
    }
    let median = |f: fn(&Round) -> Duration| {
        let mut v: Vec<Duration> = rounds.iter().map(f).collect();
        v.sort();
        v[v.len() / 2]
    };
    let (initial, search, copy) = (
        median(|r| r.initial),
        median(|r| r.search),
        median(|r| r.copy),
    );
    // The CPU figures of the round whose time was the median.
    let cpu_initial = rounds
        .iter()
        .find(|r| r.initial == initial)
        .map(|r| r.cpu)
        .unwrap_or_default();
    let agent_peak = peak_rss_mib(agent.child.id());
    let server_peak = peak_rss_mib(server.child.id());
    if args.initial_only {
        println!(
            "initial full sync {}  ratio to ldapsearch + COPY ({} + {}) {:.2}; created {}  (medians of {} rounds)",
            secs(initial),
            secs(search),
            secs(copy),
            initial.as_secs_f64() / (search + copy).as_secs_f64(),
            r1["counts"]["created"],
            rounds.len()
        );
        println!(
            "CPU: server {:.2} s, agent {:.2} s, slapd {:.2} s, PostgreSQL {:.2} s; peak RSS agent {agent_peak:.1} MiB, server {server_peak:.1} MiB",
            cpu_initial[0], cpu_initial[1], cpu_initial[2], cpu_initial[3]
        );
        print_logs(&server, &agent);
        return Ok(());
    }
    // Re-syncs are short: three, each after a dump, and the medians of both.
    let mut nochanges = Vec::new();
    let mut searches = Vec::new();
    let mut r2 = Value::Null;
    for _ in 0..3 {
        searches.push(ldapsearch_dump(&ldap, args.page_size)?);
        let (d, r) = rig.run().await?;
        nochanges.push(d);
        r2 = r;
    }
    nochanges.sort();
    searches.sort();
    let nochange = nochanges[1];
    let search_ref = searches[1];

    let modified = (n / 100).max(1);
    {
        let mut l = ldap.admin().await;
        for i in 0..modified {
            let dn = format!("uid={},ou=people,{BASE_DN}", Person::numbered(i * 100).uid);
            let v: std::collections::HashSet<&str> = ["Modified"].into_iter().collect();
            l.modify(&dn, vec![ldap3::Mod::Replace("sn", v)])
                .await?
                .success()?;
        }
    }
    let (onepct, r3) = rig.run().await?;
    let agent_peak = agent_peak.max(peak_rss_mib(agent.child.id()));
    let server_peak = server_peak.max(peak_rss_mib(server.child.id()));

    // The users page at this size: the first page, one 90 % of the way in (keyset
    // paging), and searches, as the admin page asks for them.
    let deep = Person::numbered(n * 9 / 10).uid;
    let mut pages = Vec::new();
    for (label, query) in [
        ("first page", String::new()),
        ("page 90 % in", format!("&after={deep}")),
        ("search, one match", format!("&q={deep}")),
        ("search, many matches", "&q=given1".to_owned()),
    ] {
        let mut times = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            let r = rig
                .api
                .get(format!("{base}/api/v1/users?limit=50{query}"))
                .send()
                .await?;
            if !r.status().is_success() {
                bail!("users page {label}: {}", r.status());
            }
            r.bytes().await?;
            times.push(t.elapsed());
        }
        times.sort();
        pages.push((label, times[2]));
    }

    // Pass-through authentication: concurrent callers through server, agent and slapd,
    // beside bare `ldapwhoami` binds against the same slapd.
    let token: Value = rig
        .api
        .post(format!("{base}/api/v1/tokens"))
        .header("x-csrf-token", &rig.csrf)
        .json(&json!({"name": "bench", "role": "viewer", "can_authenticate": true}))
        .send()
        .await?
        .json()
        .await?;
    let token = token["secret"].as_str().context("no token")?.to_owned();
    let (auth_rate, p50, p99) = auth_load(&base, &token, n, args.auth_requests).await?;
    let whoami_rate = whoami_rate(&ldap, n, 400)?;

    println!(
        "ad-connect sync benchmark: {n} users, page size {}, PostgreSQL on loopback without TLS, {} cores",
        args.page_size,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    let spread = |f: fn(&Round) -> Duration| {
        let v: Vec<Duration> = rounds.iter().map(f).collect();
        format!(
            "{} to {}",
            secs(*v.iter().min().expect("a round")),
            secs(*v.iter().max().expect("a round"))
        )
    };
    println!(
        "reference  ldapsearch -E pr={}/noprompt dump   {}  (median of {} rounds; {})",
        args.page_size,
        secs(search),
        rounds.len(),
        spread(|r| r.search)
    );
    println!(
        "reference  PostgreSQL COPY of {n} rows     {}  (median of {} rounds; {})",
        secs(copy),
        rounds.len(),
        spread(|r| r.copy)
    );
    println!(
        "context    the same COPY into a logged table with the users table's keys {}",
        secs(copy_keyed)
    );
    let ratios: Vec<String> = rounds
        .iter()
        .map(|r| {
            format!(
                "{:.2}",
                r.initial.as_secs_f64() / (r.search + r.copy).as_secs_f64()
            )
        })
        .collect();
    println!(
        "initial full sync                          {}  ratio to ldapsearch + COPY {:.2}  (target <= 1.5; created {}; median of {} rounds, {}; ratio per round {})",
        secs(initial),
        initial.as_secs_f64() / (search + copy).as_secs_f64(),
        r1["counts"]["created"],
        rounds.len(),
        spread(|r| r.initial),
        ratios.join(", ")
    );
    println!(
        "reference  ldapsearch dumps beside the re-syncs {}  (median of three)",
        secs(search_ref)
    );
    println!(
        "re-sync, no change (median of three)       {}  ratio to ldapsearch {:.2}  (target <= 1.3; unchanged {})",
        secs(nochange),
        nochange.as_secs_f64() / search_ref.as_secs_f64(),
        r2["counts"]["unchanged"]
    );
    println!(
        "re-sync, 1 % modified ({modified} users)          {}  ratio to ldapsearch {:.2}  (target <= 1.3; updated {})",
        secs(onepct),
        onepct.as_secs_f64() / search_ref.as_secs_f64(),
        r3["counts"]["updated"]
    );
    println!(
        "CPU during the initial sync                server {:.2} s, agent {:.2} s, slapd {:.2} s, PostgreSQL {:.2} s",
        cpu_initial[0], cpu_initial[1], cpu_initial[2], cpu_initial[3]
    );
    println!("peak RSS agent                             {agent_peak:7.1} MiB  (target <= 64)");
    println!("peak RSS server                            {server_peak:7.1} MiB  (target <= 256)");
    println!(
        "users per second, initial sync             {:7.0}",
        n as f64 / initial.as_secs_f64()
    );
    for (label, d) in &pages {
        println!(
            "users API, 50 per page, {label:<22}{:7.1} ms  (median of five)",
            d.as_secs_f64() * 1000.0
        );
    }
    println!(
        "pass-through authentication                {auth_rate:7.0} /s  p50 {p50:.1} ms  p99 {p99:.1} ms  ({} requests, 8 concurrent)",
        args.auth_requests
    );
    println!(
        "reference  ldapwhoami binds (2 parallel)  {whoami_rate:7.0} /s  (Microsoft documents 300-400 /s per agent on 4 cores)"
    );
    print_logs(&server, &agent);
    drop(agent);
    drop(server);
    Ok(())
}
