//! Native XML-DSig verification of a preflighted SAML Response, on the same parse tree preflight
//! built and the profile stage reads ("one parse tree for verification and extraction", checklist
//! S11): exclusive C14N (`c14n`), SHA-2 digests, and RSA/ECDSA through aws-lc-rs with the IdP's
//! pinned keys parsed at load (`keys`). KeyInfo is never read (S06).
//!
//! What is accepted, and nothing else: an enveloped `ds:Signature` that is a direct child of the
//! Response or of its one Assertion; one Reference whose URI is `#` + that parent's ID; Transforms
//! exactly enveloped-signature then exclusive C14N (optionally with an InclusiveNamespaces
//! PrefixList); exclusive C14N for SignedInfo; the SignatureMethod and DigestMethod allowlists.
//! Every Signature present must verify.
//!
//! Invariants: the digest is computed over the canonical form of the Signature's *parent node
//! itself* (no URI dereferencing, no ID lookup), so the node that was verified is the node that is
//! returned, and signature wrapping cannot redirect either (S02-S04). The returned Assertion is
//! covered by a verified signature: its own, or the Response's.

use super::c14n;
use super::keys::{DigestMethod, SignatureMethod};
use super::preflight::{ALG_ENVELOPED, ALG_EXC_C14N};
use super::xml::{self, is, NS_DS, NS_EXC_C14N, NS_SAML, NS_SAMLP};
use super::{SamlError, TrustedIdp};
use base64::Engine as _;
use roxmltree::{Document, Node};

/// The Assertion whose content is covered by a verified signature, and which keys verified.
#[derive(Debug)]
pub struct Verified<'a, 'x> {
    pub assertion: Node<'a, 'x>,
    /// SHA-256 (hex) of the certificate that verified; two fingerprints joined by `+` when the
    /// Response and the Assertion were signed by different pinned keys (during a rotation).
    pub key_fingerprint: String,
}

fn shape(msg: &'static str) -> SamlError {
    SamlError::SignatureShape(msg.into())
}

fn check_keys(idp: &TrustedIdp) -> Result<(), SamlError> {
    let keys = idp.pinned_keys();
    if keys.is_empty() || keys.len() != idp.signing_certs.len() {
        // Never reached for a TrustedIdp built by metadata.rs; fail closed anyway (checklist R1).
        return Err(SamlError::IdpMisconfigured {
            idp: idp.name.clone(),
        });
    }
    Ok(())
}

/// The one `ds:Signature` child of `parent`, if any.
fn signature_of<'a, 'x>(parent: Node<'a, 'x>) -> Result<Option<Node<'a, 'x>>, SamlError> {
    let mut sigs = xml::children(parent, NS_DS, "Signature");
    let sig = sigs.next();
    if sig.is_some() && sigs.next().is_some() {
        return Err(SamlError::SignatureMisplaced(format!(
            "the {} carries more than one Signature",
            parent.tag_name().name()
        )));
    }
    Ok(sig)
}

/// Encrypted Assertion, step 1: verify the Response's Signature (which covers the
/// EncryptedAssertion, ciphertext and wrapped key included) before anything is decrypted; the
/// fingerprint of the key that verified it, `None` when the Response is unsigned.
pub fn verify_response<'k>(
    doc: &Document<'_>,
    idp: &'k TrustedIdp,
) -> Result<Option<&'k str>, SamlError> {
    check_keys(idp)?;
    let response = doc.root_element();
    match signature_of(response)? {
        Some(sig) => verify_one(sig, response, idp, &mut Vec::new()).map(Some),
        None => Ok(None),
    }
}

/// Encrypted Assertion, step 2: `doc` is the wrapper `decrypt` built around the decrypted
/// Assertion; verify the Assertion's own Signature, if any. `response_fingerprint` comes from
/// [`verify_response`]; the Assertion must be covered by at least one of the two.
pub fn verify_decrypted<'a, 'x>(
    doc: &'a Document<'x>,
    idp: &TrustedIdp,
    response_fingerprint: Option<&str>,
) -> Result<Verified<'a, 'x>, SamlError> {
    check_keys(idp)?;
    let mut assertions = xml::children(doc.root_element(), NS_SAML, "Assertion");
    let assertion = assertions.next().ok_or(SamlError::AssertionUnsigned)?;
    if assertions.next().is_some() {
        return Err(SamlError::MultipleAssertions { count: 2 });
    }
    let own = match signature_of(assertion)? {
        Some(sig) => Some(verify_one(sig, assertion, idp, &mut Vec::new())?),
        None => None,
    };
    let mut fingerprints: Vec<&str> = response_fingerprint.into_iter().collect();
    if let Some(fp) = own.filter(|fp| !fingerprints.contains(fp)) {
        fingerprints.push(fp);
    }
    if fingerprints.is_empty() {
        return Err(SamlError::Unsigned);
    }
    Ok(Verified {
        assertion,
        key_fingerprint: fingerprints.join("+"),
    })
}

/// Verify every Signature of the Response in `doc` with `idp`'s pinned keys.
pub fn verify<'a, 'x>(
    doc: &'a Document<'x>,
    idp: &TrustedIdp,
) -> Result<Verified<'a, 'x>, SamlError> {
    check_keys(idp)?;
    let response = doc.root_element();
    if !is(response, NS_SAMLP, "Response") {
        return Err(SamlError::AssertionUnsigned);
    }
    let mut assertions = xml::children(response, NS_SAML, "Assertion");
    let assertion = assertions.next().ok_or(SamlError::AssertionUnsigned)?;
    if assertions.next().is_some() {
        return Err(SamlError::MultipleAssertions { count: 2 });
    }

    let mut fingerprints: Vec<&str> = Vec::new();
    let mut signed = 0;
    let mut buf = Vec::with_capacity(doc.input_text().len());
    for parent in [response, assertion] {
        let mut sigs = xml::children(parent, NS_DS, "Signature");
        let Some(sig) = sigs.next() else { continue };
        if sigs.next().is_some() {
            return Err(SamlError::SignatureMisplaced(format!(
                "the {} carries more than one Signature",
                parent.tag_name().name()
            )));
        }
        let fp = verify_one(sig, parent, idp, &mut buf)?;
        if !fingerprints.contains(&fp) {
            fingerprints.push(fp);
        }
        signed += 1;
    }
    if signed == 0 {
        return Err(SamlError::Unsigned);
    }
    Ok(Verified {
        assertion,
        key_fingerprint: fingerprints.join("+"),
    })
}

fn expect<'a, 'x>(
    node: Option<&Node<'a, 'x>>,
    local: &'static str,
) -> Result<Node<'a, 'x>, SamlError> {
    match node {
        Some(n) if is(*n, NS_DS, local) => Ok(*n),
        _ => Err(SamlError::SignatureShape(format!(
            "expected ds:{local} in the signature"
        ))),
    }
}

/// Strict base64 of an element's text, ignoring XML whitespace.
fn base64_text(node: Node<'_, '_>, what: &'static str) -> Result<Vec<u8>, SamlError> {
    let text = xml::strict_text(node, what)?;
    let compact: Vec<u8> = text
        .bytes()
        .filter(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .map_err(|_| SamlError::SignatureShape(format!("{what} is not valid base64")))
}

fn algorithm<'a>(node: Node<'a, '_>) -> &'a str {
    node.attribute("Algorithm").unwrap_or_default()
}

/// Verify one enveloped Signature over `parent`; the fingerprint of the key that verified it.
fn verify_one<'k>(
    sig: Node<'_, '_>,
    parent: Node<'_, '_>,
    idp: &'k TrustedIdp,
    buf: &mut Vec<u8>,
) -> Result<&'k str, SamlError> {
    let invalid = || SamlError::SignatureInvalid {
        idp: idp.name.clone(),
    };
    let parts = xml::signature_children(sig)?;
    let signed_info = expect(parts.first(), "SignedInfo")?;
    let signature_value = expect(parts.get(1), "SignatureValue")?;
    if parts.len() > 3 || (parts.len() == 3 && !is(parts[2], NS_DS, "KeyInfo")) {
        return Err(shape(
            "a Signature holds SignedInfo, SignatureValue and optionally KeyInfo, nothing else",
        ));
    }

    let si = xml::signature_children(signed_info)?;
    if si.len() != 3 {
        return Err(shape(
            "SignedInfo must hold CanonicalizationMethod, SignatureMethod and one Reference",
        ));
    }
    let c14n_method = expect(si.first(), "CanonicalizationMethod")?;
    xml::allowed_algorithm(c14n_method, "CanonicalizationMethod", |a| {
        (a == ALG_EXC_C14N).then_some(())
    })?;
    if !xml::signature_children(c14n_method)?.is_empty() {
        return Err(shape("CanonicalizationMethod must be empty"));
    }
    let method = xml::allowed_algorithm(
        expect(si.get(1), "SignatureMethod")?,
        "SignatureMethod",
        SignatureMethod::from_uri,
    )?;
    let reference = expect(si.get(2), "Reference")?;

    // 1. SignedInfo: the signature must verify with a pinned key before its Reference is used.
    let signature = base64_text(signature_value, "SignatureValue")?;
    buf.clear();
    c14n::exclusive(signed_info, None, &[], buf).map_err(|_| invalid())?;
    let key = idp
        .pinned_keys()
        .iter()
        .find(|k| k.verifies(method, buf, &signature))
        .ok_or_else(invalid)?;

    // 2. The Reference: the parent itself, minus this Signature, canonicalized and digested.
    let parent_id = parent.attribute("ID").unwrap_or_default();
    if parent_id.is_empty()
        || reference.attribute("URI").and_then(|u| u.strip_prefix('#')) != Some(parent_id)
    {
        return Err(shape(
            "the Reference URI must be \"#\" followed by the ID of the Signature's parent",
        ));
    }
    let r = xml::signature_children(reference)?;
    if r.len() != 3 {
        return Err(shape(
            "a Reference must hold Transforms, DigestMethod and DigestValue",
        ));
    }
    let transforms = xml::signature_children(expect(r.first(), "Transforms")?)?;
    let prefix_list = match transforms.as_slice() {
        [env, exc]
            if is(*env, NS_DS, "Transform")
                && is(*exc, NS_DS, "Transform")
                && algorithm(*env) == ALG_ENVELOPED
                && algorithm(*exc) == ALG_EXC_C14N
                && xml::signature_children(*env)?.is_empty() =>
        {
            match xml::signature_children(*exc)?.as_slice() {
                [] => None,
                [inc] if is(*inc, NS_EXC_C14N, "InclusiveNamespaces") => {
                    inc.attribute("PrefixList")
                }
                _ => {
                    return Err(shape(
                        "the exclusive C14N Transform may only hold InclusiveNamespaces",
                    ))
                }
            }
        }
        _ => {
            return Err(shape(
                "Transforms must be enveloped-signature followed by exclusive C14N",
            ))
        }
    };
    let prefixes: Vec<&str> = prefix_list
        .unwrap_or_default()
        .split_ascii_whitespace()
        .map(|p| if p == "#default" { "" } else { p })
        .collect();
    let digest_method = xml::allowed_algorithm(
        expect(r.get(1), "DigestMethod")?,
        "DigestMethod",
        DigestMethod::from_uri,
    )?;
    let expected = base64_text(expect(r.get(2), "DigestValue")?, "DigestValue")?;
    buf.clear();
    c14n::exclusive(parent, Some(sig.id()), &prefixes, buf).map_err(|_| invalid())?;
    let actual = digest_method.digest(buf);
    aws_lc_rs::constant_time::verify_slices_are_equal(actual.as_ref(), &expected)
        .map_err(|_| invalid())?;
    Ok(&key.fingerprint)
}

#[cfg(test)]
#[path = "dsig_tests.rs"]
mod tests;
