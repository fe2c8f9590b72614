//! The admin page as an IT admin uses it (issue 15): what needs them is in front of
//! them, on a desktop and on a phone. Each test drives Debian's chromium through a
//! scenario in `tests/browser/`, against the real server, agent and slapd.

use adc_e2e::browser::Browser;
use adc_e2e::engine::Engine;
use adc_e2e::eventually;
use adc_e2e::raw::RawAgent;
use adc_e2e::server::{ADMIN_EMAIL, ADMIN_PASSWORD};
use adc_e2e::slapd;
use adc_e2e::sync;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

/// The admin's credentials and `more`, for a scenario's environment.
fn admin_env(more: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("ADC_ADMIN_EMAIL", ADMIN_EMAIL.to_owned()),
        ("ADC_ADMIN_PASSWORD", ADMIN_PASSWORD.to_owned()),
    ];
    env.extend_from_slice(more);
    env
}

/// Held deletions are a call to act: a banner on the list and on the synchronization
/// with the reason, Review leading to the run, Approve and Reject at its top beside
/// the limit that was hit, and the held list searched and paged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_deletions_lead_the_admin_to_a_decision_with_the_numbers() {
    let f = sync::fixture(Engine::Postgres, 300, "", None).await;
    f.patch_guard(json!({"max_deletes": null, "max_percent": 20, "min_users_for_percent": 100}))
        .await;
    f.run(json!({})).await;
    for i in 0..150 {
        f.slapd.delete(&format!("user{i:05}"), "people").await;
    }
    let held = f.run(json!({})).await;
    assert_eq!(held["status"], "held", "{held}");
    assert_eq!(
        held["held_reason"], "150 of 300 users, 50 % — the guard allows 20 %",
        "{held}"
    );
    let env = admin_env(&[("ADC_HELD_RUN", held["id"].as_str().unwrap().to_owned())]);
    Browser::run("held", &f.server.base_url(), &env).await;
    // The admin approved in the browser: exactly the held users were disabled.
    let run_id = held["id"].as_str().unwrap();
    let (_, run) = f.api.get(&format!("/api/v1/runs/{run_id}")).await;
    assert!(
        run["decision"].as_str().unwrap().starts_with("approved by"),
        "{run}"
    );
    assert_eq!(f.user("user00007@example.com").await["enabled"], false);
    assert_eq!(f.user("user00150@example.com").await["enabled"], true);
}

/// Run history at a glance: the chart has a time axis and a log scale (a first run of
/// 2 000 and a run of 3 both read), marks failed, held and dry runs and explains each
/// in its legend; the table holds every column at 1 280 px with the failed run's
/// reason in its row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_history_reads_at_a_glance() {
    let mut f = sync::fixture(Engine::Sqlite, 2000, "", None).await;
    assert_eq!(f.run(json!({})).await["counts"]["created"], 2000);
    for i in 0..3 {
        f.slapd
            .set(&format!("user{i:05}"), "displayName", "Renamed")
            .await;
    }
    let updated = f.run(json!({})).await;
    assert_eq!(updated["counts"]["updated"], 3);
    // Each update says what it changed, old → new.
    let changes = f
        .changes(updated["id"].as_str().unwrap(), "operation=update")
        .await;
    let first = changes
        .iter()
        .find(|c| c["username"] == "user00000@example.com")
        .unwrap();
    assert_eq!(
        first["fields"],
        json!([{"field": "display_name", "old": "Given0 Surname0", "new": "Renamed"}]),
        "{first}"
    );
    f.slapd.set("user00003", "displayName", "Planned").await;
    let dry = f.run(json!({"dry_run": true})).await;
    assert_eq!(dry["counts"]["updated"], 1, "{dry}");
    f.patch_guard(json!({"max_deletes": 1})).await;
    f.slapd.delete("user00010", "people").await;
    f.slapd.delete("user00011", "people").await;
    assert_eq!(f.run(json!({})).await["status"], "held");
    f.slapd.stop();
    let failed = f.run(json!({})).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    let env = admin_env(&[
        ("ADC_SYNC_ID", f.sync_id.clone()),
        (
            "ADC_FAILED_REASON",
            failed["error"].as_str().unwrap().to_owned(),
        ),
    ]);
    Browser::run("history", &f.server.base_url(), &env).await;
}

/// Every page, on a desktop and on a phone: screenshots of each at both sizes (every
/// screenshot also runs axe-core), and on a phone no column, link or button is
/// off-screen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_works_on_a_desktop_and_on_a_phone() {
    let groups = [
        slapd::group_ldif(
            "groupOfNames",
            "devs",
            &(0..3)
                .map(|i| slapd::person_dn(&format!("user{i:05}")))
                .collect::<Vec<_>>(),
        ),
        slapd::group_ldif("groupOfNames", "everyone", &[slapd::group_dn("devs")]),
    ]
    .concat();
    let ldif = format!("{}{groups}", slapd::ldif(&sync::people(12)));
    let f = sync::fixture_from_ldif(
        Engine::Postgres,
        &ldif,
        "",
        None,
        Some(sync::GROUPS_SECTION),
        |_| {},
    )
    .await;
    let first = f.run(json!({})).await;
    assert_eq!(first["status"], "succeeded", "{first}");
    f.patch_guard(json!({"max_deletes": 1})).await;
    f.slapd.delete("user00010", "people").await;
    f.slapd.delete("user00011", "people").await;
    let held = f.run(json!({})).await;
    assert_eq!(held["status"], "held", "{held}");
    let env = admin_env(&[
        ("ADC_SYNC_ID", f.sync_id.clone()),
        ("ADC_RUN", first["id"].as_str().unwrap().to_owned()),
        ("ADC_HELD_RUN", held["id"].as_str().unwrap().to_owned()),
    ]);
    Browser::run("tour", &f.server.base_url(), &env).await;
}

/// A running run is visibly alive: its phase among all of them, the entries read so
/// far as the agent reports them (protocol 3), a progress bar against the manifest's
/// size with an estimate, and Cancel at the top; a failed run says why in words first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_run_shows_its_phase_progress_and_estimate() {
    // The hand-driven agent sends no heartbeat: the server waits a minute for one.
    let mut f = sync::fixture_with(Engine::Sqlite, &sync::people(300), "", None, |c| {
        c.heartbeat_interval = Duration::from_secs(60);
    })
    .await;
    f.run(json!({})).await;
    f.agent.kill();
    // An agent driven by hand, so the read stands still where the test wants it.
    let mut agent =
        RawAgent::connect_speaking(&f.server.agent_addr(), &f.sync_id, &f.secret, json!({}), 3)
            .await;
    eventually(
        Duration::from_secs(10),
        "only the hand-driven agent",
        || async { (f.api.agents(&f.sync_id).await.len() == 1).then_some(()) },
    )
    .await;
    let run_id = f.start(json!({})).await;
    agent.recv_type("start_run").await;
    let env = admin_env(&[("ADC_RUN", run_id.clone())]);
    let mut browser = Browser::start("live", &f.server.base_url(), &env);
    while let Some(req) = browser.next().await {
        match req["ask"].as_str() {
            Some("manifest") => {
                agent
                    .send(json!({"type": "manifest_request", "run_id": run_id}))
                    .await;
                while agent.recv_type("manifest_chunk").await["last"] != true {}
            }
            Some("progress") => {
                agent
                    .send(json!({"type": "progress", "run_id": run_id, "read": req["read"]}))
                    .await;
            }
            _ => {
                browser.refuse(&req).await;
                continue;
            }
        }
        browser.answer(json!({})).await;
    }
    browser.finish().await;
    let run = f.wait(&run_id).await;
    assert_eq!(run["status"], "cancelled", "{run}");
}

/// Users as an admin looks for them: how many match, a user's every field and extra
/// attribute, where it comes from, the runs that touched it, what Detach does; and a
/// manual user added by hand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_finds_everything_about_a_user_and_adds_one_by_hand() {
    // adc.yaml maps one extra attribute (inserted into its `sync` section).
    let f = sync::fixture_from_ldif(
        Engine::Sqlite,
        &slapd::ldif(&sync::people(12)),
        "",
        None,
        Some("      attributes:\n        employee_type: employeeType\n"),
        |_| {},
    )
    .await;
    f.slapd.set("user00003", "employeeType", "contractor").await;
    f.run(json!({})).await;
    f.slapd
        .set("user00003", "displayName", "Third Person")
        .await;
    let second = f.run(json!({})).await;
    assert_eq!(second["counts"]["updated"], 1, "{second}");
    let user = f.user("user00003@example.com").await;
    let (s, runs) = f
        .api
        .get(&format!(
            "/api/v1/users/{}/runs",
            user["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(s, StatusCode::OK, "{runs}");
    assert_eq!(runs.as_array().unwrap().len(), 2, "both runs touched it");
    // Natural order: nat2 before nat10, page by page.
    for name in ["nat10", "nat2", "nat1"] {
        let (s, b) = f.api.post("/api/v1/users", json!({"username": name})).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    let mut order = Vec::new();
    let mut after = String::new();
    loop {
        let (_, page) = f
            .api
            .get(&format!(
                "/api/v1/users?q=nat&limit=1{}",
                if after.is_empty() {
                    String::new()
                } else {
                    format!("&after={}", sync::urlencode(&after))
                }
            ))
            .await;
        order.extend(
            page["users"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["username"].clone()),
        );
        match page["next_after"].as_str() {
            Some(a) => after = a.to_owned(),
            None => break,
        }
    }
    assert_eq!(order, [json!("nat1"), json!("nat2"), json!("nat10")]);
    let env = admin_env(&[("ADC_USER", user["id"].as_str().unwrap().to_owned())]);
    Browser::run("users", &f.server.base_url(), &env).await;
    let added = f.user("pat@example.com").await;
    assert_eq!(added["provider"], "manual", "{added}");
    assert_eq!(added["display_name"], "Pat Manual", "{added}");
}
