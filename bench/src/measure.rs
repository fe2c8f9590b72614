//! The references and the process figures: `ldapsearch` dumps, PostgreSQL `COPY`s,
//! `ldapwhoami` binds, CPU seconds and peak memory from `/proc`.

use adc_e2e::process::Proc;
use adc_e2e::slapd::{BASE_DN, Person, READONLY_DN, READONLY_PASSWORD, Slapd};
use adc_server::db::search::Target;
use anyhow::{Context, bail};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// Binds per second of bare `ldapwhoami` processes, two at a time (one per core).
pub fn whoami_rate(ldap: &Slapd, users: usize, binds: usize) -> anyhow::Result<f64> {
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

pub fn release_bin(name: &str) -> anyhow::Result<PathBuf> {
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
pub fn cpu_secs(pid: u32) -> f64 {
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
pub fn cpu_of(comm: &str) -> f64 {
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
pub fn peak_rss_mib(pid: u32) -> f64 {
    status_mib(pid, "VmHWM:")
}

/// Resident memory of a process now, in MiB.
pub fn rss_mib(pid: u32) -> f64 {
    status_mib(pid, "VmRSS:")
}

fn status_mib(pid: u32, field: &str) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

pub fn ldapsearch_dump(ldap: &Slapd, page: u32) -> anyhow::Result<Duration> {
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
pub async fn copy_reference(db_url: &str, n: usize, keyed: bool) -> anyhow::Result<Duration> {
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

/// CPU seconds so far of the server, the agent, slapd and PostgreSQL.
pub fn cpu(server: &Proc, agent: &Proc) -> [f64; 4] {
    [
        cpu_secs(server.child.id()),
        cpu_secs(agent.child.id()),
        cpu_of("slapd"),
        cpu_of("postgres"),
    ]
}

/// Empties the users table and the change lists, so that the next run is a first sync
/// again (TRUNCATE: new, empty files, as before the first round).
pub async fn empty_users(db_url: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(db_url).await?;
    // Without users, the synchronization's next run is a first one: no watermark.
    // As in a new database: the server builds the search index after the first sync.
    sqlx::raw_sql("DROP INDEX IF EXISTS users_search_trgm; TRUNCATE users, run_changes; UPDATE synchronizations SET watermark = NULL, watermark_fingerprint = NULL, full_read_at = NULL; CHECKPOINT")
        .execute(&mut c)
        .await?;
    Ok(())
}

/// Whether the search indexes are left out (`ADC_BENCH_NO_SEARCH_INDEX` set: the server
/// is told never to build them), to measure what they cost the writes.
pub fn search_index_off() -> bool {
    std::env::var_os("ADC_BENCH_NO_SEARCH_INDEX").is_some()
}

/// Waits for the server to build the search index of `target` (it does so after a first
/// sync has made its table large, within `search_index_check`); how long that took
/// (`None` with [`search_index_off`]).
pub async fn search_index_ready(db_url: &str, target: Target) -> anyhow::Result<Option<Duration>> {
    if search_index_off() {
        return Ok(None);
    }
    let db = adc_server::db::Db::connect(Some(db_url)).await?;
    let t = std::time::Instant::now();
    loop {
        if adc_server::db::search::ready(&db, target).await? {
            db.close().await;
            return Ok(Some(t.elapsed()));
        }
        if t.elapsed() > Duration::from_secs(900) {
            anyhow::bail!(
                "the server did not build the search index {} in 15 minutes",
                target.index_name(&db)
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A `perf record` running for the length of one stage (`--perf`): the whole machine
/// with frame pointers (`-a -g`), or, with `--perf-of server|agent`, that process with
/// DWARF call graphs (the release builds keep no frame pointers).
pub struct Perf(std::process::Child);

impl Perf {
    pub async fn start(
        out: Option<&std::path::Path>,
        of: Option<&str>,
        server: &Proc,
        agent: &Proc,
    ) -> anyhow::Result<Option<Perf>> {
        let Some(out) = out else { return Ok(None) };
        let mut cmd = Command::new("perf");
        cmd.args(["record", "-q", "-o"]).arg(out);
        match of {
            None | Some("all") => cmd.args(["-a", "-g"]),
            Some(which) => {
                let pid = match which {
                    "server" => server.child.id(),
                    "agent" => agent.child.id(),
                    other => bail!("--perf-of takes server, agent or all, not `{other}`"),
                };
                cmd.args(["-F", "1999", "--call-graph", "dwarf,16384", "-p"])
                    .arg(pid.to_string())
            }
        };
        let child = cmd
            .stdout(std::process::Stdio::null())
            .spawn()
            .context("perf record")?;
        // perf needs a moment before it records anything.
        tokio::time::sleep(Duration::from_millis(500)).await;
        Ok(Some(Perf(child)))
    }

    pub fn stop(mut self) -> anyhow::Result<()> {
        let _ = Command::new("kill")
            .args(["-INT", &self.0.id().to_string()])
            .status();
        self.0.wait()?;
        Ok(())
    }
}
