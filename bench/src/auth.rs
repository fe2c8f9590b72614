//! Pass-through authentication under load: concurrent callers through server, agent
//! and slapd.

use crate::rig::Rig;
use adc_e2e::slapd::Person;
use anyhow::{Context, bail};
use serde_json::{Value, json};
use std::time::Instant;

/// `requests` authentications of random users from 8 concurrent callers: the rate and
/// the p50 and p99 latencies in ms. Every one must succeed.
pub async fn auth_load(
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

/// Creates an API token that may authenticate, then runs [`auth_load`] with it.
pub async fn measure(rig: &Rig, users: usize, requests: usize) -> anyhow::Result<(f64, f64, f64)> {
    let token: Value = rig
        .api
        .post(format!("{}/api/v1/tokens", rig.base))
        .header("x-csrf-token", &rig.csrf)
        .json(&json!({"name": "bench", "role": "viewer", "can_authenticate": true}))
        .send()
        .await?
        .json()
        .await?;
    let token = token["secret"].as_str().context("no token")?;
    auth_load(&rig.base, token, users, requests).await
}
