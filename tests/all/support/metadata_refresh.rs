//! The IdP side of the metadata refresh tests: a plain-HTTP loopback server playing a
//! `metadata_url` whose answer the test changes, the test IdP's metadata with key A (RSA), B (EC)
//! or both, an in-process broker started from that URL as `fedbroker serve` starts (metadata
//! fetched at start, then a `MetadataRefresher`), and helpers to read `/metrics` and the log.
//! Included by `tests/all/saml/metadata_refresh.rs` only.
#![allow(dead_code)]

use crate::support;
use actix_web::test::TestRequest;
use chrono::{DateTime, Utc};
use fedbroker::clock::{Clock, FixedClock, SharedClock};
use fedbroker::config::{self, Config};
use fedbroker::http::AppState;
use fedbroker::reload::MetadataRefresher;
use fedbroker::replay::memory::MemoryReplayGuard;
use fedbroker::sts::sdk::SdkStsClient;
use fedbroker::trust::{load_idps_at, HttpMetadataFetcher};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use support::harness::{metadata_xml, t0};
use support::saml_idp::{DigestAlg, KeyPair, SamlResponseBuilder, SigAlg};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const ROLE: &str = "arn:aws:iam::111122223333:role/Reader";
pub const IDP: &str = "test-idp";

// ---- the IdP's metadata endpoint --------------------------------------------------------------

/// A plain-HTTP loopback server answering every GET with the current status and body.
pub struct MetadataServer {
    pub url: String,
    served: Arc<Mutex<(u16, String)>>,
    hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl MetadataServer {
    pub async fn start(body: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://127.0.0.1:{}/federationmetadata.xml",
            listener.local_addr().unwrap().port()
        );
        let served = Arc::new(Mutex::new((200, body)));
        let hits = Arc::new(AtomicUsize::new(0));
        let (s, h) = (served.clone(), hits.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                let (s, h) = (s.clone(), h.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tcp.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    h.fetch_add(1, Ordering::SeqCst);
                    let (status, body) = s.lock().unwrap().clone();
                    let head = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/samlmetadata+xml\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = tcp.write_all(head.as_bytes()).await;
                    let _ = tcp.write_all(body.as_bytes()).await;
                    let _ = tcp.shutdown().await;
                });
            }
        });
        Self {
            url,
            served,
            hits,
            task,
        }
    }

    pub fn serve(&self, status: u16, body: String) {
        *self.served.lock().unwrap() = (status, body);
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for MetadataServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// ---- metadata documents -----------------------------------------------------------------------

/// The test IdP's metadata with only the signing KeyDescriptors `keep` (0: RSA = A, 1: EC = B).
pub fn metadata_with(keep: &[usize]) -> String {
    let xml = metadata_xml();
    let open = "<md:KeyDescriptor";
    let close = "</md:KeyDescriptor>";
    let first = xml.find(open).expect("first key");
    let second = first + 1 + xml[first + 1..].find(open).expect("second key");
    let end = second + xml[second..].find(close).expect("end") + close.len();
    let blocks = [&xml[first..second], &xml[second..end]];
    let kept: String = keep.iter().map(|i| blocks[*i]).collect();
    format!("{}{kept}{}", &xml[..first], &xml[end..])
}

pub fn key_a() -> String {
    metadata_with(&[0])
}
pub fn keys_a_b() -> String {
    metadata_with(&[0, 1])
}
pub fn key_b() -> String {
    metadata_with(&[1])
}

/// `doc` with attributes added to its EntityDescriptor.
pub fn with_root_attrs(doc: &str, attrs: &str) -> String {
    doc.replacen(
        "<md:EntityDescriptor ",
        &format!("<md:EntityDescriptor {attrs} "),
        1,
    )
}

// ---- a broker whose IdP comes from the server --------------------------------------------------

pub fn config_text(url: &str, extra_idp_keys: &str) -> String {
    format!(
        r#"[[saml.idps]]
name = "{IDP}"
metadata_url = "{url}"
{extra_idp_keys}

[[rules]]
name = "readers"
[rules.match]
provider = "{IDP}"
subject = {{ glob = "*@example.com" }}
[[rules.grants]]
role_arn = "{ROLE}"
mode = "assume-role"
"#
    )
}

pub struct Broker {
    pub state: AppState,
    pub refresher: Arc<MetadataRefresher>,
    pub clock: Arc<FixedClock>,
    pub cfg: Config,
}

/// Start as `fedbroker serve` does: metadata fetched over HTTP at start, then a refresher.
pub async fn start_at(server: &MetadataServer, now: DateTime<Utc>) -> Broker {
    let cfg = config::load_str(
        &config_text(&server.url, ""),
        Vec::<(String, String)>::new(),
    )
    .expect("config loads");
    let idps = load_idps_at(&cfg, now)
        .await
        .expect("metadata loads at start");
    let clock = Arc::new(FixedClock::new(now));
    let shared: SharedClock = clock.clone();
    let state = AppState::from_parts(
        &cfg,
        idps,
        Arc::new(SdkStsClient::new("us-east-1", Some("http://127.0.0.1:9"))),
        Arc::new(MemoryReplayGuard::new(shared.clone())),
        shared,
    );
    let refresher = Arc::new(MetadataRefresher::new(
        &cfg,
        state.live_handle(),
        state.metrics.clone(),
        Arc::new(HttpMetadataFetcher::new().expect("client")),
    ));
    Broker {
        state,
        refresher,
        clock,
        cfg,
    }
}

pub async fn start(server: &MetadataServer) -> Broker {
    start_at(server, t0()).await
}

/// A fresh Response signed with key A (RSA) or key B (EC), issued at the clock's time.
pub fn response(key_b: bool, at: DateTime<Utc>) -> String {
    let mut b = SamlResponseBuilder::new(at);
    b.assertion_id = format!("_a{}", uuid::Uuid::new_v4().simple());
    if key_b {
        b.key(KeyPair::test_idp_ec())
            .algorithms(SigAlg::EcdsaSha256, DigestAlg::Sha256)
            .build_base64()
    } else {
        b.build_base64()
    }
}

impl Broker {
    /// `POST /v1/explain` with a Response signed by key A or B: the role granted or the error code.
    pub async fn explain(&self, key_b: bool) -> (u16, String) {
        let (status, _, body) = support::http::send(
            &self.state,
            TestRequest::post()
                .uri("/v1/explain")
                .set_json(json!({ "saml_response": response(key_b, self.clock.now()) })),
        )
        .await;
        let what = body["role_arn"]
            .as_str()
            .or(body["error"]["code"].as_str())
            .unwrap_or_else(|| panic!("neither a role nor an error: {body}"))
            .to_owned();
        (status, what)
    }

    pub async fn accepts(&self, key_b: bool) -> bool {
        match self.explain(key_b).await {
            (200, role) if role == ROLE => true,
            (401, code) if code == "saml_signature_invalid" => false,
            other => panic!("unexpected answer {other:?}"),
        }
    }

    pub async fn metrics(&self) -> String {
        let (_, _, body) =
            support::http::send(&self.state, TestRequest::get().uri("/metrics")).await;
        body.as_str().expect("metrics text").to_owned()
    }

    pub fn signing_keys(&self) -> usize {
        self.state.exchange().saml.idps()[0].signing_certs.len()
    }
}

/// The value of the one series of `metrics` starting with `series` (name and labels).
pub fn metric(metrics: &str, series: &str) -> Option<i64> {
    metrics
        .lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .map(|v| v.parse().expect("integer sample"))
}

pub fn refreshes(metrics: &str, outcome: &str) -> i64 {
    metric(
        metrics,
        &format!("fedbroker_saml_metadata_refreshes_total{{idp=\"{IDP}\",outcome=\"{outcome}\"}}"),
    )
    .unwrap_or(0)
}

/// Log lines written while the guard lives (this thread: the actix test runtime is one thread).
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub fn capture_logs() -> (Arc<Mutex<Vec<u8>>>, tracing::subscriber::DefaultGuard) {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let b = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || Logs(b.clone()))
        .finish();
    (buf, tracing::subscriber::set_default(subscriber))
}

pub fn text(buf: &Arc<Mutex<Vec<u8>>>) -> String {
    String::from_utf8_lossy(&buf.lock().unwrap()).into_owned()
}

// ---- (4) certificate expiry -----------------------------------------------------------------------

pub fn cert_der(ec: bool) -> Vec<u8> {
    let name = if ec {
        "test-idp-ec.crt.der"
    } else {
        "test-idp.crt.der"
    };
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("certs")
            .join(name),
    )
    .expect("test certificate")
}

pub fn fingerprint(der: &[u8]) -> String {
    let digest = openssl::hash::hash(openssl::hash::MessageDigest::sha256(), der).unwrap();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// notAfter as Unix time, read with OpenSSL (an independent parser).
pub fn not_after(der: &[u8]) -> i64 {
    let cert = openssl::x509::X509::from_der(der).unwrap();
    let epoch = openssl::asn1::Asn1Time::from_unix(0).unwrap();
    let d = epoch.diff(cert.not_after()).unwrap();
    i64::from(d.days) * 86_400 + i64::from(d.secs)
}
