//! Many agents (issue 17 point 6): one replica holding N idle agent connections, opened
//! by a light client speaking the real protocol (hello, heartbeats) with the real
//! agent's reconnect backoff. Prints the server's memory per connection and its CPU
//! over a quiet window of heartbeats (beside the same window with none), then restarts
//! the server and times until every agent is connected and verified again, with the
//! latency of a REST call made all along the storm.

use crate::measure::{cpu_of, cpu_secs, rss_mib};
use crate::rig::Rig;
use adc_agent::backoff::Backoff;
use adc_shared::protocol::{AgentMessage, Hello, PROTOCOL_VERSION};
use anyhow::{Context, bail};
use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Lets this process, and the server it starts, hold this many descriptors.
pub fn raise_fd_limit() -> anyhow::Result<u64> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    Ok(hard)
}

/// One agent: connects, says hello, answers with heartbeats; reconnects with the
/// agent's backoff when the connection ends. `up` counts the connected ones.
async fn agent(
    url: String,
    auth: String,
    hostname: String,
    up: Arc<AtomicUsize>,
    gate: Arc<tokio::sync::Semaphore>,
) {
    let mut backoff = Backoff::default();
    loop {
        let session = {
            // The first connections open a few hundred at a time (the ramp), as agents
            // started over a morning would; reconnections are left to the backoff.
            let _permit = gate.acquire().await;
            connect(&url, &auth, &hostname).await
        };
        if let Ok(mut ws) = session {
            backoff.reset();
            up.fetch_add(1, Ordering::SeqCst);
            let mut tick = tokio::time::interval(Duration::from_secs(15));
            loop {
                tokio::select! {
                    m = ws.next() => match m {
                        Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                        Some(Ok(_)) => {}
                    },
                    _ = tick.tick() => {
                        let hb = serde_json::to_string(&AgentMessage::Heartbeat).unwrap_or_default();
                        if ws.send(Message::Text(hb.into())).await.is_err() {
                            break;
                        }
                    }
                }
            }
            up.fetch_sub(1, Ordering::SeqCst);
        }
        tokio::time::sleep(backoff.next_delay()).await;
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str, auth: &str, hostname: &str) -> anyhow::Result<Ws> {
    let mut req = url.into_client_request()?;
    req.headers_mut().insert("authorization", auth.parse()?);
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await?;
    let hello = AgentMessage::Hello(Hello {
        protocol_version: PROTOCOL_VERSION,
        agent_version: "bench".into(),
        hostname: hostname.into(),
        settings: Default::default(),
    });
    ws.send(Message::Text(serde_json::to_string(&hello)?.into()))
        .await?;
    match ws.next().await {
        Some(Ok(Message::Text(t))) if t.contains("\"welcome\"") => Ok(ws),
        other => bail!("no welcome: {other:?}"),
    }
}

/// CPU seconds of the server and of PostgreSQL over `window`.
async fn cpu_over(rig: &Rig, window: Duration) -> (f64, f64) {
    let pid = rig.server.child.id();
    let (s0, p0) = (cpu_secs(pid), cpu_of("postgres"));
    tokio::time::sleep(window).await;
    (cpu_secs(pid) - s0, cpu_of("postgres") - p0)
}

async fn wait_for(up: &AtomicUsize, n: usize, limit: Duration) -> anyhow::Result<Duration> {
    let t = Instant::now();
    while up.load(Ordering::SeqCst) < n {
        if t.elapsed() > limit {
            bail!(
                "only {} of {n} agents connected after {} s",
                up.load(Ordering::SeqCst),
                limit.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(t.elapsed())
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at].as_secs_f64() * 1000.0
}

pub async fn run(rig: &mut Rig, n: usize, syncs: usize, window: Duration) -> anyhow::Result<()> {
    let syncs = syncs.clamp(1, n.max(1));
    eprintln!("adding {syncs} synchronizations…");
    let mut creds = Vec::new();
    for i in 0..syncs {
        let s: Value = rig
            .api
            .post(format!("{}/api/v1/synchronizations", rig.base))
            .header("x-csrf-token", &rig.csrf)
            .json(&json!({"name": format!("agents {i}")}))
            .send()
            .await?
            .json()
            .await?;
        let id = s["id"].as_str().context("no id")?.to_owned();
        let secret = s["secret"].as_str().context("no secret")?.to_owned();
        let auth = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"))
        );
        creds.push(auth);
    }
    let url = format!(
        "{}/api/v1/agent/connect",
        rig.base.replace("http://", "ws://")
    );
    eprintln!("a quiet {} s with one agent…", window.as_secs());
    let (ref_server, ref_pg) = cpu_over(rig, window).await;
    let rss_before = rss_mib(rig.server.child.id());

    eprintln!("opening {n} agent connections…");
    let up = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(tokio::sync::Semaphore::new(200));
    let mut tasks = Vec::new();
    for i in 0..n {
        tasks.push(tokio::spawn(agent(
            url.clone(),
            creds[i % syncs].clone(),
            format!("bench-agent-{i}"),
            up.clone(),
            gate.clone(),
        )));
    }
    let ramp = wait_for(&up, n, Duration::from_secs(600)).await?;
    // Let the connection records and the first heartbeats settle.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let rss_after = rss_mib(rig.server.child.id());
    eprintln!("a quiet {} s with {n} agents…", window.as_secs());
    let (idle_server, idle_pg) = cpu_over(rig, window).await;

    // The replica restarts: every agent reconnects, with the agent's backoff; a REST
    // call every 50 ms all along.
    eprintln!("restarting the server…");
    gate.add_permits(100_000);
    rig.restart_server().await?;
    // From the moment the server answers.
    let probe_stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let probe = {
        let (api, base, stop) = (rig.api.clone(), rig.base.clone(), probe_stop.clone());
        tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut failed = 0usize;
            while !stop.load(Ordering::SeqCst) {
                let t = Instant::now();
                match api
                    .get(format!("{base}/api/v1/synchronizations"))
                    .send()
                    .await
                {
                    Ok(r) if r.status().is_success() => lat.push(t.elapsed()),
                    _ => failed += 1,
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            (lat, failed)
        })
    };

    let back = Instant::now();
    let pid = rig.server.child.id();
    // The old connections end as the server goes: wait until they are counted down.
    tokio::time::sleep(Duration::from_millis(200)).await;
    wait_for(&up, n, Duration::from_secs(900)).await?;
    let storm = back.elapsed();
    let storm_cpu = cpu_secs(pid);
    // Probe a little longer, then look at the calls made during the storm only.
    probe_stop.store(true, Ordering::SeqCst);
    let (mut lat, failed) = probe.await?;
    lat.sort();
    for t in tasks {
        t.abort();
    }
    let per_conn_kib = (rss_after - rss_before) * 1024.0 / n as f64;
    println!(
        "many agents  {n} agents of {syncs} synchronizations on one replica, opened 200 at a time in {:.1} s",
        ramp.as_secs_f64()
    );
    println!(
        "many agents  server RSS {rss_before:.1} MiB before, {rss_after:.1} MiB with them: {per_conn_kib:.1} KiB per connection"
    );
    println!(
        "many agents  quiet {} s: server {:.3} s CPU, PostgreSQL {:.3} s CPU (one agent: {:.3} s, {:.3} s): heartbeats every 15 s each",
        window.as_secs(),
        idle_server,
        idle_pg,
        ref_server,
        ref_pg
    );
    println!(
        "many agents  after a restart, all {n} connected and verified again {:.1} s after the server answered (the agent's backoff: 0.5-1 s, then doubling); server CPU {:.1} s",
        storm.as_secs_f64(),
        storm_cpu
    );
    println!(
        "many agents  REST during the storm (GET /api/v1/synchronizations every 50 ms): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms over {} calls ({} failed)",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        percentile(&lat, 1.0),
        lat.len(),
        failed
    );
    Ok(())
}
