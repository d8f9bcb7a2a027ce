//! Signed negative suite, part 1: signature and XML-structure attacks (docs/SECURITY.md S01-S12,
//! S19, S20, S23). Every case starts from a response validly signed by the test IdP and mutates
//! it AFTER signing (`support::mutate`), so the original signature stays valid; each test is named
//! after its attack and asserts rejection with the validator's stable code (`src/saml/error.rs`).

use crate::support;

use support::harness::*;
use support::mutate::{self, LoopbackProbe};
use support::saml_idp::*;

fn response_signed() -> String {
    SamlResponseBuilder::new(t0())
        .sign(SignWhat::Response)
        .build_xml()
}

fn assertion_signed() -> String {
    SamlResponseBuilder::new(t0())
        .sign(SignWhat::Assertion)
        .build_xml()
}

// ---- S01 signature stripping, S06 foreign keys -------------------------------------------------

#[test]
fn signature_stripped_from_response_is_rejected_as_unsigned() {
    assert_xml_rejected(
        &mutate::strip_signatures(&response_signed()),
        "saml_unsigned",
    );
}

#[test]
fn signature_stripped_from_both_signed_response_is_rejected_as_unsigned() {
    let both = SamlResponseBuilder::new(t0())
        .sign(SignWhat::Both)
        .build_xml();
    assert_xml_rejected(&mutate::strip_signatures(&both), "saml_unsigned");
}

#[test]
fn resigned_by_attacker_with_attacker_cert_in_keyinfo_is_rejected() {
    let b = SamlResponseBuilder::new(t0()).key(KeyPair::attacker());
    assert!(
        b.signature.key_info,
        "the attacker certificate is in KeyInfo"
    );
    assert_xml_rejected(&b.build_xml(), "saml_signature_invalid");
}

#[test]
fn foreign_signed_by_attacker_key_without_keyinfo_is_rejected() {
    let mut b = SamlResponseBuilder::new(t0()).key(KeyPair::attacker());
    b.signature.key_info = false;
    assert_xml_rejected(&b.build_xml(), "saml_signature_invalid");
}

#[test]
fn signed_content_altered_after_signing_is_rejected() {
    let xml = mutate::evilize(&response_signed());
    assert_xml_rejected(&xml, "saml_signature_invalid");
}

// ---- S02 XML signature wrapping (SAML Raider XSW1-XSW8) ----------------------------------------

#[test]
fn xsw1_evil_response_with_original_inside_signature_is_rejected() {
    assert_xml_rejected(
        &mutate::xsw1(&response_signed()),
        "saml_multiple_assertions",
    );
}

#[test]
fn xsw2_evil_response_with_original_before_signature_is_rejected() {
    assert_xml_rejected(
        &mutate::xsw2(&response_signed()),
        "saml_multiple_assertions",
    );
}

#[test]
fn xsw3_unsigned_assertion_before_signed_one_is_rejected() {
    assert_xml_rejected(
        &mutate::xsw3(&assertion_signed()),
        "saml_multiple_assertions",
    );
}

#[test]
fn xsw4_unsigned_assertion_wrapping_signed_one_is_rejected() {
    assert_xml_rejected(
        &mutate::xsw4(&assertion_signed()),
        "saml_multiple_assertions",
    );
}

#[test]
fn xsw5_altered_assertion_with_original_copy_appended_is_rejected() {
    assert_xml_rejected(
        &mutate::xsw5(&assertion_signed()),
        "saml_multiple_assertions",
    );
}

#[test]
fn xsw6_altered_assertion_with_original_copy_inside_signature_is_rejected() {
    assert_xml_rejected(
        &mutate::xsw6(&assertion_signed()),
        "saml_multiple_assertions",
    );
}

/// SAML Raider's XSW7 keeps the original ID on the evil copy: the duplicate-ID check fires first.
#[test]
fn xsw7_evil_assertion_in_extensions_is_rejected() {
    assert_xml_rejected(&mutate::xsw7(&assertion_signed()), "saml_duplicate_id");
}

/// The signature shape check refuses any `ds:Object` before assertions are counted.
#[test]
fn xsw8_original_assertion_in_signature_object_is_rejected() {
    assert_xml_rejected(&mutate::xsw8(&assertion_signed()), "saml_signature_shape");
}

#[test]
fn xsw3_against_both_signed_response_is_rejected() {
    let both = SamlResponseBuilder::new(t0())
        .sign(SignWhat::Both)
        .build_xml();
    assert_xml_rejected(&mutate::xsw3(&both), "saml_multiple_assertions");
}

// ---- S03 multiple / nested assertions ----------------------------------------------------------

#[test]
fn multiple_assertions_in_signed_response_are_rejected() {
    let xml = SamlResponseBuilder::new(t0()).build_xml_edited(|stage, xml| match stage {
        Stage::Response => mutate::append_second_assertion(&xml),
        Stage::Assertion => xml,
    });
    assert_xml_rejected(&xml, "saml_multiple_assertions");
}

#[test]
fn assertion_in_advice_is_rejected() {
    let xml = SamlResponseBuilder::new(t0())
        .sign(SignWhat::Both)
        .build_xml_edited(|stage, xml| match stage {
            Stage::Assertion => mutate::add_advice_assertion(&xml),
            Stage::Response => xml,
        });
    assert_xml_rejected(&xml, "saml_multiple_assertions");
}

// ---- S05 comment injection ---------------------------------------------------------------------

/// The signed NameID is `alice@example.com.evil.test`; a truncating parser would see
/// `alice@example.com`. Never a prefix: the validator rejects.
#[test]
fn comment_injection_in_nameid_never_yields_prefix() {
    let mut b = SamlResponseBuilder::new(t0()).sign(SignWhat::Assertion);
    b.name_id = Some("alice@example.com.evil.test".into());
    let xml = mutate::inject_comment(
        &b.build_xml(),
        "alice@example.com.evil.test",
        "alice@example.com",
    );
    let result = validate_xml(&xml);
    if let Ok(id) = &result {
        assert_eq!(
            id.subject(),
            "alice@example.com.evil.test",
            "truncated at the comment"
        );
    }
    assert_rejected(result, "saml_comment_injection");
}

#[test]
fn comment_injection_in_role_value_never_yields_prefix() {
    let signed_role = "arn:aws:iam::111122223333:role/Admin,arn:aws:iam::111122223333:saml-provider/TestIdp-attacker";
    let b = SamlResponseBuilder::new(t0()).roles(&[signed_role]);
    let prefix =
        "arn:aws:iam::111122223333:role/Admin,arn:aws:iam::111122223333:saml-provider/TestIdp";
    let xml = mutate::inject_comment(&b.build_xml(), signed_role, prefix);
    let result = validate_xml(&xml);
    if let Ok(id) = &result {
        let roles: Vec<String> = id
            .aws()
            .roles
            .iter()
            .map(|r| r.provider.to_string())
            .collect();
        assert!(
            roles.iter().all(|p| p.ends_with("TestIdp-attacker")),
            "{roles:?}"
        );
    }
    assert_rejected(result, "saml_comment_injection");
}

// ---- S07/S08 algorithms ------------------------------------------------------------------------

#[test]
fn sha1_signature_and_digest_downgrade_is_rejected() {
    let xml = SamlResponseBuilder::new(t0())
        .algorithms(SigAlg::RsaSha1, DigestAlg::Sha1)
        .build_xml();
    assert_xml_rejected(&xml, "saml_algorithm_forbidden");
}

#[test]
fn sha256_signature_with_sha1_digest_is_rejected() {
    let xml = SamlResponseBuilder::new(t0())
        .algorithms(SigAlg::RsaSha256, DigestAlg::Sha1)
        .build_xml();
    assert_xml_rejected(&xml, "saml_algorithm_forbidden");
}

#[test]
fn hmac_signature_keyed_with_idp_certificate_is_rejected() {
    let xml = SamlResponseBuilder::new(t0())
        .algorithms(SigAlg::HmacSha256, DigestAlg::Sha256)
        .build_xml();
    assert_xml_rejected(&xml, "saml_algorithm_forbidden");
}

// ---- S09 reference / transform abuse -----------------------------------------------------------

#[test]
fn external_reference_uri_is_rejected_without_fetching() {
    let probe = LoopbackProbe::start();
    let xml = mutate::set_reference_uri(&response_signed(), &probe.url());
    assert_xml_rejected(&xml, "saml_signature_shape");
    assert!(
        !probe.was_contacted(),
        "the validator fetched the external Reference URI"
    );
}

#[test]
fn empty_reference_uri_is_rejected() {
    let xml = mutate::set_reference_uri(&response_signed(), "");
    assert_xml_rejected(&xml, "saml_signature_shape");
}

#[test]
fn extra_reference_in_signed_info_is_rejected() {
    let xml = mutate::duplicate_ds_element(&response_signed(), "Reference");
    assert_xml_rejected(&xml, "saml_signature_shape");
}

#[test]
fn validly_signed_second_reference_to_assertion_is_rejected() {
    let mut b = SamlResponseBuilder::new(t0());
    b.signature.extra_reference_uris = vec![format!("#{}", b.assertion_id)];
    assert_xml_rejected(&b.build_xml(), "saml_signature_shape");
}

#[test]
fn two_signed_info_elements_are_rejected() {
    let xml = mutate::duplicate_ds_element(&response_signed(), "SignedInfo");
    assert_xml_rejected(&xml, "saml_signature_shape");
}

#[test]
fn validly_signed_xpath_transform_is_rejected() {
    let mut b = SamlResponseBuilder::new(t0());
    b.signature.extra_transforms = vec![format!(
        "<ds:Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xpath-19991116\">\
         <ds:XPath xmlns:ds=\"{NS_DS}\">not(ancestor-or-self::ds:Signature)</ds:XPath></ds:Transform>"
    )];
    assert_xml_rejected(&b.build_xml(), "saml_signature_shape");
}

// ---- S10 duplicate IDs, S20 signature position -------------------------------------------------

#[test]
fn duplicate_id_in_extensions_is_rejected() {
    let b = SamlResponseBuilder::new(t0()).sign(SignWhat::Assertion);
    let xml = mutate::add_element_with_id(&b.build_xml(), &b.assertion_id);
    assert_xml_rejected(&xml, "saml_duplicate_id");
}

#[test]
fn signature_placed_inside_subject_is_rejected() {
    let xml = mutate::move_assertion_signature_into_subject(&assertion_signed());
    assert_xml_rejected(&xml, "saml_signature_misplaced");
}

// ---- S12 DTD / XXE / entity expansion ----------------------------------------------------------

#[test]
fn doctype_with_external_entity_is_rejected_without_fetching() {
    let probe = LoopbackProbe::start();
    let xml = mutate::doctype_xxe(&response_signed(), &probe.url());
    assert_xml_rejected(&xml, "saml_dtd_forbidden");
    assert!(
        !probe.was_contacted(),
        "the validator resolved the external entity"
    );
}

#[test]
fn billion_laughs_entity_expansion_is_rejected() {
    assert_xml_rejected(
        &mutate::billion_laughs(&response_signed()),
        "saml_dtd_forbidden",
    );
}

// ---- S19 encryption, S23 size, encoding --------------------------------------------------------

#[test]
fn encrypted_assertion_is_rejected_as_unsupported() {
    let xml = SamlResponseBuilder::new(t0()).build_xml_edited(|stage, xml| match stage {
        Stage::Response => mutate::encrypt_assertion_placeholder(&xml),
        Stage::Assertion => xml,
    });
    assert_xml_rejected(&xml, "saml_encrypted_assertion_unsupported");
}

#[test]
fn oversized_response_over_100000_base64_chars_is_rejected() {
    let b = SamlResponseBuilder::new(t0())
        .attribute("https://example.com/padding", &[&"x".repeat(80_000)]);
    let encoded = b.build_base64();
    assert!(encoded.len() > 100_000);
    assert_rejected(validate_at(&encoded, t0()), "saml_too_large");
}

#[test]
fn bad_base64_is_rejected_as_malformed() {
    assert_rejected(
        validate_at("PHNhbWxwOlJlc3BvbnNl*not-base64*", t0()),
        "saml_malformed",
    );
}

#[test]
fn trailing_garbage_after_signed_response_is_rejected_as_malformed() {
    let xml = format!(
        "{}<samlp:Response/>",
        strip_xml_declaration(&response_signed())
    );
    assert_xml_rejected(&xml, "saml_malformed");
}

// ---- S21 metadata trust (R1: samael fails open without signing keys) ---------------------------

#[test]
fn metadata_with_only_encryption_key_is_refused_at_config_time() {
    let encryption_only = metadata_xml().replace("use=\"signing\"", "use=\"encryption\"");
    let idp = fedbroker::saml::TrustedIdp::from_metadata_xml(
        "enc-only",
        &encryption_only,
        vec!["urn:amazon:webservices".to_string()],
        vec!["https://signin.aws.amazon.com/saml".to_string()],
    );
    assert!(
        idp.is_err(),
        "an IdP without a signing key must never be trusted"
    );
}
