//! Steps 1–2 of the AWS procedure: check the issuer URL, fetch its OpenID discovery document,
//! and return the https `jwks_uri` with its host and port.
//!
//! Invariants: issuer and jwks_uri are https (the thumbprint is of a TLS chain, and IAM only takes
//! https providers); redirects stay https; the body read is capped at [`MAX_DISCOVERY_BYTES`]; the
//! document's `issuer`, when present, must equal the one asked about (OIDC Discovery 1.0 §4.3),
//! ignoring one trailing slash.

use super::error::{with_sources, UNKNOWN_CA_HINT};
use super::{ThumbprintError, MAX_DISCOVERY_BYTES, MAX_ISSUER_LEN};
use serde::Deserialize;
use url::{Host, Url};

/// Path appended to the issuer (OpenID Connect Discovery 1.0 §4).
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

/// Where the JWKS is served: the host whose certificate chain gives the thumbprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwksEndpoint {
    pub uri: String,
    pub host: Host<String>,
    pub port: u16,
}

impl JwksEndpoint {
    /// The host as a plain string (IPv6 without brackets is not what people paste: keep them).
    pub fn host_str(&self) -> String {
        self.host.to_string()
    }
}

/// Parse an issuer: absolute https URL with a host, no credentials, query or fragment.
pub fn parse_issuer(issuer: &str) -> Result<Url, ThumbprintError> {
    let bad = |reason: &str| ThumbprintError::BadIssuer {
        issuer: issuer.chars().take(200).collect(),
        reason: reason.into(),
    };
    if issuer.len() > MAX_ISSUER_LEN {
        return Err(bad("longer than 2048 characters"));
    }
    let url = Url::parse(issuer).map_err(|e| bad(&format!("not a URL ({e})")))?;
    if url.scheme() != "https" {
        return Err(bad(
            "must be an https:// URL (IAM OIDC providers are https, and the thumbprint is of the TLS chain)",
        ));
    }
    if url.host().is_none() {
        return Err(bad("has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not carry credentials"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("must not have a query or fragment"));
    }
    Ok(url)
}

/// The discovery document URL of an issuer.
pub fn discovery_url(issuer: &Url) -> String {
    format!("{}{DISCOVERY_PATH}", issuer.as_str().trim_end_matches('/'))
}

#[derive(Deserialize)]
struct DiscoveryDocument {
    issuer: Option<String>,
    jwks_uri: Option<String>,
}

/// Fetch the discovery document with `http` and return its jwks_uri endpoint.
pub async fn fetch_jwks_endpoint(
    http: &reqwest::Client,
    issuer: &Url,
) -> Result<JwksEndpoint, ThumbprintError> {
    let url = discovery_url(issuer);
    let fail = |reason: String| ThumbprintError::Discovery {
        url: url.clone(),
        reason,
    };
    let mut resp = http
        .get(&url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| fail(describe_reqwest(&e)))?;
    if !resp.status().is_success() {
        return Err(fail(format!("answered HTTP {}", resp.status())));
    }
    if resp
        .content_length()
        .is_some_and(|n| n > MAX_DISCOVERY_BYTES as u64)
    {
        return Err(fail(format!(
            "document larger than {MAX_DISCOVERY_BYTES} bytes"
        )));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| fail(describe_reqwest(&e)))? {
        if body.len() + chunk.len() > MAX_DISCOVERY_BYTES {
            return Err(fail(format!(
                "document larger than {MAX_DISCOVERY_BYTES} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    let doc: DiscoveryDocument = serde_json::from_slice(&body)
        .map_err(|e| fail(format!("not a JSON discovery document: {e}")))?;
    if let Some(named) = &doc.issuer {
        if named.trim_end_matches('/') != issuer.as_str().trim_end_matches('/') {
            return Err(fail(format!(
                "the document names issuer {named:?}, not {:?} (they must be identical)",
                issuer.as_str()
            )));
        }
    }
    let jwks_uri = doc
        .jwks_uri
        .ok_or_else(|| fail("the document has no jwks_uri".into()))?;
    jwks_endpoint(&jwks_uri).map_err(fail)
}

/// Host and port of a jwks_uri, which must be https.
pub fn jwks_endpoint(jwks_uri: &str) -> Result<JwksEndpoint, String> {
    let u =
        Url::parse(jwks_uri).map_err(|e| format!("jwks_uri {jwks_uri:?} is not a URL ({e})"))?;
    if u.scheme() != "https" {
        return Err(format!("jwks_uri {jwks_uri:?} is not https"));
    }
    let host = u
        .host()
        .ok_or_else(|| format!("jwks_uri {jwks_uri:?} has no host"))?
        .to_owned();
    let port = u.port_or_known_default().unwrap_or(443);
    Ok(JwksEndpoint {
        uri: jwks_uri.to_string(),
        host,
        port,
    })
}

/// reqwest's message, its sources, and a hint for the common certificate failure.
fn describe_reqwest(e: &reqwest::Error) -> String {
    let mut s = with_sources(e);
    if e.is_timeout() {
        s.push_str(" (timed out)");
    }
    if s.contains("UnknownIssuer") || s.contains("unknown issuer") {
        s.push_str(UNKNOWN_CA_HINT);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_rules() {
        assert!(parse_issuer("https://token.actions.githubusercontent.com").is_ok());
        assert!(parse_issuer("https://example.com/tenant/v2.0/").is_ok());
        for bad in [
            "http://example.com",
            "example.com",
            "https://u:p@example.com",
            "https://example.com/?a=b",
            "https://example.com/#x",
            "file:///etc/passwd",
        ] {
            let e = parse_issuer(bad).unwrap_err();
            assert!(matches!(e, ThumbprintError::BadIssuer { .. }), "{bad}: {e}");
        }
    }

    #[test]
    fn discovery_url_has_one_slash() {
        let u = parse_issuer("https://example.com/tenant/").unwrap();
        assert_eq!(
            discovery_url(&u),
            "https://example.com/tenant/.well-known/openid-configuration"
        );
        let u = parse_issuer("https://example.com").unwrap();
        assert_eq!(
            discovery_url(&u),
            "https://example.com/.well-known/openid-configuration"
        );
    }

    #[test]
    fn jwks_host_and_port() {
        let e = jwks_endpoint("https://www.exampleapis.com/oauth2/v3/certs").unwrap();
        assert_eq!(
            (e.host_str().as_str(), e.port),
            ("www.exampleapis.com", 443)
        );
        let e = jwks_endpoint("https://127.0.0.1:8443/jwks").unwrap();
        assert_eq!((e.host_str().as_str(), e.port), ("127.0.0.1", 8443));
        let e = jwks_endpoint("https://[::1]:9/jwks").unwrap();
        assert_eq!((e.host_str().as_str(), e.port), ("[::1]", 9));
        assert!(jwks_endpoint("http://example.com/jwks").is_err());
    }
}
