//! Podman as these machines run it (root, runc, vfs storage, cgroupfs, no ulimits),
//! with its images and containers under target/podman, which scripts/test prepares:
//! it installs podman and makes the Debian base image the Dockerfile names with
//! debootstrap (no registry is reachable here).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The image the Dockerfile builds on, as scripts/test tags its local copy.
pub const BASE_IMAGE: &str = "docker.io/library/debian:bookworm-slim";

pub struct Podman {
    state: PathBuf,
}

impl Podman {
    /// The prepared podman; panics with what to run when scripts/test has not set it up.
    pub fn prepared() -> Podman {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
        let p = Podman {
            state: target.join("podman"),
        };
        // Only this image is looked at: listing every image also walks the layers of a
        // build another test is making, and fails when one vanishes meanwhile.
        let exists = p.output(&["image", "exists", BASE_IMAGE]);
        assert!(
            exists.status.success(),
            "podman has no {BASE_IMAGE}: scripts/test makes it (debootstrap) {}",
            String::from_utf8_lossy(&exists.stderr)
        );
        p
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", self.state.join("containers.conf"))
            .arg("--root")
            .arg(self.state.join("storage"))
            .arg("--runroot")
            .arg(self.state.join("run"))
            .args(["--storage-driver", "vfs"])
            .args(args);
        c
    }

    pub fn output(&self, args: &[&str]) -> Output {
        self.command(args)
            .output()
            .expect("podman runs (scripts/test installs it)")
    }

    /// Runs podman; its stdout, or a panic with its stderr.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.output(args);
        assert!(
            out.status.success(),
            "podman {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Builds the Dockerfile's `target` as `tag`, its build stage replaced by the
    /// binaries scripts/test built (`--build-context build=…`), so the Dockerfile is the
    /// one users build with Docker.
    pub fn build(&self, target: &str, tag: &str, binaries: &Path) {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let context = format!("build={}", binaries.display());
        let dockerfile = repo.join("Dockerfile");
        self.ok(&[
            "build",
            "--format",
            "docker",
            "--target",
            target,
            "--build-context",
            &context,
            "-t",
            tag,
            "-f",
            dockerfile.to_str().unwrap(),
            repo.to_str().unwrap(),
        ]);
    }

    /// Removes a container, running or not (a test's cleanup).
    pub fn remove(&self, name: &str) {
        let _ = self.output(&["rm", "-f", "-t", "0", name]);
    }
}
