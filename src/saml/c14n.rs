//! Exclusive XML Canonicalization 1.0 (W3C REC xml-exc-c14n-20020718) and inclusive Canonical XML
//! 1.0 (W3C REC xml-c14n-20010315), both without comments, of one element subtree of an already
//! parsed `roxmltree` document, optionally leaving out one descendant subtree (the enveloped
//! `ds:Signature`).
//!
//! Why our own: the native verifier (`dsig`) canonicalizes the very tree that preflight parsed and
//! that the profile stage reads, so verification and extraction share one parse (docs/SECURITY.md S11) and
//! no second XML parser sees the untrusted input. The crates that exist either re-parse with
//! libxml2 in recover mode (`xml_c14n`) or bring their own parsers and a large algorithm surface
//! (`xml-sec`). The input here is narrow: preflight has already refused DTDs, entities beyond the
//! predefined ones, deep nesting and odd signature shapes.
//!
//! Invariants:
//! - Element and attribute qualified names are taken from the source text and checked against the
//!   parsed (namespace, local name); any disagreement is an error, never a guess.
//! - Escaping follows the spec exactly (text: `& < > CR`; attribute values: `& < " TAB LF CR`), so
//!   distinct trees never canonicalize to the same bytes.
//! - Exclusive: a namespace declaration is emitted on an element when its prefix is visibly utilized
//!   there (or listed in the InclusiveNamespaces PrefixList) and the nearest output ancestor did not
//!   already emit the same prefix with the same URI; `xmlns=""` only to undo an emitted default
//!   namespace.
//! - Inclusive: every in-scope namespace (declared on the element or inherited from any ancestor,
//!   used or not) is a candidate, with the same "not already emitted by an output ancestor" rule; so
//!   the apex renders all namespaces in scope, its descendants only new or rebound ones (so below
//!   the apex only an element's own declarations are looked at: linear, not scope × elements). The apex
//!   also renders the `xml:*` attributes (`xml:lang`, `xml:space`, `xml:base`, ...) it inherits from
//!   its ancestors, the nearest one winning, unless it carries the same attribute itself (C14N 1.0
//!   §2.4, as libxml2 does). Ancestors' declarations and `xml:*` attributes thus enter the digest.

use super::xml;
use roxmltree::{Node, NodeId};

/// The `xml` prefix's namespace: never declared in canonical output.
const NS_XML: &str = "http://www.w3.org/XML/1998/namespace";

/// Why a subtree could not be canonicalized (a malformed or inconsistent tree; fail closed).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot canonicalize: {0}")]
pub struct C14nError(pub &'static str);

/// Deepest subtree canonicalized (preflight already caps documents at `xml::MAX_XML_DEPTH`).
const MAX_DEPTH: usize = 64;

/// Exclusive C14N: canonicalize `apex` and its descendants, leaving out the subtree rooted at
/// `omit` (if any), appending the octets to `out`. `inclusive_prefixes` is the InclusiveNamespaces
/// PrefixList with `#default` written as the empty string.
pub fn exclusive<'a, 'i: 'a>(
    apex: Node<'a, 'i>,
    omit: Option<NodeId>,
    inclusive_prefixes: &[&'a str],
    out: &mut Vec<u8>,
) -> Result<(), C14nError> {
    canonicalize(apex, omit, Mode::Exclusive(inclusive_prefixes), out)
}

/// Inclusive C14N 1.0: canonicalize `apex` (with every namespace in scope and the `xml:*`
/// attributes it inherits) and its descendants, leaving out the subtree rooted at `omit`.
pub fn inclusive<'a, 'i: 'a>(
    apex: Node<'a, 'i>,
    omit: Option<NodeId>,
    out: &mut Vec<u8>,
) -> Result<(), C14nError> {
    canonicalize(apex, omit, Mode::Inclusive, out)
}

/// Which algorithm: exclusive (with its PrefixList) or inclusive.
#[derive(Clone, Copy)]
enum Mode<'p, 'a> {
    Exclusive(&'p [&'a str]),
    Inclusive,
}

fn canonicalize<'a, 'i: 'a>(
    apex: Node<'a, 'i>,
    omit: Option<NodeId>,
    mode: Mode<'_, 'a>,
    out: &mut Vec<u8>,
) -> Result<(), C14nError> {
    if !apex.is_element() {
        return Err(C14nError("the apex is not an element"));
    }
    // Namespace declarations emitted by the open output ancestors, innermost last.
    let mut rendered: Vec<(&'a str, &'a str)> = Vec::new();
    let mut c = Canonicalizer {
        omit,
        mode,
        rendered: &mut rendered,
        out,
    };
    c.element(apex, 0)
}

struct Canonicalizer<'a, 'p, 'o> {
    omit: Option<NodeId>,
    mode: Mode<'p, 'a>,
    rendered: &'o mut Vec<(&'a str, &'a str)>,
    out: &'o mut Vec<u8>,
}

impl<'a> Canonicalizer<'a, '_, '_> {
    fn element<'i: 'a>(&mut self, node: Node<'a, 'i>, depth: usize) -> Result<(), C14nError> {
        if depth > MAX_DEPTH {
            return Err(C14nError("the subtree is nested too deeply"));
        }
        let frame = self.rendered.len();
        let qname = open_element(node, self.mode, depth == 0, self.rendered, self.out)?;
        for child in node.children() {
            if Some(child.id()) == self.omit {
                continue;
            }
            if child.is_element() {
                self.element(child, depth + 1)?;
            } else if child.is_text() {
                escape_text(child.text().unwrap_or_default(), self.out);
            } else if let Some(pi) = child.pi() {
                self.out.extend_from_slice(b"<?");
                self.out.extend_from_slice(pi.target.as_bytes());
                if let Some(value) = pi.value.filter(|v| !v.is_empty()) {
                    self.out.push(b' ');
                    self.out.extend_from_slice(value.as_bytes());
                }
                self.out.extend_from_slice(b"?>");
            }
            // Comments are left out (the "without comments" algorithm).
        }
        self.out.extend_from_slice(b"</");
        self.out.extend_from_slice(qname.as_bytes());
        self.out.push(b'>');
        self.rendered.truncate(frame);
        Ok(())
    }
}

/// The URI the nearest output ancestor declared for `prefix` ("" for none / no default).
fn in_effect<'a>(rendered: &[(&str, &'a str)], prefix: &str) -> &'a str {
    rendered
        .iter()
        .rev()
        .find(|(p, _)| *p == prefix)
        .map_or("", |(_, uri)| uri)
}

/// Write the start tag (namespace declarations, then attributes, each sorted); its qname.
fn open_element<'a, 'i: 'a>(
    node: Node<'a, 'i>,
    mode: Mode<'_, 'a>,
    is_apex: bool,
    rendered: &mut Vec<(&'a str, &'a str)>,
    out: &mut Vec<u8>,
) -> Result<&'i str, C14nError> {
    let inclusive_prefixes = match mode {
        Mode::Exclusive(prefixes) => prefixes,
        Mode::Inclusive => &[],
    };
    let qname = element_qname(node)?;
    let prefix = qname.split_once(':').map_or("", |(p, _)| p);

    let mut attrs: Vec<(&str, &str, &str, &str)> = Vec::new(); // (ns, local, qname, value)
                                                               // The `xml` prefix is bound by definition and never declared.
    let mut utilized: Vec<&str> = if prefix == "xml" {
        Vec::new()
    } else {
        vec![prefix]
    };
    for attr in node.attributes() {
        let qn = attribute_qname(node, &attr)?;
        if let Some((p, _)) = qn.split_once(':') {
            if p != "xml" && !utilized.contains(&p) {
                utilized.push(p);
            }
        }
        attrs.push((
            attr.namespace().unwrap_or(""),
            attr.name(),
            qn,
            attr.value(),
        ));
    }
    for p in inclusive_prefixes {
        if *p != "xml" && !utilized.contains(p) {
            utilized.push(p);
        }
    }
    if let Mode::Inclusive = mode {
        // Every namespace in scope, used or not; the default one too (its undeclaration,
        // `xmlns=""`, is rendered only where an output ancestor emitted a default). Below the
        // apex only the element's own declarations can differ from what its parent (always an
        // output element) rendered, which was its whole scope; so only they are candidates, and
        // an element costs its own declarations, not everything in scope.
        let own = xml::own_namespaces(node)
            .map_err(|_| C14nError("namespace declarations could not be read"))?;
        let candidates: Vec<&roxmltree::Namespace<'_>> = if is_apex {
            node.namespaces().collect()
        } else {
            own.collect()
        };
        for ns in candidates {
            let p = ns.name().unwrap_or("");
            if p != "xml" && !utilized.contains(&p) {
                utilized.push(p);
            }
        }
        if !utilized.contains(&"") {
            utilized.push("");
        }
        if is_apex {
            inherit_xml_attributes(node, &mut attrs)?;
        }
    }

    let mut decls: Vec<(&str, &str)> = Vec::new();
    for p in utilized {
        let uri = if p.is_empty() {
            node.default_namespace().unwrap_or("")
        } else {
            match node.lookup_namespace_uri(Some(p)) {
                Some("") => return Err(C14nError("a prefix is bound to an empty namespace")),
                Some(uri) => uri,
                // A listed inclusive prefix that is not in scope is simply not rendered.
                None if inclusive_prefixes.contains(&p) => continue,
                None => return Err(C14nError("a prefix is used without a declaration")),
            }
        };
        if in_effect(rendered, p) != uri {
            decls.push((p, uri));
        }
    }
    decls.sort_unstable_by(|a, b| a.0.cmp(b.0));
    attrs.sort_unstable_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));

    out.push(b'<');
    out.extend_from_slice(qname.as_bytes());
    for (p, uri) in &decls {
        if p.is_empty() {
            out.extend_from_slice(b" xmlns=\"");
        } else {
            out.extend_from_slice(b" xmlns:");
            out.extend_from_slice(p.as_bytes());
            out.extend_from_slice(b"=\"");
        }
        escape_attr(uri, out);
        out.push(b'"');
    }
    for (_, _, qn, value) in &attrs {
        out.push(b' ');
        out.extend_from_slice(qn.as_bytes());
        out.extend_from_slice(b"=\"");
        escape_attr(value, out);
        out.push(b'"');
    }
    out.push(b'>');
    rendered.extend(decls);
    Ok(qname)
}

/// C14N 1.0 §2.4: the apex of a document subset carries the `xml:*` attributes of its ancestors
/// (the nearest one for each name) unless it has the same attribute itself.
fn inherit_xml_attributes<'a, 'i: 'a>(
    apex: Node<'a, 'i>,
    attrs: &mut Vec<(&'a str, &'a str, &'i str, &'a str)>,
) -> Result<(), C14nError> {
    for ancestor in apex.ancestors().skip(1).filter(Node::is_element) {
        for attr in ancestor.attributes() {
            if attr.namespace() != Some(NS_XML)
                || attrs
                    .iter()
                    .any(|(ns, local, _, _)| *ns == NS_XML && *local == attr.name())
            {
                continue;
            }
            let qn = attribute_qname(ancestor, &attr)?;
            attrs.push((NS_XML, attr.name(), qn, attr.value()));
        }
    }
    Ok(())
}

/// The element's qualified name as written, checked against its parsed namespace and local name.
fn element_qname<'i>(node: Node<'_, 'i>) -> Result<&'i str, C14nError> {
    let src = node.document().input_text();
    let rest = src
        .get(node.range().start..)
        .and_then(|s| s.strip_prefix('<'))
        .ok_or(C14nError("element position does not point at a start tag"))?;
    let end = rest
        .find(|c: char| c.is_ascii_whitespace() || c == '/' || c == '>')
        .ok_or(C14nError("unterminated start tag"))?;
    let qname = &rest[..end];
    let (prefix, local) = match qname.split_once(':') {
        Some((p, l)) => (Some(p), l),
        None => (None, qname),
    };
    let tag = node.tag_name();
    let expected_ns = match prefix {
        Some(p) => node.lookup_namespace_uri(Some(p)),
        None => node.default_namespace().filter(|u| !u.is_empty()),
    };
    if local != tag.name() || expected_ns != tag.namespace().filter(|u| !u.is_empty()) {
        return Err(C14nError(
            "element name does not match its parsed namespace",
        ));
    }
    Ok(qname)
}

/// The attribute's qualified name as written, checked like [`element_qname`].
fn attribute_qname<'i>(
    node: Node<'_, 'i>,
    attr: &roxmltree::Attribute<'_, 'i>,
) -> Result<&'i str, C14nError> {
    let qname = node
        .document()
        .input_text()
        .get(attr.range_qname())
        .ok_or(C14nError("attribute position out of range"))?;
    let ok = match qname.split_once(':') {
        Some(("xml", local)) => local == attr.name() && attr.namespace() == Some(NS_XML),
        Some((p, local)) => {
            local == attr.name()
                && attr.namespace().is_some()
                && node.lookup_namespace_uri(Some(p)) == attr.namespace()
        }
        None => qname == attr.name() && attr.namespace().is_none(),
    };
    if !ok {
        return Err(C14nError(
            "attribute name does not match its parsed namespace",
        ));
    }
    Ok(qname)
}

fn escape_text(s: &str, out: &mut Vec<u8>) {
    escape(s, out, |b| match b {
        b'&' => Some(b"&amp;"),
        b'<' => Some(b"&lt;"),
        b'>' => Some(b"&gt;"),
        b'\r' => Some(b"&#xD;"),
        _ => None,
    });
}

fn escape_attr(s: &str, out: &mut Vec<u8>) {
    escape(s, out, |b| match b {
        b'&' => Some(b"&amp;"),
        b'<' => Some(b"&lt;"),
        b'"' => Some(b"&quot;"),
        b'\t' => Some(b"&#x9;"),
        b'\n' => Some(b"&#xA;"),
        b'\r' => Some(b"&#xD;"),
        _ => None,
    });
}

/// Copy `s`, replacing each byte `replace` maps (all ASCII, so UTF-8 sequences are never split).
fn escape(s: &str, out: &mut Vec<u8>, replace: impl Fn(u8) -> Option<&'static [u8]>) {
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if let Some(rep) = replace(b) {
            out.extend_from_slice(&bytes[start..i]);
            out.extend_from_slice(rep);
            start = i + 1;
        }
    }
    out.extend_from_slice(&bytes[start..]);
}

#[cfg(test)]
#[path = "c14n_tests.rs"]
mod tests;
