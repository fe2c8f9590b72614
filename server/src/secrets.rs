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

/// Verifies an agent's Secret Token against its synchronization's argon2id hash `phc`
/// (`None`: no such synchronization, as [`verify`]). A Secret Token carries 256 bits, so
/// once one verified, a keyed SHA-256 of it is kept in memory (architecture §8.1 allows
/// SHA-256 for high-entropy tokens): the agents of a synchronization reconnecting
/// together, after a restart, cost one argon2 verification, not one each. Verifications
/// that need argon2 take turns, one at a time, so a storm of reconnects leaves the other
/// cores to the rest of the server. A wrong token always costs an argon2 verification.
pub async fn verify_sync_secret(secret: Secret, phc: Option<String>) -> bool {
    let v = verified();
    if phc.as_deref().is_some_and(|p| v.knows(p, &secret)) {
        return true;
    }
    let _turn = v.slow.lock().await;
    // Another connection may have verified the same token meanwhile.
    if phc.as_deref().is_some_and(|p| v.knows(p, &secret)) {
        return true;
    }
    v.argon2_runs
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let ok = verify(secret.clone(), phc.clone()).await;
    if let (true, Some(p)) = (ok, phc) {
        v.remember(p, &secret);
    }
    ok
}

/// How many argon2 verifications of Secret Tokens ran (for tests and the benchmark).
pub fn sync_secret_argon2_runs() -> u64 {
    verified()
        .argon2_runs
        .load(std::sync::atomic::Ordering::Relaxed)
}

/// Secret Tokens verified since the process started, by their hash.
struct Verified {
    key: [u8; 32],
    known: std::sync::Mutex<std::collections::HashMap<String, [u8; 32]>>,
    slow: tokio::sync::Mutex<()>,
    argon2_runs: std::sync::atomic::AtomicU64,
}

/// Kept tokens at most; past it the memory starts afresh (a new argon2 each).
const VERIFIED_MAX: usize = 100_000;

impl Verified {
    fn keyed(&self, secret: &Secret) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.key);
        h.update(secret.expose().as_bytes());
        h.finalize().into()
    }

    fn knows(&self, phc: &str, secret: &Secret) -> bool {
        let digest = self.keyed(secret);
        let known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        known.get(phc).is_some_and(|d| bool::from(d.ct_eq(&digest)))
    }

    fn remember(&self, phc: String, secret: &Secret) {
        let digest = self.keyed(secret);
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        if known.len() >= VERIFIED_MAX {
            known.clear();
        }
        known.insert(phc, digest);
    }
}

fn verified() -> &'static Verified {
    static VERIFIED: OnceLock<Verified> = OnceLock::new();
    VERIFIED.get_or_init(|| {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).expect("the OS random number generator is unavailable");
        Verified {
            key,
            known: std::sync::Mutex::default(),
            slow: tokio::sync::Mutex::new(()),
            argon2_runs: std::sync::atomic::AtomicU64::new(0),
        }
    })
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

    #[tokio::test]
    async fn a_sync_secret_verified_once_needs_no_second_argon2_and_a_wrong_one_always_does() {
        let s = new_sync_secret();
        let phc = hash(s.clone()).await.unwrap();
        let before = sync_secret_argon2_runs();
        assert!(verify_sync_secret(s.clone(), Some(phc.clone())).await);
        assert!(verify_sync_secret(s.clone(), Some(phc.clone())).await);
        assert!(verify_sync_secret(s.clone(), Some(phc.clone())).await);
        let after_right = sync_secret_argon2_runs();
        assert_eq!(
            after_right - before,
            1,
            "one argon2 for three verifications"
        );
        assert!(!verify_sync_secret(Secret::new("wrong"), Some(phc.clone())).await);
        assert!(!verify_sync_secret(s.clone(), None).await);
        // A rotated secret has another hash: the old token is not known for it.
        let rotated = hash(new_sync_secret()).await.unwrap();
        assert!(!verify_sync_secret(s, Some(rotated)).await);
        assert_eq!(sync_secret_argon2_runs() - after_right, 3);
    }

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
