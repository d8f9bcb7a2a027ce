//! Preflight: everything checked on the untrusted input *before* libxml2/xmlsec sees it.
//!
//! Order: length cap (before decoding) → strict base64 → UTF-8 (+ encoding declaration) → DOCTYPE
//! ban → namespace-declaration and attribute caps (on the text, before parsing) → strict XML
//! (roxmltree, no DTD, node and depth caps; each namespace declaration checked once, where it is
//! declared) →
//! document shape (root Response, one Assertion or EncryptedAssertion, unique IDs, EncryptedID
//! only in a Subject and EncryptedAttribute only in an AttributeStatement, plain-text identity
//! values) → signature shape (placement, one SignedInfo, one Reference to the parent's ID, allowed
//! transforms and algorithms, a bounded PrefixList, no Object/Manifest/HMACOutputLength,
//! RetrievalMethod only as XML Encryption's pointer from EncryptedData/KeyInfo to an
//! EncryptedKey). [`check_decrypted`] applies the same rules to the
//! document `decrypt` builds around a decrypted Assertion.
//!
//! Invariant: nothing read here is trusted for identity. The only value used downstream is the
//! Assertion Issuer, to *select* which IdP's pinned keys verify the signature; a lie there just
//! makes verification fail. This stage exists because xmlsec 1.2 dereferences references and runs
//! transforms before it checks SignatureValue (docs/SECURITY.md R4, S09).

use super::keys::{AlgorithmPolicy, DigestMethod, SignatureMethod};
use super::xml::{self, is, NS_DS, NS_EXC_C14N, NS_SAML, NS_SAMLP};
use super::xmlenc::NS_XENC;
use super::{SamlError, MAX_SAML_RESPONSE_BASE64_LEN};
use base64::Engine as _;
use roxmltree::{Document, Node};
use std::collections::HashSet;

/// Exclusive XML canonicalization without comments: the default CanonicalizationMethod and C14N
/// transform (comments are then outside the signature, see `xml::strict_text`).
pub const ALG_EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
/// Inclusive Canonical XML 1.0 without comments, which some .NET-based IdPs sign with; accepted
/// like [`ALG_EXC_C14N`]. The `#WithComments` variants of both are refused.
pub const ALG_C14N: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";
/// The enveloped-signature transform.
pub const ALG_ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";

/// What preflight learned and later stages may use (see the module invariant).
#[derive(Debug)]
pub struct Preflight<'x> {
    /// The parsed, untrusted document (Status/Destination hints are read from it).
    pub unverified_doc: Document<'x>,
    /// Text of the Assertion's Issuer (of the Response's Issuer when the Assertion is encrypted):
    /// used only to choose the IdP's keys.
    pub unverified_assertion_issuer: String,
    /// `ID` of the one Assertion (empty when it is encrypted).
    pub unverified_assertion_id: String,
    /// The Response holds an `EncryptedAssertion` instead of an `Assertion`.
    pub encrypted_assertion: bool,
}

/// Local name of the element `decrypt` wraps a decrypted Assertion in (see [`check_decrypted`]).
pub const DECRYPTED_WRAPPER: &str = "fedbroker-decrypted-assertion";

/// Which document is checked.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    /// The Response as received.
    Response,
    /// A decrypted Assertion inside the wrapper `decrypt` built.
    Decrypted,
}

/// Length cap, strict base64 and UTF-8. Only ASCII whitespace that IdPs and form encoders insert
/// (space, tab, CR, LF) is stripped; anything else outside the standard alphabet is refused.
pub fn decode(unverified_b64: &str) -> Result<String, SamlError> {
    let len = unverified_b64.len();
    if len > MAX_SAML_RESPONSE_BASE64_LEN {
        return Err(SamlError::TooLarge {
            len,
            max: MAX_SAML_RESPONSE_BASE64_LEN,
        });
    }
    let compact: Vec<u8> = unverified_b64
        .bytes()
        .filter(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .collect();
    if compact.is_empty() {
        return Err(SamlError::Malformed("SAMLResponse is empty".into()));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(&compact)
        .map_err(|_| {
            SamlError::Malformed(
                "SAMLResponse is not valid standard base64 (RFC 4648 alphabet with canonical padding)"
                    .into(),
            )
        })?;
    let text = String::from_utf8(bytes)
        .map_err(|_| SamlError::Malformed("decoded SAMLResponse is not UTF-8".into()))?;
    let text = match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_owned(),
        None => text,
    };
    check_encoding_declaration(&text)?;
    if contains_dtd_markup(&text) {
        return Err(SamlError::DtdForbidden);
    }
    Ok(text)
}

/// `<!DOCTYPE` or `<!ENTITY` anywhere (case-insensitive), even inside comments: refused outright.
pub fn contains_dtd_markup(text: &str) -> bool {
    let b = text.as_bytes();
    b.windows(9).any(|w| w.eq_ignore_ascii_case(b"<!DOCTYPE"))
        || b.windows(8).any(|w| w.eq_ignore_ascii_case(b"<!ENTITY"))
}

/// roxmltree reads UTF-8 only, libxml2 honours the declared encoding: a non-UTF-8 declaration
/// would make the two parsers see different documents, so it is refused.
fn check_encoding_declaration(text: &str) -> Result<(), SamlError> {
    let Some(rest) = text.strip_prefix("<?xml") else {
        return Ok(());
    };
    let decl = rest.split("?>").next().unwrap_or_default();
    let Some(pos) = decl.find("encoding") else {
        return Ok(());
    };
    let value: String = decl[pos + "encoding".len()..]
        .chars()
        .skip_while(|c| c.is_whitespace() || *c == '=' || *c == '"' || *c == '\'')
        .take_while(|c| *c != '"' && *c != '\'')
        .collect();
    if value.eq_ignore_ascii_case("utf-8") || value.eq_ignore_ascii_case("utf8") {
        Ok(())
    } else {
        Err(SamlError::Malformed(
            "the XML declaration must declare UTF-8 encoding (or none)".into(),
        ))
    }
}

/// Parse and check the whole document shape and every signature's shape, with the strict
/// algorithm allowlist.
pub fn check(xml_text: &str) -> Result<Preflight<'_>, SamlError> {
    check_with_policy(xml_text, AlgorithmPolicy::Strict)
}

/// [`check`] with the algorithm allowlist of `policy`. Preflight does not know yet which IdP
/// signed, so the pipeline passes the widest policy of the configured IdPs (`Strict` unless one
/// has `legacy_algorithms`); `dsig` then applies the selected IdP's own policy before any key is
/// used.
pub fn check_with_policy(
    xml_text: &str,
    policy: AlgorithmPolicy,
) -> Result<Preflight<'_>, SamlError> {
    // Also here, not only in `decode`: callers that hold text already must not get a document
    // read as UTF-8 that declares another encoding.
    check_encoding_declaration(xml_text)?;
    check_document(xml_text, Part::Response, policy)
}

/// The same checks on a decrypted Assertion, which `decrypt` wraps in one element
/// ([`DECRYPTED_WRAPPER`]) declaring exactly the namespaces in scope at the EncryptedAssertion.
/// The wrapper must span the whole text and hold the one Assertion and nothing else (so nothing
/// can be smuggled beside it), and no signature is required here: the Response's, verified on the
/// original document before decryption, may be the one that covers the Assertion.
///
/// `policy` is the algorithm allowlist of the IdP that is decrypting (known by now).
pub fn check_decrypted(
    xml_text: &str,
    policy: AlgorithmPolicy,
) -> Result<Preflight<'_>, SamlError> {
    let p = check_document(xml_text, Part::Decrypted, policy)?;
    let root = p.unverified_doc.root_element();
    let wrapper_only = p.unverified_doc.root().children().count() == 1
        && root.range() == (0..xml_text.len())
        && root.children().all(|c| {
            (c.is_element() && is(c, NS_SAML, "Assertion"))
                || (c.is_text() && c.text().unwrap_or_default().trim().is_empty())
        });
    if !wrapper_only || p.encrypted_assertion {
        return Err(SamlError::Malformed(
            "the decrypted content must be exactly one saml:Assertion".into(),
        ));
    }
    Ok(p)
}

fn check_document(
    xml_text: &str,
    part: Part,
    policy: AlgorithmPolicy,
) -> Result<Preflight<'_>, SamlError> {
    // The wrapper `decrypt` builds re-declares the namespaces in scope at the EncryptedAssertion
    // (already within the caps, checked on the Response), so a decrypted Assertion gets twice
    // the budget: its own declarations plus the wrapper's.
    let budget = match part {
        Part::Response => 1,
        Part::Decrypted => 2,
    };
    xml::check_namespace_budget(
        xml_text,
        budget * xml::MAX_NAMESPACE_DECLARATIONS,
        budget * xml::MAX_NAMESPACE_PREFIXES,
    )?;
    xml::check_attribute_budget(xml_text, xml::MAX_ATTRIBUTES_PER_ELEMENT)?;
    let doc = xml::parse(xml_text)?;
    xml::check_depth(&doc)?;
    let root = doc.root_element();
    let root_ok = match part {
        Part::Response => is(root, NS_SAMLP, "Response"),
        Part::Decrypted => root.tag_name().name() == DECRYPTED_WRAPPER,
    };
    if !root_ok {
        return Err(SamlError::Malformed(
            "the root element must be a SAML 2.0 protocol Response".into(),
        ));
    }

    let mut ids = HashSet::new();
    let mut assertions = Vec::new();
    let mut signatures = Vec::new();
    for node in doc.descendants().filter(Node::is_element) {
        // Each declaration is checked once, on the element that declares it: every in-scope
        // namespace is some ancestor's own declaration, and re-checking the inherited ones on
        // every element made this loop quadratic.
        if xml::own_namespaces(node)?.any(|ns| !namespace_uri_ok(ns.name(), ns.uri())) {
            return Err(SamlError::Malformed(
                "every namespace must be an absolute URI (such as urn:oasis:names:tc:SAML:2.0:assertion)"
                    .into(),
            ));
        }
        if let Some(id) = node.attribute("ID") {
            if !ids.insert(id) {
                return Err(SamlError::DuplicateId);
            }
        }
        let ns = node.tag_name().namespace();
        let local = node.tag_name().name();
        if local.starts_with("Encrypted") && (ns == Some(NS_SAML) || ns == Some(NS_SAMLP)) {
            let parent = node.parent_element();
            let allowed = ns == Some(NS_SAML)
                && match local {
                    "EncryptedAssertion" => true,
                    "EncryptedID" => parent.is_some_and(|p| is(p, NS_SAML, "Subject")),
                    "EncryptedAttribute" => {
                        parent.is_some_and(|p| is(p, NS_SAML, "AttributeStatement"))
                    }
                    _ => false,
                };
            if !allowed {
                return Err(SamlError::EncryptedUnsupported);
            }
        }
        if ns == Some(NS_SAML) {
            match local {
                "Assertion" | "EncryptedAssertion" => assertions.push(node),
                "AttributeValue" if xml::attribute_value_name_id(node).is_some() => {}
                "NameID" | "AttributeValue" | "Issuer" | "Audience"
                    if xml::has_non_text_child(node) =>
                {
                    return Err(SamlError::CommentInjection {
                        element: identity_element_name(local),
                    });
                }
                _ => {}
            }
        }
        if ns == Some(NS_DS) {
            match local {
                "Signature" => signatures.push(node),
                // XML Encryption's pointer to an EncryptedKey (only ever resolved locally).
                "RetrievalMethod" if is_encrypted_data_key_info(node.parent_element()) => {}
                "Object" | "Manifest" | "RetrievalMethod" | "HMACOutputLength" => {
                    return Err(SamlError::SignatureShape(format!(
                        "ds:{local} is not allowed in a SAML signature"
                    )))
                }
                _ => {}
            }
        }
    }

    if assertions.len() != 1 {
        return Err(SamlError::MultipleAssertions {
            count: assertions.len(),
        });
    }
    let assertion = assertions[0];
    if assertion.parent_element() != Some(root) {
        return Err(SamlError::Malformed(
            "the Assertion must be a direct child of the Response".into(),
        ));
    }
    let encrypted_assertion = assertion.tag_name().name() == "EncryptedAssertion";
    // An encrypted Assertion may carry its own signature inside the ciphertext.
    if signatures.is_empty() && part == Part::Response && !encrypted_assertion {
        return Err(SamlError::Unsigned);
    }
    let mut signed_parents = HashSet::new();
    for sig in &signatures {
        let parent = sig.parent_element();
        let parent = match parent {
            Some(p) if p == root && part == Part::Response => p,
            Some(p) if p == assertion && !encrypted_assertion => p,
            _ => {
                return Err(SamlError::SignatureMisplaced(
                    "a Signature must be a direct child of the Response or of the Assertion".into(),
                ))
            }
        };
        if !signed_parents.insert(parent.id()) {
            return Err(SamlError::SignatureMisplaced(format!(
                "the {} carries more than one Signature",
                parent.tag_name().name()
            )));
        }
        check_signature_shape(*sig, parent, policy)?;
    }

    if encrypted_assertion {
        // SAML profiles 4.1.4.2: the Response Issuer is required when the Assertion is encrypted.
        let issuer = xml::at_most_one(root, NS_SAML, "Issuer")?.ok_or_else(|| {
            SamlError::IssuerMismatch(
                "a Response with an EncryptedAssertion must have an Issuer".into(),
            )
        })?;
        let unverified_assertion_issuer = xml::strict_text(issuer, "Issuer")?.trim().to_owned();
        return Ok(Preflight {
            unverified_doc: doc,
            unverified_assertion_issuer,
            unverified_assertion_id: String::new(),
            encrypted_assertion,
        });
    }
    let issuer = xml::at_most_one(assertion, NS_SAML, "Issuer")?
        .ok_or_else(|| SamlError::IssuerMismatch("the Assertion has no Issuer".into()))?;
    let unverified_assertion_issuer = xml::strict_text(issuer, "Issuer")?.trim().to_owned();
    let unverified_assertion_id = assertion
        .attribute("ID")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| SamlError::Malformed("the Assertion has no ID".into()))?
        .to_owned();
    Ok(Preflight {
        unverified_doc: doc,
        unverified_assertion_issuer,
        unverified_assertion_id,
        encrypted_assertion,
    })
}

/// True for the `ds:KeyInfo` of an `xenc:EncryptedData`.
fn is_encrypted_data_key_info(node: Option<Node<'_, '_>>) -> bool {
    node.is_some_and(|k| {
        is(k, NS_DS, "KeyInfo")
            && k.parent_element()
                .is_some_and(|d| is(d, NS_XENC, "EncryptedData"))
    })
}

/// An absolute URI (RFC 3986 scheme, then only URI characters, no IP-literal brackets), or the
/// empty default-namespace undeclaration. C14N implementations fail on relative or unparsable
/// namespace URIs (libxml2 does), so a signature over them would verify here and nowhere else.
fn namespace_uri_ok(prefix: Option<&str>, uri: &str) -> bool {
    #[cfg(test)]
    cost_tests::count_namespace_check();
    if uri.is_empty() {
        return prefix.is_none();
    }
    let Some((scheme, rest)) = uri.split_once(':') else {
        return false;
    };
    let mut scheme_chars = scheme.bytes();
    scheme_chars.next().is_some_and(|b| b.is_ascii_alphabetic())
        && scheme_chars.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        && rest.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'.'
                        | b'_'
                        | b'~'
                        | b':'
                        | b'/'
                        | b'?'
                        | b'#'
                        | b'@'
                        | b'!'
                        | b'$'
                        | b'&'
                        | b'\''
                        | b'('
                        | b')'
                        | b'*'
                        | b'+'
                        | b','
                        | b';'
                        | b'='
                        | b'%'
                )
        })
}

fn identity_element_name(local: &str) -> &'static str {
    match local {
        "NameID" => "NameID",
        "AttributeValue" => "AttributeValue",
        "Issuer" => "Issuer",
        _ => "Audience",
    }
}

fn shape(msg: impl Into<String>) -> SamlError {
    SamlError::SignatureShape(msg.into())
}

fn names(nodes: &[Node<'_, '_>]) -> Vec<&'static str> {
    nodes
        .iter()
        .map(|n| {
            if n.tag_name().namespace() != Some(NS_DS) {
                "?"
            } else {
                match n.tag_name().name() {
                    "SignedInfo" => "SignedInfo",
                    "SignatureValue" => "SignatureValue",
                    "KeyInfo" => "KeyInfo",
                    "CanonicalizationMethod" => "CanonicalizationMethod",
                    "SignatureMethod" => "SignatureMethod",
                    "Reference" => "Reference",
                    "Transforms" => "Transforms",
                    "DigestMethod" => "DigestMethod",
                    "DigestValue" => "DigestValue",
                    _ => "?",
                }
            }
        })
        .collect()
}

/// Check one `ds:Signature` whose parent (Response or Assertion) is `parent`.
pub fn check_signature_shape(
    sig: Node<'_, '_>,
    parent: Node<'_, '_>,
    policy: AlgorithmPolicy,
) -> Result<(), SamlError> {
    let kids = xml::signature_children(sig)?;
    let kinds = names(&kids);
    if !(kinds == ["SignedInfo", "SignatureValue"]
        || kinds == ["SignedInfo", "SignatureValue", "KeyInfo"])
    {
        return Err(shape(
            "a Signature must hold exactly one SignedInfo, one SignatureValue and optionally KeyInfo, in that order",
        ));
    }
    let signed_info = kids[0];
    if xml::has_non_text_child(kids[1]) {
        return Err(shape("SignatureValue must be plain base64 text"));
    }

    let si = xml::signature_children(signed_info)?;
    let si_kinds = names(&si);
    if si_kinds != ["CanonicalizationMethod", "SignatureMethod", "Reference"] {
        return Err(shape(
            "SignedInfo must hold one CanonicalizationMethod, one SignatureMethod and exactly one Reference",
        ));
    }
    xml::allowed_algorithm(si[0], "CanonicalizationMethod", |a| {
        (a == ALG_EXC_C14N || a == ALG_C14N).then_some(())
    })?;
    if !xml::signature_children(si[0])?.is_empty() {
        return Err(shape("CanonicalizationMethod must be empty"));
    }
    xml::allowed_algorithm(si[1], "SignatureMethod", |a| {
        SignatureMethod::from_uri(a, policy)
    })?;
    if !xml::signature_children(si[1])?.is_empty() {
        return Err(shape("SignatureMethod must be empty (no HMACOutputLength)"));
    }
    check_reference(si[2], parent, policy)
}

fn check_reference(
    reference: Node<'_, '_>,
    parent: Node<'_, '_>,
    policy: AlgorithmPolicy,
) -> Result<(), SamlError> {
    let parent_id = parent.attribute("ID").unwrap_or_default();
    let uri = reference.attribute("URI").unwrap_or_default();
    if parent_id.is_empty() || uri.strip_prefix('#') != Some(parent_id) {
        return Err(shape(format!(
            "the Reference URI must be \"#\" followed by the ID of the signed {} (the Signature's parent)",
            parent.tag_name().name()
        )));
    }
    let kids = xml::signature_children(reference)?;
    let kinds = names(&kids);
    if kinds != ["Transforms", "DigestMethod", "DigestValue"] {
        return Err(shape(
            "a Reference must hold Transforms, DigestMethod and DigestValue, in that order",
        ));
    }
    let transforms = xml::signature_children(kids[0])?;
    const CHAIN: &str =
        "Transforms must be enveloped-signature followed by exclusive or inclusive C14N";
    if transforms.len() != 2 {
        return Err(shape(CHAIN));
    }
    let mut algs = Vec::with_capacity(transforms.len());
    for t in &transforms {
        if !is(*t, NS_DS, "Transform") {
            return Err(shape("Transforms may only contain ds:Transform"));
        }
        algs.push(xml::allowed_algorithm(*t, "Transform", |a| {
            [ALG_ENVELOPED, ALG_EXC_C14N, ALG_C14N]
                .into_iter()
                .find(|k| *k == a)
        })?);
    }
    // The chains an enveloped SAML signature needs (and IdPs emit): other orders or a lone
    // transform change which octets are digested (a lone enveloped-signature implies inclusive
    // C14N), so they are refused rather than interpreted.
    if algs[0] != ALG_ENVELOPED || algs[1] == ALG_ENVELOPED {
        return Err(shape(CHAIN));
    }
    if !xml::signature_children(transforms[0])?.is_empty() {
        return Err(shape("the enveloped-signature Transform must be empty"));
    }
    let c14n_children = xml::signature_children(transforms[1])?;
    if algs[1] == ALG_C14N && !c14n_children.is_empty() {
        return Err(shape("the inclusive C14N Transform must be empty"));
    }
    if c14n_children.len() > 1 {
        return Err(shape(
            "exclusive C14N takes at most one InclusiveNamespaces",
        ));
    }
    for c in c14n_children {
        if !is(c, NS_EXC_C14N, "InclusiveNamespaces") {
            return Err(shape(
                "a Transform may only contain ec:InclusiveNamespaces (exclusive C14N)",
            ));
        }
        if !xml::signature_children(c)?.is_empty() {
            return Err(shape("InclusiveNamespaces must be empty"));
        }
        // Exclusive C14N looks up every listed prefix on every element it renders; a list longer
        // than the prefixes a document may declare names nothing more, only costs more.
        let listed = c.attribute("PrefixList").unwrap_or_default();
        if listed.split_ascii_whitespace().count() > xml::MAX_NAMESPACE_PREFIXES {
            return Err(shape(format!(
                "an InclusiveNamespaces PrefixList may name at most {} prefixes",
                xml::MAX_NAMESPACE_PREFIXES
            )));
        }
    }
    xml::allowed_algorithm(kids[1], "DigestMethod", |a| {
        DigestMethod::from_uri(a, policy)
    })?;
    if !xml::signature_children(kids[1])?.is_empty() || xml::has_non_text_child(kids[2]) {
        return Err(shape(
            "DigestMethod must be empty and DigestValue plain base64 text",
        ));
    }
    Ok(())
}

#[cfg(test)]
#[path = "preflight_cost_tests.rs"]
mod cost_tests;
#[cfg(test)]
#[path = "preflight_tests.rs"]
mod tests;
