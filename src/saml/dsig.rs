//! Native XML-DSig verification of a preflighted SAML Response, on the same parse tree preflight
//! built and the profile stage reads ("one parse tree for verification and extraction", docs/SECURITY.md
//! S11): exclusive or inclusive C14N 1.0 (`c14n`), SHA-2 digests, and RSA/ECDSA through aws-lc-rs
//! with the IdP's pinned keys parsed at load (`keys`). KeyInfo is never read (S06).
//!
//! What is accepted, and nothing else: an enveloped `ds:Signature` that is a direct child of the
//! Response or of its one Assertion; one Reference whose URI is `#` + that parent's ID; Transforms
//! exactly enveloped-signature then exclusive C14N (optionally with an InclusiveNamespaces
//! PrefixList) or then inclusive C14N 1.0; exclusive or inclusive C14N 1.0 for SignedInfo (never
//! the with-comments variants); the SignatureMethod and DigestMethod allowlists of the IdP's
//! [`AlgorithmPolicy`] (SHA-1 only for an IdP with `legacy_algorithms`). Every Signature present
//! must verify; what they used is returned as [`SignatureFacts`].
//!
//! Invariants: the digest is computed over the canonical form of the Signature's *parent node
//! itself* (no URI dereferencing, no ID lookup), so the node that was verified is the node that is
//! returned, and signature wrapping cannot redirect either (S02-S04). The returned Assertion is
//! covered by a verified signature: its own, or the Response's.

use super::c14n;
use super::keys::{AlgorithmPolicy, DigestMethod, SignatureMethod};
use super::preflight::{ALG_C14N, ALG_ENVELOPED, ALG_EXC_C14N};
use super::xml::{self, is, NS_DS, NS_EXC_C14N, NS_SAML, NS_SAMLP};
use super::{SamlError, TrustedIdp};
use roxmltree::{Document, Node};

/// The Assertion whose content is covered by a verified signature, and what verified it.
#[derive(Debug)]
pub struct Verified<'a, 'x> {
    pub assertion: Node<'a, 'x>,
    pub facts: SignatureFacts,
}

/// Which elements carry a verified signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Signed {
    Response,
    Assertion,
    Both,
}

impl Signed {
    /// `response`, `assertion` or `both`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Response => "response",
            Self::Assertion => "assertion",
            Self::Both => "both",
        }
    }
}

/// What the verified signatures used, with stable names instead of URIs (for reports, audit and
/// metrics). With two signatures (Response and Assertion) that differ in a field, that field holds
/// both values joined by `+`, the Response's first.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SignatureFacts {
    /// SignatureMethod: `rsa-sha1`, `rsa-sha256`, `rsa-sha384`, `rsa-sha512`, `ecdsa-sha256`,
    /// `ecdsa-sha384` (reported as `algorithm`).
    #[serde(rename = "algorithm")]
    pub method: String,
    /// DigestMethod: `sha1`, `sha256`, `sha384`, `sha512`.
    pub digest: String,
    /// The Reference's canonicalization transform: `exc-c14n` (exclusive C14N 1.0) or `c14n`
    /// (inclusive C14N 1.0); SignedInfo's CanonicalizationMethod is one of the same two.
    pub c14n: String,
    pub signed: Signed,
    /// SHA-256 (hex) of the certificate that verified; two fingerprints joined by `+` when the
    /// Response and the Assertion were signed by different pinned keys (during a rotation).
    pub key_fingerprint: String,
    /// True when acceptance relied on the IdP's `legacy_algorithms` opt-in: an RSA-SHA1
    /// signature, a SHA-1 digest or an RSA key under 2048 bits.
    pub legacy: bool,
}

/// Stable name of a canonicalization URI accepted here.
fn c14n_name(uri: &str) -> &'static str {
    if uri == ALG_C14N {
        "c14n"
    } else {
        "exc-c14n"
    }
}

/// What one verified Signature used (opaque outside this module; the encrypted-assertion path
/// carries the Response's across decryption).
#[derive(Debug, Clone, Copy)]
pub struct OneSignature<'k> {
    fingerprint: &'k str,
    method: &'static str,
    digest: &'static str,
    c14n: &'static str,
    legacy: bool,
}

/// `a`, or `a+b` when two signatures differ.
fn joined(values: &[&str]) -> String {
    let mut out: Vec<&str> = Vec::new();
    for v in values {
        if !out.contains(v) {
            out.push(v);
        }
    }
    out.join("+")
}

fn shape(msg: &'static str) -> SamlError {
    SamlError::SignatureShape(msg.into())
}

fn check_keys(idp: &TrustedIdp) -> Result<(), SamlError> {
    let keys = idp.pinned_keys();
    if keys.is_empty() || keys.len() != idp.signing_certs.len() {
        // Never reached for a TrustedIdp built by metadata.rs; fail closed anyway (docs/SECURITY.md R1).
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
/// EncryptedAssertion, ciphertext and wrapped key included) before anything is decrypted; what
/// verified it, `None` when the Response is unsigned.
pub fn verify_response<'k>(
    doc: &Document<'_>,
    idp: &'k TrustedIdp,
) -> Result<Option<OneSignature<'k>>, SamlError> {
    check_keys(idp)?;
    let response = doc.root_element();
    match signature_of(response)? {
        Some(sig) => verify_one(sig, response, idp, &mut Vec::new()).map(Some),
        None => Ok(None),
    }
}

/// Encrypted Assertion, step 2: `doc` is the wrapper `decrypt` built around the decrypted
/// Assertion; verify the Assertion's own Signature, if any. `response` comes from
/// [`verify_response`]; the Assertion must be covered by at least one of the two.
pub fn verify_decrypted<'a, 'x>(
    doc: &'a Document<'x>,
    idp: &TrustedIdp,
    response: Option<OneSignature<'_>>,
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
    let facts = facts_of(&[response, own])?;
    Ok(Verified { assertion, facts })
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

    // The verified Signature of the Response, then of the Assertion.
    let mut by_parent: [Option<OneSignature<'_>>; 2] = [None, None];
    let mut buf = Vec::with_capacity(doc.input_text().len());
    for (slot, parent) in by_parent.iter_mut().zip([response, assertion]) {
        let mut sigs = xml::children(parent, NS_DS, "Signature");
        let Some(sig) = sigs.next() else { continue };
        if sigs.next().is_some() {
            return Err(SamlError::SignatureMisplaced(format!(
                "the {} carries more than one Signature",
                parent.tag_name().name()
            )));
        }
        *slot = Some(verify_one(sig, parent, idp, &mut buf)?);
    }
    let facts = facts_of(&by_parent)?;
    Ok(Verified { assertion, facts })
}

/// The facts of the verified Signatures of the Response and of the Assertion (in that order);
/// neither verified: [`SamlError::Unsigned`].
fn facts_of(by_parent: &[Option<OneSignature<'_>>; 2]) -> Result<SignatureFacts, SamlError> {
    let signed = match by_parent {
        [None, None] => return Err(SamlError::Unsigned),
        [Some(_), None] => Signed::Response,
        [None, Some(_)] => Signed::Assertion,
        [Some(_), Some(_)] => Signed::Both,
    };
    let verified: Vec<&OneSignature<'_>> = by_parent.iter().flatten().collect();
    let field = |f: for<'s> fn(&'s OneSignature<'s>) -> &'s str| {
        joined(&verified.iter().map(|s| f(s)).collect::<Vec<_>>())
    };
    let facts = SignatureFacts {
        method: field(|s| s.method),
        digest: field(|s| s.digest),
        c14n: field(|s| s.c14n),
        signed,
        key_fingerprint: field(|s| s.fingerprint),
        legacy: verified.iter().any(|s| s.legacy),
    };
    Ok(facts)
}

/// Canonicalize `apex` (minus `omit`) with `algorithm`: exclusive (with `prefixes`) or inclusive.
fn canonicalize<'a, 'i: 'a>(
    algorithm: &str,
    apex: Node<'a, 'i>,
    omit: Option<roxmltree::NodeId>,
    prefixes: &[&'a str],
    out: &mut Vec<u8>,
) -> Result<(), c14n::C14nError> {
    if algorithm == ALG_C14N {
        c14n::inclusive(apex, omit, out)
    } else {
        c14n::exclusive(apex, omit, prefixes, out)
    }
}

/// The canonicalization URIs accepted (exclusive and inclusive C14N 1.0, without comments).
fn allowed_c14n(uri: &str) -> Option<&'static str> {
    [ALG_EXC_C14N, ALG_C14N].into_iter().find(|a| *a == uri)
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
    xml::decode_base64_text(&xml::strict_text(node, what)?)
        .ok_or_else(|| SamlError::SignatureShape(format!("{what} is not valid base64")))
}

fn algorithm<'a>(node: Node<'a, '_>) -> &'a str {
    node.attribute("Algorithm").unwrap_or_default()
}

/// Verify one enveloped Signature over `parent`; what it used and which key verified it.
fn verify_one<'k>(
    sig: Node<'_, '_>,
    parent: Node<'_, '_>,
    idp: &'k TrustedIdp,
    buf: &mut Vec<u8>,
) -> Result<OneSignature<'k>, SamlError> {
    let policy: AlgorithmPolicy = idp.algorithm_policy;
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
    let si_c14n = xml::allowed_algorithm(c14n_method, "CanonicalizationMethod", allowed_c14n)?;
    if !xml::signature_children(c14n_method)?.is_empty() {
        return Err(shape("CanonicalizationMethod must be empty"));
    }
    let method = xml::allowed_algorithm(
        expect(si.get(1), "SignatureMethod")?,
        "SignatureMethod",
        |uri| SignatureMethod::from_uri(uri, policy),
    )?;
    let reference = expect(si.get(2), "Reference")?;

    // The shape and every algorithm (the IdP's policy) are checked before any key is used.
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
    let (ref_c14n, prefix_list) =
        match transforms.as_slice() {
            [env, c]
                if is(*env, NS_DS, "Transform")
                    && is(*c, NS_DS, "Transform")
                    && algorithm(*env) == ALG_ENVELOPED
                    && xml::signature_children(*env)?.is_empty() =>
            {
                let c14n_alg = xml::allowed_algorithm(*c, "Transform", allowed_c14n)?;
                match xml::signature_children(*c)?.as_slice() {
                    [] => (c14n_alg, None),
                    [inc]
                        if c14n_alg == ALG_EXC_C14N
                            && is(*inc, NS_EXC_C14N, "InclusiveNamespaces") =>
                    {
                        (c14n_alg, inc.attribute("PrefixList"))
                    }
                    _ => return Err(shape(
                        "only the exclusive C14N Transform may hold anything (InclusiveNamespaces)",
                    )),
                }
            }
            _ => return Err(shape(
                "Transforms must be enveloped-signature followed by exclusive or inclusive C14N",
            )),
        };
    let prefixes: Vec<&str> = prefix_list
        .unwrap_or_default()
        .split_ascii_whitespace()
        .map(|p| if p == "#default" { "" } else { p })
        .collect();
    let digest_method =
        xml::allowed_algorithm(expect(r.get(1), "DigestMethod")?, "DigestMethod", |uri| {
            DigestMethod::from_uri(uri, policy)
        })?;
    let expected = base64_text(expect(r.get(2), "DigestValue")?, "DigestValue")?;

    // 1. SignedInfo: the signature must verify with a pinned key before its Reference is used.
    let signature = base64_text(signature_value, "SignatureValue")?;
    buf.clear();
    canonicalize(si_c14n, signed_info, None, &[], buf).map_err(|_| invalid())?;
    let key = idp
        .pinned_keys()
        .iter()
        .find(|k| k.verifies(method, buf, &signature))
        .ok_or_else(invalid)?;

    // 2. The Reference: the parent itself, minus this Signature, canonicalized and digested.
    buf.clear();
    canonicalize(ref_c14n, parent, Some(sig.id()), &prefixes, buf).map_err(|_| invalid())?;
    let actual = digest_method.digest(buf);
    aws_lc_rs::constant_time::verify_slices_are_equal(actual.as_ref(), &expected)
        .map_err(|_| invalid())?;
    Ok(OneSignature {
        fingerprint: &key.fingerprint,
        method: method.name(),
        digest: digest_method.name(),
        c14n: c14n_name(ref_c14n),
        legacy: method.is_legacy() || digest_method.is_legacy() || key.short_key,
    })
}

#[cfg(test)]
#[path = "dsig_inclusive_tests.rs"]
mod inclusive_tests;
#[cfg(test)]
#[path = "dsig_legacy_tests.rs"]
mod legacy_tests;
#[cfg(test)]
#[path = "dsig_tests.rs"]
mod tests;
