//! The admin page as an IT admin uses it (issue 15): what needs them is in front of
//! them, on a desktop and on a phone. Each test drives Debian's chromium through a
//! scenario in `tests/browser/`, against the real server, agent and slapd.

use adc_e2e::browser::Browser;
use adc_e2e::engine::Engine;
use adc_e2e::server::{ADMIN_EMAIL, ADMIN_PASSWORD};
use adc_e2e::slapd;
use adc_e2e::sync;
use reqwest::StatusCode;
use serde_json::json;

/// The admin's credentials and `more`, for a scenario's environment.
fn admin_env(more: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("ADC_ADMIN_EMAIL", ADMIN_EMAIL.to_owned()),
        ("ADC_ADMIN_PASSWORD", ADMIN_PASSWORD.to_owned()),
    ];
    env.extend_from_slice(more);
    env
}

/// Runs `scenario` to its end; it asks the Rust side for nothing.
async fn run_scenario(scenario: &str, base_url: &str, env: &[(&'static str, String)]) {
    let mut browser = Browser::start(scenario, base_url, env);
    while let Some(req) = browser.next().await {
        browser.refuse(&req).await;
    }
    browser.finish().await;
}

/// Held deletions are a call to act: a banner on the list and on the synchronization
/// with the reason, Review leading to the run, Approve and Reject at its top beside
/// the limit that was hit, and the held list searched and paged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_deletions_lead_the_admin_to_a_decision_with_the_numbers() {
    let f = sync::fixture(Engine::Postgres, 300, "", None).await;
    let (s, b) = f
        .api
        .patch(
            &format!("/api/v1/synchronizations/{}", f.sync_id),
            json!({"deletion_guard": {"max_deletes": null, "max_percent": 20, "min_users_for_percent": 100}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
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
    run_scenario("held", &f.server.base_url(), &env).await;
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
    assert_eq!(f.run(json!({})).await["counts"]["updated"], 3);
    f.slapd.set("user00003", "displayName", "Planned").await;
    let dry = f.run(json!({"dry_run": true})).await;
    assert_eq!(dry["counts"]["updated"], 1, "{dry}");
    let (s, b) = f
        .api
        .patch(
            &format!("/api/v1/synchronizations/{}", f.sync_id),
            json!({"deletion_guard": {"max_deletes": 1}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
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
    run_scenario("history", &f.server.base_url(), &env).await;
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
    let (s, b) = f
        .api
        .patch(
            &format!("/api/v1/synchronizations/{}", f.sync_id),
            json!({"deletion_guard": {"max_deletes": 1}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    f.slapd.delete("user00010", "people").await;
    f.slapd.delete("user00011", "people").await;
    let held = f.run(json!({})).await;
    assert_eq!(held["status"], "held", "{held}");
    let env = admin_env(&[
        ("ADC_SYNC_ID", f.sync_id.clone()),
        ("ADC_RUN", first["id"].as_str().unwrap().to_owned()),
        ("ADC_HELD_RUN", held["id"].as_str().unwrap().to_owned()),
    ]);
    run_scenario("tour", &f.server.base_url(), &env).await;
}
