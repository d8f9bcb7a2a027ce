//! OIDC / web-identity token validation: untrusted compact JWS in, [`VerifiedIdentity`] out.
//!
//! Pipeline (each stage only sees what the previous one accepted):
//! 1. `unverified`: length cap, 3 segments, strict base64url, strict header JSON, `alg` allowlist,
//!    `crit` refused, header key material ignored; `unverified_iss` picks the provider (exact match).
//! 2. provider allowlist for `alg`; `jwks`: the provider's key for (`kid`, `alg`) from its cached
//!    JWKS (discovery → jwks_uri; TTL, cooldown refetch, stale-while-error).
//! 3. `verify`: signature over the received bytes; only then are claims parsed (strict JSON).
//! 4. `claims`: iss, aud, exp/nbf/iat with the injected clock, sub, interactive/logout tokens;
//!    `verify::cross_check`: jsonwebtoken's own `decode` with a hardened `Validation` agrees.
//! 5. `conditions` (per-provider claim patterns) and `aws_claims` (session tags, source identity).
//!
//! Replay (one-time `token_id`) is checked by the caller against the shared `ReplayGuard`,
//! mapping a repeat to [`OidcError::Replayed`].
//!
//! Invariant: identity data is read only from claims whose signature verified with a key from the
//! configured issuer's own JWKS.

pub mod alg;
pub mod aws_claims;
pub mod claims;
pub mod conditions;
pub mod discovery;
pub mod error;
pub mod fetch;
pub mod json;
pub mod jwks;
pub mod keys;
pub mod provider;
pub mod unverified;
pub mod verify;

pub use alg::SigningAlg;
pub use error::{OidcConfigError, OidcError};
pub use jwks::{JwksCache, KeySource};
pub use provider::OidcProvider;
pub use unverified::{UnverifiedToken, MAX_TOKEN_LEN};
pub use verify::{verify_jws_signature, verify_jws_with_jwks};

use crate::clock::SharedClock;
use crate::identity::{OriginalCredential, Protocol, VerifiedIdentity};
use sha2::{Digest, Sha256};

/// Validates web-identity tokens against the configured providers.
#[derive(Debug, Clone)]
pub struct OidcValidator {
    providers: Vec<OidcProvider>,
    clock: SharedClock,
}

impl OidcValidator {
    /// Build; refuses two providers with the same issuer (the issuer selects the keys).
    pub fn new(providers: Vec<OidcProvider>, clock: SharedClock) -> Result<Self, OidcConfigError> {
        for (i, p) in providers.iter().enumerate() {
            if providers[..i].iter().any(|o| o.issuer == p.issuer) {
                return Err(OidcConfigError::Invalid {
                    provider: p.name.clone(),
                    why: format!("issuer {} is configured twice", p.issuer),
                });
            }
        }
        Ok(Self { providers, clock })
    }

    /// A validator that trusts no provider (every token is `oidc_issuer_unknown`).
    pub fn without_providers(clock: SharedClock) -> Self {
        Self {
            providers: Vec::new(),
            clock,
        }
    }

    pub fn providers(&self) -> &[OidcProvider] {
        &self.providers
    }

    /// Validate one compact JWS. Replay is *not* checked here (see the module doc).
    pub async fn validate(&self, unverified_token: &str) -> Result<VerifiedIdentity, OidcError> {
        // 1. the single insecure decode.
        let token = UnverifiedToken::parse(unverified_token)?;
        let unverified_claims = token.unverified_claims()?;
        let unverified_iss = unverified::issuer_of(&unverified_claims)?;
        let provider = self
            .providers
            .iter()
            .find(|p| p.issuer == unverified_iss)
            .ok_or(OidcError::IssuerUnknown)?;
        let alg = token.header().alg;
        if !provider.allowed_algorithms.contains(&alg) {
            return Err(OidcError::AlgorithmForbidden {
                alg: alg.to_string(),
                scope: format!(" for provider {}", provider.name),
            });
        }

        // 2-3. this provider's key only; signature before claims.
        let key = provider
            .keys
            .key_for(token.header().kid.as_deref(), alg)
            .await?;
        verify::verify_signature(&token, &key, &provider.name)?;
        // The signature covers the payload bytes these claims were parsed from.
        let verified_claims = unverified_claims;

        // 4. claims with the injected clock, then jsonwebtoken's second opinion.
        let checked = claims::check(
            &verified_claims,
            &provider.issuer,
            &provider.audiences,
            self.clock.now(),
        )?;
        verify::cross_check(
            &token,
            &key,
            &provider.name,
            &provider.issuer,
            &provider.audiences,
        )?;

        // 5. conditions and AWS claims.
        if let Some(claim) = conditions::first_failure(&provider.claim_conditions, &verified_claims)
        {
            return Err(OidcError::ConditionFailed {
                provider: provider.name.clone(),
                claim: claim.to_owned(),
            });
        }
        let aws = aws_claims::aws_claims(&verified_claims)?;

        Ok(VerifiedIdentity {
            protocol: Protocol::Oidc,
            provider: provider.name.clone(),
            token_id: token_id(&checked.issuer, checked.jti.as_deref(), unverified_token),
            issuer: checked.issuer,
            subject: checked.subject,
            subject_format: None,
            expires_at: checked.expires_at,
            authn_instant: None,
            attributes: claims::attributes(&verified_claims),
            aws,
            key_fingerprint: key.fingerprint.clone(),
            in_response_to: None,
            recipient: None,
            audiences: Vec::new(),
            legacy_algorithm: false,
            encrypted: false,
            original: OriginalCredential::WebIdentityToken(unverified_token.to_owned().into()),
        })
    }
}

/// Replay key: `jti:` + SHA-256(iss NUL jti) when the token has a `jti` (jti is unique only within
/// its issuer, so the issuer is part of the key), else `sha256:` + SHA-256 of the whole token.
/// Hex, so the key never carries token text into logs or Redis.
pub fn token_id(issuer: &str, jti: Option<&str>, token: &str) -> String {
    match jti {
        Some(jti) => {
            let mut h = Sha256::new();
            h.update(issuer.as_bytes());
            h.update([0u8]);
            h.update(jti.as_bytes());
            format!("jti:{}", hex::encode(h.finalize()))
        }
        None => format!("sha256:{}", hex::encode(Sha256::digest(token.as_bytes()))),
    }
}
