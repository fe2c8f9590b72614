//! Secrets: generation from the OS CSPRNG, argon2id hashing on a blocking thread,
//! SHA-256 for high-entropy tokens, and constant-time comparison (architecture §8.1).

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;
use subtle::ConstantTimeEq;

pub use adc_shared::Secret;

/// `bytes` bytes from the OS CSPRNG, base64url-encoded without padding.
pub fn random_token(bytes: usize) -> Secret {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the OS random number generator is unavailable");
    Secret::new(URL_SAFE_NO_PAD.encode(buf))
}

/// A new Secret Token for a synchronization: 256 bits.
pub fn new_sync_secret() -> Secret {
    random_token(32)
}

/// A new API token: 256 bits behind a recognisable prefix, so secret scanners find it.
pub fn new_api_token() -> Secret {
    Secret::new(format!("adct_{}", random_token(32).expose()))
}

/// A random password for a new admin account, printed once.
pub fn new_password() -> Secret {
    random_token(18)
}

/// SHA-256, hex: for tokens with 256 bits of entropy, where a slow hash adds nothing.
pub fn sha256_hex(s: &str) -> String {
    let d = Sha256::digest(s.as_bytes());
    d.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// Hashes with argon2id on a blocking thread, so the async workers keep serving.
pub async fn hash(secret: Secret) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || hash_blocking(secret.expose())).await?
}

pub fn hash_blocking(secret: &str) -> anyhow::Result<String> {
    Argon2::default()
        .hash_password(secret.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))
}

/// Verifies on a blocking thread. With `phc` = `None` (no such account) it verifies
/// against a dummy hash and fails, taking the same time: no timing oracle.
pub async fn verify(secret: Secret, phc: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let known = phc.is_some();
        let phc = phc.unwrap_or_else(|| dummy_hash().to_owned());
        let ok = Argon2::default()
            .verify_password(secret.expose().as_bytes(), phc.as_str())
            .is_ok();
        ok && known
    })
    .await
    .unwrap_or(false)
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_blocking(random_token(32).expose()).expect("argon2 works"))
}

/// Computes the dummy hash ahead of the first request, so the first unknown
/// Application ID costs no more than later ones.
pub fn warm_up() {
    let _ = dummy_hash();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_secrets_carry_256_bits_and_differ() {
        let a = new_sync_secret();
        let b = new_sync_secret();
        assert_eq!(URL_SAFE_NO_PAD.decode(a.expose()).unwrap().len(), 32);
        assert_ne!(a, b);
        assert_eq!(format!("{a:?}"), "***");
    }

    #[tokio::test]
    async fn argon2id_round_trip_and_dummy_never_verifies() {
        let s = Secret::new("correct horse");
        let phc = hash(s.clone()).await.unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(verify(s.clone(), Some(phc.clone())).await);
        assert!(!verify(Secret::new("wrong"), Some(phc)).await);
        assert!(!verify(s, None).await);
    }
}
