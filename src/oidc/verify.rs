//! Signature verification: the only place an [`UnverifiedToken`]'s payload becomes trusted bytes.
//!
//! Invariants: the key comes from the provider's JWKS (never from the token header); the key type
//! and the key's own `alg` must fit the header `alg` (J02); the signature is checked by aws-lc-rs
//! (the key parsed once at JWKS ingest) over the exact received `header.payload` bytes; claims are
//! trusted only after it succeeded. `cross_check` then runs jsonwebtoken's own `decode` with a
//! hardened `Validation` as a second, independent opinion on issuer, audience and required claims.

use super::alg::SigningAlg;
use super::keys::{ingest_jwk, KeySet, LookupError, TrustedKey};
use super::unverified::UnverifiedToken;
use super::OidcError;
use serde_json::Value;

/// Verify `token`'s signature with `key`; on success return the payload bytes.
pub(crate) fn verify_signature<'t>(
    token: &'t UnverifiedToken<'_>,
    key: &TrustedKey,
    provider: &str,
) -> Result<&'t [u8], OidcError> {
    let alg = token.header().alg;
    if !key.allows(alg) {
        return Err(OidcError::KeyNotFound {
            provider: provider.to_owned(),
        });
    }
    if key.verify(alg, token.signing_input().as_bytes(), token.signature()) {
        Ok(token.unverified_payload())
    } else {
        Err(OidcError::SignatureInvalid {
            provider: provider.to_owned(),
        })
    }
}

/// Pure JWS check for test vectors: strict compact parse, JWK ingest, algorithm/key fit, signature.
/// Returns the (unparsed) payload. No claim is looked at.
pub fn verify_jws_signature(token: &str, jwk: &Value) -> Result<Vec<u8>, OidcError> {
    let t = UnverifiedToken::parse(token)?;
    let key = ingest_jwk(jwk).map_err(|why| OidcError::Malformed(format!("JWK refused: {why}")))?;
    verify_signature(&t, &key, "test").map(<[u8]>::to_vec)
}

/// Like [`verify_jws_signature`] with a whole JWKS: the key is chosen by `kid` and `alg`.
pub fn verify_jws_with_jwks(token: &str, jwks: &[u8]) -> Result<Vec<u8>, OidcError> {
    let t = UnverifiedToken::parse(token)?;
    let set = KeySet::from_jwks(jwks).map_err(OidcError::Malformed)?;
    let provider = || "test".to_owned();
    let key = set
        .select(t.header().kid.as_deref(), t.header().alg)
        .map_err(|e| match e {
            LookupError::NotFound => OidcError::KeyNotFound {
                provider: provider(),
            },
            LookupError::Ambiguous => OidcError::KeyAmbiguous {
                provider: provider(),
            },
        })?;
    verify_signature(&t, &key, "test").map(<[u8]>::to_vec)
}

/// The hardened `jsonwebtoken::Validation` for one provider (jsonwebtoken defaults: docs/SECURITY.md): one algorithm,
/// required `exp`/`iss`/`aud`/`sub`, exact issuer, configured audiences. `validate_exp` and
/// `validate_nbf` are off only because jsonwebtoken reads the system clock: `claims` checks
/// exp/nbf/iat against the injected clock (CVE-2026-25537 types included) before this runs.
pub fn hardened_validation(
    alg: SigningAlg,
    issuer: &str,
    audiences: &[String],
) -> jsonwebtoken::Validation {
    let mut v = jsonwebtoken::Validation::new(alg.to_jsonwebtoken());
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    v.set_issuer(&[issuer]);
    v.set_audience(audiences);
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = true;
    v.leeway = 0;
    v
}

/// Second opinion from jsonwebtoken's `decode` on the header `alg`, iss, aud and the required
/// claims. Its signature check is switched off: [`verify_signature`] already checked the signature
/// over the same bytes with aws-lc-rs, the library jsonwebtoken's own check would call again.
pub(crate) fn cross_check(
    token: &UnverifiedToken<'_>,
    key: &TrustedKey,
    provider: &str,
    issuer: &str,
    audiences: &[String],
) -> Result<(), OidcError> {
    let mut validation = hardened_validation(token.header().alg, issuer, audiences);
    // The signature is verified in `verify_signature`.
    #[expect(
        deprecated,
        reason = "deprecated upstream in favour of `dangerous::insecure_decode`, which would skip \
                  the claim checks this second opinion exists for"
    )]
    validation.insecure_disable_signature_validation();
    match jsonwebtoken::decode::<serde::de::IgnoredAny>(token.raw(), &key.decoding, &validation) {
        Ok(_) => Ok(()),
        Err(e) => {
            use jsonwebtoken::errors::ErrorKind as K;
            Err(match e.kind() {
                K::InvalidIssuer => {
                    OidcError::IssuerMismatch("iss does not match the provider's issuer".into())
                }
                K::InvalidAudience => {
                    OidcError::AudienceMismatch("aud names no configured audience".into())
                }
                K::MissingRequiredClaim(c) => OidcError::ClaimInvalid(format!("{c} is required")),
                _ => OidcError::SignatureInvalid {
                    provider: provider.to_owned(),
                },
            })
        }
    }
}
