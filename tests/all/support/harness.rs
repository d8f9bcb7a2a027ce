//! Validator harness: a `SamlValidator` trusting the test IdP exactly as a deployment would
//! (metadata file `config/test-idp-metadata.xml`, AWS audiences and recipient), with a FixedClock.
//!
//! Invariant: every negative assertion first asserts *rejection*, then the stable error code.
#![allow(dead_code)]

use super::saml_idp::{b64, SamlResponseBuilder};
use chrono::{DateTime, TimeZone, Utc};
use fedbroker::clock::FixedClock;
use fedbroker::error::ApiError;
use fedbroker::identity::VerifiedIdentity;
use fedbroker::saml::keys::AlgorithmPolicy;
use fedbroker::saml::{SamlError, SamlValidator, TrustedIdp};
use std::sync::Arc;

/// Issue instant of every generated response (and default clock time).
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 2, 3, 4, 5).unwrap()
}

pub fn metadata_xml() -> String {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/test-idp-metadata.xml");
    std::fs::read_to_string(&path).expect("config/test-idp-metadata.xml (scripts/gen-certs.sh)")
}

pub fn test_idp() -> TrustedIdp {
    test_idp_with(AlgorithmPolicy::Strict)
}

/// The test IdP with the given algorithm policy (`legacy_algorithms`).
pub fn test_idp_with(policy: AlgorithmPolicy) -> TrustedIdp {
    TrustedIdp::from_metadata_xml_with_policy(
        "test-idp",
        &metadata_xml(),
        vec![
            "urn:amazon:webservices".to_string(),
            "https://signin.aws.amazon.com/saml".to_string(),
        ],
        vec!["https://signin.aws.amazon.com/saml".to_string()],
        policy,
    )
    .expect("test IdP metadata loads")
}

pub fn validator_at(now: DateTime<Utc>) -> SamlValidator {
    SamlValidator::new(vec![test_idp()], Arc::new(FixedClock::new(now)))
}

/// Validate base64 `saml_response` with the clock at `now`.
pub fn validate_at(saml_response: &str, now: DateTime<Utc>) -> Result<VerifiedIdentity, SamlError> {
    validator_at(now).validate(saml_response)
}

/// Validate XML (base64-encoding it) at `t0()`.
pub fn validate_xml(xml: &str) -> Result<VerifiedIdentity, SamlError> {
    validate_at(&b64(xml), t0())
}

/// Build, sign and validate at `t0()`; the identity must be accepted.
pub fn accept(builder: &SamlResponseBuilder) -> VerifiedIdentity {
    let xml = builder.build_xml();
    validate_xml(&xml)
        .unwrap_or_else(|e| panic!("expected acceptance, got {}: {e}\n{xml}", e.code()))
}

/// The result must be a rejection with stable code `code`.
#[track_caller]
pub fn assert_rejected(result: Result<VerifiedIdentity, SamlError>, code: &str) {
    match result {
        Ok(id) => panic!(
            "ACCEPTED (expected {code}): subject={:?} roles={:?}",
            id.subject(),
            id.aws().roles
        ),
        Err(e) => assert_eq!(e.code(), code, "rejected, but with another reason: {e}"),
    }
}

/// Validate XML at `t0()` and require rejection with `code`.
#[track_caller]
pub fn assert_xml_rejected(xml: &str, code: &str) {
    assert_rejected(validate_xml(xml), code);
}

/// A response issued now with response and assertion ids no other test uses (for brokers with a
/// real clock and a shared replay store).
pub fn fresh() -> SamlResponseBuilder {
    let mut b = SamlResponseBuilder::new(Utc::now());
    b.response_id = format!("_r{}", uuid::Uuid::new_v4().simple());
    b.assertion_id = format!("_a{}", uuid::Uuid::new_v4().simple());
    b
}
