//! [`TlsThumbprinter`]: the whole AWS procedure against the network, for any https issuer.
//! Used directly by the CLI; the HTTP endpoint goes through [`super::IssuerGate`].
//!
//! Invariant: discovery and the chain read use the same verifying TLS configuration, so the
//! document and the chain are trusted on the same terms; everything runs under [`TOTAL_TIMEOUT`].

use super::cert::cert_info;
use super::discovery::{fetch_jwks_endpoint, parse_issuer};
use super::{
    tls, trust, Thumbprint, ThumbprintError, ThumbprintService, CONNECT_TIMEOUT,
    MAX_DISCOVERY_REDIRECTS, TOTAL_TIMEOUT,
};
use rustls::ClientConfig;
use std::path::PathBuf;
use std::sync::Arc;

/// Computes thumbprints, trusting Mozilla's roots, the system's and the given CA files.
#[derive(Clone)]
pub struct TlsThumbprinter {
    tls: Arc<ClientConfig>,
    http: reqwest::Client,
}

impl std::fmt::Debug for TlsThumbprinter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsThumbprinter").finish_non_exhaustive()
    }
}

impl TlsThumbprinter {
    /// Build the trust store (reads the system roots and `ca_files` once) and the HTTP client.
    pub fn new(ca_files: &[PathBuf]) -> Result<Self, ThumbprintError> {
        let config = trust::client_config(ca_files)?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(config.clone())
            .https_only(true)
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(TOTAL_TIMEOUT)
            .redirect(reqwest::redirect::Policy::limited(MAX_DISCOVERY_REDIRECTS))
            .user_agent(concat!("fedbroker/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ThumbprintError::TrustStore(format!("cannot build HTTP client: {e}")))?;
        Ok(Self {
            tls: Arc::new(config),
            http,
        })
    }

    async fn compute(&self, issuer: &str) -> Result<Thumbprint, ThumbprintError> {
        let issuer = parse_issuer(issuer)?;
        let endpoint = fetch_jwks_endpoint(&self.http, &issuer).await?;
        let served = tls::served_chain(self.tls.clone(), &endpoint).await?;
        let host = endpoint.host_str();
        let chain = served
            .iter()
            .map(|der| cert_info(der))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|reason| ThumbprintError::Certificate {
                host: host.clone(),
                reason,
            })?;
        let last = chain.last().cloned().ok_or_else(|| ThumbprintError::Tls {
            host: host.clone(),
            port: endpoint.port,
            reason: "the server sent no certificate".into(),
        })?;
        Ok(Thumbprint {
            thumbprint: last.sha1.clone(),
            jwks_host: host,
            jwks_port: endpoint.port,
            jwks_uri: endpoint.uri,
            certificate: last,
            chain_length: chain.len(),
            chain,
        })
    }
}

#[async_trait::async_trait]
impl ThumbprintService for TlsThumbprinter {
    async fn thumbprint(&self, issuer: &str) -> Result<Thumbprint, ThumbprintError> {
        tokio::time::timeout(TOTAL_TIMEOUT, self.compute(issuer))
            .await
            .map_err(|_| ThumbprintError::Timeout {
                step: format!("thumbprint of {issuer}"),
                secs: TOTAL_TIMEOUT.as_secs(),
            })?
    }
}
