//! Steps 3–4 of the AWS procedure: connect to the jwks_uri host, complete a verified TLS
//! handshake with SNI, and return the certificate chain exactly as the server sent it.
//!
//! Invariants: the handshake verifies the server (the `ClientConfig` comes from `trust.rs`);
//! `peer_certificates()` is the served chain in order, leaf first, not a rebuilt path; the TCP
//! connect and the handshake each have their own timeout.

use super::discovery::JwksEndpoint;
use super::error::{with_sources, UNKNOWN_CA_HINT};
use super::{ThumbprintError, CONNECT_TIMEOUT, TLS_HANDSHAKE_TIMEOUT};
use rustls::{CertificateError, ClientConfig};
use rustls_pki_types::{CertificateDer, ServerName};
use std::net::IpAddr;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use url::Host;

/// The chain served by `endpoint`, leaf first; never empty.
pub async fn served_chain(
    tls: Arc<ClientConfig>,
    endpoint: &JwksEndpoint,
) -> Result<Vec<CertificateDer<'static>>, ThumbprintError> {
    let host = endpoint.host_str();
    let port = endpoint.port;
    let fail = |reason: String| ThumbprintError::Tls {
        host: host.clone(),
        port,
        reason,
    };
    // SNI is the host name; rustls sends none for an IP address (as `openssl s_client` does).
    let server_name: ServerName<'static> = match &endpoint.host {
        Host::Domain(d) => ServerName::try_from(d.clone())
            .map_err(|e| fail(format!("not a valid DNS name: {e}")))?,
        Host::Ipv4(ip) => ServerName::IpAddress((*ip).into()),
        Host::Ipv6(ip) => ServerName::IpAddress((*ip).into()),
    };
    let connect = async {
        match &endpoint.host {
            Host::Domain(d) => TcpStream::connect((d.as_str(), port)).await,
            Host::Ipv4(ip) => TcpStream::connect((IpAddr::V4(*ip), port)).await,
            Host::Ipv6(ip) => TcpStream::connect((IpAddr::V6(*ip), port)).await,
        }
    };
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, connect)
        .await
        .map_err(|_| ThumbprintError::Timeout {
            step: format!("TCP connect to {host}:{port}"),
            secs: CONNECT_TIMEOUT.as_secs(),
        })?
        .map_err(|e| fail(format!("cannot connect: {}", with_sources(&e))))?;
    let handshake = TlsConnector::from(tls).connect(server_name, tcp);
    let stream = tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, handshake)
        .await
        .map_err(|_| ThumbprintError::Timeout {
            step: format!("TLS handshake with {host}:{port}"),
            secs: TLS_HANDSHAKE_TIMEOUT.as_secs(),
        })?
        .map_err(|e| fail(describe_handshake_error(&e)))?;
    let (_, conn) = stream.get_ref();
    let chain: Vec<CertificateDer<'static>> = conn
        .peer_certificates()
        .unwrap_or_default()
        .iter()
        .map(|c| c.clone().into_owned())
        .collect();
    if chain.is_empty() {
        return Err(fail("the server sent no certificate".into()));
    }
    Ok(chain)
}

/// A readable reason for a failed handshake, with advice for the usual certificate problems.
fn describe_handshake_error(e: &std::io::Error) -> String {
    let Some(tls) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    else {
        return with_sources(e);
    };
    match tls {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            format!("certificate verification failed: unknown issuer{UNKNOWN_CA_HINT}")
        }
        rustls::Error::InvalidCertificate(
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
        ) => "certificate verification failed: the certificate is not valid for this host name"
            .into(),
        rustls::Error::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        ) => "certificate verification failed: the certificate has expired".into(),
        other => format!("{other}"),
    }
}
