//! Browser scenarios: a Node script (tests/browser/*.mjs) drives Debian's chromium with
//! playwright-core through the admin page, while the Rust test owns the real server,
//! agent and slapd. The script asks for what only the Rust side can do with a line
//! `@@ {"ask": ...}` on its stdout and reads the JSON answer on its stdin.

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

pub fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("browser")
}

/// Screenshots and downloads of a scenario: tests/artifacts/<scenario>/.
pub fn artifacts(scenario: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("artifacts")
        .join(scenario)
}

fn chromium() -> String {
    std::env::var("ADC_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into())
}

pub struct Browser {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Browser {
    /// Starts `tests/browser/<scenario>.mjs` with `env`; the page is at `base_url`.
    pub fn start(scenario: &str, base_url: &str, env: &[(&str, String)]) -> Browser {
        let dir = browser_dir();
        assert!(
            dir.join("node_modules/playwright-core").exists(),
            "playwright-core is not installed: run scripts/test (it runs `npm ci` in tests/browser)"
        );
        assert!(
            Path::new(&chromium()).exists(),
            "{} is missing: run scripts/test (it installs Debian's chromium)",
            chromium()
        );
        let out = artifacts(scenario);
        let _ = std::fs::remove_dir_all(&out);
        std::fs::create_dir_all(&out).unwrap();
        let mut cmd = Command::new("node");
        cmd.arg(dir.join(format!("{scenario}.mjs")))
            .current_dir(&dir)
            .env("ADC_BASE_URL", base_url)
            .env("ADC_ARTIFACTS", &out)
            .env("ADC_CHROMIUM", chromium())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("node runs (scripts/test installs it)");
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Browser {
            child,
            stdin,
            lines,
        }
    }

    /// The script's next request; `None` once it has finished. Its other output is
    /// passed on, so a failing test shows how far the browser got.
    pub async fn next(&mut self) -> Option<Value> {
        loop {
            let line = tokio::time::timeout(Duration::from_secs(240), self.lines.next_line())
                .await
                .expect("the browser script went silent for 4 minutes")
                .expect("reading the browser script's output")?;
            match line.strip_prefix("@@ ") {
                Some(req) => return Some(serde_json::from_str(req).expect("a JSON request")),
                None => eprintln!("[browser] {line}"),
            }
        }
    }

    pub async fn answer(&mut self, v: Value) {
        let mut line = v.to_string();
        line.push('\n');
        self.stdin.write_all(line.as_bytes()).await.unwrap();
        self.stdin.flush().await.unwrap();
    }

    /// Refuses a request the test does not know, so the script fails with the reason.
    pub async fn refuse(&mut self, req: &Value) {
        self.answer(json!({"error": format!("the Rust test does not handle {req}")}))
            .await;
    }

    /// Runs `tests/browser/<scenario>.mjs` to its end, for a script that asks the
    /// Rust side for nothing (any request is refused); panics unless it passed.
    pub async fn run(scenario: &str, base_url: &str, env: &[(&str, String)]) {
        let mut browser = Browser::start(scenario, base_url, env);
        while let Some(req) = browser.next().await {
            browser.refuse(&req).await;
        }
        browser.finish().await;
    }

    /// Waits for the script to end; panics unless it passed.
    pub async fn finish(mut self) {
        if let Some(req) = self.next().await {
            panic!("the browser script asked {req} after the test stopped answering");
        }
        let status = tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .expect("the browser script exits")
            .unwrap();
        assert!(
            status.success(),
            "the browser scenario failed ({status}); its messages are above"
        );
    }
}
