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

/// A free loopback port (bound and released; the caller binds it next).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A command with none of the ad-connect variables of the surrounding environment.
pub fn clean_command(name: &str) -> Command {
    let mut cmd = Command::new(bin(name));
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.starts_with("ADC_") || k.starts_with("AD_CONNECT_") {
            cmd.env_remove(k);
        }
    }
    cmd
}

/// Starts the `adc-server` binary on a free port (or `ADC_LISTEN` of `envs`) in `dir`
/// and waits until it answers.
pub async fn start_server_binary(
    dir: &std::path::Path,
    envs: &[(&str, &str)],
    label: &str,
) -> (Proc, String) {
    crate::crypto();
    // ADC_LISTEN among `envs` chooses the address (a restart on the same port).
    let listen = envs
        .iter()
        .find(|(k, _)| *k == "ADC_LISTEN")
        .map(|(_, v)| v.to_string())
        .unwrap_or_else(|| format!("127.0.0.1:{}", free_port()));
    let mut cmd = clean_command("adc-server");
    cmd.current_dir(dir).env("ADC_LISTEN", &listen);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut proc = Proc::spawn(cmd, dir, label);
    let base = format!("http://{listen}");
    let client = reqwest::Client::new();
    for _ in 0..400 {
        if client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            return (proc, base);
        }
        if let Some(status) = proc.child.try_wait().unwrap() {
            panic!("adc-server exited with {status}: {}", proc.stderr());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("adc-server did not answer: {}", proc.stderr());
}

/// `adc run` in `dir`, reading `dir/adc.yaml`, connected to the server at `base`
/// (`http://…`) as the synchronization `id` with `secret`.
pub fn spawn_agent(dir: &std::path::Path, base: &str, id: &str, secret: &str, label: &str) -> Proc {
    let mut cmd = clean_command("adc");
    cmd.current_dir(dir)
        .env("AD_CONNECT_ADDR", base.replace("http://", "ws://"))
        .env("AD_CONNECT_AUTH", format!("{id}:{secret}"))
        .env("AD_CONNECT_CONFIG", dir.join("adc.yaml"));
    Proc::spawn(cmd, dir, label)
}

/// A client signed in to the server at `base` as `email`.
pub async fn signed_in(base: &str, email: &str, password: &str) -> crate::api::Api {
    crate::crypto();
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .expect("an HTTP client");
    let mut api = crate::api::Api::new(client, base.to_owned());
    api.login(email, password).await;
    api
}
