//! The groups benchmark (issue: groups and memberships): N users, G groups of
//! `group_size` members each and one group of `big_group` members. It prints the
//! initial sync beside a paged `ldapsearch` dump of the same users and groups plus a
//! `COPY` of as many rows (users, groups and memberships), a no-change re-sync beside
//! the dump, and what one member in and one out of the big group costs: the rows
//! written and the bytes the agent sent (through a counting relay), beside a no-change
//! run's.

use crate::Args;
use crate::measure::{
    Perf, copy_reference, cpu, ldapsearch_dump, peak_rss_mib, search_index_ready,
};
use crate::rig::Rig;
use crate::secs;
use adc_e2e::slapd::{BASE_DN, Person, READONLY_DN, READONLY_PASSWORD, Slapd};
use adc_server::db::search::Target;
use anyhow::{Context, bail};
use serde_json::{Value, json};
use std::fmt::Write;
use std::process::Command;
use std::time::{Duration, Instant};

const GROUPS_DN: &str = "ou=groups,dc=example,dc=com";

fn person_dn(i: usize) -> String {
    format!("uid={},ou=people,{BASE_DN}", Person::numbered(i).uid)
}

/// The groups' LDIF: `groups` groups of `group_size` members spread over the users,
/// and the big group of the first `big_group` users.
pub fn ldif(n: usize, args: &Args) -> String {
    let mut s = String::with_capacity((args.groups * args.group_size + args.big_group) * 48);
    for g in 0..args.groups {
        let _ = writeln!(
            s,
            "dn: cn=group{g:05},{GROUPS_DN}\nobjectClass: groupOfNames\ncn: group{g:05}\ndescription: Group {g}"
        );
        for k in 0..args.group_size {
            let _ = writeln!(s, "member: {}", person_dn((g * args.group_size + k) % n));
        }
        s.push('\n');
    }
    let _ = writeln!(
        s,
        "dn: cn=big,{GROUPS_DN}\nobjectClass: groupOfNames\ncn: big"
    );
    for i in 0..args.big_group.min(n) {
        let _ = writeln!(s, "member: {}", person_dn(i));
    }
    s.push('\n');
    s
}

/// A paged dump of the group entries, as the agent reads them.
fn ldapsearch_groups(ldap: &Slapd, page: u32) -> anyhow::Result<Duration> {
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
            GROUPS_DN,
        ])
        .args([
            "-E",
            &format!("pr={page}/noprompt"),
            "(objectClass=groupOfNames)",
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

/// The dump of users and groups both.
fn dump(ldap: &Slapd, page: u32) -> anyhow::Result<Duration> {
    Ok(ldapsearch_dump(ldap, page)? + ldapsearch_groups(ldap, page)?)
}

/// COPY of `n` pairs of UUIDs into a temporary table: the memberships' reference.
async fn copy_edges(db_url: &str, n: usize) -> anyhow::Result<Duration> {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(db_url).await?;
    sqlx::raw_sql("CREATE TEMP TABLE edge_ref (group_id uuid, user_id uuid)")
        .execute(&mut c)
        .await?;
    let mut data = String::with_capacity(n * 74);
    for i in 0..n {
        let _ = writeln!(
            data,
            "{:08x}-0000-4000-8000-000000000001\t{:08x}-1111-4000-8000-000000000001",
            i / 20,
            (i as u32).wrapping_mul(2_654_435_761)
        );
    }
    let t = Instant::now();
    let mut copy = c.copy_in_raw("COPY edge_ref FROM STDIN").await?;
    copy.send(data.as_bytes()).await?;
    copy.finish().await?;
    Ok(t.elapsed())
}

/// Adds person `add` to the big group and removes person `remove`, in one modify.
async fn swap_big_group_member(ldap: &Slapd, add: usize, remove: usize) -> anyhow::Result<()> {
    let mut l = ldap.admin().await;
    let big = format!("cn=big,{GROUPS_DN}");
    let add: std::collections::HashSet<String> = [person_dn(add)].into_iter().collect();
    let remove: std::collections::HashSet<String> = [person_dn(remove)].into_iter().collect();
    l.modify(
        &big,
        vec![
            ldap3::Mod::Add("member".to_owned(), add),
            ldap3::Mod::Delete("member".to_owned(), remove),
        ],
    )
    .await?
    .success()?;
    Ok(())
}

async fn empty(db_url: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(db_url).await?;
    sqlx::raw_sql("DROP INDEX IF EXISTS users_search_trgm; DROP INDEX IF EXISTS groups_search_trgm; TRUNCATE users, groups, group_users, group_groups, run_changes; UPDATE synchronizations SET watermark = NULL, watermark_fingerprint = NULL, full_read_at = NULL; CHECKPOINT")
        .execute(&mut c)
        .await?;
    Ok(())
}

fn count(r: &Value, k: &str) -> u64 {
    r["counts"][k].as_u64().unwrap_or(0)
}

pub async fn run(rig: &Rig, args: &Args) -> anyhow::Result<()> {
    let n = args.users;
    let edges = args.groups * args.group_size + args.big_group.min(n);
    let rows = n + args.groups + 1;
    let ldap = &rig.ldap;
    let mut rounds = Vec::new();
    let mut first = Value::Null;
    for round in 0..args.rounds.max(1) {
        if round > 0 {
            empty(&rig.db_url).await?;
        }
        let search = dump(ldap, args.page_size)?;
        let copy = copy_reference(&rig.db_url, rows, false).await?
            + copy_edges(&rig.db_url, edges).await?;
        let perf = match round {
            0 => {
                let (out, of) = (args.perf.as_deref(), args.perf_of.as_deref());
                Perf::start(out, of, &rig.server, &rig.agent).await?
            }
            _ => None,
        };
        let before = cpu(&rig.server, &rig.agent);
        let (initial, r) = rig.run().await?;
        let after = cpu(&rig.server, &rig.agent);
        if let Some(perf) = perf {
            perf.stop()?;
        }
        // The next step starts once the server has built what follows a first sync.
        let mut index = Duration::ZERO;
        for (name, rows) in [(Target::Users, n), (Target::Groups, args.groups + 1)] {
            if rows >= 10_000
                && let Some(d) = search_index_ready(&rig.db_url, name).await?
            {
                index = index.max(d);
            }
        }
        eprintln!(
            "round {}: search indexes ready {:.1} s after the sync",
            round + 1,
            index.as_secs_f64()
        );
        if count(&r, "members_added") != edges as u64 {
            bail!(
                "round {round}: {} memberships added, not {edges}",
                count(&r, "members_added")
            );
        }
        let c: [f64; 4] = std::array::from_fn(|i| after[i] - before[i]);
        eprintln!(
            "round {}: initial {} (ldapsearch {} + COPY {}, ratio {:.2}); CPU server {:.2} s, agent {:.2} s, slapd {:.2} s, PostgreSQL {:.2} s",
            round + 1,
            secs(initial),
            secs(search),
            secs(copy),
            initial.as_secs_f64() / (search + copy).as_secs_f64(),
            c[0],
            c[1],
            c[2],
            c[3]
        );
        rounds.push((initial, search, copy, c));
        first = r;
    }
    rounds.sort_by_key(|r| r.0);
    let (initial, search, copy, c) = rounds[rounds.len() / 2];
    if args.initial_only {
        return Ok(());
    }

    // Full re-syncs first: every run reads every entry.
    rig.patch_sync(json!({"full_read_hours": 0})).await?;
    let mut nochanges = Vec::new();
    let mut dumps = Vec::new();
    let mut nochange_bytes = 0;
    let mut r2 = Value::Null;
    for _ in 0..3 {
        dumps.push(dump(ldap, args.page_size)?);
        let sent = rig.agent_sent();
        let before = cpu(&rig.server, &rig.agent);
        let (d, r) = rig.run().await?;
        let after = cpu(&rig.server, &rig.agent);
        nochange_bytes = rig.agent_sent() - sent;
        let c: [f64; 4] = std::array::from_fn(|i| after[i] - before[i]);
        eprintln!(
            "no-change re-sync {}: CPU server {:.2} s, agent {:.2} s, slapd {:.2} s, PostgreSQL {:.2} s",
            secs(d),
            c[0],
            c[1],
            c[2],
            c[3]
        );
        nochanges.push(d);
        r2 = r;
    }
    nochanges.sort();
    dumps.sort();
    let (nochange, dump_ref) = (nochanges[1], dumps[1]);

    // One member in and one out of the big group.
    let joiner = args.big_group.min(n - 1);
    swap_big_group_member(ldap, joiner, 0).await?;
    let sent = rig.agent_sent();
    let (onemember, r3) = rig.run().await?;
    let onemember_bytes = rig.agent_sent() - sent;
    let changes: Value = rig
        .api
        .get(format!(
            "{}/api/v1/runs/{}/changes?subject=membership&limit=1000",
            rig.base,
            r3["id"].as_str().unwrap_or_default()
        ))
        .send()
        .await?
        .json()
        .await?;
    let change_rows = changes["changes"].as_array().map_or(0, Vec::len);

    // Delta re-syncs: only what changed since the last run is read.
    rig.patch_sync(json!({"full_read_hours": 24})).await?;
    let mut delta_nochanges = Vec::new();
    let mut delta_bytes = 0;
    let mut delta_report = Value::Null;
    for _ in 0..3 {
        let sent = rig.agent_sent();
        let (d, r) = rig.run().await?;
        if r["read_kind"] != "delta" {
            bail!("a re-sync after a full read was not a delta read: {r}");
        }
        delta_bytes = rig.agent_sent() - sent;
        delta_nochanges.push(d);
        delta_report = r;
    }
    delta_nochanges.sort();
    let delta_nochange = delta_nochanges[1];
    swap_big_group_member(ldap, joiner + 1, 1).await?;
    let sent = rig.agent_sent();
    let (delta_onemember, r4) = rig.run().await?;
    let delta_onemember_bytes = rig.agent_sent() - sent;
    let agent_peak = peak_rss_mib(rig.agent.child.id());
    let server_peak = peak_rss_mib(rig.server.child.id());

    println!(
        "ad-connect groups benchmark: {n} users, {} groups of {} and one of {} ({edges} memberships), page size {}, PostgreSQL on loopback, {} cores",
        args.groups,
        args.group_size,
        args.big_group.min(n),
        args.page_size,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    println!(
        "reference  ldapsearch dump of users and groups {}  (median round)",
        secs(search)
    );
    println!(
        "reference  COPY of {rows} user rows and {edges} membership rows {}",
        secs(copy)
    );
    let ratios: Vec<String> = rounds
        .iter()
        .map(|r| format!("{:.2}", r.0.as_secs_f64() / (r.1 + r.2).as_secs_f64()))
        .collect();
    println!(
        "initial sync with groups                   {}  ratio to ldapsearch + COPY {:.2}  (target <= 1.5; groups created {}, members added {}; ratios per round {})",
        secs(initial),
        initial.as_secs_f64() / (search + copy).as_secs_f64(),
        count(&first, "groups_created"),
        count(&first, "members_added"),
        ratios.join(", ")
    );
    println!(
        "CPU during the initial sync                server {:.2} s, agent {:.2} s, slapd {:.2} s, PostgreSQL {:.2} s",
        c[0], c[1], c[2], c[3]
    );
    println!(
        "reference  ldapsearch dumps beside the re-syncs {}  (median of three)",
        secs(dump_ref)
    );
    println!(
        "re-sync, no change (median of three)       {}  ratio to ldapsearch {:.2}  (target <= 1.3; users unchanged {}, groups unchanged {}; agent sent {} bytes)",
        secs(nochange),
        nochange.as_secs_f64() / dump_ref.as_secs_f64(),
        count(&r2, "unchanged"),
        count(&r2, "groups_unchanged"),
        nochange_bytes
    );
    println!(
        "re-sync, one member in and one out of the big group {}  members added {}, removed {}; membership rows written {}, change rows {}; agent sent {} bytes ({} more than a no-change run)",
        secs(onemember),
        count(&r3, "members_added"),
        count(&r3, "members_removed"),
        count(&r3, "members_added") + count(&r3, "members_removed"),
        change_rows,
        onemember_bytes,
        onemember_bytes as i64 - nochange_bytes as i64
    );
    println!(
        "delta re-sync, no change (median of three) {:7.1} ms  ratio to ldapsearch {:.3}  (groups read {}; agent sent {} bytes)",
        delta_nochange.as_secs_f64() * 1000.0,
        delta_nochange.as_secs_f64() / dump_ref.as_secs_f64(),
        count(&delta_report, "groups_read"),
        delta_bytes
    );
    println!(
        "delta re-sync, one member in and one out of the big group {:7.1} ms  ratio to ldapsearch {:.3}  (read {} users, {} groups; members added {}, removed {}; agent sent {} bytes)",
        delta_onemember.as_secs_f64() * 1000.0,
        delta_onemember.as_secs_f64() / dump_ref.as_secs_f64(),
        count(&r4, "read"),
        count(&r4, "groups_read"),
        count(&r4, "members_added"),
        count(&r4, "members_removed"),
        delta_onemember_bytes
    );
    println!("peak RSS agent                             {agent_peak:7.1} MiB  (target <= 96)");
    println!("peak RSS server                            {server_peak:7.1} MiB");
    rig.print_logs();
    Ok(())
}
