//! TLS client configuration: the system's roots plus the extra CAs the user names
//! (`AD_CONNECT_CA`, `tls_ca_file`). rustls only; no OpenSSL.

use anyhow::Context;
use rustls::ClientConfig;
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use std::path::Path;
use std::sync::Arc;

/// Roots from the system store and from `extra` (a PEM file). A missing or unreadable
/// extra file is an error, never silently an empty trust store.
pub fn client_config(extra: Option<&Path>) -> anyhow::Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // A system certificate rustls cannot parse is skipped, as browsers do.
        let _ = roots.add(cert);
    }
    if let Some(path) = extra {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .with_context(|| format!("cannot read CA file {}", path.display()))?
            .collect::<Result<_, _>>()
            .with_context(|| format!("CA file {} is not valid PEM", path.display()))?;
        if certs.is_empty() {
            anyhow::bail!("CA file {} holds no certificate", path.display());
        }
        for c in certs {
            roots.add(c).with_context(|| {
                format!("CA file {}: a certificate is not usable", path.display())
            })?;
        }
    }
    if roots.is_empty() {
        anyhow::bail!(
            "no trusted CA certificates: the system store is empty and no CA file was given"
        );
    }
    Ok(Arc::new(
        ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}
