//! A whole synchronization set up for a test: a directory, a server, a synchronization
//! and a connected agent, plus helpers to run and read reports.

use crate::agent::{AgentSetup, TestAgent};
use crate::api::Api;
use crate::engine::{Engine, TestDb};
use crate::server::TestServer;
use crate::slapd::{self, Person, Slapd};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

pub struct Fixture {
    pub slapd: Slapd,
    pub server: TestServer,
    pub api: Api,
    pub sync_id: String,
    pub secret: String,
    pub agent: TestAgent,
}

pub fn people(n: usize) -> Vec<Person> {
    (0..n).map(Person::numbered).collect()
}

/// `n` people in the directory, an agent connected with adc.yaml `settings` (lines
/// like `  no-delete: true\n`) and the filter `filter`.
pub async fn fixture(engine: Engine, n: usize, settings: &str, filter: Option<&str>) -> Fixture {
    fixture_with(engine, &people(n), settings, filter, |_| {}).await
}

/// [`fixture`] with the given people and a further server `tweak`.
pub async fn fixture_with(
    engine: Engine,
    people: &[Person],
    settings: &str,
    filter: Option<&str>,
    tweak: impl FnOnce(&mut adc_server::Config),
) -> Fixture {
    fixture_from_ldif(engine, &slapd::ldif(people), settings, filter, None, tweak).await
}

/// adc.yaml's `groups` section for the tests' directory (lines to insert).
pub const GROUPS_SECTION: &str = "    groups:\n      base_dn: ou=groups,dc=example,dc=com\n";

/// [`fixture_with`] on a directory holding `ldif` (see [`slapd::ldif`]), with adc.yaml's
/// `groups` section when given (see [`GROUPS_SECTION`]).
pub async fn fixture_from_ldif(
    engine: Engine,
    ldif: &str,
    settings: &str,
    filter: Option<&str>,
    groups: Option<&str>,
    tweak: impl FnOnce(&mut adc_server::Config),
) -> Fixture {
    fixture_on(engine, Slapd::start(ldif), settings, filter, groups, tweak).await
}

/// [`fixture_from_ldif`] on a directory already started (one with syncprov, say).
pub async fn fixture_on(
    engine: Engine,
    slapd: Slapd,
    settings: &str,
    filter: Option<&str>,
    groups: Option<&str>,
    tweak: impl FnOnce(&mut adc_server::Config),
) -> Fixture {
    fixture_on_yaml(engine, slapd, settings, filter, groups, |y| y, tweak).await
}

/// [`fixture_on`] with adc.yaml further edited by `edit` (another flavour, say).
pub async fn fixture_on_yaml(
    engine: Engine,
    slapd: Slapd,
    settings: &str,
    filter: Option<&str>,
    groups: Option<&str>,
    edit: impl FnOnce(String) -> String,
    tweak: impl FnOnce(&mut adc_server::Config),
) -> Fixture {
    let server = TestServer::start_with(TestDb::new(engine).await, |c| {
        c.heartbeat_interval = Duration::from_secs(1);
        c.schedule_check = Duration::from_millis(500);
        tweak(c);
    })
    .await;
    let api = server.admin().await;
    let (sync_id, secret) = api.add_sync("corp").await;
    let mut yaml = slapd.adc_yaml(settings);
    if let Some(g) = groups {
        yaml = yaml.replace(
            "    authentication:\n",
            &format!("{g}    authentication:\n"),
        );
    }
    if let Some(f) = filter {
        yaml = yaml.replace(
            "filter: (objectClass=inetOrgPerson)",
            &format!("filter: {f}"),
        );
    }
    let yaml = edit(yaml);
    let mut agent = TestAgent::start(AgentSetup {
        addr: server.agent_addr(),
        client_id: sync_id.clone(),
        secret: secret.clone(),
        yaml,
        extra_ca: None,
    });
    agent.connected().await;
    Fixture {
        slapd,
        server,
        api,
        sync_id,
        secret,
        agent,
    }
}

/// Only people not marked inactive: marking one takes it out of the source.
pub const ACTIVE_ONLY: &str = "(&(objectClass=inetOrgPerson)(!(employeeType=inactive)))";

impl Fixture {
    /// Starts a run and waits for its end; the final report.
    pub async fn run(&self, body: Value) -> Value {
        let id = self.start(body).await;
        self.wait(&id).await
    }

    pub async fn start(&self, body: Value) -> String {
        let (s, run) = self
            .api
            .post(
                &format!("/api/v1/synchronizations/{}/runs", self.sync_id),
                body,
            )
            .await;
        assert_eq!(s, StatusCode::ACCEPTED, "{run}");
        assert_eq!(run["status"], "running");
        run["id"].as_str().unwrap().to_owned()
    }

    pub async fn wait(&self, run_id: &str) -> Value {
        crate::eventually(Duration::from_secs(60), "the run to end", || async {
            let (_, r) = self.api.get(&format!("/api/v1/runs/{run_id}")).await;
            (r["status"] != "running").then_some(r)
        })
        .await
    }

    /// Changes the synchronization (`{"full_read_hours": 0}`, …); it must succeed.
    pub async fn patch_sync(&self, body: Value) {
        let (s, b) = self
            .api
            .patch(&format!("/api/v1/synchronizations/{}", self.sync_id), body)
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }

    pub async fn patch_settings(&self, settings: Value) {
        self.patch_sync(json!({ "settings": settings })).await;
    }

    /// Sets the synchronization's deletion guard (`{"max_deletes": 1}`, …).
    pub async fn patch_guard(&self, guard: Value) {
        self.patch_sync(json!({ "deletion_guard": guard })).await;
    }

    /// Every user of the tenant matching `query` (e.g. `enabled=false`), all pages.
    pub async fn users(&self, query: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut url = format!("/api/v1/users?limit=100&{query}");
            if let Some(a) = &after {
                url.push_str(&format!("&after={}", urlencode(a)));
            }
            let (s, page) = self.api.get(&url).await;
            assert_eq!(s, StatusCode::OK, "{page}");
            out.extend(page["users"].as_array().unwrap().iter().cloned());
            match page["next_after"].as_str() {
                Some(a) => after = Some(a.to_owned()),
                None => return out,
            }
        }
    }

    pub async fn user(&self, username: &str) -> Value {
        let found = self.users(&format!("q={}", urlencode(username))).await;
        found
            .into_iter()
            .find(|u| u["username"] == username)
            .unwrap_or_else(|| panic!("no user {username}"))
    }

    /// A run's changes matching `query` (e.g. `operation=create`), all pages.
    pub async fn changes(&self, run_id: &str, query: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut after = -1i64;
        loop {
            let (s, page) = self
                .api
                .get(&format!(
                    "/api/v1/runs/{run_id}/changes?limit=200&after={after}&{query}"
                ))
                .await;
            assert_eq!(s, StatusCode::OK, "{page}");
            out.extend(page["changes"].as_array().unwrap().iter().cloned());
            match page["next_after"].as_i64() {
                Some(a) => after = a,
                None => return out,
            }
        }
    }
}

impl Fixture {
    /// Every group of the tenant matching `query`, all pages.
    pub async fn groups(&self, query: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut url = format!("/api/v1/groups?limit=100&{query}");
            if let Some(a) = &after {
                url.push_str(&format!("&after={}", urlencode(a)));
            }
            let (s, page) = self.api.get(&url).await;
            assert_eq!(s, StatusCode::OK, "{page}");
            out.extend(page["groups"].as_array().unwrap().iter().cloned());
            match page["next_after"].as_str() {
                Some(a) => after = Some(a.to_owned()),
                None => return out,
            }
        }
    }

    /// The group named `name`.
    pub async fn group(&self, name: &str) -> Value {
        self.groups(&format!("q={}", urlencode(name)))
            .await
            .into_iter()
            .find(|g| g["name"] == name)
            .unwrap_or_else(|| panic!("no group {name}"))
    }

    /// The names of a group's members (`kind:name`), direct or effective, all pages.
    pub async fn members(&self, group: &str, effective: bool) -> Vec<String> {
        let id = self.group(group).await["id"].as_str().unwrap().to_owned();
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let mut url = format!("/api/v1/groups/{id}/members?limit=1000&effective={effective}");
            if let Some(a) = &after {
                url.push_str(&format!("&after={}", urlencode(a)));
            }
            let (s, page) = self.api.get(&url).await;
            assert_eq!(s, StatusCode::OK, "{page}");
            for m in page["members"].as_array().unwrap() {
                out.push(format!(
                    "{}:{}",
                    m["kind"].as_str().unwrap(),
                    m["name"].as_str().unwrap()
                ));
            }
            match page["next_after"].as_str() {
                Some(a) => after = Some(a.to_owned()),
                None => return out,
            }
        }
    }

    /// The names of the groups a user (by username) is in, direct or effective.
    pub async fn groups_of(&self, username: &str, effective: bool) -> Vec<String> {
        let id = self.user(username).await["id"].as_str().unwrap().to_owned();
        let (s, b) = self
            .api
            .get(&format!("/api/v1/users/{id}/groups?effective={effective}"))
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        b["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap().to_owned())
            .collect()
    }
}

/// A run's counts named by `keys`, in that order (a test compares several at once).
pub fn counts(run: &Value, keys: &[&str]) -> Vec<u64> {
    keys.iter()
        .map(|k| {
            run["counts"][*k]
                .as_u64()
                .unwrap_or_else(|| panic!("no count {k} in {run}"))
        })
        .collect()
}

pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
