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
    assert!(!text.contains(&id), "raw paths with IDs are not labels");
    assert!(text.contains("adc_agents_connected 0"), "{text}");
}

/// Every run status, trigger and operation the OpenAPI document lists is the code's
/// vocabulary, in the same order: a value added to one and not the other fails here.
#[test]
fn the_openapi_document_names_the_run_vocabulary_of_the_code() {
    use adc_server::vocabulary::{Operation, RunStatus, Trigger};
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../server/openapi.json");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    // Every `enum` under a property or parameter of this name, anywhere in the document.
    fn enums<'a>(v: &'a serde_json::Value, name: &str, out: &mut Vec<&'a serde_json::Value>) {
        match v {
            serde_json::Value::Object(m) => {
                if let Some(e) = m.get(name).and_then(|p| p.get("enum")) {
                    out.push(e);
                }
                if m.get("name").and_then(|n| n.as_str()) == Some(name)
                    && let Some(e) = m.get("schema").and_then(|s| s.get("enum"))
                {
                    out.push(e);
                }
                m.values().for_each(|c| enums(c, name, out));
            }
            serde_json::Value::Array(a) => a.iter().for_each(|c| enums(c, name, out)),
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
            "operation",
            words(Operation::ALL.iter().map(|s| s.as_str()).collect()),
            1,
        ),
    ] {
        let mut found = Vec::new();
        enums(&doc, name, &mut found);
        assert!(
            found.len() >= at_least,
            "`{name}` is listed {} times",
            found.len()
        );
        for e in found {
            assert_eq!(e, &expected, "`{name}` in the OpenAPI document");
        }
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
