//! The TLS client configuration used for discovery and for reading the jwks_uri host's chain:
//! Mozilla's roots (webpki-roots) + the system's roots (rustls-native-certs) + extra CA files.
//!
//! Invariant: always the standard webpki verifier (chain to a trusted root, name, validity, key
//! usage). rustls's `ring` provider is named explicitly because the dependency graph enables both
//! `ring` and `aws-lc-rs`, which leaves rustls without a process default.

use super::ThumbprintError;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Build the verifying client configuration (no ALPN: HTTP/1.1 is all discovery needs).
pub fn client_config(ca_files: &[PathBuf]) -> Result<ClientConfig, ThumbprintError> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    // System roots are a best effort: a missing or partly unreadable store leaves the others.
    let native = rustls_native_certs::load_native_certs();
    for errs in &native.errors {
        tracing::debug!(error = %errs, "thumbprint: some system CA certificates could not be loaded");
    }
    let (_added, _ignored) = roots.add_parsable_certificates(native.certs);
    for path in ca_files {
        add_ca_file(&mut roots, path)?;
    }
    if roots.is_empty() {
        return Err(ThumbprintError::TrustStore(
            "no trusted root certificate".into(),
        ));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ThumbprintError::TrustStore(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(config)
}

/// Add every certificate of a PEM file as a trust anchor; a file without one is an error.
fn add_ca_file(roots: &mut RootCertStore, path: &Path) -> Result<(), ThumbprintError> {
    let fail = |reason: String| ThumbprintError::CaFile {
        path: path.display().to_string(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| fail(format!("cannot read it: {e}")))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| fail(format!("not PEM: {e}")))?;
    if certs.is_empty() {
        return Err(fail("holds no PEM CERTIFICATE block".into()));
    }
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| fail(format!("not a usable CA certificate: {e}")))?;
    }
    Ok(())
}
