//! The issuer's public JWKS (`GET /.well-known/jwks.json`).
//!
//! Invariants: only public members are published (`kty`, `use: sig`, `alg`, `kid` and the
//! RFC 7638 members `n`/`e` or `crv`/`x`/`y`); every configured key is listed, active or not, so
//! a token keeps verifying while its key is still listed (rotation, see `keys`).

use super::keys::KeyRing;
use serde_json::{json, Value};

/// The JWKS document: `{"keys": [...]}` in configuration order.
pub fn jwks_document(keys: &KeyRing) -> Value {
    json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() })
}
