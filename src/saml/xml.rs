//! Small, namespace-aware helpers over `roxmltree` shared by the SAML stages.
//!
//! Invariants: elements are always matched by (namespace URI, local name), never by prefix; identity
//! text is read with [`strict_text`], which concatenates every text node and refuses comments,
//! processing instructions and child elements (comment-injection truncation, checklist S05), so a
//! prefix of a signed value is never taken.

use super::SamlError;
use roxmltree::{Document, Node, ParsingOptions};

/// SAML 2.0 protocol namespace (`samlp:`).
pub const NS_SAMLP: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
/// SAML 2.0 assertion namespace (`saml:`).
pub const NS_SAML: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
/// XML-DSig namespace (`ds:`).
pub const NS_DS: &str = "http://www.w3.org/2000/09/xmldsig#";
/// Exclusive C14N namespace (InclusiveNamespaces).
pub const NS_EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
/// SAML metadata namespace (`md:`).
pub const NS_MD: &str = "urn:oasis:names:tc:SAML:2.0:metadata";

/// Most XML nodes we parse in one document. A 100,000-character base64 Response decodes to at most
/// 75,000 bytes, so real documents stay far below; the cap bounds memory on hostile input (S23).
pub const MAX_XML_NODES: u32 = 100_000;

/// Deepest element nesting accepted. Real SAML Responses nest fewer than 12 levels; the cap bounds
/// recursion in later stages and in libxml2 on hostile input (S23).
pub const MAX_XML_DEPTH: usize = 48;

/// Parse with roxmltree's strict defaults (no DTD) plus a node cap.
pub fn parse(text: &str) -> Result<Document<'_>, SamlError> {
    let opts = ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_XML_NODES,
    };
    Document::parse_with_options(text, opts).map_err(|e| match e {
        roxmltree::Error::DtdDetected => SamlError::DtdForbidden,
        other => SamlError::Malformed(format!("not well-formed XML ({other})")),
    })
}

/// Refuse documents nested deeper than [`MAX_XML_DEPTH`].
pub fn check_depth(doc: &Document<'_>) -> Result<(), SamlError> {
    for node in doc.descendants().filter(Node::is_element) {
        if node.ancestors().count() > MAX_XML_DEPTH {
            return Err(SamlError::Malformed(format!(
                "elements are nested deeper than {MAX_XML_DEPTH} levels"
            )));
        }
    }
    Ok(())
}

/// True if `node` is the element `{ns}local`.
pub fn is(node: Node<'_, '_>, ns: &str, local: &str) -> bool {
    node.is_element() && node.tag_name().name() == local && node.tag_name().namespace() == Some(ns)
}

/// Element children named `{ns}local`.
pub fn children<'a, 'i>(
    node: Node<'a, 'i>,
    ns: &'static str,
    local: &'static str,
) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children().filter(move |c| is(*c, ns, local))
}

/// The single child `{ns}local`: `Ok(None)` if absent, an error naming it if repeated.
pub fn at_most_one<'a, 'i>(
    node: Node<'a, 'i>,
    ns: &'static str,
    local: &'static str,
) -> Result<Option<Node<'a, 'i>>, SamlError> {
    let mut it = children(node, ns, local);
    let first = it.next();
    if it.next().is_some() {
        return Err(SamlError::ProfileViolation(format!(
            "{local} appears more than once in {}",
            node.tag_name().name()
        )));
    }
    Ok(first)
}

/// The text of an identity element: all text nodes concatenated. Refuses comments, processing
/// instructions and child elements, which is how comment-injection truncation is defeated.
pub fn strict_text(node: Node<'_, '_>, element: &'static str) -> Result<String, SamlError> {
    let mut out = String::new();
    for child in node.children() {
        if child.is_text() {
            out.push_str(child.text().unwrap_or_default());
        } else {
            return Err(SamlError::CommentInjection { element });
        }
    }
    Ok(out)
}

/// Strict base64 (standard alphabet, padded) of a text value, XML whitespace (space, tab, CR,
/// LF) ignored as XML-DSig and XML Encryption allow; `None` when it is not valid base64.
pub fn decode_base64_text(text: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let compact: Vec<u8> = text
        .bytes()
        .filter(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()
}

/// True if the element has a comment, PI or element child (see [`strict_text`]).
pub fn has_non_text_child(node: Node<'_, '_>) -> bool {
    node.children().any(|c| !c.is_text())
}

/// The one `saml:NameID` an AttributeValue may hold instead of text (eduPersonTargetedID, as the
/// eduPerson SAML attribute profile prescribes): exactly that element and nothing else, not even
/// whitespace. `None` for any other content.
pub fn attribute_value_name_id<'a, 'i>(value: Node<'a, 'i>) -> Option<Node<'a, 'i>> {
    let mut children = value.children();
    let only = children.next()?;
    (children.next().is_none() && is(only, NS_SAML, "NameID")).then_some(only)
}

/// Element children of a signature element (`ds:*`); whitespace between them is allowed, any
/// other text, comment or processing instruction is a [`SamlError::SignatureShape`].
pub fn signature_children<'a, 'i>(node: Node<'a, 'i>) -> Result<Vec<Node<'a, 'i>>, SamlError> {
    let mut out = Vec::new();
    for c in node.children() {
        if c.is_element() {
            out.push(c);
        } else if !(c.is_text() && c.text().unwrap_or_default().trim().is_empty()) {
            return Err(SamlError::SignatureShape(format!(
                "unexpected text, comment or processing instruction in ds:{}",
                node.tag_name().name()
            )));
        }
    }
    Ok(out)
}

/// The `Algorithm` of a signature element, parsed by `allow` (an allowlist); anything it refuses is
/// [`SamlError::AlgorithmForbidden`] naming `what` and the algorithm.
pub fn allowed_algorithm<T>(
    node: Node<'_, '_>,
    what: &'static str,
    allow: impl FnOnce(&str) -> Option<T>,
) -> Result<T, SamlError> {
    let algorithm = node.attribute("Algorithm").unwrap_or_default();
    allow(algorithm).ok_or_else(|| SamlError::AlgorithmForbidden {
        what,
        algorithm: algorithm.to_owned(),
    })
}

/// Attribute without namespace.
pub fn attr<'a>(node: Node<'a, '_>, name: &str) -> Option<&'a str> {
    node.attribute(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_text_concatenates_plain_text() {
        let doc = parse("<a>admin@<![CDATA[example]]>.com</a>").unwrap();
        let a = doc.root_element();
        assert_eq!(strict_text(a, "NameID").unwrap(), "admin@example.com");
    }

    #[test]
    fn rejects_comment_injection_truncation() {
        let doc = parse("<a>admin@example.com<!---->.evil.com</a>").unwrap();
        let err = strict_text(doc.root_element(), "NameID").unwrap_err();
        assert_eq!(crate::error::ApiError::code(&err), "saml_comment_injection");
    }

    #[test]
    fn rejects_processing_instruction_and_child_element_in_identity_text() {
        for x in ["<a>adm<?pi x?>in</a>", "<a>adm<b/>in</a>"] {
            let doc = parse(x).unwrap();
            assert!(strict_text(doc.root_element(), "NameID").is_err(), "{x}");
        }
    }

    #[test]
    fn rejects_doctype_xxe() {
        let x = r#"<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>"#;
        assert!(matches!(parse(x), Err(SamlError::DtdForbidden)));
    }

    #[test]
    fn rejects_deep_nesting() {
        let x = format!("{}{}", "<a>".repeat(60), "</a>".repeat(60));
        let doc = parse(&x).unwrap();
        assert!(check_depth(&doc).is_err());
    }
}
