//! What the API says about itself: the OpenAPI document and the metrics (architecture §7.4).

use adc_e2e::engine::Engine;
use adc_e2e::engines;
use adc_e2e::server::TestServer;
use reqwest::{Method, StatusCode};
use serde_json::Value;

// Engine-independent: run once, on SQLite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_path_in_the_openapi_document_is_served() {
    let server = TestServer::start(Engine::Sqlite).await;
    let admin = server.admin().await;
    let (s, doc) = server.anonymous().get("/api/v1/openapi.json").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 10, "{}", paths.len());
    let some_id = uuid::Uuid::new_v4().to_string();
    for (path, item) in paths {
        for method in item
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| *k != "parameters")
        {
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let url = format!("/api/v1{}", path.replace("{id}", &some_id));
            let body = (m == Method::POST || m == Method::PATCH)
                .then(|| Value::Object(Default::default()));
            let (status, answer) = admin.call(m.clone(), &url, body).await;
            // A documented route is routed: never the fallback or a wrong method. (The
            // logout probe ends the session; later probes then get 401, still routed.)
            let unrouted = status == StatusCode::METHOD_NOT_ALLOWED
                || (status == StatusCode::NOT_FOUND
                    && answer["error"]["message"] == "route not found");
            assert!(
                !unrouted,
                "{m} {path} is documented but not served ({status}: {answer})"
            );
        }
    }
}

#[engines]
async fn metrics_count_requests_by_route_and_agent_refusals(engine: Engine) {
    let server = TestServer::start(engine).await;
    let api = server.admin().await;
    let (id, _) = api.add_sync("corp").await;
    api.get(&format!("/api/v1/synchronizations/{id}")).await;
    let text = reqwest::get(format!("{}/metrics", server.base_url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#"adc_http_requests_total{method="GET",route="/api/v1/synchronizations/{id}",status="200"} 1"#),
        "{text}"
    );
    assert!(
        !text
            .lines()
            .any(|l| l.starts_with("adc_http_requests_total") && l.contains(&id)),
        "raw paths with IDs are not route labels"
    );
    assert!(text.contains("adc_agents_connected 0"), "{text}");
}

/// Every run status, trigger and operation the OpenAPI document lists is the code's
/// vocabulary, in the same order: a value added to one and not the other fails here.
/// And every schema the document refers to is in it (they are generated).
#[test]
fn the_openapi_document_names_the_run_vocabulary_and_resolves_every_schema() {
    use adc_server::vocabulary::{Operation, RunPhase, RunStatus, Subject, Trigger};
    let doc = adc_server::openapi_document();
    let schemas = &doc["components"]["schemas"];
    // Every `enum` under a property or parameter of this name, anywhere in the document,
    // following references.
    fn enums(doc: &Value, v: &Value, name: &str, out: &mut Vec<Value>) {
        let resolve = |s: &Value| -> Value {
            match s.get("$ref").and_then(|r| r.as_str()) {
                Some(r) => doc["components"]["schemas"][r.rsplit('/').next().unwrap()].clone(),
                None => s.clone(),
            }
        };
        match v {
            Value::Object(m) => {
                if let Some(p) = m.get(name).filter(|p| p.is_object())
                    && let Some(e) = resolve(p).get("enum")
                {
                    out.push(e.clone());
                }
                if m.get("name").and_then(|n| n.as_str()) == Some(name)
                    && let Some(e) = m
                        .get("schema")
                        .map(resolve)
                        .and_then(|s| s.get("enum").cloned())
                {
                    out.push(e);
                }
                m.values().for_each(|c| enums(doc, c, name, out));
            }
            Value::Array(a) => a.iter().for_each(|c| enums(doc, c, name, out)),
            _ => {}
        }
    }
    let words = |all: Vec<&str>| serde_json::json!(all);
    for (name, expected, at_least) in [
        (
            "status",
            words(RunStatus::ALL.iter().map(|s| s.as_str()).collect()),
            2,
        ),
        (
            "trigger",
            words(Trigger::ALL.iter().map(|s| s.as_str()).collect()),
            1,
        ),
        (
            "phase",
            words(RunPhase::ALL.iter().map(|s| s.as_str()).collect()),
            1,
        ),
        (
            "operation",
            words(Operation::ALL.iter().map(|s| s.as_str()).collect()),
            2,
        ),
        (
            "subject",
            words(Subject::ALL.iter().map(|s| s.as_str()).collect()),
            2,
        ),
    ] {
        let mut found = Vec::new();
        enums(doc, doc, name, &mut found);
        assert!(
            found.len() >= at_least,
            "`{name}` is listed {} times",
            found.len()
        );
        for e in found {
            assert_eq!(e, expected, "`{name}` in the OpenAPI document");
        }
    }
    let text = doc.to_string();
    for r in text.split("#/components/schemas/").skip(1) {
        let name: String = r
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        assert!(
            schemas.get(&name).is_some(),
            "`{name}` is referred to but not in the document"
        );
    }
}

/// A load balancer's probe reads 503 at once when PostgreSQL refuses the server, not a
/// time-out (the pool alone waits 10 s), and 200 again when it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_says_503_promptly_while_the_database_refuses_and_200_when_it_is_back() {
    let server = TestServer::start(Engine::Postgres).await;
    let probe = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(5))
        .build()
        .unwrap();
    let url = format!("{}/readyz", server.base_url());
    assert_eq!(
        probe.get(&url).send().await.unwrap().status(),
        StatusCode::OK
    );
    server.db.refuse_connections(true).await;
    let r = probe
        .get(&url)
        .send()
        .await
        .expect("an answer within the probe's 5 s");
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["message"], "the database is unreachable");
    server.db.refuse_connections(false).await;
    adc_e2e::eventually(
        std::time::Duration::from_secs(20),
        "ready again",
        || async {
            let r = probe.get(&url).send().await.ok()?;
            (r.status() == StatusCode::OK).then_some(())
        },
    )
    .await;
}

/// The other way round: every route and method the server declares under `/api/v1`
/// (read from `routes/mod.rs`) is in the document, so a new route cannot go
/// undocumented.
#[test]
fn every_route_the_server_declares_is_in_the_openapi_document() {
    let source = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../server/src/routes/mod.rs"),
    )
    .unwrap();
    let api = &source
        [source.find("let api = Router::new()").unwrap()..source.find(".fallback(").unwrap()];
    let doc = adc_server::openapi_document();
    let mut declared = 0;
    for call in api.split(".route(").skip(1) {
        let path = call.split('"').nth(1).unwrap();
        let handlers = &call[call.find(',').unwrap()..];
        for method in ["get", "post", "patch", "delete"] {
            let named = handlers.contains(&format!("{method}("))
                || handlers.contains(&format!(".{method}("));
            if !named {
                continue;
            }
            declared += 1;
            assert!(
                doc["paths"][path][method].is_object(),
                "{} {path} is served but not in the OpenAPI document",
                method.to_uppercase()
            );
        }
    }
    assert!(declared >= 29, "the routes were read: {declared}");
}

#[engines]
async fn metrics_show_runs_synchronizations_and_authentications_an_alert_can_use(engine: Engine) {
    let f = adc_e2e::sync::fixture_with(engine, &adc_e2e::sync::people(30), "", None, |c| {
        c.metrics_token = Some(adc_server::secrets::Secret::new("scrape-token-42"))
    })
    .await;
    let run = f.run(serde_json::json!({})).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let url = format!("{}/metrics", f.server.base_url());
    let http = reqwest::Client::new();
    // The token guards the figures.
    let refused = http.get(&url).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let wrong = http
        .get(&url)
        .bearer_auth("scrape-token-41")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    let scrape = || async {
        let resp = http.get(&url).bearer_auth("scrape-token-42").send().await;
        resp.unwrap().text().await.unwrap()
    };
    let text = scrape().await;
    let sync = &f.sync_id;
    let line = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name) && l.contains(sync.as_str()))
            .unwrap_or_else(|| panic!("no {name} for {sync}:\n{text}"))
            .to_owned()
    };
    assert!(
        line("adc_runs_finished_total").contains(r#"status="succeeded"} 1"#),
        "{text}"
    );
    assert!(
        line("adc_synchronization_users").ends_with(" 30.0"),
        "{text}"
    );
    assert!(
        line("adc_synchronization_agents_connected").ends_with(" 1.0"),
        "{text}"
    );
    assert!(
        line("adc_synchronization_held_runs").ends_with(" 0.0"),
        "{text}"
    );
    let age: f64 = line("adc_synchronization_last_success_age_seconds")
        .rsplit(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((0.0..60.0).contains(&age), "the run just succeeded: {age}");
    assert!(text.contains("adc_batch_apply_seconds_count 1"), "{text}");
    assert!(
        text.contains("adc_run_users_applied_per_second_count 1"),
        "{text}"
    );
    // A pass-through authentication, counted by outcome.
    let (_, token) = f
        .api
        .post(
            "/api/v1/tokens",
            serde_json::json!({"name": "svc", "role": "viewer", "can_authenticate": true}),
        )
        .await;
    let svc = f.api.with_token(token["secret"].as_str().unwrap());
    let (s, _) = svc
        .post(
            "/api/v1/authenticate",
            serde_json::json!({"username": "user00001@example.com", "password": "wrong"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let text = scrape().await;
    assert!(
        text.contains(r#"adc_authentications_total{outcome="rejected"} 1"#),
        "{text}"
    );
    assert!(
        text.contains("adc_authentication_duration_seconds_count 1"),
        "{text}"
    );
}

/// The sample alert rules are valid and fire on the series they watch
/// (`promtool`, from Debian's prometheus package).
#[test]
fn the_sample_alert_rules_pass_promtool_and_fire_when_they_should() {
    let dist = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../server/dist");
    for args in [
        vec!["check", "rules", "prometheus-alerts.yml"],
        vec!["test", "rules", "prometheus-alerts.test.yml"],
    ] {
        let out = std::process::Command::new("promtool")
            .args(&args)
            .current_dir(&dist)
            .output()
            .expect("promtool runs (scripts/test installs Debian's prometheus)");
        assert!(
            out.status.success(),
            "promtool {args:?}:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
