//! The `legacy_algorithms` opt-in: RSA-SHA1 signatures, SHA-1 digests and 1024-bit RSA keys
//! (signed by xmlsec, so the documents are genuinely valid) verify for an IdP built with
//! `AlgorithmPolicy::Legacy` only, are reported as legacy, and are refused for every strict IdP,
//! including when another configured IdP has opted in.

use super::tests::reference_accepts;
use super::*;
use crate::clock::FixedClock;
use crate::error::ApiError;
use crate::saml::keys::AlgorithmPolicy;
use crate::saml::preflight;
use crate::saml::test_support::*;
use crate::saml::SamlValidator;
use std::sync::Arc;

const RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";
const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
const OLD_ENTITY: &str = "https://old-idp.example.test/metadata";

/// A signature template for `id` with the given SignatureMethod and DigestMethod URIs.
fn template(id: &str, method: &str, digest: &str) -> String {
    sig_template(id)
        .replacen(RSA_SHA256, method, 1)
        .replacen(SHA256, digest, 1)
}

/// An Assertion-signed Response (issuer `entity`) signed with `key_der`.
fn signed(method: &str, digest: &str, entity: &str, key_der: &[u8]) -> String {
    let unsigned = response(
        "",
        &assertion(&template(ASSERTION_ID, method, digest), "alice"),
    )
    .replace(IDP_ENTITY, entity);
    sign_with(&unsigned, key_der)
}

fn idp_with(name: &str, entity: &str, cert: &[u8], policy: AlgorithmPolicy) -> TrustedIdp {
    TrustedIdp::from_der_certs_with_policy(
        name,
        entity,
        vec![cert.to_vec()],
        vec![AUDIENCE.into()],
        vec![RECIPIENT.into()],
        policy,
    )
    .unwrap()
}

fn verify_with(xml: &str, idp: &TrustedIdp) -> Result<SignatureFacts, &'static str> {
    let doc = xml::parse(xml).unwrap();
    verify(&doc, idp).map(|v| v.facts).map_err(|e| e.code())
}

fn xmlsec_accepts_with(xml: &str, cert: &[u8]) -> bool {
    use samael::crypto::{CertificateDer, Crypto, CryptoProvider};
    Crypto::verify_signed_xml(xml, &CertificateDer::from(cert.to_vec()), Some("ID")).is_ok()
}

#[test]
fn sha1_signature_and_digest_verify_only_for_an_idp_with_legacy_algorithms() {
    let strict = idp();
    let legacy = idp_with("corp", IDP_ENTITY, &key(0).1, AlgorithmPolicy::Legacy);
    for (method, digest, names) in [
        (RSA_SHA1, SHA1, ("rsa-sha1", "sha1")),
        (RSA_SHA1, SHA256, ("rsa-sha1", "sha256")),
        (RSA_SHA256, SHA1, ("rsa-sha256", "sha1")),
    ] {
        let x = signed(method, digest, IDP_ENTITY, &key(0).0);
        assert!(reference_accepts(&x), "xmlsec rejects {names:?}");
        // Strict default: refused by preflight and by the verifier, before any key is used.
        assert_eq!(
            preflight::check(&x).unwrap_err().code(),
            "saml_algorithm_forbidden",
            "{names:?}"
        );
        assert_eq!(
            verify_with(&x, &strict),
            Err("saml_algorithm_forbidden"),
            "{names:?}"
        );
        // Opted in: verified and marked legacy.
        assert!(preflight::check_with_policy(&x, AlgorithmPolicy::Legacy).is_ok());
        let facts = verify_with(&x, &legacy).unwrap_or_else(|e| panic!("{names:?}: {e}"));
        assert_eq!((facts.method.as_str(), facts.digest.as_str()), names);
        assert!(facts.legacy, "{names:?}");
        assert_eq!(facts.signed, Signed::Assertion);
        // A one-character tamper still fails.
        assert_eq!(
            verify_with(&x.replacen("alice", "alicf", 1), &legacy),
            Err("saml_signature_invalid")
        );
    }
}

#[test]
fn sha256_signature_from_a_legacy_idp_with_a_2048_bit_key_is_not_marked_legacy() {
    let legacy = idp_with("corp", IDP_ENTITY, &key(0).1, AlgorithmPolicy::Legacy);
    let x = signed(RSA_SHA256, SHA256, IDP_ENTITY, &key(0).0);
    let facts = verify_with(&x, &legacy).unwrap();
    assert!(!facts.legacy);
    assert_eq!(
        (facts.method.as_str(), facts.digest.as_str()),
        ("rsa-sha256", "sha256")
    );
}

#[test]
fn rsa_key_of_1024_bits_is_refused_at_load_unless_legacy_and_its_signatures_are_marked() {
    let (private, cert) = key_1024();
    let err = TrustedIdp::from_der_certs(
        "old",
        OLD_ENTITY,
        vec![cert.clone()],
        vec![AUDIENCE.into()],
        vec![RECIPIENT.into()],
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("1024 bits") && err.contains("legacy_algorithms"),
        "{err}"
    );
    let legacy = idp_with("old", OLD_ENTITY, cert, AlgorithmPolicy::Legacy);
    for (method, digest, name) in [
        (RSA_SHA256, SHA256, "rsa-sha256"),
        (RSA_SHA1, SHA1, "rsa-sha1"),
    ] {
        let x = signed(method, digest, OLD_ENTITY, private);
        assert!(xmlsec_accepts_with(&x, cert), "xmlsec rejects {name}");
        let facts = verify_with(&x, &legacy).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(facts.method, name);
        assert!(facts.legacy, "a 1024-bit key is legacy even with {name}");
        assert_eq!(
            verify_with(&x.replacen("alice", "alicf", 1), &legacy),
            Err("saml_signature_invalid")
        );
    }
}

#[test]
fn legacy_opt_in_of_one_idp_does_not_leak_to_another() {
    // "old" opted in, "corp" did not; the validator's preflight admits SHA-1 because one IdP may
    // use it, and the verifier applies corp's own strict policy.
    let corp = idp();
    let old = idp_with("old", OLD_ENTITY, &key(1).1, AlgorithmPolicy::Legacy);
    let v = SamlValidator::try_new(vec![corp, old], Arc::new(FixedClock::new(now()))).unwrap();
    let code = |xml: &str| v.validate(&b64(xml)).map(|_| ()).map_err(|e| e.code());

    let corp_sha1 = signed(RSA_SHA1, SHA1, IDP_ENTITY, &key(0).0);
    assert!(
        reference_accepts(&corp_sha1),
        "validly signed by corp's key"
    );
    assert_eq!(code(&corp_sha1), Err("saml_algorithm_forbidden"));
    let corp_sha1_digest = signed(RSA_SHA256, SHA1, IDP_ENTITY, &key(0).0);
    assert_eq!(code(&corp_sha1_digest), Err("saml_algorithm_forbidden"));

    let old_sha1 = signed(RSA_SHA1, SHA1, OLD_ENTITY, &key(1).0);
    let mut trace = crate::saml::Trace::default();
    let identity = v
        .validate_traced(
            &b64(&old_sha1),
            crate::saml::AwsAttributes::Required,
            &mut trace,
        )
        .unwrap();
    assert!(identity.legacy_algorithm() && trace.signature.unwrap().legacy);
    assert_eq!(identity.provider(), "old");

    let corp_sha256 = signed(RSA_SHA256, SHA256, IDP_ENTITY, &key(0).0);
    let identity = v.validate(&b64(&corp_sha256)).unwrap();
    assert!(!identity.legacy_algorithm());
}

#[test]
fn sha1_signature_for_a_strict_idp_is_refused_when_no_idp_opted_in() {
    let v = SamlValidator::try_new(vec![idp()], Arc::new(FixedClock::new(now()))).unwrap();
    let x = signed(RSA_SHA1, SHA1, IDP_ENTITY, &key(0).0);
    assert_eq!(
        v.validate(&b64(&x)).unwrap_err().code(),
        "saml_algorithm_forbidden"
    );
}

#[test]
fn legacy_policy_still_refuses_hmac_dsa_md5_and_ecdsa_sha1() {
    let legacy = idp_with("corp", IDP_ENTITY, &key(0).1, AlgorithmPolicy::Legacy);
    let x = signed(RSA_SHA1, SHA1, IDP_ENTITY, &key(0).0);
    for (from, to) in [
        (RSA_SHA1, "http://www.w3.org/2000/09/xmldsig#hmac-sha1"),
        (RSA_SHA1, "http://www.w3.org/2000/09/xmldsig#dsa-sha1"),
        (RSA_SHA1, "http://www.w3.org/2001/04/xmldsig-more#rsa-md5"),
        (
            RSA_SHA1,
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1",
        ),
        (SHA1, "http://www.w3.org/2001/04/xmldsig-more#md5"),
    ] {
        let bad = x.replacen(from, to, 1);
        assert_eq!(
            verify_with(&bad, &legacy),
            Err("saml_algorithm_forbidden"),
            "{to}"
        );
        assert_eq!(
            preflight::check_with_policy(&bad, AlgorithmPolicy::Legacy)
                .unwrap_err()
                .code(),
            "saml_algorithm_forbidden",
            "{to}"
        );
    }
}
