//! Notifications: a webhook receiver and an SMTP server on loopback hear of failed,
//! held and succeeded runs, of an agent gone and a synchronization gone stale; each
//! delivery is signed, retried until it is taken, logged, kept across a restart, and
//! sent once however many replicas there are.

use adc_e2e::agent::{AgentSetup, TestAgent};
use adc_e2e::api::{Api, error_code};
use adc_e2e::engine::{Engine, TestDb};
use adc_e2e::engines;
use adc_e2e::eventually;
use adc_e2e::process::{free_port, signed_in, start_server_binary};
use adc_e2e::server::TestServer;
use adc_e2e::slapd::{self, Slapd};
use adc_e2e::smtp::{Mode, SmtpSink};
use adc_e2e::sync::{ACTIVE_ONLY, fixture_with, people};
use adc_e2e::webhook::Receiver;
use adc_server::config::{SmtpConfig, SmtpTls};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

const PUBLIC_URL: &str = "https://adc.example.com";

/// Notifications looked for and retried within a fraction of a second.
fn quick(c: &mut adc_server::Config) {
    c.webhook_allow_private = true;
    c.notify_interval = Duration::from_millis(200);
    c.notify_retry_base = Duration::from_millis(200);
    c.public_url = Some(PUBLIC_URL.into());
}

/// Adds a webhook endpoint for `events` at `receiver`, which learns its key.
async fn add_webhook(api: &Api, receiver: &Receiver, events: Value) -> String {
    let (s, b) = api
        .post(
            "/api/v1/notifications/endpoints",
            json!({"kind": "webhook", "target": receiver.url, "events": events}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    receiver.set_secret(b["secret"].as_str().unwrap());
    b["id"].as_str().unwrap().to_owned()
}

async fn deliveries(api: &Api, query: &str) -> Vec<Value> {
    let (s, b) = api
        .get(&format!("/api/v1/notifications/deliveries?{query}"))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b.as_array().unwrap().clone()
}

#[engines]
async fn a_webhook_hears_of_succeeded_held_and_failed_runs_signed_and_retried(engine: Engine) {
    let mut f = fixture_with(engine, &people(10), "", Some(ACTIVE_ONLY), quick).await;
    // Two refusals before each delivery is taken.
    let receiver = Receiver::start(2).await;
    let endpoint = add_webhook(
        &f.api,
        &receiver,
        json!(["run.failed", "run.held", "run.succeeded"]),
    )
    .await;

    let run = f.run(json!({})).await;
    let id = run["id"].as_str().unwrap().to_owned();
    let got = receiver
        .wait_for("run.succeeded", |r| r.body["run"]["id"] == id.as_str())
        .await;
    assert_eq!(got.body["synchronization"]["name"], "corp");
    assert_eq!(got.body["url"], format!("{PUBLIC_URL}/#/runs/{id}"));
    assert_eq!(got.body["run"]["counts"]["created"], 10);
    assert_eq!(
        receiver.attempts(&got.delivery),
        3,
        "taken at the third attempt"
    );

    // Deletions beyond the guard: held, with the link to the approval page.
    let (s, _) = f
        .api
        .patch(
            &format!("/api/v1/synchronizations/{}", f.sync_id),
            json!({"deletion_guard": {"max_deletes": 3}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    for i in 0..5 {
        f.slapd
            .set(&format!("user{i:05}"), "employeeType", "inactive")
            .await;
    }
    let held = f.run(json!({})).await;
    assert_eq!(held["status"], "held");
    let held_id = held["id"].as_str().unwrap().to_owned();
    let got = receiver
        .wait_for("run.held", |r| r.body["run"]["id"] == held_id.as_str())
        .await;
    assert_eq!(got.body["url"], format!("{PUBLIC_URL}/#/runs/{held_id}"));
    assert!(
        got.body["summary"]
            .as_str()
            .unwrap()
            .contains("5 deletion(s) wait for approval"),
        "{}",
        got.body
    );

    // The directory goes away: the run fails, and says why.
    f.slapd.stop();
    let failed = f.run(json!({})).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    let failed_id = failed["id"].as_str().unwrap().to_owned();
    let got = receiver
        .wait_for("run.failed", |r| r.body["run"]["id"] == failed_id.as_str())
        .await;
    assert_eq!(got.body["run"]["error"], failed["error"]);

    // The log: each delivered at the third attempt, the refusals' reason kept.
    // Each is recorded a moment after the receiver's answer.
    let log = eventually(
        Duration::from_secs(20),
        "three deliveries recorded",
        || async {
            let log = deliveries(&f.api, &format!("endpoint={endpoint}")).await;
            log.iter()
                .all(|d| d["status"] == "delivered")
                .then_some(log)
        },
    )
    .await;
    assert_eq!(log.len(), 3, "{log:?}");
    for d in &log {
        assert_eq!(
            (d["status"].as_str(), d["attempts"].as_i64()),
            (Some("delivered"), Some(3)),
            "{d}"
        );
        assert!(
            d["last_error"].as_str().unwrap().contains("HTTP 503"),
            "{d}"
        );
    }
    // The test button reaches it too; an unsubscribed event (a dry run's success is
    // one) reaches nobody twice.
    let (s, b) = f
        .api
        .post(
            &format!("/api/v1/notifications/endpoints/{endpoint}/test"),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{b}");
    let test = receiver.wait_for("test", |_| true).await;
    assert_eq!(test.delivery, b["delivery_id"].as_str().unwrap());
    assert_eq!(receiver.bad_signatures(), 0);
    let events: Vec<String> = receiver
        .accepted()
        .iter()
        .map(|r| r.event.clone())
        .collect();
    assert_eq!(events, ["run.succeeded", "run.held", "run.failed", "test"]);

    // A rotated key signs from then on; the receiver still holding the old one refuses.
    let (s, b) = f
        .api
        .post(
            &format!("/api/v1/notifications/endpoints/{endpoint}/secret"),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    f.api
        .post(
            &format!("/api/v1/notifications/endpoints/{endpoint}/test"),
            json!({}),
        )
        .await;
    eventually(Duration::from_secs(20), "a refused signature", || async {
        (receiver.bad_signatures() > 0).then_some(())
    })
    .await;
    receiver.set_secret(b["secret"].as_str().unwrap());
    eventually(Duration::from_secs(20), "the second test", || async {
        (receiver
            .accepted()
            .iter()
            .filter(|r| r.event == "test")
            .count()
            == 2)
            .then_some(())
    })
    .await;

    // Metrics count the attempts by outcome (once each is recorded).
    let delivered = r#"adc_notification_deliveries_total{channel="webhook",outcome="delivered"} 5"#;
    eventually(
        Duration::from_secs(20),
        "five deliveries counted",
        || async {
            let metrics = f.api.raw_get("/metrics").await.text().await.unwrap();
            metrics.contains(delivered).then_some(())
        },
    )
    .await;
    f.agent.kill();
}

#[engines]
async fn endpoints_are_checked_and_only_a_system_admin_manages_them(engine: Engine) {
    let server = TestServer::start(engine).await;
    let api = server.admin().await;
    let post = |body: Value| {
        let api = api.clone();
        async move { api.post("/api/v1/notifications/endpoints", body).await }
    };
    // Private addresses are refused unless the server allows them.
    let (s, b) = post(json!({"kind": "webhook", "target": "http://127.0.0.1:9/hook"})).await;
    assert_eq!(
        (s, error_code(&b)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
        "{b}"
    );
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ADC_WEBHOOK_ALLOW_PRIVATE"),
        "{b}"
    );
    let (s, b) = post(json!({"kind": "webhook", "target": "ftp://example.com/x"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    let (s, b) = post(json!({"kind": "pager", "target": "x"})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    let (s, b) = post(json!({"kind": "webhook", "target": "https://hooks.example.com/a", "events": ["run.exploded"]})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    // No SMTP on this server: e-mail is refused with what to do.
    let (s, b) = post(json!({"kind": "email", "target": "ops@example.com"})).await;
    assert_eq!(
        (s, error_code(&b)),
        (StatusCode::CONFLICT, "conflict"),
        "{b}"
    );
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("ADC_SMTP_HOST"),
        "{b}"
    );

    // A public URL is taken, with the default events; the key is never shown again.
    let (s, made) = post(json!({"kind": "webhook", "target": "https://hooks.example.com/a"})).await;
    assert_eq!(s, StatusCode::CREATED, "{made}");
    assert_eq!(
        made["events"],
        json!([
            "agent.offline",
            "run.failed",
            "run.held",
            "synchronization.stale"
        ])
    );
    let secret = made["secret"].as_str().unwrap().to_owned();
    assert!(secret.len() >= 40);
    let (s, list) = api.get("/api/v1/notifications/endpoints").await;
    assert_eq!(s, StatusCode::OK);
    assert!(!list.to_string().contains(&secret));
    let (s, b) = post(json!({"kind": "webhook", "target": "https://hooks.example.com/a"})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    let id = made["id"].as_str().unwrap();
    let (s, b) = api
        .patch(
            &format!("/api/v1/notifications/endpoints/{id}"),
            json!({"enabled": false, "events": ["run.succeeded"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        (b["enabled"].as_bool(), b["events"].clone()),
        (Some(false), json!(["run.succeeded"]))
    );

    // Thresholds, within bounds.
    let (s, b) = api.get("/api/v1/notifications/settings").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        b,
        json!({"agent_offline_minutes": 15, "stale_factor": 2, "email_available": false, "links_available": false})
    );
    let (s, b) = api
        .put(
            "/api/v1/notifications/settings",
            json!({"agent_offline_minutes": 0, "stale_factor": 2}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");

    // An operator sees none of it: a webhook URL is often a credential.
    let (s, made) = api
        .post(
            "/api/v1/admins",
            json!({"email": "op@example.com", "role": "operator"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let mut op = server.anonymous();
    op.login("op@example.com", made["password"].as_str().unwrap())
        .await;
    op.put(
        "/api/v1/me/password",
        json!({"current_password": made["password"], "new_password": "operator-password-1"}),
    )
    .await;
    let (s, _) = op.get("/api/v1/notifications/endpoints").await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = api
        .delete(&format!("/api/v1/notifications/endpoints/{id}"))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
}

#[engines]
async fn an_offline_agent_and_a_stale_synchronization_are_told_once(engine: Engine) {
    let mut f = fixture_with(engine, &people(3), "", None, quick).await;
    let receiver = Receiver::start(0).await;
    add_webhook(
        &f.api,
        &receiver,
        json!(["agent.offline", "synchronization.stale"]),
    )
    .await;
    f.run(json!({})).await;
    let (s, _) = f
        .api
        .patch(
            &format!("/api/v1/synchronizations/{}", f.sync_id),
            json!({"schedule_minutes": 60}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    f.agent.kill();
    eventually(Duration::from_secs(30), "the agent to be gone", || async {
        f.api.agents(&f.sync_id).await.is_empty().then_some(())
    })
    .await;
    // Twenty minutes pass without the agent (tenant threshold: 15), and three hours
    // without a successful run (twice the hourly schedule): planted, not waited for.
    let db = adc_server::db::Db::connect(Some(&f.server.db.url))
        .await
        .unwrap();
    adc_e2e::sql::age_synchronization(&db, 20, 180).await;
    let offline = receiver.wait_for("agent.offline", |_| true).await;
    assert_eq!(offline.body["synchronization"]["name"], "corp");
    assert_eq!(
        offline.body["url"],
        format!("{PUBLIC_URL}/#/syncs/{}", f.sync_id)
    );
    assert!(
        offline.body["summary"]
            .as_str()
            .unwrap()
            .contains("for 20 minutes"),
        "{}",
        offline.body
    );
    let stale = receiver.wait_for("synchronization.stale", |_| true).await;
    assert!(
        stale.body["summary"]
            .as_str()
            .unwrap()
            .contains("corp is stale"),
        "{}",
        stale.body
    );
    // Once each: later looks find them told.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let events: Vec<String> = receiver
        .accepted()
        .iter()
        .map(|r| r.event.clone())
        .collect();
    assert_eq!(events.len(), 2, "{events:?}");
    db.close().await;
}

#[engines]
async fn deliveries_queued_when_the_server_is_killed_are_sent_after_it_restarts(engine: Engine) {
    let receiver = Receiver::start(0).await;
    receiver.set_down(true);
    let db = TestDb::new(engine).await;
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let env = [
        ("ADC_DATABASE_URL", db.url.as_str()),
        ("ADC_LISTEN", listen.as_str()),
        ("ADC_REPLICA_NAME", "only"),
        ("ADC_BOOTSTRAP_ADMIN_EMAIL", "root@example.com"),
        (
            "ADC_BOOTSTRAP_ADMIN_PASSWORD",
            "bootstrap-password-0123456789",
        ),
        ("ADC_WEBHOOK_ALLOW_PRIVATE", "true"),
        ("ADC_NOTIFY_RETRY_SECS", "1"),
    ];
    let (mut server, base) = start_server_binary(dir.path(), &env, "server").await;
    let api = signed_in(&base, "root@example.com", "bootstrap-password-0123456789").await;
    let endpoint = add_webhook(&api, &receiver, json!(["run.failed"])).await;
    let mut queued = vec![];
    for _ in 0..3 {
        let (s, b) = api
            .post(
                &format!("/api/v1/notifications/endpoints/{endpoint}/test"),
                json!({}),
            )
            .await;
        assert_eq!(s, StatusCode::ACCEPTED);
        queued.push(b["delivery_id"].as_str().unwrap().to_owned());
    }
    eventually(Duration::from_secs(30), "an attempt at each", || async {
        queued
            .iter()
            .all(|d| receiver.attempts(d) > 0)
            .then_some(())
    })
    .await;
    // Killed with the three pending; the receiver comes back while the server is down.
    server.signal(nix::sys::signal::Signal::SIGKILL);
    server.wait(Duration::from_secs(10)).await;
    receiver.set_down(false);
    let (_server, base) = start_server_binary(dir.path(), &env, "server-again").await;
    eventually(Duration::from_secs(30), "every queued delivery", || async {
        (receiver.accepted().len() == 3).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut got: Vec<String> = receiver
        .accepted()
        .iter()
        .map(|r| r.delivery.clone())
        .collect();
    got.sort();
    queued.sort();
    assert_eq!(got, queued, "each once");
    let api = signed_in(&base, "root@example.com", "bootstrap-password-0123456789").await;
    eventually(
        Duration::from_secs(20),
        "three deliveries recorded",
        || async { (deliveries(&api, "status=delivered").await.len() == 3).then_some(()) },
    )
    .await;
}

#[tokio::test]
async fn two_replicas_tell_each_run_once_and_send_each_delivery_once() {
    let receiver = Receiver::start(0).await;
    let db = TestDb::new(Engine::Postgres).await;
    let a = TestServer::start_with(db.borrowed(), |c| {
        quick(c);
        c.replica_name = "a".into();
    })
    .await;
    let b = TestServer::start_with(db.borrowed(), |c| {
        quick(c);
        c.replica_name = "b".into();
    })
    .await;
    let api = a.admin().await;
    let endpoint = add_webhook(&api, &receiver, json!(["run.failed"])).await;
    let api_b = b.admin().await;
    for i in 0..20 {
        let api = if i % 2 == 0 { &api } else { &api_b };
        let (s, _) = api
            .post(
                &format!("/api/v1/notifications/endpoints/{endpoint}/test"),
                json!({}),
            )
            .await;
        assert_eq!(s, StatusCode::ACCEPTED);
    }
    eventually(Duration::from_secs(30), "20 deliveries", || async {
        (receiver.accepted().len() >= 20).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let accepted = receiver.accepted();
    let mut ids: Vec<&str> = accepted.iter().map(|r| r.delivery.as_str()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!((accepted.len(), ids.len()), (20, 20), "each delivery once");
    // Between them, the replicas sent each once: their counts add up.
    let sent = |m: &str| {
        m.lines()
            .find(|l| {
                l.starts_with(
                    r#"adc_notification_deliveries_total{channel="webhook",outcome="delivered"}"#,
                )
            })
            .and_then(|l| l.rsplit(' ').next()?.parse::<u32>().ok())
            .unwrap_or(0)
    };
    let counted = || async {
        let from_a = sent(&api.raw_get("/metrics").await.text().await.unwrap());
        let from_b = sent(&api_b.raw_get("/metrics").await.text().await.unwrap());
        (from_a, from_b)
    };
    eventually(Duration::from_secs(20), "20 deliveries counted", || async {
        let (a, b) = counted().await;
        (a + b >= 20).then_some(())
    })
    .await;
    let (from_a, from_b) = counted().await;
    assert_eq!(from_a + from_b, 20, "a sent {from_a}, b sent {from_b}");

    // Events too: both replicas look for ended runs; each run is told of once.
    let slapd = Slapd::start(&slapd::ldif(&people(5)));
    let (sync_id, secret) = api.add_sync("corp").await;
    let mut agent = TestAgent::start(AgentSetup {
        addr: a.agent_addr(),
        client_id: sync_id.clone(),
        secret,
        yaml: slapd.adc_yaml(""),
        extra_ca: None,
    });
    agent.connected().await;
    let (s, _) = api
        .patch(
            &format!("/api/v1/notifications/endpoints/{endpoint}"),
            json!({"events": ["run.succeeded"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let mut runs = vec![];
    for i in 0..4 {
        // Started on either replica; the agent is on a.
        let api = if i % 2 == 0 { &api } else { &api_b };
        let (s, run) = api
            .post(
                &format!("/api/v1/synchronizations/{sync_id}/runs"),
                json!({}),
            )
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{run}");
        let id = run["id"].as_str().unwrap().to_owned();
        eventually(Duration::from_secs(30), "the run to end", || async {
            let (_, r) = api.get(&format!("/api/v1/runs/{id}")).await;
            (r["status"] != "running").then_some(())
        })
        .await;
        runs.push(id);
    }
    eventually(
        Duration::from_secs(30),
        "four run notifications",
        || async {
            (receiver
                .accepted()
                .iter()
                .filter(|r| r.event == "run.succeeded")
                .count()
                >= 4)
                .then_some(())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut told: Vec<String> = receiver
        .accepted()
        .iter()
        .filter(|r| r.event == "run.succeeded")
        .map(|r| r.body["run"]["id"].as_str().unwrap().to_owned())
        .collect();
    told.sort();
    runs.sort();
    assert_eq!(told, runs, "each run told of once");
    agent.stop().await.unwrap();
}

/// The server's SMTP settings for `sink`; trusting the test CA when `trust` is true.
fn smtp_for(sink: &SmtpSink, mode: Mode, trust: bool) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".into(),
        port: sink.port,
        tls: match mode {
            Mode::Starttls => SmtpTls::Starttls,
            Mode::Tls => SmtpTls::Tls,
        },
        username: None,
        password: None,
        from: "ad-connect <adc@example.com>".into(),
        ca_file: trust.then(|| sink.cert.ca.clone()),
    }
}

#[engines]
async fn e_mail_reaches_an_smtp_server_over_starttls_and_over_tls(engine: Engine) {
    for mode in [Mode::Starttls, Mode::Tls] {
        let sink = SmtpSink::start(mode).await;
        let smtp = smtp_for(&sink, mode, true);
        let mut f = fixture_with(engine, &people(3), "", None, |c| {
            quick(c);
            c.smtp = Some(smtp);
        })
        .await;
        let (s, b) = f
            .api
            .post(
                "/api/v1/notifications/endpoints",
                json!({"kind": "email", "target": "Ops@Example.com", "events": ["run.succeeded"]}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        assert!(b["secret"].is_null(), "an e-mail recipient has no key: {b}");
        let run = f.run(json!({})).await;
        let id = run["id"].as_str().unwrap();
        let mail = sink.wait_for(id).await;
        assert!(mail.contains("X-Sink-Rcpt: Ops@Example.com"), "{mail}");
        assert!(
            mail.contains("From: ad-connect <adc@example.com>"),
            "{mail}"
        );
        assert!(
            mail.contains("Subject: [ad-connect] Run of corp succeeded: 3 created"),
            "{mail}"
        );
        assert!(
            mail.contains(&format!("Open it: {PUBLIC_URL}/#/runs/{id}")),
            "{mail}"
        );
        // The SMTP server has it; the delivery is recorded a moment after its answer.
        let log = eventually(Duration::from_secs(20), "the delivery recorded", || async {
            let log = deliveries(&f.api, "status=delivered").await;
            (!log.is_empty()).then_some(log)
        })
        .await;
        assert_eq!(
            (log.len(), log[0]["kind"].as_str()),
            (1, Some("email")),
            "{log:?}"
        );
        f.agent.kill();
    }

    // A server that does not trust the SMTP server's certificate sends nothing, and its
    // delivery log says why.
    let sink = SmtpSink::start(Mode::Tls).await;
    let smtp = smtp_for(&sink, Mode::Tls, false);
    let server = TestServer::start_with(TestDb::new(engine).await, |c| {
        quick(c);
        c.smtp = Some(smtp);
    })
    .await;
    let api = server.admin().await;
    let (s, b) = api
        .post(
            "/api/v1/notifications/endpoints",
            json!({"kind": "email", "target": "ops@example.com"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let endpoint = b["id"].as_str().unwrap();
    api.post(
        &format!("/api/v1/notifications/endpoints/{endpoint}/test"),
        json!({}),
    )
    .await;
    let failed = eventually(Duration::from_secs(30), "a failed attempt", || async {
        deliveries(&api, "")
            .await
            .into_iter()
            .find(|d| d["last_error"].is_string())
    })
    .await;
    let error = failed["last_error"].as_str().unwrap();
    assert!(
        error.contains(&format!("127.0.0.1:{}", sink.port)) && error.contains("certificate"),
        "{error}"
    );
    assert!(sink.messages().is_empty());
}
