//! Build script of the agent and the server: the git commit they are built from, for
//! `adc version` and `adc-server --version`. `ADC_GIT_COMMIT` in the environment wins
//! (a container build has no .git); without either it is "unknown".

use std::process::Command;

fn main() {
    let commit = std::env::var("ADC_GIT_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(|| {
            let out = Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .output()
                .ok()?;
            out.status
                .success()
                .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=ADC_GIT_COMMIT={commit}");
    println!("cargo:rerun-if-env-changed=ADC_GIT_COMMIT");
    // A new commit moves HEAD or the branch it names.
    for p in ["../.git/HEAD", "../.git/refs/heads", "../.git/packed-refs"] {
        if std::path::Path::new(p).exists() {
            println!("cargo:rerun-if-changed={p}");
        }
    }
}
