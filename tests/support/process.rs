//! The real binaries, run as a user runs them, with their output captured.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// `target/debug/NAME`, built by `cargo build --workspace --bins` (scripts/test does).
pub fn bin(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let p = target.join("debug").join(name);
    assert!(
        p.exists(),
        "{} is missing: run `cargo build --workspace --bins` first (scripts/test does)",
        p.display()
    );
    p
}

/// A child process whose stdout and stderr go to files we can read while it runs.
pub struct Proc {
    pub child: Child,
    pub out_path: PathBuf,
    pub err_path: PathBuf,
}

impl Proc {
    pub fn spawn(mut cmd: Command, dir: &std::path::Path, label: &str) -> Proc {
        let out_path = dir.join(format!("{label}.stdout"));
        let err_path = dir.join(format!("{label}.stderr"));
        cmd.stdin(Stdio::null())
            .stdout(std::fs::File::create(&out_path).unwrap())
            .stderr(std::fs::File::create(&err_path).unwrap());
        let child = cmd.spawn().expect("spawn");
        Proc {
            child,
            out_path,
            err_path,
        }
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.out_path).unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err_path).unwrap_or_default()
    }

    pub fn signal(&self, sig: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, sig).expect("signal");
    }

    /// Waits for the process to exit, at most `limit`; its exit code.
    pub async fn wait(&mut self, limit: Duration) -> i32 {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s.code().unwrap_or(-1);
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "process did not exit; stderr:\n{}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs an `adc-server` management command against `database_url`.
pub fn server_cli(database_url: &str, args: &[&str]) -> std::process::Output {
    Command::new(bin("adc-server"))
        .env("ADC_DATABASE_URL", database_url)
        .env("ADC_LOG", "warn")
        .args(args)
        .output()
        .expect("adc-server runs")
}

/// The password a management command printed (`password: X`, `… password for E: X`).
pub fn printed_password(stdout: &str) -> String {
    stdout
        .lines()
        .find(|l| l.contains("password"))
        .and_then(|l| l.split_once(": "))
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no password printed: {stdout}"))
}
