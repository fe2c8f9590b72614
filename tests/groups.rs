//! Groups and memberships end to end (architecture §5.5): a real slapd with
//! groupOfNames, groupOfUniqueNames and posixGroup, the real agent, both databases.

use adc_e2e::cut::CutRelay;
use adc_e2e::engine::Engine;
use adc_e2e::engines;
use adc_e2e::eventually;
use adc_e2e::slapd::{self, WITH_REFINT, group_dn, group_ldif, person_dn};
use adc_e2e::sync::{Fixture, GROUPS_SECTION, counts, fixture_from_ldif, people};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

/// `n` people and the groups of `groups` (LDIF), an agent that reads groups.
async fn with_groups(engine: Engine, n: usize, groups: &str) -> Fixture {
    let ldif = format!("{}{groups}", slapd::ldif(&people(n)));
    fixture_from_ldif(engine, &ldif, "", None, Some(GROUPS_SECTION), |_| {}).await
}

fn mail(i: usize) -> String {
    format!("user{i:05}@example.com")
}

fn uid(i: usize) -> String {
    format!("user{i:05}")
}

fn users(ids: &[usize]) -> Vec<String> {
    ids.iter().map(|&i| format!("user:{}", mail(i))).collect()
}

fn count(run: &Value, key: &str) -> u64 {
    counts(run, &[key])[0]
}

#[engines]
async fn three_kinds_of_groups_sync_with_members_nesting_and_a_cycle(engine: Engine) {
    let groups = [
        group_ldif(
            "groupOfNames",
            "devs",
            &[person_dn(&uid(0)), person_dn(&uid(1))],
        ),
        group_ldif(
            "groupOfUniqueNames",
            "ops",
            &[
                person_dn(&uid(2)),
                format!("{}#'0101'B", person_dn(&uid(3))),
            ],
        ),
        group_ldif("posixGroup", "posix", &[uid(4), uid(5).to_uppercase()]),
        group_ldif(
            "groupOfNames",
            "everyone",
            &[
                group_dn("devs"),
                group_dn("ops"),
                // Another spelling of a member's DN is the same member.
                person_dn(&uid(0)).to_uppercase().replace(',', ", "),
                "uid=ghost,ou=people,dc=example,dc=com".into(),
            ],
        ),
        // devs has a second parent.
        group_ldif("groupOfNames", "engineering", &[group_dn("devs")]),
        group_ldif("groupOfNames", "a", &[group_dn("b")]),
        group_ldif("groupOfNames", "b", &[group_dn("a")]),
    ]
    .concat();
    let f = with_groups(engine, 6, &groups).await;
    let run = f.run(json!({})).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(
        counts(
            &run,
            &[
                "groups_read",
                "groups_created",
                "members_added",
                "members_unresolved"
            ]
        ),
        [7, 7, 12, 1],
        "{run}"
    );
    assert_eq!(f.members("devs", false).await, users(&[0, 1]));
    assert_eq!(f.members("ops", false).await, users(&[2, 3]));
    assert_eq!(f.members("posix", false).await, users(&[4, 5]));
    let mut direct = f.members("everyone", false).await;
    direct.sort();
    assert_eq!(
        direct,
        ["group:devs", "group:ops", "user:user00000@example.com"]
    );
    let mut effective = f.members("everyone", true).await;
    effective.sort();
    let mut expected = users(&[0, 1, 2, 3]);
    expected.extend(["group:devs".to_owned(), "group:ops".to_owned()]);
    expected.sort();
    assert_eq!(effective, expected, "nested members count, each once");
    assert_eq!(f.groups_of(&mail(2), false).await, ["ops"]);
    assert_eq!(f.groups_of(&mail(2), true).await, ["everyone", "ops"]);
    assert_eq!(
        f.groups_of(&mail(0), true).await,
        ["devs", "engineering", "everyone"],
        "through both parents of devs, and directly"
    );
    let devs = f.group("devs").await["id"].as_str().unwrap().to_owned();
    let (_, detail) = f.api.get(&format!("/api/v1/groups/{devs}")).await;
    let parents: Vec<&str> = detail["member_of"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(parents, ["engineering", "everyone"], "{detail}");
    // A cycle is tolerated: the effective members end, and the report says it once.
    assert_eq!(f.members("a", true).await, ["group:b"]);
    let id = run["id"].as_str().unwrap();
    let warnings = f.changes(id, "subject=group&outcome=warning").await;
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(
        warnings[0]["outcome"],
        "warning: groups nested in a cycle: a → b → a"
    );
    let unresolved = f.changes(id, "outcome=unresolved").await;
    assert_eq!(unresolved.len(), 1, "{unresolved:?}");
    assert_eq!(
        (
            unresolved[0]["subject"].as_str(),
            unresolved[0]["group"].as_str(),
            unresolved[0]["username"].as_str()
        ),
        (
            Some("membership"),
            Some("everyone"),
            Some("uid=ghost,ou=people,dc=example,dc=com")
        )
    );
    let everyone = f.group("everyone").await;
    assert_eq!(everyone["member_count"], 3);
    assert_eq!(everyone["provider"], f.sync_id.as_str());

    // Nothing changed: nothing is sent again.
    let again = f.run(json!({})).await;
    assert_eq!(
        counts(
            &again,
            &[
                "groups_unchanged",
                "groups_updated",
                "members_added",
                "members_removed"
            ]
        ),
        [7, 0, 0, 0],
        "{again}"
    );
    let changed = f
        .changes(
            again["id"].as_str().unwrap(),
            "subject=membership&outcome=applied",
        )
        .await;
    assert!(changed.is_empty(), "{changed:?}");
}

/// More groups than one batch holds: the memberships of the groups read first are
/// written while later groups are still being read (the report lists them before the
/// last groups' creation), and nesting holds across batches — a parent read long after
/// its member group, and one read before it (whose members wait for the whole read).
#[engines]
async fn memberships_are_written_while_the_groups_are_still_read_and_nesting_spans_batches(
    engine: Engine,
) {
    let name = |i: usize| format!("g{i:04}");
    let groups: String = (0..1200)
        .map(|i| {
            let mut members = vec![person_dn(&uid(i % 30)), person_dn(&uid((i + 7) % 30))];
            match i {
                5 => members.push(group_dn(&name(1199))),
                1100 => members.push(group_dn(&name(10))),
                _ => {}
            }
            group_ldif("groupOfNames", &name(i), &members)
        })
        .collect();
    let f = with_groups(engine, 30, &groups).await;
    let run = f.run(json!({})).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(
        counts(
            &run,
            &["groups_created", "members_added", "members_unresolved"]
        ),
        [1200, 2402, 0],
        "{run}"
    );
    let mut g5 = f.members(&name(5), false).await;
    g5.sort();
    assert_eq!(
        g5,
        [
            "group:g1199",
            "user:user00005@example.com",
            "user:user00012@example.com"
        ]
    );
    assert!(
        f.members(&name(1100), false)
            .await
            .contains(&"group:g0010".to_owned()),
        "a parent in a later batch keeps its member group"
    );
    // user00017 is in g0010, and through it in g1100.
    let g1100 = name(1100);
    assert!(f.groups_of(&mail(17), true).await.contains(&g1100));
    assert!(!f.groups_of(&mail(17), false).await.contains(&g1100));
    // The report lists changes in the order they were applied.
    let changes = f.changes(run["id"].as_str().unwrap(), "").await;
    let position = |subject: &str, group: &str| {
        changes
            .iter()
            .position(|c| c["subject"] == subject && c["group"] == group)
            .unwrap_or_else(|| panic!("no {subject} change of {group}"))
    };
    assert!(
        position("membership", &name(0)) < position("group", &name(1199)),
        "the first group's members were added before the last group was created"
    );
    let again = f.run(json!({})).await;
    assert_eq!(
        counts(
            &again,
            &["groups_unchanged", "members_added", "members_removed"]
        ),
        [1200, 0, 0],
        "{again}"
    );
}

#[engines]
async fn a_renamed_member_stays_with_refint_and_a_stale_member_value_is_reported(engine: Engine) {
    let groups = group_ldif(
        "groupOfNames",
        "devs",
        &[person_dn(&uid(0)), person_dn(&uid(1))],
    );
    let mut f = with_groups(engine, 3, &groups).await;
    f.run(json!({})).await;

    // Without referential integrity the group still names the old DN: it resolves to
    // nobody now, so the member leaves the group and the value is reported.
    f.slapd.rename(&uid(0), "renamed0", None).await;
    let run = f.run(json!({})).await;
    assert_eq!(
        counts(&run, &["updated", "members_removed"]),
        [1, 1],
        "{run}"
    );
    assert_eq!(f.members("devs", false).await, users(&[1]));
    let unresolved = f
        .changes(run["id"].as_str().unwrap(), "outcome=unresolved")
        .await;
    assert_eq!(unresolved[0]["username"], person_dn(&uid(0)));

    // With it, the directory rewrites the member value: the same user stays a member.
    f.slapd.restart(WITH_REFINT);
    f.slapd.rename(&uid(1), "renamed1", Some("staff")).await;
    let run = f.run(json!({})).await;
    assert_eq!(
        counts(&run, &["updated", "members_added", "members_removed"]),
        [1, 0, 0],
        "{run}"
    );
    assert_eq!(f.members("devs", false).await, users(&[1]));
    let user = f.user(&mail(1)).await;
    assert!(
        user["source_dn"]
            .as_str()
            .unwrap()
            .starts_with("uid=renamed1,ou=staff"),
        "{user}"
    );
}

/// The names a run's change list holds, sorted, once it is checked to be in order and
/// each change an applied `operation` naming its user by ID and external ID.
fn applied_in_order<'a>(changes: &'a [Value], operation: &str) -> Vec<&'a str> {
    let seqs: Vec<i64> = changes.iter().map(|c| c["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "seqs in order");
    let mut named: Vec<&str> = changes
        .iter()
        .map(|c| {
            assert_eq!(c["operation"], operation, "{c}");
            assert_eq!(c["outcome"], "applied", "{c}");
            assert!(
                c["user_id"].is_string() && c["external_id"].is_string(),
                "{c}"
            );
            c["username"].as_str().unwrap()
        })
        .collect();
    named.sort_unstable();
    named
}

#[engines]
async fn one_member_in_and_one_out_of_a_group_of_5000_changes_exactly_those_two(engine: Engine) {
    let members: Vec<String> = (0..5000).map(|i| person_dn(&uid(i))).collect();
    let groups = group_ldif("groupOfNames", "big", &members);
    let f = with_groups(engine, 5001, &groups).await;
    let first = f.run(json!({})).await;
    assert_eq!(count(&first, "members_added"), 5000, "{first}");
    // The first run lists each of the 5 000 additions once, in order, across pages of
    // 200 (PostgreSQL stores them many to a row: pages end inside those rows).
    let first_id = first["id"].as_str().unwrap();
    let added = f.changes(first_id, "subject=membership").await;
    assert!(added.iter().all(|c| c["group"] == "big"), "{added:?}");
    let want: Vec<String> = (0..5000).map(mail).collect();
    assert_eq!(applied_in_order(&added, "add-member"), want);
    // So are the 5 001 users it created (PostgreSQL stores them many to a row too),
    // and one past the first stored row is found by a search of the list and by the
    // runs that touched it.
    let created = f.changes(first_id, "subject=user").await;
    let want: Vec<String> = (0..5001).map(mail).collect();
    assert_eq!(applied_in_order(&created, "create"), want);
    let late = mail(4999);
    let found = f.changes(first_id, "subject=user&q=user04999%40").await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["username"], late.as_str());
    let user = f.user(&late).await;
    assert_eq!(found[0]["user_id"], user["id"]);
    let (s, runs) = f
        .api
        .get(&format!(
            "/api/v1/users/{}/runs",
            user["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(s, StatusCode::OK, "{runs}");
    assert_eq!(runs[0]["id"], first["id"], "{runs}");
    let big = group_dn("big");
    f.slapd
        .change_values(&big, "member", &[person_dn(&uid(5000))], true)
        .await;
    f.slapd
        .change_values(&big, "member", &[person_dn(&uid(0))], false)
        .await;
    let run = f.run(json!({})).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let changes = f
        .changes(run["id"].as_str().unwrap(), "subject=membership")
        .await;
    let mut seen: Vec<(String, String, String)> = changes
        .iter()
        .map(|c| {
            (
                c["operation"].as_str().unwrap().to_owned(),
                c["username"].as_str().unwrap().to_owned(),
                c["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("add-member".to_owned(), mail(5000), "applied".to_owned()),
            ("remove-member".to_owned(), mail(0), "applied".to_owned()),
        ]
    );
    assert_eq!(f.group("big").await["member_count"], 5000);
    // The group's kept member list follows the run's own changes: the member who left
    // comes back when the directory lists it again.
    f.slapd
        .change_values(&big, "member", &[person_dn(&uid(0))], true)
        .await;
    let back = f.run(json!({})).await;
    assert_eq!(count(&back, "members_added"), 1, "{back}");
    assert_eq!(f.group("big").await["member_count"], 5001);
}

/// The manifest's member lists are kept with each group between runs: a change that
/// is not a run's (a member detached by an admin) must still show in the next run.
#[engines]
async fn a_member_detached_by_hand_is_no_longer_in_the_synchronization_s_member_list(
    engine: Engine,
) {
    let groups = group_ldif(
        "groupOfNames",
        "devs",
        &[person_dn(&uid(0)), person_dn(&uid(1))],
    );
    let f = with_groups(engine, 2, &groups).await;
    f.run(json!({})).await;
    // A no-change run keeps the lists; the next one reads them.
    let quiet = f.run(json!({})).await;
    assert_eq!(count(&quiet, "members_added"), 0, "{quiet}");
    let quiet = f.run(json!({})).await;
    assert_eq!(count(&quiet, "members_added"), 0, "{quiet}");
    assert_eq!(count(&quiet, "members_removed"), 0, "{quiet}");

    let detached = f.user(&mail(1)).await;
    let (s, b) = f
        .api
        .patch(
            &format!("/api/v1/users/{}", detached["id"].as_str().unwrap()),
            json!({"detach": true}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let run = f.run(json!({})).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    // The synchronization no longer owns the member, so the directory's membership is
    // news to it again, and it cannot store it: the member is not its user.
    let changes = f
        .changes(run["id"].as_str().unwrap(), "subject=membership")
        .await;
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert_eq!(
        changes[0]["external_id"], detached["external_id"],
        "{changes:?}"
    );
    assert!(
        changes[0]["outcome"]
            .as_str()
            .unwrap()
            .starts_with("skipped: the member is not stored"),
        "{changes:?}"
    );
    assert_eq!(f.members("devs", false).await, users(&[0, 1]));
}

#[engines]
async fn a_renamed_group_keeps_its_id_and_its_members(engine: Engine) {
    let groups = group_ldif("groupOfNames", "devs", &[person_dn(&uid(0))]);
    let f = with_groups(engine, 2, &groups).await;
    f.run(json!({})).await;
    let before = f.group("devs").await;
    f.slapd
        .rename_entry(&group_dn("devs"), "cn=developers")
        .await;
    let run = f.run(json!({})).await;
    assert_eq!(
        (
            count(&run, "groups_updated"),
            count(&run, "groups_created"),
            count(&run, "groups_deleted") + count(&run, "groups_disabled")
        ),
        (1, 0, 0),
        "{run}"
    );
    let after = f.group("developers").await;
    assert_eq!(after["id"], before["id"], "the same cloud group");
    assert_eq!(f.members("developers", false).await, users(&[0]));
}

#[engines]
async fn member_removals_beyond_the_guard_are_held_and_approval_applies_exactly_them(
    engine: Engine,
) {
    let members: Vec<String> = (0..10).map(|i| person_dn(&uid(i))).collect();
    let groups = group_ldif("groupOfNames", "team", &members);
    let f = with_groups(engine, 10, &groups).await;
    let path = format!("/api/v1/synchronizations/{}", f.sync_id);
    let (s, b) = f
        .api
        .patch(&path, json!({"deletion_guard": {"max_deletes": 3}}))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    f.run(json!({})).await;
    let gone: Vec<String> = (0..5).map(|i| person_dn(&uid(i))).collect();
    f.slapd
        .change_values(&group_dn("team"), "member", &gone, false)
        .await;
    let run = f.run(json!({})).await;
    let id = run["id"].as_str().unwrap().to_owned();
    assert_eq!(run["status"], "held", "{run}");
    assert_eq!(count(&run, "held"), 5);
    let held = f.changes(&id, "outcome=held").await;
    let mut names: Vec<String> = held
        .iter()
        .map(|c| {
            assert_eq!(c["operation"], "remove-member");
            assert_eq!(c["group"], "team");
            c["username"].as_str().unwrap().to_owned()
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        (0..5).map(mail).collect::<Vec<_>>(),
        "exactly the held list"
    );
    assert_eq!(
        f.members("team", false).await.len(),
        10,
        "nothing removed yet"
    );
    let (s, approved) = f
        .api
        .post(&format!("/api/v1/runs/{id}/approve"), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{approved}");
    assert_eq!(f.members("team", false).await, users(&[5, 6, 7, 8, 9]));
    let (_, run) = f.api.get(&format!("/api/v1/runs/{id}")).await;
    assert_eq!(counts(&run, &["members_removed", "held"]), [5, 0], "{run}");

    // A group losing more than the guard's share of its members is held too, however
    // few they are.
    let (s, b) = f
        .api
        .patch(
            &path,
            json!({"deletion_guard": {"max_deletes": null, "max_percent": 20, "min_users_for_percent": 5}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    f.slapd
        .change_values(
            &group_dn("team"),
            "member",
            &[person_dn(&uid(5)), person_dn(&uid(6))],
            false,
        )
        .await;
    let run = f.run(json!({})).await;
    assert_eq!(
        (run["status"].as_str(), count(&run, "held")),
        (Some("held"), 2),
        "{run}"
    );
    assert_eq!(f.members("team", false).await.len(), 5);
}

#[engines]
async fn a_read_cut_during_the_groups_removes_no_group_and_no_membership(engine: Engine) {
    // Many member values that name nobody make the group answers most of the bytes,
    // so a cut half-way through the bytes of a whole read falls among the groups.
    let mut members: Vec<String> = (0..3).map(|i| person_dn(&uid(i))).collect();
    members.extend((0..3000).map(|i| format!("uid=outside{i},ou=elsewhere,dc=example,dc=com")));
    let groups = [
        group_ldif("groupOfNames", "aaa", &[person_dn(&uid(0))]),
        group_ldif("groupOfNames", "team", &members),
    ]
    .concat();
    let mut f = with_groups(engine, 3, &groups).await;
    let relay = CutRelay::start(([127, 0, 0, 1], f.slapd.port).into()).await;
    let yaml = f
        .slapd
        .adc_yaml("")
        .replace(&f.slapd.url, &format!("ldap://{}", relay.addr))
        .replace(
            "    authentication:\n",
            &format!("{GROUPS_SECTION}    authentication:\n"),
        );
    std::fs::write(&f.agent.config_path, yaml).unwrap();
    f.agent.reload().await;
    f.agent
        .wait_for("the new adc.yaml", |s| (s.reloads >= 1).then_some(()))
        .await;
    f.patch_settings(json!({"delete-disables": false})).await;
    let first = f.run(json!({})).await;
    assert_eq!(count(&first, "groups_created"), 2, "{first}");
    let whole = relay.passed();

    f.slapd.delete_entry(&group_dn("aaa")).await;
    f.slapd
        .change_values(&group_dn("team"), "member", &[person_dn(&uid(0))], false)
        .await;
    relay.cut_after((whole / 2) as i64);
    let run = f.run(json!({})).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert!(
        run["error"]
            .as_str()
            .unwrap()
            .contains("group read ended early"),
        "{run}"
    );
    assert_eq!(f.groups("").await.len(), 2, "no group deleted");
    assert_eq!(
        f.members("team", false).await,
        users(&[0, 1, 2]),
        "no member removed"
    );

    relay.cut_after(-1);
    let run = f.run(json!({})).await;
    assert_eq!(
        (
            run["status"].as_str(),
            count(&run, "groups_deleted"),
            count(&run, "members_removed")
        ),
        (Some("succeeded"), 1, 1),
        "{run}"
    );
    assert_eq!(f.members("team", false).await, users(&[1, 2]));
}

#[engines]
async fn a_dry_run_reports_every_group_change_and_a_manual_group_is_left_alone_or_taken_over(
    engine: Engine,
) {
    let groups = [
        group_ldif(
            "groupOfNames",
            "devs",
            &[person_dn(&uid(0)), person_dn(&uid(1))],
        ),
        group_ldif("groupOfNames", "admins", &[person_dn(&uid(1))]),
    ]
    .concat();
    let f = with_groups(engine, 2, &groups).await;
    let (s, manual) = f
        .api
        .post(
            "/api/v1/groups",
            json!({"name": "Admins", "description": "by hand"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{manual}");

    let dry = f.run(json!({"dry_run": true})).await;
    assert_eq!(
        counts(&dry, &["groups_created", "members_added", "conflicts"]),
        [1, 2, 1],
        "{dry}"
    );
    let planned = f
        .changes(
            dry["id"].as_str().unwrap(),
            "subject=membership&outcome=planned",
        )
        .await;
    let mut rows: Vec<(String, String)> = planned
        .iter()
        .map(|c| {
            (
                c["group"].as_str().unwrap().to_owned(),
                c["operation"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        [
            ("devs".to_owned(), "add-member".to_owned()),
            ("devs".to_owned(), "add-member".to_owned())
        ]
    );
    assert_eq!(f.groups("").await.len(), 1, "a dry run stores nothing");

    let run = f.run(json!({})).await;
    let conflict = f
        .changes(
            run["id"].as_str().unwrap(),
            "subject=group&outcome=conflict",
        )
        .await;
    assert_eq!(conflict[0]["username"], "admins");
    assert_eq!(conflict[0]["outcome"], "conflict: provider mismatch");
    assert_eq!(f.group("Admins").await["provider"], "manual", "left alone");

    f.patch_settings(json!({"no-update-provider-mismatch": false}))
        .await;
    f.run(json!({})).await;
    let taken = f.group("admins").await;
    assert_eq!(taken["id"], manual["id"], "the same group, taken over");
    assert_eq!(taken["provider"], f.sync_id.as_str());
    assert_eq!(f.members("admins", false).await, users(&[1]));
}

#[engines]
async fn manual_groups_are_managed_by_hand_and_synced_ones_are_read_only(engine: Engine) {
    let groups = group_ldif("groupOfNames", "devs", &[person_dn(&uid(0))]);
    let f = with_groups(engine, 2, &groups).await;
    f.run(json!({})).await;
    let devs = f.group("devs").await["id"].as_str().unwrap().to_owned();
    let user1 = f.user(&mail(1)).await["id"].as_str().unwrap().to_owned();
    let (s, b) = f
        .api
        .put(&format!("/api/v1/groups/{devs}/members/{user1}"), json!({}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("synchronization"),
        "{b}"
    );

    let (s, club) = f.api.post("/api/v1/groups", json!({"name": "club"})).await;
    assert_eq!(s, StatusCode::CREATED, "{club}");
    let club = club["id"].as_str().unwrap().to_owned();
    for member in [&user1, &devs] {
        let (s, b) = f
            .api
            .put(
                &format!("/api/v1/groups/{club}/members/{member}"),
                json!({}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    let mut effective = f.members("club", true).await;
    effective.sort();
    assert_eq!(
        effective,
        [
            "group:devs",
            "user:user00000@example.com",
            "user:user00001@example.com"
        ]
    );
    assert_eq!(f.groups_of(&mail(0), true).await, ["club", "devs"]);
    let (s, _) = f.api.post("/api/v1/groups", json!({"name": "CLUB"})).await;
    assert_eq!(
        s,
        StatusCode::CONFLICT,
        "names are unique, whatever their case"
    );
    let (s, _) = f
        .api
        .delete(&format!("/api/v1/groups/{club}/members/{user1}"))
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = f.api.delete(&format!("/api/v1/groups/{devs}")).await;
    assert_eq!(
        s,
        StatusCode::CONFLICT,
        "a synced group is not deleted by hand"
    );
    let (s, _) = f.api.delete(&format!("/api/v1/groups/{club}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(f.groups_of(&mail(0), true).await, ["devs"]);
}

/// The synchronization's agent replaced by a client of protocol 2 that sends what a test
/// tells it to, once it alone is connected.
async fn rogue_agent(f: &mut Fixture) -> adc_e2e::raw::RawAgent {
    f.agent.kill();
    let rogue = adc_e2e::raw::RawAgent::connect_speaking(
        &f.server.agent_addr(),
        &f.sync_id,
        &f.secret,
        json!({}),
        2,
    )
    .await;
    eventually(
        Duration::from_secs(10),
        "only the rogue agent connected",
        || async { (f.api.agents(&f.sync_id).await.len() == 1).then_some(()) },
    )
    .await;
    rogue
}

/// An agent that sends a membership twice — of a group it created in this run, within
/// one message and again in the next, and one the group already has — gets it stored and
/// counted once, and the run succeeds.
#[engines]
async fn a_membership_sent_twice_is_added_once(engine: Engine) {
    let groups = group_ldif("groupOfNames", "devs", &[person_dn(&uid(0))]);
    let mut f = with_groups(engine, 2, &groups).await;
    f.run(json!({})).await;
    let mut rogue = rogue_agent(&mut f).await;
    let devs = f.group("devs").await["external_id"].clone();
    let first = f.user(&mail(0)).await["external_id"].clone();
    let second = f.user(&mail(1)).await["external_id"].clone();
    let run_id = f.start(json!({})).await;
    rogue.recv_type("start_run").await;
    rogue
        .send(json!({"type": "manifest_request", "run_id": run_id}))
        .await;
    rogue.recv_type("group_manifest_chunk").await;
    let newbies = "6f1d3c52-1b4e-4c55-9a53-0d2b8e1f7a10";
    rogue
        .send(
            json!({"type": "group_batch", "run_id": run_id, "seq": 1, "groups": [{
                "external_id": newbies,
                "name": "newbies",
                "source_dn": "cn=newbies,ou=groups,dc=example,dc=com",
            }]}),
        )
        .await;
    rogue
        .send(
            json!({"type": "members_added", "run_id": run_id, "seq": 2, "added": [
                {"group": newbies, "users": [second, second]},
                {"group": devs, "users": [first]},
            ]}),
        )
        .await;
    rogue
        .send(
            json!({"type": "members_added", "run_id": run_id, "seq": 3, "added": [
                {"group": newbies, "users": [second]},
            ]}),
        )
        .await;
    rogue
        .send(json!({"type": "read_complete", "run_id": run_id, "read": 2, "groups_read": 2}))
        .await;
    rogue.send(json!({"type": "done", "run_id": run_id})).await;
    let finished = rogue.recv_type("run_finished").await;
    assert_eq!(finished["report"]["status"], "succeeded", "{finished}");
    let c = &finished["report"]["counts"];
    assert_eq!(
        (c["groups_created"].as_u64(), c["members_added"].as_u64()),
        (Some(1), Some(1)),
        "{finished}"
    );
    assert_eq!(f.members("newbies", false).await, users(&[1]));
    assert_eq!(f.members("devs", false).await, users(&[0]));
    let added = f.changes(&run_id, "subject=membership").await;
    assert_eq!(added.len(), 1, "{added:?}");
}

#[engines]
async fn an_agent_that_ignores_the_settings_cannot_remove_groups_or_members(engine: Engine) {
    let groups = [
        group_ldif(
            "groupOfNames",
            "devs",
            &[person_dn(&uid(0)), person_dn(&uid(1))],
        ),
        group_ldif("groupOfNames", "ops", &[person_dn(&uid(1))]),
    ]
    .concat();
    let mut f = with_groups(engine, 2, &groups).await;
    f.run(json!({})).await;
    f.patch_settings(json!({"no-delete": true})).await;
    let mut rogue = rogue_agent(&mut f).await;
    let run_id = f.start(json!({})).await;
    rogue.recv_type("start_run").await;
    rogue
        .send(json!({"type": "manifest_request", "run_id": run_id}))
        .await;
    let manifest = rogue.recv_type("group_manifest_chunk").await;
    let states = manifest["groups"].as_array().unwrap();
    assert_eq!(states.len(), 2, "{manifest}");
    let ids: Vec<Value> = states.iter().map(|g| g["external_id"].clone()).collect();
    let edges: Vec<Value> = states
        .iter()
        .map(|g| json!({"group": g["external_id"], "users": g["users"]}))
        .collect();
    let count_edges: usize = states
        .iter()
        .map(|g| g["users"].as_array().unwrap().len())
        .sum();
    assert_eq!(count_edges, 3);
    rogue
        .send(json!({"type": "read_complete", "run_id": run_id, "read": 2, "groups_read": 0}))
        .await;
    // Every membership removed, and one group (whose own removals its deletion covers).
    let ops = f.group("ops").await["external_id"].clone();
    rogue
        .send(json!({"type": "group_deletions", "run_id": run_id, "seq": 1, "external_ids": [ops]}))
        .await;
    rogue
        .send(json!({"type": "members_removed", "run_id": run_id, "seq": 2, "removed": edges}))
        .await;
    rogue.send(json!({"type": "done", "run_id": run_id})).await;
    let finished = rogue.recv_type("run_finished").await;
    assert_eq!(finished["report"]["status"], "succeeded", "{finished}");
    let c = &finished["report"]["counts"];
    assert_eq!(
        (
            c["groups_deleted"].as_u64(),
            c["groups_disabled"].as_u64(),
            c["members_removed"].as_u64(),
            c["skipped"].as_u64()
        ),
        (Some(0), Some(0), Some(0), Some(3)),
        "{finished}"
    );
    assert_eq!(f.members("devs", false).await, users(&[0, 1]));
    assert_eq!(f.members("ops", false).await, users(&[1]));

    // Group deletions without a complete read of the groups fail the run.
    f.patch_settings(json!({"no-delete": null})).await;
    let run_id = f.start(json!({})).await;
    rogue.recv_type("start_run").await;
    rogue
        .send(json!({"type": "read_complete", "run_id": run_id, "read": 2}))
        .await;
    rogue
        .send(json!({"type": "group_deletions", "run_id": run_id, "seq": 1, "external_ids": [ids[0]]}))
        .await;
    let finished = rogue.recv_type("run_finished").await;
    assert_eq!(finished["report"]["status"], "failed");
    assert!(
        finished["report"]["error"]
            .as_str()
            .unwrap()
            .contains("without a complete read of the groups"),
        "{finished}"
    );
    assert_eq!(f.groups("").await.len(), 2);
    assert_eq!(f.members("devs", false).await, users(&[0, 1]));
}

#[engines]
async fn a_pass_through_answer_names_the_user_s_effective_groups(engine: Engine) {
    let people: Vec<slapd::Person> = (0..2)
        .map(|i| slapd::Person {
            password: Some(format!("pw-{i}-secret")),
            ..slapd::Person::numbered(i)
        })
        .collect();
    let groups = [
        group_ldif("groupOfNames", "devs", &[person_dn(&uid(1))]),
        group_ldif(
            "groupOfNames",
            "everyone",
            &[group_dn("devs"), person_dn(&uid(0))],
        ),
    ]
    .concat();
    let ldif = format!("{}{groups}", slapd::ldif(&people));
    let f = fixture_from_ldif(engine, &ldif, "", None, Some(GROUPS_SECTION), |_| {}).await;
    f.run(json!({})).await;
    let (s, t) = f
        .api
        .post(
            "/api/v1/tokens",
            json!({"name": "cloud", "role": "viewer", "can_authenticate": true}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    let api = f.api.with_token(t["secret"].as_str().unwrap());
    let (s, ok) = api
        .post(
            "/api/v1/authenticate",
            json!({"username": mail(1), "password": "pw-1-secret"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{ok}");
    let names: Vec<&str> = ok["user"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["devs", "everyone"], "{ok}");
}

#[engines]
async fn a_group_that_leaves_is_kept_but_no_longer_counts_and_the_settings_govern_groups(
    engine: Engine,
) {
    let groups = [
        group_ldif("groupOfNames", "devs", &[person_dn(&uid(0))]),
        group_ldif("groupOfNames", "all", &[group_dn("devs")]),
    ]
    .concat();
    let ldif = format!("{}{groups}", slapd::ldif(&people(3)));
    let section = "    groups:\n      base_dn: ou=groups,dc=example,dc=com\n      filter: (&(objectClass=groupOfNames)(!(description=retired)))\n";
    let f = fixture_from_ldif(engine, &ldif, "", None, Some(section), |_| {}).await;
    f.run(json!({})).await;
    assert_eq!(f.groups_of(&mail(0), true).await, ["all", "devs"]);
    let devs = f.group("devs").await;

    // delete-disables (the default): a group that leaves the source stays, with its
    // members, marked; it no longer counts in anyone's effective groups.
    let retired = ["retired".to_owned()];
    f.slapd
        .change_values(&group_dn("devs"), "description", &retired, true)
        .await;
    let run = f.run(json!({})).await;
    assert_eq!(count(&run, "groups_disabled"), 1, "{run}");
    assert_eq!(f.group("devs").await["removed_from_source"], true);
    assert_eq!(
        f.groups_of(&mail(0), false).await,
        ["devs"],
        "still a direct member"
    );
    assert!(
        f.groups_of(&mail(0), true).await.is_empty(),
        "but it counts for nothing"
    );

    // no-create: a new group is not made; no-update: a known group's new member waits.
    f.patch_settings(json!({"no-create": true, "no-update": true}))
        .await;
    f.slapd
        .add_entry(
            &group_dn("newcomers"),
            &[
                ("objectClass", vec!["groupOfNames".into()]),
                ("cn", vec!["newcomers".into()]),
                ("member", vec![person_dn(&uid(1))]),
            ],
        )
        .await;
    f.slapd
        .change_values(&group_dn("all"), "member", &[person_dn(&uid(2))], true)
        .await;
    let run = f.run(json!({})).await;
    assert_eq!(
        counts(&run, &["groups_created", "members_added"]),
        [0, 0],
        "{run}"
    );
    let skipped = f
        .changes(run["id"].as_str().unwrap(), "outcome=skipped")
        .await;
    let said: Vec<(String, String)> = skipped
        .iter()
        .map(|c| {
            (
                c["subject"].as_str().unwrap().to_owned(),
                c["outcome"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        said.contains(&("group".into(), "skipped: no-create".into())),
        "{said:?}"
    );
    assert!(
        said.contains(&("membership".into(), "skipped: no-update".into())),
        "{said:?}"
    );
    assert_eq!(f.groups("").await.len(), 2);

    // Back in the source: the same group, enabled, counting again.
    f.patch_settings(json!({"no-create": null, "no-update": null}))
        .await;
    f.slapd
        .change_values(&group_dn("devs"), "description", &retired, false)
        .await;
    let run = f.run(json!({})).await;
    let enabled = f
        .changes(
            run["id"].as_str().unwrap(),
            "subject=group&operation=enable",
        )
        .await;
    assert_eq!(enabled.len(), 1, "{enabled:?}");
    let back = f.group("devs").await;
    assert_eq!(back["id"], devs["id"], "the same cloud group");
    assert_eq!(back["removed_from_source"], false);
    assert_eq!(f.groups_of(&mail(0), true).await, ["all", "devs"]);
}
