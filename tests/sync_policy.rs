//! The seven settings (architecture §4) and provider mismatch (§5.1), enforced by the server.

use adc_e2e::engine::Engine;
use adc_e2e::engines;
use adc_e2e::sync::{ACTIVE_ONLY, fixture};
use serde_json::json;

fn outcomes(changes: &[serde_json::Value]) -> Vec<String> {
    changes
        .iter()
        .map(|c| {
            format!(
                "{} {}",
                c["operation"].as_str().unwrap(),
                c["outcome"].as_str().unwrap()
            )
        })
        .collect()
}

#[engines]
async fn each_setting_of_the_server_wins_over_the_agent_and_is_enforced(engine: Engine) {
    // The agent's adc.yaml allows everything; the server's settings decide.
    let yaml = "  dry-run: false\n  no-create: false\n  no-update: false\n  no-delete: false\n";
    let f = fixture(engine, 6, yaml, Some(ACTIVE_ONLY)).await;

    f.patch_settings(json!({"no-create": true})).await;
    let run = f.run(json!({})).await;
    assert_eq!(
        run["settings"]["no-create"],
        json!({"value": true, "source": "server"})
    );
    assert_eq!(
        (
            run["counts"]["created"].as_u64(),
            run["counts"]["skipped"].as_u64()
        ),
        (Some(0), Some(6)),
        "{run}"
    );
    assert!(f.users("").await.is_empty(), "no-create: nobody created");
    assert_eq!(
        outcomes(&f.changes(run["id"].as_str().unwrap(), "").await),
        vec!["create skipped: no-create"; 6]
    );

    f.patch_settings(json!({"no-create": null, "dry-run": true}))
        .await;
    let run = f.run(json!({})).await;
    assert_eq!(run["dry_run"], true);
    assert_eq!(
        run["counts"]["created"], 6,
        "the plan counts what would happen"
    );
    assert!(f.users("").await.is_empty(), "dry-run: nothing applied");
    assert_eq!(
        outcomes(&f.changes(run["id"].as_str().unwrap(), "").await),
        vec!["create planned"; 6]
    );

    f.patch_settings(json!({"dry-run": null, "create-as-disabled": true}))
        .await;
    let run = f.run(json!({})).await;
    assert_eq!(run["counts"]["created"], 6);
    assert_eq!(
        f.users("enabled=false").await.len(),
        6,
        "create-as-disabled"
    );

    f.patch_settings(json!({"no-update": true})).await;
    f.slapd.set("user00001", "sn", "Changed").await;
    let run = f.run(json!({})).await;
    assert_eq!(
        (
            run["counts"]["updated"].as_u64(),
            run["counts"]["skipped"].as_u64()
        ),
        (Some(0), Some(1)),
        "{run}"
    );
    assert_eq!(f.user("user00001@example.com").await["surname"], "Surname1");

    f.patch_settings(json!({"no-update": null, "no-delete": true}))
        .await;
    f.slapd.set("user00002", "employeeType", "inactive").await;
    let run = f.run(json!({})).await;
    assert_eq!(
        run["counts"]["updated"], 1,
        "the held-back update goes through now"
    );
    assert_eq!(f.user("user00001@example.com").await["surname"], "Changed");
    assert_eq!(
        outcomes(
            &f.changes(run["id"].as_str().unwrap(), "operation=disable")
                .await
        ),
        vec!["disable skipped: no-delete"]
    );
    assert_eq!(f.users("").await.len(), 6);

    f.patch_settings(json!({"no-delete": null, "delete-disables": false}))
        .await;
    let run = f.run(json!({})).await;
    assert_eq!(run["counts"]["deleted"], 1, "{run}");
    assert_eq!(f.users("").await.len(), 5);
    assert!(f.users("q=user00002").await.is_empty(), "deleted outright");
    assert_eq!(
        run["settings"]["delete-disables"],
        json!({"value": false, "source": "server"})
    );
}

#[engines]
async fn a_dry_run_requested_for_one_run_applies_nothing_and_reports_everything(engine: Engine) {
    let f = fixture(engine, 4, "", Some(ACTIVE_ONLY)).await;
    f.run(json!({})).await;
    f.slapd.set("user00000", "employeeType", "inactive").await;
    f.slapd.set("user00001", "sn", "Renamed").await;
    let run = f.run(json!({"dry_run": true})).await;
    assert_eq!(run["dry_run"], true);
    assert_eq!(run["settings"]["dry-run"]["value"], true);
    let c = &run["counts"];
    assert_eq!(
        (c["updated"].as_u64(), c["disabled"].as_u64()),
        (Some(1), Some(1)),
        "{run}"
    );
    let mut got = outcomes(&f.changes(run["id"].as_str().unwrap(), "").await);
    got.sort();
    assert_eq!(got, vec!["disable planned", "update planned"]);
    assert_eq!(f.users("enabled=true").await.len(), 4, "nothing applied");
    assert_eq!(f.user("user00001@example.com").await["surname"], "Surname1");
}

#[engines]
async fn a_manual_user_with_a_directory_users_name_is_a_conflict_until_takeover_is_allowed(
    engine: Engine,
) {
    let f = fixture(engine, 3, "", None).await;
    let (s, manual) = f
        .api
        .post(
            "/api/v1/users",
            json!({"username": "User00001@Example.com", "display_name": "Made by hand"}),
        )
        .await;
    assert_eq!(s, reqwest::StatusCode::CREATED, "{manual}");
    assert_eq!(manual["provider"], "manual");

    let run = f.run(json!({})).await;
    assert_eq!(
        (
            run["counts"]["created"].as_u64(),
            run["counts"]["conflicts"].as_u64()
        ),
        (Some(2), Some(1)),
        "{run}"
    );
    let conflicts = f
        .changes(run["id"].as_str().unwrap(), "outcome=conflict")
        .await;
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0]["outcome"], "conflict: provider mismatch");
    let u = f.user("User00001@Example.com").await;
    assert_eq!(
        (u["provider"].as_str(), u["display_name"].as_str()),
        (Some("manual"), Some("Made by hand")),
        "left alone"
    );

    f.patch_settings(json!({"no-update-provider-mismatch": false}))
        .await;
    let run = f.run(json!({})).await;
    assert_eq!(run["counts"]["updated"], 1, "{run}");
    let taken = f.user("user00001@example.com").await;
    assert_eq!(taken["id"], manual["id"], "the same user, taken over");
    assert_eq!(taken["provider"], f.sync_id.as_str());
    assert_eq!(taken["display_name"], "Given1 Surname1");
    let later = f.run(json!({})).await;
    assert_eq!(later["counts"]["unchanged"], 3);
}

/// One synchronization's agent saying `no-update-provider-mismatch: false` in its own
/// adc.yaml may take over manual users, never another synchronization's: that takes
/// the server's setting (architecture §8.4).
#[engines]
async fn an_agent_alone_cannot_take_over_another_synchronizations_user(engine: Engine) {
    let f = fixture(engine, 2, "", None).await;
    f.run(json!({})).await;
    let theirs = f.user("user00001@example.com").await;
    let (s, manual) = f
        .api
        .post("/api/v1/users", json!({"username": "hand@example.com"}))
        .await;
    assert_eq!(s, reqwest::StatusCode::CREATED, "{manual}");

    let (b_id, b_secret) = f.api.add_sync("branch office").await;
    let mut rogue = adc_e2e::raw::RawAgent::connect_with(
        &f.server.agent_addr(),
        &b_id,
        &b_secret,
        json!({"no-update-provider-mismatch": false}),
    )
    .await;
    let user = |id: &str, name: &str| json!({"external_id": id, "username": name, "enabled": true, "source_dn": format!("uid={name}")});
    let mut run_once = async |expect_updated: u64| {
        let (s, run) = f
            .api
            .post(&format!("/api/v1/synchronizations/{b_id}/runs"), json!({}))
            .await;
        assert_eq!(s, reqwest::StatusCode::ACCEPTED, "{run}");
        let run_id = run["id"].as_str().unwrap().to_owned();
        rogue.recv_type("start_run").await;
        let users = json!([
            user("b-1", "user00001@example.com"),
            user("b-2", "hand@example.com")
        ]);
        rogue
            .send(json!({"type": "batch", "run_id": run_id, "seq": 1, "users": users}))
            .await;
        rogue.recv_type("batch_ack").await;
        rogue
            .send(json!({"type": "read_complete", "run_id": run_id, "read": 2}))
            .await;
        rogue.send(json!({"type": "done", "run_id": run_id})).await;
        let finished = rogue.recv_type("run_finished").await;
        assert_eq!(
            finished["report"]["counts"]["updated"], expect_updated,
            "{finished}"
        );
        run_id
    };

    // The agent's word: the manual user is taken over, the other synchronization's not.
    let run_id = run_once(1).await;
    let conflicts = f.changes(&run_id, "outcome=conflict").await;
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(conflicts[0]["username"], "user00001@example.com");
    assert!(
        conflicts[0]["outcome"]
            .as_str()
            .unwrap()
            .contains("belongs to another synchronization")
    );
    assert_eq!(
        f.user("user00001@example.com").await["provider"],
        f.sync_id.as_str(),
        "still theirs"
    );
    assert_eq!(
        f.user("hand@example.com").await["provider"],
        b_id.as_str(),
        "the manual user taken over"
    );

    // The server's word: taken over, the same cloud user.
    let (s, b) = f
        .api
        .patch(
            &format!("/api/v1/synchronizations/{b_id}"),
            json!({"settings": {"no-update-provider-mismatch": false}}),
        )
        .await;
    assert_eq!(s, reqwest::StatusCode::OK, "{b}");
    run_once(1).await;
    let now = f.user("user00001@example.com").await;
    assert_eq!(
        (&now["provider"], &now["id"]),
        (&json!(b_id), &theirs["id"])
    );
}
