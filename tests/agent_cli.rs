//! The `adc` binary as an administrator runs it (architecture §7.1, §7.2): check, version,
//! run with signals, and clear one-line failures.

use adc_e2e::engine::Engine;
use adc_e2e::engines;
use adc_e2e::eventually;
use adc_e2e::process::{Proc, clean_command};
use adc_e2e::server::TestServer;
use adc_e2e::slapd::{self, Person, Slapd};
use nix::sys::signal::Signal;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

fn people(n: usize) -> Vec<Person> {
    (0..n).map(Person::numbered).collect()
}

/// `adc` with the environment a user sets.
fn adc(dir: &Path, addr: &str, auth: &str, args: &[&str]) -> Command {
    let mut cmd = clean_command("adc");
    cmd.current_dir(dir)
        .env("AD_CONNECT_ADDR", addr)
        .env("AD_CONNECT_AUTH", auth)
        .env("AD_CONNECT_CONFIG", dir.join("adc.yaml"))
        .args(args);
    cmd
}

fn output(mut cmd: Command) -> (i32, String, String) {
    let out = cmd.output().expect("adc runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The commit the checkout is at, as `adc version` and `adc-server --version` name it.
fn head_commit() -> String {
    let out = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(out.status.success(), "git rev-parse failed");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn adc_version_prints_the_agent_version_commit_and_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, _) = output(adc(dir.path(), "", "", &["version"]));
    assert_eq!(code, 0);
    assert_eq!(
        out.trim(),
        format!(
            "adc {} (commit {}, protocol {})",
            adc_agent::VERSION,
            head_commit(),
            adc_shared::PROTOCOL_VERSION
        )
    );
    let mut server = Command::new(adc_e2e::process::bin("adc-server"));
    server.arg("--version");
    let (code, out, _) = output(server);
    assert_eq!(code, 0);
    assert_eq!(
        out.trim(),
        format!(
            "adc-server {} (commit {})",
            adc_agent::VERSION,
            head_commit()
        )
    );
}

#[test]
fn the_shipped_manual_pages_and_completions_match_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../agent/dist");
    let (code, _, err) = output(adc(dir.path(), "", "", &["man", "."]));
    assert_eq!(code, 0, "{err}");
    let mut pages: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    assert_eq!(pages.len(), 7, "{pages:?}");
    let stale = "is stale: run scripts/docs and commit agent/dist";
    for page in &pages {
        let now = std::fs::read_to_string(dir.path().join(page)).unwrap();
        let kept = std::fs::read_to_string(shipped.join("man").join(page))
            .unwrap_or_else(|_| panic!("agent/dist/man/{page} is missing: run scripts/docs"));
        assert!(now == kept, "agent/dist/man/{page} {stale}");
    }
    for (shell, file) in [
        ("bash", "adc.bash"),
        ("zsh", "_adc"),
        ("fish", "adc.fish"),
        ("powershell", "_adc.ps1"),
    ] {
        let (code, now, err) = output(adc(dir.path(), "", "", &["completions", shell]));
        assert_eq!(code, 0, "{err}");
        let kept = std::fs::read_to_string(shipped.join("completions").join(file)).unwrap();
        assert!(now == kept, "agent/dist/completions/{file} {stale}");
    }
    // A folder that is not there: the error names it and what to check.
    let (code, _, err) = output(adc(dir.path(), "", "", &["man", "no/such/folder"]));
    assert_eq!(code, 1);
    assert!(
        err.contains("`no/such/folder`") && err.contains("check that the folder exists"),
        "{err}"
    );
}

#[test]
fn adc_help_names_every_environment_variable_the_agent_reads() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, _) = output(adc(dir.path(), "", "", &["--help"]));
    assert_eq!(code, 0);
    for var in [
        "AD_CONNECT_ADDR",
        "AD_CONNECT_AUTH",
        "AD_CONNECT_CONFIG",
        "AD_CONNECT_CA",
        "AD_CONNECT_LOG",
    ] {
        assert!(out.contains(var), "{var} in:\n{out}");
    }
    assert!(
        out.contains("tls_ca_file"),
        "which CA covers the directory:\n{out}"
    );
}

#[engines]
async fn adc_check_reports_each_step_against_the_real_directory_and_server(engine: Engine) {
    let ldap = Slapd::start(&slapd::ldif(&people(3)));
    let server = TestServer::start(engine).await;
    let api = server.admin().await;
    let (id, secret) = api.add_sync("head office").await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("adc.yaml"),
        ldap.adc_yaml("  dry-run: true\n"),
    )
    .unwrap();

    let (code, out, err) = output(adc(
        dir.path(),
        &server.agent_addr(),
        &format!("{id}:{secret}"),
        &["check"],
    ));
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(
        lines[0].starts_with("[ok]") && lines[0].contains("adc.yaml"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("[ok]")
            && lines[1].contains(&format!("bound as `{}`", slapd::READONLY_DN)),
        "{out}"
    );
    assert!(
        lines[2].starts_with("[ok]")
            && lines[2].contains("3 entries match (objectClass=inetOrgPerson)"),
        "{out}"
    );
    assert!(
        lines[3].starts_with("[ok]")
            && lines[3].contains("authenticated as synchronization \"head office\""),
        "{out}"
    );
    assert!(
        !out.contains(&secret) && !err.contains(&secret) && !out.contains(slapd::READONLY_PASSWORD)
    );

    // The wrong secret fails at the last step, with the reason.
    let (code, out, err) = output(adc(
        dir.path(),
        &server.agent_addr(),
        &format!("{id}:wrong"),
        &["check"],
    ));
    assert_eq!(code, 1);
    assert!(
        out.lines().last().unwrap().starts_with("[FAIL] server"),
        "{out}"
    );
    assert!(
        err.contains("401") && err.contains("AD_CONNECT_AUTH"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one-line reason: {err}");
}

#[tokio::test]
async fn adc_check_stops_at_the_first_failing_step_with_the_reason() {
    let ldap = Slapd::start(&slapd::ldif(&people(2)));
    let dir = tempfile::tempdir().unwrap();
    let yaml = ldap
        .adc_yaml("")
        .replace(slapd::READONLY_PASSWORD, "wrong-password");
    std::fs::write(dir.path().join("adc.yaml"), yaml).unwrap();
    let (code, out, err) = output(adc(
        dir.path(),
        "127.0.0.1:1",
        &format!("{}:x", uuid::Uuid::new_v4()),
        &["check"],
    ));
    assert_eq!(code, 1);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "stops after the failing step: {out}");
    assert!(lines[1].starts_with("[FAIL] directory"), "{out}");
    assert_eq!(
        err.trim(),
        "adc: bind as `cn=readonly,dc=example,dc=com`: the directory refused bind_dn's password (invalid credentials), result code 49; check bind_dn and bind_password",
        "what failed, the value, what to check"
    );
    assert!(
        !out.contains("wrong-password") && !err.contains("wrong-password"),
        "the password is never printed"
    );

    // A directory that is not there.
    let yaml = ldap.adc_yaml("").replace(&ldap.url, "ldap://127.0.0.1:1");
    std::fs::write(dir.path().join("adc.yaml"), yaml).unwrap();
    let (code, out, _) = output(adc(dir.path(), "127.0.0.1:1", "x", &["check"]));
    assert_eq!(code, 1);
    assert!(out.contains("[FAIL] directory ldap://127.0.0.1:1"), "{out}");
}

#[test]
fn a_misspelt_key_is_reported_with_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = "settings:\n  dry-run: true\n  no-delet: true\nbackend:\n  ldap:\n    addr: ldap://127.0.0.1:1\n    base_dn: dc=x\n";
    std::fs::write(dir.path().join("adc.yaml"), yaml).unwrap();
    let path = dir.path().join("adc.yaml");
    let (code, out, err) = output(adc(dir.path(), "127.0.0.1:1", "x", &["check"]));
    assert_eq!(code, 1);
    assert!(
        out.starts_with(&format!("[FAIL] config {}:3:3: ", path.display())),
        "{out}"
    );
    assert!(out.contains("no-delet"), "{out}");
    // `adc run` refuses to start on it, with the same reason on one line.
    let (code, _, err_run) = output(adc(
        dir.path(),
        "127.0.0.1:1",
        &format!("{}:x", uuid::Uuid::new_v4()),
        &["run"],
    ));
    assert_eq!(code, 1);
    assert!(
        err_run.contains(&format!("{}:3:3", path.display())),
        "{err_run}"
    );
    assert!(err.contains("no-delet"), "{err}");
}

#[test]
fn adc_run_without_server_settings_exits_with_a_one_line_reason() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = clean_command("adc");
    cmd.current_dir(dir.path()).arg("run");
    let (code, _, err) = output(cmd);
    assert_eq!(code, 1);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("AD_CONNECT_ADDR is not set"), "{err}");
}

// Engine-independent: run once, on SQLite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adc_run_reloads_on_sighup_keeps_the_old_file_when_the_new_is_broken_and_exits_0_on_sigterm()
 {
    let server = TestServer::start(Engine::Sqlite).await;
    let api = server.admin().await;
    let (id, secret) = api.add_sync("corp").await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = |v: &str| {
        format!(
            "settings:\n  dry-run: {v}\nbackend:\n  ldap:\n    addr: ldap://127.0.0.1:1\n    base_dn: dc=x\n"
        )
    };
    std::fs::write(dir.path().join("adc.yaml"), yaml("true")).unwrap();
    let mut agent = Proc::spawn(
        adc(
            dir.path(),
            &server.agent_addr(),
            &format!("{id}:{secret}"),
            &[],
        ),
        dir.path(),
        "adc",
    );

    let first = eventually(Duration::from_secs(20), "the agent to connect", || async {
        api.agents(&id).await.first().cloned()
    })
    .await;
    assert_eq!(first["settings"]["dry-run"], true);

    std::fs::write(dir.path().join("adc.yaml"), yaml("sometimes")).unwrap();
    agent.signal(Signal::SIGHUP);
    eventually(Duration::from_secs(10), "the reload error", || async {
        agent
            .stderr()
            .contains("reload failed, keeping the previous configuration")
            .then_some(())
    })
    .await;
    assert!(
        agent.stderr().contains("adc.yaml:2:12"),
        "{}",
        agent.stderr()
    );
    let now = api.agents(&id).await;
    assert_eq!(
        (now.len(), &now[0]["id"]),
        (1, &first["id"]),
        "still connected on the same connection; the agent said: {}",
        agent.stderr()
    );
    assert_eq!(now[0]["settings"]["dry-run"], true);

    std::fs::write(dir.path().join("adc.yaml"), yaml("false")).unwrap();
    agent.signal(Signal::SIGHUP);
    eventually(Duration::from_secs(10), "the new settings", || async {
        (api.agents(&id).await.first()?["settings"]["dry-run"] == false).then_some(())
    })
    .await;

    agent.signal(Signal::SIGTERM);
    assert_eq!(
        agent.wait(Duration::from_secs(10)).await,
        0,
        "SIGTERM exits 0: {}",
        agent.stderr()
    );
    eventually(
        Duration::from_secs(10),
        "the agent to leave the list",
        || async { api.agents(&id).await.is_empty().then_some(()) },
    )
    .await;
}

/// The value of a row of the summary table.
fn row_of<'a>(table: &'a str, row: &str) -> &'a str {
    let line = table
        .lines()
        .find(|l| l.starts_with(&format!("{row} ")))
        .unwrap_or_else(|| panic!("no `{row}` in:\n{table}"));
    line[row.len()..].trim()
}

fn count_in(table: &str, row: &str) -> u64 {
    let line = table
        .lines()
        .find(|l| l.starts_with(row))
        .unwrap_or_else(|| panic!("no `{row}` in:\n{table}"));
    line.split_whitespace().last().unwrap().parse().unwrap()
}

#[engines]
async fn adc_imp_lists_the_groups_and_members_a_run_changed(engine: Engine) {
    let groups = slapd::group_ldif(
        "groupOfNames",
        "devs",
        &[
            slapd::person_dn("user00000"),
            "uid=ghost,dc=example,dc=com".into(),
        ],
    );
    let ldap = Slapd::start(&format!("{}{groups}", slapd::ldif(&people(2))));
    let server = TestServer::start(engine).await;
    let api = server.admin().await;
    let (id, secret) = api.add_sync("corp").await;
    let dir = tempfile::tempdir().unwrap();
    let yaml = ldap.adc_yaml("").replace(
        "    authentication:\n",
        &format!("{}    authentication:\n", adc_e2e::sync::GROUPS_SECTION),
    );
    std::fs::write(dir.path().join("adc.yaml"), yaml).unwrap();
    let auth = format!("{id}:{secret}");
    // `adc check` counts the groups the section finds; a base that does not exist fails
    // naming it and what to check.
    let (code, out, err) = output(adc(dir.path(), &server.agent_addr(), &auth, &["check"]));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("[ok]   1 groups match (|(objectClass=groupOfNames)"),
        "{out}"
    );
    let wrong = tempfile::tempdir().unwrap();
    std::fs::write(
        wrong.path().join("adc.yaml"),
        std::fs::read_to_string(dir.path().join("adc.yaml"))
            .unwrap()
            .replace(
                "ou=groups,dc=example,dc=com",
                "ou=nowhere,dc=example,dc=com",
            ),
    )
    .unwrap();
    let (code, out, _) = output(adc(wrong.path(), &server.agent_addr(), &auth, &["check"]));
    assert_eq!(code, 1, "{out}");
    let failed = out
        .lines()
        .find(|l| l.starts_with("[FAIL]"))
        .unwrap_or_default();
    assert!(
        failed.contains("groups:")
            && failed.contains("under `ou=nowhere,dc=example,dc=com`")
            && failed.contains("check backend.ldap.groups"),
        "{out}"
    );

    let (code, out, err) = output(adc(dir.path(), &server.agent_addr(), &auth, &["imp"]));
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        (
            count_in(&out, "created"),
            count_in(&out, "groups created"),
            count_in(&out, "members added"),
            count_in(&out, "members unresolved")
        ),
        (2, 1, 1, 1),
        "{out}"
    );
}

#[engines]
async fn adc_imp_runs_one_sync_prints_the_summary_and_exits_with_its_outcome(engine: Engine) {
    let mut ldap = Slapd::start(&slapd::ldif(&people(7)));
    let server = TestServer::start(engine).await;
    let api = server.admin().await;
    let (id, secret) = api.add_sync("corp").await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("adc.yaml"), ldap.adc_yaml("")).unwrap();
    let auth = format!("{id}:{secret}");

    let (code, out, err) = output(adc(
        dir.path(),
        &server.agent_addr(),
        &auth,
        &["imp", "--dry-run"],
    ));
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(row_of(&out, "status"), "succeeded", "{out}");
    assert_eq!(row_of(&out, "mode"), "dry run: nothing applied", "{out}");
    assert!(row_of(&out, "duration").ends_with(" s"), "{out}");
    assert_eq!(count_in(&out, "created"), 7, "the plan: {out}");
    let (_, users) = api.get("/api/v1/users").await;
    assert!(
        users["users"].as_array().unwrap().is_empty(),
        "a dry run applies nothing"
    );

    let (code, out, err) = output(adc(dir.path(), &server.agent_addr(), &auth, &["imp"]));
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(row_of(&out, "status"), "succeeded", "{out}");
    assert_eq!(row_of(&out, "mode"), "applied", "{out}");
    assert_eq!(
        (count_in(&out, "read"), count_in(&out, "created")),
        (7, 7),
        "{out}"
    );
    let (_, runs) = api
        .get(&format!("/api/v1/synchronizations/{id}/runs"))
        .await;
    assert_eq!(runs[0]["trigger"], "agent");
    assert_eq!(
        row_of(&out, "run"),
        runs[0]["id"].as_str().unwrap(),
        "the run's ID"
    );
    assert!(
        runs[0]["triggered_by"]
            .as_str()
            .unwrap()
            .starts_with("adc imp on ")
    );

    let (code, out, _) = output(adc(dir.path(), &server.agent_addr(), &auth, &["imp"]));
    assert_eq!(code, 0);
    assert_eq!(count_in(&out, "unchanged"), 7, "{out}");

    ldap.stop();
    let (code, out, err) = output(adc(dir.path(), &server.agent_addr(), &auth, &["imp"]));
    assert_eq!(code, 1, "{out}");
    assert_eq!(row_of(&out, "status"), "failed", "{out}");
    let last = err.trim().lines().last().unwrap();
    assert!(
        last.starts_with("adc: the run failed") && last.contains("cannot connect"),
        "one-line reason last: {err}"
    );
}

/// Runs `inner` with a terminal for its output (util-linux `script`, in every Debian):
/// its exit code and what the terminal showed.
fn on_terminal(inner: Command) -> (i32, String) {
    let words: Vec<String> = std::iter::once(inner.get_program())
        .chain(inner.get_args())
        .map(|a| format!("'{}'", a.to_string_lossy()))
        .collect();
    let mut cmd = Command::new("script");
    cmd.args(["-q", "-e", "-c", &words.join(" "), "/dev/null"])
        .stdin(std::process::Stdio::null());
    for (k, v) in inner.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    if let Some(d) = inner.get_current_dir() {
        cmd.current_dir(d);
    }
    let out = cmd.output().expect("script (util-linux) runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

// Engine-independent: run once, on SQLite.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adc_imp_on_a_terminal_shows_how_many_entries_it_has_read() {
    let ldap = Slapd::start(&slapd::ldif(&people(7)));
    let server = TestServer::start(Engine::Sqlite).await;
    let (id, secret) = server.admin().await.add_sync("corp").await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("adc.yaml"), ldap.adc_yaml("")).unwrap();
    let auth = format!("{id}:{secret}");

    let (code, screen) = on_terminal(adc(dir.path(), &server.agent_addr(), &auth, &["imp"]));
    assert_eq!(code, 0, "{screen}");
    let progress = screen
        .find("\rread 7 entries")
        .unwrap_or_else(|| panic!("the count read: {screen:?}"));
    let summary = screen
        .find("created")
        .unwrap_or_else(|| panic!("the summary: {screen:?}"));
    assert!(
        progress < summary,
        "the count while reading, then the summary: {screen:?}"
    );

    // Piped (a script, a scheduler): the summary alone, no carriage returns.
    let (code, out, err) = output(adc(dir.path(), &server.agent_addr(), &auth, &["imp"]));
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(count_in(&out, "unchanged"), 7, "{out}");
    assert!(
        !err.contains('\r') && !out.contains('\r'),
        "no progress display on a pipe: {err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adc_check_tests_authentication_with_a_password_read_from_the_terminal_or_stdin() {
    use std::io::Write;
    let with_pw: Vec<Person> = (0..2)
        .map(|i| Person {
            password: Some(format!("pw-{i}-secret")),
            ..Person::numbered(i)
        })
        .collect();
    let ldap = Slapd::start(&slapd::ldif(&with_pw));
    let server = TestServer::start(adc_e2e::engine::Engine::Sqlite).await;
    let (id, secret) = server.admin().await.add_sync("corp").await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("adc.yaml"), ldap.adc_yaml("")).unwrap();
    let run_with = |password: &str| {
        let mut cmd = adc(
            dir.path(),
            &server.agent_addr(),
            &format!("{id}:{secret}"),
            &["check", "--auth-user", "user00001@example.com"],
        );
        cmd.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = run_with("pw-1-secret");
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(
        out.contains("[ok]   authentication of user00001@example.com: the password is right"),
        "{out}"
    );
    let (code, out, err) = run_with("wrong-guess");
    assert_eq!(code, 1);
    assert!(
        out.contains("[FAIL] authentication of user00001@example.com"),
        "{out}"
    );
    assert!(
        !out.contains("wrong-guess") && !err.contains("wrong-guess"),
        "the password is never printed"
    );
}

/// LDAPS with a private CA: AD_CONNECT_CA (the server's CAs) does not make the
/// directory trusted, and `adc check` says what does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adc_check_against_ldaps_names_tls_ca_file_when_the_directory_is_not_trusted() {
    let (ldap, cert) = Slapd::start_ldaps(&slapd::ldif(&people(2)));
    let server = TestServer::start(Engine::Sqlite).await;
    let (id, secret) = server.admin().await.add_sync("corp").await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("adc.yaml"), ldap.adc_yaml("")).unwrap();
    let auth = format!("{id}:{secret}");

    // The mistake: the directory's CA given as AD_CONNECT_CA.
    let mut cmd = adc(dir.path(), &server.agent_addr(), &auth, &["check"]);
    cmd.env("AD_CONNECT_CA", &cert.ca);
    let (code, out, err) = output(cmd);
    assert_eq!(code, 1, "{out}\n{err}");
    let failed = out
        .lines()
        .find(|l| l.starts_with("[FAIL]"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(failed.contains(&ldap.url), "{failed}");
    assert!(failed.contains("set tls_ca_file in adc.yaml"), "{failed}");
    assert!(
        failed.contains("AD_CONNECT_CA covers only the connection to the ad-connect server"),
        "{failed}"
    );

    // The fix: tls_ca_file.
    let yaml = ldap.adc_yaml("").replace(
        "    bind_dn:",
        &format!("    tls_ca_file: {}\n    bind_dn:", cert.ca.display()),
    );
    std::fs::write(dir.path().join("adc.yaml"), yaml).unwrap();
    let (code, out, err) = output(adc(dir.path(), &server.agent_addr(), &auth, &["check"]));
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.lines().nth(1).unwrap().contains("bound as"), "{out}");
}

/// Each failure says what failed, the value involved and what to check — once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adc_check_failures_name_the_value_and_what_to_check_once() {
    let ldap = Slapd::start(&slapd::ldif(&people(2)));
    let server = TestServer::start(Engine::Sqlite).await;
    let (id, secret) = server.admin().await.add_sync("corp").await;
    let auth = format!("{id}:{secret}");
    let dir = tempfile::tempdir().unwrap();
    let fail_line = |out: &str| {
        out.lines()
            .find(|l| l.starts_with("[FAIL]"))
            .unwrap_or_else(|| panic!("no failure in:\n{out}"))
            .to_owned()
    };
    let said_once = |line: &str| {
        // No clause repeated back to back ("refused: refused").
        let parts: Vec<&str> = line.split(": ").collect();
        assert!(parts.windows(2).all(|w| w[0] != w[1]), "said twice: {line}");
    };

    // A base DN that does not exist.
    let yaml = ldap.adc_yaml("").replace(
        "base_dn: dc=example,dc=com",
        "base_dn: ou=nowhere,dc=example,dc=com",
    );
    std::fs::write(dir.path().join("adc.yaml"), yaml).unwrap();
    let (code, out, _) = output(adc(dir.path(), &server.agent_addr(), &auth, &["check"]));
    assert_eq!(code, 1, "{out}");
    let line = fail_line(&out);
    assert!(
        line.contains("`ou=nowhere,dc=example,dc=com`")
            && line.contains("no such object")
            && line.contains("check base_dn"),
        "{line}"
    );
    said_once(&line);

    // A directory that accepts the connection and never answers (a hung server).
    let yaml = ldap
        .adc_yaml("")
        .replace("    base_dn:", "    timeout: 2\n    base_dn:");
    std::fs::write(dir.path().join("adc.yaml"), yaml).unwrap();
    ldap.pause();
    let (code, out, _) = output(adc(dir.path(), &server.agent_addr(), &auth, &["check"]));
    ldap.resume();
    assert_eq!(code, 1, "{out}");
    let line = fail_line(&out);
    assert!(
        line.contains("no answer within 2 s") && line.contains("timeout in adc.yaml"),
        "{line}"
    );
    assert!(!line.contains("deadline has elapsed"), "{line}");
    said_once(&line);

    // The server: nothing listening, and a plain-HTTP server asked for TLS.
    std::fs::write(dir.path().join("adc.yaml"), ldap.adc_yaml("")).unwrap();
    let closed = format!("127.0.0.1:{}", adc_e2e::process::free_port());
    let (code, out, _) = output(adc(
        dir.path(),
        &format!("http://{closed}"),
        &auth,
        &["check"],
    ));
    assert_eq!(code, 1, "{out}");
    let line = fail_line(&out);
    assert!(
        line.contains(&format!("ws://{closed}/"))
            && line.contains("Connection refused")
            && line.contains("check AD_CONNECT_ADDR"),
        "{line}"
    );
    said_once(&line);
    let plain = server.agent_addr().replace("ws://", "");
    let (code, out, _) = output(adc(dir.path(), &plain, &auth, &["check"]));
    assert_eq!(code, 1, "{out}");
    let line = fail_line(&out);
    assert!(
        line.contains(&format!("wss://{plain}/"))
            && line.contains("plain HTTP")
            && line.contains("use ws:// or http://"),
        "{line}"
    );
}
