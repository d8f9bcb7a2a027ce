//! Fuzz entry points, shared by the cargo-fuzz targets (`fuzz/fuzz_targets/`) and by the stable
//! regression test `tests/all/fuzz_corpus.rs`, which compiles this same file with `#[path]`.
//!
//! Each entry takes arbitrary bytes, drives one untrusted-input path of fedbroker the way the broker
//! does, and reports an [`Outcome`]. Invariants: no entry panics on any input, so under the fuzzer
//! a panic, abort, timeout or out-of-memory is a bug in fedbroker or a dependency; a few cheap
//! cross-checks (`assert!` below) turn silent inconsistencies into panics the fuzzer reports.
//! Fixed trust anchors: the test IdP metadata (`config/test-idp-metadata.xml`) and the public JWKS
//! `fuzz/fixtures/jwks.json`; fixed time [`t0`]. Seeds: `fuzz/corpus/` (`fuzz/gen-corpus.sh`).
#![forbid(unsafe_code)]

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use chrono::{DateTime, TimeZone, Utc};
use fedbroker::clock::FixedClock;
use fedbroker::error::ApiError;
use fedbroker::oidc::keys::{KeySet, MAX_JWKS_KEYS};
use fedbroker::oidc::{self, UnverifiedToken};
use fedbroker::saml::xml::{self, is, NS_SAML, NS_SAMLP};
use fedbroker::saml::{self, SamlValidator, TrustedIdp};
use samael::crypto::{Crypto, CryptoProvider};
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

/// The test IdP's metadata (RSA and P-256 signing certificates; public, test only).
pub const IDP_METADATA: &str = include_str!("../../config/test-idp-metadata.xml");
/// Its entity ID, as in the metadata.
pub const IDP_ENTITY_ID: &str = "https://idp.test.fedbroker.local/metadata";
/// Public JWKS (`rsa-1`: certs/oidc-signing-rsa.key, `ec-1`: certs/oidc-signing-ec.key).
pub const FIXTURE_JWKS: &[u8] = include_bytes!("../fixtures/jwks.json");
/// Issuer and audience the `jwt_claims` entry checks against (the generator's seeds use them).
pub const JWT_ISSUER: &str = "https://issuer.fuzz.fedbroker.local";
pub const JWT_AUDIENCE: &str = "sts.amazonaws.com";

/// The fixed "now" of every entry: the issue instant of the generated seeds (tests' `t0`).
pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 2, 3, 4, 5).unwrap()
}

/// What one input did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every stage accepted it.
    Accepted,
    /// Refused; the stable error code of the stage that refused.
    Rejected(&'static str),
}

impl<T, E: ApiError> From<Result<T, E>> for Outcome {
    fn from(r: Result<T, E>) -> Self {
        match r {
            Ok(_) => Outcome::Accepted,
            Err(e) => Outcome::Rejected(e.code()),
        }
    }
}

impl Outcome {
    /// `self` if it accepted, else `other`.
    fn or(self, other: Outcome) -> Outcome {
        if self == Outcome::Accepted {
            self
        } else {
            other
        }
    }
}

fn test_idp() -> TrustedIdp {
    TrustedIdp::from_metadata_xml(
        "test-idp",
        IDP_METADATA,
        vec![
            "urn:amazon:webservices".into(),
            "https://signin.aws.amazon.com/saml".into(),
        ],
        vec!["https://signin.aws.amazon.com/saml".into()],
    )
    .expect("config/test-idp-metadata.xml loads")
}

fn validator() -> &'static SamlValidator {
    static V: OnceLock<SamlValidator> = OnceLock::new();
    V.get_or_init(|| {
        SamlValidator::try_new(vec![test_idp()], Arc::new(FixedClock::new(t0())))
            .expect("validator")
    })
}

/// One base64 form value through `preflight::decode` then `preflight::check`.
fn preflight_b64(form_value: &str) -> Outcome {
    match saml::preflight::decode(form_value) {
        Ok(text) => {
            assert!(
                !saml::preflight::contains_dtd_markup(&text),
                "decode returned DTD markup"
            );
            saml::preflight::check(&text).into()
        }
        Err(e) => Outcome::Rejected(e.code()),
    }
}

/// SAML preflight, three ways: (1) the bytes as the *decoded* document (we base64 them, so invalid
/// UTF-8, BOMs and encoding declarations reach `decode`), (2) the bytes as the form value itself
/// (whitespace, padding, alphabet), (3) the bytes as raw XML straight into `preflight::check` (the
/// strict roxmltree parse, depth cap, document and signature shape), skipping decode's DTD scan.
/// The outcome is (1) or (2), the ways production can take; (3) is only exercised. Cross-check:
/// `decode` returns exactly the bytes encoded (minus one leading BOM).
pub fn saml_preflight(data: &[u8]) -> Outcome {
    let encoded = STANDARD.encode(data);
    if let Ok(text) = saml::preflight::decode(&encoded) {
        let expected = data.strip_prefix("\u{feff}".as_bytes()).unwrap_or(data);
        assert_eq!(
            text.as_bytes(),
            expected,
            "decode changed the document beyond one leading BOM"
        );
    }
    let mut outcome = preflight_b64(&encoded);
    if let Ok(s) = std::str::from_utf8(data) {
        outcome = outcome.or(preflight_b64(s));
        // Not part of the outcome: production never skips decode (encoding declaration, DTD scan).
        let _ = saml::preflight::check(s);
    }
    outcome
}

/// The whole `SamlValidator::validate` (preflight, native XML-DSig with the pinned test IdP keys,
/// profile, AWS attributes) on the base64 of the bytes, with the clock at [`t0`]. The input is the
/// XML document, so mutations hit XML, not base64. Cross-checks: an accepted identity comes from
/// the test IdP, and [`dsig_within_xmlsec`].
pub fn saml_validate(data: &[u8]) -> Outcome {
    dsig_within_xmlsec(data);
    match validator().validate(&STANDARD.encode(data)) {
        Ok(id) => {
            assert_eq!(id.issuer(), IDP_ENTITY_ID, "accepted a foreign issuer");
            Outcome::Accepted
        }
        Err(e) => Outcome::Rejected(e.code()),
    }
}

/// Differential check of the native verifier against xmlsec (libxml2's C14N, OpenSSL): on any
/// document preflight accepts, when the native verifier accepts, xmlsec must verify the first
/// Signature too. The native verifier may be stricter (its base64 and shape rules are), never more
/// lenient.
pub fn dsig_within_xmlsec(data: &[u8]) {
    let Ok(text) = saml::preflight::decode(&STANDARD.encode(data)) else {
        return;
    };
    let Ok(pre) = saml::preflight::check(&text) else {
        return;
    };
    static IDP: OnceLock<TrustedIdp> = OnceLock::new();
    let idp = IDP.get_or_init(test_idp);
    if saml::dsig::verify(&pre.unverified_doc, idp).is_ok() {
        // xmlsec's own verification (no samael reduction, which also refuses some valid
        // signatures, e.g. over text with CDATA) of the first Signature in document order.
        let xmlsec_verifies = idp.signing_certs.iter().any(|c| {
            let cert = samael::crypto::CertificateDer::from(c.der_data().to_vec());
            Crypto::verify_signed_xml(&text, &cert, Some("ID")).is_ok()
        });
        assert!(
            xmlsec_verifies,
            "native XML-DSig accepted a document xmlsec rejects"
        );
    }
}

/// The post-signature SAML stages on an *unsigned* document, as if it had been verified: strict
/// parse and depth cap, the Response envelope, [`one_assertion`], the profile checks at
/// [`t0`] and the AWS attributes. The signed path reaches this code only with a valid signature,
/// which a fuzzer cannot forge. An Assertion root (Assertion-only signing) skips the envelope.
pub fn saml_profile(data: &[u8]) -> Outcome {
    fn run(text: &str) -> Result<(), saml::SamlError> {
        let doc = xml::parse(text)?;
        xml::check_depth(&doc)?;
        let root = doc.root_element();
        static IDP: OnceLock<TrustedIdp> = OnceLock::new();
        let idp = IDP.get_or_init(test_idp);
        if is(root, NS_SAMLP, "Response") {
            saml::profile::check_response_envelope(root, idp)?;
        }
        let id = doc
            .descendants()
            .find(|n| is(*n, NS_SAML, "Assertion"))
            .and_then(|a| a.attribute("ID"))
            .unwrap_or_default();
        let assertion = one_assertion(&doc, id)?;
        let facts = saml::profile::check_assertion(assertion, idp, t0())?;
        assert!(
            facts.expires_at > t0() - saml::CLOCK_SKEW,
            "expired accepted"
        );
        saml::attributes::aws_claims(
            &facts.attributes,
            facts.session_not_on_or_after,
            saml::AwsAttributes::Required,
        )?;
        Ok(())
    }
    match std::str::from_utf8(data) {
        Ok(text) => run(text).into(),
        Err(_) => Outcome::Rejected("not_utf8"),
    }
}

/// The one Assertion with ID `expected_id`: the root, or the single Assertion child of a Response.
pub fn one_assertion<'a, 'i>(
    doc: &'a roxmltree::Document<'i>,
    expected_id: &str,
) -> Result<roxmltree::Node<'a, 'i>, saml::SamlError> {
    let root = doc.root_element();
    let assertion = if is(root, NS_SAML, "Assertion") {
        root
    } else if is(root, NS_SAMLP, "Response") {
        let mut found = xml::children(root, NS_SAML, "Assertion");
        let first = found.next().ok_or(saml::SamlError::AssertionUnsigned)?;
        if found.next().is_some() {
            return Err(saml::SamlError::MultipleAssertions { count: 2 });
        }
        first
    } else {
        return Err(saml::SamlError::AssertionUnsigned);
    };
    let total = doc
        .descendants()
        .filter(|n| is(*n, NS_SAML, "Assertion"))
        .count();
    if total != 1 {
        return Err(saml::SamlError::MultipleAssertions { count: total });
    }
    if assertion.attribute("ID") != Some(expected_id) {
        return Err(saml::SamlError::AssertionUnsigned);
    }
    Ok(assertion)
}

/// JWT parse and JWS verification. Input: a compact JWS checked against [`FIXTURE_JWKS`], or
/// `JWKS JSON` + `\n` + token (the token is what follows the last newline) to fuzz JWKS ingest as
/// well. Drives the strict JSON parser on the raw bytes, `KeySet::from_jwks`,
/// `UnverifiedToken::parse` (+ `unverified_iss`) and `verify_jws_with_jwks`. Cross-checks: the
/// parsed token's pieces are the received bytes, and a verified payload is the decoded middle
/// segment.
pub fn jwt_parse(data: &[u8]) -> Outcome {
    let _ = oidc::json::parse_object(data);
    let (jwks, token) = match data.iter().rposition(|b| *b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (FIXTURE_JWKS, data),
    };
    if let Ok(set) = KeySet::from_jwks(jwks) {
        assert!(set.len() <= MAX_JWKS_KEYS, "JWKS key cap not enforced");
    }
    let Ok(token) = std::str::from_utf8(token) else {
        return Outcome::Rejected("not_utf8");
    };
    let parsed = UnverifiedToken::parse(token);
    if let Ok(t) = &parsed {
        assert_eq!(
            format!("{}.{}", t.signing_input(), t.signature_b64()),
            token,
            "signing input + signature is not the token"
        );
        assert!(t
            .header()
            .kid
            .as_ref()
            .is_none_or(|k| !k.is_empty() && k.len() <= oidc::unverified::MAX_KID_LEN));
        let _ = t.unverified_iss();
    }
    match oidc::verify_jws_with_jwks(token, jwks) {
        Ok(payload) => {
            assert!(parsed.is_ok(), "verified a token that does not parse");
            let middle = token.split('.').nth(1).unwrap_or_default();
            assert_eq!(
                URL_SAFE_NO_PAD.decode(middle).ok().as_deref(),
                Some(payload.as_slice()),
                "verified payload is not the token's payload"
            );
            // What the validator does next with a verified payload.
            let _ = oidc::json::parse_object(&payload);
            Outcome::Accepted
        }
        Err(e) => Outcome::Rejected(e.code()),
    }
}

/// The post-signature OIDC stages on a claim set (JSON bytes), as if the signature had verified:
/// strict JSON, `claims::check` against [`JWT_ISSUER`]/[`JWT_AUDIENCE`] at [`t0`], claim
/// conditions (a GitHub-style `sub` pattern), AWS session tags and source identity, and the
/// attribute map.
pub fn jwt_claims(data: &[u8]) -> Outcome {
    fn run(data: &[u8]) -> Result<(), oidc::OidcError> {
        let claims = oidc::json::parse_object(data)
            .map_err(|e| oidc::OidcError::Malformed(format!("claims: {e}")))?;
        let audiences = [JWT_AUDIENCE.to_owned()];
        let checked = oidc::claims::check(&claims, JWT_ISSUER, &audiences, t0())?;
        assert!(
            checked.expires_at + oidc::claims::LEEWAY > t0(),
            "expired accepted"
        );
        let conditions = BTreeMap::from([(
            "sub".to_owned(),
            vec!["repo:my-org/*:ref:refs/heads/*".to_owned()],
        )]);
        if let Some(claim) = oidc::conditions::first_failure(&conditions, &claims) {
            return Err(oidc::OidcError::ConditionFailed {
                provider: "fuzz".into(),
                claim: claim.to_owned(),
            });
        }
        oidc::aws_claims::aws_claims(&claims)?;
        let _ = oidc::claims::attributes(&claims);
        Ok(())
    }
    run(data).into()
}
