//! The admin page's live view (issue 15 point 7): Server-Sent Events at
//! `/api/v1/events` tell a tenant's pages when its runs and agents change — only its
//! own — and reach a page on any replica sharing PostgreSQL.

use adc_e2e::api::Api;
use adc_e2e::engine::Engine;
use adc_e2e::engines;
use adc_e2e::process::{printed_password, server_cli};
use adc_e2e::server::TestServer;
use adc_e2e::sync;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

/// A page's event stream, read as the browser's EventSource reads it.
struct Events {
    resp: reqwest::Response,
    buf: String,
}

impl Events {
    async fn open(api: &Api) -> Events {
        let resp = api.raw_get("/api/v1/events").await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(
            resp.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        let mut e = Events {
            resp,
            buf: String::new(),
        };
        assert_eq!(e.next(Duration::from_secs(10)).await.unwrap().0, "ready");
        e
    }

    /// The next event (name, data), skipping keep-alive comments; `None` when none
    /// comes within `wait`.
    async fn next(&mut self, wait: Duration) -> Option<(String, Value)> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut name = String::from("message");
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                if data.is_empty() && name == "message" {
                    continue; // a keep-alive comment
                }
                return Some((name, serde_json::from_str(&data).unwrap()));
            }
            let chunk = tokio::time::timeout_at(deadline, self.resp.chunk())
                .await
                .ok()?
                .expect("the stream stays open")
                .expect("the stream does not end");
            self.buf.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// Waits for a `name` event about `run_id`, skipping others.
    async fn expect_run(&mut self, run_id: &str) -> Value {
        loop {
            let (name, data) = self
                .next(Duration::from_secs(20))
                .await
                .unwrap_or_else(|| panic!("no event about run {run_id}"));
            if name == "run" && data["run_id"] == run_id {
                return data;
            }
        }
    }
}

/// A tenant's page hears of its runs as they are recorded, progress and end, and of
/// its agents; another tenant's page hears nothing of them.
#[engines]
async fn a_page_hears_its_tenant_s_runs_and_agents_and_nothing_of_another_s(engine: Engine) {
    let mut f = sync::fixture(engine, 20, "", None).await;
    let mut mine = Events::open(&f.api).await;
    let out = server_cli(
        &f.server.db.url,
        &["tenant", "create", "acme", "--admin-email", "ops@acme.test"],
    );
    assert!(out.status.success());
    let other = f
        .server
        .sign_in(
            "ops@acme.test",
            &printed_password(&String::from_utf8_lossy(&out.stdout)),
        )
        .await;
    let mut theirs = Events::open(&other).await;

    let run = f.run(json!({})).await;
    let run_id = run["id"].as_str().unwrap();
    let data = mine.expect_run(run_id).await;
    assert_eq!(data["synchronization_id"], f.sync_id.as_str(), "{data}");
    f.agent.kill();
    loop {
        let (name, data) = mine
            .next(Duration::from_secs(20))
            .await
            .expect("an agents event when the agent goes");
        if name == "agents" {
            assert_eq!(data["synchronization_id"], f.sync_id.as_str());
            break;
        }
    }
    assert_eq!(
        theirs.next(Duration::from_secs(2)).await,
        None,
        "another tenant hears nothing of this one"
    );
    // Signed out, the stream is refused.
    let (s, _) = f.api.post("/api/v1/auth/logout", json!({})).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        f.api.raw_get("/api/v1/events").await.status(),
        StatusCode::UNAUTHORIZED
    );
}

/// Two replicas on one PostgreSQL: a page on the replica that does not hold the agent
/// hears the run through PostgreSQL's notifications, the channel runs use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_on_one_replica_hears_a_run_carried_by_another() {
    let f = sync::fixture(Engine::Postgres, 20, "", None).await;
    let b = TestServer::start_with(f.server.db.borrowed(), |_| {}).await;
    let api_b = b.admin().await;
    let mut on_b = Events::open(&api_b).await;
    let run = f.run(json!({})).await;
    on_b.expect_run(run["id"].as_str().unwrap()).await;
}
