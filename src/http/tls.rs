//! The TLS listener: `server.tls_cert_file` + `server.tls_key_file` (and optionally
//! `server.tls_client_ca_file`) turn `server.listen` into an HTTPS listener served by rustls.
//!
//! Invariants:
//! - TLS 1.2 and 1.3 only, with the cipher suites of rustls' ring provider (AEAD only, forward
//!   secret key exchange: no CBC, no RC4, no static RSA). ALPN offers `h2` and `http/1.1` (actix
//!   adds them);
//! - the certificate is chosen per handshake by [`CurrentCertificate`], which reads the pair
//!   loaded last from an `ArcSwap` (lock-free). [`ListenerTls::reload`] (SIGHUP) re-reads both
//!   files and swaps only a pair that parses and matches: a broken new pair keeps the old one
//!   (logged and counted). Open connections keep the session they negotiated; new handshakes get
//!   the new certificate. The files are also checked every [`FILE_CHECK_EVERY`] and reloaded
//!   when their bytes changed (a refused pair is not retried or logged again until they change);
//! - with `server.tls_client_ca_file`, every handshake asks for a client certificate but none is
//!   required (browsers and other routes are unaffected); one that is offered must chain to that
//!   CA or the handshake fails. [`on_connect`] marks a connection whose client presented a
//!   verified chain with [`VerifiedClientCertificate`] (rustls reports peer certificates only once
//!   they verified); the container-credentials handler reads only that mark;
//! - problems name the config key and the file path, never file contents (a key file's bytes
//!   never reach a message or a log).

use crate::clock::SharedClock;
use crate::config::{Config, ConfigErrors};
use crate::telemetry::metrics::Metrics;
use actix_web::dev::Extensions;
use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::any::Any;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

/// The one crypto provider of the listener (the one the rest of the broker's rustls uses).
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A loaded certificate chain and its key, checked to match.
struct LoadedPair {
    key: Arc<CertifiedKey>,
    /// The leaf's notAfter (Unix time).
    not_after: i64,
}

/// Read and check `cert_file` (PEM chain, leaf first) and `key_file` (PEM private key).
fn load_pair(
    cert_file: &str,
    key_file: &str,
    provider: &CryptoProvider,
) -> Result<LoadedPair, Vec<String>> {
    let chain = read_certificates(cert_file, "server.tls_cert_file");
    let key = read_key(key_file);
    let (chain, key) = match (chain, key) {
        (Ok(c), Ok(k)) => (c, k),
        (c, k) => return Err(c.err().into_iter().chain(k.err()).collect()),
    };
    let not_after = x509_parser::parse_x509_certificate(&chain[0])
        .map(|(_, leaf)| leaf.validity().not_after.timestamp())
        .map_err(|_| {
            vec![format!(
                "server.tls_cert_file {cert_file}: the first certificate (the leaf) is not valid \
                 X.509"
            )]
        })?;
    let signing = provider.key_provider.load_private_key(key).map_err(|_| {
        vec![format!(
            "server.tls_key_file {key_file}: unsupported key (use RSA of 2048 bits or more, \
             ECDSA P-256/P-384 or Ed25519)"
        )]
    })?;
    let certified = CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {}
        Err(_) => {
            return Err(vec![format!(
                "server.tls_key_file {key_file} is not the key of the first certificate of \
                 server.tls_cert_file {cert_file} (the leaf must come first; check that both \
                 files are from the same issuance)"
            )])
        }
    }
    Ok(LoadedPair {
        key: Arc::new(certified),
        not_after,
    })
}

/// Every certificate of a PEM file (at least one).
fn read_certificates(path: &str, key: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{key}: cannot read {path}: {e}"))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| format!("{key} {path}: not a valid PEM file"))?;
    if certs.is_empty() {
        return Err(format!(
            "{key} {path}: no certificate (-----BEGIN CERTIFICATE-----) in the file"
        ));
    }
    Ok(certs)
}

/// The first private key of a PEM file (PKCS#8, PKCS#1 RSA or SEC1 EC).
fn read_key(path: &str) -> Result<PrivateKeyDer<'static>, String> {
    let bytes = zeroize::Zeroizing::new(
        std::fs::read(path).map_err(|e| format!("server.tls_key_file: cannot read {path}: {e}"))?,
    );
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|_| {
        format!(
            "server.tls_key_file {path}: no private key (PEM PRIVATE KEY, RSA PRIVATE KEY or EC \
             PRIVATE KEY, unencrypted) in the file"
        )
    })
}

/// The trust anchors of `server.tls_client_ca_file`.
fn read_client_roots(path: &str) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for cert in read_certificates(path, "server.tls_client_ca_file")? {
        roots.add(cert).map_err(|_| {
            format!(
                "server.tls_client_ca_file {path}: a certificate is not a usable CA certificate"
            )
        })?;
    }
    Ok(roots)
}

/// Hands rustls the pair loaded last, for every handshake.
#[derive(Debug)]
pub struct CurrentCertificate(Arc<ArcSwap<CertifiedKey>>);

impl ResolvesServerCert for CurrentCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.load_full())
    }
}

/// The TLS listener's certificate (reloadable) and client-certificate policy.
pub struct ListenerTls {
    cert_file: String,
    key_file: String,
    current: Arc<ArcSwap<CertifiedKey>>,
    /// The served leaf's notAfter (Unix time).
    not_after: AtomicI64,
    client_roots: Option<Arc<RootCertStore>>,
    provider: Arc<CryptoProvider>,
    /// One reload at a time (SIGHUPs in a burst are applied in order), and what the files held
    /// at the last attempt, loaded or refused (SHA-256 of both; `None`: unreadable), so the
    /// periodic check retries only what changed.
    reloading: Mutex<Option<[u8; 32]>>,
    clock: SharedClock,
}

impl std::fmt::Debug for ListenerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenerTls")
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .field("client_certificates", &self.client_roots.is_some())
            .finish_non_exhaustive()
    }
}

impl ListenerTls {
    /// The listener's TLS from `cfg` (`None`: plain HTTP). Every problem with the files is
    /// reported at once, each naming its config key.
    pub fn from_config(cfg: &Config, clock: SharedClock) -> Result<Option<Self>, ConfigErrors> {
        let (Some(cert_file), Some(key_file)) =
            (&cfg.server.tls_cert_file, &cfg.server.tls_key_file)
        else {
            // Half a pair, or a client CA without one, is refused by `config::load`.
            return Ok(None);
        };
        let provider = provider();
        let mut problems = Vec::new();
        let pair = load_pair(cert_file, key_file, &provider).map_err(|p| problems.extend(p));
        let client_roots = match &cfg.server.tls_client_ca_file {
            Some(path) => match read_client_roots(path) {
                Ok(roots) => Some(Arc::new(roots)),
                Err(p) => {
                    problems.push(p);
                    None
                }
            },
            None => None,
        };
        let pair = match pair {
            Ok(pair) if problems.is_empty() => pair,
            _ => return Err(ConfigErrors(problems)),
        };
        let tls = Self {
            cert_file: cert_file.clone(),
            key_file: key_file.clone(),
            current: Arc::new(ArcSwap::new(pair.key)),
            not_after: AtomicI64::new(pair.not_after),
            client_roots,
            provider,
            reloading: Mutex::new(files_digest(cert_file, key_file)),
            clock,
        };
        tls.warn_if_expired();
        // Build once here so a client CA rustls cannot use is a config error, not a start failure.
        tls.server_config().map_err(|e| ConfigErrors(vec![e]))?;
        Ok(Some(tls))
    }

    /// The rustls configuration for the listener (actix adds the ALPN protocols).
    pub fn server_config(&self) -> Result<ServerConfig, String> {
        let builder = ServerConfig::builder_with_provider(self.provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| format!("TLS listener: {e}"))?;
        let builder = match &self.client_roots {
            Some(roots) => {
                let verifier = WebPkiClientVerifier::builder_with_provider(
                    roots.clone(),
                    self.provider.clone(),
                )
                .allow_unauthenticated()
                .build()
                .map_err(|e| format!("server.tls_client_ca_file: {e}"))?;
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        Ok(builder.with_cert_resolver(Arc::new(CurrentCertificate(self.current.clone()))))
    }

    /// Whether handshakes ask for client certificates (`server.tls_client_ca_file`).
    pub fn client_certificates(&self) -> bool {
        self.client_roots.is_some()
    }

    /// notAfter (Unix time) of the leaf served now.
    pub fn not_after(&self) -> i64 {
        self.not_after.load(Ordering::Relaxed)
    }

    /// Re-read both files; swap in the new pair only if it is complete and consistent. On
    /// failure the running pair stays and the problems are returned (and logged, and counted in
    /// `metrics` when given).
    pub fn reload(&self, metrics: Option<&Metrics>) -> Result<(), Vec<String>> {
        let mut seen = self.reloading.lock().unwrap_or_else(|p| p.into_inner());
        *seen = files_digest(&self.cert_file, &self.key_file);
        match load_pair(&self.cert_file, &self.key_file, &self.provider) {
            Ok(pair) => {
                self.current.store(pair.key);
                self.not_after.store(pair.not_after, Ordering::Relaxed);
                if let Some(m) = metrics {
                    m.tls_certificate(pair.not_after, Some(true));
                }
                tracing::info!(
                    event = "tls.certificate_reloaded",
                    not_after = pair.not_after,
                    "TLS listener certificate reloaded: new handshakes use it"
                );
                self.warn_if_expired();
                Ok(())
            }
            Err(problems) => {
                if let Some(m) = metrics {
                    m.tls_certificate(self.not_after(), Some(false));
                }
                tracing::error!(
                    event = "tls.certificate_reload_failed",
                    problems = %problems.join("; "),
                    "TLS listener certificate reload refused; the previous certificate is still served"
                );
                Err(problems)
            }
        }
    }

    /// [`Self::reload`] if either file changed since the last attempt (`None`: unchanged, nothing
    /// done). A pair that was refused is not retried, nor its refusal logged again, until a file
    /// changes again.
    pub fn reload_if_changed(&self, metrics: Option<&Metrics>) -> Option<Result<(), Vec<String>>> {
        {
            let seen = self.reloading.lock().unwrap_or_else(|p| p.into_inner());
            if *seen == files_digest(&self.cert_file, &self.key_file) {
                return None;
            }
        }
        Some(self.reload(metrics))
    }

    fn warn_if_expired(&self) {
        let not_after = self.not_after();
        if not_after <= self.clock.now().timestamp() {
            tracing::warn!(
                event = "tls.certificate_expired",
                not_after,
                cert_file = %self.cert_file,
                "the TLS listener's certificate has expired: clients will refuse it; replace \
                 the files and send SIGHUP"
            );
        }
    }
}

/// How often the files are checked for a change that no SIGHUP announced (a Kubernetes Secret
/// renewed in place).
pub const FILE_CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// SHA-256 of both files' bytes (`None` if either cannot be read).
fn files_digest(cert_file: &str, key_file: &str) -> Option<[u8; 32]> {
    use sha2::{Digest, Sha256};
    let cert = std::fs::read(cert_file).ok()?;
    let key = zeroize::Zeroizing::new(std::fs::read(key_file).ok()?);
    let mut h = Sha256::new();
    h.update((cert.len() as u64).to_be_bytes());
    h.update(&cert);
    h.update(&key[..]);
    Some(h.finalize().into())
}

/// Re-read the listener's certificate and key on every SIGHUP (next to the configuration
/// reload, which the same signal triggers), and every `check_every` when the files changed.
/// The signal handler is installed by this call; spawn the returned future on the runtime.
pub fn reload_on_sighup_and_change(
    tls: Arc<ListenerTls>,
    metrics: Arc<Metrics>,
    check_every: std::time::Duration,
) -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangups = signal(SignalKind::hangup())?;
    Ok(async move {
        let mut every = tokio::time::interval(check_every);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        every.tick().await;
        loop {
            // Logged and counted by `reload`; the running pair stays on failure.
            tokio::select! {
                hup = hangups.recv() => {
                    if hup.is_none() {
                        return;
                    }
                    let _ = tls.reload(Some(&metrics));
                }
                _ = every.tick() => {
                    let _ = tls.reload_if_changed(Some(&metrics));
                }
            }
        }
    })
}

/// Connection mark: the client presented a certificate chain that verified against
/// `server.tls_client_ca_file` during this connection's handshake.
#[derive(Debug, Clone, Copy)]
pub struct VerifiedClientCertificate;

/// The actix `on_connect` hook of the TLS listener: marks connections whose client presented a
/// verified certificate (see [`VerifiedClientCertificate`]).
pub fn on_connect(conn: &dyn Any, ext: &mut Extensions) {
    type Tls = actix_tls::accept::rustls_0_23::TlsStream<actix_web::rt::net::TcpStream>;
    if let Some(stream) = conn.downcast_ref::<Tls>() {
        let (_, session) = stream.get_ref();
        // rustls hands out peer certificates only once the client verifier accepted them.
        if session.peer_certificates().is_some_and(|c| !c.is_empty()) {
            ext.insert(VerifiedClientCertificate);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use std::path::Path;

    /// A TLS config whose files are copies (in `dir`) of the committed test certificates.
    fn setup(dir: &Path, cert: &str, key: &str) -> Config {
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("certs");
        std::fs::copy(repo.join(cert), dir.join("tls.crt")).unwrap();
        std::fs::copy(repo.join(key), dir.join("tls.key")).unwrap();
        let mut cfg = Config::default();
        cfg.server.public_url = "https://127.0.0.1:8443".into();
        cfg.server.tls_cert_file = Some(dir.join("tls.crt").display().to_string());
        cfg.server.tls_key_file = Some(dir.join("tls.key").display().to_string());
        cfg
    }

    fn load(cfg: &Config) -> Result<Option<ListenerTls>, ConfigErrors> {
        ListenerTls::from_config(cfg, Arc::new(SystemClock))
    }

    #[test]
    fn no_files_no_tls() {
        assert!(load(&Config::default()).unwrap().is_none());
    }

    #[test]
    fn a_matching_pair_loads_and_reports_the_leafs_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let tls = load(&setup(dir.path(), "chain-full.pem", "chain-leaf.key"))
            .unwrap()
            .unwrap();
        // notAfter=Nov 18 09:28:55 2046 GMT (openssl x509 -enddate of certs/chain-leaf.crt).
        assert_eq!(tls.not_after(), 2_426_146_135);
        assert!(!tls.client_certificates());
        assert!(tls.server_config().is_ok());
    }

    #[test]
    fn a_key_of_another_certificate_is_a_config_error_naming_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let err = load(&setup(dir.path(), "chain-leaf.crt", "oidc-server.key"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("server.tls_key_file"), "{err}");
        assert!(err.contains("is not the key of"), "{err}");
        assert!(!err.contains("BEGIN"), "{err}");
    }

    #[test]
    fn reload_swaps_a_good_pair_and_keeps_the_old_one_on_a_broken_pair() {
        let dir = tempfile::tempdir().unwrap();
        let tls = load(&setup(dir.path(), "chain-leaf.crt", "chain-leaf.key"))
            .unwrap()
            .unwrap();
        let served = || tls.current.load_full().cert[0].to_vec();
        let first = served();
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("certs");
        // Half a renewal: the new certificate without its key.
        std::fs::copy(repo.join("oidc-server.crt"), dir.path().join("tls.crt")).unwrap();
        let metrics = Metrics::new();
        assert!(tls.reload(Some(&metrics)).is_err());
        assert_eq!(served(), first);
        assert_eq!(tls.not_after(), 2_426_146_135);
        // The key arrives: the pair is complete and swapped in.
        std::fs::copy(repo.join("oidc-server.key"), dir.path().join("tls.key")).unwrap();
        tls.reload(Some(&metrics)).unwrap();
        assert_ne!(served(), first);
        assert_ne!(tls.not_after(), 2_426_146_135);
        let text = metrics.render();
        assert!(
            text.contains(
                "fedbroker_tls_listener_certificate_reloads_total{outcome=\"failure\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "fedbroker_tls_listener_certificate_expiry_timestamp_seconds {}",
                tls.not_after()
            )),
            "{text}"
        );
    }

    #[test]
    fn the_periodic_check_reloads_only_changed_files_and_reports_a_refusal_once() {
        let dir = tempfile::tempdir().unwrap();
        let tls = load(&setup(dir.path(), "chain-leaf.crt", "chain-leaf.key"))
            .unwrap()
            .unwrap();
        let metrics = Metrics::new();
        assert!(tls.reload_if_changed(Some(&metrics)).is_none(), "unchanged");
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("certs");
        std::fs::copy(repo.join("oidc-server.crt"), dir.path().join("tls.crt")).unwrap();
        assert!(matches!(
            tls.reload_if_changed(Some(&metrics)),
            Some(Err(_))
        ));
        assert!(
            tls.reload_if_changed(Some(&metrics)).is_none(),
            "refused once"
        );
        assert_eq!(tls.not_after(), 2_426_146_135);
        std::fs::copy(repo.join("oidc-server.key"), dir.path().join("tls.key")).unwrap();
        assert!(matches!(
            tls.reload_if_changed(Some(&metrics)),
            Some(Ok(()))
        ));
        assert_ne!(tls.not_after(), 2_426_146_135);
        assert!(tls.reload_if_changed(Some(&metrics)).is_none());
        let text = metrics.render();
        for line in [
            "fedbroker_tls_listener_certificate_reloads_total{outcome=\"failure\"} 1",
            "fedbroker_tls_listener_certificate_reloads_total{outcome=\"success\"} 1",
        ] {
            assert!(text.contains(line), "{line}\n{text}");
        }
    }

    #[test]
    fn every_broken_file_is_reported_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = setup(dir.path(), "chain-leaf.crt", "chain-leaf.key");
        std::fs::write(dir.path().join("tls.crt"), "not pem").unwrap();
        std::fs::write(dir.path().join("tls.key"), "").unwrap();
        cfg.server.tls_client_ca_file = Some(dir.path().join("absent.pem").display().to_string());
        let err = load(&cfg).unwrap_err();
        assert_eq!(err.0.len(), 3, "{err}");
        let err = err.to_string();
        for key in [
            "server.tls_cert_file",
            "server.tls_key_file",
            "server.tls_client_ca_file",
        ] {
            assert!(err.contains(key), "{key}: {err}");
        }
    }
}
