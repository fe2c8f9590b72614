//! A throwaway certificate for 127.0.0.1 and localhost, written as PEM files.

use std::path::{Path, PathBuf};

pub struct TestCert {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// A self-signed certificate: the agent trusts it through `AD_CONNECT_CA`.
pub fn self_signed(dir: &Path) -> TestCert {
    let ck =
        rcgen::generate_simple_self_signed(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("generate certificate");
    let cert = dir.join("server.pem");
    let key = dir.join("server.key");
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    TestCert { cert, key }
}
