//! Tenants never see each other's data (architecture §3, §8.4); the management commands.

use adc_e2e::agent::{AgentSetup, TestAgent};
use adc_e2e::engine::Engine;
use adc_e2e::engines;
use adc_e2e::process::{printed_password, server_cli};
use adc_e2e::server::TestServer;
use reqwest::StatusCode;
use serde_json::json;

#[engines]
async fn a_second_tenant_sees_none_of_the_first_tenants_data(engine: Engine) {
    let server = TestServer::start(engine).await;
    let first = server.admin().await;
    let (id, secret) = first.add_sync("corp").await;
    let (_, token) = first
        .post("/api/v1/tokens", json!({"name": "ci", "role": "viewer"}))
        .await;
    let mut agent = TestAgent::start(AgentSetup {
        addr: server.agent_addr(),
        client_id: id.clone(),
        secret,
        yaml: "backend:\n  ldap:\n    addr: ldap://127.0.0.1:1\n    base_dn: dc=x\n".into(),
        extra_ca: None,
    });
    agent.connected().await;

    let out = server_cli(
        &server.db.url,
        &["tenant", "create", "acme", "--admin-email", "Ops@Acme.test"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let second = server
        .sign_in("ops@acme.test", &printed_password(&stdout))
        .await;
    let (_, me) = second.get("/api/v1/me").await;
    assert_eq!(me["tenant"]["name"], "acme");

    let (_, list) = second.get("/api/v1/synchronizations").await;
    assert_eq!(
        list,
        json!([]),
        "another tenant's synchronizations are invisible"
    );
    let (_, tokens) = second.get("/api/v1/tokens").await;
    assert_eq!(tokens, json!([]));
    let path = format!("/api/v1/synchronizations/{id}");
    for (s, _) in [
        second.get(&path).await,
        second.get(&format!("{path}/agents")).await,
        second.patch(&path, json!({"name": "stolen"})).await,
        second.post(&format!("{path}/secret"), json!({})).await,
        second.delete(&path).await,
        second
            .delete(&format!("/api/v1/tokens/{}", token["id"].as_str().unwrap()))
            .await,
    ] {
        assert_eq!(s, StatusCode::NOT_FOUND);
    }
    // The same name is free in another tenant.
    second.add_sync("corp").await;
    let (_, still) = first.get(&path).await;
    assert_eq!(still["name"], "corp");
    assert_eq!(
        first.agents(&id).await.len(),
        1,
        "the first tenant's agent is untouched"
    );
    let (_, tokens) = first.get("/api/v1/tokens").await;
    assert_eq!(tokens.as_array().unwrap().len(), 1);

    // A duplicate tenant or e-mail is refused with a reason.
    let out = server_cli(
        &server.db.url,
        &["tenant", "create", "acme", "--admin-email", "x@acme.test"],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("exists already"));
}

#[engines]
async fn admins_are_added_with_a_role_and_a_reset_password_replaces_the_old_one(engine: Engine) {
    let server = TestServer::start(engine).await;
    let out = server_cli(
        &server.db.url,
        &[
            "admin",
            "add",
            "--tenant",
            "default",
            "--email",
            "op@example.com",
            "--role",
            "operator",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let password = printed_password(&String::from_utf8_lossy(&out.stdout));
    let op = server.sign_in("op@example.com", &password).await;
    let (_, me) = op.get("/api/v1/me").await;
    assert_eq!(me["role"], "operator");
    let (s, _) = op
        .post("/api/v1/synchronizations", json!({"name": "x"}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    let out = server_cli(
        &server.db.url,
        &["admin", "reset-password", "--email", "op@example.com"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let new_password = printed_password(&String::from_utf8_lossy(&out.stdout));
    assert_ne!(new_password, password);
    let (s, _) = op.get("/api/v1/me").await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "the reset ends existing sessions"
    );
    let (s, _) = server
        .anonymous()
        .post(
            "/api/v1/auth/login",
            json!({"email": "op@example.com", "password": password}),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let op = server.sign_in("op@example.com", &new_password).await;
    // The command line's changes are in the tenant's audit log, by the system user.
    let (_, audit) = op.get("/api/v1/audit?target=op@example.com").await;
    let actions: Vec<(&str, &str)> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["actor_kind"].as_str().unwrap(),
            )
        })
        .collect();
    assert!(
        actions.contains(&("admin.created", "cli"))
            && actions.contains(&("admin.password_reset", "cli")),
        "{audit}"
    );
    let reset = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "admin.password_reset")
        .unwrap();
    assert!(
        reset["actor_name"]
            .as_str()
            .unwrap()
            .starts_with("adc-server CLI ("),
        "{reset}"
    );

    let out = server_cli(
        &server.db.url,
        &["admin", "add", "--tenant", "nope", "--email", "a@b.c"],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no tenant `nope`"));
}
