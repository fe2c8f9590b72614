//! The sync benchmark (issue: sync engine, performance). Builds a directory of N
//! inetOrgPerson users in a throwaway slapd (bulk-loaded with slapadd), runs the real
//! release `adc-server` on PostgreSQL and the real release `adc`, and prints each
//! figure beside the reference measured in the same run: a paged `ldapsearch` dump of
//! the same entries and a PostgreSQL `COPY` of as many rows.
//!
//! Run with `bench/run` (it builds the release binaries first).

mod agents;
mod auth;
mod groups;
mod initial;
mod live;
mod measure;
mod rig;

use adc_e2e::slapd::{BASE_DN, Person};
use anyhow::bail;
use clap::Parser;
use measure::{ldapsearch_dump, peak_rss_mib, whoami_rate};
use rig::Rig;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Parser)]
pub struct Args {
    /// Users in the directory.
    #[arg(long, default_value_t = 100_000)]
    pub users: usize,
    /// LDAP page size of the agent and of the reference ldapsearch.
    #[arg(long, default_value_t = 500)]
    pub page_size: u32,
    /// Pass-through authentications to time.
    #[arg(long, default_value_t = 3000)]
    pub auth_requests: usize,
    /// Rounds of (ldapsearch dump, COPY, first sync) whose medians are the initial
    /// sync's figures.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Stop after the initial syncs (for profiling one stage).
    #[arg(long)]
    pub initial_only: bool,
    /// Record the whole machine with `perf record -a -g` into this file during the
    /// first round's initial sync.
    #[arg(long)]
    pub perf: Option<PathBuf>,
    /// With --perf: record only `server` or `agent`, with DWARF call graphs.
    #[arg(long, requires = "perf")]
    pub perf_of: Option<String>,
    /// Groups in the directory (`groupOfNames`): with any, the groups benchmark runs
    /// instead of the users one (see bench/README.md).
    #[arg(long, default_value_t = 0)]
    pub groups: usize,
    /// Members of each of those groups.
    #[arg(long, default_value_t = 20)]
    pub group_size: usize,
    /// Members of the one big group besides them.
    #[arg(long, default_value_t = 50_000)]
    pub big_group: usize,
    /// Run the users benchmark at each of these sizes (e.g. 100000,300000,1000000) and
    /// print how the ratios and the memory grow; `--users` is then ignored.
    #[arg(long, value_delimiter = ',')]
    pub curve: Vec<usize>,
    /// Measure instead the server's CPU with this many admin pages holding the live
    /// event stream, against none (see bench/README.md, "Open pages").
    #[arg(long, default_value_t = 0)]
    pub idle_pages: usize,
    /// Measure instead one replica holding this many idle agent connections (issue 17
    /// point 6), and their reconnection after it restarts (see bench/README.md).
    #[arg(long, default_value_t = 0)]
    pub agents: usize,
    /// The synchronizations those agents belong to (each agent one of them).
    #[arg(long, default_value_t = 100)]
    pub agent_syncs: usize,
    /// Measure instead the users' search on SQLite, the embedded engine (issue 17 point
    /// 5): after a first sync of `--users`, without the index, then with it.
    #[arg(long)]
    pub sqlite_search: bool,
    /// The quiet window of `--idle-pages` and `--agents`, in seconds.
    #[arg(long, default_value_t = 60)]
    pub idle_secs: u64,
}

/// What the curve compares across sizes.
struct Summary {
    users: usize,
    initial_ratio: f64,
    nochange_ratio: f64,
    onepct_ratio: f64,
    agent_peak: f64,
    server_peak: f64,
    users_per_second: f64,
    search_one_ms: f64,
}

pub fn secs(d: Duration) -> String {
    format!("{:7.2} s", d.as_secs_f64())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args = Args::parse();
    if args.curve.is_empty() {
        if args.agents > 0 {
            let limit = agents::raise_fd_limit()?;
            eprintln!("file descriptors: up to {limit}");
        }
        let mut rig = Rig::start(&args).await?;
        eprintln!("measuring…");
        if args.agents > 0 {
            let window = Duration::from_secs(args.idle_secs);
            return agents::run(&mut rig, args.agents, args.agent_syncs, window).await;
        }
        if args.idle_pages > 0 {
            return live::run(&rig, args.idle_pages, Duration::from_secs(args.idle_secs)).await;
        }
        if args.groups > 0 {
            return groups::run(&rig, &args).await;
        }
        if args.sqlite_search {
            return sqlite_search(&mut rig, args.users).await;
        }
        users_benchmark(&rig, &args).await?;
        return Ok(());
    }
    let mut curve = Vec::new();
    for &users in &args.curve {
        let sized = Args {
            users,
            curve: Vec::new(),
            perf: None,
            perf_of: None,
            ..Args::parse()
        };
        let rig = Rig::start(&sized).await?;
        eprintln!("measuring {users} users…");
        if let Some(s) = users_benchmark(&rig, &sized).await? {
            curve.push(s);
        }
        println!();
    }
    println!(
        "growth     users   initial ratio  no-change ratio  1 % ratio  users/s  agent MiB  server MiB  search one match"
    );
    for s in &curve {
        println!(
            "growth {:>9}  {:>13.2}  {:>15.2}  {:>9.2}  {:>7.0}  {:>9.1}  {:>10.1}  {:>13.1} ms",
            s.users,
            s.initial_ratio,
            s.nochange_ratio,
            s.onepct_ratio,
            s.users_per_second,
            s.agent_peak,
            s.server_peak,
            s.search_one_ms
        );
    }
    Ok(())
}

/// The users benchmark on `rig` (its figures printed); `None` with `--initial-only`.
async fn users_benchmark(rig: &Rig, args: &Args) -> anyhow::Result<Option<Summary>> {
    let n = args.users;
    let init = initial::measure(rig, args).await?;
    let (initial, search, copy) = (
        init.median(|r| r.initial),
        init.median(|r| r.search),
        init.median(|r| r.copy),
    );
    let cpu_initial = init.cpu();
    let (rounds, r1, copy_keyed) = (&init.rounds, &init.report, init.copy_keyed);
    let spread = |f: fn(&initial::Round) -> Duration| init.spread(f);
    let ldap = &rig.ldap;
    let agent_peak = peak_rss_mib(rig.agent.child.id());
    let server_peak = peak_rss_mib(rig.server.child.id());
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
        rig.print_logs();
        return Ok(None);
    }
    // Full re-syncs first: every run reads every entry.
    rig.patch_sync(json!({"full_read_hours": 0})).await?;
    // Re-syncs are short: three, each after a dump, and the medians of both.
    let mut nochanges = Vec::new();
    let mut searches = Vec::new();
    let mut r2 = Value::Null;
    for _ in 0..3 {
        searches.push(ldapsearch_dump(ldap, args.page_size)?);
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
    if r3["read_kind"] != "full" {
        bail!("the 1 % re-sync was not a full read: {r3}");
    }

    // Delta re-syncs (RFC 4533): the same, reading only what changed since the last run.
    rig.patch_sync(json!({"full_read_hours": 24})).await?;
    let mut delta_nochanges = Vec::new();
    let mut delta_nochange_report = Value::Null;
    for _ in 0..3 {
        let (d, r) = rig.run().await?;
        if r["read_kind"] != "delta" {
            bail!("a re-sync after a full read was not a delta read: {r}");
        }
        delta_nochanges.push(d);
        delta_nochange_report = r;
    }
    delta_nochanges.sort();
    let delta_nochange = delta_nochanges[1];
    {
        let mut l = ldap.admin().await;
        for i in 0..modified {
            let dn = format!(
                "uid={},ou=people,{BASE_DN}",
                Person::numbered(i * 100 + 1).uid
            );
            let v: std::collections::HashSet<&str> = ["Modified"].into_iter().collect();
            l.modify(&dn, vec![ldap3::Mod::Replace("sn", v)])
                .await?
                .success()?;
        }
    }
    let (delta_onepct, r4) = rig.run().await?;
    let agent_peak = agent_peak.max(peak_rss_mib(rig.agent.child.id()));
    let server_peak = server_peak.max(peak_rss_mib(rig.server.child.id()));

    let pages = users_pages(rig, n).await?;

    // Pass-through authentication: concurrent callers through server, agent and slapd,
    // beside bare `ldapwhoami` binds against the same slapd.
    let (auth_rate, p50, p99) = auth::measure(rig, n, args.auth_requests).await?;
    let whoami_rate = whoami_rate(ldap, n, 400)?;

    println!(
        "ad-connect sync benchmark: {n} users, page size {}, PostgreSQL on loopback without TLS, {} cores",
        args.page_size,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
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
        "delta re-sync, no change (median of three) {:7.1} ms  ratio to ldapsearch {:.3}  (target <= 0.05; read {})",
        delta_nochange.as_secs_f64() * 1000.0,
        delta_nochange.as_secs_f64() / search_ref.as_secs_f64(),
        delta_nochange_report["counts"]["read"]
    );
    println!(
        "delta re-sync, 1 % modified                {:7.1} ms  ratio to ldapsearch {:.3}  (target <= 0.1; read {}, updated {})",
        delta_onepct.as_secs_f64() * 1000.0,
        delta_onepct.as_secs_f64() / search_ref.as_secs_f64(),
        r4["counts"]["read"],
        r4["counts"]["updated"]
    );
    println!(
        "CPU during the initial sync                server {:.2} s, agent {:.2} s, slapd {:.2} s, PostgreSQL {:.2} s",
        cpu_initial[0], cpu_initial[1], cpu_initial[2], cpu_initial[3]
    );
    println!(
        "peak RSS agent                             {agent_peak:7.1} MiB  (target <= 64 at 1 000 000)"
    );
    println!(
        "peak RSS server                            {server_peak:7.1} MiB  (target <= 128 at 1 000 000)"
    );
    println!(
        "users per second, initial sync             {:7.0}",
        n as f64 / initial.as_secs_f64()
    );
    for (label, d) in &pages {
        println!(
            "users API, 50 per page, {label:<22}{:7.1} ms  (median of five{})",
            d.as_secs_f64() * 1000.0,
            if label.starts_with("search") {
                "; target <= 10 at 1 000 000"
            } else {
                ""
            }
        );
    }
    let built: Vec<String> = rounds
        .iter()
        .filter_map(|r| r.index)
        .map(|d| format!("{:.1} s", d.as_secs_f64()))
        .collect();
    if !built.is_empty() {
        println!(
            "search index ready after the first sync   {}  (per round: the server looks every 30 s, then builds it CONCURRENTLY)",
            built.join(", ")
        );
    }
    println!(
        "pass-through authentication                {auth_rate:7.0} /s  p50 {p50:.1} ms  p99 {p99:.1} ms  ({} requests, 8 concurrent)",
        args.auth_requests
    );
    println!(
        "reference  ldapwhoami binds (2 parallel)  {whoami_rate:7.0} /s  (Microsoft documents 300-400 /s per agent on 4 cores)"
    );
    rig.print_logs();
    Ok(Some(Summary {
        users: n,
        initial_ratio: initial.as_secs_f64() / (search + copy).as_secs_f64(),
        nochange_ratio: nochange.as_secs_f64() / search_ref.as_secs_f64(),
        onepct_ratio: onepct.as_secs_f64() / search_ref.as_secs_f64(),
        agent_peak,
        server_peak,
        users_per_second: n as f64 / initial.as_secs_f64(),
        search_one_ms: pages
            .iter()
            .find(|(label, _)| label.contains("one match"))
            .map_or(f64::NAN, |(_, d)| d.as_secs_f64() * 1000.0),
    }))
}

/// The users' search on SQLite at `n` users: each page of [`users_pages`] with the
/// rows scanned (the server told not to build the index), beside the same pages once the
/// restarted server has built its FTS5 index.
async fn sqlite_search(rig: &mut Rig, n: usize) -> anyhow::Result<()> {
    let (initial, r) = rig.run().await?;
    if r["counts"]["created"] != json!(n) {
        bail!("the first sync created {}, not {n}", r["counts"]["created"]);
    }
    let scanned = users_pages(rig, n).await?;
    // What the index costs the writes: a delta re-sync changing 1 % of the e-mail
    // addresses (a searched field), without the index, then with it.
    let without = remail(rig, n, "before").await?;
    rig.search_index = true;
    rig.restart_server().await?;
    let built = measure::search_index_ready(&rig.db_url, adc_server::db::search::Target::Users)
        .await?
        .unwrap_or_default();
    let indexed = users_pages(rig, n).await?;
    let with = remail(rig, n, "after").await?;
    println!("SQLite, {n} users");
    println!(
        "initial sync                               {}  ({:.0} users/s)",
        secs(initial),
        n as f64 / initial.as_secs_f64()
    );
    println!(
        "search index built after the restart       {}  (the server looks every 30 s)",
        secs(built)
    );
    for ((label, with), (_, without)) in indexed.iter().zip(&scanned) {
        println!(
            "users API, 50 per page, {label:<22}{:8.1} ms  (reference without the index {:8.1} ms; median of five)",
            with.as_secs_f64() * 1000.0,
            without.as_secs_f64() * 1000.0
        );
    }
    println!(
        "delta re-sync, 1 % of e-mails changed       {}  (reference without the index {})",
        secs(with),
        secs(without)
    );
    rig.print_logs();
    Ok(())
}

/// Changes the e-mail address of every hundredth user to one tagged `tag`, then times
/// the (delta) re-sync that applies it.
async fn remail(rig: &Rig, n: usize, tag: &str) -> anyhow::Result<Duration> {
    let modified = (n / 100).max(1);
    let mut l = rig.ldap.admin().await;
    for i in 0..modified {
        let uid = Person::numbered(i * 100).uid;
        let dn = format!("uid={uid},ou=people,{BASE_DN}");
        let mail = format!("{uid}@{tag}.example.org");
        let v: std::collections::HashSet<&str> = [mail.as_str()].into_iter().collect();
        l.modify(&dn, vec![ldap3::Mod::Replace("mail", v)])
            .await?
            .success()?;
    }
    let (d, r) = rig.run().await?;
    if r["counts"]["updated"] != json!(modified) {
        bail!(
            "the re-sync updated {}, not {modified}",
            r["counts"]["updated"]
        );
    }
    Ok(d)
}

/// The users page at this size: the first page, one 90 % of the way in (keyset
/// paging), and searches, as the admin page asks for them; the median of five each.
async fn users_pages(rig: &Rig, n: usize) -> anyhow::Result<Vec<(&'static str, Duration)>> {
    let base = &rig.base;
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

    Ok(pages)
}
