//! A real SMTP server on loopback for the e-mail tests: aiosmtpd (tests/support/
//! smtp_sink.py, installed by scripts/test) with a certificate from the test CA, taking
//! mail over STARTTLS or TLS only and keeping each message as a file.

use crate::certs::{self, TestCert};
use crate::process::{Proc, free_port};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

pub struct SmtpSink {
    pub port: u16,
    pub cert: TestCert,
    out: PathBuf,
    _proc: Proc,
    _dir: tempfile::TempDir,
}

#[derive(Clone, Copy)]
pub enum Mode {
    Starttls,
    Tls,
}

impl SmtpSink {
    pub async fn start(mode: Mode) -> SmtpSink {
        let python = std::env::var("ADC_TEST_SMTP_PYTHON").unwrap_or_else(|_| {
            panic!("ADC_TEST_SMTP_PYTHON names no Python with aiosmtpd; run the tests with scripts/test, which installs it")
        });
        let dir = tempfile::tempdir().unwrap();
        let cert = certs::self_signed(dir.path());
        let out = dir.path().join("mail");
        std::fs::create_dir(&out).unwrap();
        let port = free_port();
        let mut cmd = Command::new(python);
        cmd.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/support/smtp_sink.py"))
            .arg("--port")
            .arg(port.to_string())
            .arg("--mode")
            .arg(match mode {
                Mode::Starttls => "starttls",
                Mode::Tls => "tls",
            })
            .arg("--cert")
            .arg(&cert.cert)
            .arg("--key")
            .arg(&cert.key)
            .arg("--out")
            .arg(&out);
        let proc = Proc::spawn(cmd, dir.path(), "smtp");
        crate::eventually(Duration::from_secs(20), "the SMTP server", || async {
            proc.stdout().contains("ready").then_some(())
        })
        .await;
        SmtpSink {
            port,
            cert,
            out,
            _proc: proc,
            _dir: dir,
        }
    }

    /// The messages taken so far, oldest first, as received (headers and body).
    pub fn messages(&self) -> Vec<String> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&self.out)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect()
    }

    /// Waits for the first message whose text contains `needle`.
    pub async fn wait_for(&self, needle: &str) -> String {
        crate::eventually(
            Duration::from_secs(30),
            &format!("an e-mail with {needle}"),
            || async { self.messages().into_iter().find(|m| m.contains(needle)) },
        )
        .await
    }
}
