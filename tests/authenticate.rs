//! Pass-through authentication (architecture §6): the password is checked by the customer's
//! directory through the real agent, never stored, never logged.

use adc_e2e::agent::{AgentSetup, TestAgent};
use adc_e2e::engine::Engine;
use adc_e2e::engines;
use adc_e2e::eventually;
use adc_e2e::raw::RawAgent;
use adc_e2e::slapd::Person;
use adc_e2e::sync::{Fixture, fixture_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

fn people_with_passwords(n: usize) -> Vec<Person> {
    (0..n)
        .map(|i| Person {
            password: Some(format!("pw-{i}-secret")),
            ..Person::numbered(i)
        })
        .collect()
}

/// A synced directory and an API token allowed to authenticate.
async fn setup(
    engine: adc_e2e::engine::Engine,
    tweak: impl FnOnce(&mut adc_server::Config),
) -> (Fixture, adc_e2e::api::Api) {
    let f = fixture_with(engine, &people_with_passwords(4), "", None, tweak).await;
    let run = f.run(json!({})).await;
    assert_eq!(run["counts"]["created"], 4);
    let (s, t) = f
        .api
        .post(
            "/api/v1/tokens",
            json!({"name": "cloud", "role": "viewer", "can_authenticate": true}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    let api = f.api.with_token(t["secret"].as_str().unwrap());
    (f, api)
}

async fn auth(api: &adc_e2e::api::Api, username: &str, password: &str) -> (StatusCode, Value) {
    api.post(
        "/api/v1/authenticate",
        json!({"username": username, "password": password}),
    )
    .await
}

#[engines]
async fn a_right_password_is_accepted_and_a_wrong_one_or_unknown_user_gets_the_same_401(
    engine: Engine,
) {
    let (f, api) = setup(engine, |_| {}).await;
    let (s, ok) = auth(&api, "user00001@example.com", "pw-1-secret").await;
    assert_eq!(s, StatusCode::OK, "{ok}");
    assert_eq!(ok["ok"], true);
    assert_eq!(ok["user"]["username"], "user00001@example.com");
    assert_eq!(ok["user"]["display_name"], "Given1 Surname1");
    let (s, ok) = auth(&api, "USER00002@example.com", "pw-2-secret").await;
    assert_eq!(
        s,
        StatusCode::OK,
        "usernames match case-insensitively: {ok}"
    );

    let (s1, wrong) = auth(&api, "user00001@example.com", "pw-2-secret").await;
    let (s2, unknown) = auth(&api, "nobody@example.com", "pw-1-secret").await;
    assert_eq!(
        (s1, s2),
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    );
    assert_eq!(wrong, unknown, "the same answer for both");
    assert_eq!(wrong["error"]["message"], "wrong username or password");

    let (s, b) = api
        .post(
            "/api/v1/authenticate",
            json!({"username": "user00001@example.com", "password": 424242424}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert!(
        !b.to_string().contains("424242424"),
        "a malformed body never quotes the password: {b}"
    );
    let (s, b) = auth(&api, "user00001@example.com", "").await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "an empty password is refused before any bind: {b}"
    );
    let (s, _) = f
        .api
        .post(
            "/api/v1/authenticate",
            json!({"username": "user00001@example.com", "password": "pw-1-secret"}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "a web session may not use it");
    let (_, plain) = f
        .api
        .post(
            "/api/v1/tokens",
            json!({"name": "plain", "role": "system-admin"}),
        )
        .await;
    let (s, _) = auth(
        &f.api.with_token(plain["secret"].as_str().unwrap()),
        "user00001@example.com",
        "pw-1-secret",
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "nor a token without the right");
}

/// Connections to the directory are kept between authentications, and a directory
/// that restarted meanwhile costs no failed sign-in.
#[tokio::test]
async fn authentications_reuse_directory_connections_and_survive_a_directory_restart() {
    let (mut f, api) = setup(adc_e2e::engine::Engine::Sqlite, |_| {}).await;
    let (s, _) = auth(&api, "user00001@example.com", "pw-1-secret").await;
    assert_eq!(s, StatusCode::OK);
    let before = f.slapd.connections_accepted().await;
    for i in 0..20 {
        let (user, password) = (
            format!("user{:05}@example.com", i % 4),
            format!("pw-{}-secret", i % 4),
        );
        let wrong = i % 5 == 0;
        let (s, b) = auth(&api, &user, if wrong { "wrong" } else { &password }).await;
        let expected = if wrong {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::OK
        };
        assert_eq!(s, expected, "{user}: {b}");
    }
    // The monitor's own search is one; two new connections per authentication would
    // be forty.
    let made = f.slapd.connections_accepted().await - before;
    assert!(
        made <= 2,
        "{made} new directory connections for 20 authentications"
    );

    f.slapd.restart("");
    let (s, b) = auth(&api, "user00002@example.com", "pw-2-secret").await;
    assert_eq!(s, StatusCode::OK, "after the directory restarted: {b}");
    let (s, _) = auth(&api, "user00002@example.com", "wrong").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_usernames_never_widen_the_search_or_authenticate() {
    let (_f, api) = setup(adc_e2e::engine::Engine::Sqlite, |_| {}).await;
    let long = "a".repeat(10_000);
    for name in [
        "*",
        "*)(uid=*",
        "admin)(|(objectClass=*",
        "user00001@example.com\0",
        "user0000*",
        long.as_str(),
    ] {
        for password in ["pw-1-secret", "*"] {
            let (s, b) = auth(&api, name, password).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED, "{name:.40}: {b}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_username_matching_two_entries_is_refused() {
    let mut people = people_with_passwords(2);
    // Two entries share user00000's address.
    people[1].mail = people[0].mail.clone();
    let f = fixture_with(adc_e2e::engine::Engine::Sqlite, &people, "", None, |_| {}).await;
    f.run(json!({})).await;
    let (_, t) = f
        .api
        .post(
            "/api/v1/tokens",
            json!({"name": "cloud", "role": "viewer", "can_authenticate": true}),
        )
        .await;
    let api = f.api.with_token(t["secret"].as_str().unwrap());
    let (s, b) = auth(&api, "user00000@example.com", "pw-0-secret").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "ambiguous: {b}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_failures_are_rate_limited_per_username_without_locking_out_others() {
    let (_f, api) = setup(adc_e2e::engine::Engine::Sqlite, |c| {
        c.auth_failures_per_username = 3
    })
    .await;
    for _ in 0..3 {
        let (s, _) = auth(&api, "user00003@example.com", "guess").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let (s, b) = auth(&api, "user00003@example.com", "pw-3-secret").await;
    assert_eq!(
        s,
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits: {b}"
    );
    let (s, _) = auth(&api, "user00002@example.com", "pw-2-secret").await;
    assert_eq!(s, StatusCode::OK, "another user is not locked out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_agent_gives_503_a_silent_agent_504_and_a_dead_directory_503_quickly() {
    let (mut f, api) = setup(adc_e2e::engine::Engine::Sqlite, |c| {
        c.auth_timeout = Duration::from_secs(2)
    })
    .await;
    f.slapd.stop();
    // 503 from the agent, not 504 from the server's 2 s wait: the agent did not hang.
    let (s, b) = auth(&api, "user00001@example.com", "pw-1-secret").await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("directory could not answer"),
        "{b}"
    );

    f.agent.kill();
    eventually(Duration::from_secs(10), "the agent to be gone", || async {
        f.api.agents(&f.sync_id).await.is_empty().then_some(())
    })
    .await;
    let (s, b) = auth(&api, "user00001@example.com", "pw-1-secret").await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{b}");

    let _silent = RawAgent::connect(&f.server.agent_addr(), &f.sync_id, &f.secret).await;
    let (s, b) = auth(&api, "user00001@example.com", "pw-1-secret").await;
    assert_eq!(s, StatusCode::GATEWAY_TIMEOUT, "{b}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_agents_share_the_requests_and_one_stopping_loses_none() {
    let (f, api) = setup(adc_e2e::engine::Engine::Postgres, |_| {}).await;
    let mut second = TestAgent::start(AgentSetup {
        addr: f.server.agent_addr(),
        client_id: f.sync_id.clone(),
        secret: f.secret.clone(),
        yaml: f.slapd.adc_yaml(""),
        extra_ca: None,
    });
    second.connected().await;
    for i in 0..8 {
        let (s, b) = auth(
            &api,
            &format!("user0000{}@example.com", i % 4),
            &format!("pw-{}-secret", i % 4),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    let (a, b) = (
        f.agent.status.borrow().authentications,
        second.status.borrow().authentications,
    );
    assert_eq!(a + b, 8);
    assert!(a >= 2 && b >= 2, "spread over both agents: {a} and {b}");

    f.agent.stop().await.unwrap();
    for i in 0..4 {
        let (s, b) = auth(
            &api,
            &format!("user0000{i}@example.com"),
            &format!("pw-{i}-secret"),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "served by the remaining agent: {b}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_directory_gives_504_after_the_agents_timeout() {
    let (f, api) = setup(adc_e2e::engine::Engine::Sqlite, |_| {}).await;
    // The agent's adc.yaml says `timeout: 5`; the server waits 10 s: the agent answers first.
    f.slapd.pause();
    let (s, b) = auth(&api, "user00001@example.com", "pw-1-secret").await;
    f.slapd.resume();
    assert_eq!(s, StatusCode::GATEWAY_TIMEOUT, "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("agent's timeout"),
        "{b}"
    );
    let (s, _) = auth(&api, "user00001@example.com", "pw-1-secret").await;
    assert_eq!(s, StatusCode::OK, "fine again once the directory answers");
}

/// Behind a load balancer, an authentication reaches either of two replica processes:
/// the one without the agent relays it through PostgreSQL to the one with it, and the
/// password never crosses PostgreSQL readable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn either_of_two_replicas_answers_and_postgresql_never_carries_the_password() {
    use adc_e2e::api::Api;
    use adc_e2e::engine::TestDb;
    use adc_e2e::process::{signed_in, spawn_agent, start_server_binary};
    use adc_e2e::slapd::{self, Slapd};
    use sqlx::postgres::PgListener;
    let db = TestDb::new(Engine::Postgres).await;
    let ldap = Slapd::start(&slapd::ldif(&people_with_passwords(3)));
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("ADC_DATABASE_URL", db.url.as_str()),
        ("ADC_BOOTSTRAP_ADMIN_EMAIL", "root@example.com"),
        (
            "ADC_BOOTSTRAP_ADMIN_PASSWORD",
            "bootstrap-password-0123456789",
        ),
    ];
    let (_a, base_a) = start_server_binary(dir.path(), &env, "replica-a").await;
    let (_b, base_b) = start_server_binary(dir.path(), &env, "replica-b").await;
    let admin = signed_in(&base_a, "root@example.com", "bootstrap-password-0123456789").await;
    let (id, secret) = admin.add_sync("corp").await;
    std::fs::write(dir.path().join("adc.yaml"), ldap.adc_yaml("")).unwrap();
    let _agent = spawn_agent(dir.path(), &base_a, &id, &secret, "agent");
    eventually(
        Duration::from_secs(20),
        "the agent on replica A",
        || async { (!admin.agents(&id).await.is_empty()).then_some(()) },
    )
    .await;
    let (_, run) = admin
        .post(&format!("/api/v1/synchronizations/{id}/runs"), json!({}))
        .await;
    let run_id = run["id"].as_str().unwrap().to_owned();
    eventually(
        Duration::from_secs(30),
        "the users synchronized",
        || async {
            let (_, r) = admin.get(&format!("/api/v1/runs/{run_id}")).await;
            (r["status"] == "succeeded").then_some(())
        },
    )
    .await;
    let (_, t) = admin
        .post(
            "/api/v1/tokens",
            json!({"name": "cloud", "role": "viewer", "can_authenticate": true}),
        )
        .await;
    let token = t["secret"].as_str().unwrap().to_owned();

    let mut watch = PgListener::connect(&db.url).await.unwrap();
    watch
        .listen_all(["adc_auth_request", "adc_auth_result"])
        .await
        .unwrap();
    let via = |base: &str| Api::new(reqwest::Client::new(), base.to_owned()).with_token(&token);
    for round in 0..3 {
        for (replica, base) in [("A", &base_a), ("B", &base_b)] {
            let (s, ok) = auth(&via(base), "user00001@example.com", "pw-1-secret").await;
            assert_eq!(s, StatusCode::OK, "round {round}, replica {replica}: {ok}");
            assert_eq!(ok["user"]["username"], "user00001@example.com");
            let (s, wrong) = auth(&via(base), "user00002@example.com", "pw-1-secret").await;
            assert_eq!(
                s,
                StatusCode::UNAUTHORIZED,
                "round {round}, replica {replica}: {wrong}"
            );
        }
    }
    let mut carried = Vec::new();
    while let Ok(Ok(Some(n))) =
        tokio::time::timeout(Duration::from_millis(500), watch.try_recv()).await
    {
        carried.push(n.payload().to_owned());
    }
    assert!(
        carried.len() >= 12,
        "B's six requests and A's answers went through PostgreSQL: {carried:?}"
    );
    for p in &carried {
        assert!(
            !p.contains("pw-1-secret") && !p.contains("user00001"),
            "a readable credential in {p}"
        );
    }
}
