//! Delta reads (issue 17): a re-sync reads only what changed since the last run, from
//! a watermark the server keeps; deletions only where the directory proves them; a full
//! read when the watermark cannot be used. Real slapd with syncprov, the real agent,
//! both engines.

use adc_e2e::agent::{AgentSetup, TestAgent};
use adc_e2e::engine::Engine;
use adc_e2e::engines;
use adc_e2e::slapd::{self, Person, Slapd, group_dn, group_ldif, person_dn};
use adc_e2e::sync::{Fixture, GROUPS_SECTION, counts, fixture_on, people};
use base64::Engine as _;
use serde_json::{Value, json};

async fn with_syncprov(engine: Engine, n: usize, sessionlog: bool) -> Fixture {
    let slapd = Slapd::start_syncprov(&slapd::ldif(&people(n)), sessionlog);
    fixture_on(engine, slapd, "", None, None, |_| {}).await
}

fn read_of(run: &Value) -> (&str, &str) {
    (
        run["read_kind"].as_str().unwrap_or("?"),
        run["read_reason"].as_str().unwrap_or(""),
    )
}

#[engines]
async fn a_re_sync_reads_only_the_entries_added_changed_renamed_or_deleted(engine: Engine) {
    let f = with_syncprov(engine, 30, true).await;
    let first = f.run(json!({})).await;
    assert_eq!(first["status"], "succeeded", "{first}");
    let (kind, why) = read_of(&first);
    assert_eq!(kind, "full", "{first}");
    assert!(why.contains("no watermark"), "{first}");
    assert_eq!(counts(&first, &["read", "created"]), [30, 30]);

    // Nothing changed: nothing is read.
    let quiet = f.run(json!({})).await;
    assert_eq!(quiet["status"], "succeeded", "{quiet}");
    assert_eq!(read_of(&quiet), ("delta", ""), "{quiet}");
    assert_eq!(
        counts(&quiet, &["read", "created", "updated", "disabled"]),
        [0, 0, 0, 0],
        "{quiet}"
    );

    let renamed_id = f.user("user00001@example.com").await["id"].clone();
    f.slapd.add(&Person::numbered(100)).await;
    f.slapd.set("user00002", "sn", "Changed").await;
    f.slapd.rename("user00001", "renamed", Some("staff")).await;
    f.slapd.delete("user00003", "people").await;

    let delta = f.run(json!({})).await;
    assert_eq!(delta["status"], "succeeded", "{delta}");
    assert_eq!(read_of(&delta), ("delta", ""), "{delta}");
    // Three entries read of 31: the added, the changed and the renamed; the deleted one
    // came as its UUID alone.
    assert_eq!(
        counts(&delta, &["read", "created", "updated", "disabled"]),
        [3, 1, 2, 1],
        "{delta}"
    );
    assert_eq!(f.user("user00100@example.com").await["enabled"], true);
    assert_eq!(f.user("user00002@example.com").await["surname"], "Changed");
    let renamed = f.user("user00001@example.com").await;
    assert_eq!(renamed["id"], renamed_id, "the same cloud user");
    assert_eq!(
        renamed["source_dn"],
        "uid=renamed,ou=staff,dc=example,dc=com"
    );
    assert_eq!(f.user("user00003@example.com").await["enabled"], false);
    let ops: Vec<String> = f
        .changes(delta["id"].as_str().unwrap(), "")
        .await
        .iter()
        .map(|c| format!("{} {}", c["operation"], c["username"]))
        .collect();
    assert_eq!(ops.len(), 4, "{ops:?}");
}

#[engines]
async fn a_deletion_the_delta_read_cannot_prove_waits_for_the_next_full_read(engine: Engine) {
    // Without a session log, syncprov answers with a present phase: an entry it does
    // not mention may be gone, or not; only a full read can tell.
    let f = with_syncprov(engine, 20, false).await;
    f.run(json!({})).await;
    f.slapd.delete("user00004", "people").await;
    f.slapd.set("user00005", "sn", "Still here").await;

    let delta = f.run(json!({})).await;
    assert_eq!(delta["status"], "succeeded", "{delta}");
    let (kind, why) = read_of(&delta);
    assert_eq!(kind, "delta", "{delta}");
    assert!(
        why.contains("deletions wait for the next full read"),
        "{delta}"
    );
    assert_eq!(
        counts(&delta, &["read", "updated", "disabled", "deleted"]),
        [1, 1, 0, 0],
        "{delta}"
    );
    assert_eq!(f.user("user00004@example.com").await["enabled"], true);

    // The schedule makes every run a full read now: it finds the deletion.
    f.patch_sync(json!({"full_read_hours": 0})).await;
    let full = f.run(json!({})).await;
    let (kind, why) = read_of(&full);
    assert_eq!(kind, "full", "{full}");
    assert!(why.contains("full_read_hours is 0"), "{full}");
    assert_eq!(counts(&full, &["read", "disabled"]), [19, 1], "{full}");
    assert_eq!(f.user("user00004@example.com").await["enabled"], false);
}

#[engines]
async fn a_changed_filter_or_a_directory_without_syncprov_reads_in_full(engine: Engine) {
    let mut f = with_syncprov(engine, 10, true).await;
    f.run(json!({})).await;

    // adc.yaml's filter changes: the watermark was for another set of entries.
    let yaml = std::fs::read_to_string(&f.agent.config_path).unwrap();
    let narrowed = yaml.replace(
        "filter: (objectClass=inetOrgPerson)",
        "filter: (&(objectClass=inetOrgPerson)(!(uid=user00009)))",
    );
    std::fs::write(&f.agent.config_path, narrowed).unwrap();
    f.agent.reload().await;
    f.agent
        .wait_for("the reload", |s| (s.reloads == 1).then_some(()))
        .await;
    let run = f.run(json!({})).await;
    let (kind, why) = read_of(&run);
    assert_eq!(kind, "full", "{run}");
    assert!(why.contains("filter"), "{run}");
    assert_eq!(counts(&run, &["read", "disabled"]), [9, 1], "{run}");
    assert_eq!(read_of(&f.run(json!({})).await).0, "delta");

    // The directory loses syncprov: it refuses the delta read, the run reads in full,
    // and the next one too (no watermark).
    f.slapd.overlay = String::new();
    f.slapd.restart(slapd::UNLIMITED);
    f.slapd.set("user00002", "sn", "Changed").await;
    let run = f.run(json!({})).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let (kind, why) = read_of(&run);
    assert_eq!(kind, "full", "{run}");
    assert!(
        why.contains("no longer offers content synchronization"),
        "{run}"
    );
    assert_eq!(counts(&run, &["read", "updated"]), [9, 1], "{run}");
    let next = f.run(json!({})).await;
    let (kind, why) = read_of(&next);
    assert_eq!(kind, "full", "{next}");
    assert!(why.contains("no watermark"), "{next}");
}

#[engines]
async fn the_watermark_moves_only_when_a_run_applies_what_it_read(engine: Engine) {
    let mut f = with_syncprov(engine, 10, true).await;
    f.run(json!({})).await;
    f.slapd.set("user00002", "sn", "Changed").await;

    // A dry run applies nothing: the next run reads the change again.
    let dry = f.run(json!({"dry_run": true})).await;
    assert_eq!(read_of(&dry).0, "delta", "{dry}");
    assert_eq!(counts(&dry, &["read", "updated"]), [1, 1], "{dry}");
    assert_eq!(f.user("user00002@example.com").await["surname"], "Surname2");

    // Held deletions (the guard allows none): not applied, so read again next time.
    f.patch_guard(json!({"max_deletes": 0})).await;
    f.slapd.delete("user00007", "people").await;
    let held = f.run(json!({})).await;
    assert_eq!(held["status"], "held", "{held}");
    assert_eq!(counts(&held, &["read", "updated", "held"]), [1, 1, 1]);
    let again = f.run(json!({})).await;
    assert_eq!(again["status"], "held", "{again}");
    assert_eq!(read_of(&again).0, "delta");
    assert_eq!(counts(&again, &["read", "held"]), [1, 1], "{again}");

    f.patch_guard(json!({"max_deletes": null})).await;
    let applied = f.run(json!({})).await;
    assert_eq!(applied["status"], "succeeded", "{applied}");
    assert_eq!(read_of(&applied).0, "delta", "{applied}");
    assert_eq!(counts(&applied, &["read", "disabled"]), [1, 1], "{applied}");
    let quiet = f.run(json!({})).await;
    assert_eq!(counts(&quiet, &["read", "disabled"]), [0, 0], "{quiet}");

    // A failed run (the directory is down) applies nothing either: the change made
    // before it is read by the next run. (slapd's session log starts afresh with the
    // restart, so that run's deletions wait for a full read: nothing was deleted.)
    // The directory is shut down, not killed: killed, slapd loses the contextCSN it
    // had not written yet and serves no change older than its last checkpoint.
    f.slapd.set("user00003", "sn", "Changed").await;
    f.slapd.shut_down();
    let failed = f.run(json!({})).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    f.slapd.restart(slapd::UNLIMITED);
    let after = f.run(json!({})).await;
    assert_eq!(read_of(&after).0, "delta", "{after}");
    assert_eq!(counts(&after, &["read", "updated"]), [1, 1], "{after}");
    assert_eq!(f.user("user00003@example.com").await["surname"], "Changed");
}

#[engines]
async fn a_second_agent_of_the_synchronization_continues_from_the_same_watermark(engine: Engine) {
    let mut f = with_syncprov(engine, 12, true).await;
    f.run(json!({})).await;
    let yaml = std::fs::read_to_string(&f.agent.config_path).unwrap();
    f.agent.kill();
    let mut other = TestAgent::start(AgentSetup {
        addr: f.server.agent_addr(),
        client_id: f.sync_id.clone(),
        secret: f.secret.clone(),
        yaml,
        extra_ca: None,
    });
    other.connected().await;
    f.slapd.set("user00006", "sn", "Changed").await;
    let run = f.run(json!({})).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(read_of(&run), ("delta", ""), "{run}");
    assert_eq!(counts(&run, &["read", "updated"]), [1, 1], "{run}");
}

#[engines]
async fn a_directory_restored_from_a_backup_is_read_in_full(engine: Engine) {
    let mut f = with_syncprov(engine, 15, true).await;
    f.run(json!({})).await;
    let backup = f.slapd.backup();
    f.slapd.set("user00002", "sn", "Changed").await;
    f.slapd.add(&Person::numbered(50)).await;
    let delta = f.run(json!({})).await;
    assert_eq!(read_of(&delta).0, "delta", "{delta}");
    assert_eq!(counts(&delta, &["read", "created"]), [2, 1], "{delta}");

    // The directory goes back to before those changes: the watermark is from its
    // future, so it cannot say what changed since.
    f.slapd.restore(&backup);
    let run = f.run(json!({})).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let (kind, why) = read_of(&run);
    assert_eq!(kind, "full", "{run}");
    // slapd says unwillingToPerform: the consumer's state is newer than its own.
    assert!(
        why.contains("refused to continue from the watermark") && why.contains("result code 53"),
        "{run}"
    );
    assert_eq!(
        counts(&run, &["read", "updated", "disabled"]),
        [15, 1, 1],
        "{run}"
    );
}

#[engines]
async fn only_the_groups_that_changed_are_read_and_only_their_changed_members_travel(
    engine: Engine,
) {
    let uid = |i: usize| format!("user{i:05}");
    let user = |i: usize| format!("user:user{i:05}@example.com");
    let groups = [
        group_ldif(
            "groupOfNames",
            "devs",
            &[person_dn(&uid(0)), person_dn(&uid(1))],
        ),
        group_ldif(
            "groupOfUniqueNames",
            "ops",
            &[person_dn(&uid(2)), person_dn(&uid(3))],
        ),
        group_ldif("posixGroup", "posix", &[uid(4), uid(5)]),
        group_ldif(
            "groupOfNames",
            "everyone",
            &[group_dn("devs"), person_dn(&uid(6))],
        ),
        group_ldif("groupOfNames", "quiet", &[person_dn(&uid(7))]),
    ]
    .concat();
    let ldif = format!("{}{groups}", slapd::ldif(&people(10)));
    let slapd = Slapd::start_syncprov(&ldif, true);
    let f = fixture_on(engine, slapd, "", None, Some(GROUPS_SECTION), |_| {}).await;
    let first = f.run(json!({})).await;
    assert_eq!(read_of(&first).0, "full", "{first}");
    assert_eq!(
        counts(&first, &["groups_read", "groups_created", "members_added"]),
        [5, 5, 9],
        "{first}"
    );
    let quiet = f.run(json!({})).await;
    assert_eq!(read_of(&quiet), ("delta", ""), "{quiet}");
    assert_eq!(
        counts(
            &quiet,
            &["read", "groups_read", "members_added", "members_removed"]
        ),
        [0, 0, 0, 0],
        "{quiet}"
    );

    // A member in, a member out, a uid in, a new group with a user and a nested group,
    // a group deleted; and a member renamed without referential integrity: devs still
    // names the old DN, which names nobody now.
    f.slapd.rename(&uid(1), "renamed1", None).await;
    f.slapd
        .change_values(&group_dn("devs"), "member", &[person_dn(&uid(8))], true)
        .await;
    f.slapd
        .change_values(
            &group_dn("ops"),
            "uniqueMember",
            &[person_dn(&uid(3))],
            false,
        )
        .await;
    f.slapd
        .change_values(&group_dn("posix"), "memberUid", &[uid(9)], true)
        .await;
    f.slapd
        .add_entry(
            &group_dn("newbies"),
            &[
                ("objectClass", vec!["groupOfNames".into()]),
                ("cn", vec!["newbies".into()]),
                ("member", vec![person_dn(&uid(9)), group_dn("devs")]),
            ],
        )
        .await;
    f.slapd.delete_entry(&group_dn("quiet")).await;

    let delta = f.run(json!({})).await;
    assert_eq!(delta["status"], "succeeded", "{delta}");
    assert_eq!(read_of(&delta), ("delta", ""), "{delta}");
    // Read: the renamed user, and the four groups that changed (quiet came as its UUID).
    assert_eq!(
        counts(
            &delta,
            &[
                "read",
                "groups_read",
                "groups_created",
                "members_added",
                "members_removed",
                "members_unresolved"
            ]
        ),
        [1, 4, 1, 4, 2, 1],
        "{delta}"
    );
    assert_eq!(
        delta["counts"]["groups_deleted"].as_u64().unwrap()
            + delta["counts"]["groups_disabled"].as_u64().unwrap(),
        1,
        "{delta}"
    );
    assert_eq!(f.members("devs", false).await, [user(0), user(8)]);
    assert_eq!(f.members("ops", false).await, [user(2)]);
    assert_eq!(f.members("posix", false).await, [user(4), user(5), user(9)]);
    let mut newbies = f.members("newbies", false).await;
    newbies.sort();
    assert_eq!(newbies, ["group:devs".to_owned(), user(9)]);
    let mut everyone = f.members("everyone", true).await;
    everyone.sort();
    assert_eq!(
        everyone,
        ["group:devs".to_owned(), user(0), user(6), user(8)],
        "nesting follows the new member"
    );
    let unresolved = f
        .changes(delta["id"].as_str().unwrap(), "outcome=unresolved")
        .await;
    assert_eq!(
        unresolved[0]["username"],
        person_dn(&uid(1)),
        "{unresolved:?}"
    );

    // A full read finds nothing the delta reads missed.
    f.patch_sync(json!({"full_read_hours": 0})).await;
    let full = f.run(json!({})).await;
    assert_eq!(read_of(&full).0, "full", "{full}");
    assert_eq!(
        counts(
            &full,
            &[
                "created",
                "updated",
                "groups_created",
                "groups_updated",
                "members_added",
                "members_removed"
            ]
        ),
        [0, 0, 0, 0, 0, 0],
        "{full}"
    );
}

/// An entry's objectGUID in the Active Directory-shaped directory (any 16 bytes).
fn guid(n: u8) -> String {
    let mut g = [0x5a_u8; 16];
    g[0] = n;
    base64::engine::general_purpose::STANDARD.encode(g)
}

/// A SID of the test domain (S-1-5-21-1004336348-1177238915-682003330-`rid`), as AD
/// sends it.
fn sid(rid: u32) -> String {
    let mut s = vec![
        0x01, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x15, 0x00, 0x00, 0x00, 0xDC, 0xF4, 0xDC,
        0x3B, 0x83, 0x3D, 0x2B, 0x46, 0x82, 0x8B, 0xA6, 0x28,
    ];
    s.extend(rid.to_le_bytes());
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn ad_user(n: u8, uid: &str, primary: u32, usn: u64) -> String {
    format!(
        "dn: {dn}\nobjectClass: inetOrgPerson\nobjectClass: adUser\nuid: {uid}\ncn: {uid}\nsn: {uid}\nmail: {uid}@corp.example.com\nobjectGUID:: {g}\nuserAccountControl: 512\nprimaryGroupID: {primary}\nuSNChanged: {usn}\n\n",
        dn = person_dn(uid),
        g = guid(n)
    )
}

fn ad_group(n: u8, cn: &str, rid: u32, usn: u64, members: &[&str]) -> String {
    let mut s = format!(
        "dn: {dn}\nobjectClass: group\ncn: {cn}\nobjectGUID:: {g}\nobjectSid:: {sid}\nuSNChanged: {usn}\n",
        dn = group_dn(cn),
        g = guid(n),
        sid = sid(rid)
    );
    for m in members {
        s.push_str(&format!("member: {}\n", person_dn(m)));
    }
    s.push('\n');
    s
}

/// Active Directory (a slapd shaped like it where the agent looks): a re-sync reads the
/// users and groups whose uSNChanged passed the watermark. A changed group's members
/// are complete though AD lists its primary-group members nowhere in it: moving a user's
/// primary group (AD moves the user into the old group's `member` and out of the new
/// one's) changes nobody's memberships, and a member really removed goes. Deletions,
/// without the Show Deleted control, wait for a full read.
#[engines]
async fn active_directory_groups_are_read_by_usn_with_their_primary_group_members(engine: Engine) {
    use adc_e2e::sync::fixture_on_yaml;
    const DOMAIN_USERS: u32 = 513;
    const TEAM: u32 = 1105;
    let ldif = [
        slapd::ldif(&[]),
        format!(
            "dn: {}\nobjectClass: nTDSDSA\ncn: NTDS Settings\ninvocationId:: {}\n\n",
            slapd::AD_DSA_DN,
            guid(99)
        ),
        ad_user(1, "ann", DOMAIN_USERS, 10),
        ad_user(2, "bob", DOMAIN_USERS, 11),
        ad_user(3, "cid", TEAM, 12),
        ad_group(11, "Domain Users", DOMAIN_USERS, 20, &[]),
        ad_group(12, "Team", TEAM, 21, &["ann", "bob"]),
    ]
    .concat();
    let slapd = Slapd::start_ad(&ldif, 100);
    let mut f = fixture_on_yaml(
        engine,
        slapd,
        "",
        Some("(objectClass=adUser)"),
        Some(GROUPS_SECTION),
        |y| {
            y.replace(
                "    bind_dn:",
                "    flavour: active-directory\n    bind_dn:",
            )
        },
        |_| {},
    )
    .await;
    let user = |u: &str| format!("user:{u}@corp.example.com");
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };

    let first = f.run(json!({})).await;
    assert_eq!(first["status"], "succeeded", "{first}");
    assert_eq!(read_of(&first).0, "full", "{first}");
    assert_eq!(
        sorted(f.members("Domain Users", false).await),
        [user("ann"), user("bob")],
        "members by primaryGroupID"
    );
    assert_eq!(
        sorted(f.members("Team", false).await),
        [user("ann"), user("bob"), user("cid")]
    );

    // bob's primary group becomes Team, as AD does it: bob changes, Team loses him from
    // `member`, Domain Users gains him there. Nobody's memberships change.
    let (team, everyone) = (group_dn("Team"), group_dn("Domain Users"));
    f.slapd
        .replace(
            &person_dn("bob"),
            &[("primaryGroupID", "1105"), ("uSNChanged", "101")],
        )
        .await;
    f.slapd
        .change_values(&team, "member", &[person_dn("bob")], false)
        .await;
    f.slapd.replace(&team, &[("uSNChanged", "102")]).await;
    f.slapd
        .change_values(&everyone, "member", &[person_dn("bob")], true)
        .await;
    f.slapd.replace(&everyone, &[("uSNChanged", "103")]).await;
    f.slapd.set_usn(103);
    let moved = f.run(json!({})).await;
    assert_eq!(moved["status"], "succeeded", "{moved}");
    let (kind, why) = read_of(&moved);
    assert_eq!(kind, "delta", "{moved}");
    assert!(
        why.contains("deletions wait for the next full read"),
        "no tombstones here: {moved}"
    );
    assert_eq!(
        counts(
            &moved,
            &["read", "groups_read", "members_added", "members_removed"]
        ),
        [1, 2, 0, 0],
        "ann stays in Domain Users by her primaryGroupID (no delta read her), bob in both: {moved}"
    );
    assert_eq!(
        sorted(f.members("Domain Users", false).await),
        [user("ann"), user("bob")]
    );
    assert_eq!(
        sorted(f.members("Team", false).await),
        [user("ann"), user("bob"), user("cid")]
    );

    // bob really leaves Domain Users; a new group holds cid. Unchanged groups are not
    // read.
    f.slapd
        .change_values(&everyone, "member", &[person_dn("bob")], false)
        .await;
    f.slapd.replace(&everyone, &[("uSNChanged", "104")]).await;
    f.slapd
        .add_entry(
            &group_dn("Ops"),
            &[
                ("objectClass", vec!["group".into()]),
                ("cn", vec!["Ops".into()]),
                // Sixteen bytes that happen to be text: [`guid`] of b'o'.
                ("objectGUID", vec![format!("o{}", "Z".repeat(15))]),
                ("uSNChanged", vec!["105".into()]),
                ("member", vec![person_dn("cid")]),
            ],
        )
        .await;
    f.slapd.set_usn(105);
    let left = f.run(json!({})).await;
    assert_eq!(left["status"], "succeeded", "{left}");
    assert_eq!(read_of(&left).0, "delta", "{left}");
    assert_eq!(
        counts(
            &left,
            &[
                "read",
                "groups_read",
                "groups_created",
                "members_added",
                "members_removed"
            ]
        ),
        [0, 2, 1, 1, 1],
        "{left}"
    );
    assert_eq!(f.members("Domain Users", false).await, [user("ann")]);
    assert_eq!(f.members("Ops", false).await, [user("cid")]);
}

/// Active Directory's tombstones name every object deleted since the watermark —
/// computers, contacts, users of other OUs —, more than a small synchronization holds:
/// a delta read's deletions count only the users the synchronization holds, so the run
/// succeeds and removes exactly those. (A hand-driven agent: slapd has no tombstones.)
#[engines]
async fn a_delta_read_s_deletions_of_objects_never_synchronized_are_ignored(engine: Engine) {
    use adc_e2e::raw::RawAgent;
    let mut f = adc_e2e::sync::fixture(engine, 3, "", None).await;
    f.run(json!({})).await;
    f.agent.kill();
    let mut agent =
        RawAgent::connect_speaking(&f.server.agent_addr(), &f.sync_id, &f.secret, json!({}), 4)
            .await;
    adc_e2e::eventually(
        std::time::Duration::from_secs(10),
        "only the hand-driven agent connected",
        || async { (f.api.agents(&f.sync_id).await.len() == 1).then_some(()) },
    )
    .await;
    // A full read that leaves a watermark.
    let run_id = f.start(json!({})).await;
    agent.recv_type("start_run").await;
    agent
        .send(json!({"type": "manifest_request", "run_id": run_id, "read": {"kind": "full"}}))
        .await;
    let manifest = agent.recv_type("manifest_chunk").await;
    let held: Vec<String> = manifest["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e[0].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(held.len(), 3, "{manifest}");
    let mark = json!({"token": "usn:100:6b4fa2c1-8d3e-4f5a-9b7c-0d1e2f3a4b5c:CN=NTDS Settings,DC=corp", "fingerprint": "f"});
    agent
        .send(json!({"type": "read_complete", "run_id": run_id, "read": 3, "watermark": mark}))
        .await;
    agent.send(json!({"type": "done", "run_id": run_id})).await;
    let finished = agent.recv_type("run_finished").await;
    assert_eq!(finished["report"]["status"], "succeeded", "{finished}");

    // A delta read whose tombstones name ten objects never synchronized and one user.
    let run_id = f.start(json!({})).await;
    let start = agent.recv_type("start_run").await;
    assert_eq!(start["watermark"], mark, "{start}");
    agent
        .send(json!({"type": "manifest_request", "run_id": run_id, "read": {"kind": "delta"}}))
        .await;
    agent
        .send(json!({"type": "read_complete", "run_id": run_id, "read": 0, "watermark": mark}))
        .await;
    let mut tombstones: Vec<String> = (0..10)
        .map(|i| format!("00000000-0000-4000-8000-{i:012}"))
        .collect();
    tombstones.push(held[1].clone());
    agent
        .send(json!({"type": "deletions", "run_id": run_id, "seq": 1, "external_ids": tombstones}))
        .await;
    agent.send(json!({"type": "done", "run_id": run_id})).await;
    let finished = agent.recv_type("run_finished").await;
    let report = &finished["report"];
    assert_eq!(report["status"], "succeeded", "{finished}");
    assert_eq!(report["read_kind"], "delta", "{finished}");
    assert_eq!(
        counts(report, &["deleted", "disabled"]),
        [0, 1],
        "the one user held goes (delete-disables), nothing else: {finished}"
    );
    assert_eq!(f.users("enabled=true").await.len(), 2);
}
