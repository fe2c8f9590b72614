//! The admin web page in a real browser (Debian chromium driven by playwright-core),
//! and the agent download it links to.

use adc_e2e::agent::{AgentSetup, TestAgent};
use adc_e2e::browser::Browser;
use adc_e2e::engine::Engine;
use adc_e2e::engine::TestDb;
use adc_e2e::engines;
use adc_e2e::process::{bin, printed_password, server_cli};
use adc_e2e::server::{ADMIN_EMAIL, ADMIN_PASSWORD, TestServer};
use adc_e2e::slapd::{self, Person, Slapd};
use adc_e2e::sync::{self, urlencode};
use reqwest::StatusCode;
use serde_json::json;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

const HOSTILE: &str = "<img src=x onerror=alert(1)>";

fn dist_dir() -> PathBuf {
    bin("adc").parent().unwrap().to_owned()
}

async fn start_server(engine: Engine) -> TestServer {
    TestServer::start_with(TestDb::new(engine).await, |c| {
        c.heartbeat_interval = Duration::from_secs(1);
        c.agent_dist = Some(dist_dir());
    })
    .await
}

/// The files of a `.tar.gz` agent archive: path → (mode, content).
fn untar(bytes: &[u8]) -> Vec<(String, u32, Vec<u8>)> {
    let mut a = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
    a.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let path = e.path().unwrap().to_string_lossy().into_owned();
            let mode = e.header().mode().unwrap();
            let mut body = Vec::new();
            e.read_to_end(&mut body).unwrap();
            (path, mode, body)
        })
        .collect()
}

/// What architecture §7.5 promises inside an archive for this server.
fn check_archive(
    files: &[(String, u32, Vec<u8>)],
    server: &TestServer,
    binary_name: &str,
    application_id: &str,
) {
    let names: Vec<&str> = files.iter().map(|f| f.0.as_str()).collect();
    let file = |name: &str| {
        files
            .iter()
            .find(|f| f.0 == format!("ad-connect/{name}"))
            .unwrap_or_else(|| panic!("ad-connect/{name} is not in the archive: {names:?}"))
    };
    let bin_file = file(&format!("bin/{binary_name}"));
    assert_eq!(bin_file.1 & 0o111, 0o111, "the agent is executable");
    let cfg = String::from_utf8(file("adc.cfg").2.clone()).unwrap();
    assert!(
        cfg.lines()
            .any(|l| l == format!("AD_CONNECT_ADDR=ws://{}", server.addr)),
        "adc.cfg names this server:\n{cfg}"
    );
    assert!(
        cfg.contains(&format!(
            "AD_CONNECT_AUTH={application_id}:PASTE-THE-SECRET-TOKEN-HERE"
        )),
        "{cfg}"
    );
    // Sourced as the file says, before it is edited: every line a valid shell word.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("adc.cfg"), &cfg).unwrap();
    let out = std::process::Command::new("bash")
        .current_dir(dir.path())
        .args([
            "-c",
            "set -eu; set -a; . ./adc.cfg; printf %s \"$AD_CONNECT_AUTH\"",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{application_id}:PASTE-THE-SECRET-TOKEN-HERE")
    );
    assert_eq!(file("adc.cfg").1 & 0o077, 0, "adc.cfg will hold a secret");
    // The documented example is a valid adc.yaml as shipped.
    let yaml = String::from_utf8(file("adc.yaml").2.clone()).unwrap();
    let shipped = adc_agent::config::AgentConfig::parse(&yaml, Path::new("adc.yaml"))
        .unwrap_or_else(|e| panic!("the shipped adc.yaml does not load: {e}"));
    assert!(
        shipped.backend.ldap.groups.is_some(),
        "the shipped example synchronizes groups"
    );
    let unit = String::from_utf8(file("adc.service").2.clone()).unwrap();
    assert!(unit.contains("ExecStart=/opt/ad-connect/bin/adc run"));
    assert!(unit.contains("EnvironmentFile=/opt/ad-connect/adc.cfg"));
    assert!(String::from_utf8_lossy(&file("README.md").2).contains("adc check"));
    // The manual page and the completions, generated from the agent's command line.
    let man = String::from_utf8_lossy(&file("man/adc.1").2).into_owned();
    assert!(
        man.contains(".TH adc 1") && man.contains("AD_CONNECT_AUTH"),
        "{man}"
    );
    for page in ["adc-run.1", "adc-imp.1", "adc-check.1"] {
        file(&format!("man/{page}"));
    }
    std::fs::write(dir.path().join("adc.bash"), &file("completions/adc.bash").2).unwrap();
    let out = std::process::Command::new("bash")
        .current_dir(dir.path())
        .args(["-c", "set -e; . ./adc.bash; complete -p adc"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("-F _adc adc"),
        "bash does not take the completion: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for f in ["_adc", "adc.fish", "_adc.ps1"] {
        file(&format!("completions/{f}"));
    }
}

// Engine-independent: run once, on SQLite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_download_offers_this_platform_with_this_servers_address() {
    let server = start_server(Engine::Sqlite).await;
    let api = server.admin().await;
    let (s, _) = server.anonymous().get("/api/v1/downloads").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, list) = api.get("/api/v1/downloads").await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let host = format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH);
    assert_eq!(list[0]["name"], host.as_str(), "{list}");
    assert_eq!(list[0]["format"], "tar.gz");
    let url = list[0]["url"].as_str().unwrap();
    let resp = api.raw_get(url).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "application/gzip");
    assert!(
        resp.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains(&format!("ad-connect-{host}.tar.gz"))
    );
    let files = untar(&resp.bytes().await.unwrap());
    check_archive(&files, &server, "adc", "APPLICATION-ID");
    let bin_file = files.iter().find(|f| f.0 == "ad-connect/bin/adc").unwrap();
    assert!(
        bin_file.2 == std::fs::read(bin("adc")).unwrap(),
        "the archive holds this build's adc"
    );

    // For one synchronization: its Application ID is filled in; an unknown or another
    // tenant's is not found.
    let (id, _) = api.add_sync("corp").await;
    let resp = api.raw_get(&format!("{url}?synchronization={id}")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    check_archive(&untar(&resp.bytes().await.unwrap()), &server, "adc", &id);
    let (s, body) = api
        .get(&format!("{url}?synchronization={}", uuid::Uuid::new_v4()))
        .await;
    assert_eq!(
        (s, &body["error"]["code"]),
        (StatusCode::NOT_FOUND, &json!("not_found")),
        "{body}"
    );
    let (s, body) = api.get(&format!("{url}?synchronization=nonsense")).await;
    assert_eq!(
        (s, &body["error"]["code"]),
        (StatusCode::BAD_REQUEST, &json!("bad_request")),
        "{body}"
    );

    let (s, body) = api.get("/api/v1/downloads/plan9-mips").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
    let (s, _) = api.get("/api/v1/downloads/..%2F..%2Fetc").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_platforms_come_from_their_folders_and_windows_gets_a_zip() {
    let dist = tempfile::tempdir().unwrap();
    std::fs::create_dir(dist.path().join("windows-x86_64")).unwrap();
    std::fs::write(dist.path().join("windows-x86_64/adc.exe"), b"MZ fake agent").unwrap();
    std::fs::create_dir(dist.path().join("linux-aarch64")).unwrap();
    std::fs::write(dist.path().join("linux-aarch64/adc"), b"\x7fELF fake agent").unwrap();
    std::fs::create_dir(dist.path().join("not a platform")).unwrap();
    std::fs::write(dist.path().join("not a platform/adc"), b"x").unwrap();
    let path = dist.path().to_owned();
    let server = TestServer::start_with(TestDb::new(Engine::Sqlite).await, move |c| {
        c.agent_dist = Some(path);
        c.public_url = Some("https://adc.example.com".into());
    })
    .await;
    let api = server.admin().await;
    let (_, list) = api.get("/api/v1/downloads").await;
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["linux-aarch64", "windows-x86_64"]);

    let resp = api.raw_get("/api/v1/downloads/windows-x86_64").await;
    assert_eq!(resp.headers()["content-type"], "application/zip");
    let bytes = resp.bytes().await.unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut read = |name: &str| {
        let mut s = Vec::new();
        zip.by_name(&format!("ad-connect/{name}"))
            .unwrap_or_else(|_| panic!("{name} in the zip"))
            .read_to_end(&mut s)
            .unwrap();
        s
    };
    assert_eq!(read("bin/adc.exe"), b"MZ fake agent");
    let cfg = String::from_utf8(read("adc.cfg")).unwrap();
    assert!(
        cfg.contains("AD_CONNECT_ADDR=adc.example.com:443\n"),
        "{cfg}"
    );
    for f in ["adc.yaml", "adc.service", "README.md"] {
        assert!(!read(f).is_empty());
    }
    let resp = api.raw_get("/api/v1/downloads/linux-aarch64").await;
    let files = untar(&resp.bytes().await.unwrap());
    let agent = files.iter().find(|f| f.0 == "ad-connect/bin/adc").unwrap();
    assert_eq!(agent.2, b"\x7fELF fake agent");
}

#[engines]
async fn the_list_shows_each_agent_and_the_last_run(engine: Engine) {
    let f = sync::fixture(engine, 3, "", None).await;
    let (_, list) = f.api.get("/api/v1/synchronizations").await;
    let s = &list[0];
    assert_eq!(s["agents_connected"], 1);
    assert!(!s["agents"][0]["hostname"].as_str().unwrap().is_empty());
    assert!(s["agents"][0]["last_heartbeat_at"].is_string());
    assert!(s["last_run"].is_null(), "{s}");
    let first = f.run(json!({})).await;
    let second = f.run(json!({"dry_run": true})).await;
    let (_, list) = f.api.get("/api/v1/synchronizations").await;
    assert_eq!(
        list[0]["last_run"]["id"], second["id"],
        "the newest run: {list}"
    );
    assert_eq!(list[0]["last_run"]["status"], "succeeded");
    assert_eq!(list[0]["last_run"]["dry_run"], true);
    assert_ne!(first["id"], second["id"]);
    let (_, one) = f
        .api
        .get(&format!("/api/v1/synchronizations/{}", f.sync_id))
        .await;
    assert_eq!(one["last_run"]["id"], second["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_is_served_with_a_policy_that_forbids_inline_script() {
    let server = TestServer::start(Engine::Sqlite).await;
    let api = server.anonymous();
    for path in ["/", "/ui/js/app.js", "/ui/style.css"] {
        let r = api.raw_get(path).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        let csp = r.headers()["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    }
    let index = api.raw_get("/").await.text().await.unwrap();
    assert!(
        !index.contains("<script>"),
        "no inline script in index.html"
    );
    assert_eq!(
        api.raw_get("/ui/../Cargo.toml").await.status(),
        StatusCode::NOT_FOUND
    );
}

/// The whole flow of issue 4 in chromium. SQLite here; the roles scenario runs on
/// PostgreSQL, so the page is seen on both engines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_runs_the_whole_flow_in_a_browser() {
    let mut people = sync::people(120);
    people.push(Person {
        uid: "hostile".into(),
        given_name: "Hostile".into(),
        surname: "Person".into(),
        mail: "hostile@example.com".into(),
        password: None,
    });
    let slapd = Slapd::start(&slapd::ldif(&people));
    slapd.set("hostile", "displayName", HOSTILE).await;
    let server = start_server(Engine::Sqlite).await;
    let api = server.admin().await;
    let mut browser = Browser::start(
        "flow",
        &server.base_url(),
        &[
            ("ADC_ADMIN_EMAIL", ADMIN_EMAIL.into()),
            ("ADC_ADMIN_PASSWORD", ADMIN_PASSWORD.into()),
            ("ADC_PEOPLE", people.len().to_string()),
        ],
    );
    let mut agent: Option<TestAgent> = None;
    while let Some(req) = browser.next().await {
        let answer = match req["ask"].as_str().unwrap() {
            "start-agent" => {
                let mut a = TestAgent::start(AgentSetup {
                    addr: server.agent_addr(),
                    client_id: req["id"].as_str().unwrap().into(),
                    secret: req["secret"].as_str().unwrap().into(),
                    // The agent asks for a dry run; the page will enforce it off.
                    yaml: slapd.adc_yaml("  dry-run: true\n"),
                    extra_ca: None,
                });
                a.connected().await;
                agent = Some(a);
                json!({"hostname": adc_agent::run::hostname()})
            }
            "remove-people" => {
                for uid in req["uids"].as_array().unwrap() {
                    slapd.delete(uid.as_str().unwrap(), "people").await;
                }
                json!({})
            }
            "user-state" => {
                let q = urlencode(req["username"].as_str().unwrap());
                let (_, page) = api.get(&format!("/api/v1/users?q={q}")).await;
                page["users"][0].clone()
            }
            "check-archive" => {
                let bytes = std::fs::read(req["path"].as_str().unwrap()).unwrap();
                let id = req["application_id"].as_str().unwrap_or("APPLICATION-ID");
                check_archive(&untar(&bytes), &server, "adc", id);
                json!({})
            }
            "token-status" => {
                let (s, _) = api
                    .with_token(req["token"].as_str().unwrap())
                    .get("/api/v1/synchronizations")
                    .await;
                json!({"status": s.as_u16()})
            }
            _ => {
                browser.refuse(&req).await;
                continue;
            }
        };
        browser.answer(answer).await;
    }
    browser.finish().await;
    // The run the page started applied the server's policy (dry-run enforced off), and
    // the deleted synchronization left its users behind as manual users.
    let (_, users) = api.get("/api/v1/users?q=user00000%40example.com").await;
    assert_eq!(users["users"][0]["enabled"], true, "{users}");
    assert_eq!(users["users"][0]["provider"], "manual", "{users}");
    drop(agent);
}

/// A viewer sees no button it may not use, and the server refuses it anyway; an
/// operator runs and decides on held deletions but manages nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_sees_only_what_it_may_do() {
    let f = sync::fixture(Engine::Postgres, 12, "", None).await;
    f.patch_guard(json!({"max_deletes": 1})).await;
    f.run(json!({})).await;
    f.slapd.delete("user00001", "people").await;
    f.slapd.delete("user00002", "people").await;
    let held = f.run(json!({})).await;
    assert_eq!(held["status"], "held", "{held}");
    let mut accounts = Vec::new();
    for role in ["viewer", "operator"] {
        let email = format!("{role}@example.com");
        let out = server_cli(
            &f.server.db.url,
            &[
                "admin", "add", "--tenant", "default", "--email", &email, "--role", role,
            ],
        );
        assert!(out.status.success());
        let password = printed_password(&String::from_utf8_lossy(&out.stdout));
        accounts.push((format!("ADC_{}_EMAIL", role.to_uppercase()), email));
        accounts.push((format!("ADC_{}_PASSWORD", role.to_uppercase()), password));
    }
    let env: Vec<(&str, String)> = accounts
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .chain([
            ("ADC_SYNC_ID", f.sync_id.clone()),
            ("ADC_HELD_RUN", held["id"].as_str().unwrap().to_owned()),
        ])
        .collect();
    Browser::run("roles", &f.server.base_url(), &env).await;
    // The operator rejected the held deletions in the browser.
    let (_, run) = f
        .api
        .get(&format!("/api/v1/runs/{}", held["id"].as_str().unwrap()))
        .await;
    assert!(
        run["decision"]
            .as_str()
            .unwrap()
            .starts_with("rejected by operator@"),
        "{run}"
    );
    let user = f.user("user00001@example.com").await;
    assert_eq!(user["enabled"], true, "nobody was removed");
}

/// Groups in the browser: the list with member counts, a group's direct and effective
/// members, a user's groups, a manual group made and filled by hand, and a run's group
/// counts and membership changes; on a desktop and on a phone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_finds_groups_members_and_a_user_s_groups_in_a_browser() {
    let groups = [
        slapd::group_ldif(
            "groupOfNames",
            "devs",
            &(0..3)
                .map(|i| slapd::person_dn(&format!("user{i:05}")))
                .collect::<Vec<_>>(),
        ),
        slapd::group_ldif("groupOfNames", "ops", &[slapd::person_dn("user00003")]),
        slapd::group_ldif(
            "groupOfNames",
            "everyone",
            &[
                slapd::group_dn("devs"),
                slapd::group_dn("ops"),
                "uid=ghost,ou=people,dc=example,dc=com".into(),
            ],
        ),
    ]
    .concat();
    let ldif = format!("{}{groups}", slapd::ldif(&sync::people(8)));
    let f = sync::fixture_from_ldif(
        Engine::Sqlite,
        &ldif,
        "",
        None,
        Some(sync::GROUPS_SECTION),
        |_| {},
    )
    .await;
    let run = f.run(json!({})).await;
    assert_eq!(run["counts"]["groups_created"], 3, "{run}");
    let env = [
        ("ADC_ADMIN_EMAIL", ADMIN_EMAIL.to_owned()),
        ("ADC_ADMIN_PASSWORD", ADMIN_PASSWORD.to_owned()),
        ("ADC_RUN", run["id"].as_str().unwrap().to_owned()),
    ];
    Browser::run("groups", &f.server.base_url(), &env).await;
    // The manual group made in the browser holds the member added there.
    let mut members = f.members("club", false).await;
    members.sort();
    assert_eq!(
        members,
        ["group:devs", "user:user00005@example.com"],
        "what the page did is stored"
    );
    // The group detached in the browser is the synchronization's no more: gone from
    // the directory, it stays, with its member.
    f.slapd.delete_entry(&slapd::group_dn("ops")).await;
    let after = f.run(json!({})).await;
    assert_eq!(after["status"], "succeeded", "{after}");
    assert_eq!(f.group("ops").await["provider"], "manual");
    assert_eq!(
        f.members("ops", false).await,
        ["user:user00003@example.com"]
    );
}

// Engine-independent: run once, on SQLite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_cancels_a_stuck_run_from_its_page() {
    let f = sync::fixture(Engine::Sqlite, 50, "", None).await;
    // The directory stops answering: the run waits on it until cancelled.
    f.slapd.pause();
    let run_id = f.start(json!({})).await;
    let env = [
        ("ADC_ADMIN_EMAIL", ADMIN_EMAIL.to_owned()),
        ("ADC_ADMIN_PASSWORD", ADMIN_PASSWORD.to_owned()),
        ("ADC_RUN", run_id.clone()),
    ];
    Browser::run("cancel", &f.server.base_url(), &env).await;
    f.slapd.resume();
    let run = f.wait(&run_id).await;
    assert_eq!(run["status"], "cancelled", "{run}");
    assert_eq!(
        f.users("").await.len(),
        0,
        "nothing was applied before the cancel"
    );
    let next = f.run(json!({})).await;
    assert_eq!(
        next["status"], "succeeded",
        "the agent takes the next run: {next}"
    );
}

// Engine-independent: run once, on SQLite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_with_a_one_time_password_sets_its_own_before_anything_else() {
    let server = start_server(Engine::Sqlite).await;
    let api = server.admin().await;
    let (s, made) = api
        .post(
            "/api/v1/admins",
            json!({"email": "new@example.com", "role": "operator"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{made}");
    let env = [
        ("ADC_NEW_EMAIL", "new@example.com".to_owned()),
        (
            "ADC_ONE_TIME_PASSWORD",
            made["password"].as_str().unwrap().to_owned(),
        ),
    ];
    Browser::run("own-password", &server.base_url(), &env).await;
    // The password set in the page is the one that signs in now.
    let (s, b) = server
        .anonymous()
        .post(
            "/api/v1/auth/login",
            json!({"email": "new@example.com", "password": "my-own-password-2026"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["must_change_password"], false);
}

// Engine-independent: run once, on SQLite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_system_admin_manages_admin_accounts_on_the_admins_page() {
    let server = start_server(Engine::Sqlite).await;
    let env = [
        ("ADC_ADMIN_EMAIL", ADMIN_EMAIL.to_owned()),
        ("ADC_ADMIN_PASSWORD", ADMIN_PASSWORD.to_owned()),
    ];
    Browser::run("admins", &server.base_url(), &env).await;
    // What the page did is stored: the operator came and went, the admin stayed, with
    // the password it chose on its account page.
    let mut api = server.anonymous();
    api.login(ADMIN_EMAIL, "a-brand-new-password").await;
    let (_, admins) = api.get("/api/v1/admins").await;
    let emails: Vec<&str> = admins
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, [ADMIN_EMAIL]);
    assert_eq!(admins[0]["role"], "system-admin");
}

/// The audit log page against a real server: what the API did is there to read,
/// filter, page and download; the retention is set from the page.
#[tokio::test]
async fn an_admin_reads_filters_and_downloads_the_audit_log() {
    let server = start_server(Engine::Sqlite).await;
    let api = server.admin().await;
    for i in 0..55 {
        let (s, b) = api
            .post("/api/v1/users", json!({"username": format!("user-{i:02}")}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    let (sync_id, _) = api.add_sync("corp").await;
    let (s, _) = api
        .patch(
            &format!("/api/v1/synchronizations/{sync_id}"),
            json!({"schedule_minutes": 30}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = api
        .post(
            "/api/v1/users",
            json!({"username": "<img src=x onerror=alert(1)>"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, made) = api
        .post(
            "/api/v1/admins",
            json!({"email": "auditor@example.com", "role": "viewer"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{made}");
    let mut auditor = server.anonymous();
    auditor
        .login("auditor@example.com", made["password"].as_str().unwrap())
        .await;
    let (s, _) = auditor
        .put(
            "/api/v1/me/password",
            json!({"current_password": made["password"], "new_password": "auditor-password-1"}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = server
        .anonymous()
        .post(
            "/api/v1/auth/login",
            json!({"email": ADMIN_EMAIL, "password": "not the password"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let env = [
        ("ADC_ADMIN_EMAIL", ADMIN_EMAIL.to_owned()),
        ("ADC_ADMIN_PASSWORD", ADMIN_PASSWORD.to_owned()),
        ("ADC_VIEWER_EMAIL", "auditor@example.com".to_owned()),
        ("ADC_VIEWER_PASSWORD", "auditor-password-1".to_owned()),
    ];
    Browser::run("audit", &server.base_url(), &env).await;
    let (_, settings) = api.get("/api/v1/audit/settings").await;
    assert_eq!(settings["retention_days"], 90, "the page saved it");
}

/// The Notifications page against a real server and a real webhook receiver: the key
/// the page shows once is the one the receiver verifies with.
#[tokio::test]
async fn an_admin_sets_up_a_webhook_and_sees_its_deliveries() {
    let receiver = adc_e2e::webhook::Receiver::start(1).await;
    let server = TestServer::start_with(TestDb::new(Engine::Sqlite).await, |c| {
        c.webhook_allow_private = true;
        c.notify_interval = Duration::from_millis(200);
        c.notify_retry_base = Duration::from_millis(300);
    })
    .await;
    let env = [
        ("ADC_ADMIN_EMAIL", ADMIN_EMAIL.to_owned()),
        ("ADC_ADMIN_PASSWORD", ADMIN_PASSWORD.to_owned()),
        ("ADC_HOOK_URL", receiver.url.clone()),
    ];
    let mut browser = Browser::start("notifications", &server.base_url(), &env);
    while let Some(req) = browser.next().await {
        match req["ask"].as_str() {
            Some("webhook_key") => {
                receiver.set_secret(req["key"].as_str().unwrap());
                browser.answer(json!({})).await;
            }
            Some("received") => {
                let events: Vec<String> = receiver
                    .accepted()
                    .iter()
                    .map(|r| r.event.clone())
                    .collect();
                browser.answer(json!({ "events": events })).await;
            }
            _ => browser.refuse(&req).await,
        }
    }
    browser.finish().await;
    assert_eq!(
        receiver.bad_signatures(),
        0,
        "the key the page showed is the one in use"
    );
    let api = server.admin().await;
    let (_, settings) = api.get("/api/v1/notifications/settings").await;
    assert_eq!(
        (
            settings["agent_offline_minutes"].as_i64(),
            settings["stale_factor"].as_i64()
        ),
        (Some(30), Some(3))
    );
}
