//! The audit log: every change made through the API leaves exactly one entry, saying
//! who, what, to what, from where and in which request; entries are read with filters,
//! paged, exported as CSV, kept for the tenant's retention, and never changed.

use adc_e2e::api::{Api, error_code};
use adc_e2e::engine::Engine;
use adc_e2e::engines;
use adc_e2e::server::{ADMIN_EMAIL, ADMIN_PASSWORD, TestServer};
use adc_e2e::sync::{ACTIVE_ONLY, fixture_with, people};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeSet;

/// The newest entries of the tenant (up to 1000), newest first.
async fn entries(api: &Api, query: &str) -> Vec<Value> {
    let (s, b) = api.get(&format!("/api/v1/audit?limit=1000{query}")).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["entries"].as_array().unwrap().clone()
}

fn id_of(entry: &Value) -> i64 {
    entry["id"].as_str().unwrap().parse().unwrap()
}

/// Calls the operations one by one and checks each one's entry.
struct Walk {
    reader: Api,
    walked: BTreeSet<String>,
    /// Secrets answered by the walk: none may appear in an entry.
    secrets: Vec<String>,
}

impl Walk {
    /// Calls `operation` with `api` and checks that exactly one entry carries its
    /// request ID, with `action`, `actor` and the caller's address; entries written at
    /// the same time by an agent (one the change disconnected) are allowed beside it.
    #[allow(clippy::too_many_arguments)]
    async fn step(
        &mut self,
        operation: &str,
        action: &str,
        actor: &str,
        api: &Api,
        method: Method,
        path: &str,
        body: Option<Value>,
        expected: StatusCode,
    ) -> Value {
        let newest = entries(&self.reader, "").await.first().map_or(0, id_of);
        let request_id = format!("walk-{operation}-{}", self.walked.len());
        let (s, answer) = api
            .with_request_id(&request_id)
            .call(method, path, body)
            .await;
        assert_eq!(s, expected, "{operation}: {answer}");
        let new: Vec<Value> = entries(&self.reader, "")
            .await
            .into_iter()
            .filter(|e| id_of(e) > newest)
            .collect();
        let (mine, others): (Vec<&Value>, Vec<&Value>) = new
            .iter()
            .partition(|e| e["request_id"] == request_id.as_str());
        assert_eq!(mine.len(), 1, "{operation}: one entry, not {new:?}");
        let e = mine[0];
        assert_eq!(e["action"], action, "{operation}: {e}");
        assert_eq!(e["actor_name"], actor, "{operation}: {e}");
        assert_eq!(e["address"], "127.0.0.1", "{operation}: {e}");
        assert!(
            others.iter().all(|o| o["actor_kind"] == "agent"),
            "{operation}: only its own entry, besides an agent's: {new:?}"
        );
        for key in ["secret", "password"] {
            if let Some(v) = answer[key].as_str() {
                self.secrets.push(v.to_owned());
            }
        }
        self.walked.insert(operation.to_owned());
        answer
    }
}

#[engines]
async fn every_change_made_through_the_api_leaves_exactly_one_audit_entry(engine: Engine) {
    let f = fixture_with(engine, &people(10), "", Some(ACTIVE_ONLY), |c| {
        c.webhook_allow_private = true;
    })
    .await;
    let me = ADMIN_EMAIL;
    let api = &f.api;
    let mut w = Walk {
        reader: f.api.clone(),
        walked: BTreeSet::new(),
        secrets: vec![f.secret.clone(), ADMIN_PASSWORD.to_owned()],
    };
    let (_, doc) = api.get("/api/v1/openapi.json").await;
    let mut documented = BTreeSet::new();
    for (_, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            if ["post", "put", "patch", "delete"].contains(&method.as_str()) {
                documented.insert(op["operationId"].as_str().unwrap().to_owned());
            }
        }
    }

    // Synchronizations, with each changed setting's old and new value.
    let second = w
        .step(
            "addSynchronization",
            "synchronization.created",
            me,
            api,
            Method::POST,
            "/api/v1/synchronizations",
            Some(json!({"name": "second"})),
            StatusCode::CREATED,
        )
        .await;
    let second = format!(
        "/api/v1/synchronizations/{}",
        second["id"].as_str().unwrap()
    );
    w.step(
        "changeSynchronization",
        "synchronization.changed",
        me,
        api,
        Method::PATCH,
        &second,
        Some(json!({"schedule_minutes": 30, "settings": {"no-delete": true}})),
        StatusCode::OK,
    )
    .await;
    let changed = &entries(api, "&action=synchronization.changed").await[0];
    assert_eq!(
        changed["details"]["changes"],
        json!({
            "schedule_minutes": {"old": null, "new": 30},
            "settings.no-delete": {"old": null, "new": true},
        })
    );
    w.step(
        "rotateSecret",
        "synchronization.secret_rotated",
        me,
        api,
        Method::POST,
        &format!("{second}/secret"),
        Some(json!({})),
        StatusCode::OK,
    )
    .await;

    // Runs: started, held deletions approved and rejected, a stuck one cancelled.
    let corp = format!("/api/v1/synchronizations/{}", f.sync_id);
    let runs = format!("{corp}/runs");
    let run = w
        .step(
            "startRun",
            "run.started",
            me,
            api,
            Method::POST,
            &runs,
            Some(json!({})),
            StatusCode::ACCEPTED,
        )
        .await;
    f.wait(run["id"].as_str().unwrap()).await;
    w.step(
        "changeSynchronization",
        "synchronization.changed",
        me,
        api,
        Method::PATCH,
        &corp,
        Some(json!({"deletion_guard": {"max_deletes": 3}})),
        StatusCode::OK,
    )
    .await;
    for i in 0..5 {
        f.slapd
            .set(&format!("user{i:05}"), "employeeType", "inactive")
            .await;
    }
    let run = w
        .step(
            "startRun",
            "run.started",
            me,
            api,
            Method::POST,
            &runs,
            Some(json!({})),
            StatusCode::ACCEPTED,
        )
        .await;
    let run_id = run["id"].as_str().unwrap().to_owned();
    assert_eq!(f.wait(&run_id).await["status"], "held");
    w.step(
        "approveHeldDeletions",
        "run.approved",
        me,
        api,
        Method::POST,
        &format!("/api/v1/runs/{run_id}/approve"),
        Some(json!({})),
        StatusCode::OK,
    )
    .await;
    for i in 5..9 {
        f.slapd
            .set(&format!("user{i:05}"), "employeeType", "inactive")
            .await;
    }
    let run = w
        .step(
            "startRun",
            "run.started",
            me,
            api,
            Method::POST,
            &runs,
            Some(json!({})),
            StatusCode::ACCEPTED,
        )
        .await;
    let run_id = run["id"].as_str().unwrap().to_owned();
    assert_eq!(f.wait(&run_id).await["status"], "held");
    w.step(
        "rejectHeldDeletions",
        "run.rejected",
        me,
        api,
        Method::POST,
        &format!("/api/v1/runs/{run_id}/reject"),
        Some(json!({})),
        StatusCode::OK,
    )
    .await;
    f.slapd.pause();
    let run = w
        .step(
            "startRun",
            "run.started",
            me,
            api,
            Method::POST,
            &runs,
            Some(json!({})),
            StatusCode::ACCEPTED,
        )
        .await;
    let run_id = run["id"].as_str().unwrap().to_owned();
    w.step(
        "cancelRun",
        "run.cancelled",
        me,
        api,
        Method::POST,
        &format!("/api/v1/runs/{run_id}/cancel"),
        Some(json!({})),
        StatusCode::OK,
    )
    .await;
    f.slapd.resume();
    f.wait(&run_id).await;

    // Users: a manual one added, disabled, deleted; a synced one detached.
    let user = w
        .step(
            "addManualUser",
            "user.created",
            me,
            api,
            Method::POST,
            "/api/v1/users",
            Some(json!({"username": "walker"})),
            StatusCode::CREATED,
        )
        .await;
    let user = format!("/api/v1/users/{}", user["id"].as_str().unwrap());
    w.step(
        "changeUser",
        "user.disabled",
        me,
        api,
        Method::PATCH,
        &user,
        Some(json!({"enabled": false})),
        StatusCode::OK,
    )
    .await;
    let synced = f.user("user00009@example.com").await;
    w.step(
        "changeUser",
        "user.detached",
        me,
        api,
        Method::PATCH,
        &format!("/api/v1/users/{}", synced["id"].as_str().unwrap()),
        Some(json!({"detach": true})),
        StatusCode::OK,
    )
    .await;

    // Groups and their members.
    let group = w
        .step(
            "addManualGroup",
            "group.created",
            me,
            api,
            Method::POST,
            "/api/v1/groups",
            Some(json!({"name": "walkers"})),
            StatusCode::CREATED,
        )
        .await;
    let group = format!("/api/v1/groups/{}", group["id"].as_str().unwrap());
    // As if the synchronization had read it (no API makes a group synchronized).
    let db = adc_server::db::Db::connect(Some(&f.server.db.url))
        .await
        .unwrap();
    adc_e2e::sql::execute(
        &db,
        "UPDATE groups SET synchronization_id = (SELECT id FROM synchronizations WHERE name = 'corp') WHERE name = 'walkers'",
    )
    .await
    .unwrap();
    w.step(
        "changeGroup",
        "group.detached",
        me,
        api,
        Method::PATCH,
        &group,
        Some(json!({"detach": true})),
        StatusCode::OK,
    )
    .await;
    let member = format!("{group}/members/{}", synced["id"].as_str().unwrap());
    w.step(
        "addGroupMember",
        "group.member_added",
        me,
        api,
        Method::PUT,
        &member,
        None,
        StatusCode::CREATED,
    )
    .await;
    let added = &entries(api, "&action=group.member_added").await[0];
    assert_eq!(
        added["details"]["member"], "user00009@example.com",
        "{added}"
    );
    assert_eq!(added["target_name"], "walkers", "{added}");
    w.step(
        "removeGroupMember",
        "group.member_removed",
        me,
        api,
        Method::DELETE,
        &member,
        None,
        StatusCode::NO_CONTENT,
    )
    .await;
    w.step(
        "deleteManualGroup",
        "group.deleted",
        me,
        api,
        Method::DELETE,
        &group,
        None,
        StatusCode::NO_CONTENT,
    )
    .await;
    w.step(
        "deleteManualUser",
        "user.deleted",
        me,
        api,
        Method::DELETE,
        &user,
        None,
        StatusCode::NO_CONTENT,
    )
    .await;

    // API tokens; what a token does is recorded under its name.
    let token = w
        .step(
            "createToken",
            "token.created",
            me,
            api,
            Method::POST,
            "/api/v1/tokens",
            Some(json!({"name": "cloud", "role": "system-admin", "can_authenticate": true})),
            StatusCode::CREATED,
        )
        .await;
    let by_token = api.with_token(token["secret"].as_str().unwrap());
    w.step(
        "setAuditSettings",
        "audit.retention_changed",
        "cloud",
        &by_token,
        Method::PUT,
        "/api/v1/audit/settings",
        Some(json!({"retention_days": 90})),
        StatusCode::OK,
    )
    .await;
    // Checking a password changes nothing, and is counted in the metrics, not here.
    let before = entries(api, "").await.len();
    let (s, _) = by_token
        .post(
            "/api/v1/authenticate",
            json!({"username": "user00009@example.com", "password": "wrong"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(
        entries(api, "").await.len(),
        before,
        "authenticate leaves no entry"
    );
    w.walked.insert("authenticate".into());
    w.step(
        "revokeToken",
        "token.revoked",
        me,
        api,
        Method::DELETE,
        &format!("/api/v1/tokens/{}", token["id"].as_str().unwrap()),
        None,
        StatusCode::NO_CONTENT,
    )
    .await;

    // Admin accounts.
    let admin = w
        .step(
            "createAdmin",
            "admin.created",
            me,
            api,
            Method::POST,
            "/api/v1/admins",
            Some(json!({"email": "walk@example.com", "role": "viewer"})),
            StatusCode::CREATED,
        )
        .await;
    let admin = format!("/api/v1/admins/{}", admin["admin"]["id"].as_str().unwrap());
    w.step(
        "updateAdmin",
        "admin.changed",
        me,
        api,
        Method::PATCH,
        &admin,
        Some(json!({"role": "operator"})),
        StatusCode::OK,
    )
    .await;
    w.step(
        "resetAdminPassword",
        "admin.password_reset",
        me,
        api,
        Method::POST,
        &format!("{admin}/password"),
        Some(json!({})),
        StatusCode::OK,
    )
    .await;
    w.step(
        "deleteAdmin",
        "admin.deleted",
        me,
        api,
        Method::DELETE,
        &admin,
        None,
        StatusCode::NO_CONTENT,
    )
    .await;

    // Notification endpoints and thresholds.
    let hook = w
        .step(
            "addNotificationEndpoint",
            "notification.endpoint_created",
            me,
            api,
            Method::POST,
            "/api/v1/notifications/endpoints",
            Some(json!({"kind": "webhook", "target": "http://127.0.0.1:9/hook"})),
            StatusCode::CREATED,
        )
        .await;
    let hook = format!(
        "/api/v1/notifications/endpoints/{}",
        hook["id"].as_str().unwrap()
    );
    // A webhook's path (often a credential) stays out of the log any role reads.
    let made = &entries(api, "&action=notification.endpoint_created").await[0];
    assert_eq!(made["target_name"], "http://127.0.0.1/…", "{made}");
    assert!(!made.to_string().contains("/hook"), "{made}");
    w.step(
        "changeNotificationEndpoint",
        "notification.endpoint_changed",
        me,
        api,
        Method::PATCH,
        &hook,
        Some(json!({"events": ["run.failed"]})),
        StatusCode::OK,
    )
    .await;
    w.step(
        "rotateNotificationSecret",
        "notification.secret_rotated",
        me,
        api,
        Method::POST,
        &format!("{hook}/secret"),
        Some(json!({})),
        StatusCode::OK,
    )
    .await;
    w.step(
        "sendTestNotification",
        "notification.test_sent",
        me,
        api,
        Method::POST,
        &format!("{hook}/test"),
        Some(json!({})),
        StatusCode::ACCEPTED,
    )
    .await;
    w.step(
        "setNotificationSettings",
        "notification.settings_changed",
        me,
        api,
        Method::PUT,
        "/api/v1/notifications/settings",
        Some(json!({"agent_offline_minutes": 30, "stale_factor": 3})),
        StatusCode::OK,
    )
    .await;
    w.step(
        "deleteNotificationEndpoint",
        "notification.endpoint_deleted",
        me,
        api,
        Method::DELETE,
        &hook,
        None,
        StatusCode::NO_CONTENT,
    )
    .await;

    // Sessions: a sign-in, its sign-out, and one's own password.
    let anonymous = f.server.anonymous();
    let signed_in = w
        .step(
            "signIn",
            "session.signed_in",
            me,
            &anonymous,
            Method::POST,
            "/api/v1/auth/login",
            Some(json!({"email": me, "password": ADMIN_PASSWORD})),
            StatusCode::OK,
        )
        .await;
    let session = anonymous.with_csrf(signed_in["csrf_token"].as_str().unwrap());
    w.step(
        "signOut",
        "session.signed_out",
        me,
        &session,
        Method::POST,
        "/api/v1/auth/logout",
        Some(json!({})),
        StatusCode::NO_CONTENT,
    )
    .await;
    w.step(
        "changeOwnPassword",
        "admin.password_changed",
        me,
        api,
        Method::PUT,
        "/api/v1/me/password",
        Some(json!({"current_password": ADMIN_PASSWORD, "new_password": "another-long-password"})),
        StatusCode::NO_CONTENT,
    )
    .await;
    w.step(
        "deleteSynchronization",
        "synchronization.deleted",
        me,
        api,
        Method::DELETE,
        &second,
        None,
        StatusCode::NO_CONTENT,
    )
    .await;

    assert_eq!(
        w.walked, documented,
        "the walk covers exactly the document's state-changing operations"
    );
    let all = entries(api, "").await;
    let text = serde_json::to_string(&all).unwrap();
    for secret in &w.secrets {
        assert!(
            !text.contains(secret.as_str()),
            "a secret reached the audit log"
        );
    }
    // The agent's connection and the first tenant are there too, by their actors.
    let connected = entries(api, "&action=agent.connected").await;
    assert_eq!(connected[0]["actor_kind"], "agent", "{connected:?}");
    assert_eq!(connected[0]["target_name"], "corp");
    assert_eq!(connected[0]["address"], "127.0.0.1");
    let created = entries(api, "&action=tenant.created").await;
    assert_eq!(created[0]["actor_kind"], "cli", "{created:?}");
}

#[engines]
async fn the_audit_log_is_filtered_paged_exported_and_kept_for_its_retention(engine: Engine) {
    let server = TestServer::start(engine).await;
    let api = server.admin().await;
    for i in 0..5 {
        api.add_sync(&format!("sync-{i}")).await;
    }
    // A name a spreadsheet would run as a formula, and a wrong password.
    api.post("/api/v1/users", json!({"username": "=HYPERLINK(\"x\")"}))
        .await;
    let (s, _) = server
        .anonymous()
        .post(
            "/api/v1/auth/login",
            json!({"email": ADMIN_EMAIL, "password": "wrong"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    let failed = entries(&api, "&action=session.sign_in_failed").await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["address"], "127.0.0.1");
    assert_eq!(failed[0]["details"]["reason"], "wrong password");
    // By object, by target name, by actor.
    assert_eq!(entries(&api, "&action=synchronization").await.len(), 5);
    let one = entries(&api, "&target=sync-3").await;
    assert_eq!(one.len(), 1);
    assert_eq!(one[0]["action"], "synchronization.created");
    assert_eq!(
        entries(
            &api,
            &format!("&actor={ADMIN_EMAIL}&action=synchronization.created")
        )
        .await
        .len(),
        5
    );
    assert!(entries(&api, "&actor=nobody@example.com").await.is_empty());
    // A time range: everything is from the last minute, nothing from the future.
    let now = time::OffsetDateTime::now_utc();
    let fmt = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let since = fmt(now - time::Duration::minutes(1));
    let later = fmt(now + time::Duration::minutes(1));
    assert_eq!(
        entries(&api, &format!("&from={since}&action=synchronization"))
            .await
            .len(),
        5
    );
    assert!(entries(&api, &format!("&from={later}")).await.is_empty());

    // Keyset pages, newest first, each entry once.
    let all = entries(&api, "").await;
    let mut paged = vec![];
    let mut before = String::new();
    loop {
        let (s, page) = api.get(&format!("/api/v1/audit?limit=3{before}")).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        paged.extend(
            page["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].clone()),
        );
        match page["next_before"].as_str() {
            Some(n) => before = format!("&before={n}"),
            None => break,
        }
    }
    assert_eq!(
        paged,
        all.iter().map(|e| e["id"].clone()).collect::<Vec<_>>()
    );

    // Bad filters say what is wrong.
    let (s, b) = api.get("/api/v1/audit?action=user.exploded").await;
    assert_eq!(
        (s, error_code(&b)),
        (StatusCode::BAD_REQUEST, "bad_request"),
        "{b}"
    );
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("user.exploded"),
        "{b}"
    );
    let (s, b) = api.get("/api/v1/audit?from=yesterday").await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
    assert!(
        b["error"]["message"].as_str().unwrap().contains("RFC 3339"),
        "{b}"
    );

    // CSV: every entry, a header, and no cell a spreadsheet would run.
    let resp = api.raw_get("/api/v1/audit?format=csv").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let text = resp.text().await.unwrap();
    let mut csv = csv::Reader::from_reader(text.as_bytes());
    assert_eq!(
        csv.headers().unwrap().iter().take(6).collect::<Vec<_>>(),
        ["id", "at", "actor_kind", "actor_id", "actor_name", "action"]
    );
    let rows: Vec<csv::StringRecord> = csv.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), all.len());
    let user_row = rows.iter().find(|r| &r[5] == "user.created").unwrap();
    assert_eq!(&user_row[8], "'=HYPERLINK(\"x\")", "{user_row:?}");

    // Nothing edits or deletes an entry: no route, and the database refuses it too.
    let first = all.last().unwrap()["id"].as_str().unwrap().to_owned();
    for method in [Method::PATCH, Method::DELETE, Method::PUT] {
        let (s, _) = api
            .call(method.clone(), &format!("/api/v1/audit/{first}"), None)
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{method}");
        let (s, _) = api.call(method.clone(), "/api/v1/audit", None).await;
        assert_eq!(s, StatusCode::METHOD_NOT_ALLOWED, "{method}");
    }
    let db = adc_server::db::Db::connect(Some(&server.db.url))
        .await
        .unwrap();
    let update =
        adc_e2e::sql::execute(&db, "UPDATE audit_entries SET actor_name = 'someone else'").await;
    assert!(update.unwrap_err().contains("never changed"));
    let delete = adc_e2e::sql::execute(&db, "DELETE FROM audit_entries").await;
    assert!(delete.unwrap_err().contains("never deleted"));

    // Retention: a viewer may read it, only a system-admin sets it, within bounds; a
    // shorter one removes older entries at once.
    let (s, b) = api.get("/api/v1/audit/settings").await;
    assert_eq!((s, b), (StatusCode::OK, json!({"retention_days": 365})));
    let (s, b) = api
        .put("/api/v1/audit/settings", json!({"retention_days": 7}))
        .await;
    assert_eq!(
        (s, error_code(&b)),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
        "{b}"
    );
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("between 30 and 3650")
    );
    adc_e2e::sql::old_audit_entry(&db, 100).await;
    adc_e2e::sql::old_audit_entry(&db, 400).await;
    assert_eq!(entries(&api, "&actor=archive").await.len(), 2);
    let (s, b) = api
        .put("/api/v1/audit/settings", json!({"retention_days": 200}))
        .await;
    assert_eq!((s, b), (StatusCode::OK, json!({"retention_days": 200})));
    let left = entries(&api, "&actor=archive").await;
    assert_eq!(
        left.len(),
        1,
        "the 400-day-old entry went, the 100-day-old stays: {left:?}"
    );
    let changed = &entries(&api, "&action=audit.retention_changed").await[0];
    assert_eq!(
        changed["details"]["changes"]["retention_days"],
        json!({"old": 365, "new": 200})
    );
    db.close().await;
}
