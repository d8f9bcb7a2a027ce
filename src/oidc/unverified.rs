//! `UnverifiedToken`: the single insecure decode of a compact JWS (docs/ARCHITECTURE.md rule 2).
//!
//! Invariants: the length cap is checked before anything else; exactly three segments of strict
//! base64url without padding (JWE and JSON serialization refused); the header is strict JSON (no
//! duplicate names) whose `alg` is an asymmetric algorithm we implement; `crit`, `b64`, `cty`,
//! `enc` are refused; header key material (`jku`, `x5u`, `jwk`, `x5c`) is never read. The payload
//! stays opaque bytes: only [`UnverifiedToken::unverified_iss`] looks inside, to choose which
//! provider's keys to try. Nothing from here is trusted until `verify` checked the signature.

use super::alg::SigningAlg;
use super::json::parse_object;
use super::OidcError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};

/// Longest token accepted: AWS AssumeRoleWithWebIdentity takes at most 20,000 characters, and a
/// cap before decoding bounds the work an attacker can cause (docs/SECURITY.md J16).
pub const MAX_TOKEN_LEN: usize = 20_000;

/// Longest `kid` accepted. `kid` is an opaque lookup key; real IdPs use ≤ 64 characters and a bound
/// stops 10 KB kids from reaching logs or maps (docs/SECURITY.md J03).
pub const MAX_KID_LEN: usize = 256;

/// `typ` values accepted (compared case-insensitively, RFC 7515 §4.1.9): absent, `JWT` (ID tokens,
/// Kubernetes and CI tokens) and RFC 9068 access tokens. Logout (`logout+jwt`), security-event and
/// other typed tokens are refused (docs/SECURITY.md J12).
pub const ACCEPTED_TYP: &[&str] = &["jwt", "at+jwt", "application/at+jwt"];

/// The checked JOSE header of an unverified token.
#[derive(Debug, Clone)]
pub struct UnverifiedHeader {
    pub alg: SigningAlg,
    pub kid: Option<String>,
}

/// A compact JWS split and decoded, signature not yet verified.
#[derive(Debug)]
pub struct UnverifiedToken<'a> {
    raw: &'a str,
    signing_input: &'a str,
    signature_b64: &'a str,
    signature: Vec<u8>,
    header: UnverifiedHeader,
    payload: Vec<u8>,
}

fn malformed(why: impl Into<String>) -> OidcError {
    OidcError::Malformed(why.into())
}

fn b64(what: &str, s: &str) -> Result<Vec<u8>, OidcError> {
    URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| malformed(format!("the {what} is not base64url without padding")))
}

impl<'a> UnverifiedToken<'a> {
    /// Split, decode and check the header. The payload is decoded but not parsed.
    pub fn parse(raw: &'a str) -> Result<Self, OidcError> {
        if raw.len() > MAX_TOKEN_LEN {
            return Err(OidcError::TooLarge {
                len: raw.len(),
                max: MAX_TOKEN_LEN,
            });
        }
        if raw.starts_with('{') {
            return Err(malformed(
                "JWS JSON serialization is not accepted; send the compact form header.payload.signature",
            ));
        }
        let dots = raw.bytes().filter(|b| *b == b'.').count();
        if dots == 4 {
            return Err(malformed(
                "the token is a JWE (5 segments); encrypted tokens are not accepted, send a signed JWT",
            ));
        }
        if dots != 2 {
            return Err(malformed(format!(
                "a JWT has 3 dot-separated segments (found {})",
                dots + 1
            )));
        }
        let mut parts = raw.splitn(3, '.');
        let (h, p, s) = match (parts.next(), parts.next(), parts.next()) {
            (Some(h), Some(p), Some(s)) => (h, p, s),
            _ => return Err(malformed("a JWT has 3 dot-separated segments")),
        };
        if h.is_empty() || s.is_empty() {
            return Err(malformed(
                "the header and signature segments must not be empty",
            ));
        }
        let header_bytes = b64("header", h)?;
        let payload = b64("payload", p)?;
        let signature = b64("signature", s)?;
        let header = check_header(&header_bytes)?;
        Ok(Self {
            raw,
            signing_input: &raw[..h.len() + 1 + p.len()],
            signature_b64: s,
            signature,
            header,
            payload,
        })
    }

    pub fn header(&self) -> &UnverifiedHeader {
        &self.header
    }

    /// The token exactly as received.
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// `base64url(header) . base64url(payload)`: the bytes the signature covers.
    pub fn signing_input(&self) -> &'a str {
        self.signing_input
    }

    pub fn signature_b64(&self) -> &'a str {
        self.signature_b64
    }

    /// The decoded signature bytes.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// The decoded payload; only `verify` may hand it on, after the signature checked out.
    pub(crate) fn unverified_payload(&self) -> &[u8] {
        &self.payload
    }

    /// `iss`, unverified, only to choose the provider whose keys are tried. Anything but a single
    /// JSON string (missing, number, array) is refused here (docs/SECURITY.md J08).
    pub fn unverified_iss(&self) -> Result<String, OidcError> {
        issuer_of(&self.unverified_claims()?).map(str::to_owned)
    }

    /// The payload parsed as a strict JSON object, not yet trusted. `validate` parses it once and,
    /// when the signature over these very bytes verified, hands the same map on as the claims.
    pub(crate) fn unverified_claims(&self) -> Result<Map<String, Value>, OidcError> {
        parse_object(&self.payload).map_err(|e| malformed(format!("payload: {e}")))
    }
}

/// `iss` of a claim set: a single JSON string, anything else refused (docs/SECURITY.md J08).
pub(crate) fn issuer_of(claims: &Map<String, Value>) -> Result<&str, OidcError> {
    match claims.get("iss") {
        Some(Value::String(s)) => Ok(s),
        None => Err(OidcError::IssuerMismatch(
            "the token has no iss claim; the IdP must set iss to its issuer URL".into(),
        )),
        Some(_) => Err(OidcError::IssuerMismatch(
            "iss must be a single JSON string (arrays and other types are refused)".into(),
        )),
    }
}

fn check_header(bytes: &[u8]) -> Result<UnverifiedHeader, OidcError> {
    let h = parse_object(bytes).map_err(|e| malformed(format!("header: {e}")))?;
    if h.contains_key("crit") {
        return Err(OidcError::CritUnsupported);
    }
    for refused in ["b64", "enc", "zip"] {
        if h.contains_key(refused) {
            return Err(malformed(format!(
                "header parameter {refused} is not supported"
            )));
        }
    }
    if h.contains_key("cty") {
        return Err(malformed(
            "header parameter cty (nested or typed content) is not supported",
        ));
    }
    let alg = match h.get("alg") {
        Some(Value::String(a)) => a,
        Some(_) => return Err(malformed("header alg must be a string")),
        None => return Err(malformed("header has no alg")),
    };
    let alg = SigningAlg::parse(alg).ok_or_else(|| OidcError::AlgorithmForbidden {
        alg: printable(alg),
        scope: String::new(),
    })?;
    let kid = match h.get("kid") {
        None => None,
        Some(Value::String(k)) => {
            if k.is_empty() || k.len() > MAX_KID_LEN {
                return Err(malformed(format!(
                    "header kid must be 1 to {MAX_KID_LEN} bytes"
                )));
            }
            if k.chars().any(char::is_control) {
                return Err(malformed("header kid contains control characters"));
            }
            Some(k.clone())
        }
        Some(_) => return Err(malformed("header kid must be a string")),
    };
    match h.get("typ") {
        None => {}
        Some(Value::String(t)) if ACCEPTED_TYP.contains(&t.to_ascii_lowercase().as_str()) => {}
        Some(Value::String(t)) => {
            return Err(OidcError::TokenTypeForbidden(format!(
                "token type (typ) {} is not accepted here; send an ID token (typ JWT) or an access token (typ at+jwt)",
                printable(t)
            )))
        }
        Some(_) => return Err(malformed("header typ must be a string")),
    }
    // jku, x5u, jwk, x5c: deliberately never read (docs/SECURITY.md J04).
    Ok(UnverifiedHeader { alg, kid })
}

/// A header value safe to echo: short, printable ASCII.
fn printable(s: &str) -> String {
    let cleaned: String = s
        .chars()
        .take(32)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect();
    format!("{cleaned:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(v: &str) -> String {
        URL_SAFE_NO_PAD.encode(v)
    }

    fn tok(header: &str) -> String {
        format!("{}.{}.c2ln", enc(header), enc(r#"{"iss":"https://i"}"#))
    }

    #[test]
    fn cap_comes_first() {
        let big = "a".repeat(MAX_TOKEN_LEN + 1);
        assert!(matches!(
            UnverifiedToken::parse(&big),
            Err(OidcError::TooLarge { .. })
        ));
    }

    #[test]
    fn header_rules() {
        assert!(UnverifiedToken::parse(&tok(r#"{"alg":"RS256","kid":"k"}"#)).is_ok());
        let err = |h: &str| UnverifiedToken::parse(&tok(h)).unwrap_err();
        assert!(matches!(
            err(r#"{"alg":"none"}"#),
            OidcError::AlgorithmForbidden { .. }
        ));
        assert!(matches!(
            err(r#"{"alg":"HS256"}"#),
            OidcError::AlgorithmForbidden { .. }
        ));
        assert!(matches!(
            err(r#"{"alg":"RS256","crit":[]}"#),
            OidcError::CritUnsupported
        ));
        assert!(matches!(
            err(r#"{"alg":"RS256","alg":"RS256"}"#),
            OidcError::Malformed(_)
        ));
        assert!(matches!(
            err(r#"{"alg":"RS256","typ":"logout+jwt"}"#),
            OidcError::TokenTypeForbidden(_)
        ));
        assert!(matches!(
            err(r#"{"alg":"RS256","kid":"a\u0000b"}"#),
            OidcError::Malformed(_)
        ));
        assert!(UnverifiedToken::parse(&tok(
            r#"{"alg":"RS256","typ":"at+jwt","jku":"https://evil"}"#
        ))
        .is_ok());
    }

    #[test]
    fn segments_and_base64() {
        assert!(UnverifiedToken::parse("a.b.c.d.e").is_err());
        assert!(UnverifiedToken::parse("a.b").is_err());
        let t = tok(r#"{"alg":"RS256"}"#);
        assert!(UnverifiedToken::parse(&format!("{t}=")).is_err());
        assert!(UnverifiedToken::parse(&t.replacen('.', "+.", 1)).is_err());
    }

    #[test]
    fn iss_must_be_a_string() {
        let t = |p: &str| format!("{}.{}.c2ln", enc(r#"{"alg":"RS256"}"#), enc(p));
        let iss = |p: &str| UnverifiedToken::parse(&t(p)).unwrap().unverified_iss();
        assert_eq!(iss(r#"{"iss":"https://a"}"#).unwrap(), "https://a");
        assert!(iss(r#"{"iss":["https://a"]}"#).is_err());
        assert!(iss(r#"{"sub":"x"}"#).is_err());
    }
}
