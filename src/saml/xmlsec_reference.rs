//! Reference verifier: samael + xmlsec (libxml2) checking every Signature against the selected
//! IdP's pinned certificates with an algorithm allowlist, returning only the verified subtree
//! (`ReduceMode::ValidateAndMarkNoAncestors`). Not on the request path: the broker verifies with
//! the native `dsig` module; this independent implementation is the oracle its differential tests
//! and fuzz target compare against (the two must accept exactly the same documents).
//!
//! Invariants: the returned reduced document holds only signed content, rooted at the Response
//! when the Response was signed, at the Assertion when only the Assertion was signed.

use super::xml::{self, is, NS_SAML, NS_SAMLP};
use super::{SamlError, TrustedIdp};
use samael::crypto::{
    AllowedSignatureAlgorithm, CertificateDer, Crypto, CryptoProvider, ReduceMode,
};
use sha2::{Digest, Sha256};

/// Signature algorithms xmlsec may accept (samael pairs each with its same-strength digest).
/// Mirrors `preflight::ALLOWED_SIGNATURE_METHODS`; both layers enforce it (checklist R3).
pub const ALLOWED_ALGORITHMS: &[AllowedSignatureAlgorithm] = &[
    AllowedSignatureAlgorithm::RsaSha256,
    AllowedSignatureAlgorithm::RsaSha384,
    AllowedSignatureAlgorithm::RsaSha512,
    AllowedSignatureAlgorithm::EcdsaSha256,
    AllowedSignatureAlgorithm::EcdsaSha384,
];

/// The signed-only XML and which key verified it.
#[derive(Debug)]
pub struct VerifiedXml {
    /// Reduced document: only content covered by a verified signature.
    pub xml: String,
    /// SHA-256 (lowercase hex) of the DER certificate that verified, for the audit log (S22).
    /// When two different pinned keys signed Response and Assertion, the fingerprints joined by `+`.
    pub key_fingerprint: String,
}

/// SHA-256 hex of a DER certificate.
pub fn fingerprint(cert: &CertificateDer) -> String {
    hex::encode(Sha256::digest(cert.der_data()))
}

fn reduce(xml: &str, certs: &[CertificateDer]) -> Option<String> {
    Crypto::reduce_xml_to_signed_with_allowed_algorithms(
        xml,
        certs,
        ReduceMode::ValidateAndMarkNoAncestors,
        Some(ALLOWED_ALGORITHMS),
    )
    .ok()
}

/// Verify every signature in `xml` (already preflighted) with `idp`'s pinned keys only.
pub fn verify_signatures(xml: &str, idp: &TrustedIdp) -> Result<VerifiedXml, SamlError> {
    if idp.signing_certs.is_empty() {
        // Never reached for a TrustedIdp built by metadata.rs; fail closed anyway (checklist R1).
        return Err(SamlError::IdpMisconfigured {
            idp: idp.name.clone(),
        });
    }
    // samael reports success only, not which key: try the keys one by one to know the fingerprint.
    for cert in &idp.signing_certs {
        if let Some(reduced) = reduce(xml, std::slice::from_ref(cert)) {
            return Ok(VerifiedXml {
                xml: reduced,
                key_fingerprint: fingerprint(cert),
            });
        }
    }
    // Response and Assertion may be signed by two different pinned keys (during a rotation).
    if idp.signing_certs.len() > 1 {
        if let Some(reduced) = reduce(xml, &idp.signing_certs) {
            let fps: Vec<String> = idp.signing_certs.iter().map(fingerprint).collect();
            return Ok(VerifiedXml {
                xml: reduced,
                key_fingerprint: fps.join("+"),
            });
        }
    }
    Err(SamlError::SignatureInvalid {
        idp: idp.name.clone(),
    })
}

/// xmlsec's own verification (`xmlSecDSigCtxVerify`, no samael reduction) of the first Signature in
/// document order with one of `idp`'s pinned certificates. The differential oracle for the native
/// verifier: samael's reduction also refuses some valid signatures (text with CDATA sections).
pub fn xmlsec_verifies_first_signature(xml: &str, idp: &TrustedIdp) -> bool {
    idp.signing_certs
        .iter()
        .any(|cert| Crypto::verify_signed_xml(xml, cert, Some("ID")).is_ok())
}

/// Locate the single Assertion inside the verified document.
///
/// `expected_id` is the ID preflight saw; the verified Assertion must carry it (defence in depth:
/// preflight guaranteed there is exactly one Assertion in the input).
pub fn verified_assertion<'a, 'i>(
    verified_doc: &'a roxmltree::Document<'i>,
    expected_id: &str,
) -> Result<roxmltree::Node<'a, 'i>, SamlError> {
    let root = verified_doc.root_element();
    let assertion = if is(root, NS_SAML, "Assertion") {
        root
    } else if is(root, NS_SAMLP, "Response") {
        let mut found = xml::children(root, NS_SAML, "Assertion");
        let first = found.next().ok_or(SamlError::AssertionUnsigned)?;
        if found.next().is_some() {
            return Err(SamlError::MultipleAssertions { count: 2 });
        }
        first
    } else {
        return Err(SamlError::AssertionUnsigned);
    };
    let total = verified_doc
        .descendants()
        .filter(|n| is(*n, NS_SAML, "Assertion"))
        .count();
    if total != 1 {
        return Err(SamlError::MultipleAssertions { count: total });
    }
    if assertion.attribute("ID") != Some(expected_id) {
        return Err(SamlError::AssertionUnsigned);
    }
    Ok(assertion)
}
