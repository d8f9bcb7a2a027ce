//! Test OIDC issuer for the OIDC suites: an HTTPS server on loopback (tokio-rustls, certificate
//! from `certs/oidc-server.crt`, CA `certs/oidc-ca.crt`, both made by `scripts/gen-oidc-certs.sh`)
//! serving `/.well-known/openid-configuration` and `/jwks`, with request counters, a switchable
//! outage and a settable discovery `issuer`; plus token minting with jsonwebtoken.
//! Included with `#[path = "support/jwt_idp.rs"] mod jwt_idp;`.
#![allow(dead_code)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use fedbroker::clock::{FixedClock, SharedClock};
use fedbroker::config::OidcProviderConfig;
use fedbroker::oidc::{OidcProvider, OidcValidator};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const AUDIENCE: &str = "sts.amazonaws.com";
pub const SUBJECT: &str = "repo:my-org/app:ref:refs/heads/main";

pub fn cert_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("certs")
        .join(name)
}

/// A token-signing key with its public JWK.
#[derive(Clone)]
pub struct SigningKey {
    pub kid: String,
    pub alg: Algorithm,
    pub enc: EncodingKey,
    pub jwk: Value,
    pub public_pem: Vec<u8>,
}

fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

pub fn rsa_key(file: &str, kid: &str) -> SigningKey {
    rsa_key_from_pem(&std::fs::read(cert_path(file)).unwrap(), kid)
}

/// An RSA signing key from its private key PEM (e.g. one generated at run time).
pub fn rsa_key_from_pem(pem: &[u8], kid: &str) -> SigningKey {
    let pkey = openssl::pkey::PKey::private_key_from_pem(pem).unwrap();
    let rsa = pkey.rsa().unwrap();
    SigningKey {
        kid: kid.into(),
        alg: Algorithm::RS256,
        enc: EncodingKey::from_rsa_pem(pem).unwrap(),
        jwk: json!({"kty":"RSA","use":"sig","kid":kid,"n":b64(&rsa.n().to_vec()),"e":b64(&rsa.e().to_vec())}),
        public_pem: pkey.public_key_to_pem().unwrap(),
    }
}

pub fn ec_key(file: &str, kid: &str) -> SigningKey {
    let pem = std::fs::read(cert_path(file)).unwrap();
    let pkey = openssl::pkey::PKey::private_key_from_pem(&pem).unwrap();
    let ec = pkey.ec_key().unwrap();
    let mut ctx = openssl::bn::BigNumContext::new().unwrap();
    let (mut x, mut y) = (
        openssl::bn::BigNum::new().unwrap(),
        openssl::bn::BigNum::new().unwrap(),
    );
    ec.public_key()
        .affine_coordinates(ec.group(), &mut x, &mut y, &mut ctx)
        .unwrap();
    SigningKey {
        kid: kid.into(),
        alg: Algorithm::ES256,
        enc: EncodingKey::from_ec_pem(&pem).unwrap(),
        jwk: json!({"kty":"EC","crv":"P-256","use":"sig","kid":kid,
            "x":b64(&x.to_vec_padded(32).unwrap()),"y":b64(&y.to_vec_padded(32).unwrap())}),
        public_pem: pkey.public_key_to_pem().unwrap(),
    }
}

pub fn jwks(keys: &[&SigningKey]) -> String {
    json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()}).to_string()
}

/// Standard claims for `issuer` at `now` (seconds): valid for 5 minutes.
pub fn claims(issuer: &str, now: i64) -> Value {
    json!({"iss": issuer, "aud": AUDIENCE, "sub": SUBJECT, "iat": now, "nbf": now - 5,
           "exp": now + 300, "jti": format!("jti-{now}-{}", rand_suffix())})
}

fn rand_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Sign with jsonwebtoken's `encode` (header: alg, kid, typ JWT).
pub fn mint(key: &SigningKey, claims: &Value) -> String {
    let mut h = jsonwebtoken::Header::new(key.alg);
    h.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&h, claims, &key.enc).unwrap()
}

/// Sign raw header and payload JSON text exactly as given (for duplicate names, odd types).
pub fn mint_raw(key: &SigningKey, header: &str, payload: &str) -> String {
    let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
    let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &key.enc, key.alg).unwrap();
    format!("{input}.{sig}")
}

/// Like [`mint_raw`] with the header as JSON.
pub fn mint_with_header(key: &SigningKey, header: &Value, claims: &Value) -> String {
    mint_raw(key, &header.to_string(), &claims.to_string())
}

#[derive(Default)]
struct IdpState {
    jwks: Mutex<String>,
    discovery_issuer: Mutex<Option<String>>,
    down: AtomicBool,
    hits: Mutex<HashMap<String, usize>>,
}

/// The running test issuer.
pub struct TestIdp {
    pub issuer: String,
    state: Arc<IdpState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestIdp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn tls_acceptor() -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = vec![
        CertificateDer::from_pem_file(cert_path("oidc-server.crt")).unwrap(),
        CertificateDer::from_pem_file(cert_path("oidc-ca.crt")).unwrap(),
    ];
    let key = PrivateKeyDer::from_pem_file(cert_path("oidc-server.key")).unwrap();
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(cfg))
}

impl TestIdp {
    /// Start on 127.0.0.1 with an ephemeral port; the issuer is `https://127.0.0.1:<port>`.
    pub async fn start(jwks_json: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!(
            "https://127.0.0.1:{}",
            listener.local_addr().unwrap().port()
        );
        let state = Arc::new(IdpState::default());
        *state.jwks.lock().unwrap() = jwks_json;
        let acceptor = tls_acceptor();
        let (st, iss) = (state.clone(), issuer.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    break;
                };
                let (acceptor, st, iss) = (acceptor.clone(), st.clone(), iss.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
                        match tls.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let text = String::from_utf8_lossy(&buf);
                    let path = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
                    *st.hits.lock().unwrap().entry(path.clone()).or_default() += 1;
                    let (status, body) = if st.down.load(Ordering::SeqCst) {
                        ("503 Service Unavailable", "down".to_owned())
                    } else if path == "/.well-known/openid-configuration" {
                        let doc_iss = st
                            .discovery_issuer
                            .lock()
                            .unwrap()
                            .clone()
                            .unwrap_or(iss.clone());
                        (
                            "200 OK",
                            json!({"issuer": doc_iss, "jwks_uri": format!("{iss}/jwks")})
                                .to_string(),
                        )
                    } else if path == "/jwks" {
                        ("200 OK", st.jwks.lock().unwrap().clone())
                    } else {
                        ("404 Not Found", "{}".to_owned())
                    };
                    let resp = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = tls.write_all(resp.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        Self {
            issuer,
            state,
            task,
        }
    }

    pub fn set_jwks(&self, jwks_json: String) {
        *self.state.jwks.lock().unwrap() = jwks_json;
    }

    pub fn set_discovery_issuer(&self, issuer: &str) {
        *self.state.discovery_issuer.lock().unwrap() = Some(issuer.to_owned());
    }

    pub fn set_down(&self, down: bool) {
        self.state.down.store(down, Ordering::SeqCst);
    }

    pub fn hits(&self, path: &str) -> usize {
        self.state
            .hits
            .lock()
            .unwrap()
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    pub fn jwks_hits(&self) -> usize {
        self.hits("/jwks")
    }

    /// Provider config trusting the test CA.
    pub fn provider_config(&self, name: &str) -> OidcProviderConfig {
        OidcProviderConfig {
            name: name.into(),
            issuer: self.issuer.clone(),
            audiences: vec![AUDIENCE.into()],
            ca_file: Some(cert_path("oidc-ca.crt").to_string_lossy().into_owned()),
            ..Default::default()
        }
    }
}

/// A TCP listener that only counts connections (for "must see no request" checks).
pub struct CountingListener {
    pub url: String,
    pub connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for CountingListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl CountingListener {
    pub async fn start() -> Self {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("https://127.0.0.1:{}/jwks", l.local_addr().unwrap().port());
        let connections = Arc::new(AtomicUsize::new(0));
        let c = connections.clone();
        let task = tokio::spawn(async move {
            while let Ok((_s, _)) = l.accept().await {
                c.fetch_add(1, Ordering::SeqCst);
            }
        });
        Self {
            url,
            connections,
            task,
        }
    }
}

/// A fixed clock at a round instant (2030-01-01T00:00:00Z).
pub fn fixed_clock() -> Arc<FixedClock> {
    Arc::new(FixedClock::new(
        chrono::DateTime::from_timestamp(1_893_456_000, 0).unwrap(),
    ))
}

pub fn now_secs(clock: &FixedClock) -> i64 {
    use fedbroker::clock::Clock;
    clock.now().timestamp()
}

/// A validator over the given providers with the production fetcher and cache.
pub fn validator(cfgs: &[OidcProviderConfig], clock: Arc<FixedClock>) -> OidcValidator {
    let shared: SharedClock = clock;
    let providers = cfgs
        .iter()
        .map(|c| OidcProvider::from_config(c, shared.clone()).unwrap())
        .collect();
    OidcValidator::new(providers, shared).unwrap()
}
