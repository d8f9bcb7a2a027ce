//! HTTP side of a provider: discovery then JWKS, over reqwest + rustls, behind [`JwksFetcher`].
//!
//! Invariants: connect timeout [`CONNECT_TIMEOUT`], whole-request timeout [`REQUEST_TIMEOUT`];
//! response bodies capped while streaming ([`MAX_DISCOVERY_BYTES`], [`MAX_JWKS_BYTES`]); redirects
//! only to the same scheme and host, at most [`MAX_REDIRECTS`]; TLS trusts the built-in webpki roots
//! plus the provider's `ca_file`; plain http only for a loopback issuer that opted in.

use super::discovery;
use async_trait::async_trait;
use std::time::Duration;
use url::Url;

/// TCP+TLS connect timeout for discovery and JWKS.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Whole-request timeout: a slow IdP must not hold a request thread (stale keys serve meanwhile).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest JWKS body accepted (real ones are < 10 KiB; docs/SECURITY.md J14 "serve 10 MB").
pub const MAX_JWKS_BYTES: usize = 256 * 1024;
/// Largest discovery document accepted.
pub const MAX_DISCOVERY_BYTES: usize = 64 * 1024;
/// Same-host redirects followed at most.
pub const MAX_REDIRECTS: usize = 3;

/// Why fetching keys failed.
#[derive(Debug, Clone)]
pub enum FetchError {
    Discovery(String),
    Jwks(String),
}

/// Fetches a provider's current JWKS document (discovery included).
#[async_trait]
pub trait JwksFetcher: Send + Sync + std::fmt::Debug {
    async fn fetch_jwks(&self) -> Result<Vec<u8>, FetchError>;
}

/// The production fetcher.
#[derive(Debug)]
pub struct HttpJwksFetcher {
    issuer: String,
    allow_http: bool,
    client: reqwest::Client,
}

impl HttpJwksFetcher {
    /// `extra_ca_pem`: PEM certificates trusted in addition to the webpki roots.
    pub fn new(
        issuer: &str,
        extra_ca_pem: Option<&[u8]>,
        allow_insecure_http: bool,
    ) -> Result<Self, String> {
        let issuer_url = Url::parse(issuer).map_err(|e| format!("issuer is not a URL ({e})"))?;
        let allow_http = allow_insecure_http && discovery::is_loopback(&issuer_url);
        if !discovery::scheme_allowed(&issuer_url, allow_http) {
            return Err("issuer must be https (plain http only for a loopback issuer with allow_insecure_http = true)".into());
        }
        let mut b = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .https_only(!allow_http)
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                let first = &attempt.previous()[0];
                if attempt.previous().len() > MAX_REDIRECTS
                    || attempt.url().scheme() != first.scheme()
                    || attempt.url().host_str() != first.host_str()
                    || attempt.url().port_or_known_default() != first.port_or_known_default()
                {
                    attempt.stop()
                } else {
                    attempt.follow()
                }
            }));
        if let Some(pem) = extra_ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| format!("ca_file is not PEM ({e})"))?;
            if certs.is_empty() {
                return Err("ca_file holds no certificate".into());
            }
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        let client = b.build().map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Self {
            issuer: issuer.to_owned(),
            allow_http,
            client,
        })
    }

    async fn get_capped(&self, url: Url, cap: usize) -> Result<Vec<u8>, String> {
        let host = url.host_str().unwrap_or("").to_owned();
        let mut resp = self
            .client
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| format!("request to {host} failed ({})", describe(&e)))?;
        if !resp.status().is_success() {
            return Err(format!("{host} answered HTTP {}", resp.status().as_u16()));
        }
        if resp.content_length().is_some_and(|l| l > cap as u64) {
            return Err(format!("response from {host} is larger than {cap} bytes"));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| format!("reading from {host} failed ({})", describe(&e)))?
        {
            if body.len() + chunk.len() > cap {
                return Err(format!("response from {host} is larger than {cap} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

/// A configured URL as it may appear in an error or a log: scheme, host, port and path only. A
/// query string (where some IdPs put an access token or signature, e.g. a metadata URL with
/// `?token=…`) is shown as `?…`, user info and fragment are dropped; an unparsable URL is not shown.
pub fn shown_url(url: &str) -> String {
    match Url::parse(url) {
        Ok(u) => {
            let mut shown = format!("{}://{}", u.scheme(), u.host_str().unwrap_or(""));
            if let Some(port) = u.port() {
                shown.push_str(&format!(":{port}"));
            }
            shown.push_str(u.path());
            if u.query().is_some() {
                shown.push_str("?…");
            }
            shown
        }
        Err(_) => "(an unparsable URL)".into(),
    }
}

/// A reqwest failure without the URL (reqwest's own message names it); for a failed connection the
/// innermost cause, e.g. `Connection refused (os error 111)` or
/// `invalid peer certificate: UnknownIssuer` (a wrong or missing `ca_file`).
pub fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        let mut cause: &(dyn std::error::Error + 'static) = e;
        while let Some(next) = cause.source() {
            cause = next;
        }
        format!("connection failed: {cause}")
    } else if e.is_redirect() {
        "redirect refused".into()
    } else {
        "transport error".into()
    }
}

#[async_trait]
impl JwksFetcher for HttpJwksFetcher {
    async fn fetch_jwks(&self) -> Result<Vec<u8>, FetchError> {
        let url = discovery::discovery_url(&self.issuer).map_err(FetchError::Discovery)?;
        let doc = self
            .get_capped(url, MAX_DISCOVERY_BYTES)
            .await
            .map_err(FetchError::Discovery)?;
        let jwks_uri = discovery::jwks_uri_from(&doc, &self.issuer, self.allow_http)
            .map_err(FetchError::Discovery)?;
        self.get_capped(jwks_uri, MAX_JWKS_BYTES)
            .await
            .map_err(FetchError::Jwks)
    }
}
