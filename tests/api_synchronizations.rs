//! Adding, reading, changing and deleting synchronizations (architecture §4, §7.4).

use adc_e2e::api::error_code;
use adc_e2e::engine::Engine;
use adc_e2e::engines;
use adc_e2e::server::TestServer;
use reqwest::StatusCode;
use serde_json::json;

#[engines]
async fn the_secret_token_is_shown_once_at_creation_and_never_again(engine: Engine) {
    let server = TestServer::start(engine).await;
    let api = server.admin().await;
    let (s, created) = api
        .post("/api/v1/synchronizations", json!({"name": "Head office"}))
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let id = created["id"].as_str().unwrap();
    assert_eq!(
        uuid::Uuid::parse_str(id).unwrap().get_version_num(),
        4,
        "Application ID is a UUIDv4"
    );
    let secret = created["secret"].as_str().unwrap();
    assert!(secret.len() >= 43, "at least 256 bits, base64url: {secret}");
    assert_eq!(created["name"], "Head office");

    let (_, list) = api.get("/api/v1/synchronizations").await;
    let (_, one) = api.get(&format!("/api/v1/synchronizations/{id}")).await;
    for body in [&list, &one] {
        let text = body.to_string();
        assert!(!text.contains(secret), "the secret is shown again: {text}");
        assert!(
            !text.contains("secret"),
            "no secret field, not even its hash: {text}"
        );
        assert!(!text.contains("argon2"), "{text}");
    }
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(one["id"], id);
    assert_eq!(one["agents_connected"], 0);
}

#[engines]
async fn a_synchronization_can_be_renamed_reconfigured_and_deleted(engine: Engine) {
    let server = TestServer::start(engine).await;
    let api = server.admin().await;
    let (s, created) = api
        .post(
            "/api/v1/synchronizations",
            json!({"name": "corp", "settings": {"no-delete": true, "dry-run": true}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    assert_eq!(created["settings"]["no-delete"], true);
    assert_eq!(
        created["settings"]["no-create"],
        json!(null),
        "unset stays unset"
    );
    assert_eq!(
        created["deletion_guard"],
        json!({"max_deletes": 500, "max_percent": 20, "min_users_for_percent": 100})
    );
    let path = format!(
        "/api/v1/synchronizations/{}",
        created["id"].as_str().unwrap()
    );

    // Tri-state: set false, clear to null, leave others as they are.
    let (s, changed) = api
        .patch(
            &path,
            json!({
                "name": "corp-ldap",
                "settings": {"dry-run": null, "create-as-disabled": false},
                "schedule_minutes": 30,
                "deletion_guard": {"max_deletes": 50, "max_percent": null}
            }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{changed}");
    assert_eq!(changed["name"], "corp-ldap");
    assert_eq!(changed["settings"]["dry-run"], json!(null));
    assert_eq!(changed["settings"]["create-as-disabled"], false);
    assert_eq!(
        changed["settings"]["no-delete"], true,
        "absent keys keep their value"
    );
    assert_eq!(changed["schedule_minutes"], 30);
    assert_eq!(
        changed["deletion_guard"],
        json!({"max_deletes": 50, "max_percent": null, "min_users_for_percent": 100})
    );
    let (_, read) = api.get(&path).await;
    assert_eq!(
        read["settings"], changed["settings"],
        "the change was stored"
    );

    let (s, cleared) = api.patch(&path, json!({"schedule_minutes": null})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(cleared["schedule_minutes"], json!(null));
    assert_eq!(cleared["name"], "corp-ldap");

    let (s, _) = api.delete(&path).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = api.get(&path).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = api.delete(&path).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

// Engine-independent: run once, on SQLite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_misspelt_or_mistyped_setting_is_refused_and_nothing_changes() {
    let server = TestServer::start(Engine::Sqlite).await;
    let api = server.admin().await;
    let (id, _) = api.add_sync("corp").await;
    let path = format!("/api/v1/synchronizations/{id}");
    let (_, before) = api.get(&path).await;

    let (s, b) = api
        .patch(
            &path,
            json!({"name": "renamed", "settings": {"no-create": true, "no-delet": true}}),
        )
        .await;
    assert_eq!(
        (s, error_code(&b)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid")
    );
    assert!(
        b["error"]["message"].as_str().unwrap().contains("no-delet"),
        "{b}"
    );
    let (s, b) = api
        .patch(&path, json!({"settings": {"no-delete": "yes"}}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    let (s, b) = api.patch(&path, json!({"schedule": 5})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert!(
        b["error"]["message"].as_str().unwrap().contains("schedule"),
        "{b}"
    );
    let (s, _) = api.patch(&path, json!({"schedule_minutes": 0})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _) = api
        .patch(&path, json!({"deletion_guard": {"max_percent": 101}}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _) = api
        .post("/api/v1/synchronizations", json!({"name": "   "}))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);

    let (_, after) = api.get(&path).await;
    assert_eq!(before, after, "a refused change changes nothing");
}

#[engines]
async fn two_synchronizations_cannot_share_a_name(engine: Engine) {
    let server = TestServer::start(engine).await;
    let api = server.admin().await;
    api.add_sync("corp").await;
    let (s, b) = api
        .post("/api/v1/synchronizations", json!({"name": "corp"}))
        .await;
    assert_eq!((s, error_code(&b)), (StatusCode::CONFLICT, "conflict"));
    let (other, _) = api.add_sync("branch").await;
    let (s, b) = api
        .patch(
            &format!("/api/v1/synchronizations/{other}"),
            json!({"name": "corp"}),
        )
        .await;
    assert_eq!((s, error_code(&b)), (StatusCode::CONFLICT, "conflict"));
    let (_, list) = api.get("/api/v1/synchronizations").await;
    let names: Vec<_> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, vec!["branch", "corp"]);
}
