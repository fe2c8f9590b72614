//! The agent download (architecture §7.5): which platforms this server offers, and the archive
//! for one of them — the binary, a documented adc.yaml, adc.cfg with this server's
//! address, the systemd unit and a README.
//!
//! Platforms come from `ADC_AGENT_DIST` (default: the server's own directory): a file
//! `adc` there is the agent for the platform the server runs on; a folder named
//! `<os>-<arch>` holding `adc` or `adc.exe` is the agent for that platform.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

const ADC_YAML: &str = include_str!("../../agent/dist/adc.yaml");
const ADC_SERVICE: &str = include_str!("../../agent/dist/adc.service");
const README: &str = include_str!("../../agent/dist/README.md");
/// The manual pages and shell completions, generated from the agent's command line by
/// `scripts/docs` (a test keeps them in step with it).
const DOCS: [(&str, &str); 11] = [
    ("man/adc.1", include_str!("../../agent/dist/man/adc.1")),
    (
        "man/adc-run.1",
        include_str!("../../agent/dist/man/adc-run.1"),
    ),
    (
        "man/adc-imp.1",
        include_str!("../../agent/dist/man/adc-imp.1"),
    ),
    (
        "man/adc-check.1",
        include_str!("../../agent/dist/man/adc-check.1"),
    ),
    (
        "man/adc-version.1",
        include_str!("../../agent/dist/man/adc-version.1"),
    ),
    (
        "man/adc-completions.1",
        include_str!("../../agent/dist/man/adc-completions.1"),
    ),
    (
        "man/adc-man.1",
        include_str!("../../agent/dist/man/adc-man.1"),
    ),
    (
        "completions/adc.bash",
        include_str!("../../agent/dist/completions/adc.bash"),
    ),
    (
        "completions/_adc",
        include_str!("../../agent/dist/completions/_adc"),
    ),
    (
        "completions/adc.fish",
        include_str!("../../agent/dist/completions/adc.fish"),
    ),
    (
        "completions/_adc.ps1",
        include_str!("../../agent/dist/completions/_adc.ps1"),
    ),
];

/// Every file of the archive sits under this folder.
const ROOT: &str = "ad-connect";

#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
#[schema(as = AgentBinary)]
pub struct Platform {
    /// `<os>-<arch>`, as in the download's path.
    pub name: String,
    pub os: String,
    pub arch: String,
    /// `tar.gz`, or `zip` for Windows.
    #[schema(value_type = String)]
    pub format: &'static str,
    pub filename: String,
    /// Size of the agent binary, in bytes.
    pub binary_size: u64,
    #[serde(skip)]
    pub binary: PathBuf,
}

impl Platform {
    fn new(name: String, binary: PathBuf, binary_size: u64) -> Option<Platform> {
        let (os, arch) = name.split_once('-')?;
        let ok = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        if !ok(os) || !ok(arch) {
            return None;
        }
        let format = if os == "windows" { "zip" } else { "tar.gz" };
        Some(Platform {
            filename: format!("ad-connect-{name}.{format}"),
            os: os.to_owned(),
            arch: arch.to_owned(),
            format,
            name,
            binary,
            binary_size,
        })
    }

    pub fn is_windows(&self) -> bool {
        self.os == "windows"
    }

    fn binary_name(&self) -> &'static str {
        if self.is_windows() { "adc.exe" } else { "adc" }
    }
}

/// The folder searched for agent binaries.
pub fn dist_dir(configured: Option<&Path>) -> Option<PathBuf> {
    match configured {
        Some(d) => Some(d.to_owned()),
        None => std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(Path::to_owned)),
    }
}

fn file_size(p: &Path) -> Option<u64> {
    std::fs::metadata(p)
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.len())
}

/// The platforms found in `dir`, the server's own first, then by name.
pub fn discover(dir: &Path) -> Vec<Platform> {
    let host = format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH);
    let mut found: Vec<Platform> = Vec::new();
    let own = dir.join(if cfg!(windows) { "adc.exe" } else { "adc" });
    if let Some(size) = file_size(&own) {
        found.extend(Platform::new(host.clone(), own, size));
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let Ok(name) = e.file_name().into_string() else {
                continue;
            };
            if found.iter().any(|p| p.name == name) || !e.path().is_dir() {
                continue;
            }
            for bin in ["adc", "adc.exe"] {
                let path = e.path().join(bin);
                if let Some(size) = file_size(&path) {
                    found.extend(Platform::new(name.clone(), path, size));
                    break;
                }
            }
        }
    }
    found.sort_by(|a, b| (a.name != host, &a.name).cmp(&(b.name != host, &b.name)));
    found
}

/// `AD_CONNECT_ADDR` as agents must use it (architecture §7.1): from the public URL when set,
/// else from the address the browser used. `host:port` means `wss://`; a plain-HTTP
/// server is written as a `ws://` URL.
pub fn agent_addr(public_url: Option<&str>, request_host: Option<&str>, tls: bool) -> String {
    let (secure, hostport) = match public_url {
        Some(u) => match (u.strip_prefix("https://"), u.strip_prefix("http://")) {
            (Some(rest), _) => (true, rest),
            (None, Some(rest)) => (false, rest),
            _ => (true, u),
        },
        None => (tls, request_host.unwrap_or("")),
    };
    let hostport = hostport.split('/').next().unwrap_or("");
    let clean = !hostport.is_empty()
        && hostport
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-:[]_".contains(c));
    if !clean {
        return "your-adc-server.example.com:443".into();
    }
    let has_port = match hostport.rfind(']') {
        Some(i) => hostport[i..].contains(':'),
        None => hostport.contains(':'),
    };
    match (secure, has_port) {
        (true, true) => hostport.to_owned(),
        (true, false) => format!("{hostport}:443"),
        (false, _) => format!("ws://{hostport}"),
    }
}

/// The environment file the systemd unit reads.
/// Stands for the Secret Token in a downloaded adc.cfg: a valid shell word, so the file
/// can be sourced (or read by systemd) before it is edited, and plainly not a secret.
pub const SECRET_PLACEHOLDER: &str = "PASTE-THE-SECRET-TOKEN-HERE";

/// adc.cfg for this server; with the synchronization's Application ID when the download
/// was made for one, so only the secret is left to paste.
pub fn adc_cfg(addr: &str, application_id: Option<uuid::Uuid>) -> String {
    let id = application_id.map_or_else(|| "APPLICATION-ID".to_owned(), |id| id.to_string());
    format!(
        "# Environment of the ad-connect agent (read by adc.service; `set -a; . ./adc.cfg`\n\
         # in a shell). Keep this file readable by root only: it holds the secret.\n\
         \n\
         # This server, as agents reach it (host:port means wss://host:port).\n\
         AD_CONNECT_ADDR={addr}\n\
         # The synchronization's Application ID and Secret Token, as the admin page showed\n\
         # them: replace {SECRET_PLACEHOLDER} (and APPLICATION-ID, if it is there).\n\
         AD_CONNECT_AUTH={id}:{SECRET_PLACEHOLDER}\n\
         # Where adc.yaml is.\n\
         AD_CONNECT_CONFIG=/opt/ad-connect/adc.yaml\n\
         # A PEM file of extra CAs to trust for the server's certificate (optional; the\n\
         # directory's CA is adc.yaml's tls_ca_file).\n\
         #AD_CONNECT_CA=/opt/ad-connect/ca.pem\n"
    )
}

/// The archive's files, the binary last: (path, mode, content).
fn text_files(cfg: &str) -> Vec<(String, u32, &[u8])> {
    let mut files = vec![
        (format!("{ROOT}/README.md"), 0o644, README.as_bytes()),
        (format!("{ROOT}/adc.yaml"), 0o644, ADC_YAML.as_bytes()),
        (format!("{ROOT}/adc.cfg"), 0o600, cfg.as_bytes()),
        (format!("{ROOT}/adc.service"), 0o644, ADC_SERVICE.as_bytes()),
    ];
    files.extend(
        DOCS.iter()
            .map(|(path, body)| (format!("{ROOT}/{path}"), 0o644, body.as_bytes())),
    );
    files
}

/// Writes the `.tar.gz` to `out` as it is made: the binary is streamed, never held.
pub fn write_tar_gz(out: impl Write, p: &Platform, cfg: &str) -> io::Result<()> {
    let gz = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    let mtime = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let header = |size: u64, mode: u32| {
        let mut h = tar::Header::new_gnu();
        h.set_size(size);
        h.set_mode(mode);
        h.set_mtime(mtime);
        h.set_entry_type(tar::EntryType::Regular);
        h
    };
    for (path, mode, body) in text_files(cfg) {
        tar.append_data(&mut header(body.len() as u64, mode), path, body)?;
    }
    let bin = std::fs::File::open(&p.binary)?;
    let size = bin.metadata()?.len();
    tar.append_data(
        &mut header(size, 0o755),
        format!("{ROOT}/bin/{}", p.binary_name()),
        bin,
    )?;
    tar.into_inner()?.finish()?.flush()
}

/// The `.zip` for Windows, made in memory (zip needs to seek).
pub fn zip(p: &Platform, cfg: &str) -> io::Result<Vec<u8>> {
    use zip::write::SimpleFileOptions;
    let mut z = zip::ZipWriter::new(io::Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default().compression_level(Some(1));
    for (path, mode, body) in text_files(cfg) {
        z.start_file(path, opts.unix_permissions(mode))
            .map_err(io::Error::other)?;
        z.write_all(body)?;
    }
    z.start_file(
        format!("{ROOT}/bin/{}", p.binary_name()),
        opts.unix_permissions(0o755),
    )
    .map_err(io::Error::other)?;
    io::copy(&mut std::fs::File::open(&p.binary)?, &mut z)?;
    Ok(z.finish().map_err(io::Error::other)?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_addr_from_public_url_or_request() {
        assert_eq!(
            agent_addr(Some("https://adc.example.com"), None, false),
            "adc.example.com:443"
        );
        assert_eq!(
            agent_addr(Some("https://adc.example.com:8443/"), None, false),
            "adc.example.com:8443"
        );
        assert_eq!(
            agent_addr(Some("http://10.0.0.5:8080"), None, true),
            "ws://10.0.0.5:8080"
        );
        assert_eq!(
            agent_addr(None, Some("127.0.0.1:8080"), false),
            "ws://127.0.0.1:8080"
        );
        assert_eq!(agent_addr(None, Some("[::1]"), true), "[::1]:443");
        assert_eq!(agent_addr(None, Some("[::1]:9"), true), "[::1]:9");
        // A forged Host header never reaches the file.
        assert_eq!(
            agent_addr(None, Some("x\nAD_CONNECT_AUTH=evil"), true),
            "your-adc-server.example.com:443"
        );
    }

    #[test]
    fn platform_names_are_os_dash_arch() {
        assert!(Platform::new("linux-x86_64".into(), PathBuf::new(), 1).is_some());
        let w = Platform::new("windows-x86_64".into(), PathBuf::new(), 1).unwrap();
        assert_eq!((w.format, w.binary_name()), ("zip", "adc.exe"));
        assert!(Platform::new("notes".into(), PathBuf::new(), 1).is_none());
        assert!(Platform::new("../etc-x".into(), PathBuf::new(), 1).is_none());
    }
}
