//! The tenant's directory over REST (architecture §5.4, §7.4): search, filters, paging,
//! manual users, and what may be done to synced ones.

use adc_e2e::engine::Engine;
use adc_e2e::engines;
use adc_e2e::sync::fixture;
use adc_server::db::search::Target;
use reqwest::StatusCode;
use serde_json::json;

#[engines]
async fn users_are_searchable_filterable_and_paged(engine: Engine) {
    let f = fixture(engine, 120, "", None).await;
    f.run(json!({})).await;
    let (s, hostile) = f
        .api
        .post(
            "/api/v1/users",
            json!({"username": "mallory", "display_name": "<img src=x onerror=alert(1)>"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(
        hostile["display_name"], "<img src=x onerror=alert(1)>",
        "stored as the characters it is"
    );

    let (_, page) = f.api.get("/api/v1/users?limit=50").await;
    assert_eq!(page["users"].as_array().unwrap().len(), 50);
    assert!(page["next_after"].is_string());
    assert_eq!(f.users("").await.len(), 121, "all pages, no repeats");

    assert_eq!(
        f.users("q=USER0011").await.len(),
        10,
        "case-insensitive substring"
    );
    assert_eq!(
        f.users("q=Given7%20Surname7").await.len(),
        1,
        "display name"
    );
    assert_eq!(
        f.users("q=%25").await.len(),
        0,
        "a % is a character, not a wildcard"
    );
    assert_eq!(f.users("provider=manual").await.len(), 1);
    assert_eq!(f.users(&format!("provider={}", f.sync_id)).await.len(), 120);
    let (s, _) = f.api.get("/api/v1/users?provider=nonsense").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

#[engines]
async fn a_synced_user_can_be_disabled_or_detached_but_not_deleted_by_hand(engine: Engine) {
    let f = fixture(engine, 2, "", None).await;
    f.run(json!({})).await;
    let u = f.user("user00000@example.com").await;
    let path = format!("/api/v1/users/{}", u["id"].as_str().unwrap());
    let (s, b) = f.api.delete(&path).await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    let (s, disabled) = f.api.patch(&path, json!({"enabled": false})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(disabled["enabled"], false);
    let run = f.run(json!({})).await;
    assert_eq!(
        run["counts"]["unchanged"], 2,
        "the source does not re-enable what an admin disabled"
    );
    assert_eq!(f.user("user00000@example.com").await["enabled"], false);

    let (s, detached) = f.api.patch(&path, json!({"detach": true})).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(detached["provider"], "manual");
    let run = f.run(json!({})).await;
    assert_eq!(
        run["counts"]["conflicts"], 1,
        "a detached user is another provider's now: {run}"
    );
    let (s, _) = f.api.delete(&path).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "a manual user can be deleted");
    let (_, t) = f
        .api
        .post("/api/v1/tokens", json!({"name": "op", "role": "operator"}))
        .await;
    let op = f.api.with_token(t["secret"].as_str().unwrap());
    let (s, _) = op.post("/api/v1/users", json!({"username": "x"})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

#[engines]
async fn a_manual_user_is_refused_for_what_a_synchronized_record_would_be_and_nothing_is_stored(
    engine: Engine,
) {
    let server = adc_e2e::server::TestServer::start(engine).await;
    let api = server.admin().await;
    let long = "x".repeat(100_000);
    let huge_mail = format!("{}@example.com", "m".repeat(2_000_000));
    for (body, says) in [
        (
            json!({"username": "bell\u{7}"}),
            "username contains control characters",
        ),
        (
            json!({"username": "ann", "display_name": long}),
            "display_name is longer than 1024 characters",
        ),
        (
            json!({"username": "ann", "email": huge_mail}),
            "email is longer than 1024 characters",
        ),
        (
            json!({"username": "ann", "surname": "line\nbreak"}),
            "surname contains control characters",
        ),
        (json!({"username": "   "}), "username is empty"),
    ] {
        let (s, b) = api.post("/api/v1/users", body).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        assert_eq!(b["error"]["message"], says);
    }
    let (_, page) = api.get("/api/v1/users").await;
    assert_eq!(
        page["users"].as_array().unwrap().len(),
        0,
        "nothing stored: {page}"
    );
    let (s, _) = api
        .post(
            "/api/v1/users",
            json!({"username": "ann", "display_name": "Ann Example"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
}

/// Users and groups are listed in natural order (user2 before user10), and those
/// stored before the sort key existed get theirs when the server starts.
#[engines]
async fn users_are_listed_in_natural_order_even_those_stored_before_it(engine: Engine) {
    let server = adc_e2e::server::TestServer::start(engine).await;
    let api = server.admin().await;
    for name in ["host10", "host9", "Host1", "host100"] {
        let (s, b) = api.post("/api/v1/users", json!({"username": name})).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    let names = |page: &serde_json::Value| -> Vec<String> {
        page["users"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["username"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, page) = api.get("/api/v1/users?q=host").await;
    assert_eq!(names(&page), ["Host1", "host9", "host10", "host100"]);
    assert_eq!(page["total"], 4, "{page}");
    // As a database from before migration 0018 holds them: no key.
    let db = adc_server::db::Db::connect(Some(&server.db.url))
        .await
        .unwrap();
    adc_e2e::sql::execute(&db, "UPDATE users SET sort_key = NULL")
        .await
        .unwrap();
    for name in ["team10", "team9"] {
        let (s, b) = api.post("/api/v1/groups", json!({"name": name})).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    adc_e2e::sql::execute(&db, "UPDATE groups SET sort_key = NULL")
        .await
        .unwrap();
    // A server starting on it fills them in before it serves.
    let again = adc_server::db::Db::connect(Some(&server.db.url))
        .await
        .unwrap();
    assert_eq!(
        adc_e2e::sql::execute(
            &again,
            "UPDATE users SET username = username WHERE sort_key IS NULL"
        )
        .await
        .unwrap(),
        0,
        "every user has its key"
    );
    let (_, page) = api.get("/api/v1/users?q=host").await;
    assert_eq!(names(&page), ["Host1", "host9", "host10", "host100"]);
    let (_, groups) = api.get("/api/v1/groups?q=team").await;
    let groups: Vec<&str> = groups["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(groups, ["team9", "team10"], "groups too");
}

/// A tenant grown large is searched through an index built after the sync that made it
/// large (PostgreSQL's trigram index, SQLite's FTS5 table); the answers are the same on
/// both engines for every kind of query — case, a field's middle, the join between two
/// fields, LIKE's wildcards, queries too short for a trigram, queries whose common ends
/// the index is not asked for — and stay right as users are added, changed and removed
/// after the index was built.
#[engines]
async fn a_grown_directory_is_searched_by_its_index_with_the_same_answers(engine: Engine) {
    let f = adc_e2e::sync::fixture_with(engine, &adc_e2e::sync::people(1100), "", None, |c| {
        c.search_index_min_rows = 200;
        c.search_index_check = std::time::Duration::from_millis(200);
    })
    .await;
    let db = adc_server::db::Db::connect(Some(&f.server.db.url))
        .await
        .unwrap();
    f.run(json!({})).await;
    for (name, description) in [("Zoë-Team", "Ünïcode Friends"), ("ops_50%", "a\\b")] {
        let (s, b) = f
            .api
            .post(
                "/api/v1/groups",
                json!({"name": name, "description": description}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    adc_e2e::eventually(
        std::time::Duration::from_secs(30),
        "the users' search index to be built",
        || async {
            adc_e2e::sql::index_ready(&db, Target::Users)
                .await
                .then_some(())
        },
    )
    .await;
    assert!(
        !adc_e2e::sql::index_ready(&db, Target::Groups).await,
        "two groups are below the threshold: no index to pay for"
    );
    for (query, expected) in [
        ("q=USER0011", 10),      // case, a username's middle
        ("q=0@", 110),           // across a username's characters
        ("q=n1%20s", 1),         // "Given1 Surname1": a display name's middle
        ("q=1%20surname", 110),  // "Given…1 Surname…1"
        ("q=mple.comgiven", 0),  // never across two fields
        ("q=EXAMPLE.COM", 1100), // an e-mail's end
        ("q=99", 20),            // two characters: no trigram, still found
        ("q=_", 0),              // a wildcard is a character
        ("q=%25", 0),
        ("q=%5C", 0),
        ("q=%01", 0), // the fields' separator is no character of theirs
        ("q=user00299%40example.com", 1),
        // Every name holds `user0`: PostgreSQL's index is asked for the rest of these,
        // and the whole query decides.
        ("q=user0029", 10),
        ("q=user01", 100),
        ("q=GIVEN1099%20s", 1),
    ] {
        assert_eq!(
            f.users(query).await.len(),
            expected,
            "{query} on {engine:?}"
        );
    }
    // The first page says how many match: a search's count stops at 1 000, a list's
    // goes on; a page that is not full is its own count.
    for (query, total, capped) in [
        ("q=example.com", 1000, true),
        ("q=user00", 1000, true),
        ("q=user001", 100, false),
        ("q=user0011", 10, false),
        ("", 1100, false),
    ] {
        let (s, page) = f.api.get(&format!("/api/v1/users?limit=50&{query}")).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        assert_eq!(
            (page["total"].as_i64(), page["total_capped"].as_bool()),
            (Some(total), Some(capped)),
            "{query} on {engine:?}"
        );
    }
    let f = &f;
    let group_names = |q: &'static str| async move {
        let found = f.groups(q).await;
        found
            .iter()
            .map(|g| g["name"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let same_group_answers = || async {
        assert_eq!(group_names("q=zoË-t").await, ["Zoë-Team"], "{engine:?}");
        assert_eq!(group_names("q=friends").await, ["Zoë-Team"], "{engine:?}");
        assert_eq!(group_names("q=_50%25").await, ["ops_50%"], "{engine:?}");
        assert_eq!(group_names("q=a%5Cb").await, ["ops_50%"], "{engine:?}");
        assert!(
            group_names("q=teamünï").await.is_empty(),
            "not across fields"
        );
    };
    same_group_answers().await;

    // Groups past the threshold get their index too, with the same answers.
    for i in 0..200 {
        let (s, b) = f
            .api
            .post(
                "/api/v1/groups",
                json!({"name": format!("squad-{i:03}"), "description": format!("Rota {i}")}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    adc_e2e::eventually(
        std::time::Duration::from_secs(30),
        "the groups' search index to be built",
        || async {
            adc_e2e::sql::index_ready(&db, Target::Groups)
                .await
                .then_some(())
        },
    )
    .await;
    same_group_answers().await;
    assert_eq!(group_names("q=SQUAD-1").await.len(), 100, "{engine:?}");
    assert_eq!(
        group_names("q=rota 7").await.len(),
        11, // 7, 70–79
        "{engine:?}"
    );
    assert_eq!(group_names("q=d-199").await, ["squad-199"], "{engine:?}");
    assert_eq!(
        group_names("q=ta 19").await.len(),
        11, // 19, 190–199
        "{engine:?}"
    );

    // Written after the index was built: found, changed by a sync, gone.
    let (s, late) = f
        .api
        .post(
            "/api/v1/users",
            json!({"username": "late.arrival", "email": "first@elsewhere.test"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{late}");
    let late_id = late["id"].as_str().unwrap();
    let names = |q: &'static str| async move {
        f.users(q)
            .await
            .iter()
            .map(|u| u["username"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(names("q=elsewhere").await, ["late.arrival"], "{engine:?}");
    f.slapd.set("user00005", "mail", "moved@faraway.test").await;
    let run = f.run(json!({})).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    // This directory's usernames are e-mail addresses.
    assert_eq!(
        names("q=faraway").await,
        ["moved@faraway.test"],
        "{engine:?}"
    );
    assert!(names("q=user00005%40").await.is_empty(), "{engine:?}");
    let (s, b) = f.api.delete(&format!("/api/v1/users/{late_id}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    assert!(names("q=elsewhere").await.is_empty(), "{engine:?}");
    assert!(names("q=late.arr").await.is_empty(), "{engine:?}");

    if let adc_server::db::Db::Sqlite(p) = &db {
        // The rows written since the index was built are searched beside it until the
        // next look brings them in; then the index alone finds them.
        adc_e2e::eventually(
            std::time::Duration::from_secs(30),
            "the written rows to be brought into the index",
            || async {
                let pending: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users_search_pending")
                    .fetch_one(p)
                    .await
                    .unwrap();
                (pending == 0).then_some(())
            },
        )
        .await;
        assert_eq!(names("q=faraway").await, ["moved@faraway.test"]);
        assert!(names("q=user00005%40").await.is_empty());
        assert!(names("q=elsewhere").await.is_empty());

        // The rows renumbered under the index, as a copy or a VACUUM may: the next look
        // finds the index naming other rows and builds it again.
        sqlx::query("UPDATE users SET rowid = rowid + 1000000")
            .execute(p)
            .await
            .unwrap();
        adc_e2e::eventually(
            std::time::Duration::from_secs(30),
            "the renumbered users to be found again",
            || async {
                // Between the old index's drop and the new one's making there is no
                // table at all: not yet.
                let rekeyed: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM users_search WHERE rowid > 1000000")
                        .fetch_one(p)
                        .await
                        .unwrap_or(0);
                (rekeyed >= 1100).then_some(())
            },
        )
        .await;
        assert_eq!(
            names("q=user00299%40example.com").await,
            ["user00299@example.com"]
        );
        assert_eq!(f.users("q=USER0011").await.len(), 10);

        // A trigger gone (as a migration that rebuilds the table drops them): the next
        // look builds the index again, and what is written after it is found.
        sqlx::query("DROP TRIGGER users_search_insert")
            .execute(p)
            .await
            .unwrap();
        adc_e2e::eventually(
            std::time::Duration::from_secs(30),
            "the index to be kept by its triggers again",
            || async {
                let kept: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = 'users_search_insert')",
                )
                .fetch_one(p)
                .await
                .unwrap();
                (kept && adc_e2e::sql::index_ready(&db, Target::Users).await).then_some(())
            },
        )
        .await;
        let (s, b) = f
            .api
            .post("/api/v1/users", json!({"username": "after.rebuild"}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        assert_eq!(names("q=after.reb").await, ["after.rebuild"]);
    }
}
