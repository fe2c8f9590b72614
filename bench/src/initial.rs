//! The initial sync in rounds: each a dump, a COPY and a synchronization's first run,
//! one after the other, so that a slow spell of this shared machine weighs on ours and
//! the references alike.

use crate::Args;
use crate::measure::{Perf, copy_reference, cpu, empty_users, ldapsearch_dump, search_index_ready};
use crate::rig::Rig;
use crate::secs;
use adc_server::db::search::Target;
use anyhow::bail;
use serde_json::{Value, json};
use std::time::Duration;

/// One round of the initial-sync measurement.
pub struct Round {
    pub initial: Duration,
    pub search: Duration,
    pub copy: Duration,
    /// CPU seconds of the server, the agent, slapd and PostgreSQL during the sync.
    pub cpu: [f64; 4],
    /// From the sync's end until the server had built the users' search index (not
    /// waited for below its threshold of 10 000 users).
    pub index: Option<Duration>,
}

pub struct Initial {
    pub rounds: Vec<Round>,
    /// The last round's report.
    pub report: Value,
    /// COPY into a logged table with the users table's keys, for context.
    pub copy_keyed: Duration,
}

impl Initial {
    /// The median over the rounds of one figure.
    pub fn median(&self, f: fn(&Round) -> Duration) -> Duration {
        let mut v: Vec<Duration> = self.rounds.iter().map(f).collect();
        v.sort();
        v[v.len() / 2]
    }

    /// "min to max" of one figure over the rounds.
    pub fn spread(&self, f: fn(&Round) -> Duration) -> String {
        let v: Vec<Duration> = self.rounds.iter().map(f).collect();
        format!(
            "{} to {}",
            secs(*v.iter().min().expect("a round")),
            secs(*v.iter().max().expect("a round"))
        )
    }

    /// The CPU figures of the round whose time was the median.
    pub fn cpu(&self) -> [f64; 4] {
        let initial = self.median(|r| r.initial);
        self.rounds
            .iter()
            .find(|r| r.initial == initial)
            .map(|r| r.cpu)
            .unwrap_or_default()
    }
}

pub async fn measure(rig: &Rig, args: &Args) -> anyhow::Result<Initial> {
    let (n, db_url, ldap, server, agent) =
        (args.users, &rig.db_url, &rig.ldap, &rig.server, &rig.agent);
    let copy_keyed = copy_reference(db_url, n, true).await?;
    // Rounds of dump, COPY and first sync, one after the other, so that a slow spell of
    // this shared machine weighs on ours and the references alike; each figure is the
    // median over the rounds. Before each round but the first the users table and the
    // change lists are emptied: every round is a synchronization's first run.
    let mut rounds: Vec<Round> = Vec::new();
    let mut r1 = Value::Null;
    for round in 0..args.rounds.max(1) {
        if round > 0 {
            empty_users(db_url).await?;
        }
        let search = ldapsearch_dump(ldap, args.page_size)?;
        let copy = copy_reference(db_url, n, false).await?;
        let perf = match round {
            0 => Perf::start(args.perf.as_deref(), args.perf_of.as_deref(), server, agent).await?,
            _ => None,
        };
        let cpu_before = cpu(server, agent);
        let (initial, r) = rig.run().await?;
        let cpu_after = cpu(server, agent);
        if let Some(perf) = perf {
            perf.stop()?;
        }
        if r["counts"]["created"] != json!(n) {
            bail!(
                "round {round}: the first sync created {}, not {n}",
                r["counts"]["created"]
            );
        }
        let cpu: [f64; 4] = std::array::from_fn(|i| cpu_after[i] - cpu_before[i]);
        // The next round starts once the server has done what follows a first sync.
        let index = if n >= 10_000 {
            search_index_ready(db_url, Target::Users).await?
        } else {
            None
        };
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
            index,
        });
        r1 = r;
    }
    Ok(Initial {
        rounds,
        report: r1,
        copy_keyed,
    })
}
