//! The cost of open admin pages (issue 15 point 7): the server's CPU over a quiet
//! minute with no page open (the reference) and with N pages each holding the live
//! event stream (`/api/v1/events`), no run active; then one run, and how many pages
//! heard of it and how soon.

use crate::measure::{cpu_of, cpu_secs, peak_rss_mib};
use crate::rig::Rig;
use anyhow::ensure;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// CPU seconds of the server and of PostgreSQL over `window`.
async fn cpu_over(rig: &Rig, window: Duration) -> (f64, f64) {
    let pid = rig.server.child.id();
    let (s0, p0) = (cpu_secs(pid), cpu_of("postgres"));
    tokio::time::sleep(window).await;
    (cpu_secs(pid) - s0, cpu_of("postgres") - p0)
}

pub async fn run(rig: &Rig, pages: usize, window: Duration) -> anyhow::Result<()> {
    eprintln!("a quiet {} s with no page open…", window.as_secs());
    let (ref_server, ref_pg) = cpu_over(rig, window).await;
    eprintln!("opening {pages} pages…");
    let heard = Arc::new(AtomicUsize::new(0));
    let mut streams = Vec::new();
    for _ in 0..pages {
        let mut resp = rig
            .api
            .get(format!("{}/api/v1/events", rig.base))
            .send()
            .await?;
        ensure!(resp.status().is_success(), "events: {}", resp.status());
        let heard = heard.clone();
        streams.push(tokio::spawn(async move {
            let mut told = false;
            while let Ok(Some(chunk)) = resp.chunk().await {
                if !told && String::from_utf8_lossy(&chunk).contains("event: run") {
                    told = true;
                    heard.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    eprintln!("a quiet {} s with {pages} pages open…", window.as_secs());
    let (with_server, with_pg) = cpu_over(rig, window).await;
    let rss = peak_rss_mib(rig.server.child.id());
    let t = Instant::now();
    rig.run().await?;
    let ran = t.elapsed();
    let deadline = Instant::now() + Duration::from_secs(10);
    while heard.load(Ordering::SeqCst) < pages && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let told = heard.load(Ordering::SeqCst);
    println!(
        "idle pages   no page open (reference): server {:.3} s CPU, PostgreSQL {:.3} s CPU in {} s",
        ref_server,
        ref_pg,
        window.as_secs()
    );
    println!(
        "idle pages   {pages} pages open, no run: server {:.3} s CPU, PostgreSQL {:.3} s CPU in {} s (server peak RSS {rss:.1} MiB)",
        with_server,
        with_pg,
        window.as_secs()
    );
    println!(
        "idle pages   then one run ({:.2} s): {told} of {pages} pages heard of it",
        ran.as_secs_f64()
    );
    for s in streams {
        s.abort();
    }
    Ok(())
}
