//! End-to-end unit tests of `SamlValidator::validate` with responses signed by xmlsec (through
//! samael's `sign_xml`), in the three layouts: Assertion-only, Response-only, both.

use super::test_support::*;
use super::*;
use crate::clock::FixedClock;
use crate::error::ApiError;
use std::sync::Arc;

fn validator() -> (SamlValidator, Arc<FixedClock>) {
    let clock = Arc::new(FixedClock::new(now()));
    let v = SamlValidator::try_new(vec![idp()], clock.clone()).unwrap();
    (v, clock)
}

fn assertion_signed(name_id: &str) -> String {
    sign(
        &response("", &assertion(&sig_template(ASSERTION_ID), name_id)),
        0,
    )
}

fn response_signed(name_id: &str) -> String {
    sign(
        &response(&sig_template(RESPONSE_ID), &assertion("", name_id)),
        0,
    )
}

fn both_signed(name_id: &str) -> String {
    let inner = assertion_signed(name_id);
    // Add the Response template after the Response Issuer; xmlsec signs the first template found.
    let x = inner.replacen(
        "</saml:Issuer>",
        &format!("</saml:Issuer>{}", sig_template(RESPONSE_ID)),
        1,
    );
    sign(&x, 0)
}

fn code(v: &SamlValidator, xml: &str) -> &'static str {
    match v.validate(&b64(xml)) {
        Ok(_) => "ok",
        Err(e) => e.code(),
    }
}

#[test]
fn accepts_all_three_signature_layouts() {
    let (v, _) = validator();
    for (layout, xml) in [
        ("assertion", assertion_signed("alice")),
        ("response", response_signed("alice")),
        ("both", both_signed("alice")),
    ] {
        let id = v
            .validate(&b64(&xml))
            .unwrap_or_else(|e| panic!("{layout}: {e}"));
        assert_eq!(id.subject(), "alice", "{layout}");
        assert_eq!(id.issuer(), IDP_ENTITY);
        assert_eq!(id.token_id(), ASSERTION_ID);
        assert_eq!(id.provider(), "corp");
        assert_eq!(id.aws().roles.len(), 1);
        assert_eq!(
            id.aws().session_name.as_ref().unwrap().as_str(),
            "alice@example.com"
        );
        assert_eq!(
            id.key_fingerprint(),
            xmlsec_reference::fingerprint(&idp().signing_certs[0])
        );
        // The earliest bound: IssueInstant (now - 5 s) + the default maximum age (5 min), before
        // NotOnOrAfter (now + 5 min).
        assert_eq!(
            id.expires_at(),
            now() - chrono::Duration::seconds(5) + DEFAULT_MAX_ASSERTION_AGE
        );
    }
}

#[test]
fn native_verifier_and_xmlsec_agree_on_the_key_for_each_layout() {
    let idp = idp();
    for x in [
        assertion_signed("alice"),
        response_signed("alice"),
        both_signed("alice"),
    ] {
        let reference = xmlsec_reference::verify_signatures(&x, &idp).unwrap();
        let pre = preflight::check(&x).unwrap();
        let native = dsig::verify(&pre.unverified_doc, &idp).unwrap();
        assert_eq!(native.facts.key_fingerprint, reference.key_fingerprint);
        assert!(reference.xml.contains(ASSERTION_ID));
        assert_eq!(native.assertion.attribute("ID"), Some(ASSERTION_ID));
    }
}

#[test]
fn rejects_signature_stripping() {
    let (v, _) = validator();
    let x = assertion_signed("alice");
    let start = x.find("<ds:Signature").unwrap();
    let end = x.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    let stripped = format!("{}{}", &x[..start], &x[end..]);
    assert_eq!(code(&v, &stripped), "saml_unsigned");
}

#[test]
fn rejects_tampered_name_id_after_signing() {
    let (v, _) = validator();
    for x in [
        assertion_signed("alice"),
        response_signed("alice"),
        both_signed("alice"),
    ] {
        let evil = x.replace(">alice</saml:NameID>", ">admin</saml:NameID>");
        assert_eq!(code(&v, &evil), "saml_signature_invalid");
    }
}

#[test]
fn rejects_attacker_key_resigning() {
    let (v, _) = validator();
    let x = sign(
        &response("", &assertion(&sig_template(ASSERTION_ID), "admin")),
        1,
    );
    assert_eq!(code(&v, &x), "saml_signature_invalid");
}

#[test]
fn rejects_comment_injection_after_signing() {
    let (v, _) = validator();
    let x = assertion_signed("admin@example.com.evil.test").replace(
        "admin@example.com.evil.test",
        "admin@example.com<!---->.evil.test",
    );
    assert_eq!(code(&v, &x), "saml_comment_injection");
}

#[test]
fn rejects_xsw_unsigned_response_fields_cannot_change_identity() {
    // Only the Assertion is signed: an evil unsigned Assertion next to it is refused outright.
    let (v, _) = validator();
    let signed = assertion_signed("alice");
    let evil = assertion("", "admin").replace(ASSERTION_ID, "_evil");
    let x = signed.replacen("<samlp:Status>", &format!("{evil}<samlp:Status>"), 1);
    assert_eq!(code(&v, &x), "saml_multiple_assertions");
}

#[test]
fn rejects_unknown_issuer_and_status_failure() {
    let (v, _) = validator();
    let x = assertion_signed("alice").replace(IDP_ENTITY, "https://evil.test/");
    assert_eq!(code(&v, &x), "saml_issuer_unknown");
    let x = assertion_signed("alice").replace("status:Success", "status:Responder");
    assert_eq!(code(&v, &x), "saml_status_not_success");
    let x = assertion_signed("alice").replace(
        &format!("Destination=\"{RECIPIENT}\""),
        "Destination=\"https://evil.test/acs\"",
    );
    assert_eq!(code(&v, &x), "saml_recipient_mismatch");
}

#[test]
fn rejects_response_with_missing_or_malformed_issue_instant() {
    let (v, _) = validator();
    let ok = assertion_signed("alice");
    assert_eq!(code(&v, &ok), "ok");
    // The Response's IssueInstant is the first one in the document (the Assertion's follows).
    let malformed = ok.replacen("IssueInstant=\"", "IssueInstant=\"yesterday-", 1);
    assert_ne!(code(&v, &malformed), "ok");
    let missing = ok.replacen("IssueInstant=\"", "Consent=\"", 1);
    assert_ne!(code(&v, &missing), "ok");
    // The Assertion's own IssueInstant is untouched in both: the refusal is the Response's.
    assert!(missing.contains("IssueInstant=\""));
}

#[test]
fn time_window_boundaries_use_clock_skew() {
    let clock = Arc::new(FixedClock::new(now()));
    let mut long_age = idp();
    long_age.max_assertion_age = chrono::Duration::minutes(10);
    let v = SamlValidator::try_new(vec![long_age], clock.clone()).unwrap();
    let x = assertion_signed("alice");
    // NotOnOrAfter = now + 5 min; accepted until NotOnOrAfter + skew (exclusive).
    clock.set(now() + chrono::Duration::minutes(5) + CLOCK_SKEW - chrono::Duration::seconds(1));
    assert_eq!(code(&v, &x), "ok");
    clock.set(now() + chrono::Duration::minutes(5) + CLOCK_SKEW);
    assert_eq!(code(&v, &x), "saml_expired");
    // With the default maximum age (5 min after IssueInstant = now - 5 s) that bound comes first,
    // with the same skew.
    let (v, clock) = validator();
    let age_end = now() - chrono::Duration::seconds(5) + DEFAULT_MAX_ASSERTION_AGE;
    clock.set(age_end + CLOCK_SKEW - chrono::Duration::seconds(1));
    assert_eq!(code(&v, &x), "ok");
    clock.set(age_end + CLOCK_SKEW);
    assert_eq!(code(&v, &x), "saml_expired");
    // IssueInstant = now - 5 s is the binding lower bound (Conditions NotBefore = now - 10 s).
    clock.set(now() - chrono::Duration::seconds(5) - CLOCK_SKEW);
    assert_eq!(code(&v, &x), "ok");
    clock.set(now() - chrono::Duration::seconds(6) - CLOCK_SKEW);
    assert_eq!(code(&v, &x), "saml_not_yet_valid");
}

#[test]
fn rejects_wrong_audience_with_valid_signature() {
    let clock = Arc::new(FixedClock::new(now()));
    let mut other = idp();
    other.audiences = vec!["https://other.example/".into()];
    let v = SamlValidator::try_new(vec![other], clock).unwrap();
    assert_eq!(
        code(&v, &assertion_signed("alice")),
        "saml_audience_mismatch"
    );
}

#[test]
fn rejects_oversized_input_before_decoding() {
    let (v, _) = validator();
    let e = v
        .validate(&"A".repeat(MAX_SAML_RESPONSE_BASE64_LEN + 4))
        .unwrap_err();
    assert_eq!(e.code(), "saml_too_large");
    assert_eq!(e.kind(), crate::error::ErrorKind::TooLarge);
}

#[test]
fn try_new_refuses_idp_without_signing_key() {
    let mut bad = idp();
    bad.signing_certs.clear();
    let clock = Arc::new(FixedClock::new(now()));
    assert!(SamlValidator::try_new(vec![bad.clone()], clock.clone()).is_err());
    // Even if built unchecked, a request fails closed (docs/SECURITY.md R1).
    let v = SamlValidator::new(vec![bad], clock);
    assert_eq!(
        code(&v, &assertion_signed("alice")),
        "saml_idp_misconfigured"
    );
}

/// eduPersonTargetedID as the eduPerson SAML profile sends it (Shibboleth): a `saml:NameID`
/// element as the AttributeValue. Signed, it is accepted and read as the NameID's text.
fn with_targeted_id(value_xml: &str) -> String {
    let a = assertion(&sig_template(ASSERTION_ID), "alice").replace(
        "</saml:AttributeStatement>",
        &format!(
            r#"<saml:Attribute Name="urn:oid:1.3.6.1.4.1.5923.1.1.1.10"><saml:AttributeValue>{value_xml}</saml:AttributeValue></saml:Attribute></saml:AttributeStatement>"#
        ),
    );
    sign(&response("", &a), 0)
}

#[test]
fn name_id_attribute_value_is_read_as_its_text() {
    let (v, _) = validator();
    let x = with_targeted_id(
        r#"<saml:NameID Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent">abc123</saml:NameID>"#,
    );
    let id = v.validate(&b64(&x)).unwrap();
    assert_eq!(
        id.attributes()["urn:oid:1.3.6.1.4.1.5923.1.1.1.10"],
        vec!["abc123".to_owned()]
    );
}

#[test]
fn name_id_attribute_value_cannot_carry_comment_injection_or_mixed_content() {
    let (v, _) = validator();
    for value in [
        // A comment inside the nested NameID (truncation by a text-only reader).
        "<saml:NameID>admin<!---->.evil</saml:NameID>",
        // Text beside the element (which one would a reader take?).
        "admin<saml:NameID>x</saml:NameID>",
        // Two NameIDs.
        "<saml:NameID>a</saml:NameID><saml:NameID>b</saml:NameID>",
        // Any other element.
        "<saml:Issuer>x</saml:Issuer>",
    ] {
        assert_eq!(
            code(&v, &with_targeted_id(value)),
            "saml_comment_injection",
            "{value}"
        );
    }
}
