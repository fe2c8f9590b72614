//! Runs end to end (architecture §5.3): real slapd, the real agent, both engines.

use adc_e2e::engine::Engine;
use adc_e2e::engines;
use adc_e2e::sync::fixture;
use reqwest::StatusCode;
use serde_json::{Value, json};

#[engines]
async fn a_first_run_creates_every_directory_user_and_reports_each_one(engine: Engine) {
    let f = fixture(engine, 25, "  dry-run: false\n", None).await;
    let run = f.run(json!({})).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["trigger"], "api");
    let c = &run["counts"];
    assert_eq!(
        (
            c["read"].as_u64(),
            c["created"].as_u64(),
            c["deleted"].as_u64()
        ),
        (Some(25), Some(25), Some(0)),
        "{run}"
    );
    assert_eq!(
        run["settings"]["dry-run"],
        json!({"value": false, "source": "agent"})
    );
    assert_eq!(
        run["settings"]["delete-disables"],
        json!({"value": true, "source": "default"})
    );
    assert!(run["duration_ms"].as_i64().is_some());

    let users = f.users(&format!("provider={}", f.sync_id)).await;
    assert_eq!(users.len(), 25);
    let u = f.user("user00007@example.com").await;
    assert_eq!(u["email"], "user00007@example.com");
    assert_eq!(u["display_name"], "Given7 Surname7");
    assert_eq!(u["given_name"], "Given7");
    assert_eq!(u["surname"], "Surname7");
    assert_eq!(u["enabled"], true);
    assert_eq!(u["provider"], f.sync_id.as_str());
    assert_eq!(u["source_dn"], "uid=user00007,ou=people,dc=example,dc=com");
    assert_eq!(
        u["external_id"].as_str().unwrap().len(),
        36,
        "entryUUID: {u}"
    );

    let changes = f.changes(run["id"].as_str().unwrap(), "").await;
    assert_eq!(changes.len(), 25);
    assert!(
        changes
            .iter()
            .all(|c| c["operation"] == "create" && c["outcome"] == "applied")
    );
    let (_, history) = f
        .api
        .get(&format!("/api/v1/synchronizations/{}/runs", f.sync_id))
        .await;
    assert_eq!(history.as_array().unwrap().len(), 1);
}

#[engines]
async fn a_second_run_over_an_unchanged_directory_writes_no_user(engine: Engine) {
    let f = fixture(engine, 30, "", None).await;
    f.run(json!({})).await;
    let before = f.users("").await;
    let run = f.run(json!({})).await;
    assert_eq!(run["status"], "succeeded");
    let c = &run["counts"];
    assert_eq!(
        (c["read"].as_u64(), c["unchanged"].as_u64()),
        (Some(30), Some(30)),
        "{run}"
    );
    assert_eq!(
        (c["created"].as_u64(), c["updated"].as_u64()),
        (Some(0), Some(0))
    );
    assert!(
        f.changes(run["id"].as_str().unwrap(), "").await.is_empty(),
        "nothing touched, nothing listed"
    );
    assert_eq!(f.users("").await, before, "not even updated_at moved");

    // A full resync re-sends every user; nothing differs, so nothing is written either.
    let full = f.run(json!({"full": true})).await;
    assert_eq!(full["full"], true);
    assert_eq!(full["counts"]["unchanged"], 30, "{full}");
    assert_eq!(f.users("").await, before);
}

#[engines]
async fn a_renamed_moved_or_readdressed_user_is_updated_in_place(engine: Engine) {
    let f = fixture(engine, 5, "", None).await;
    f.run(json!({})).await;
    let before: Vec<_> = f.users("").await;
    let id_of = |name: &str| {
        before
            .iter()
            .find(|u| u["source_dn"].as_str().unwrap().contains(name))
            .unwrap()["id"]
            .clone()
    };
    f.slapd.rename("user00001", "renamed", None).await;
    f.slapd
        .rename("user00002", "user00002", Some("staff"))
        .await;
    f.slapd
        .set("user00003", "mail", "new.address@example.com")
        .await;

    let run = f.run(json!({})).await;
    let c = &run["counts"];
    assert_eq!(
        (
            c["updated"].as_u64(),
            c["created"].as_u64(),
            c["deleted"].as_u64(),
            c["disabled"].as_u64()
        ),
        (Some(3), Some(0), Some(0), Some(0)),
        "{run}"
    );
    let after = f.users("").await;
    assert_eq!(after.len(), 5);
    let renamed = after
        .iter()
        .find(|u| u["source_dn"] == "uid=renamed,ou=people,dc=example,dc=com")
        .unwrap();
    assert_eq!(renamed["id"], id_of("uid=user00001,"), "same cloud user");
    let moved = after
        .iter()
        .find(|u| u["source_dn"] == "uid=user00002,ou=staff,dc=example,dc=com")
        .unwrap();
    assert_eq!(moved["id"], id_of("uid=user00002,"));
    // The username is the mail here (username_attribute: mail): a new address renames.
    let readdressed = f.user("new.address@example.com").await;
    assert_eq!(readdressed["id"], id_of("uid=user00003,"));
    let ops: Vec<_> = f
        .changes(run["id"].as_str().unwrap(), "")
        .await
        .iter()
        .map(|c| c["operation"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ops, vec!["update"; 3]);
}

#[engines]
async fn a_second_run_while_one_is_active_is_refused_with_409(engine: Engine) {
    let f = fixture(engine, 3000, "", None).await;
    let first = f.start(json!({})).await;
    let (s, b) = f
        .api
        .post(
            &format!("/api/v1/synchronizations/{}/runs", f.sync_id),
            json!({}),
        )
        .await;
    if s == StatusCode::ACCEPTED {
        // The first run ended before the second request: only then may it start.
        let (_, r) = f.api.get(&format!("/api/v1/runs/{first}")).await;
        assert_ne!(r["status"], "running", "two runs active at once");
    } else {
        assert_eq!(s, StatusCode::CONFLICT, "{b}");
        assert!(
            b["error"]["message"].as_str().unwrap().contains(&first),
            "names the active run: {b}"
        );
    }
    let done = f.wait(&first).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["counts"]["created"], 3000);
}

#[engines]
async fn two_entries_with_one_username_in_neighbouring_batches_give_a_conflict_not_a_failure(
    engine: Engine,
) {
    // Batches of 500 are written while the next is planned: the second holder of a
    // name must still see the first, written by the batch just before.
    let f = fixture(engine, 1200, "", None).await;
    for (first, second) in [(400, 600), (499, 500), (900, 1100)] {
        f.slapd
            .set(
                &format!("user{second:05}"),
                "mail",
                &format!("user{first:05}@example.com"),
            )
            .await;
    }
    let run = f.run(json!({})).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(
        (
            run["counts"]["created"].as_u64(),
            run["counts"]["conflicts"].as_u64()
        ),
        (Some(1197), Some(3)),
        "{run}"
    );
    let conflicts = f
        .changes(run["id"].as_str().unwrap(), "outcome=conflict")
        .await;
    let names: Vec<&str> = conflicts
        .iter()
        .map(|c| c["username"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 3, "{conflicts:?}");
    for n in [
        "user00400@example.com",
        "user00499@example.com",
        "user00900@example.com",
    ] {
        assert!(names.contains(&n), "{n} in {names:?}");
    }
    let again = f.run(json!({})).await;
    assert_eq!(
        (
            again["status"].as_str(),
            again["counts"]["conflicts"].as_u64()
        ),
        (Some("succeeded"), Some(3)),
        "{again}"
    );
}

#[engines]
async fn an_id_repeated_in_a_later_batch_of_a_first_run_updates_the_user_it_made(engine: Engine) {
    // A first run looks up only the IDs it has already sent (nothing else can
    // exist): a directory that repeats one (here the ID attribute is givenName)
    // must still find the user made by the earlier batch, not fail on the key.
    let ids_by_given_name = "(objectClass=inetOrgPerson)\n      id_attribute: givenName";
    let f = fixture(engine, 1200, "", Some(ids_by_given_name)).await;
    f.slapd.set("user00600", "givenName", "Given400").await;
    let run = f.run(json!({})).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let c = &run["counts"];
    assert_eq!(
        (
            c["created"].as_u64(),
            c["updated"].as_u64(),
            c["errors"].as_u64()
        ),
        (Some(1199), Some(1), Some(0)),
        "{run}"
    );
    // The later entry won: the user made from user00400 now carries its name.
    let u = f.user("user00600@example.com").await;
    assert_eq!(u["external_id"], "given400", "{u}");
}

#[engines]
async fn two_users_who_swap_usernames_are_both_updated_in_place(engine: Engine) {
    let f = fixture(engine, 5, "", None).await;
    f.run(json!({})).await;
    let (one, two) = (
        f.user("user00001@example.com").await,
        f.user("user00002@example.com").await,
    );
    f.slapd
        .set("user00001", "mail", "user00002@example.com")
        .await;
    f.slapd
        .set("user00002", "mail", "user00001@example.com")
        .await;
    let run = f.run(json!({})).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(
        (
            run["counts"]["updated"].as_u64(),
            run["counts"]["conflicts"].as_u64()
        ),
        (Some(2), Some(0)),
        "{run}"
    );
    // The same cloud users, each under the other's former name.
    assert_eq!(f.user("user00002@example.com").await["id"], one["id"]);
    assert_eq!(f.user("user00001@example.com").await["id"], two["id"]);
    let again = f.run(json!({})).await;
    assert_eq!(again["counts"]["unchanged"], 5, "{again}");
}

/// Two replicas on one PostgreSQL (architecture §2): a run asked of the replica that does not
/// hold the agent reaches it through PostgreSQL's notifications, and runs to its end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_asked_of_the_replica_without_the_agent_runs_on_the_agent_of_the_other() {
    let f = fixture(adc_e2e::engine::Engine::Postgres, 30, "", None).await;
    let b = adc_e2e::server::TestServer::start_with(f.server.db.borrowed(), |_| {}).await;
    let api_b = b.admin().await;
    let path = format!("/api/v1/synchronizations/{}/runs", f.sync_id);
    let (s, run) = api_b.post(&path, json!({})).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{run}");
    let report = f.wait(run["id"].as_str().unwrap()).await;
    assert_eq!(report["status"], "succeeded", "{report}");
    assert_eq!(report["counts"]["created"], 30, "{report}");
    assert_eq!(report["trigger"], "api");
    // A second run through B: a dry run, reported like any other.
    let (s, run) = api_b.post(&path, json!({"dry_run": true})).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{run}");
    let report = f.wait(run["id"].as_str().unwrap()).await;
    assert_eq!(
        (report["status"].as_str(), report["dry_run"].as_bool()),
        (Some("succeeded"), Some(true)),
        "{report}"
    );
    assert_eq!(report["counts"]["unchanged"], 30, "{report}");
}

/// A notification can be lost while a replica's listener reconnects (architecture §2). The
/// run then waits in the database with nobody to tell its agent; the replica that holds
/// the agent looks for such runs whenever its listener (re)connects, and hands them
/// over. Here the run is recorded without any notification at all, and the listener's
/// connection is cut: the run must still reach the agent and succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_notification_was_lost_is_handed_over_when_the_listener_reconnects() {
    use sqlx::Connection;
    let f = fixture(adc_e2e::engine::Engine::Postgres, 5, "", None).await;
    let first = f.run(json!({})).await;
    assert_eq!(first["status"], "succeeded", "{first}");
    let mut db = sqlx::PgConnection::connect(&f.server.db.url).await.unwrap();
    // A copy of the finished run, running again and unannounced: what a replica records
    // before its notification goes astray.
    let waiting = uuid::Uuid::new_v4();
    let copied = sqlx::query(
        "INSERT INTO runs (id, tenant_id, synchronization_id, status, trigger_source, triggered_by, dry_run,
                           full_resync, settings, connection_id, read_complete, counts, started_at)
         SELECT $1, tenant_id, synchronization_id, 'running', trigger_source, triggered_by, dry_run,
                full_resync, settings, connection_id, FALSE, counts, now()
         FROM runs WHERE id = $2",
    )
    .bind(waiting)
    .bind(first["id"].as_str().unwrap().parse::<uuid::Uuid>().unwrap())
    .execute(&mut db)
    .await
    .unwrap();
    assert_eq!(copied.rows_affected(), 1);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let (_, still) = f.api.get(&format!("/api/v1/runs/{waiting}")).await;
    assert_eq!(still["status"], "running", "nothing announced it: {still}");

    let cut: Vec<(bool,)> = sqlx::query_as(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    )
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert_eq!(
        cut,
        vec![(true,)],
        "the server's one listener connection was cut"
    );

    let report = f.wait(&waiting.to_string()).await;
    assert_eq!(report["status"], "succeeded", "{report}");
    assert_eq!(report["counts"]["unchanged"], 5, "{report}");
}

/// A run's lookups are prepared once per pooled connection, and PostgreSQL may keep a
/// generic plan made while the table was empty (a first sync) as it grows to 100 000
/// users. That plan must already probe the unique index of the key looked up: with a
/// username lookup planned on the external-ID index, a first sync after the users were
/// emptied took minutes instead of seconds (the benchmark's second round).
#[tokio::test]
async fn a_run_s_lookups_planned_on_an_empty_table_probe_the_index_of_their_own_key() {
    use adc_e2e::engine::{Engine, TestDb};
    use adc_server::db::{Db, users};
    use sqlx::Connection;
    let test_db = TestDb::new(Engine::Postgres).await;
    Db::connect(Some(&test_db.url))
        .await
        .expect("migrations apply");
    let mut c = sqlx::PgConnection::connect(&test_db.url).await.unwrap();
    sqlx::raw_sql("SET plan_cache_mode = force_generic_plan")
        .execute(&mut c)
        .await
        .unwrap();
    let t = "00000000-0000-4000-8000-000000000001";
    for (name, sql, args, index, key) in [
        (
            "by_username",
            users::PG_BY_USERNAME,
            format!("'{t}', '{{alice,bob}}'"),
            "users_natural",
            "sort_key",
        ),
        (
            "by_external",
            users::PG_BY_EXTERNAL_ID,
            format!("'{t}', '{{x,y}}', '{t}'"),
            "users_external",
            "external_id",
        ),
    ] {
        let prepare = format!("PREPARE {name} AS {sql}");
        sqlx::raw_sql(sqlx::AssertSqlSafe(prepare))
            .execute(&mut c)
            .await
            .unwrap();
        let explain = format!("EXPLAIN EXECUTE {name}({args})");
        let rows: Vec<(String,)> = sqlx::query_as(sqlx::AssertSqlSafe(explain))
            .fetch_all(&mut c)
            .await
            .unwrap();
        let plan: String = rows.into_iter().map(|(l,)| l + "\n").collect();
        assert!(
            plan.contains(&format!("Index Scan using {index} on users")),
            "{name} uses {index}:\n{plan}"
        );
        assert!(
            plan.lines()
                .any(|l| l.contains("Index Cond") && l.contains(key)),
            "{name} finds its rows by {key} in the index, not by a filter:\n{plan}"
        );
        assert!(
            !plan.contains("Seq Scan") && !plan.contains("Hash"),
            "{name} walks nothing:\n{plan}"
        );
    }
}

/// Two directory entries with one username (in another case too) are reported one way
/// — a conflict naming both entries — word for word on every run, in one batch or in
/// two, and the first holder keeps the name.
#[engines]
async fn duplicate_usernames_are_one_conflict_naming_both_entries_on_every_run(engine: Engine) {
    let f = fixture(engine, 700, "", None).await;
    // Same batch (users 1 and 2); different batches (400 and 600, batches of 500).
    f.slapd
        .set("user00002", "mail", "User00001@Example.COM")
        .await;
    f.slapd
        .set("user00600", "mail", "USER00400@example.com")
        .await;
    let f = &f;
    let conflicts = |run: &Value| {
        let id = run["id"].as_str().unwrap().to_owned();
        async move {
            let mut c: Vec<(String, String)> = f
                .changes(&id, "outcome=conflict")
                .await
                .iter()
                .map(|c| {
                    (
                        c["external_id"].as_str().unwrap().to_owned(),
                        c["outcome"].as_str().unwrap().to_owned(),
                    )
                })
                .collect();
            c.sort();
            c
        }
    };
    let first = f.run(json!({})).await;
    assert_eq!(
        (
            first["counts"]["created"].as_u64(),
            first["counts"]["conflicts"].as_u64(),
            first["counts"]["errors"].as_u64()
        ),
        (Some(698), Some(2), Some(0)),
        "{first}"
    );
    let said = conflicts(&first).await;
    assert_eq!(said.len(), 2, "{said:?}");
    let texts: Vec<&str> = said.iter().map(|(_, t)| t.as_str()).collect();
    assert!(texts.contains(&"conflict: username `User00001@Example.COM` of `uid=user00002,ou=people,dc=example,dc=com` is already that of the directory entry `uid=user00001,ou=people,dc=example,dc=com`; one of them must change"), "{texts:?}");
    assert!(texts.contains(&"conflict: username `USER00400@example.com` of `uid=user00600,ou=people,dc=example,dc=com` is already that of the directory entry `uid=user00400,ou=people,dc=example,dc=com`; one of them must change"), "{texts:?}");
    let holder = f.user("user00001@example.com").await;
    assert_eq!(
        holder["source_dn"],
        "uid=user00001,ou=people,dc=example,dc=com"
    );

    for again in [json!({}), json!({"full": true})] {
        let run = f.run(again).await;
        assert_eq!(run["counts"]["conflicts"], 2, "{run}");
        assert_eq!(conflicts(&run).await, said, "the same words on every run");
        assert_eq!(
            f.user("user00001@example.com").await["id"],
            holder["id"],
            "the first holder keeps it"
        );
    }
}
