//! Small, namespace-aware helpers over `roxmltree` shared by the SAML stages.
//!
//! Invariants: elements are always matched by (namespace URI, local name), never by prefix; identity
//! text is read with [`strict_text`], which concatenates every text node and refuses comments,
//! processing instructions and child elements (comment-injection truncation, docs/SECURITY.md S05), so a
//! prefix of a signed value is never taken.

use super::SamlError;
use roxmltree::{Document, Namespace, Node, ParsingOptions};
use std::collections::HashSet;

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

/// Most namespace declarations (`xmlns="…"` and `xmlns:p="…"`) in one SAML document, counted on
/// the text before it is parsed. Real Responses declare a handful; IdPs that repeat `xmlns:xs` and
/// `xmlns:xsi` on every AttributeValue need two per value, and a Response at the size cap holds at
/// most about 350 such values, so 1,024 never refuses a real one. The cap (with
/// [`MAX_NAMESPACE_PREFIXES`]) bounds the parser's own per-element namespace work, which grows with
/// the number of namespaces in scope: 2,200 declarations on the root of a 99 KB Response with
/// 7,500 child elements used to cost seconds of CPU per unauthenticated request.
pub const MAX_NAMESPACE_DECLARATIONS: usize = 1024;

/// Most distinct prefixes (the default namespace counting as one) declared in one SAML document.
/// Every element has at most this many namespaces in scope, which bounds each element's lookups in
/// the parser and in inclusive C14N. Real Responses use about ten (`samlp`, `saml`, `ds`, `xs`,
/// `xsi`, `ec`, `xenc`, the default).
pub const MAX_NAMESPACE_PREFIXES: usize = 64;

/// Refuse, before parsing, a text with more than `max_declarations` namespace declarations or more
/// than `max_prefixes` distinct declared prefixes. Every `xmlns` in the text counts, even in text
/// or comments (an over-count only makes the cap stricter; no real Response says `xmlns` outside a
/// declaration). Linear in the text.
pub fn check_namespace_budget(
    text: &str,
    max_declarations: usize,
    max_prefixes: usize,
) -> Result<(), SamlError> {
    let mut declarations = 0usize;
    let mut prefixes: HashSet<&str> = HashSet::new();
    for (at, _) in text.match_indices("xmlns") {
        declarations += 1;
        if declarations > max_declarations {
            return Err(SamlError::Malformed(format!(
                "the document declares more than {max_declarations} XML namespaces \
                 (declare each namespace once, on the root)"
            )));
        }
        let rest = &text[at + "xmlns".len()..];
        let prefix = match rest.strip_prefix(':') {
            Some(p) => {
                let end = p
                    .find(|c: char| c.is_ascii_whitespace() || "=\"'<>/".contains(c))
                    .unwrap_or(p.len());
                &p[..end]
            }
            None => "",
        };
        if prefixes.insert(prefix) && prefixes.len() > max_prefixes {
            return Err(SamlError::Malformed(format!(
                "the document declares more than {max_prefixes} distinct namespace prefixes"
            )));
        }
    }
    Ok(())
}

/// Most attributes (namespace declarations included) on one start tag of a SAML document, counted
/// on the text before it is parsed. The parser compares each attribute with every earlier one on
/// the same element (duplicate check), so one element with thousands of attributes costs the
/// square of that; real SAML elements carry fewer than ten, plus the root's declarations (at most
/// [`MAX_NAMESPACE_PREFIXES`]).
pub const MAX_ATTRIBUTES_PER_ELEMENT: usize = 128;

/// Refuse, before parsing, a text where one start tag has more than `max` attributes. A start
/// tag's attributes are its `=` signs outside quoted values; comments, CDATA sections, processing
/// instructions and end tags are skipped (a DTD was refused before this). Linear in the text; on
/// text that is not well-formed the count may be off, and the parser then refuses it anyway.
pub fn check_attribute_budget(text: &str, max: usize) -> Result<(), SamlError> {
    let b = text.as_bytes();
    let skip_past = |from: usize, end: &str| {
        text.get(from..)
            .and_then(|t| t.find(end))
            .map_or(b.len(), |n| from + n + end.len())
    };
    let mut i = 0;
    while let Some(n) = b.get(i..).and_then(|t| t.iter().position(|c| *c == b'<')) {
        i += n;
        let rest = &text[i..];
        if rest.starts_with("<!--") {
            i = skip_past(i + 4, "-->");
        } else if rest.starts_with("<![CDATA[") {
            i = skip_past(i + 9, "]]>");
        } else if rest.starts_with("<?") {
            i = skip_past(i + 2, "?>");
        } else if rest.starts_with("</") || rest.starts_with("<!") {
            i = skip_past(i + 2, ">");
        } else {
            let mut attributes = 0usize;
            let mut quote = None;
            i += 1;
            while let Some(&c) = b.get(i) {
                i += 1;
                match (quote, c) {
                    (Some(q), c) if c == q => quote = None,
                    (Some(_), _) => {}
                    (None, b'"' | b'\'') => quote = Some(c),
                    (None, b'=') => attributes += 1,
                    (None, b'>') => break,
                    (None, _) => {}
                }
            }
            if attributes > max {
                return Err(SamlError::Malformed(format!(
                    "an element carries more than {max} attributes"
                )));
            }
        }
    }
    Ok(())
}

/// The namespaces declared on `node`'s own start tag (not the inherited ones), as the parser
/// resolved them (entity references expanded), without the implicit `xml` prefix. roxmltree lists
/// an element's in-scope namespaces with its own declarations first, in source order, then the
/// inherited ones; the start tag is read to count them and each prefix is checked against that
/// order, so a disagreement is an error, never a guess. Linear in the start tag.
pub fn own_namespaces<'a, 'i>(
    node: Node<'a, 'i>,
) -> Result<impl Iterator<Item = &'a Namespace<'i>> + Clone, SamlError> {
    let unreadable =
        || SamlError::Malformed("a start tag's namespace declarations could not be read".into());
    let mut in_scope = node.namespaces();
    let mut count = 0usize;
    if node.is_element() {
        let src = node.document().input_text();
        let tag = src.get(node.range().start..).ok_or_else(unreadable)?;
        let b = tag.as_bytes();
        if b.first() != Some(&b'<') {
            return Err(unreadable());
        }
        let name_end = |from: usize| {
            b[from..]
                .iter()
                .position(|c| c.is_ascii_whitespace() || matches!(c, b'=' | b'/' | b'>'))
                .map_or(b.len(), |n| from + n)
        };
        let skip_ws = |mut i: usize| {
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            i
        };
        let mut i = name_end(1);
        loop {
            i = skip_ws(i);
            match b.get(i) {
                None => return Err(unreadable()),
                Some(b'/' | b'>') => break,
                Some(_) => {}
            }
            let end = name_end(i);
            let name = &tag[i..end];
            i = skip_ws(end);
            if b.get(i) != Some(&b'=') {
                return Err(unreadable());
            }
            i = skip_ws(i + 1);
            let quote = *b
                .get(i)
                .filter(|q| matches!(q, b'"' | b'\''))
                .ok_or_else(unreadable)?;
            let close = b[i + 1..]
                .iter()
                .position(|c| *c == quote)
                .ok_or_else(unreadable)?;
            i += close + 2;
            let prefix = match name.strip_prefix("xmlns") {
                Some("") => None,
                Some(p) => match p.strip_prefix(':') {
                    Some("xml") => continue,
                    Some(p) => Some(p),
                    None => continue,
                },
                None => continue,
            };
            match in_scope.next() {
                Some(ns) if ns.name() == prefix => count += 1,
                _ => return Err(unreadable()),
            }
        }
    }
    Ok(node.namespaces().take(count))
}

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

/// Refuse documents nested deeper than [`MAX_XML_DEPTH`]. Each element's ancestor walk stops one
/// past the cap, so a hostile document nested thousands deep costs at most `MAX_XML_DEPTH` steps
/// per element (a full count would be quadratic in the depth).
pub fn check_depth(doc: &Document<'_>) -> Result<(), SamlError> {
    for node in doc.descendants().filter(Node::is_element) {
        if node.ancestors().take(MAX_XML_DEPTH + 1).count() > MAX_XML_DEPTH {
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
    fn own_namespaces_are_the_start_tags_declarations_only() {
        let doc = parse(
            "<a xmlns='u:d' k='x>y' xmlns:p=\"u:&#x70;\"><b q=\"1\" xmlns:r = 'u:r'><c/></b>\
             <p:d xmlns:xml='http://www.w3.org/XML/1998/namespace' xmlns=''/></a>",
        )
        .unwrap();
        let own = |n: Node<'_, '_>| -> Vec<(Option<String>, String)> {
            own_namespaces(n)
                .unwrap()
                .map(|ns| (ns.name().map(str::to_owned), ns.uri().to_owned()))
                .collect()
        };
        let s = |v: &str| v.to_owned();
        let els: Vec<_> = doc.descendants().filter(Node::is_element).collect();
        assert_eq!(
            own(els[0]),
            vec![(None, s("u:d")), (Some(s("p")), s("u:p"))]
        );
        assert_eq!(own(els[1]), vec![(Some(s("r")), s("u:r"))]);
        assert_eq!(els[2].namespaces().count(), 3);
        assert!(own(els[2]).is_empty());
        assert_eq!(own(els[3]), vec![(None, s(""))]);
    }

    #[test]
    fn namespace_budget_counts_declarations_and_distinct_prefixes() {
        let x = "<a xmlns='u:a' xmlns:p='u:p'><b xmlns:p='u:q'/></a>";
        assert!(check_namespace_budget(x, 3, 2).is_ok());
        assert!(check_namespace_budget(x, 2, 2).is_err());
        assert!(check_namespace_budget(x, 3, 1).is_err());
    }

    #[test]
    fn attribute_budget_counts_each_start_tag_outside_quotes_comments_and_cdata() {
        let x = "<?xml version='1.0'?><!-- a=1 b=2 c=3 --><a x='1=2' y=\"a>b=c\">\
                 <![CDATA[ <b p=1 q=2 r=3> ]]><b p='1' q='2' xmlns:r='u:r'/>t=u</a>";
        assert!(check_attribute_budget(x, 3).is_ok());
        assert!(check_attribute_budget(x, 2).is_err());
        let wide = format!(
            "<a{}/>",
            (0..10).map(|i| format!(" a{i}='>'")).collect::<String>()
        );
        assert!(check_attribute_budget(&wide, 10).is_ok());
        assert!(check_attribute_budget(&wide, 9).is_err());
    }

    #[test]
    fn rejects_deep_nesting() {
        let x = format!("{}{}", "<a>".repeat(60), "</a>".repeat(60));
        let doc = parse(&x).unwrap();
        assert!(check_depth(&doc).is_err());
    }
}
