//! Sending a webhook: the JSON body, signed with the endpoint's key, POSTed to its URL.
//!
//! The receiver checks `X-ADC-Signature: sha256=<hex>`, the HMAC-SHA256 of
//! `<X-ADC-Timestamp>.<body>` under the secret it was shown once, and may refuse a
//! timestamp too far from its clock (a replay). Unless the server allows it
//! (ADC_WEBHOOK_ALLOW_PRIVATE), the URL must resolve to public addresses only, and the
//! request goes to the address checked, so a tenant cannot make the server call into
//! its own network, by name or by a DNS answer that changes.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// `sha256=<hex>` for `body` sent at `timestamp` under `secret`.
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// Addresses a webhook may not reach unless private targets are allowed.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || (o[0] == 100 && (o[1] & 0xc0) == 64) // 100.64.0.0/10, carrier-grade NAT
                || o[0] == 0
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
        }
    }
}

/// Checks a URL as an admin gives it: http or https, a host, no credentials in it.
pub fn check_url(url: &str) -> Result<reqwest::Url, String> {
    let u = reqwest::Url::parse(url).map_err(|e| {
        format!("`{url}` is not a URL ({e}); give one such as https://hooks.example.com/adc")
    })?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(format!(
            "a webhook URL starts with https:// or http://, not `{}:`",
            u.scheme()
        ));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(format!("`{url}` names no host"));
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err(
            "put no user name or password in the webhook URL: the signature proves the sender"
                .into(),
        );
    }
    if url.len() > 2000 {
        return Err("a webhook URL has at most 2000 characters".into());
    }
    Ok(u)
}

/// POSTs `body` to `url`; Ok when it answers 2xx, else what went wrong, for the log.
pub async fn send(
    url: &str,
    secret: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
    allow_private: bool,
) -> Result<(), String> {
    let u = check_url(url)?;
    let host = u
        .host_str()
        .unwrap_or_default()
        .trim_matches(['[', ']'])
        .to_owned();
    let port = u.port_or_known_default().unwrap_or(443);
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| format!("cannot resolve `{host}`: {e}"))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("`{host}` resolves to no address"));
    }
    if !allow_private && let Some(a) = addrs.iter().find(|a| is_private(a.ip())) {
        return Err(format!(
            "`{host}` resolves to {}, a private or loopback address: webhooks go to public addresses (the server's ADC_WEBHOOK_ALLOW_PRIVATE allows others)",
            a.ip()
        ));
    }
    let client = reqwest::Client::builder()
        .resolve_to_addrs(&host, &addrs)
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .user_agent(concat!("ad-connect/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| format!("cannot make an HTTP client: {e}"))?;
    let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut req = client
        .post(u)
        .header("content-type", "application/json")
        .header("x-adc-timestamp", timestamp.to_string())
        .header("x-adc-signature", signature(secret, timestamp, &body));
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = req.body(body).send().await.map_err(|e| {
        let mut msg = format!("POST {url}: {e}");
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            msg.push_str(&format!(": {s}"));
            src = s.source();
        }
        msg
    })?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let text = resp.text().await.unwrap_or_default();
    let text: String = text.chars().take(200).collect();
    Err(format!(
        "{url} answered HTTP {}: {}",
        status.as_u16(),
        text.trim()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // The value `openssl dgst -sha256 -hmac key` prints for "1700000000.{}".
        assert_eq!(
            signature("key", 1700000000, b"{}"),
            "sha256=9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"
        );
    }

    #[test]
    fn private_and_loopback_addresses_are_told_apart_from_public_ones() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_private(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "100.128.0.1"] {
            assert!(!is_private(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn a_webhook_url_is_http_with_a_host_and_no_credentials() {
        assert!(check_url("https://hooks.example.com/adc?x=1").is_ok());
        assert!(check_url("ftp://x").unwrap_err().contains("https://"));
        assert!(
            check_url("https://u:p@x.example/")
                .unwrap_err()
                .contains("password")
        );
        assert!(check_url("not a url").unwrap_err().contains("not a URL"));
    }
}
