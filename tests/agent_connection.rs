//! The agent's connection (architecture §7.3): TLS, authentication on upgrade, the agents
//! list, rotation and deletion, and peers that misbehave.

use adc_e2e::agent::{AgentSetup, TestAgent};
use adc_e2e::api::Api;
use adc_e2e::certs;
use adc_e2e::engine::Engine;
use adc_e2e::engine::TestDb;
use adc_e2e::engines;
use adc_e2e::eventually;
use adc_e2e::server::TestServer;
use adc_server::config::TlsFiles;
use base64::Engine as _;
use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const MINIMAL_YAML: &str = "settings:\n  dry-run: true\nbackend:\n  ldap:\n    addr: ldap://127.0.0.1:1\n    base_dn: dc=example,dc=com\n";

fn setup(server: &TestServer, id: &str, secret: &str) -> AgentSetup {
    AgentSetup {
        addr: server.agent_addr(),
        client_id: id.into(),
        secret: secret.into(),
        yaml: MINIMAL_YAML.into(),
        extra_ca: None,
    }
}

#[engines]
async fn an_agent_connects_over_tls_and_is_listed_until_it_leaves(engine: Engine) {
    let db = TestDb::new(engine).await;
    let dir = tempfile::tempdir().unwrap();
    let cert = certs::self_signed(dir.path());
    let ca = cert.ca.clone();
    let server = TestServer::start_with(db, |c| {
        c.tls = Some(TlsFiles {
            cert: cert.cert,
            key: cert.key,
        })
    })
    .await;
    assert!(server.base_url().starts_with("https://"));
    let api = server.admin().await;
    let (id, secret) = api.add_sync("corp").await;
    assert!(api.agents(&id).await.is_empty());

    let mut agent = TestAgent::start(AgentSetup {
        extra_ca: Some(ca),
        ..setup(&server, &id, &secret)
    });
    assert_eq!(agent.connected().await, "corp");
    let agents = api.agents(&id).await;
    assert_eq!(agents.len(), 1, "{agents:?}");
    let a = &agents[0];
    assert_eq!(a["hostname"], adc_agent::run::hostname());
    assert_eq!(a["agent_version"], adc_agent::VERSION);
    assert_eq!(a["protocol_version"], adc_shared::PROTOCOL_VERSION);
    assert!(a["connected_at"].is_string() && a["last_heartbeat_at"].is_string());
    assert_eq!(
        a["settings"]["dry-run"], true,
        "the agent's own settings are shown"
    );
    let (_, one) = api.get(&format!("/api/v1/synchronizations/{id}")).await;
    assert_eq!(one["agents_connected"], 1);

    agent.stop().await.expect("a stopped agent exits cleanly");
    eventually(
        Duration::from_secs(10),
        "the agent to leave the list",
        || async { api.agents(&id).await.is_empty().then_some(()) },
    )
    .await;
}

// Engine-independent: run once, on SQLite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_that_does_not_trust_the_certificate_does_not_connect() {
    let db = TestDb::new(Engine::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let cert = certs::self_signed(dir.path());
    let server = TestServer::start_with(db, |c| {
        c.tls = Some(TlsFiles {
            cert: cert.cert,
            key: cert.key,
        })
    })
    .await;
    let id = uuid::Uuid::new_v4().to_string();
    let mut agent = TestAgent::start(setup(&server, &id, "whatever"));
    let err = agent
        .wait_for("a TLS failure", |s| s.last_error.clone())
        .await;
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    assert!(agent.status.borrow().connected_to.is_none());
}

// Engine-independent: run once, on SQLite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_is_refused_with_a_clear_message_and_retried_with_backoff() {
    let server = TestServer::start(Engine::Sqlite).await;
    let api = server.admin().await;
    let (id, _) = api.add_sync("corp").await;
    let mut agent = TestAgent::start(setup(&server, &id, "not-the-secret"));
    let err = agent
        .wait_for("the refusal", |s| s.last_error.clone())
        .await;
    assert!(
        err.contains("401") && err.contains("AD_CONNECT_AUTH"),
        "{err}"
    );
    // Backoff: the delays before the second, third and fourth attempts are at least
    // 1 s, 1 s (of 1-2 s) and 2 s (of 2-4 s); a retry storm would show gaps of
    // milliseconds. A slow machine only makes the gaps longer.
    let times = agent
        .wait_for("four connection attempts", |s| {
            (s.recent_attempts.len() >= 4)
                .then(|| s.recent_attempts.iter().copied().collect::<Vec<_>>())
        })
        .await;
    let gaps: Vec<Duration> = times.windows(2).map(|w| w[1] - w[0]).collect();
    for (gap, least) in gaps.iter().zip([1000, 1000, 2000]) {
        assert!(
            *gap >= Duration::from_millis(least),
            "attempts {gaps:?} apart; expected at least 1 s, 1 s, 2 s"
        );
    }
    assert!(api.agents(&id).await.is_empty());

    // An unknown Application ID gets the same answer.
    let mut stranger = TestAgent::start(setup(&server, &uuid::Uuid::new_v4().to_string(), "x"));
    let err2 = stranger
        .wait_for("the refusal", |s| s.last_error.clone())
        .await;
    assert_eq!(
        err, err2,
        "the answer must not reveal whether the Application ID exists"
    );
}

#[engines]
async fn rotating_the_secret_disconnects_the_agent_and_the_old_secret_stops_working(
    engine: Engine,
) {
    let server = TestServer::start(engine).await;
    let api = server.admin().await;
    let (id, old) = api.add_sync("corp").await;
    let mut agent = TestAgent::start(setup(&server, &id, &old));
    agent.connected().await;

    let (s, rotated) = api
        .post(&format!("/api/v1/synchronizations/{id}/secret"), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    let (_, read) = api.get(&format!("/api/v1/synchronizations/{id}")).await;
    assert!(
        !read.to_string().contains(&new),
        "the new secret is shown only once"
    );

    let err = agent
        .wait_for("the server to refuse the old secret", |s| {
            s.last_error
                .clone()
                .filter(|e| e.contains("401") && s.connected_to.is_none())
        })
        .await;
    assert!(err.contains("AD_CONNECT_AUTH"), "{err}");
    assert!(api.agents(&id).await.is_empty());

    let mut renewed = TestAgent::start(setup(&server, &id, &new));
    renewed.connected().await;
    assert_eq!(api.agents(&id).await.len(), 1);
}

#[engines]
async fn deleting_a_synchronization_disconnects_its_agents(engine: Engine) {
    let server = TestServer::start(engine).await;
    let api = server.admin().await;
    let (id, secret) = api.add_sync("corp").await;
    let mut agent = TestAgent::start(setup(&server, &id, &secret));
    agent.connected().await;
    let (s, _) = api.delete(&format!("/api/v1/synchronizations/{id}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let err = agent
        .wait_for("the disconnect", |s| s.last_error.clone())
        .await;
    assert!(err.contains("deleted"), "{err}");
}

/// A server beating every second, its admin, a synchronization and its agent connected.
async fn beating_agent(engine: Engine) -> (TestServer, Api, String, TestAgent) {
    let db = TestDb::new(engine).await;
    let server =
        TestServer::start_with(db, |c| c.heartbeat_interval = Duration::from_secs(1)).await;
    let api = server.admin().await;
    let (id, secret) = api.add_sync("corp").await;
    let mut agent = TestAgent::start(setup(&server, &id, &secret));
    agent.connected().await;
    (server, api, id, agent)
}

#[engines]
async fn heartbeats_keep_the_agent_fresh_and_settings_reloads_show(engine: Engine) {
    let (_server, api, id, mut agent) = beating_agent(engine).await;
    let first = api.agents(&id).await[0].clone();
    let later: Value = eventually(Duration::from_secs(10), "a newer heartbeat", || async {
        let a = api.agents(&id).await.first().cloned()?;
        (a["last_heartbeat_at"] != first["last_heartbeat_at"]).then_some(a)
    })
    .await;
    assert_eq!(later["connected_at"], first["connected_at"]);
    assert_eq!(later["id"], first["id"], "the same connection");

    // A broken adc.yaml is reported and the old one kept.
    std::fs::write(
        &agent.config_path,
        MINIMAL_YAML.replace("dry-run", "dry-runn"),
    )
    .unwrap();
    agent.reload().await;
    let err = agent
        .wait_for("the reload error", |s| s.last_reload_error.clone())
        .await;
    assert!(
        err.contains("adc.yaml:2:3") && err.contains("dry-runn"),
        "{err}"
    );
    assert_eq!(api.agents(&id).await[0]["settings"]["dry-run"], true);
    assert!(
        agent.status.borrow().connected_to.is_some(),
        "still connected"
    );

    std::fs::write(
        &agent.config_path,
        MINIMAL_YAML.replace("dry-run: true", "dry-run: false"),
    )
    .unwrap();
    agent.reload().await;
    agent
        .wait_for("the reload", |s| (s.reloads == 1).then_some(()))
        .await;
    eventually(
        Duration::from_secs(10),
        "the new settings on the server",
        || async { (api.agents(&id).await[0]["settings"]["dry-run"] == false).then_some(()) },
    )
    .await;
    assert_eq!(
        api.agents(&id).await[0]["id"],
        first["id"],
        "reloading does not reconnect"
    );
}

#[engines]
async fn an_agent_whose_connection_record_vanished_is_told_to_reconnect_and_listed_again(
    engine: Engine,
) {
    let (server, api, id, mut agent) = beating_agent(engine).await;
    let first = api.agents(&id).await[0]["id"].clone();
    // As another replica's sweep does when this one could not reach the database.
    let store = adc_server::db::Db::connect(Some(&server.db.url))
        .await
        .unwrap();
    adc_e2e::sql::execute(&store, "DELETE FROM agent_connections")
        .await
        .unwrap();
    // The heartbeats recorded at the next tick find no record: the agent is told why,
    // reconnects, and is listed again as a new connection.
    let err = agent
        .wait_for("the server's word", |s| s.last_error.clone())
        .await;
    assert!(err.contains("lost this connection's record"), "{err}");
    let again: Value = eventually(
        Duration::from_secs(20),
        "the agent listed again",
        || async { api.agents(&id).await.first().cloned() },
    )
    .await;
    assert_ne!(again["id"], first, "a new connection");
}

/// A raw WebSocket peer with valid credentials, sending what a broken or hostile
/// agent might.
async fn raw_peer(server: &TestServer, id: &str, secret: &str) -> adc_agent::connection::Socket {
    let url = adc_agent::env::websocket_url(&server.agent_addr()).unwrap();
    let mut req = url.into_client_request().unwrap();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
    req.headers_mut()
        .insert("authorization", format!("Basic {basic}").parse().unwrap());
    let (ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("upgrade");
    ws
}

/// The server's last words: its error message and the close frame's code.
async fn last_words(ws: &mut adc_agent::connection::Socket) -> (Option<Value>, Option<u16>) {
    let mut error = None;
    let mut code = None;
    while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
        match m {
            Message::Text(t) => {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                if v["type"] == "error" {
                    error = Some(v);
                }
            }
            Message::Close(f) => {
                code = f.map(|f| u16::from(f.code));
                break;
            }
            _ => {}
        }
    }
    (error, code)
}

// Engine-independent: run once, on SQLite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_oversized_or_incompatible_messages_close_with_a_reason_and_the_server_carries_on()
 {
    let server = TestServer::start(Engine::Sqlite).await;
    let api = server.admin().await;
    let (id, secret) = api.add_sync("corp").await;
    let hello = |v: u32| {
        json!({"type": "hello", "protocol_version": v, "agent_version": "x", "hostname": "h"})
            .to_string()
    };

    let mut ws = raw_peer(&server, &id, &secret).await;
    ws.send(Message::Text(hello(99).into())).await.unwrap();
    let (err, _) = last_words(&mut ws).await;
    let err = err.expect("an error message");
    assert_eq!(err["code"], "incompatible_protocol");
    assert!(err["message"].as_str().unwrap().contains("99"), "{err}");

    let mut ws = raw_peer(&server, &id, &secret).await;
    ws.send(Message::Text("{\"type\": \"hello\", ".into()))
        .await
        .unwrap();
    let (err, code) = last_words(&mut ws).await;
    assert_eq!(err.unwrap()["code"], "malformed_message");
    assert_eq!(code, Some(1007));

    let mut ws = raw_peer(&server, &id, &secret).await;
    ws.send(Message::Text(hello(1).into())).await.unwrap();
    let welcome = ws.next().await.unwrap().unwrap();
    assert!(welcome.to_text().unwrap().contains("welcome"));
    ws.send(Message::Text(
        json!({"type": "launch_missiles"}).to_string().into(),
    ))
    .await
    .unwrap();
    let (err, _) = last_words(&mut ws).await;
    assert_eq!(err.unwrap()["code"], "malformed_message");

    let mut ws = raw_peer(&server, &id, &secret).await;
    ws.send(Message::Text(hello(1).into())).await.unwrap();
    let _welcome = ws.next().await;
    let huge = format!(
        "{{\"type\":\"heartbeat\",\"pad\":\"{}\"}}",
        "x".repeat(5 * 1024 * 1024)
    );
    let _ = ws.send(Message::Text(huge.into())).await;
    let (_, code) = last_words(&mut ws).await;
    // The server stops reading at the frame header and closes with 1009; the
    // kernel may turn the unread rest into a reset that overtakes the close frame.
    assert!(
        code.is_none() || code == Some(1009),
        "closed as too big, not {code:?}"
    );
    assert!(
        ws.next().await.is_none_or(|r| r.is_err()),
        "the connection is gone"
    );

    let mut ws = raw_peer(&server, &id, &secret).await;
    ws.send(Message::Text(
        json!({"type": "heartbeat"}).to_string().into(),
    ))
    .await
    .unwrap();
    let (err, _) = last_words(&mut ws).await;
    assert!(err.unwrap()["message"].as_str().unwrap().contains("hello"));

    // None of that hurt the server or left a phantom agent behind.
    eventually(Duration::from_secs(10), "no agent listed", || async {
        api.agents(&id).await.is_empty().then_some(())
    })
    .await;
    let (s, _) = api.get("/api/v1/synchronizations").await;
    assert_eq!(s, StatusCode::OK);
}

#[engines]
async fn a_server_shutting_down_tells_its_agents_and_stops_cleanly(engine: Engine) {
    let server = TestServer::start(engine).await;
    let api = server.admin().await;
    let (id, secret) = api.add_sync("corp").await;
    let mut agent = TestAgent::start(setup(&server, &id, &secret));
    agent.connected().await;
    server.stop().await;
    let err = agent
        .wait_for("the shutdown notice", |s| s.last_error.clone())
        .await;
    assert!(err.contains("shutting down"), "{err}");
}

// Engine-independent: run once, on SQLite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_reconnects_by_itself_when_the_server_comes_back() {
    let server = TestServer::start(Engine::Sqlite).await;
    let addr = server.addr.to_string();
    let api = server.admin().await;
    let (id, secret) = api.add_sync("corp").await;
    let mut agent = TestAgent::start(setup(&server, &id, &secret));
    agent.connected().await;
    let db = server.stop().await;
    agent
        .wait_for("the disconnect", |s| s.connected_to.is_none().then_some(()))
        .await;

    let server = TestServer::start_on(db, &addr, |_| {}).await;
    assert_eq!(agent.connected().await, "corp");
    let api = server.admin().await;
    assert_eq!(api.agents(&id).await.len(), 1);
}

/// Two replicas on one PostgreSQL (architecture §2): either lists an agent the other holds,
/// and a rotation through one disconnects the agent held by the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_sharing_postgres_see_each_others_agents_and_rotations() {
    let a = TestServer::start_with(TestDb::new(adc_e2e::engine::Engine::Postgres).await, |c| {
        c.heartbeat_interval = Duration::from_secs(1)
    })
    .await;
    let b = TestServer::start_with(a.db.borrowed(), |_| {}).await;
    let api_a = a.admin().await;
    let api_b = b.admin().await;
    let (id, secret) = api_b.add_sync("corp").await;
    let mut agent = TestAgent::start(setup(&a, &id, &secret));
    agent.connected().await;
    assert_eq!(api_a.agents(&id).await.len(), 1);
    assert_eq!(
        api_b.agents(&id).await.len(),
        1,
        "replica B lists the agent held by A"
    );

    let (s, _) = api_b
        .post(&format!("/api/v1/synchronizations/{id}/secret"), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let err = agent
        .wait_for("A to notice the rotation", |s| s.last_error.clone())
        .await;
    assert!(err.contains("rotated"), "{err}");
    eventually(
        Duration::from_secs(10),
        "the agent to leave B's list",
        || async { api_b.agents(&id).await.is_empty().then_some(()) },
    )
    .await;
}
