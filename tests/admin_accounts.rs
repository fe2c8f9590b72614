//! Admin accounts from REST: a system-admin adds, changes, disables, resets and removes
//! them; every admin sets its own password; the last enabled system-admin stays.

use adc_e2e::api::{Api, error_code};
use adc_e2e::engine::Engine;
use adc_e2e::engines;
use adc_e2e::server::{ADMIN_EMAIL, ADMIN_PASSWORD, TestServer};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn sign_in(server: &TestServer, email: &str, password: &str) -> (StatusCode, Value, Api) {
    let api = server.anonymous();
    let (s, b) = api
        .post(
            "/api/v1/auth/login",
            json!({"email": email, "password": password}),
        )
        .await;
    let api = if s == StatusCode::OK {
        api.with_csrf(b["csrf_token"].as_str().unwrap())
    } else {
        api
    };
    (s, b, api)
}

#[engines]
async fn a_system_admin_manages_admin_accounts_and_the_last_system_admin_stays(engine: Engine) {
    let server = TestServer::start(engine).await;
    let root = server.admin().await;
    let (s, list) = root.get("/api/v1/admins").await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert_eq!(list.as_array().unwrap().len(), 1);
    let root_id = list[0]["id"].as_str().unwrap().to_owned();

    // Added with a one-time password, shown once.
    let (s, made) = root
        .post(
            "/api/v1/admins",
            json!({"email": "Ops@Example.com", "role": "operator"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{made}");
    assert_eq!(made["admin"]["email"], "ops@example.com");
    assert_eq!(made["admin"]["must_change_password"], true);
    let ops_id = made["admin"]["id"].as_str().unwrap().to_owned();
    let one_time = made["password"].as_str().unwrap().to_owned();
    let (s, b) = root
        .post(
            "/api/v1/admins",
            json!({"email": "ops@example.com", "role": "viewer"}),
        )
        .await;
    assert_eq!((s, error_code(&b)), (StatusCode::CONFLICT, "conflict"));

    // The one-time password opens only the way to one's own.
    let (s, b, ops) = sign_in(&server, "ops@example.com", &one_time).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["must_change_password"], true);
    let (s, b) = ops.get("/api/v1/synchronizations").await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("one-time password")
    );
    let change =
        |current: &str, new: &str| json!({"current_password": current, "new_password": new});
    let (s, _) = ops
        .put(
            "/api/v1/me/password",
            change("wrong", "a-long-new-password"),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, b) = ops
        .put("/api/v1/me/password", change(&one_time, "short"))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    let (s, _) = ops
        .put(
            "/api/v1/me/password",
            change(&one_time, "ops-own-password-1"),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = ops.get("/api/v1/synchronizations").await;
    assert_eq!(s, StatusCode::OK, "the same session goes on");
    // An operator manages no admins.
    let (s, _) = ops.get("/api/v1/admins").await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // The last enabled system-admin cannot be demoted, disabled or removed.
    let me = format!("/api/v1/admins/{root_id}");
    for body in [json!({"role": "operator"}), json!({"disabled": true})] {
        let (s, b) = root.patch(&me, body).await;
        assert_eq!(s, StatusCode::CONFLICT, "{b}");
        assert!(
            b["error"]["message"]
                .as_str()
                .unwrap()
                .contains("last enabled system-admin")
        );
    }
    let (s, _) = root.delete(&me).await;
    assert_eq!(s, StatusCode::CONFLICT);
    // With a second system-admin, it can.
    let ops_path = format!("/api/v1/admins/{ops_id}");
    let (s, b) = root.patch(&ops_path, json!({"role": "system-admin"})).await;
    assert_eq!(
        (s, b["role"].as_str()),
        (StatusCode::OK, Some("system-admin")),
        "{b}"
    );
    let (s, b) = root.patch(&me, json!({"role": "operator"})).await;
    assert_eq!(s, StatusCode::OK, "{b}");

    // Disabled: its session ends and it cannot sign in (the same answer as a wrong
    // password). Then the other way round is refused: ops is the last system-admin.
    let (s, _, ops2) = sign_in(&server, "ops@example.com", "ops-own-password-1").await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = ops2.patch(&ops_path, json!({"disabled": true})).await;
    assert_eq!(s, StatusCode::CONFLICT, "ops is now the only system-admin");
    let (s, _) = ops2.patch(&me, json!({"role": "system-admin"})).await;
    assert_eq!(s, StatusCode::OK);
    let (s, b) = root.patch(&ops_path, json!({"disabled": true})).await;
    assert_eq!(
        (s, b["disabled"].as_bool()),
        (StatusCode::OK, Some(true)),
        "{b}"
    );
    let (s, _) = ops2.get("/api/v1/me").await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "a disabled admin's session ends"
    );
    let (s, b, _) = sign_in(&server, "ops@example.com", "ops-own-password-1").await;
    let (_, wrong, _) = sign_in(&server, "ops@example.com", "not-it").await;
    assert_eq!((s, &b), (StatusCode::UNAUTHORIZED, &wrong));

    // A reset gives a new one-time password; enabled again, it signs in with it.
    let (s, reset) = root.post(&format!("{ops_path}/password"), json!({})).await;
    assert_eq!(s, StatusCode::OK, "{reset}");
    root.patch(&ops_path, json!({"disabled": false})).await;
    let (s, b, _) = sign_in(
        &server,
        "ops@example.com",
        reset["password"].as_str().unwrap(),
    )
    .await;
    assert_eq!(
        (s, b["must_change_password"].as_bool()),
        (StatusCode::OK, Some(true))
    );

    // Removed; an API token has no own password; unknown IDs are 404.
    let (s, _) = root.delete(&ops_path).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = root.delete(&ops_path).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, token) = root
        .post(
            "/api/v1/tokens",
            json!({"name": "ci", "role": "system-admin"}),
        )
        .await;
    let ci = root.with_token(token["secret"].as_str().unwrap());
    let (s, _) = ci
        .put(
            "/api/v1/me/password",
            change(ADMIN_PASSWORD, "whatever-long-pw"),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, list) = ci.get("/api/v1/admins").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list[0]["email"], ADMIN_EMAIL);
}
