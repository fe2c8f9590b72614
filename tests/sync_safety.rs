//! What must never happen: deletions after an incomplete read, mass deletions without
//! approval, duplicates after a user comes back, a run left running forever
//! (architecture §4, §5.3, §8.2).

use adc_e2e::agent::{AgentSetup, TestAgent};
use adc_e2e::cut::CutRelay;
use adc_e2e::engine::Engine;
use adc_e2e::engines;
use adc_e2e::eventually;
use adc_e2e::slapd::{self, UNLIMITED};
use adc_e2e::sync::{ACTIVE_ONLY, Fixture, fixture, fixture_from_ldif, people};
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

/// Runs once more: the run fails with a reason holding every part of `reason_has`, and
/// all `users` stay, enabled, with no deletion planned.
async fn fails_losing_nobody(f: &Fixture, users: usize, reason_has: &[&str]) {
    let run = f.run(json!({})).await;
    assert_eq!(run["status"], "failed", "{run}");
    let reason = run["error"].as_str().unwrap_or_default();
    assert!(reason_has.iter().all(|p| reason.contains(p)), "{reason}");
    assert_eq!(
        f.users("enabled=true").await.len(),
        users,
        "nobody deleted or disabled"
    );
    let gone = f
        .changes(run["id"].as_str().unwrap(), "operation=delete")
        .await;
    assert!(gone.is_empty(), "{gone:?}");
}

#[engines]
async fn a_read_that_ends_early_deletes_and_disables_nobody(engine: Engine) {
    let mut f = fixture(engine, 15, "", None).await;
    f.patch_settings(json!({"delete-disables": false})).await;
    let first = f.run(json!({})).await;
    assert_eq!(first["counts"]["created"], 15);

    // A size limit cuts the read short: 10 of 15 entries arrive.
    f.slapd.restart("sizelimit 10\n");
    fails_losing_nobody(&f, 15, &["incomplete", "size limit"]).await;

    // A later page refused: slapd hands out at most 10 entries per paged search and
    // the agent asks for pages of 5, so the request for the third page ends in an
    // error (slapd answers it with "size limit exceeded") after two good pages.
    let yaml = f
        .slapd
        .adc_yaml("")
        .replace("page_size: 20", "page_size: 5");
    std::fs::write(&f.agent.config_path, yaml).unwrap();
    f.agent.reload().await;
    f.agent
        .wait_for("the new adc.yaml", |s| (s.reloads >= 1).then_some(()))
        .await;
    f.slapd
        .restart("limits users size.soft=unlimited size.hard=unlimited size.prtotal=10\n");
    fails_losing_nobody(&f, 15, &["incomplete after 10 entries", "(result code 4)"]).await;

    // A directory that is not there.
    f.slapd.stop();
    fails_losing_nobody(&f, 15, &["cannot connect"]).await;

    f.slapd.restart(UNLIMITED);
    let run = f.run(json!({})).await;
    assert_eq!(
        (run["status"].as_str(), run["counts"]["unchanged"].as_u64()),
        (Some("succeeded"), Some(15)),
        "{run}"
    );
}

#[engines]
async fn a_directory_connection_cut_mid_read_fails_the_run_and_deletes_nobody(engine: Engine) {
    let mut f = fixture(engine, 400, "", None).await;
    f.patch_settings(json!({"delete-disables": false})).await;
    assert_eq!(f.run(json!({})).await["counts"]["created"], 400);

    // The agent now reaches the directory through a relay that can cut the line.
    let relay = CutRelay::start(([127, 0, 0, 1], f.slapd.port).into()).await;
    let yaml = f
        .slapd
        .adc_yaml("")
        .replace(&f.slapd.url, &format!("ldap://{}", relay.addr));
    std::fs::write(&f.agent.config_path, yaml).unwrap();
    f.agent.reload().await;
    f.agent
        .wait_for("the new adc.yaml", |s| (s.reloads >= 1).then_some(()))
        .await;
    for i in 395..400 {
        f.slapd.delete(&format!("user{i:05}"), "people").await;
    }

    // About a sixth of the entries arrive, then the connection drops mid-message.
    relay.cut_after(20_000);
    let run = f.run(json!({})).await;
    assert_eq!(run["status"], "failed", "{run}");
    let reason = run["error"].as_str().unwrap();
    assert!(
        reason.contains("ended early") || reason.contains("incomplete"),
        "{reason}"
    );
    assert_eq!(
        f.users("").await.len(),
        400,
        "nobody deleted after a cut read"
    );
    assert!(
        f.changes(run["id"].as_str().unwrap(), "operation=delete")
            .await
            .is_empty()
    );

    // The line is whole again: the next run converges, deleting exactly the five.
    relay.cut_after(-1);
    let run = f.run(json!({})).await;
    assert_eq!(
        (run["status"].as_str(), run["counts"]["deleted"].as_u64()),
        (Some("succeeded"), Some(5)),
        "{run}"
    );
    assert_eq!(f.users("").await.len(), 395);
}

#[engines]
async fn a_search_past_the_directory_time_limit_fails_the_run_and_deletes_nobody(engine: Engine) {
    // Each person carries a 3 KiB photo the agent is told to ask for (it maps to
    // nothing: binary values are not text), so one search answers with more than
    // slapd's socket can ever buffer (tcp_wmem's maximum is 4 MiB): when the reader
    // stalls, slapd's writes block for sure and its clock runs past the limit.
    let photo = format!("jpegPhoto:: {}\ndisplayName:", "////".repeat(1024));
    let ldif = slapd::ldif(&people(2000)).replace("\ndisplayName:", &format!("\n{photo}"));
    let mut f = fixture_from_ldif(engine, &ldif, "", None, None, |_| {}).await;
    f.patch_settings(json!({"delete-disables": false})).await;
    assert_eq!(f.run(json!({})).await["counts"]["created"], 2000);
    for i in 1995..2000 {
        f.slapd.delete(&format!("user{i:05}"), "people").await;
    }
    // One search for everything (a page larger than the directory), a time limit of
    // one second for the agent's account, and a reader that stalls for three
    // seconds early on: slapd ends the search with "time limit exceeded".
    f.slapd.restart(
        "limits users size.soft=unlimited size.hard=unlimited size.prtotal=unlimited time.soft=1 time.hard=1\n",
    );
    let relay = CutRelay::start(([127, 0, 0, 1], f.slapd.port).into()).await;
    let yaml = f
        .slapd
        .adc_yaml("")
        .replace(&f.slapd.url, &format!("ldap://{}", relay.addr))
        .replace(
            "page_size: 20\n",
            "page_size: 5000\n      attributes:\n        photo: jpegPhoto\n",
        );
    std::fs::write(&f.agent.config_path, yaml).unwrap();
    f.agent.reload().await;
    f.agent
        .wait_for("the new adc.yaml", |s| (s.reloads >= 1).then_some(()))
        .await;
    relay.stall_after(10_000, Duration::from_secs(3));
    let run = f.run(json!({})).await;
    assert_eq!(run["status"], "failed", "{run}");
    let reason = run["error"].as_str().unwrap();
    assert!(
        reason.contains("time limit exceeded") && reason.contains("incomplete"),
        "{reason}"
    );
    assert_eq!(
        f.users("").await.len(),
        2000,
        "nobody deleted after a read cut short"
    );
    assert!(
        f.changes(run["id"].as_str().unwrap(), "operation=delete")
            .await
            .is_empty()
    );

    // Without the limit the same search completes, and exactly the five go (a busy
    // machine may take more than a second to pass 6 MiB through the relay).
    f.slapd.restart(UNLIMITED);
    let run = f.run(json!({})).await;
    assert_eq!(
        (run["status"].as_str(), run["counts"]["deleted"].as_u64()),
        (Some("succeeded"), Some(5)),
        "{run}"
    );
    assert_eq!(
        run["counts"]["updated"], 0,
        "the unmapped photo changed nobody"
    );
}

#[engines]
async fn deletions_beyond_the_guard_are_held_until_approved_or_rejected(engine: Engine) {
    let f = fixture(engine, 10, "", Some(ACTIVE_ONLY)).await;
    let path = format!("/api/v1/synchronizations/{}", f.sync_id);
    let (s, _) = f
        .api
        .patch(&path, json!({"deletion_guard": {"max_deletes": 3}}))
        .await;
    assert_eq!(s, StatusCode::OK);
    f.run(json!({})).await;
    for i in 0..5 {
        f.slapd
            .set(&format!("user{i:05}"), "employeeType", "inactive")
            .await;
    }
    f.slapd.set("user00009", "sn", "Updated").await;
    let run = f.run(json!({})).await;
    let id = run["id"].as_str().unwrap().to_owned();
    assert_eq!(run["status"], "held", "{run}");
    assert_eq!(
        (
            run["counts"]["held"].as_u64(),
            run["counts"]["updated"].as_u64()
        ),
        (Some(5), Some(1)),
        "updates still apply"
    );
    let held = f.changes(&id, "outcome=held").await;
    let mut names: Vec<_> = held
        .iter()
        .map(|c| c["username"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        (0..5)
            .map(|i| format!("user{i:05}@example.com"))
            .collect::<Vec<_>>(),
        "exactly the held list"
    );
    assert_eq!(
        f.users("enabled=true").await.len(),
        10,
        "nothing deleted yet"
    );

    let (_, viewer) = f
        .api
        .post("/api/v1/tokens", json!({"name": "v", "role": "viewer"}))
        .await;
    let (s, _) = f
        .api
        .with_token(viewer["secret"].as_str().unwrap())
        .post(&format!("/api/v1/runs/{id}/approve"), json!({}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    let (s, approved) = f
        .api
        .post(&format!("/api/v1/runs/{id}/approve"), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{approved}");
    assert_eq!(approved["status"], "succeeded");
    assert_eq!(approved["decision"], "approved by admin@example.com");
    assert_eq!(approved["counts"]["disabled"], 5);
    assert_eq!(f.users("enabled=false").await.len(), 5);
    assert_eq!(
        f.changes(&id, "outcome=applied").await.len(),
        6,
        "the update and the five approved"
    );
    let (s, _) = f
        .api
        .post(&format!("/api/v1/runs/{id}/approve"), json!({}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "approved once only");

    // Held again, then rejected: nothing changes.
    for i in 5..9 {
        f.slapd
            .set(&format!("user{i:05}"), "employeeType", "inactive")
            .await;
    }
    let run = f.run(json!({})).await;
    assert_eq!(run["status"], "held");
    let (s, rejected) = f
        .api
        .post(
            &format!("/api/v1/runs/{}/reject", run["id"].as_str().unwrap()),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(rejected["decision"], "rejected by admin@example.com");
    assert_eq!(f.users("enabled=true").await.len(), 5);
    assert_eq!(
        f.changes(run["id"].as_str().unwrap(), "outcome=rejected")
            .await
            .len(),
        4
    );
}

#[engines]
async fn a_share_of_users_trips_the_guard_once_there_are_enough_users(engine: Engine) {
    let f = fixture(engine, 10, "", Some(ACTIVE_ONLY)).await;
    let path = format!("/api/v1/synchronizations/{}", f.sync_id);
    f.api.patch(&path, json!({"deletion_guard": {"max_deletes": null, "max_percent": 20, "min_users_for_percent": 10}})).await;
    f.run(json!({})).await;
    for i in 0..3 {
        f.slapd
            .set(&format!("user{i:05}"), "employeeType", "inactive")
            .await;
    }
    let run = f.run(json!({})).await;
    assert_eq!(
        (run["status"].as_str(), run["counts"]["held"].as_u64()),
        (Some("held"), Some(3)),
        "30 % > 20 %: {run}"
    );
}

#[engines]
async fn a_user_who_left_and_came_back_is_re_enabled_as_the_same_user(engine: Engine) {
    let f = fixture(engine, 4, "", Some(ACTIVE_ONLY)).await;
    f.run(json!({})).await;
    let before = f.user("user00002@example.com").await;
    f.slapd.set("user00002", "employeeType", "inactive").await;
    let run = f.run(json!({})).await;
    assert_eq!(run["counts"]["disabled"], 1);
    let gone = f.user("user00002@example.com").await;
    assert_eq!(
        (
            gone["enabled"].as_bool(),
            gone["removed_from_source"].as_bool()
        ),
        (Some(false), Some(true))
    );

    f.slapd.set("user00002", "employeeType", "staff").await;
    let run = f.run(json!({})).await;
    assert_eq!(
        (
            run["counts"]["updated"].as_u64(),
            run["counts"]["created"].as_u64()
        ),
        (Some(1), Some(0)),
        "{run}"
    );
    let back = f.user("user00002@example.com").await;
    assert_eq!(
        back["id"], before["id"],
        "the same cloud user, no duplicate"
    );
    assert_eq!(back["enabled"], true);
    assert_eq!(f.users("").await.len(), 4);
    let ops = f.changes(run["id"].as_str().unwrap(), "").await;
    assert_eq!(ops[0]["operation"], "enable");
}

#[engines]
async fn killing_the_agent_mid_run_fails_the_run_and_the_next_run_converges(engine: Engine) {
    let mut f = fixture(engine, 3000, "", None).await;
    let run_id = f.start(json!({})).await;
    eventually(
        Duration::from_secs(30),
        "the run to apply its first batch",
        || async {
            let (_, r) = f.api.get(&format!("/api/v1/runs/{run_id}")).await;
            (r["counts"]["created"].as_u64().unwrap_or(0) > 0 || r["status"] != "running")
                .then_some(())
        },
    )
    .await;
    f.agent.kill();
    let run = f.wait(&run_id).await;
    if run["status"] == "failed" {
        assert!(run["error"].as_str().unwrap().contains("agent"), "{run}");
    }
    // The report says exactly what was applied: no write that was rolled back counts.
    let stored = f.users("").await.len() as u64;
    assert_eq!(run["counts"]["created"].as_u64(), Some(stored), "{run}");
    let changes = f.changes(&run_id, "").await.len() as u64;
    assert_eq!(changes, stored, "one change row per stored user");
    let mut agent = TestAgent::start(AgentSetup {
        addr: f.server.agent_addr(),
        client_id: f.sync_id.clone(),
        secret: f.secret.clone(),
        yaml: f.slapd.adc_yaml(""),
        extra_ca: None,
    });
    agent.connected().await;
    let run = f.run(json!({})).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let users = f.users("").await;
    assert_eq!(users.len(), 3000, "exactly the source, no duplicates");
    let again = f.run(json!({})).await;
    assert_eq!(again["counts"]["unchanged"], 3000);
}

#[engines]
async fn a_scheduled_synchronization_runs_by_itself_once_per_interval(engine: Engine) {
    let f = fixture(engine, 3, "", None).await;
    let (s, _) = f
        .api
        .patch(
            &format!("/api/v1/synchronizations/{}", f.sync_id),
            json!({"schedule_minutes": 60}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let run = eventually(Duration::from_secs(20), "a scheduled run", || async {
        let (_, runs) = f
            .api
            .get(&format!("/api/v1/synchronizations/{}/runs", f.sync_id))
            .await;
        runs.as_array()
            .unwrap()
            .first()
            .filter(|r| r["status"] != "running")
            .cloned()
    })
    .await;
    assert_eq!(
        (run["trigger"].as_str(), run["status"].as_str()),
        (Some("schedule"), Some("succeeded")),
        "{run}"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, runs) = f
        .api
        .get(&format!("/api/v1/synchronizations/{}/runs", f.sync_id))
        .await;
    assert_eq!(
        runs.as_array().unwrap().len(),
        1,
        "not again before the interval"
    );
    // The audit log names the schedule as the one who started it.
    let (_, audit) = f.api.get("/api/v1/audit?action=run.started").await;
    let started = &audit["entries"][0];
    assert_eq!(
        (
            started["actor_kind"].as_str(),
            started["target_id"].as_str()
        ),
        (Some("schedule"), run["id"].as_str()),
        "{audit}"
    );
}

#[engines]
async fn an_agent_that_ignores_the_settings_still_cannot_change_what_the_server_forbids(
    engine: Engine,
) {
    let mut f = fixture(engine, 3, "", None).await;
    f.run(json!({})).await;
    f.agent.kill();
    f.patch_settings(json!({"no-create": true, "no-update": true, "no-delete": true}))
        .await;
    let mut rogue =
        adc_e2e::raw::RawAgent::connect(&f.server.agent_addr(), &f.sync_id, &f.secret).await;
    eventually(
        Duration::from_secs(10),
        "only the rogue agent connected",
        || async { (f.api.agents(&f.sync_id).await.len() == 1).then_some(()) },
    )
    .await;
    let run_id = f.start(json!({})).await;
    let start = rogue.recv_type("start_run").await;
    assert_eq!(
        start["settings"]["no-create"]["value"], true,
        "the agent is told, and ignores it"
    );
    rogue
        .send(json!({"type": "manifest_request", "run_id": run_id}))
        .await;
    let manifest = rogue.recv_type("manifest_chunk").await;
    let existing = manifest["entries"][0][0].as_str().unwrap().to_owned();
    let user = |id: &str, name: &str| json!({"external_id": id, "username": name, "enabled": true, "source_dn": format!("uid={name}")});
    rogue.send(json!({"type": "batch", "run_id": run_id, "seq": 1, "users": [user("new-id", "intruder"), user(&existing, "hijacked")]})).await;
    rogue.recv_type("batch_ack").await;
    rogue
        .send(json!({"type": "read_complete", "run_id": run_id, "read": 2}))
        .await;
    rogue
        .send(json!({"type": "deletions", "run_id": run_id, "seq": 2, "external_ids": [existing]}))
        .await;
    rogue.send(json!({"type": "done", "run_id": run_id})).await;
    let finished = rogue.recv_type("run_finished").await;
    assert_eq!(finished["report"]["status"], "succeeded");
    let c = &finished["report"]["counts"];
    assert_eq!(
        (
            c["created"].as_u64(),
            c["updated"].as_u64(),
            c["deleted"].as_u64(),
            c["disabled"].as_u64()
        ),
        (Some(0), Some(0), Some(0), Some(0)),
        "{finished}"
    );
    assert!(f.users("q=intruder").await.is_empty());
    assert!(f.users("q=hijacked").await.is_empty());
    assert_eq!(f.users("enabled=true").await.len(), 3);

    // Deletions before the read is complete fail the run and delete nobody.
    f.patch_settings(json!({"no-delete": null})).await;
    let run_id = f.start(json!({})).await;
    rogue.recv_type("start_run").await;
    rogue
        .send(json!({"type": "deletions", "run_id": run_id, "seq": 1, "external_ids": [existing]}))
        .await;
    let finished = rogue.recv_type("run_finished").await;
    assert_eq!(finished["report"]["status"], "failed");
    assert!(
        finished["report"]["error"]
            .as_str()
            .unwrap()
            .contains("before the read"),
        "{finished}"
    );
    assert_eq!(f.users("enabled=true").await.len(), 3);
    let (_, run) = f.api.get(&format!("/api/v1/runs/{run_id}")).await;
    assert_eq!(run["status"], "failed");
}

#[engines]
async fn a_run_whose_agent_stops_answering_fails_after_the_heartbeat_timeout(engine: Engine) {
    let mut f = fixture(engine, 3, "", None).await;
    f.agent.kill();
    let mut silent =
        adc_e2e::raw::RawAgent::connect(&f.server.agent_addr(), &f.sync_id, &f.secret).await;
    eventually(
        Duration::from_secs(10),
        "only the silent agent connected",
        || async { (f.api.agents(&f.sync_id).await.len() == 1).then_some(()) },
    )
    .await;
    let run_id = f.start(json!({})).await;
    silent.recv_type("start_run").await;
    // It never answers again, not even with a heartbeat; its socket stays open.
    let run = f.wait(&run_id).await;
    assert_eq!(run["status"], "failed");
    assert!(
        run["error"].as_str().unwrap().contains("stopped answering"),
        "{run}"
    );
    drop(silent);
}

#[engines]
async fn a_server_stopped_mid_run_records_the_run_as_failed(engine: Engine) {
    let f = fixture(engine, 3000, "", None).await;
    let run_id = f.start(json!({})).await;
    eventually(Duration::from_secs(30), "the first batch", || async {
        let (_, r) = f.api.get(&format!("/api/v1/runs/{run_id}")).await;
        (r["counts"]["created"].as_u64().unwrap_or(0) > 0 || r["status"] != "running").then_some(())
    })
    .await;
    let addr = f.server.addr.to_string();
    let adc_e2e::sync::Fixture {
        server,
        agent,
        slapd,
        ..
    } = f;
    let db = server.stop().await;
    drop(agent);
    let server = adc_e2e::server::TestServer::start_on(db, &addr, |_| {}).await;
    let api = server.admin().await;
    let (_, run) = api.get(&format!("/api/v1/runs/{run_id}")).await;
    if run["counts"]["read"] != 3000 {
        assert_eq!(run["status"], "failed", "never left running: {run}");
        assert!(run["error"].as_str().unwrap().contains("server"), "{run}");
    }
    drop(slapd);
}

/// The database goes away in the middle of a run (PostgreSQL refusing the server's
/// connections, its sessions ended) and comes back: the run ends as failed with a
/// reason instead of running forever, what was stored stays, the next run is not
/// refused as "already running", and it converges: every directory user once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_goes_away_mid_run_fails_the_run_and_the_next_run_converges() {
    let mut f = fixture(adc_e2e::engine::Engine::Postgres, 2000, "", None).await;
    let relay = CutRelay::start(([127, 0, 0, 1], f.slapd.port).into()).await;
    let yaml = f
        .slapd
        .adc_yaml("")
        .replace(&f.slapd.url, &format!("ldap://{}", relay.addr));
    std::fs::write(&f.agent.config_path, yaml).unwrap();
    f.agent.reload().await;
    f.agent
        .wait_for("the new adc.yaml", |s| (s.reloads >= 1).then_some(()))
        .await;

    // The read pauses for four seconds after about half of the entries (two batches of
    // 500 stored); meanwhile
    // the database stops taking the server's connections and ends the open ones. When
    // the read goes on, the next batches find no database; it comes back two seconds
    // later.
    relay.stall_after(300_000, Duration::from_secs(4));
    let run_id = f.start(json!({})).await;
    eventually(
        Duration::from_secs(10),
        "the first batches stored",
        || async {
            let (_, page) = f.api.get("/api/v1/users?limit=1").await;
            (!page["users"].as_array()?.is_empty()).then_some(())
        },
    )
    .await;
    let agent_before = f.api.agents(&f.sync_id).await;
    assert!(
        agent_before.len() == 1 && agent_before[0]["id"].is_string(),
        "{agent_before:?}"
    );
    let ended = f.server.db.refuse_connections(true).await;
    assert!(ended > 0, "the server had sessions to end");
    tokio::time::sleep(Duration::from_secs(6)).await;
    f.server.db.refuse_connections(false).await;

    let run = f.wait(&run_id).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(
        run["error"], "the server could not store the run's changes",
        "{run}"
    );
    // The agent stayed connected through it (the same connection), and the next run
    // goes to it at once.
    let stored = f.users("").await.len();
    assert!(
        stored > 0 && stored < 2000,
        "what was stored before stays: {stored}"
    );

    let agent_after = f.api.agents(&f.sync_id).await;
    assert_eq!(agent_after.len(), 1, "{agent_after:?}");
    assert_eq!(agent_after[0]["id"], agent_before[0]["id"]);
    let next = f.run(json!({})).await;
    assert_eq!(next["status"], "succeeded", "{next}");
    assert_eq!(
        next["counts"]["created"].as_u64().unwrap() + next["counts"]["unchanged"].as_u64().unwrap(),
        2000,
        "{next}"
    );
    let users = f.users("").await;
    assert_eq!(users.len(), 2000, "every directory user, once");
}

#[engines]
async fn a_cancelled_run_keeps_exactly_what_it_applied_and_deletes_nothing(engine: Engine) {
    let f = fixture(engine, 3000, "", None).await;
    let run_id = f.start(json!({})).await;
    eventually(
        Duration::from_secs(30),
        "the run to apply its first batch",
        || async {
            let (_, r) = f.api.get(&format!("/api/v1/runs/{run_id}")).await;
            (r["counts"]["created"].as_u64().unwrap_or(0) > 0).then_some(())
        },
    )
    .await;
    // The directory stops answering mid-read; the admin cancels.
    f.slapd.pause();
    let cancel = format!("/api/v1/runs/{run_id}/cancel");
    let (s, body) = f.api.post(&cancel, json!({})).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "cancelled", "{body}");
    f.slapd.resume();
    let run = f.wait(&run_id).await;
    assert_eq!(run["status"], "cancelled", "{run}");
    assert!(
        run["error"].as_str().unwrap_or("").contains("cancelled by"),
        "{run}"
    );
    // Exactly what was applied before the cancel, in the counts and the change list.
    let stored = f.users("").await.len() as u64;
    assert!(stored > 0 && stored < 3000, "{stored}");
    assert_eq!(run["counts"]["created"].as_u64(), Some(stored), "{run}");
    assert_eq!(f.changes(&run_id, "").await.len() as u64, stored);
    // Only a running run can be cancelled; another tenant's or no run is not found;
    // a viewer may not.
    let (s, body) = f.api.post(&cancel, json!({})).await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cancelled"),
        "{body}"
    );
    let (s, _) = f
        .api
        .post(
            &format!("/api/v1/runs/{}/cancel", uuid::Uuid::new_v4()),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, token) = f
        .api
        .post("/api/v1/tokens", json!({"name": "look", "role": "viewer"}))
        .await;
    let viewer = f.api.with_token(token["secret"].as_str().unwrap());
    let (s, _) = viewer.post(&cancel, json!({})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // The agent stayed connected; the next run converges.
    let run = f.run(json!({})).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(f.users("").await.len(), 3000);

    // Users gone from the directory, a run cancelled before its read completed:
    // nobody is deleted or disabled.
    for i in 0..20 {
        f.slapd
            .delete(&slapd::Person::numbered(i).uid, "people")
            .await;
    }
    f.slapd.pause();
    let run_id = f.start(json!({})).await;
    let (s, body) = f
        .api
        .post(&format!("/api/v1/runs/{run_id}/cancel"), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    f.slapd.resume();
    let run = f.wait(&run_id).await;
    assert_eq!(run["status"], "cancelled", "{run}");
    assert_eq!(run["counts"]["deleted"].as_u64().unwrap_or(0), 0, "{run}");
    assert_eq!(run["counts"]["disabled"].as_u64().unwrap_or(0), 0, "{run}");
    let users = f.users("").await;
    assert_eq!(users.len(), 3000);
    assert!(
        users.iter().all(|u| u["enabled"] == true),
        "nobody disabled"
    );
    // And the agent takes the next run, which applies the deletions.
    let run = f.run(json!({})).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["counts"]["disabled"], 20, "{run}");
}
