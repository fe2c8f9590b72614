//! API tokens and roles (architecture §3).

use adc_e2e::api::error_code;
use adc_e2e::engine::Engine;
use adc_e2e::engines;
use adc_e2e::server::TestServer;
use reqwest::StatusCode;
use serde_json::json;

#[engines]
async fn an_api_token_is_shown_once_works_as_bearer_and_stops_when_revoked(engine: Engine) {
    let server = TestServer::start(engine).await;
    let admin = server.admin().await;
    let (s, created) = admin
        .post(
            "/api/v1/tokens",
            json!({"name": "ci", "role": "system-admin"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    let token = created["secret"].as_str().unwrap().to_owned();
    assert!(token.starts_with("adct_"));

    let (_, list) = admin.get("/api/v1/tokens").await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert!(
        !list.to_string().contains(&token),
        "the token is shown again"
    );
    assert_eq!(list[0]["last_used_at"], json!(null));

    let bot = admin.with_token(&token);
    let (id, _) = bot.add_sync("made by automation").await;
    let (s, _) = bot.get(&format!("/api/v1/synchronizations/{id}")).await;
    assert_eq!(s, StatusCode::OK);
    let (_, list) = admin.get("/api/v1/tokens").await;
    assert!(list[0]["last_used_at"].is_string(), "use is recorded");

    let (s, _) = admin
        .delete(&format!(
            "/api/v1/tokens/{}",
            created["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, b) = bot.get("/api/v1/synchronizations").await;
    assert_eq!(
        (s, error_code(&b)),
        (StatusCode::UNAUTHORIZED, "unauthenticated")
    );
    let (s, _) = admin
        .with_token("adct_made-up")
        .get("/api/v1/synchronizations")
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[engines]
async fn viewers_and_operators_read_but_only_system_admins_change_synchronizations(engine: Engine) {
    let server = TestServer::start(engine).await;
    let admin = server.admin().await;
    let (id, _) = admin.add_sync("corp").await;
    let path = format!("/api/v1/synchronizations/{id}");
    for role in ["viewer", "operator"] {
        let (_, t) = admin
            .post("/api/v1/tokens", json!({"name": role, "role": role}))
            .await;
        let api = admin.with_token(t["secret"].as_str().unwrap());
        let (s, list) = api.get("/api/v1/synchronizations").await;
        assert_eq!(s, StatusCode::OK, "{role} reads");
        assert_eq!(list.as_array().unwrap().len(), 1);
        let (s, _) = api.get(&format!("{path}/agents")).await;
        assert_eq!(s, StatusCode::OK, "{role} reads agents");

        let refused = [
            api.post("/api/v1/synchronizations", json!({"name": "x"}))
                .await,
            api.patch(&path, json!({"settings": {"no-delete": true}}))
                .await,
            api.post(&format!("{path}/secret"), json!({})).await,
            api.delete(&path).await,
            api.get("/api/v1/tokens").await,
            api.post(
                "/api/v1/tokens",
                json!({"name": "escalate", "role": "system-admin"}),
            )
            .await,
        ];
        for (s, b) in refused {
            assert_eq!(
                (s, error_code(&b)),
                (StatusCode::FORBIDDEN, "forbidden"),
                "{role}: {b}"
            );
        }
    }
    let (_, after) = admin.get(&path).await;
    assert_eq!(
        after["settings"]["no-delete"],
        json!(null),
        "nothing changed"
    );
    let (_, tokens) = admin.get("/api/v1/tokens").await;
    assert_eq!(
        tokens.as_array().unwrap().len(),
        2,
        "no token was added by a lower role"
    );
    let (s, b) = admin
        .post("/api/v1/tokens", json!({"name": "x", "role": "superuser"}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
}
