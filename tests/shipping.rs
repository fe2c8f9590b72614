//! What ships beside the binaries: the systemd units of the agent (in its download) and
//! of the server, checked by systemd's own tools.

use adc_e2e::process::bin;
use std::path::Path;
use std::process::Command;

const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// The unit at `source`, its paths moved under `dir` where the binary and the files it
/// names exist (systemd-analyze checks them), written to `dir`.
fn installed(source: &str, name: &str, dir: &Path) -> std::path::PathBuf {
    let text = std::fs::read_to_string(Path::new(REPO).join(source)).unwrap();
    let root = dir.display().to_string();
    let text = text
        .replace("/opt/ad-connect", &format!("{root}/opt"))
        .replace("/usr/bin/adc-server", &format!("{root}/adc-server"));
    std::fs::create_dir_all(dir.join("opt/bin")).unwrap();
    std::fs::copy(bin("adc"), dir.join("opt/bin/adc")).unwrap();
    std::fs::copy(bin("adc-server"), dir.join("adc-server")).unwrap();
    std::fs::write(dir.join("opt/adc.cfg"), "AD_CONNECT_ADDR=127.0.0.1:1\n").unwrap();
    let unit = dir.join(name);
    std::fs::write(&unit, text).unwrap();
    unit
}

/// `systemd-analyze verify`: its complaints (it exits 0 on an unknown key).
fn verify(unit: &Path) -> String {
    let out = Command::new("systemd-analyze")
        .arg("verify")
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
