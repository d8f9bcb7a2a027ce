//! The issuer's OpenID Provider metadata (`GET /.well-known/openid-configuration`), the fields
//! AWS IAM and the broker's own validator read (OpenID Connect Discovery 1.0 §3).
//!
//! Invariants: `issuer` is byte-for-byte the `iss` of minted tokens; `jwks_uri` is the issuer
//! plus [`super::JWKS_PATH`] (same host, so the IAM thumbprint of the issuer is the thumbprint of
//! the broker's own public URL); the algorithm list is exactly the algorithms of published keys.

use super::keys::KeyRing;
use super::JWKS_PATH;
use serde_json::{json, Value};

/// `<issuer><JWKS_PATH>`.
pub fn jwks_uri(issuer_url: &str) -> String {
    format!("{issuer_url}{JWKS_PATH}")
}

/// The discovery document.
pub fn discovery_document(issuer_url: &str, keys: &KeyRing) -> Value {
    let mut algs: Vec<&str> = Vec::new();
    for k in keys.iter() {
        if !algs.contains(&k.alg().as_str()) {
            algs.push(k.alg().as_str());
        }
    }
    json!({
        "issuer": issuer_url,
        "jwks_uri": jwks_uri(issuer_url),
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algs,
        "claims_supported": [
            "iss", "sub", "aud", "iat", "nbf", "exp", "jti",
            super::mint::CLAIM_TAGS, super::mint::CLAIM_SOURCE_IDENTITY
        ],
    })
}
