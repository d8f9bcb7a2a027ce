//! Encrypted assertions (XML Encryption), encrypted by xmlsec1 (`support::encrypt`) after or
//! before our test IdP signs: what decrypts and verifies, and every attack on the decryption
//! stage, named after it. All decryption failures must be one code with one message.

use crate::support;

use fedbroker::clock::FixedClock;
use fedbroker::error::ApiError;
use fedbroker::identity::{OriginalCredential, VerifiedIdentity};
use fedbroker::saml::{Decryption, DecryptionKey, SamlError, SamlValidator, TrustedIdp};
use secrecy::ExposeSecret;
use std::sync::Arc;
use support::encrypt::*;
use support::harness::{assert_rejected, t0, test_idp};
use support::mutate::LoopbackProbe;
use support::saml_idp::*;

fn key(file: &str) -> DecryptionKey {
    DecryptionKey::from_file(certs_dir().join(file).to_str().unwrap()).expect("test key loads")
}

fn idp_with(keys: Vec<DecryptionKey>, allow_cbc: bool) -> TrustedIdp {
    let mut idp = test_idp();
    idp.decryption = Decryption { keys, allow_cbc };
    idp
}

fn validate_with(xml: &str, idp: TrustedIdp) -> Result<VerifiedIdentity, SamlError> {
    SamlValidator::new(vec![idp], Arc::new(FixedClock::new(t0()))).validate(&b64(xml))
}

fn validate(xml: &str) -> Result<VerifiedIdentity, SamlError> {
    validate_with(xml, idp_with(vec![key("test-sp-enc.key")], false))
}

fn validate_allow_cbc(xml: &str) -> Result<VerifiedIdentity, SamlError> {
    validate_with(xml, idp_with(vec![key("test-sp-enc.key")], true))
}

#[track_caller]
fn accepted(r: Result<VerifiedIdentity, SamlError>) -> VerifiedIdentity {
    let id = r.unwrap_or_else(|e| panic!("expected acceptance, got {}: {e}", e.code()));
    assert!(
        id.encrypted(),
        "the identity records that the assertion was encrypted"
    );
    assert_eq!(id.subject(), "alice@example.com");
    assert_eq!(id.aws().roles.len(), 1);
    id
}

/// Assertion signed by the IdP, then encrypted; the Response is unsigned.
fn assertion_signed_then_encrypted(spec: &EncSpec) -> String {
    let xml = SamlResponseBuilder::new(t0())
        .sign(SignWhat::Assertion)
        .build_xml();
    encrypt_assertion(&xml, spec)
}

/// Assertion encrypted, then the Response signed over the EncryptedAssertion (`sign`: Response
/// or Both).
fn encrypted_then_response_signed(spec: &EncSpec, sign: SignWhat) -> String {
    let spec = spec.clone();
    SamlResponseBuilder::new(t0())
        .sign(sign)
        .build_xml_edited(move |stage, xml| match stage {
            Stage::Response => encrypt_assertion(&xml, &spec),
            Stage::Assertion => xml,
        })
}

/// The uniform decryption failure: the same code and the same message.
#[track_caller]
fn assert_uniform_failure(r: Result<VerifiedIdentity, SamlError>) {
    let reference = SamlError::DecryptionFailed;
    match r {
        Ok(_) => panic!("ACCEPTED (expected saml_decryption_failed)"),
        Err(e) => {
            assert_eq!(e.code(), "saml_decryption_failed", "{e}");
            assert_eq!(e.to_string(), reference.to_string());
        }
    }
}

// ---- what decrypts and verifies ------------------------------------------------------------

#[test]
fn gcm_assertion_signed_then_encrypted_is_accepted_with_either_key_placement() {
    for alg in [GCM128, GCM256] {
        for placement in [KeyPlacement::InKeyInfo, KeyPlacement::Sibling] {
            let xml = assertion_signed_then_encrypted(&EncSpec::new(alg, placement));
            accepted(validate(&xml));
        }
    }
}

#[test]
fn cbc_inside_a_verified_response_signature_is_accepted_without_allow_cbc() {
    for alg in [CBC128, CBC256] {
        for sign in [SignWhat::Response, SignWhat::Both] {
            let spec = EncSpec::new(alg, KeyPlacement::Sibling);
            accepted(validate(&encrypted_then_response_signed(&spec, sign)));
        }
    }
}

#[test]
fn cbc_with_allow_cbc_and_only_the_assertion_signed_is_accepted() {
    for alg in [CBC128, CBC256] {
        let xml = assertion_signed_then_encrypted(&EncSpec::new(alg, KeyPlacement::InKeyInfo));
        accepted(validate_allow_cbc(&xml));
    }
}

#[test]
fn gcm_response_signed_over_the_encrypted_assertion_is_accepted() {
    let spec = EncSpec::new(GCM256, KeyPlacement::InKeyInfo);
    let id = accepted(validate(&encrypted_then_response_signed(
        &spec,
        SignWhat::Response,
    )));
    assert!(!id.key_fingerprint().is_empty());
}

#[test]
fn samlify_encrypted_assertion_decrypts_and_verifies() {
    // samlify's layout: EncryptedAssertion redeclaring saml, whitespace, a default-namespace
    // ds:KeyInfo, an `e:` prefixed EncryptedKey with the certificate in its KeyInfo.
    let signed = SamlResponseBuilder::new(t0())
        .sign(SignWhat::Assertion)
        .build_xml();
    let gcm = samlify_encrypt_assertion(&signed, GCM256);
    assert!(gcm.contains("EncryptedAssertion") && !gcm.contains("<saml:Subject"));
    accepted(validate(&gcm));
    // samlify's default data algorithm is AES-256-CBC: refused unless allowed (nothing signs it).
    let cbc = samlify_encrypt_assertion(&signed, CBC256);
    assert_rejected(validate(&cbc), "saml_encryption_cbc_not_allowed");
    accepted(validate_allow_cbc(&cbc));
}

#[test]
fn rotation_any_configured_decryption_key_may_be_the_one() {
    let xml = assertion_signed_then_encrypted(&EncSpec::new(GCM128, KeyPlacement::InKeyInfo));
    let idp = idp_with(
        vec![key("attacker.key"), key("test-sp-enc.pkcs1.key")],
        false,
    );
    accepted(validate_with(&xml, idp));
}

#[test]
fn pass_through_keeps_the_original_encrypted_response_for_aws() {
    let xml = assertion_signed_then_encrypted(&EncSpec::new(GCM128, KeyPlacement::InKeyInfo));
    let id = accepted(validate(&xml));
    match id.original() {
        OriginalCredential::SamlResponse(s) => {
            assert_eq!(
                s.expose_secret(),
                b64(&xml),
                "AWS gets the Response as received"
            );
            assert!(xml.contains("EncryptedAssertion") && !xml.contains("<saml:Subject"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn encrypted_name_id_inside_a_signed_assertion_is_decrypted_after_verification() {
    let spec = EncSpec::new(CBC128, KeyPlacement::InKeyInfo);
    for outer in [false, true] {
        let xml = SamlResponseBuilder::new(t0())
            .sign(SignWhat::Assertion)
            .build_xml_edited(|stage, xml| match stage {
                Stage::Assertion => encrypt_element(&xml, "NameID", "EncryptedID", &spec),
                Stage::Response => xml,
            });
        assert!(xml.contains("EncryptedID") && !xml.contains("alice@example.com"));
        let xml = if outer {
            encrypt_assertion(&xml, &EncSpec::new(GCM128, KeyPlacement::Sibling))
        } else {
            xml
        };
        let id = validate(&xml).unwrap_or_else(|e| panic!("{}: {e}", e.code()));
        assert_eq!(id.subject(), "alice@example.com");
        assert_eq!(
            id.subject_format(),
            Some("urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress")
        );
        assert_eq!(id.encrypted(), outer);
    }
}

#[test]
fn encrypted_attribute_inside_a_signed_assertion_is_decrypted_after_verification() {
    let spec = EncSpec::new(GCM128, KeyPlacement::InKeyInfo);
    let mut b = SamlResponseBuilder::new(t0()).sign(SignWhat::Assertion);
    // First, so that it is the Attribute encrypted.
    b.attributes
        .insert(0, ("groups".into(), vec!["admins".into(), "a<b&c".into()]));
    let xml = b.build_xml_edited(|stage, xml| match stage {
        Stage::Assertion => encrypt_element(&xml, "Attribute", "EncryptedAttribute", &spec),
        Stage::Response => xml,
    });
    assert!(xml.contains("EncryptedAttribute") && !xml.contains("admins"));
    let id = validate(&xml).unwrap_or_else(|e| panic!("{}: {e}", e.code()));
    assert_eq!(id.attributes()["groups"], vec!["admins", "a<b&c"]);
    assert_eq!(id.aws().roles.len(), 1);
}

// ---- attacks -------------------------------------------------------------------------------

/// A Response whose Assertion (signed) carries an EncryptedID decrypting to `plaintext`.
fn with_encrypted_id_of(plaintext: &str) -> String {
    let enc =
        encrypted_assertion_of(plaintext).replace("saml:EncryptedAssertion", "saml:EncryptedID");
    SamlResponseBuilder::new(t0())
        .sign(SignWhat::Assertion)
        .build_xml_edited(|stage, xml| match stage {
            Stage::Assertion => {
                let start = xml.find("<saml:NameID").unwrap();
                let end = xml.find("</saml:NameID>").unwrap() + "</saml:NameID>".len();
                format!("{}{enc}{}", &xml[..start], &xml[end..])
            }
            Stage::Response => xml,
        })
}

#[test]
fn encrypted_name_id_with_comment_injection_or_another_element_is_refused() {
    let ok = format!("<saml:NameID xmlns:saml=\"{NS_SAML}\">alice@example.com</saml:NameID>");
    assert_eq!(
        validate(&with_encrypted_id_of(&ok)).unwrap().subject(),
        "alice@example.com"
    );
    let comment = format!(
        "<saml:NameID xmlns:saml=\"{NS_SAML}\">admin@example.com<!---->.evil</saml:NameID>"
    );
    assert_rejected(
        validate(&with_encrypted_id_of(&comment)),
        "saml_comment_injection",
    );
    for other in [
        format!("<saml:Issuer xmlns:saml=\"{NS_SAML}\">x</saml:Issuer>"),
        format!("{ok}{ok}"),
        "not xml".to_string(),
    ] {
        assert_uniform_failure(validate(&with_encrypted_id_of(&other)));
    }
}

#[test]
fn encrypted_assertion_for_an_idp_without_decryption_keys_is_refused_as_unsupported() {
    let xml = assertion_signed_then_encrypted(&EncSpec::new(GCM128, KeyPlacement::InKeyInfo));
    let r = validate_with(&xml, test_idp());
    assert_rejected(r, "saml_encrypted_assertion_unsupported");
    let e = validate_with(&xml, test_idp()).unwrap_err();
    assert!(e.to_string().contains("decryption_key_files"), "{e}");
}

#[test]
fn tampered_ciphertext_is_refused_with_the_uniform_error() {
    for alg in [GCM128, GCM256] {
        let xml = assertion_signed_then_encrypted(&EncSpec::new(alg, KeyPlacement::Sibling));
        let (mut bytes, _) = data_cipher_value(&xml);
        bytes[40] ^= 0x01;
        assert_uniform_failure(validate(&with_data_cipher_value(&xml, &bytes)));
    }
}

#[test]
fn tampered_ciphertext_under_a_response_signature_fails_the_signature_before_decryption() {
    let spec = EncSpec::new(CBC128, KeyPlacement::InKeyInfo);
    let xml = encrypted_then_response_signed(&spec, SignWhat::Response);
    let (mut bytes, _) = data_cipher_value(&xml);
    let n = bytes.len();
    bytes[n - 17] ^= 0x01;
    assert_rejected(
        validate(&with_data_cipher_value(&xml, &bytes)),
        "saml_signature_invalid",
    );
}

#[test]
fn content_key_encrypted_to_a_key_the_broker_does_not_hold_is_refused() {
    let mut spec = EncSpec::new(GCM128, KeyPlacement::InKeyInfo);
    spec.cert = "attacker.crt";
    assert_uniform_failure(validate(&assertion_signed_then_encrypted(&spec)));
}

#[test]
fn rsa_1_5_key_transport_is_refused_even_with_the_right_key() {
    for alg in [GCM128, CBC128] {
        let mut spec = EncSpec::new(alg, KeyPlacement::InKeyInfo);
        spec.key_transport = RSA_1_5;
        assert_uniform_failure(validate_allow_cbc(&assertion_signed_then_encrypted(&spec)));
    }
}

#[test]
fn cbc_without_a_covering_response_signature_and_without_allow_cbc_is_refused() {
    let xml = assertion_signed_then_encrypted(&EncSpec::new(CBC128, KeyPlacement::InKeyInfo));
    assert_rejected(validate(&xml), "saml_encryption_cbc_not_allowed");
}

#[test]
fn stripping_the_response_signature_does_not_unlock_cbc() {
    let spec = EncSpec::new(CBC256, KeyPlacement::InKeyInfo);
    let xml = encrypted_then_response_signed(&spec, SignWhat::Both);
    let stripped = support::mutate::strip_signatures(&xml);
    assert_rejected(validate(&stripped), "saml_encryption_cbc_not_allowed");
}

#[test]
fn cbc_padding_oracle_probe_every_variant_gets_the_identical_answer() {
    // allow_cbc and no Response signature: the malleable case. Vary the last byte of the
    // second-to-last block (it XORs into the last plaintext byte, the pad length) through all
    // 255 other values: whatever the padding or the plaintext then is, the answer is identical.
    let xml = assertion_signed_then_encrypted(&EncSpec::new(CBC128, KeyPlacement::InKeyInfo));
    accepted(validate_allow_cbc(&xml));
    let (bytes, _) = data_cipher_value(&xml);
    let at = bytes.len() - 17;
    let mut answers = std::collections::BTreeSet::new();
    for delta in 1..=255u8 {
        let mut b = bytes.clone();
        b[at] ^= delta;
        match validate_allow_cbc(&with_data_cipher_value(&xml, &b)) {
            Ok(_) => panic!("ACCEPTED a tampered ciphertext (delta {delta})"),
            Err(e) => {
                answers.insert((e.code(), e.to_string()));
            }
        }
    }
    assert_eq!(answers.len(), 1, "{answers:?}");
    assert_eq!(
        answers.into_iter().next().unwrap().0,
        "saml_decryption_failed"
    );
}

#[test]
fn key_length_that_does_not_match_the_algorithm_is_refused() {
    for (made, claimed) in [(GCM128, GCM256), (GCM256, GCM128)] {
        let xml = assertion_signed_then_encrypted(&EncSpec::new(made, KeyPlacement::InKeyInfo));
        assert_uniform_failure(validate(&xml.replace(made, claimed)));
    }
    for (made, claimed) in [(CBC128, CBC256), (CBC256, CBC128)] {
        let xml = assertion_signed_then_encrypted(&EncSpec::new(made, KeyPlacement::InKeyInfo));
        assert_uniform_failure(validate_allow_cbc(&xml.replace(made, claimed)));
    }
}

#[test]
fn retrieval_method_to_a_non_local_uri_is_refused_without_fetching() {
    let probe = LoopbackProbe::start();
    let xml = assertion_signed_then_encrypted(&EncSpec::new(GCM128, KeyPlacement::Sibling));
    for uri in [probe.url(), "ek.xml".to_string(), "#_nothere".to_string()] {
        let hostile = xml.replace("URI=\"#_ek-1\"", &format!("URI=\"{uri}\""));
        assert_ne!(hostile, xml);
        assert_uniform_failure(validate(&hostile));
    }
    assert!(!probe.was_contacted(), "a RetrievalMethod was dereferenced");
}

#[test]
fn encrypted_assertion_beside_a_plaintext_assertion_is_refused() {
    let plain = SamlResponseBuilder::new(t0())
        .sign(SignWhat::Assertion)
        .build_xml();
    let mut other = SamlResponseBuilder::new(t0()).sign(SignWhat::Assertion);
    other.assertion_id = "_second".into();
    let enc = assertion_signed_then_encrypted(&EncSpec::new(GCM128, KeyPlacement::InKeyInfo));
    let start = enc.find("<saml:EncryptedAssertion>").unwrap();
    let end = enc.find("</saml:EncryptedAssertion>").unwrap() + "</saml:EncryptedAssertion>".len();
    let both = plain.replacen(
        "</samlp:Response>",
        &format!("{}</samlp:Response>", &enc[start..end]),
        1,
    );
    assert_rejected(validate(&both), "saml_multiple_assertions");
}

#[test]
fn two_encrypted_assertions_are_refused() {
    let enc = assertion_signed_then_encrypted(&EncSpec::new(GCM128, KeyPlacement::InKeyInfo));
    let start = enc.find("<saml:EncryptedAssertion>").unwrap();
    let end = enc.find("</saml:EncryptedAssertion>").unwrap() + "</saml:EncryptedAssertion>".len();
    let two = enc.replacen(&enc[start..end], &format!("{0}{0}", &enc[start..end]), 1);
    assert_rejected(validate(&two), "saml_multiple_assertions");
}

/// A Response (unsigned) around an EncryptedAssertion whose plaintext is `plaintext`.
fn response_with_plaintext(plaintext: &str) -> String {
    let b = SamlResponseBuilder::new(t0()).sign(SignWhat::Nothing);
    b.response_template(&encrypted_assertion_of(plaintext))
}

fn signed_assertion() -> String {
    let b = SamlResponseBuilder::new(t0()).sign(SignWhat::Assertion);
    strip_xml_declaration(&b.sign_document(&b.assertion_template()))
}

#[test]
fn wrapper_namespace_trick_plaintext_that_closes_or_extends_the_wrapper_is_refused() {
    let a = signed_assertion();
    accepted(validate(&response_with_plaintext(&a)));
    for hostile in [
        format!("{a}</fedbroker-decrypted-assertion><fedbroker-decrypted-assertion>"),
        format!("{a}<!-- trailing -->"),
        format!("{a}<saml:Issuer xmlns:saml=\"{NS_SAML}\">x</saml:Issuer>"),
        format!("<?pi x?>{a}"),
        format!("<!DOCTYPE x>{a}"),
        "<saml:Assertion".to_string(),
    ] {
        assert_uniform_failure(validate(&response_with_plaintext(&hostile)));
    }
}

#[test]
fn wrapper_namespace_trick_plaintext_gets_only_the_namespaces_in_scope_at_the_encrypted_assertion()
{
    // The plaintext relies on `saml` declared on the Response (as xmlsec's output does): fine.
    let a = signed_assertion();
    let relying = a.replacen(&format!(" xmlns:saml=\"{NS_SAML}\""), "", 1);
    assert_ne!(relying, a);
    accepted(validate(&response_with_plaintext(&relying)));
    // A prefix declared only on the EncryptedData (xenc) is not in scope for the plaintext.
    let xenc_prefix = a.replacen("<saml:Subject>", "<saml:Subject><xenc:CipherValue/>", 1);
    assert_uniform_failure(validate(&response_with_plaintext(&xenc_prefix)));
}

#[test]
fn unsigned_decrypted_assertion_in_an_unsigned_response_is_refused() {
    let xml = SamlResponseBuilder::new(t0())
        .sign(SignWhat::Nothing)
        .build_xml();
    let xml = encrypt_assertion(&xml, &EncSpec::new(GCM128, KeyPlacement::InKeyInfo));
    assert_rejected(validate(&xml), "saml_unsigned");
    // With allow_cbc and CBC the same refusal is the uniform one (nothing authenticated it).
    let cbc = encrypt_assertion(
        &SamlResponseBuilder::new(t0())
            .sign(SignWhat::Nothing)
            .build_xml(),
        &EncSpec::new(CBC128, KeyPlacement::InKeyInfo),
    );
    assert_uniform_failure(validate_allow_cbc(&cbc));
}

#[test]
fn xsw_inside_the_plaintext_is_refused() {
    let a = signed_assertion();
    // The signed Assertion hidden in the Advice of an unsigned evil one.
    let evil = SamlResponseBuilder::new(t0())
        .sign(SignWhat::Nothing)
        .assertion_template()
        .replace("_assert-4b7e2f90c3d54a18b6e0", "_evil")
        .replacen(
            "<saml:Subject>",
            &format!("<saml:Advice>{a}</saml:Advice><saml:Subject>"),
            1,
        );
    assert_rejected(
        validate(&response_with_plaintext(&evil)),
        "saml_multiple_assertions",
    );
    // The genuine Signature moved into an evil Assertion with the same ID.
    let sig_start = a.find("<ds:Signature").unwrap();
    let sig_end = a.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    let evil = a
        .replacen(&a[sig_start..sig_end], "", 1)
        .replace("alice@example.com", "admin@example.com");
    let evil = evil.replacen(
        "<saml:Subject>",
        &format!("{}<saml:Subject>", &a[sig_start..sig_end]),
        1,
    );
    assert_rejected(
        validate(&response_with_plaintext(&evil)),
        "saml_signature_invalid",
    );
}

#[test]
fn decrypted_assertion_reusing_the_response_id_is_refused() {
    let mut b = SamlResponseBuilder::new(t0()).sign(SignWhat::Assertion);
    b.assertion_id = b.response_id.clone();
    let xml = encrypt_assertion(
        &b.build_xml(),
        &EncSpec::new(GCM128, KeyPlacement::InKeyInfo),
    );
    assert_rejected(validate(&xml), "saml_duplicate_id");
}
