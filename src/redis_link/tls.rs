//! TLS material for `rediss://` connections: `cache.tls_ca_file` (extra trust anchors) and
//! `cache.tls_cert_file` + `cache.tls_key_file` (client certificate for mutual TLS).
//!
//! Trust: without `tls_ca_file` a Redis server must chain to Mozilla's roots (webpki-roots, as the
//! rest of the broker). With it, the server must chain to a certificate of that file or to the
//! system's store (rustls-native-certs). The redis crate replaces its default roots when it is
//! handed any root certificate, so the system roots are added to the file's explicitly. Hostname
//! (or IP address) verification is always on; there is no "insecure" mode.
//!
//! Invariants: files are read and parsed once, when the link is built (and by `check-config`);
//! every problem names the config key; the private key is never logged or echoed.

use redis::{ClientTlsConfig, TlsCertificates};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// The TLS files of `[cache]` (paths; read by [`TlsFiles::load`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// `cache.tls_ca_file`: PEM certificates trusted in addition to the system roots.
    pub ca_file: Option<String>,
    /// `cache.tls_cert_file`: PEM client certificate chain (mutual TLS).
    pub cert_file: Option<String>,
    /// `cache.tls_key_file`: PEM private key of `cert_file`.
    pub key_file: Option<String>,
}

impl TlsFiles {
    /// Whether any file is set.
    pub fn any(&self) -> bool {
        self.ca_file.is_some() || self.cert_file.is_some() || self.key_file.is_some()
    }

    /// Every problem with the files, one line each naming the key (empty: fine).
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(path) = &self.ca_file {
            if let Err(e) = read_certs(path) {
                out.push(format!("cache.tls_ca_file: {e}"));
            }
        }
        match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => {
                let chain =
                    read_certs(cert).map_err(|e| out.push(format!("cache.tls_cert_file: {e}")));
                let key_ok =
                    read_key(key).map_err(|e| out.push(format!("cache.tls_key_file: {e}")));
                if let (Ok(chain), Ok(key)) = (chain, key_ok) {
                    if let Err(e) = key_matches(chain, key) {
                        out.push(format!("cache.tls_cert_file / cache.tls_key_file: {e}"));
                    }
                }
            }
            (Some(_), None) => out.push(
                "cache.tls_cert_file is set without cache.tls_key_file: mutual TLS needs both"
                    .into(),
            ),
            (None, Some(_)) => out.push(
                "cache.tls_key_file is set without cache.tls_cert_file: mutual TLS needs both"
                    .into(),
            ),
            (None, None) => {}
        }
        out
    }

    /// The redis crate's TLS parameters; `None` when no file is set (default roots, no client
    /// certificate). Errors name the config key.
    pub fn load(&self) -> Result<Option<TlsCertificates>, String> {
        if !self.any() {
            return Ok(None);
        }
        if let Some(p) = self.problems().into_iter().next() {
            return Err(p);
        }
        let root_cert = match &self.ca_file {
            Some(path) => {
                let mut pem = std::fs::read(path)
                    .map_err(|e| format!("cache.tls_ca_file: cannot read {path}: {e}"))?;
                pem.push(b'\n');
                pem.extend(system_roots_pem());
                Some(pem)
            }
            None => None,
        };
        let client_tls = match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => Some(ClientTlsConfig {
                client_cert: std::fs::read(cert)
                    .map_err(|e| format!("cache.tls_cert_file: cannot read {cert}: {e}"))?,
                client_key: std::fs::read(key)
                    .map_err(|_| format!("cache.tls_key_file: cannot read {key}"))?,
            }),
            _ => None,
        };
        Ok(Some(TlsCertificates {
            client_tls,
            root_cert,
        }))
    }
}

/// The redis crate builds its rustls configuration with the process-wide crypto provider; the
/// dependency graph enables both `ring` and `aws-lc-rs`, which leaves none by default. Install
/// `ring` (the provider the rest of the broker names) once, unless something installed one.
pub fn ensure_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
    });
}

fn read_certs(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{path} is not PEM: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{path} holds no PEM CERTIFICATE block"));
    }
    for c in &certs {
        x509_parser::parse_x509_certificate(c)
            .map_err(|_| format!("{path} holds a certificate that does not parse"))?;
    }
    Ok(certs)
}

fn read_key(path: &str) -> Result<PrivateKeyDer<'static>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    // The parser's message could quote key material: say only what to fix.
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|_| {
        format!("{path} holds no PEM private key (PKCS#8, PKCS#1 or SEC1, unencrypted)")
    })
}

/// Check that `key` is the private key of the first certificate of `chain`.
fn key_matches(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<(), String> {
    let provider = rustls::crypto::ring::default_provider();
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|_| "the key type is not supported (use RSA, ECDSA P-256/P-384 or Ed25519)")?;
    let certified = rustls::sign::CertifiedKey::new(chain, signing);
    certified
        .keys_match()
        .map_err(|_| "the key is not the certificate's private key".to_owned())
}

/// The system's trust store as PEM (best effort: unreadable entries are skipped).
fn system_roots_pem() -> Vec<u8> {
    use base64::Engine as _;
    let native = rustls_native_certs::load_native_certs();
    let mut out = Vec::new();
    for cert in native.certs {
        // Only what rustls accepts as a trust anchor: the redis crate refuses the whole set
        // otherwise.
        if rustls::RootCertStore::empty().add(cert.clone()).is_err() {
            continue;
        }
        let b64 = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
        out.extend_from_slice(b"-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            out.extend_from_slice(line);
            out.push(b'\n');
        }
        out.extend_from_slice(b"-----END CERTIFICATE-----\n");
    }
    out
}
