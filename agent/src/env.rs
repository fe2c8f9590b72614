//! The agent's environment (architecture §7.1): where the server is, the credentials, where
//! adc.yaml is, and extra CAs to trust.

use crate::secret::Secret;
use adc_shared::protocol::CONNECT_PATH;
use std::path::PathBuf;
use uuid::Uuid;

pub const ADDR: &str = "AD_CONNECT_ADDR";
pub const AUTH: &str = "AD_CONNECT_AUTH";
pub const CONFIG: &str = "AD_CONNECT_CONFIG";
pub const CA: &str = "AD_CONNECT_CA";

#[derive(Clone, Debug)]
pub struct ServerAccess {
    /// `wss://host:port/api/v1/agent/connect` (or `ws://` for a plain-HTTP server).
    pub url: String,
    pub client_id: Uuid,
    pub secret: Secret,
    /// A PEM file of CAs to trust besides the system's.
    pub extra_ca: Option<PathBuf>,
}

/// The path of adc.yaml: `AD_CONNECT_CONFIG`, default `./adc.yaml`.
pub fn config_path() -> PathBuf {
    std::env::var_os(CONFIG)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("./adc.yaml"))
}

impl ServerAccess {
    pub fn from_env() -> anyhow::Result<ServerAccess> {
        let addr = std::env::var(ADDR).map_err(|_| {
            anyhow::anyhow!("{ADDR} is not set: give the server as host:port or a wss:// URL")
        })?;
        let auth = std::env::var(AUTH).map_err(|_| {
            anyhow::anyhow!("{AUTH} is not set: give client-id:client-secret from the admin page")
        })?;
        let (client_id, secret) = parse_auth(&auth)?;
        Ok(ServerAccess {
            url: websocket_url(&addr)?,
            client_id,
            secret,
            extra_ca: std::env::var_os(CA)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
        })
    }
}

/// `client-id:client-secret`, the ID a UUID. The error never repeats the secret.
pub fn parse_auth(s: &str) -> anyhow::Result<(Uuid, Secret)> {
    let (id, secret) = s
        .trim()
        .split_once(':')
        .ok_or_else(|| anyhow::anyhow!("{AUTH} must be client-id:client-secret"))?;
    let id = Uuid::parse_str(id).map_err(|_| {
        anyhow::anyhow!(
            "{AUTH}: the client-id before the colon must be the Application ID (a UUID)"
        )
    })?;
    if secret.is_empty() {
        anyhow::bail!("{AUTH}: the client-secret after the colon is empty");
    }
    Ok((id, Secret::new(secret)))
}

/// `host:port` means `wss://host:port`; `wss://`, `ws://`, `https://` and `http://`
/// URLs are accepted too. The agent path is appended when the URL has none.
pub fn websocket_url(addr: &str) -> anyhow::Result<String> {
    let addr = addr.trim();
    let (scheme, rest) = match addr.split_once("://") {
        Some(("wss" | "https", rest)) => ("wss", rest),
        Some(("ws" | "http", rest)) => ("ws", rest),
        Some((other, _)) => {
            anyhow::bail!("{ADDR}: scheme `{other}` is not one of wss, ws, https, http")
        }
        None => ("wss", addr),
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.is_empty() || authority.contains(char::is_whitespace) || authority.contains('@') {
        anyhow::bail!("{ADDR}: `{addr}` has no valid host[:port]");
    }
    let path = match path.trim_end_matches('/') {
        "" => CONNECT_PATH.to_owned(),
        p => p.to_owned(),
    };
    let url = format!("{scheme}://{authority}{path}");
    url.parse::<tokio_tungstenite::tungstenite::http::Uri>()
        .map_err(|e| anyhow::anyhow!("{ADDR}: `{addr}` is not a valid address: {e}"))?;
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port_means_wss_with_the_agent_path() {
        assert_eq!(
            websocket_url("adc.example.com:443").unwrap(),
            "wss://adc.example.com:443/api/v1/agent/connect"
        );
        assert_eq!(
            websocket_url("https://adc.example.com").unwrap(),
            "wss://adc.example.com/api/v1/agent/connect"
        );
        assert_eq!(
            websocket_url("http://127.0.0.1:8080/").unwrap(),
            "ws://127.0.0.1:8080/api/v1/agent/connect"
        );
        assert_eq!(
            websocket_url("wss://h:1/custom/path").unwrap(),
            "wss://h:1/custom/path"
        );
        assert!(websocket_url("ftp://h").is_err());
        assert!(websocket_url("").is_err());
    }

    #[test]
    fn auth_needs_a_uuid_and_a_secret_and_never_echoes_it() {
        let id = Uuid::new_v4();
        let (got, s) = parse_auth(&format!("{id}:se:cret")).unwrap();
        assert_eq!((got, s.expose()), (id, "se:cret"));
        let e = parse_auth("not-a-uuid:hunter2").unwrap_err().to_string();
        assert!(!e.contains("hunter2"), "{e}");
        assert!(parse_auth(&format!("{id}:")).is_err());
        assert!(parse_auth("nocolon").is_err());
    }
}
