//! Why a thumbprint could not be computed; variants are how the caller reacts.
//!
//! Messages name the URL or host and the cause, and say what to do (e.g. `--ca-file` for an
//! unknown CA). Nothing here is secret: issuers, hosts and certificate names are public.

use crate::error::{ApiError, ErrorKind};

/// Suggested `Retry-After` (seconds) when an issuer timed out.
const TIMEOUT_RETRY_AFTER_SECS: u64 = 30;

#[derive(Debug, thiserror::Error)]
pub enum ThumbprintError {
    /// The issuer is not an absolute https URL without query, fragment or credentials.
    #[error("issuer {issuer:?} is not usable: {reason}")]
    BadIssuer { issuer: String, reason: String },
    /// The broker will not connect to this issuer (it is not configured).
    #[error(
        "issuer {issuer:?} is not the issuer of any [[oidc.providers]] entry; the broker only \
         computes thumbprints for its configured issuers (server.thumbprint_any_issuer = true \
         lifts this), or run `fedbroker thumbprint URL` locally"
    )]
    NotAllowed { issuer: String },
    /// Fetching or reading the discovery document failed, or it has no usable https `jwks_uri`.
    #[error("OpenID discovery at {url} failed: {reason}")]
    Discovery { url: String, reason: String },
    /// Connecting to, or verifying, the jwks_uri host failed.
    #[error("TLS connection to {host}:{port} failed: {reason}")]
    Tls {
        host: String,
        port: u16,
        reason: String,
    },
    /// A step took longer than its timeout.
    #[error("{step} timed out after {secs} s")]
    Timeout { step: String, secs: u64 },
    /// An extra CA file could not be read or holds no certificate.
    #[error("CA file {path}: {reason}")]
    CaFile { path: String, reason: String },
    /// The trust store could not be built (no usable root at all).
    #[error("cannot build the TLS trust store: {0}")]
    TrustStore(String),
    /// The server sent a certificate we cannot parse (after verification: should not happen).
    #[error("the certificate served by {host} cannot be parsed: {reason}")]
    Certificate { host: String, reason: String },
}

impl ApiError for ThumbprintError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::BadIssuer { .. } => ErrorKind::BadRequest,
            Self::NotAllowed { .. } => ErrorKind::Forbidden,
            Self::Discovery { .. }
            | Self::Tls { .. }
            | Self::Timeout { .. }
            | Self::Certificate { .. } => ErrorKind::BadGateway,
            Self::CaFile { .. } | Self::TrustStore(_) => ErrorKind::Internal,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::BadIssuer { .. } => "thumbprint_bad_issuer",
            Self::NotAllowed { .. } => "thumbprint_issuer_not_allowed",
            Self::Discovery { .. } => "thumbprint_discovery_failed",
            Self::Tls { .. } => "thumbprint_tls_failed",
            Self::Timeout { .. } => "thumbprint_timeout",
            Self::CaFile { .. } => "thumbprint_ca_file",
            Self::TrustStore(_) => "thumbprint_trust_store",
            Self::Certificate { .. } => "thumbprint_bad_certificate",
        }
    }

    fn retry_after(&self) -> Option<u64> {
        matches!(self, Self::Timeout { .. }).then_some(TIMEOUT_RETRY_AFTER_SECS)
    }
}

/// Appended to "unknown CA" failures (discovery and the TLS handshake): what the operator can do
/// about it.
pub(crate) const UNKNOWN_CA_HINT: &str = " — the server's CA is not trusted: pass --ca-file with \
     its root CA (PEM), or set ca_file in the [[oidc.providers]] entry";

/// An error and its sources, joined with ": " (reqwest and io errors hide the cause in `source`).
pub(crate) fn with_sources(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        let s = e.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = e.source();
    }
    out
}
