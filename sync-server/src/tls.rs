//! TLS for the server itself (optional; a reverse proxy in front works as well).
//!
//! `serve --tls-cert CERT.pem --tls-key KEY.pem` loads a certificate chain and its private
//! key (PEM) into a rustls configuration (ring, TLS 1.2 and 1.3). The accept loop
//! ([`crate::net`]) runs each handshake in its connection's task, within the header
//! timeout, so a client that stalls in the handshake holds up nobody.

use crate::{Error, Result};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;

/// A rustls server configuration from a PEM certificate chain and a PEM private key.
/// Errors name the file, never its contents.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<rustls::ServerConfig>> {
    let bad = |what: &str, path: &Path, e: &dyn std::fmt::Display| {
        Error::Config(format!("{what} {}: {e}", path.display()))
    };
    let certs = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad("cannot read certificate", cert, &e))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| bad("bad certificate", cert, &e))?;
    if certs.is_empty() {
        return Err(bad("no certificate in", cert, &"empty"));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| bad("cannot read key", key, &e))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("tls: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| Error::Config(format!("certificate and key do not fit: {e}")))?;
    Ok(Arc::new(config))
}

/// A rustls client configuration for connections the server makes (to PostgreSQL): the
/// public web roots plus the certificates in the PEM file `ca` (a school's or hosting
/// party's own authority). Host names are always checked. Errors name the file, never its
/// contents.
pub fn client_config(ca: Option<&Path>) -> Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(ca) = ca {
        let bad = |what: &str, e: &dyn std::fmt::Display| {
            Error::Config(format!("{what} {}: {e}", ca.display()))
        };
        let certs = CertificateDer::pem_file_iter(ca)
            .map_err(|e| bad("cannot read the database authority", &e))?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| bad("bad certificate in", &e))?;
        if certs.is_empty() {
            return Err(bad("no certificate in", &"empty"));
        }
        for c in certs {
            roots
                .add(c)
                .map_err(|e| bad("not a usable authority certificate in", &e))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("tls: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// The SHA-256 (lower-case hex) of the first certificate in the PEM file `ca`: the school's
/// own authority as enrollment QR codes name it (`omkijken_core::invite`).
pub fn ca_sha256(ca: &Path) -> Result<String> {
    use sha2::{Digest, Sha256};
    let cert = CertificateDer::pem_file_iter(ca)
        .map_err(|e| Error::Config(format!("cannot read certificate {}: {e}", ca.display())))?
        .next()
        .ok_or_else(|| Error::Config(format!("no certificate in {}", ca.display())))?
        .map_err(|e| Error::Config(format!("bad certificate {}: {e}", ca.display())))?;
    Ok(hex::encode(Sha256::digest(cert.as_ref())))
}
