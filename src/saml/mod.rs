//! SAML 2.0 Response validation: untrusted base64 in, [`VerifiedIdentity`] out.
//!
//! Pipeline (each stage only sees what the previous one accepted):
//! 1. `preflight`  — size cap, strict base64, UTF-8, strict XML (roxmltree: no DTD), signature shape.
//! 2. `verify`     — samael + xmlsec with the IdP's pinned keys and an algorithm allowlist; returns
//!                   only the signed subtree.
//! 3. `profile`    — Status, Issuer, one Assertion, Audience, bearer SubjectConfirmation, Recipient,
//!                   time windows (injected clock, bounded skew), duplicate attributes.
//! 4. `attributes` — AWS attributes into checked newtypes.
//! Replay (one-time Assertion ID) is checked by the caller against the shared `ReplayGuard`.
//!
//! Invariant: identity data is read only from the output of `verify`, never from the raw input.

pub mod attributes;
pub mod error;
pub mod metadata;
pub mod preflight;
pub mod profile;
pub mod verify;

pub use error::SamlError;
pub use metadata::TrustedIdp;

use crate::clock::SharedClock;
use crate::identity::VerifiedIdentity;

/// AWS accepts at most 100,000 base64 characters in AssumeRoleWithSAML (reference §2.11).
pub const MAX_SAML_RESPONSE_BASE64_LEN: usize = 100_000;

/// Clock skew tolerated on NotBefore/NotOnOrAfter/IssueInstant. Shibboleth uses 180 s; two minutes
/// covers NTP-synced hosts while keeping the replay window short.
pub const CLOCK_SKEW: chrono::Duration = chrono::Duration::seconds(120);

/// Longest validity window accepted for one assertion (IssueInstant to NotOnOrAfter). Bounds the
/// replay cache and limits the value of a stolen assertion (checklist S16, S22).
pub const MAX_ASSERTION_LIFETIME: chrono::Duration = chrono::Duration::minutes(30);

/// SAML audiences AWS uses for itself (the AWS SP entity ID and its sign-in endpoint).
pub const AWS_DEFAULT_AUDIENCES: &[&str] = &[
    "urn:amazon:webservices",
    "https://signin.aws.amazon.com/saml",
];

/// The global AWS SAML sign-in endpoint (Recipient / `saml:aud`).
pub const AWS_GLOBAL_SAML_ENDPOINT: &str = "https://signin.aws.amazon.com/saml";

/// `https://<region>.signin.aws.amazon.com/saml` for `region`.
pub fn aws_regional_saml_endpoint(region: &str) -> String {
    format!("https://{region}.signin.aws.amazon.com/saml")
}

/// Validates SAML Responses against the configured, pinned IdPs.
#[derive(Debug, Clone)]
pub struct SamlValidator {
    idps: Vec<TrustedIdp>,
    clock: SharedClock,
}

impl SamlValidator {
    pub fn new(idps: Vec<TrustedIdp>, clock: SharedClock) -> Self {
        Self { idps, clock }
    }

    pub fn idps(&self) -> &[TrustedIdp] {
        &self.idps
    }

    /// Validate one base64 `SAMLResponse`. CPU-bound (xmlsec): call it from a blocking thread.
    pub fn validate(&self, unverified_saml_response: &str) -> Result<VerifiedIdentity, SamlError> {
        let _ = (&self.idps, &self.clock, unverified_saml_response);
        Err(SamlError::NotImplemented)
    }
}
