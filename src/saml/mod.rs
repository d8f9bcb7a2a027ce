//! SAML 2.0 Response validation: untrusted base64 in, [`VerifiedIdentity`] out.
//!
//! Pipeline (each stage only sees what the previous one accepted):
//! 1. `preflight`: size cap, strict base64, UTF-8, strict XML (roxmltree: no DTD), signature shape.
//!    An `EncryptedAssertion` is then decrypted (`decrypt`, `xmlenc`) with the IdP's decryption
//!    keys, after the Response signature (which covers the ciphertext) has verified, and the
//!    plaintext Assertion is preflighted like a plaintext one.
//! 2. `dsig`: native XML-DSig on the same parse tree (exclusive or inclusive C14N, SHA-2, RSA/ECDSA
//!    via aws-lc-rs; SHA-1 only for an IdP with `legacy_algorithms`) with the IdP's pinned keys and
//!    algorithm allowlists; yields the signed Assertion and the [`dsig::SignatureFacts`].
//!    (samael + xmlsec, a dev-dependency only, is the independent oracle its tests compare against.)
//!    `EncryptedID` / `EncryptedAttribute` in the verified Assertion are decrypted after this.
//! 3. `profile`: Status, Issuer, one Assertion, Audience, bearer SubjectConfirmation, Recipient,
//!    time windows (injected clock, bounded skew, per-IdP maximum age), duplicate attributes.
//! 4. `attributes`: AWS attributes into checked newtypes (`Role`/`RoleSessionName` required
//!    unless mapping rules decide the role: [`AwsAttributes`]).
//!
//! Replay (one-time Assertion ID) is checked by the caller against the shared `ReplayGuard`.
//!
//! Invariant: identity data is read only from the Assertion node `dsig` returns, which a verified
//! signature covers; nothing is read from outside it except to reject.

pub mod attributes;
pub mod c14n;
pub mod decrypt;
pub mod decryption_key;
pub mod dsig;
pub mod error;
pub mod keys;
pub mod metadata;
pub mod preflight;
pub mod profile;
pub mod trace;
pub mod validity;
pub mod xml;
pub mod xmlenc;

#[cfg(test)]
mod xmlsec_reference;

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod validate_tests;

pub use attributes::AwsAttributes;
pub use decryption_key::{Decryption, DecryptionKey};
pub use error::{SamlConfigError, SamlError};
pub use metadata::TrustedIdp;
pub use trace::{Stage, Trace};

use crate::clock::SharedClock;
use crate::identity::{OriginalCredential, Protocol, VerifiedIdentity};

/// AWS accepts at most 100,000 base64 characters in AssumeRoleWithSAML (docs/AWS-RULES.md §2.11).
pub const MAX_SAML_RESPONSE_BASE64_LEN: usize = 100_000;

/// Clock skew tolerated on NotBefore/NotOnOrAfter/IssueInstant. Shibboleth uses 180 s; two minutes
/// covers NTP-synced hosts while keeping the replay window short.
pub const CLOCK_SKEW: chrono::Duration = chrono::Duration::seconds(120);

/// Lifetime bounds (bearer window, Conditions sanity limit, default and range of the per-IdP
/// maximum age since IssueInstant); see `profile`.
pub use profile::{
    DEFAULT_MAX_ASSERTION_AGE, MAX_ASSERTION_AGE_RANGE, MAX_BEARER_WINDOW, MAX_CONDITIONS_WINDOW,
};

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
    /// The algorithm policy preflight applies before the IdP is known: the widest of the
    /// configured IdPs' (`Strict` unless one has `legacy_algorithms`); fixed with `idps`.
    preflight_policy: keys::AlgorithmPolicy,
}

/// The widest algorithm policy of `idps` (see [`SamlValidator`]).
fn widest_policy(idps: &[TrustedIdp]) -> keys::AlgorithmPolicy {
    idps.iter()
        .map(|i| i.algorithm_policy)
        .find(|p| *p == keys::AlgorithmPolicy::Legacy)
        .unwrap_or_default()
}

impl SamlValidator {
    /// Build without checks (kept for callers that validated `idps` already). Prefer [`Self::try_new`].
    pub fn new(idps: Vec<TrustedIdp>, clock: SharedClock) -> Self {
        let preflight_policy = widest_policy(&idps);
        Self {
            idps,
            clock,
            preflight_policy,
        }
    }

    /// Build after checking every IdP (at least one usable signing key, audiences, recipients) and
    /// that no entity ID is configured twice.
    pub fn try_new(idps: Vec<TrustedIdp>, clock: SharedClock) -> Result<Self, SamlConfigError> {
        for (i, idp) in idps.iter().enumerate() {
            idp.check()?;
            if let Some(first) = idps[..i].iter().find(|o| o.entity_id == idp.entity_id) {
                return Err(SamlConfigError::DuplicateEntityId {
                    entity_id: idp.entity_id.clone(),
                    first: first.name.clone(),
                    second: idp.name.clone(),
                });
            }
        }
        let preflight_policy = widest_policy(&idps);
        Ok(Self {
            idps,
            clock,
            preflight_policy,
        })
    }

    pub fn idps(&self) -> &[TrustedIdp] {
        &self.idps
    }

    /// Validate one base64 `SAMLResponse`, requiring the AWS `Role` and `RoleSessionName`
    /// attributes (no mapping rules). CPU-bound (RSA/ECDSA): call it from a blocking thread.
    ///
    /// Replay is *not* checked here: the caller records `token_id()` until `expires_at()` (+ skew)
    /// in the shared `ReplayGuard` and maps a repeat to [`SamlError::Replayed`].
    pub fn validate(&self, unverified_saml_response: &str) -> Result<VerifiedIdentity, SamlError> {
        self.validate_with(unverified_saml_response, AwsAttributes::Required)
    }

    /// [`Self::validate`], with the AWS `Role`/`RoleSessionName` attributes required or optional
    /// (optional when mapping rules decide the role: [`AwsAttributes::for_rules`]).
    pub fn validate_with(
        &self,
        unverified_saml_response: &str,
        aws_attributes: AwsAttributes,
    ) -> Result<VerifiedIdentity, SamlError> {
        self.validate_traced(
            unverified_saml_response,
            aws_attributes,
            &mut Trace::default(),
        )
    }

    /// [`Self::validate_with`], recording in `trace` how far it got and what it learnt on the way
    /// (`fedbroker saml-check`); the verdict is the same.
    pub fn validate_traced(
        &self,
        unverified_saml_response: &str,
        aws_attributes: AwsAttributes,
        trace: &mut Trace,
    ) -> Result<VerifiedIdentity, SamlError> {
        // 1. preflight (untrusted).
        let unverified_xml = preflight::decode(unverified_saml_response)?;
        // Preflight runs before the IdP is known: with the widest algorithm policy of any
        // configured IdP; the selected IdP's own policy is applied by `dsig` before any key is used.
        let pre = preflight::check_with_policy(&unverified_xml, self.preflight_policy)?;
        trace.unverified_issuer = Some(pre.unverified_assertion_issuer.clone());
        trace.stage = Stage::Issuer;
        let idp = self
            .idps
            .iter()
            .find(|i| i.entity_id == pre.unverified_assertion_issuer)
            .ok_or(SamlError::IssuerUnknown)?;
        trace.stage = Stage::Envelope;
        profile::check_response_envelope(pre.unverified_doc.root_element(), idp)?;

        // 1b. an EncryptedAssertion: Response signature, decryption, preflight of the plaintext.
        if pre.encrypted_assertion {
            trace.stage = Stage::Decryption;
        }
        let decrypted = pre
            .encrypted_assertion
            .then(|| decrypt::decrypt_assertion(&pre.unverified_doc, idp))
            .transpose()?;
        let inner = match &decrypted {
            Some(d) => Some(d.preflight(&pre.unverified_doc, idp)?),
            None => None,
        };

        // 2. verify with this IdP's pinned keys only, on the same tree; the Assertion it returns is
        // covered by a verified signature.
        trace.stage = Stage::Signature;
        let (verified, assertion_pre) = match (&decrypted, &inner) {
            (Some(d), Some(p)) => (d.verify(&p.unverified_doc, idp)?, p),
            _ => (dsig::verify(&pre.unverified_doc, idp)?, &pre),
        };
        if verified.assertion.attribute("ID")
            != Some(assertion_pre.unverified_assertion_id.as_str())
        {
            return Err(SamlError::AssertionUnsigned);
        }
        trace.signature = Some(verified.facts.clone());
        // 2b. EncryptedID / EncryptedAttribute inside the verified Assertion.
        trace.stage = Stage::Decryption;
        let with_ids =
            decrypt::decrypt_identifiers(&assertion_pre.unverified_doc, verified.assertion, idp)?;
        let with_ids = with_ids.as_deref().map(xml::parse).transpose()?;
        let assertion = match &with_ids {
            Some(doc) => decrypt::assertion_of(doc)?,
            None => verified.assertion,
        };

        // 3. profile on the verified Assertion.
        trace.stage = Stage::Profile;
        let facts = profile::check_assertion(assertion, idp, self.clock.now())?;

        // 4. AWS attributes.
        trace.stage = Stage::Attributes;
        let aws = attributes::aws_claims(
            &facts.attributes,
            facts.session_not_on_or_after,
            aws_attributes,
        )?;

        Ok(VerifiedIdentity {
            protocol: Protocol::Saml,
            provider: idp.name.clone(),
            issuer: facts.issuer,
            subject: facts.subject,
            subject_format: facts.subject_format,
            token_id: facts.assertion_id,
            expires_at: facts.expires_at,
            authn_instant: facts.authn_instant,
            attributes: facts.attributes,
            aws,
            key_fingerprint: verified.facts.key_fingerprint.clone(),
            legacy_algorithm: verified.facts.legacy,
            encrypted: pre.encrypted_assertion,
            in_response_to: facts.in_response_to,
            recipient: Some(facts.recipient),
            audiences: facts.audiences,
            original: OriginalCredential::SamlResponse(unverified_saml_response.to_owned().into()),
        })
    }
}
