//! Pipeline stage for encrypted SAML content, around signature verification: an
//! `EncryptedAssertion` is decrypted between preflight and verification, `EncryptedID` and
//! `EncryptedAttribute` inside the verified Assertion after it (`xmlenc` does the cryptography).
//!
//! Encryption proves nothing about the sender (anyone can encrypt to the broker's certificate), so
//! the decrypted Assertion goes through the same checks as a plaintext one: preflight
//! (`preflight::check_decrypted`), then the signature (`dsig`), where the Response's signature,
//! verified on the original document *before* decrypting, covers the ciphertext, or the
//! Assertion's own signature inside the plaintext covers the Assertion; one is required.
//!
//! Invariants:
//! - The plaintext is parsed in the namespace context of the EncryptedAssertion (XML Encryption
//!   parses it in the context of the EncryptedData's parent): a wrapper element declares exactly
//!   the namespaces in scope there and nothing else, and must hold the one Assertion alone.
//! - AES-CBC is decrypted only when a verified Response signature covers it or the IdP has
//!   `allow_cbc`; in the second case the ciphertext is malleable, so every failure until the
//!   Assertion's own signature has verified is the uniform `saml_decryption_failed` (no padding,
//!   parsing or verification oracle by error code). The reason is logged at debug level only.
//! - EncryptedID and EncryptedAttribute plaintexts become a NameID or Attribute that this module
//!   writes out itself (known attributes, escaped text), self-contained, in place of the
//!   encrypted element; their ciphertext is covered by the verified signature.

use super::decryption_key::DecryptionKey;
use super::dsig::{self, Verified};
use super::preflight::{self, Preflight, DECRYPTED_WRAPPER};
use super::xml::{self, attr, is, NS_SAML};
use super::xmlenc::{self, DecryptError};
use super::{SamlError, TrustedIdp};
use roxmltree::{Document, Node};
use std::collections::HashSet;
use std::fmt::Write as _;

/// A decrypted Assertion, not yet verified.
#[derive(Debug)]
pub struct DecryptedAssertion<'k> {
    /// The plaintext inside its wrapper (see `preflight::check_decrypted`).
    pub xml: String,
    /// What verified the Response signature before decryption, if it was signed.
    pub response_signature: Option<dsig::OneSignature<'k>>,
    /// AES-CBC without a verified Response signature: the ciphertext may have been altered.
    malleable: bool,
}

/// The one uniform refusal; `reason` goes to the debug log only.
fn uniform(idp: &TrustedIdp, reason: &str) -> SamlError {
    tracing::debug!(idp = %idp.name, reason, "SAML decryption failed");
    SamlError::DecryptionFailed
}

fn refusal(idp: &TrustedIdp, e: DecryptError) -> SamlError {
    match e {
        DecryptError::CbcNotAllowed => SamlError::EncryptionCbcNotAllowed,
        DecryptError::Failure(reason) => uniform(idp, reason),
    }
}

fn keys(idp: &TrustedIdp) -> Result<&[DecryptionKey], SamlError> {
    match idp.decryption.keys.as_slice() {
        [] => Err(SamlError::EncryptedUnsupported),
        keys => Ok(keys),
    }
}

/// Verify the Response signature, if any, then decrypt the Response's EncryptedAssertion.
pub fn decrypt_assertion<'k>(
    doc: &Document<'_>,
    idp: &'k TrustedIdp,
) -> Result<DecryptedAssertion<'k>, SamlError> {
    let encrypted = xml::children(doc.root_element(), NS_SAML, "EncryptedAssertion")
        .next()
        .ok_or(SamlError::MultipleAssertions { count: 0 })?;
    let keys = keys(idp)?;
    let response_signature = dsig::verify_response(doc, idp)?;
    let cbc_allowed = response_signature.is_some() || idp.decryption.allow_cbc;
    let plain = xmlenc::decrypt(encrypted, keys, cbc_allowed).map_err(|e| refusal(idp, e))?;
    let xml = wrap(encrypted, &plain.text).map_err(|why| uniform(idp, why))?;
    Ok(DecryptedAssertion {
        xml,
        response_signature,
        malleable: plain.algorithm.is_cbc() && response_signature.is_none(),
    })
}

impl DecryptedAssertion<'_> {
    fn shield(&self, idp: &TrustedIdp, e: SamlError) -> SamlError {
        if self.malleable {
            uniform(
                idp,
                "unauthenticated CBC plaintext refused before its signature verified",
            )
        } else {
            e
        }
    }

    /// Preflight the decrypted Assertion; its IDs must also differ from the original document's.
    pub fn preflight(
        &self,
        original: &Document<'_>,
        idp: &TrustedIdp,
    ) -> Result<Preflight<'_>, SamlError> {
        let p =
            preflight::check_decrypted(&self.xml, idp.algorithm_policy).map_err(|e| match e {
                SamlError::Malformed(_) | SamlError::DtdForbidden => {
                    uniform(idp, "the plaintext is not one well-formed Assertion")
                }
                other => self.shield(idp, other),
            })?;
        let outer: HashSet<&str> = original
            .descendants()
            .filter_map(|n| n.attribute("ID"))
            .collect();
        if p.unverified_doc
            .descendants()
            .filter_map(|n| n.attribute("ID"))
            .any(|id| outer.contains(id))
        {
            return Err(self.shield(idp, SamlError::DuplicateId));
        }
        Ok(p)
    }

    /// Verify the decrypted Assertion (its own signature, or the Response's verified before).
    pub fn verify<'a, 'x>(
        &self,
        decrypted: &'a Document<'x>,
        idp: &TrustedIdp,
    ) -> Result<Verified<'a, 'x>, SamlError> {
        dsig::verify_decrypted(decrypted, idp, self.response_signature)
            .map_err(|e| self.shield(idp, e))
    }
}

/// The plaintext inside a [`DECRYPTED_WRAPPER`] element that declares exactly the namespaces in
/// scope at `context` (a leading UTF-8 XML declaration is dropped).
fn wrap(context: Node<'_, '_>, plaintext: &str) -> Result<String, &'static str> {
    let body = match plaintext.trim_start().strip_prefix("<?xml") {
        Some(rest) => {
            let (decl, rest) = rest
                .split_once("?>")
                .ok_or("unterminated XML declaration")?;
            let decl = decl.to_ascii_lowercase();
            if decl.contains("encoding") && !decl.contains("utf-8") {
                return Err("the plaintext declares an encoding other than UTF-8");
            }
            rest
        }
        None => plaintext,
    };
    let mut s = String::with_capacity(body.len() + 512);
    s.push('<');
    s.push_str(DECRYPTED_WRAPPER);
    for ns in context.namespaces() {
        let uri = escape(ns.uri());
        match ns.name() {
            Some("xml") => {}
            Some(prefix) => {
                let _ = write!(s, " xmlns:{prefix}=\"{uri}\"");
            }
            None => {
                let _ = write!(s, " xmlns=\"{uri}\"");
            }
        }
    }
    s.push('>');
    s.push_str(body);
    let _ = write!(s, "</{DECRYPTED_WRAPPER}>");
    Ok(s)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The Assertion child of `doc`'s root (the Response, or the decryption wrapper).
pub fn assertion_of<'a, 'x>(doc: &'a Document<'x>) -> Result<Node<'a, 'x>, SamlError> {
    xml::children(doc.root_element(), NS_SAML, "Assertion")
        .next()
        .ok_or(SamlError::AssertionUnsigned)
}

/// After verification: `doc`'s text with every EncryptedID in the verified `assertion`'s Subject
/// replaced by its NameID and every EncryptedAttribute by its Attribute, or `None` when there
/// are none. Their ciphertext is covered by the verified signature, so CBC is accepted here.
pub fn decrypt_identifiers(
    doc: &Document<'_>,
    assertion: Node<'_, '_>,
    idp: &TrustedIdp,
) -> Result<Option<String>, SamlError> {
    let mut replacements: Vec<(std::ops::Range<usize>, String)> = Vec::new();
    for node in assertion.descendants().filter(Node::is_element) {
        let kind = match node.tag_name().name() {
            "EncryptedID" if is(node, NS_SAML, "EncryptedID") => Kind::NameId,
            "EncryptedAttribute" if is(node, NS_SAML, "EncryptedAttribute") => Kind::Attribute,
            _ => continue,
        };
        let plain = xmlenc::decrypt(node, keys(idp)?, true).map_err(|e| refusal(idp, e))?;
        let wrapped = wrap(node, &plain.text).map_err(|why| uniform(idp, why))?;
        let inner = xml::parse(&wrapped)
            .map_err(|_| uniform(idp, "the decrypted identifier is not well-formed XML"))?;
        let root = inner.root_element();
        let mut kids = root
            .children()
            .filter(|c| !(c.is_text() && c.text().unwrap_or_default().trim().is_empty()));
        let (Some(one), None) = (kids.next(), kids.next()) else {
            return Err(uniform(idp, "the decrypted identifier is not one element"));
        };
        let text = match kind {
            Kind::NameId if is(one, NS_SAML, "NameID") => name_id(one)?,
            Kind::Attribute if is(one, NS_SAML, "Attribute") => attribute(one)?,
            _ => {
                return Err(uniform(
                    idp,
                    "the decrypted identifier has the wrong element",
                ))
            }
        };
        replacements.push((node.range(), text));
    }
    if replacements.is_empty() {
        return Ok(None);
    }
    let src = doc.input_text();
    let mut out = String::with_capacity(src.len());
    let mut at = 0;
    for (range, text) in replacements {
        if range.start < at {
            // Nested encrypted elements (an EncryptedID inside an EncryptedAttribute's value).
            return Err(SamlError::EncryptedUnsupported);
        }
        out.push_str(&src[at..range.start]);
        out.push_str(&text);
        at = range.end;
    }
    out.push_str(&src[at..]);
    Ok(Some(out))
}

enum Kind {
    NameId,
    Attribute,
}

/// Write known attributes of `el` (escaped) into `s`.
fn attrs(s: &mut String, el: Node<'_, '_>, names: &[&str]) {
    for name in names {
        if let Some(v) = attr(el, name) {
            let _ = write!(s, " {name}=\"{}\"", escape(v));
        }
    }
}

/// A self-contained `saml:NameID` with the decrypted one's value and qualifiers.
fn name_id(el: Node<'_, '_>) -> Result<String, SamlError> {
    let value = xml::strict_text(el, "NameID")?;
    let mut s = format!("<saml:NameID xmlns:saml=\"{NS_SAML}\"");
    attrs(
        &mut s,
        el,
        &["Format", "NameQualifier", "SPNameQualifier", "SPProvidedID"],
    );
    let _ = write!(s, ">{}</saml:NameID>", escape(&value));
    Ok(s)
}

/// A self-contained `saml:Attribute` with the decrypted one's name and plain-text values.
fn attribute(el: Node<'_, '_>) -> Result<String, SamlError> {
    let mut s = format!("<saml:Attribute xmlns:saml=\"{NS_SAML}\"");
    attrs(&mut s, el, &["Name", "NameFormat", "FriendlyName"]);
    s.push('>');
    for v in xml::children(el, NS_SAML, "AttributeValue") {
        let value = xml::strict_text(v, "AttributeValue")?;
        let _ = write!(
            s,
            "<saml:AttributeValue>{}</saml:AttributeValue>",
            escape(&value)
        );
    }
    s.push_str("</saml:Attribute>");
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapper_declares_exactly_the_namespaces_in_scope_at_the_encrypted_element() {
        let doc = roxmltree::Document::parse(
            "<r xmlns=\"urn:default\" xmlns:a=\"urn:a\" xmlns:s=\"urn:outer\">\
             <s:EncryptedAssertion xmlns:s=\"urn:inner&amp;x\">\
             <xenc:EncryptedData xmlns:xenc=\"http://www.w3.org/2001/04/xmlenc#\"/>\
             </s:EncryptedAssertion></r>",
        )
        .unwrap();
        let ea = doc.root_element().first_element_child().unwrap();
        let wrapped = wrap(ea, "<s:A a:x=\"1\"><B/></s:A>").unwrap();
        let parsed = roxmltree::Document::parse(&wrapped).unwrap();
        let a = parsed.root_element().first_element_child().unwrap();
        assert_eq!(
            a.tag_name().namespace(),
            Some("urn:inner&x"),
            "innermost wins"
        );
        assert_eq!(a.attribute(("urn:a", "x")), Some("1"));
        let b = a.first_element_child().unwrap();
        assert_eq!(b.tag_name().namespace(), Some("urn:default"));
        // The EncryptedData's own declaration is not in scope for the plaintext.
        assert!(roxmltree::Document::parse(&wrap(ea, "<xenc:A/>").unwrap()).is_err());
        // A leading UTF-8 declaration is dropped; another encoding is refused.
        assert!(wrap(ea, "\n<?xml version=\"1.0\" encoding=\"UTF-8\"?><B/>").is_ok());
        assert!(wrap(ea, "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><B/>").is_err());
    }
}
