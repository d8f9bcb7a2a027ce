//! Shared support of the issuer-mode suites (`issuer_http`, `issuer_tokens`, `issuer_config`):
//! the demo `[issuer]` keys of `scripts/gen-issuer-keys.sh`, a fixed clock, and [`BrokerOverTls`]:
//! the broker's real actix routes in process behind a loopback TLS terminator (`certs/oidc-*`).
//! Included with `#[path = "support/issuer.rs"] mod issuer_support;`.
#![allow(dead_code)]

use actix_web::{web, App, HttpServer};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::DateTime;
use fedbroker::aws::{SessionTags, TagKey, TagValue};
use fedbroker::clock::{FixedClock, SharedClock};
use fedbroker::config::{Config, IssuerConfig, IssuerKeyConfig, OidcProviderConfig};
use fedbroker::http::{routes, AppState};
use fedbroker::issuer::Issuer;
use fedbroker::oidc::{OidcProvider, OidcValidator};
use fedbroker::replay::memory::MemoryReplayGuard;
use fedbroker::sts::sdk::SdkStsClient;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;

pub const SUBJECT: &str = "repo:my-org/app:ref:refs/heads/main";

pub fn cert_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("certs")
        .join(name)
}

pub fn key(kid: &str, file: &str, alg: &str, active: bool) -> IssuerKeyConfig {
    IssuerKeyConfig {
        kid: kid.into(),
        file: cert_path(file).display().to_string(),
        alg: alg.into(),
        active,
    }
}

/// Demo keys: `demo-rsa-1` and `demo-rsa-2` (RS256) and `demo-ec-1` (ES256); `active` signs.
pub fn issuer_config(issuer_url: &str, active: &str) -> IssuerConfig {
    IssuerConfig {
        enabled: true,
        issuer_url: Some(issuer_url.into()),
        keys: vec![
            key(
                "demo-rsa-1",
                "issuer-rsa-1.key",
                "RS256",
                active == "demo-rsa-1",
            ),
            key(
                "demo-rsa-2",
                "issuer-rsa-2.key",
                "RS256",
                active == "demo-rsa-2",
            ),
            key(
                "demo-ec-1",
                "issuer-ec-1.key",
                "ES256",
                active == "demo-ec-1",
            ),
        ],
        ..IssuerConfig::default()
    }
}

pub fn fixed_clock() -> Arc<FixedClock> {
    Arc::new(FixedClock::new(
        DateTime::from_timestamp(1_893_456_000, 0).unwrap(),
    ))
}

pub fn issuer(url: &str, active: &str, clock: &Arc<FixedClock>) -> Issuer {
    let shared: SharedClock = clock.clone();
    Issuer::from_config(&issuer_config(url, active), "http://127.0.0.1:8080", shared)
        .unwrap_or_else(|e| panic!("issuer config refused: {e:#?}"))
}

pub fn tags(pairs: &[(&str, &str)], transitive: &[&str]) -> SessionTags {
    SessionTags::new(
        pairs
            .iter()
            .map(|(k, v)| (TagKey::parse(k).unwrap(), TagValue::parse(v).unwrap()))
            .collect(),
        transitive
            .iter()
            .map(|k| TagKey::parse(k).unwrap())
            .collect(),
    )
    .unwrap()
}

pub fn decode_segment(token: &str, i: usize) -> Value {
    let seg = token.split('.').nth(i).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(seg).unwrap()).unwrap()
}

// ---- the broker's documents over HTTPS, from the real routes -----------------------------------

/// The broker's actix app (real `routes`) on a plain loopback port, behind a TLS terminator on
/// another loopback port presenting `oidc-server.crt` + `oidc-ca.crt`. The issuer URL is the TLS
/// side: `https://127.0.0.1:<port>`.
pub struct BrokerOverTls {
    pub url: String,
    tls_task: tokio::task::JoinHandle<()>,
    server: actix_web::dev::ServerHandle,
}

impl BrokerOverTls {
    /// `make_issuer(url)` builds the issuer once the public URL is known.
    pub async fn start(make_issuer: impl FnOnce(&str) -> Option<Issuer>) -> Self {
        let tls_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "https://127.0.0.1:{}",
            tls_listener.local_addr().unwrap().port()
        );
        let issuer = make_issuer(&url).map(Arc::new);
        let clock: SharedClock = Arc::new(fedbroker::clock::SystemClock);
        let state = AppState::from_parts(
            &Config::default(),
            Vec::new(),
            Arc::new(SdkStsClient::new("us-east-1", Some("http://127.0.0.1:9"))),
            Arc::new(MemoryReplayGuard::new(clock.clone())),
            clock,
        )
        .with_issuer(issuer);
        let http = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let http_addr = http.local_addr().unwrap();
        let srv = HttpServer::new(move || {
            App::new()
                .app_data(web::Data::new(state.clone()))
                .configure(routes)
        })
        .workers(1)
        .disable_signals()
        .listen(http)
        .unwrap()
        .run();
        let server = srv.handle();
        actix_web::rt::spawn(srv);

        let acceptor = tls_acceptor();
        let tls_task = tokio::spawn(async move {
            while let Ok((tcp, _)) = tls_listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let Ok(mut upstream) = tokio::net::TcpStream::connect(http_addr).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut upstream).await;
                });
            }
        });
        Self {
            url,
            tls_task,
            server,
        }
    }

    /// A provider config trusting the test CA, as an operator would configure the broker itself.
    pub fn provider_config(&self) -> OidcProviderConfig {
        OidcProviderConfig {
            name: "broker".into(),
            issuer: self.url.clone(),
            audiences: vec!["sts.amazonaws.com".into()],
            ca_file: Some(cert_path("oidc-ca.crt").display().to_string()),
            ..Default::default()
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        let ca = std::fs::read(cert_path("oidc-ca.crt")).unwrap();
        reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
            .build()
            .unwrap()
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap()
    }
}

impl Drop for BrokerOverTls {
    fn drop(&mut self) {
        self.tls_task.abort();
        // `stop` sends the command at once; the returned future only waits for completion.
        drop(self.server.stop(false));
    }
}

pub fn tls_acceptor() -> tokio_rustls::TlsAcceptor {
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

pub fn validator(cfg: &OidcProviderConfig, clock: &Arc<FixedClock>) -> OidcValidator {
    let shared: SharedClock = clock.clone();
    let provider = OidcProvider::from_config(cfg, shared.clone()).unwrap();
    OidcValidator::new(vec![provider], shared).unwrap()
}
