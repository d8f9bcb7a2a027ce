//! What one run of the validation pipeline learnt, for `fedbroker saml-check`: the stage that was
//! running when it stopped, the Assertion Issuer read before verification (to pick the IdP), and
//! the facts of the signatures once they verified.
//!
//! Invariants: filling a [`Trace`] never changes a verdict (the pipeline returns the same result
//! with or without one). `unverified_issuer` is what the untrusted document claims and must be
//! labelled so wherever it is shown; [`SignatureFacts`] is only set after every Signature in the
//! Response verified with a pinned key and the verified Assertion is the one preflight saw.

pub use super::dsig::{SignatureFacts, Signed};
use super::xml::{self, NS_SAML};
use serde::Serialize;

/// The pipeline stage that was running (the last one reached).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Size cap, base64, UTF-8, strict XML, document and signature shape.
    #[default]
    Preflight,
    /// Choosing the IdP by the Assertion Issuer.
    Issuer,
    /// Response Version, Status, Issuer and Destination (read only to reject).
    Envelope,
    /// An EncryptedAssertion (after the Response signature that covers it verified), or
    /// EncryptedID / EncryptedAttribute inside the verified Assertion: XML Encryption with the
    /// IdP's decryption keys.
    Decryption,
    /// XML-DSig with the IdP's pinned keys.
    Signature,
    /// Profile checks on the verified Assertion (audience, recipient, time windows, subject).
    Profile,
    /// AWS attributes (Role, RoleSessionName, tags, ...) into checked values.
    Attributes,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Preflight => "preflight",
            Self::Issuer => "issuer",
            Self::Envelope => "envelope",
            Self::Decryption => "decryption",
            Self::Signature => "signature",
            Self::Profile => "profile",
            Self::Attributes => "attributes",
        }
    }
}

/// What a validation run learnt; see the module invariants.
#[derive(Debug, Default)]
pub struct Trace {
    pub stage: Stage,
    /// The Assertion Issuer as the untrusted document states it (set once preflight passed).
    pub unverified_issuer: Option<String>,
    /// Set once every signature verified.
    pub signature: Option<SignatureFacts>,
}

/// Whether the Response carries an `EncryptedAssertion` (a fact about the document's shape, not
/// identity data). `None` when `xml_text` is not a well-formed document.
pub fn carries_encrypted_assertion(xml_text: &str) -> Option<bool> {
    let doc = xml::parse(xml_text).ok()?;
    let found = xml::children(doc.root_element(), NS_SAML, "EncryptedAssertion")
        .next()
        .is_some();
    Some(found)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::SamlValidator;
    use super::*;
    use crate::clock::FixedClock;
    use crate::error::ApiError;
    use std::sync::Arc;

    fn validator(at: chrono::DateTime<chrono::Utc>) -> SamlValidator {
        SamlValidator::try_new(vec![idp()], Arc::new(FixedClock::new(at))).unwrap()
    }

    /// Validate with and without a trace: the verdicts must be the same.
    fn traced(v: &SamlValidator, b64: &str) -> (Result<String, &'static str>, Trace) {
        let mut trace = Trace::default();
        let traced = v.validate_traced(b64, crate::saml::AwsAttributes::Required, &mut trace);
        let plain = v.validate(b64);
        let code = |r: &Result<crate::identity::VerifiedIdentity, crate::saml::SamlError>| {
            r.as_ref()
                .map(|i| i.subject().to_owned())
                .map_err(|e| e.code())
        };
        assert_eq!(code(&traced), code(&plain));
        (code(&traced), trace)
    }

    fn assertion_signed(name_id: &str) -> String {
        sign(
            &response("", &assertion(&sig_template(ASSERTION_ID), name_id)),
            0,
        )
    }

    #[test]
    fn an_accepted_response_records_every_stage_and_the_signature_facts() {
        let (r, trace) = traced(&validator(now()), &b64(&assertion_signed("alice")));
        assert_eq!(r, Ok("alice".to_owned()));
        assert_eq!(trace.stage, Stage::Attributes);
        let sig = trace.signature.unwrap();
        assert_eq!(sig.signed, Signed::Assertion);
        assert_eq!(sig.method, "rsa-sha256");
        assert_eq!(sig.digest, "sha256");
        assert_eq!(sig.c14n, "exc-c14n");
        assert!(!sig.legacy);
        assert_eq!(sig.key_fingerprint.len(), 64);

        let response_signed = sign(
            &response(&sig_template(RESPONSE_ID), &assertion("", "bob")),
            0,
        );
        let (_, trace) = traced(&validator(now()), &b64(&response_signed));
        assert_eq!(trace.signature.unwrap().signed, Signed::Response);
    }

    #[test]
    fn a_tampered_response_stops_at_the_signature_with_only_the_claimed_issuer() {
        let tampered = assertion_signed("alice").replace(">alice<", ">mallory<");
        let (r, trace) = traced(&validator(now()), &b64(&tampered));
        assert_eq!(r, Err("saml_signature_invalid"));
        assert_eq!(trace.stage, Stage::Signature);
        assert_eq!(trace.signature, None);
        assert_eq!(trace.unverified_issuer.as_deref(), Some(IDP_ENTITY));
    }

    #[test]
    fn an_expired_response_stops_at_the_profile_after_the_signature_verified() {
        let late = now() + chrono::Duration::hours(2);
        let (r, trace) = traced(&validator(late), &b64(&assertion_signed("alice")));
        assert_eq!(r, Err("saml_expired"));
        assert_eq!(trace.stage, Stage::Profile);
        assert!(trace.signature.is_some());
    }

    #[test]
    fn garbage_stops_at_preflight_with_nothing_learnt() {
        let (r, trace) = traced(&validator(now()), "not base64!");
        assert_eq!(r, Err("saml_malformed"));
        assert_eq!(trace.stage, Stage::Preflight);
        assert_eq!(trace.unverified_issuer, None);
    }

    #[test]
    fn encrypted_assertion_is_recognised_only_as_a_child_of_the_response() {
        let enc = r#"<p:Response xmlns:p="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:s="urn:oasis:names:tc:SAML:2.0:assertion"><s:EncryptedAssertion/></p:Response>"#;
        assert_eq!(carries_encrypted_assertion(enc), Some(true));
        let plain = r#"<p:Response xmlns:p="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:s="urn:oasis:names:tc:SAML:2.0:assertion"><s:Assertion/></p:Response>"#;
        assert_eq!(carries_encrypted_assertion(plain), Some(false));
        assert_eq!(carries_encrypted_assertion("<a"), None);
    }
}
