//! The test IdP's signatures verify with samael/xmlsec against the pinned certificate, in every
//! layout and key type, and fail against the wrong certificate. Independent of the validator.

use crate::support;

use chrono::{TimeZone, Utc};
use samael::crypto::{CertificateDer, Crypto, CryptoProvider, ReduceMode};
use support::{mutate, saml_idp::*};

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 2, 3, 4, 5).unwrap()
}

fn reduce(xml: &str, key: &KeyPair) -> Result<String, samael::crypto::CryptoError> {
    let cert = CertificateDer::from(key.cert_der.clone());
    Crypto::reduce_xml_to_signed(xml, &[cert], ReduceMode::ValidateAndMarkNoAncestors)
}

/// xmlsec alone (no samael reduction) accepts the first signature of `xml` under the IdP key.
fn xmlsec_verifies_first_signature(xml: &str) {
    let cert = CertificateDer::from(KeyPair::test_idp().cert_der);
    Crypto::verify_signed_xml(xml, &cert, Some("ID"))
        .unwrap_or_else(|e| panic!("signature no longer verifies: {e:?}\n{xml}"));
}

fn round_trip(what: SignWhat, key: KeyPair, alg: SigAlg) {
    let xml = SamlResponseBuilder::new(now())
        .sign(what)
        .key(key.clone())
        .algorithms(alg, DigestAlg::Sha256)
        .build_xml();
    let signatures = xml.matches("<ds:Signature ").count();
    let expected = if what == SignWhat::Both { 2 } else { 1 };
    assert_eq!(signatures, expected, "{xml}");
    assert!(
        !xml.contains("<ds:SignatureValue></ds:SignatureValue>"),
        "{xml}"
    );
    let reduced = reduce(&xml, &key).unwrap_or_else(|e| panic!("{what:?}: {e:?}\n{xml}"));
    assert!(reduced.contains("alice@example.com"), "{reduced}");
    assert!(reduced.contains(DEFAULT_ROLE), "{reduced}");
    // The same document does not verify against another key.
    assert!(reduce(&xml, &KeyPair::attacker()).is_err());
}

#[test]
fn response_signed_rsa_round_trips() {
    round_trip(SignWhat::Response, KeyPair::test_idp(), SigAlg::RsaSha256);
}

#[test]
fn assertion_signed_rsa_round_trips() {
    round_trip(SignWhat::Assertion, KeyPair::test_idp(), SigAlg::RsaSha256);
}

#[test]
fn both_signed_rsa_round_trips() {
    round_trip(SignWhat::Both, KeyPair::test_idp(), SigAlg::RsaSha256);
}

#[test]
fn response_signed_ec_round_trips() {
    round_trip(
        SignWhat::Response,
        KeyPair::test_idp_ec(),
        SigAlg::EcdsaSha256,
    );
}

#[test]
fn both_signed_ec_round_trips() {
    round_trip(SignWhat::Both, KeyPair::test_idp_ec(), SigAlg::EcdsaSha256);
}

#[test]
fn sha1_downgrade_template_is_really_signed_with_sha1() {
    let xml = SamlResponseBuilder::new(now())
        .algorithms(SigAlg::RsaSha1, DigestAlg::Sha1)
        .build_xml();
    assert!(xml.contains(SigAlg::RsaSha1.uri()) && xml.contains(DigestAlg::Sha1.uri()));
    reduce(&xml, &KeyPair::test_idp()).expect("an rsa-sha1 signature valid under the IdP key");
}

#[test]
fn hmac_template_is_signed_with_the_certificate_bytes() {
    let xml = SamlResponseBuilder::new(now())
        .algorithms(SigAlg::HmacSha256, DigestAlg::Sha256)
        .build_xml();
    assert!(xml.contains(SigAlg::HmacSha256.uri()), "{xml}");
    assert!(
        !xml.contains("<ds:SignatureValue></ds:SignatureValue>"),
        "{xml}"
    );
}

#[test]
fn unsigned_layout_has_no_signature() {
    let xml = SamlResponseBuilder::new(now())
        .sign(SignWhat::Nothing)
        .build_xml();
    assert!(!xml.contains("Signature"));
    roxmltree::Document::parse(&xml).expect("well-formed");
}

/// XSW mutations keep the original signature valid (so they test the validator, not a broken
/// digest), and samael's reduction keeps only the original, signed subject.
fn xsw_signature_still_verifies(what: SignWhat, mutation: fn(&str) -> String) {
    let signed = SamlResponseBuilder::new(now()).sign(what).build_xml();
    let attacked = mutation(&signed);
    assert!(attacked.contains(mutate::EVIL_SUBJECT), "{attacked}");
    roxmltree::Document::parse(&attacked).expect("still well-formed");
    xmlsec_verifies_first_signature(&attacked);
    // samael keeps only what is signed (or refuses); never the evil copy.
    if let Ok(reduced) = reduce(&attacked, &KeyPair::test_idp()) {
        assert!(!reduced.contains(mutate::EVIL_SUBJECT), "{reduced}");
    }
}

/// XSW1/6/8 put the original inside the Signature: xmlsec's enveloped-signature transform then
/// drops it from the digest input, so those can never verify (checked here so that changes).
#[test]
fn xsw_with_original_inside_signature_does_not_verify_under_xmlsec() {
    let cert = CertificateDer::from(KeyPair::test_idp().cert_der);
    let response_signed = SamlResponseBuilder::new(now()).build_xml();
    let assertion_signed = SamlResponseBuilder::new(now())
        .sign(SignWhat::Assertion)
        .build_xml();
    for attacked in [
        mutate::xsw1(&response_signed),
        mutate::xsw6(&assertion_signed),
        mutate::xsw8(&assertion_signed),
    ] {
        assert!(
            Crypto::verify_signed_xml(&attacked, &cert, Some("ID")).is_err(),
            "{attacked}"
        );
    }
}

#[test]
fn xsw2_to_xsw5_keep_the_original_signature_valid() {
    xsw_signature_still_verifies(SignWhat::Response, mutate::xsw2);
    xsw_signature_still_verifies(SignWhat::Assertion, mutate::xsw3);
    xsw_signature_still_verifies(SignWhat::Assertion, mutate::xsw4);
    xsw_signature_still_verifies(SignWhat::Assertion, mutate::xsw5);
}

#[test]
fn comment_injection_and_moved_signature_keep_the_digest_valid() {
    let signed = SamlResponseBuilder::new(now())
        .sign(SignWhat::Assertion)
        .build_xml();
    let injected = mutate::inject_comment(&signed, "alice@example.com", "alice");
    xmlsec_verifies_first_signature(&injected);
    assert_eq!(mutate::name_id(&injected), "alice@example.com");
    let moved = mutate::move_assertion_signature_into_subject(&signed);
    xmlsec_verifies_first_signature(&moved);
}
