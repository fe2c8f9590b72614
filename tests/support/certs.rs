//! Throwaway TLS material: a test CA and a server certificate it signed for
//! localhost and 127.0.0.1, written as PEM files.

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use std::path::{Path, PathBuf};

pub struct TestCert {
    /// The server's certificate chain.
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The CA that signed it: what a client trusts (`AD_CONNECT_CA`).
    pub ca: PathBuf,
}

pub fn self_signed(dir: &Path) -> TestCert {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "ad-connect test CA");
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let out = TestCert {
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
        ca: dir.join("ca.pem"),
    };
    std::fs::write(&out.cert, leaf.pem()).unwrap();
    std::fs::write(&out.key, key.serialize_pem()).unwrap();
    std::fs::write(&out.ca, ca.pem()).unwrap();
    out
}
