//! A minimal HTTPS server for the thumbprint tests: serves a fixed certificate chain (exactly as
//! given, leaf first), an OpenID discovery document at `/.well-known/openid-configuration` and an
//! empty JWKS at `/jwks`, and records the SNI each client sent.

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// Largest request head read.
const MAX_HEAD: usize = 16 * 1024;

pub struct TlsServer {
    pub port: u16,
    /// SNI of every completed handshake, in order (`None`: the client sent none).
    pub sni: Arc<Mutex<Vec<Option<String>>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TlsServer {
    /// Listen on `bind_ip`:random port, serve `chain_pem` (signed by `key_pem`) and the discovery
    /// document `discovery(own_port)`.
    pub async fn start(
        bind_ip: &str,
        chain_pem: &Path,
        key_pem: &Path,
        discovery: impl Fn(u16) -> String,
    ) -> Self {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(chain_pem)
            .expect("chain file")
            .collect::<Result<_, _>>()
            .expect("chain PEM");
        let key = PrivateKeyDer::from_pem_file(key_pem).expect("key PEM");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("server certificate");
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind((bind_ip, 0)).await.expect("bind");
        let port = listener.local_addr().unwrap().port();
        let body = discovery(port);
        let sni = Arc::new(Mutex::new(Vec::new()));
        let seen = sni.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                let body = body.clone();
                let seen = seen.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return; // the client refused our chain: expected in some tests
                    };
                    seen.lock()
                        .unwrap()
                        .push(tls.get_ref().1.server_name().map(str::to_string));
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_HEAD {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head);
                    let path = head.split_whitespace().nth(1).unwrap_or("/");
                    let (status, content) = if path.ends_with("/.well-known/openid-configuration") {
                        ("200 OK", body.as_str())
                    } else if path == "/jwks" {
                        ("200 OK", r#"{"keys":[]}"#)
                    } else {
                        ("404 Not Found", "{}")
                    };
                    let resp = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{content}",
                        content.len()
                    );
                    let _ = tls.write_all(resp.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        Self { port, sni, task }
    }

    pub fn sni_seen(&self) -> Vec<Option<String>> {
        self.sni.lock().unwrap().clone()
    }

    /// The SNI list once it has `n` entries (the server finishes its side of a handshake a little
    /// after the client, which may already have hung up); whatever is there after 5 s otherwise.
    pub async fn sni_after(&self, n: usize) -> Vec<Option<String>> {
        for _ in 0..500 {
            if self.sni.lock().unwrap().len() >= n {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        self.sni_seen()
    }
}

/// A discovery document naming `issuer` and `jwks_uri`.
pub fn discovery_doc(issuer: &str, jwks_uri: &str) -> String {
    serde_json::json!({
        "issuer": issuer,
        "jwks_uri": jwks_uri,
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    })
    .to_string()
}
