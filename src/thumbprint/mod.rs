//! The IAM OIDC provider thumbprint of an issuer, computed exactly as AWS documents it
//! (`docs/AWS-RULES.md` §3.3):
//!
//! 1. fetch `<issuer>/.well-known/openid-configuration` (https only);
//! 2. take the host (and port, default 443) of its `jwks_uri` — not the issuer's host;
//! 3. open a TLS connection to that host with SNI = host (no SNI for IP literals, as rustls does),
//!    **verifying** the server against the Mozilla roots, the system roots and any extra CA files;
//! 4. take the chain exactly as the server sent it (leaf first) and its **last** certificate
//!    (what `openssl s_client -showcerts` prints last: the "top intermediate CA", or the root when
//!    the server sends it);
//! 5. SHA-1 of that certificate's DER, 40 lowercase hex digits without colons.
//!
//! Invariants: there is no insecure verifier anywhere in this module; every network step has a
//! timeout; the discovery document and the jwks_uri must be https. The HTTP endpoint reaches this
//! through [`gate::IssuerGate`], which only lets configured issuers through (SSRF).

pub mod cert;
pub mod client;
pub mod discovery;
pub mod error;
pub mod gate;
pub mod tls;
pub mod trust;

pub use cert::CertInfo;
pub use client::TlsThumbprinter;
pub use error::ThumbprintError;
pub use gate::IssuerGate;

use serde::Serialize;
use std::time::Duration;

/// Time allowed to open each TCP connection (discovery and the jwks_uri host): an issuer that does
/// not accept a connection in 5 s is down for our purposes.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed for the TLS handshake with the jwks_uri host once connected.
pub const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// Deadline for the whole computation (discovery + connect + handshake), so one request can hold a
/// broker worker for at most this long.
pub const TOTAL_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest discovery document read; real ones are a few KiB. Bounds memory per request.
pub const MAX_DISCOVERY_BYTES: usize = 256 * 1024;
/// Redirects followed when fetching the discovery document (each must stay https).
pub const MAX_DISCOVERY_REDIRECTS: usize = 3;
/// Longest issuer URL accepted (AWS: provider URL up to 255 characters; leave room for tests).
pub const MAX_ISSUER_LEN: usize = 2048;

/// The answer of `fedbroker thumbprint` and `GET /v1/thumbprint`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Thumbprint {
    /// SHA-1 of the last served certificate: 40 lowercase hex digits, no colons.
    pub thumbprint: String,
    /// Host of the discovery document's `jwks_uri` (the host whose chain was read).
    pub jwks_host: String,
    /// Port connected to (the jwks_uri's port, 443 by default).
    pub jwks_port: u16,
    /// The discovery document's `jwks_uri`.
    pub jwks_uri: String,
    /// The certificate the thumbprint is of (the last one served).
    pub certificate: CertInfo,
    /// Number of certificates the server sent.
    pub chain_length: usize,
    /// Every served certificate, in the order served (leaf first).
    pub chain: Vec<CertInfo>,
}

/// Computes an issuer's thumbprint. Held in `AppState` as `Arc<dyn ThumbprintService>`.
#[async_trait::async_trait]
pub trait ThumbprintService: Send + Sync + std::fmt::Debug {
    async fn thumbprint(&self, issuer: &str) -> Result<Thumbprint, ThumbprintError>;
}
