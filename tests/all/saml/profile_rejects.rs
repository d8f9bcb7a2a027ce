//! Signed negative suite, part 2: validly signed responses that break the SAML/AWS profile
//! (docs/SECURITY.md S13-S18, docs/AWS-RULES.md §2.4-2.5). Each test is named after the defect and
//! asserts rejection with the validator's stable code; time cases pin a FixedClock at the
//! boundaries ± the allowed skew.

use crate::support;

use chrono::Duration;
use fedbroker::saml::{
    CLOCK_SKEW, DEFAULT_MAX_ASSERTION_AGE, MAX_BEARER_WINDOW, MAX_CONDITIONS_WINDOW,
};
use support::harness::*;
use support::saml_idp::*;

fn base() -> SamlResponseBuilder {
    SamlResponseBuilder::new(t0())
}

fn rejected(b: &SamlResponseBuilder, code: &str) {
    assert_xml_rejected(&b.build_xml(), code);
}

// ---- S15 audience / recipient / destination ----------------------------------------------------

#[test]
fn wrong_audience_is_rejected() {
    let mut b = base();
    b.audiences = vec!["https://sp.evil.example/".into()];
    rejected(&b, "saml_audience_mismatch");
}

#[test]
fn missing_audience_restriction_is_rejected() {
    let mut b = base();
    b.audiences.clear();
    rejected(&b, "saml_audience_mismatch");
}

#[test]
fn wrong_recipient_is_rejected() {
    let mut b = base();
    b.recipient = Some("https://sp.evil.example/acs".into());
    rejected(&b, "saml_recipient_mismatch");
}

#[test]
fn missing_recipient_is_rejected() {
    let mut b = base();
    b.recipient = None;
    rejected(&b, "saml_profile_violation");
}

/// Only the Assertion is signed; the attacker rewrites the unsigned Response Destination.
#[test]
fn unsigned_response_destination_altered_after_assertion_signing_is_rejected() {
    let signed = base().sign(SignWhat::Assertion).build_xml();
    let xml = signed.replacen(
        "Destination=\"https://signin.aws.amazon.com/saml\"",
        "Destination=\"https://sp.evil.example/acs\"",
        1,
    );
    assert_ne!(xml, signed);
    assert_xml_rejected(&xml, "saml_recipient_mismatch");
}

#[test]
fn wrong_response_destination_is_rejected() {
    let mut b = base();
    b.destination = Some("https://sp.evil.example/acs".into());
    rejected(&b, "saml_recipient_mismatch");
}

// ---- S16 time windows (CLOCK_SKEW both ways) ---------------------------------------------------

#[test]
fn expired_assertion_at_not_on_or_after_plus_skew_is_rejected() {
    let b = base();
    let noa = b.not_on_or_after.expect("default has NotOnOrAfter");
    assert_rejected(
        validate_at(&b.build_base64(), noa + CLOCK_SKEW),
        "saml_expired",
    );
}

#[test]
fn assertion_one_second_before_expiry_plus_skew_is_accepted() {
    let b = base();
    let noa = b.not_on_or_after.expect("default has NotOnOrAfter");
    let id = validate_at(&b.build_base64(), noa + CLOCK_SKEW - Duration::seconds(1))
        .unwrap_or_else(|e| panic!("within skew, got {e}"));
    assert_eq!(id.subject(), "alice@example.com");
}

#[test]
fn not_yet_valid_assertion_beyond_skew_is_rejected() {
    let b = base();
    let nb = b.not_before.expect("default has NotBefore");
    let at = nb - CLOCK_SKEW - Duration::seconds(1);
    assert_rejected(validate_at(&b.build_base64(), at), "saml_not_yet_valid");
}

#[test]
fn not_yet_valid_assertion_exactly_at_skew_is_accepted() {
    let b = base();
    let nb = b.not_before.expect("default has NotBefore");
    let id = validate_at(&b.build_base64(), nb - CLOCK_SKEW)
        .unwrap_or_else(|e| panic!("at the skew boundary, got {e}"));
    assert_eq!(id.subject(), "alice@example.com");
}

#[test]
fn expired_subject_confirmation_is_rejected() {
    let mut b = base();
    b.subject_not_on_or_after = Some(t0() - CLOCK_SKEW - Duration::seconds(1));
    rejected(&b, "saml_expired");
}

#[test]
fn missing_subject_confirmation_not_on_or_after_is_rejected() {
    let mut b = base();
    b.subject_not_on_or_after = None;
    rejected(&b, "saml_profile_violation");
}

fn with_bearer_window(window: Duration) -> SamlResponseBuilder {
    let mut b = base();
    b.not_on_or_after = Some(t0() + window);
    b.subject_not_on_or_after = Some(t0() + window);
    b
}

/// Entra ID's 60-minute window (Conditions NotBefore backdated 5 minutes) is accepted; the
/// default maximum age, not the window, decides how long it may be used.
#[test]
fn entra_shaped_sixty_minute_window_is_accepted_until_the_default_max_age() {
    let b = base().entra_shaped();
    let id = accept(&b);
    assert_eq!(id.expires_at(), t0() + DEFAULT_MAX_ASSERTION_AGE);
}

#[test]
fn adfs_shaped_window_is_accepted_until_its_bearer_not_on_or_after() {
    let b = base().adfs_shaped();
    let id = accept(&b);
    assert_eq!(id.expires_at(), t0() + Duration::minutes(5));
}

/// A captured assertion with a long window, replayed against the broker after the IdP's maximum
/// age (default 5 minutes + skew): refused although its NotOnOrAfter is still ahead.
#[test]
fn stale_assertion_past_the_max_age_is_rejected() {
    let saml = base().entra_shaped().build_base64();
    let limit = t0() + DEFAULT_MAX_ASSERTION_AGE + CLOCK_SKEW;
    assert!(validate_at(&saml, limit - Duration::seconds(1)).is_ok());
    assert_rejected(validate_at(&saml, limit), "saml_expired");
}

#[test]
fn bearer_window_exactly_the_bound_is_accepted() {
    let id = accept(&with_bearer_window(MAX_BEARER_WINDOW));
    assert_eq!(id.subject(), "alice@example.com");
}

/// `MAX_BEARER_WINDOW` bounds IssueInstant→SubjectConfirmationData NotOnOrAfter; both timestamps
/// come from the IdP's one clock, so clock skew has no business widening it.
#[test]
fn bearer_window_one_minute_over_the_bound_is_rejected() {
    rejected(
        &with_bearer_window(MAX_BEARER_WINDOW + Duration::minutes(1)),
        "saml_lifetime_too_long",
    );
}

#[test]
fn bearer_window_over_the_bound_plus_skew_is_rejected() {
    let window = MAX_BEARER_WINDOW + CLOCK_SKEW + Duration::seconds(1);
    rejected(&with_bearer_window(window), "saml_lifetime_too_long");
}

/// A short bearer window does not excuse an absurd Conditions window (a misconfigured IdP).
#[test]
fn conditions_window_over_a_day_is_rejected() {
    let mut b = base();
    b.not_on_or_after = Some(t0() + MAX_CONDITIONS_WINDOW + Duration::seconds(1));
    rejected(&b, "saml_lifetime_too_long");
    b.not_on_or_after = Some(t0() + MAX_CONDITIONS_WINDOW);
    accept(&b);
}

#[test]
fn issue_instant_far_in_the_future_is_rejected() {
    let b = SamlResponseBuilder::new(t0() + Duration::hours(1));
    rejected(&b, "saml_not_yet_valid");
}

// ---- S17 issuer / status -----------------------------------------------------------------------

#[test]
fn status_responder_is_rejected() {
    let mut b = base();
    b.status_code = STATUS_RESPONDER.into();
    rejected(&b, "saml_status_not_success");
}

#[test]
fn unknown_issuer_signed_with_trusted_key_is_rejected() {
    let mut b = base();
    b.issuer = Some("https://idp.evil.example/metadata".into());
    b.assertion_issuer = b.issuer.clone();
    rejected(&b, "saml_issuer_unknown");
}

#[test]
fn response_issuer_differing_from_assertion_issuer_is_rejected() {
    let mut b = base();
    b.issuer = Some("https://idp.evil.example/metadata".into());
    rejected(&b, "saml_issuer_mismatch");
}

#[test]
fn missing_assertion_issuer_is_rejected() {
    let mut b = base();
    b.assertion_issuer = None;
    rejected(&b, "saml_issuer_mismatch");
}

// ---- S18 subject / attributes ------------------------------------------------------------------

#[test]
fn missing_nameid_is_rejected() {
    let mut b = base();
    b.name_id = None;
    rejected(&b, "saml_subject_missing");
}

#[test]
fn empty_nameid_is_rejected() {
    let mut b = base();
    b.name_id = Some(String::new());
    rejected(&b, "saml_subject_missing");
}

#[test]
fn duplicate_role_attribute_names_are_rejected() {
    let mut b = base();
    b.attributes.push((
        ATTR_ROLE.into(),
        vec![DEFAULT_ROLE.replace("ReadOnly", "Admin")],
    ));
    rejected(&b, "saml_duplicate_attribute");
}

#[test]
fn missing_role_attribute_is_rejected() {
    rejected(&base().without_attribute(ATTR_ROLE), "saml_role_missing");
}

#[test]
fn malformed_role_value_is_rejected() {
    rejected(
        &base().roles(&["arn:aws:iam::111122223333:role/ReadOnly"]),
        "saml_attribute_invalid",
    );
}

#[test]
fn role_and_provider_in_different_accounts_are_rejected() {
    let pair =
        "arn:aws:iam::111122223333:role/ReadOnly,arn:aws:iam::444455556666:saml-provider/TestIdp";
    rejected(&base().roles(&[pair]), "saml_attribute_invalid");
}

#[test]
fn role_session_name_with_space_is_rejected() {
    rejected(
        &base().attribute(ATTR_SESSION_NAME, &["alice smith"]),
        "saml_attribute_invalid",
    );
}

#[test]
fn source_identity_starting_with_aws_prefix_is_rejected() {
    rejected(
        &base().attribute(ATTR_SOURCE_IDENTITY, &["aws:alice"]),
        "saml_attribute_invalid",
    );
}
