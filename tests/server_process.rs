//! The `adc-server` binary as an operator runs it: first start, signals, and logs that
//! never hold a secret (architecture §3, §7.6, §8.1).

use adc_e2e::api::Api;
use adc_e2e::engine::Engine;
use adc_e2e::engine::TestDb;
use adc_e2e::engines;
use adc_e2e::eventually;
use adc_e2e::process::{Proc, clean_command, signed_in, spawn_agent, start_server_binary};
use nix::sys::signal::Signal;
use serde_json::json;
use std::time::Duration;

fn password_in(log: &str) -> String {
    let after = log
        .split("password: ")
        .nth(1)
        .unwrap_or_else(|| panic!("no password in the log:\n{log}"));
    after.split_whitespace().next().unwrap().to_owned()
}

#[tokio::test]
async fn the_first_start_creates_the_embedded_database_and_prints_a_random_password_once() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, base) =
        start_server_binary(dir.path(), &[("ADC_LISTN", "typo")], "first").await;
    assert!(
        dir.path().join("data/adc.sqlite").exists(),
        "the SQLite default of architecture §2"
    );
    // It holds password hashes and the directory's users: its owner's alone.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &str| {
        std::fs::metadata(dir.path().join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("data"), 0o700, "the data folder");
    for f in [
        "data/adc.sqlite",
        "data/adc.sqlite-wal",
        "data/adc.sqlite-shm",
    ] {
        assert_eq!(mode(f), 0o600, "{f}");
    }
    let log = server.stderr();
    assert!(log.contains("admin@localhost"), "{log}");
    assert!(
        log.contains("ADC_LISTN"),
        "an unknown ADC_ variable is warned about: {log}"
    );
    let password = password_in(&log);
    assert!(password.len() >= 20, "{password}");
    let mut api = Api::new(
        reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap(),
        base,
    );
    api.login("admin@localhost", &password).await;

    server.signal(Signal::SIGTERM);
    assert_eq!(
        server.wait(Duration::from_secs(15)).await,
        0,
        "{}",
        server.stderr()
    );
    assert!(server.stderr().contains("stopped"));

    let (mut again, base) = start_server_binary(dir.path(), &[], "second").await;
    assert!(
        !again.stderr().contains("password"),
        "printed once only: {}",
        again.stderr()
    );
    let mut api = Api::new(
        reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap(),
        base,
    );
    api.login("admin@localhost", &password).await;
    again.signal(Signal::SIGTERM);
    assert_eq!(again.wait(Duration::from_secs(15)).await, 0);
}

#[engines]
async fn no_secret_appears_in_any_log_after_a_create_connect_rotate_cycle(engine: Engine) {
    let db = TestDb::new(engine).await;
    let dir = tempfile::tempdir().unwrap();
    let admin_password = "bootstrap-password-0123456789";
    let (mut server, base) = start_server_binary(
        dir.path(),
        &[
            ("ADC_DATABASE_URL", db.url.as_str()),
            ("ADC_BOOTSTRAP_ADMIN_EMAIL", "root@example.com"),
            ("ADC_BOOTSTRAP_ADMIN_PASSWORD", admin_password),
            ("ADC_LOG", "debug"),
        ],
        "server",
    )
    .await;
    let mut api = Api::new(
        reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .unwrap(),
        base.clone(),
    );
    api.login("root@example.com", admin_password).await;
    let (_, me) = api.get("/api/v1/me").await;
    let csrf = me["csrf_token"].as_str().unwrap().to_owned();
    let (id, first_secret) = api.add_sync("corp").await;
    let (_, token) = api
        .post("/api/v1/tokens", json!({"name": "ci", "role": "viewer"}))
        .await;
    let token = token["secret"].as_str().unwrap().to_owned();
    let (s, _) = api.with_token(&token).get("/api/v1/synchronizations").await;
    assert!(s.is_success());

    std::fs::write(
        dir.path().join("adc.yaml"),
        "backend:\n  ldap:\n    addr: ldap://127.0.0.1:1\n    bind_dn: cn=x\n    bind_password: ldap-bind-secret\n    base_dn: dc=x\n    authentication:\n      username_filter_template: (mail=%s)\n      timeout: 2\n",
    )
    .unwrap();
    let agent_cmd = |secret: &str| {
        let mut c = clean_command("adc");
        c.current_dir(dir.path())
            .env("AD_CONNECT_ADDR", base.replace("http://", "ws://"))
            .env("AD_CONNECT_AUTH", format!("{id}:{secret}"))
            .env("AD_CONNECT_CONFIG", dir.path().join("adc.yaml"))
            .env("AD_CONNECT_LOG", "debug");
        c
    };
    let mut agent = Proc::spawn(agent_cmd(&first_secret), dir.path(), "agent1");
    eventually(Duration::from_secs(20), "the agent to connect", || async {
        (!api.agents(&id).await.is_empty()).then_some(())
    })
    .await;

    // A pass-through authentication carries a password through server and agent.
    let (_, authn) = api
        .post(
            "/api/v1/tokens",
            json!({"name": "cloud", "role": "viewer", "can_authenticate": true}),
        )
        .await;
    let authn = authn["secret"].as_str().unwrap().to_owned();
    let user_password = "end-user-password-31337";
    let (s, b) = api
        .with_token(&authn)
        .post(
            "/api/v1/authenticate",
            json!({"username": "someone@example.com", "password": user_password}),
        )
        .await;
    assert_eq!(s, reqwest::StatusCode::UNAUTHORIZED, "{b}");
    let (_, rotated) = api
        .post(&format!("/api/v1/synchronizations/{id}/secret"), json!({}))
        .await;
    let second_secret = rotated["secret"].as_str().unwrap().to_owned();
    eventually(
        Duration::from_secs(20),
        "the old secret to be refused",
        || async {
            agent
                .stderr()
                .contains("refused the credentials")
                .then_some(())
        },
    )
    .await;
    agent.signal(Signal::SIGTERM);
    assert_eq!(agent.wait(Duration::from_secs(10)).await, 0);
    let mut agent2 = Proc::spawn(agent_cmd(&second_secret), dir.path(), "agent2");
    eventually(
        Duration::from_secs(20),
        "the renewed agent to connect",
        || async { (!api.agents(&id).await.is_empty()).then_some(()) },
    )
    .await;
    agent2.signal(Signal::SIGTERM);
    assert_eq!(agent2.wait(Duration::from_secs(10)).await, 0);
    server.signal(Signal::SIGTERM);
    assert_eq!(server.wait(Duration::from_secs(15)).await, 0);

    let logs = [
        server.stdout(),
        server.stderr(),
        agent.stderr(),
        agent.stdout(),
        agent2.stderr(),
        agent2.stdout(),
    ];
    let all = logs.join("\n");
    // The logs did record the cycle, so finding nothing below means something.
    for event in [
        "synchronization added",
        "agent connected",
        "secret rotated",
        "agent refused",
        "API token created",
    ] {
        assert!(all.contains(event), "the log lacks `{event}`");
    }
    for secret in [
        first_secret.as_str(),
        second_secret.as_str(),
        token.as_str(),
        authn.as_str(),
        admin_password,
        csrf.as_str(),
        "ldap-bind-secret",
        user_password,
    ] {
        assert!(!all.contains(secret), "a secret appears in the logs");
    }
}

/// Started against a PostgreSQL that is not there, the server stops at once and says
/// which address it tried, why it failed and what to check.
#[tokio::test]
async fn a_server_started_against_an_unreachable_postgresql_says_where_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let port = adc_e2e::process::free_port();
    let mut cmd = clean_command("adc-server");
    cmd.current_dir(dir.path())
        .env(
            "ADC_LISTEN",
            format!("127.0.0.1:{}", adc_e2e::process::free_port()),
        )
        .env(
            "ADC_DATABASE_URL",
            format!("postgres://postgres@127.0.0.1:{port}/adc"),
        );
    let mut server = Proc::spawn(cmd, dir.path(), "no-database");
    let code = server.wait(Duration::from_secs(30)).await;
    let log = server.stderr();
    assert_ne!(code, 0, "{log}");
    let last = log.lines().rev().find(|l| !l.trim().is_empty()).unwrap();
    assert!(
        last.contains(&format!("127.0.0.1:{port}")),
        "the address: {last}"
    );
    assert!(last.contains("Connection refused"), "the reason: {last}");
    assert!(
        last.contains("check ADC_DATABASE_URL"),
        "what to check: {last}"
    );
    assert!(!log.contains("pool timed out"), "{log}");
}

/// What an operator reads in a file or journald: no colour codes, no line per routine
/// request, a run's end with its status and counts, and no empty fields.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_on_a_pipe_are_plain_quiet_about_routine_requests_and_end_runs_with_counts() {
    use adc_e2e::slapd::{self, Slapd};
    let ldap = Slapd::start(&slapd::ldif(&adc_e2e::sync::people(5)));
    let dir = tempfile::tempdir().unwrap();
    let (mut server, base) = start_server_binary(
        dir.path(),
        &[
            ("ADC_BOOTSTRAP_ADMIN_EMAIL", "root@example.com"),
            (
                "ADC_BOOTSTRAP_ADMIN_PASSWORD",
                "bootstrap-password-0123456789",
            ),
        ],
        "server",
    )
    .await;
    let api = signed_in(&base, "root@example.com", "bootstrap-password-0123456789").await;
    let (id, secret) = api.add_sync("corp").await;
    std::fs::write(dir.path().join("adc.yaml"), ldap.adc_yaml("")).unwrap();
    let mut agent = spawn_agent(dir.path(), &base, &id, &secret, "agent");
    eventually(Duration::from_secs(20), "the agent to connect", || async {
        (!api.agents(&id).await.is_empty()).then_some(())
    })
    .await;
    let (_, run) = api
        .post(&format!("/api/v1/synchronizations/{id}/runs"), json!({}))
        .await;
    let run_id = run["id"].as_str().unwrap().to_owned();
    // Polled as the page polls it.
    eventually(Duration::from_secs(30), "the run to end", || async {
        let (_, r) = api.get(&format!("/api/v1/runs/{run_id}")).await;
        (r["status"] != "running").then_some(())
    })
    .await;
    for _ in 0..5 {
        api.get("/api/v1/synchronizations").await;
    }
    agent.signal(Signal::SIGTERM);
    assert_eq!(agent.wait(Duration::from_secs(10)).await, 0);
    server.signal(Signal::SIGTERM);
    assert_eq!(server.wait(Duration::from_secs(15)).await, 0);

    let (server_log, agent_log) = (server.stderr(), agent.stderr());
    for (who, log) in [("server", &server_log), ("agent", &agent_log)] {
        assert!(
            !log.contains('\u{1b}'),
            "{who}: colour codes on a pipe:\n{log}"
        );
        assert!(!log.contains("=\"\""), "{who}: an empty field:\n{log}");
    }
    assert!(
        !server_log.contains("/api/v1/runs/{id}") && !server_log.contains("processing request"),
        "routine requests are not logged at info:\n{server_log}"
    );
    let end = server_log
        .lines()
        .find(|l| l.contains("run finished"))
        .unwrap_or_else(|| panic!("no run end in the server log:\n{server_log}"));
    assert!(
        end.contains("status=succeeded") && end.contains("created=5"),
        "{end}"
    );
    let end = agent_log
        .lines()
        .find(|l| l.contains("run finished"))
        .unwrap_or_else(|| panic!("no run end in the agent log:\n{agent_log}"));
    assert!(
        end.contains("status=\"succeeded\"") && end.contains("created=5"),
        "{end}"
    );
}

/// A replica killed mid-run (SIGKILL: nothing cleaned up) blocks nothing for long: the
/// same replica restarting removes its previous connections and fails their runs at
/// once; another replica does it within the heartbeat timeout. The agents list never
/// shows the dead connection beside the new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_run_blocks_the_synchronization_only_until_the_heartbeat_timeout() {
    use adc_e2e::slapd::{self, Slapd};
    let db = TestDb::new(Engine::Postgres).await;
    let ldap = Slapd::start(&slapd::ldif(&adc_e2e::sync::people(20)));
    let dir = tempfile::tempdir().unwrap();
    let port_a = adc_e2e::process::free_port();
    let listen_a = format!("127.0.0.1:{port_a}");
    let envs = |extra: &[(&'static str, String)]| {
        let mut v: Vec<(&str, String)> = vec![
            ("ADC_DATABASE_URL", db.url.clone()),
            ("ADC_BOOTSTRAP_ADMIN_EMAIL", "root@example.com".into()),
            (
                "ADC_BOOTSTRAP_ADMIN_PASSWORD",
                "bootstrap-password-0123456789".into(),
            ),
        ];
        v.extend(extra.iter().cloned());
        v
    };
    let start = |label: &'static str, envs: Vec<(&'static str, String)>| {
        let dir = dir.path().to_owned();
        async move {
            let refs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            start_server_binary(&dir, &refs, label).await
        }
    };
    let sign_in = |base: String| async move {
        signed_in(&base, "root@example.com", "bootstrap-password-0123456789").await
    };

    let (mut a, base_a) = start("replica-a", envs(&[("ADC_LISTEN", listen_a.clone())])).await;
    let api = sign_in(base_a.clone()).await;
    let (id, secret) = api.add_sync("corp").await;
    std::fs::write(dir.path().join("adc.yaml"), ldap.adc_yaml("")).unwrap();
    let _agent = spawn_agent(dir.path(), &base_a, &id, &secret, "agent");
    let connected = |api: &Api| {
        let (api, id) = (api.clone(), id.clone());
        async move {
            eventually(Duration::from_secs(30), "the agent connected", || async {
                let list = api.agents(&id).await;
                (list.len() == 1).then(|| list[0]["id"].as_str().unwrap().to_owned())
            })
            .await
        }
    };
    let old_conn = connected(&api).await;
    // A run that cannot end by itself: the directory hangs.
    ldap.pause();
    let (s, run) = api
        .post(&format!("/api/v1/synchronizations/{id}/runs"), json!({}))
        .await;
    assert_eq!(s, reqwest::StatusCode::ACCEPTED, "{run}");
    let first = run["id"].as_str().unwrap().to_owned();
    a.signal(Signal::SIGKILL);
    a.wait(Duration::from_secs(10)).await;

    // The same replica restarts (same host and port): at once, the run is failed and
    // the dead connection is not listed.
    let (mut a, base_a) = start("replica-a-again", envs(&[("ADC_LISTEN", listen_a.clone())])).await;
    let api = sign_in(base_a).await;
    let (_, r) = api.get(&format!("/api/v1/runs/{first}")).await;
    assert_eq!(r["status"], "failed", "at once, not after a timeout: {r}");
    let listed = api.agents(&id).await;
    assert!(
        listed.iter().all(|c| c["id"] != old_conn.as_str()),
        "the dead connection is gone: {listed:?}"
    );
    ldap.resume();
    let new_conn = connected(&api).await;
    assert_ne!(new_conn, old_conn);
    let (s, run) = api
        .post(&format!("/api/v1/synchronizations/{id}/runs"), json!({}))
        .await;
    assert_eq!(
        s,
        reqwest::StatusCode::ACCEPTED,
        "no 409 for a dead run: {run}"
    );
    let second = run["id"].as_str().unwrap().to_owned();
    eventually(Duration::from_secs(30), "the run to succeed", || async {
        let (_, r) = api.get(&format!("/api/v1/runs/{second}")).await;
        (r["status"] == "succeeded").then_some(())
    })
    .await;

    // Killed again mid-run; another replica (heartbeat 1 s: a 3 s timeout) clears it.
    ldap.pause();
    let (_, run) = api
        .post(&format!("/api/v1/synchronizations/{id}/runs"), json!({}))
        .await;
    let third = run["id"].as_str().unwrap().to_owned();
    a.signal(Signal::SIGKILL);
    a.wait(Duration::from_secs(10)).await;
    let (mut b, base_b) = start("replica-b", envs(&[("ADC_HEARTBEAT_SECS", "1".into())])).await;
    let api_b = sign_in(base_b).await;
    eventually(
        Duration::from_secs(20),
        "the other replica to fail the dead replica's run",
        || async {
            let (_, r) = api_b.get(&format!("/api/v1/runs/{third}")).await;
            (r["status"] == "failed").then_some(r)
        },
    )
    .await;
    assert!(
        api_b.agents(&id).await.is_empty(),
        "the dead connection is not listed"
    );
    let (s, body) = api_b
        .post(&format!("/api/v1/synchronizations/{id}/runs"), json!({}))
        .await;
    assert_eq!(
        s,
        reqwest::StatusCode::CONFLICT,
        "no agent (and no run left active): {body}"
    );
    ldap.resume();
    b.signal(Signal::SIGTERM);
    b.wait(Duration::from_secs(15)).await;
}

/// A database role that may use its tables but not create extensions (as some managed
/// services set one up): the server says which index it could not build and what to
/// check, and serves on, its searches reading the rows.
#[tokio::test]
async fn a_server_whose_role_may_not_create_pg_trgm_says_what_to_check_and_serves_on() {
    let db = TestDb::new(Engine::Postgres).await;
    let owner = adc_server::db::Db::connect(Some(&db.url)).await.unwrap();
    for sql in [
        "DO $$ BEGIN CREATE ROLE adc_test_no_extensions LOGIN; \
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$",
        "GRANT USAGE, CREATE ON SCHEMA public TO adc_test_no_extensions",
        "GRANT ALL ON ALL TABLES IN SCHEMA public TO adc_test_no_extensions",
        "GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO adc_test_no_extensions",
    ] {
        adc_e2e::sql::execute(&owner, sql).await.unwrap();
    }
    let mut url = reqwest::Url::parse(&db.url).unwrap();
    url.set_username("adc_test_no_extensions").unwrap();
    url.set_password(None).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (server, base) = start_server_binary(
        dir.path(),
        &[
            ("ADC_DATABASE_URL", url.as_str()),
            ("ADC_SEARCH_INDEX_MIN_ROWS", "0"),
            ("ADC_BOOTSTRAP_ADMIN_EMAIL", "ops@example.com"),
            ("ADC_BOOTSTRAP_ADMIN_PASSWORD", "a long enough password"),
        ],
        "no-pg-trgm",
    )
    .await;
    let log = eventually(Duration::from_secs(30), "the index's warning", || async {
        let log = server.stderr();
        log.contains("could not build the search index")
            .then_some(log)
    })
    .await;
    let line = log
        .lines()
        .find(|l| l.contains("could not build the search index"))
        .unwrap();
    for what in [
        "users_search_trgm",
        "pg_trgm",
        "CREATE EXTENSION",
        "permission denied",
    ] {
        assert!(line.contains(what), "{what} in: {line}");
    }
    let api = signed_in(&base, "ops@example.com", "a long enough password").await;
    let (s, b) = api
        .post("/api/v1/users", json!({"username": "searchable"}))
        .await;
    assert_eq!(s, reqwest::StatusCode::CREATED, "{b}");
    let (s, page) = api.get("/api/v1/users?q=RCHAB").await;
    assert_eq!(s, reqwest::StatusCode::OK, "{page}");
    assert_eq!(page["users"][0]["username"], "searchable", "{page}");
    assert!(
        !adc_e2e::sql::index_ready(&owner, adc_server::db::search::Target::Users).await,
        "nothing half-built is left"
    );
}
