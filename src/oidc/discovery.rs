//! OIDC discovery (OpenID Connect Discovery 1.0 §4): where the provider's JWKS lives.
//!
//! Invariants (docs/SECURITY.md J15): the discovery URL is built only from the *configured* issuer, never
//! from a token; the document's `issuer` must equal the configured issuer byte for byte; `jwks_uri`
//! must be https (plain http only for a loopback issuer whose provider opted in).

use super::json::parse_object;
use serde_json::Value;
use url::Url;

/// Path appended to the issuer (after removing one trailing `/`, §4.1).
pub const WELL_KNOWN_PATH: &str = "/.well-known/openid-configuration";

/// `<issuer>/.well-known/openid-configuration`.
pub fn discovery_url(issuer: &str) -> Result<Url, String> {
    Url::parse(&format!(
        "{}{WELL_KNOWN_PATH}",
        issuer.strip_suffix('/').unwrap_or(issuer)
    ))
    .map_err(|e| format!("issuer is not a URL ({e})"))
}

/// Is `url` https, or http on a loopback host with the opt-in?
pub fn scheme_allowed(url: &Url, allow_insecure_loopback_http: bool) -> bool {
    match url.scheme() {
        "https" => true,
        "http" => allow_insecure_loopback_http && is_loopback(url),
        _ => false,
    }
}

/// 127.0.0.1, ::1 or localhost.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(a)) => a.is_loopback(),
        Some(url::Host::Ipv6(a)) => a.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Check a discovery document and return its `jwks_uri`.
pub fn jwks_uri_from(doc: &[u8], configured_issuer: &str, allow_http: bool) -> Result<Url, String> {
    let doc = parse_object(doc).map_err(|e| format!("discovery document: {e}"))?;
    match doc.get("issuer") {
        Some(Value::String(s)) if s == configured_issuer => {}
        Some(Value::String(_)) => {
            return Err(format!(
                "the discovery document's issuer differs from the configured issuer {configured_issuer}; fix the issuer in the configuration (it must match exactly, trailing slash included)"
            ))
        }
        _ => return Err("the discovery document has no issuer string".into()),
    }
    let Some(Value::String(uri)) = doc.get("jwks_uri") else {
        return Err("the discovery document has no jwks_uri string".into());
    };
    let url = Url::parse(uri).map_err(|e| format!("jwks_uri is not a URL ({e})"))?;
    if !scheme_allowed(&url, allow_http) {
        return Err("jwks_uri must be https".into());
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_must_match_exactly() {
        let doc = br#"{"issuer":"https://idp.example/","jwks_uri":"https://idp.example/keys"}"#;
        assert!(jwks_uri_from(doc, "https://idp.example/", false).is_ok());
        assert!(jwks_uri_from(doc, "https://idp.example", false).is_err());
        let http = br#"{"issuer":"https://a","jwks_uri":"http://a/keys"}"#;
        assert!(jwks_uri_from(http, "https://a", true).is_err());
        let lo = br#"{"issuer":"http://127.0.0.1:9","jwks_uri":"http://127.0.0.1:9/k"}"#;
        assert!(jwks_uri_from(lo, "http://127.0.0.1:9", true).is_ok());
        assert!(jwks_uri_from(lo, "http://127.0.0.1:9", false).is_err());
    }

    #[test]
    fn well_known_url() {
        assert_eq!(
            discovery_url("https://a.example/t/").unwrap().as_str(),
            "https://a.example/t/.well-known/openid-configuration"
        );
    }
}
