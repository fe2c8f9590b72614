//! Signing in, sessions, CSRF, and the API's common behaviour (architecture §7.4).

use adc_e2e::api::error_code;
use adc_e2e::engine::Engine;
use adc_e2e::engines;
use adc_e2e::server::{ADMIN_EMAIL, ADMIN_PASSWORD, TestServer};
use reqwest::StatusCode;
use serde_json::json;

#[engines]
async fn wrong_password_and_unknown_email_get_the_same_answer(engine: Engine) {
    let server = TestServer::start(engine).await;
    let api = server.anonymous();
    let (s1, b1) = api
        .post(
            "/api/v1/auth/login",
            json!({"email": ADMIN_EMAIL, "password": "wrong"}),
        )
        .await;
    let (s2, b2) = api
        .post(
            "/api/v1/auth/login",
            json!({"email": "nobody@example.com", "password": "wrong"}),
        )
        .await;
    assert_eq!(
        (s1, s2),
        (StatusCode::UNAUTHORIZED, StatusCode::UNAUTHORIZED)
    );
    assert_eq!(
        b1, b2,
        "the answer must not reveal whether the e-mail exists"
    );
    assert_eq!(b1["error"]["message"], "wrong e-mail or password");
    // A malformed body never quotes the password back (architecture §8.1).
    let (s, b) = api
        .post(
            "/api/v1/auth/login",
            json!({"email": ADMIN_EMAIL, "password": 987654321}),
        )
        .await;
    assert_eq!(
        (s, error_code(&b)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid")
    );
    assert!(!b.to_string().contains("987654321"), "{b}");
    // Still nothing is reachable without a session.
    let (s, b) = api.get("/api/v1/synchronizations").await;
    assert_eq!(
        (s, error_code(&b)),
        (StatusCode::UNAUTHORIZED, "unauthenticated")
    );
}

#[engines]
async fn a_session_shows_who_is_signed_in_and_logout_ends_it(engine: Engine) {
    let server = TestServer::start(engine).await;
    // E-mail addresses are matched case-insensitively.
    let api = server
        .sign_in(&ADMIN_EMAIL.to_uppercase(), ADMIN_PASSWORD)
        .await;
    let (s, me) = api.get("/api/v1/me").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(me["name"], ADMIN_EMAIL);
    assert_eq!(me["role"], "system-admin");
    assert_eq!(me["tenant"]["name"], "default");
    assert!(me["csrf_token"].is_string());
    let (s, _) = api.post("/api/v1/auth/logout", json!({})).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = api.get("/api/v1/me").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

// Engine-independent: run once, on SQLite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_changing_requests_without_the_csrf_token_are_refused() {
    let server = TestServer::start(Engine::Sqlite).await;
    let api = server.admin().await;
    let (s, b) = api
        .without_csrf()
        .post("/api/v1/synchronizations", json!({"name": "corp"}))
        .await;
    assert_eq!((s, error_code(&b)), (StatusCode::FORBIDDEN, "forbidden"));
    // Nothing was created.
    let (_, list) = api.get("/api/v1/synchronizations").await;
    assert_eq!(list, json!([]));
    // Reads need no CSRF token.
    let (s, _) = api.without_csrf().get("/api/v1/synchronizations").await;
    assert_eq!(s, StatusCode::OK);
}

#[engines]
async fn errors_share_one_shape_and_every_response_carries_a_request_id(engine: Engine) {
    let server = TestServer::start(engine).await;
    let api = server.admin().await;
    let (s, b) = api.get("/api/v1/no-such-thing").await;
    assert_eq!((s, error_code(&b)), (StatusCode::NOT_FOUND, "not_found"));
    let (s, b) = api.get("/api/v1/synchronizations/not-a-uuid").await;
    assert_eq!(
        (s, error_code(&b)),
        (StatusCode::BAD_REQUEST, "bad_request")
    );
    let (s, b) = api
        .get(&format!(
            "/api/v1/synchronizations/{}",
            uuid::Uuid::new_v4()
        ))
        .await;
    assert_eq!((s, error_code(&b)), (StatusCode::NOT_FOUND, "not_found"));
    let (s, b) = api
        .post("/api/v1/synchronizations", json!({"name": 5}))
        .await;
    assert_eq!(
        (s, error_code(&b)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid")
    );

    let http = reqwest::Client::new();
    let resp = http
        .post(format!("{}/api/v1/auth/login", server.base_url()))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.headers().contains_key("x-request-id"));
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(error_code(&body), "bad_request");

    let resp = http
        .get(format!("{}/healthz", server.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = http
        .get(format!("{}/readyz", server.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let ready: serde_json::Value = resp.json().await.unwrap();
    let expected = if engine == Engine::Sqlite {
        "sqlite"
    } else {
        "postgres"
    };
    assert_eq!(ready["database"], expected);
    // The placeholder page is served with a CSP that forbids inline script.
    let resp = http
        .get(format!("{}/", server.base_url()))
        .send()
        .await
        .unwrap();
    let csp = resp.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
}

/// The session cookie: HttpOnly and SameSite=Strict always, Secure when served over TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_cookie_is_http_only_strict_and_secure_over_tls() {
    use adc_e2e::certs;
    use adc_e2e::engine::{Engine, TestDb};
    use adc_server::config::TlsFiles;
    let login = json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD});
    let plain = TestServer::start(Engine::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let cert = certs::self_signed(dir.path());
    let tls = TestServer::start_with(TestDb::new(Engine::Sqlite).await, |c| {
        c.tls = Some(TlsFiles {
            cert: cert.cert,
            key: cert.key,
        })
    })
    .await;
    for (server, secure) in [(&plain, false), (&tls, true)] {
        let r = server
            .anonymous()
            .raw_post("/api/v1/auth/login", login.clone())
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
        assert!(cookie.starts_with("adc_session="), "{cookie}");
        assert!(
            cookie.contains("; HttpOnly") && cookie.contains("; SameSite=Strict"),
            "{cookie}"
        );
        assert_eq!(cookie.contains("; Secure"), secure, "{cookie}");
    }
}

/// Answers a fuzzer found wanting: every answer says `nosniff`, a page size outside its
/// bounds is refused rather than clamped, and logout with an API token is forbidden
/// (well-formed, wrong credential) rather than a bad request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_declare_nosniff_refuse_out_of_bounds_pages_and_logout_needs_a_session() {
    let server = TestServer::start(Engine::Sqlite).await;
    let api = server.admin().await;
    for path in [
        "/api/v1/synchronizations",
        "/api/v1/no-such-thing",
        "/healthz",
        "/",
    ] {
        let resp = api.raw_get(path).await;
        assert_eq!(
            resp.headers()
                .get("x-content-type-options")
                .map(|v| v.to_str().unwrap()),
            Some("nosniff"),
            "{path}"
        );
    }
    let (id, _) = api.add_sync("corp").await;
    for (path, max) in [
        ("/api/v1/users".to_owned(), 500),
        (format!("/api/v1/synchronizations/{id}/runs"), 500),
    ] {
        for bad in [0, max + 1, -3] {
            let (s, b) = api.get(&format!("{path}?limit={bad}")).await;
            assert_eq!(
                s,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{path} limit={bad}: {b}"
            );
            assert_eq!(
                b["error"]["message"],
                format!("limit must be between 1 and {max}, not {bad}")
            );
        }
        let (s, _) = api.get(&format!("{path}?limit={max}")).await;
        assert_eq!(s, StatusCode::OK, "{path} at its bound");
    }
    let (_, token) = api
        .post("/api/v1/tokens", json!({"name": "ci", "role": "viewer"}))
        .await;
    let (s, b) = api
        .with_token(token["secret"].as_str().unwrap())
        .post("/api/v1/auth/logout", json!({}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("DELETE /api/v1/tokens")
    );
}

/// A client of `server` whose connections come from `ip` (a loopback address).
fn from(server: &TestServer, ip: [u8; 4]) -> adc_e2e::api::Api {
    adc_e2e::crypto();
    let http = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from(ip))
        .cookie_store(true)
        .build()
        .unwrap();
    adc_e2e::api::Api::new(http, server.base_url())
}

#[engines]
async fn repeated_wrong_sign_ins_get_429_for_that_account_and_address_only(engine: Engine) {
    let db = adc_e2e::engine::TestDb::new(engine).await;
    let server = TestServer::start_with(db, |c| c.sign_in_failures_per_address = 12).await;
    let attacker = from(&server, [127, 0, 0, 1]);
    let login = |email: &str, password: &str| json!({"email": email, "password": password});
    // Five wrong passwords for an account from one address, then 429 with Retry-After —
    // the same for an e-mail that does not exist, so the limit reveals nothing.
    for email in [ADMIN_EMAIL, "nobody@example.com"] {
        for _ in 0..5 {
            let (s, _) = attacker
                .post("/api/v1/auth/login", login(email, "wrong"))
                .await;
            assert_eq!(s, StatusCode::UNAUTHORIZED);
        }
        let resp = attacker
            .raw_post("/api/v1/auth/login", login(email, "wrong"))
            .await;
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS, "{email}");
        let retry: u64 = resp.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=300).contains(&retry), "{retry}");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(error_code(&body), "too_many_requests", "{body}");
    }
    // Even the right password waits there...
    let (s, _) = attacker
        .post("/api/v1/auth/login", login(ADMIN_EMAIL, ADMIN_PASSWORD))
        .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    // ...but the account's owner, elsewhere, is not locked out.
    let owner = from(&server, [127, 0, 0, 2]);
    let (s, b) = owner
        .post("/api/v1/auth/login", login(ADMIN_EMAIL, ADMIN_PASSWORD))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // One address guessing across accounts hits its own limit (12 here).
    for i in 0..2 {
        let (s, _) = attacker
            .post(
                "/api/v1/auth/login",
                login(&format!("guess{i}@example.com"), "x"),
            )
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    let (s, _) = attacker
        .post("/api/v1/auth/login", login("fresh@example.com", "x"))
        .await;
    assert_eq!(
        s,
        StatusCode::TOO_MANY_REQUESTS,
        "the address is over its limit"
    );
}
