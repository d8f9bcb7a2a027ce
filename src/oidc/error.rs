//! Errors of OIDC / web-identity token validation (per request) and of provider configuration.
//!
//! Invariants: every [`OidcError`] variant has one stable snake_case code and one [`ErrorKind`].
//! Messages say what was wrong and what to fix; they never contain the token, a claim value or a
//! key. They may name a claim, an algorithm, an issuer URL or a count, which are not secret.

use crate::error::{ApiError, ErrorKind};

/// Why a web-identity token was refused.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// Longer than AWS (and we) accept.
    #[error("the token is {len} characters; at most {max} are accepted (AWS limit)")]
    TooLarge { len: usize, max: usize },

    /// Not a compact JWS: segments, base64url, JSON, header shape, JWE.
    #[error("malformed token: {0}")]
    Malformed(String),

    /// `alg` is `none`, HMAC, unknown, or not allowed for this provider.
    #[error("signing algorithm {alg} is not allowed{scope}; configure the IdP to sign with an allowed RS*, PS* or ES* algorithm")]
    AlgorithmForbidden { alg: String, scope: String },

    /// The header carries `crit`: no extension is understood here (RFC 7515 §4.1.11).
    #[error("the token header lists critical extensions (crit); none are supported, so the token is refused")]
    CritUnsupported,

    /// `iss` names no configured provider.
    #[error("the token issuer is not a configured OIDC provider; add it to [[oidc.providers]]")]
    IssuerUnknown,

    /// No key in the provider's JWKS matches `kid` and `alg`.
    #[error("no signing key of provider {provider} matches the token's kid and alg; if the IdP rotated keys, retry shortly")]
    KeyNotFound { provider: String },

    /// No `kid` and several eligible keys.
    #[error("the token has no kid and provider {provider} publishes several eligible keys; the IdP must set kid")]
    KeyAmbiguous { provider: String },

    /// The signature did not verify with the selected key.
    #[error("signature verification failed with the keys of provider {provider}")]
    SignatureInvalid { provider: String },

    /// `iss` present but not exactly the configured issuer, or not a string.
    #[error("{0}")]
    IssuerMismatch(String),

    /// `aud` missing, malformed, lacking a configured audience, or naming an unconfigured one.
    #[error("{0}")]
    AudienceMismatch(String),

    /// `exp` has passed (beyond the leeway).
    #[error("the token has expired; obtain a fresh one from the IdP")]
    Expired,

    /// `nbf` is in the future (beyond the leeway).
    #[error("the token is not valid yet (nbf is in the future); check the IdP clock")]
    NotYetValid,

    /// `iat` is in the future (beyond the leeway).
    #[error("the token was issued in the future (iat); check the IdP clock")]
    IssuedInFuture,

    /// A claim has the wrong type or an unacceptable value (including AWS tag/source-identity claims).
    #[error("invalid claim: {0}")]
    ClaimInvalid(String),

    /// `sub` missing or empty.
    #[error("the token has no non-empty sub claim")]
    SubjectMissing,

    /// An interactive ID token (nonce, at_hash, c_hash): belongs to the browser flow.
    #[error("the token carries {claim}: interactive ID tokens are only accepted by the browser sign-in flow, not by the web-identity API")]
    InteractiveToken { claim: &'static str },

    /// A token of another type (`typ` header or a logout token's `events`).
    #[error("{0}")]
    TokenTypeForbidden(String),

    /// A configured claim condition did not match.
    #[error("claim {claim} does not satisfy the conditions configured for provider {provider}")]
    ConditionFailed { provider: String, claim: String },

    /// The token was already used (the caller's replay check).
    #[error("this token was already used; obtain a fresh one from the IdP")]
    Replayed,

    /// Discovery document unreachable or refused (issuer mismatch, bad jwks_uri).
    #[error("OIDC discovery for provider {provider} failed: {why}")]
    DiscoveryFailed {
        provider: String,
        why: String,
        retry_after: u64,
    },

    /// JWKS unreachable and no usable cached keys.
    #[error("the signing keys of provider {provider} are unavailable: {why}")]
    JwksUnavailable {
        provider: String,
        why: String,
        retry_after: u64,
    },
}

impl ApiError for OidcError {
    fn kind(&self) -> ErrorKind {
        use OidcError::*;
        match self {
            TooLarge { .. } => ErrorKind::TooLarge,
            Malformed(_) => ErrorKind::BadRequest,
            ConditionFailed { .. } => ErrorKind::Forbidden,
            DiscoveryFailed { .. } => ErrorKind::BadGateway,
            JwksUnavailable { .. } => ErrorKind::Unavailable,
            AlgorithmForbidden { .. }
            | CritUnsupported
            | IssuerUnknown
            | KeyNotFound { .. }
            | KeyAmbiguous { .. }
            | SignatureInvalid { .. }
            | IssuerMismatch(_)
            | AudienceMismatch(_)
            | Expired
            | NotYetValid
            | IssuedInFuture
            | ClaimInvalid(_)
            | SubjectMissing
            | InteractiveToken { .. }
            | TokenTypeForbidden(_)
            | Replayed => ErrorKind::Unauthenticated,
        }
    }

    fn code(&self) -> &'static str {
        use OidcError::*;
        match self {
            TooLarge { .. } => "oidc_token_too_large",
            Malformed(_) => "oidc_malformed",
            AlgorithmForbidden { .. } => "oidc_algorithm_forbidden",
            CritUnsupported => "oidc_crit_unsupported",
            IssuerUnknown => "oidc_issuer_unknown",
            KeyNotFound { .. } => "oidc_key_not_found",
            KeyAmbiguous { .. } => "oidc_key_ambiguous",
            SignatureInvalid { .. } => "oidc_signature_invalid",
            IssuerMismatch(_) => "oidc_issuer_mismatch",
            AudienceMismatch(_) => "oidc_audience_mismatch",
            Expired => "oidc_expired",
            NotYetValid => "oidc_not_yet_valid",
            IssuedInFuture => "oidc_issued_in_future",
            ClaimInvalid(_) => "oidc_claim_invalid",
            SubjectMissing => "oidc_subject_missing",
            InteractiveToken { .. } => "oidc_interactive_token",
            TokenTypeForbidden(_) => "oidc_token_type_forbidden",
            ConditionFailed { .. } => "oidc_condition_failed",
            Replayed => "oidc_replay",
            DiscoveryFailed { .. } => "oidc_discovery_failed",
            JwksUnavailable { .. } => "oidc_jwks_unavailable",
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            OidcError::DiscoveryFailed { retry_after, .. }
            | OidcError::JwksUnavailable { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }
}

/// Why an OIDC provider's configuration was refused (startup / `check-config`).
#[derive(Debug, thiserror::Error)]
pub enum OidcConfigError {
    #[error("OIDC provider {provider}: {why}")]
    Invalid { provider: String, why: String },
}
