//! Attack mutators: string edits applied to an already signed Response, so the signature over the
//! original element stays valid (docs/SECURITY.md "How the hostile test cases are built").
//!
//! Element positions come from roxmltree byte ranges, so edits are exact: removing an element
//! removes exactly the bytes the enveloped-signature transform removes. XSW1-XSW8 follow SAML
//! Raider's `XSWHelpers` (evil copy = subject `alice`→`admin`, role `ReadOnly`→`Admin`).
#![allow(dead_code)]

use super::saml_idp::{strip_xml_declaration, NS_DS, NS_SAML, NS_SAMLP};
use std::ops::Range;

pub const EVIL_RESPONSE_ID: &str = "_evil_response_ID";
pub const EVIL_ASSERTION_ID: &str = "_evil_assertion_ID";
/// What the XSW evil copies claim.
pub const EVIL_SUBJECT: &str = "admin@example.com";
pub const EVIL_ROLE_NAME: &str = "role/Admin";

/// Byte range of the `nth` (document order) element `{ns}local` in `xml`.
pub fn element_range(xml: &str, ns: &str, local: &str, nth: usize) -> Range<usize> {
    let doc = roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("{e}: {xml}"));
    let node = doc
        .descendants()
        .filter(|n| {
            n.is_element() && n.tag_name().name() == local && n.tag_name().namespace() == Some(ns)
        })
        .nth(nth)
        .unwrap_or_else(|| panic!("no {local} #{nth} in {xml}"));
    node.range()
}

/// Position just before the closing tag of the element at `r`.
fn before_end_tag(xml: &str, r: &Range<usize>) -> usize {
    xml[r.clone()]
        .rfind("</")
        .map(|i| r.start + i)
        .expect("element has an end tag")
}

/// Position just after the start tag of the element at `r`.
fn after_start_tag(xml: &str, r: &Range<usize>) -> usize {
    r.start + xml[r.clone()].find('>').expect("start tag") + 1
}

pub fn splice(xml: &str, at: Range<usize>, with: &str) -> String {
    format!("{}{}{}", &xml[..at.start], with, &xml[at.end..])
}

pub fn insert(xml: &str, at: usize, what: &str) -> String {
    splice(xml, at..at, what)
}

/// Text of the nth `{ns}local` element.
pub fn element_text(xml: &str, ns: &str, local: &str, nth: usize) -> String {
    xml[element_range(xml, ns, local, nth)].to_string()
}

/// Remove the nth element `{ns}local`.
pub fn remove_element(xml: &str, ns: &str, local: &str, nth: usize) -> String {
    splice(xml, element_range(xml, ns, local, nth), "")
}

/// Set the `ID` attribute of the root element of `fragment`.
pub fn set_root_id(fragment: &str, id: &str) -> String {
    let start = fragment.find(" ID=\"").expect("root has ID") + 5;
    let end = start + fragment[start..].find('"').expect("closing quote");
    splice(fragment, start..end, id)
}

/// The attacker's edit of a copy: another subject and a more powerful role.
pub fn evilize(fragment: &str) -> String {
    fragment
        .replace("alice@example.com", EVIL_SUBJECT)
        .replace(">alice<", ">admin<")
        .replace("role/ReadOnly", EVIL_ROLE_NAME)
}

/// A copy of the nth element without its (first) ds:Signature.
fn unsigned_copy(xml: &str, ns: &str, local: &str, nth: usize) -> String {
    let fragment = element_text(xml, ns, local, nth);
    if fragment.contains("Signature") {
        remove_element(&fragment, NS_DS, "Signature", 0)
    } else {
        fragment
    }
}

/// Remove every ds:Signature.
pub fn strip_signatures(xml: &str) -> String {
    let mut xml = strip_xml_declaration(xml);
    while roxmltree::Document::parse(&xml)
        .map(|d| d.descendants().any(|n| n.tag_name().name() == "Signature"))
        .unwrap_or(false)
    {
        xml = remove_element(&xml, NS_DS, "Signature", 0);
    }
    xml
}

/// XSW1 (Response signed): evil Response (new ID) whose Signature now contains the original
/// Response, unsigned.
pub fn xsw1(xml: &str) -> String {
    let xml = strip_xml_declaration(xml);
    let original = unsigned_copy(&xml, NS_SAMLP, "Response", 0);
    let evil = evil_response(&xml);
    let sig = element_range(&evil, NS_DS, "Signature", 0);
    insert(&evil, before_end_tag(&evil, &sig), &original)
}

/// XSW2 (Response signed): like XSW1, the original Response placed just before the Signature.
pub fn xsw2(xml: &str) -> String {
    let xml = strip_xml_declaration(xml);
    let original = unsigned_copy(&xml, NS_SAMLP, "Response", 0);
    let evil = evil_response(&xml);
    let sig = element_range(&evil, NS_DS, "Signature", 0);
    insert(&evil, sig.start, &original)
}

/// The evil Response of XSW1/2: new Response ID and (to dodge duplicate-ID checks, which would
/// otherwise catch it for free) a new Assertion ID too.
fn evil_response(xml: &str) -> String {
    let evil = set_root_id(&evilize(xml), EVIL_RESPONSE_ID);
    let a = element_range(&evil, NS_SAML, "Assertion", 0);
    let assertion = set_root_id(&evil[a.clone()], EVIL_ASSERTION_ID);
    splice(&evil, a, &assertion)
}

/// The evil unsigned clone of the signed Assertion used by XSW3/4/7.
fn evil_assertion_clone(xml: &str, new_id: bool) -> String {
    let evil = evilize(&unsigned_copy(xml, NS_SAML, "Assertion", 0));
    if new_id {
        set_root_id(&evil, EVIL_ASSERTION_ID)
    } else {
        evil
    }
}

/// XSW3 (Assertion signed): evil unsigned Assertion inserted before the signed one.
pub fn xsw3(xml: &str) -> String {
    let xml = strip_xml_declaration(xml);
    let evil = evil_assertion_clone(&xml, true);
    let a = element_range(&xml, NS_SAML, "Assertion", 0);
    insert(&xml, a.start, &evil)
}

/// XSW4 (Assertion signed): evil unsigned Assertion wrapping the signed one.
pub fn xsw4(xml: &str) -> String {
    let xml = strip_xml_declaration(xml);
    let evil = evil_assertion_clone(&xml, true);
    let a = element_range(&xml, NS_SAML, "Assertion", 0);
    let original = xml[a.clone()].to_string();
    let end = before_end_tag(&evil, &(0..evil.len()));
    let wrapped = insert(&evil, end, &original);
    splice(&xml, a, &wrapped)
}

/// The signed Assertion edited in place (new ID unless `keep_id`), keeping its Signature.
fn evil_in_place(xml: &str, keep_id: bool) -> (String, String) {
    let original = unsigned_copy(xml, NS_SAML, "Assertion", 0);
    let a = element_range(xml, NS_SAML, "Assertion", 0);
    let mut evil = evilize(&xml[a.clone()]);
    if !keep_id {
        evil = set_root_id(&evil, EVIL_ASSERTION_ID);
    }
    (splice(xml, a, &evil), original)
}

/// XSW5 (Assertion signed): the signed Assertion altered in place (new ID); an unsigned copy of
/// the original appended at the end of the Response.
pub fn xsw5(xml: &str) -> String {
    let (xml, original) = evil_in_place(&strip_xml_declaration(xml), false);
    let end = before_end_tag(&xml, &(0..xml.len()));
    insert(&xml, end, &original)
}

/// XSW6 (Assertion signed): altered in place (new ID); the original copy inside its Signature.
pub fn xsw6(xml: &str) -> String {
    let (xml, original) = evil_in_place(&strip_xml_declaration(xml), false);
    let sig = element_range(&xml, NS_DS, "Signature", 0);
    insert(&xml, before_end_tag(&xml, &sig), &original)
}

/// XSW7 (Assertion signed): an `Extensions` element before the Assertion holding an evil unsigned
/// copy (same ID).
pub fn xsw7(xml: &str) -> String {
    let xml = strip_xml_declaration(xml);
    let evil = evil_assertion_clone(&xml, false);
    let a = element_range(&xml, NS_SAML, "Assertion", 0);
    insert(
        &xml,
        a.start,
        &format!("<samlp:Extensions>{evil}</samlp:Extensions>"),
    )
}

/// XSW8 (Assertion signed): altered in place (same ID); the original copy inside
/// `Signature/Object`.
pub fn xsw8(xml: &str) -> String {
    let (xml, original) = evil_in_place(&strip_xml_declaration(xml), true);
    let sig = element_range(&xml, NS_DS, "Signature", 0);
    insert(
        &xml,
        before_end_tag(&xml, &sig),
        &format!("<ds:Object>{original}</ds:Object>"),
    )
}

/// Insert `<!---->` into the first occurrence of `signed_text`, after `prefix` (docs/SECURITY.md S05).
pub fn inject_comment(xml: &str, signed_text: &str, prefix: &str) -> String {
    assert!(signed_text.starts_with(prefix));
    let at = xml.find(signed_text).expect("signed text present") + prefix.len();
    insert(xml, at, "<!---->")
}

/// Insert a DOCTYPE with an external entity to `url`, referenced inside NameID.
pub fn doctype_xxe(xml: &str, url: &str) -> String {
    let xml = strip_xml_declaration(xml);
    let doctype = format!("<!DOCTYPE samlp:Response [<!ENTITY xxe SYSTEM \"{url}\">]>");
    let name_id = element_range(&xml, NS_SAML, "NameID", 0);
    let xml = insert(&xml, after_start_tag(&xml, &name_id), "&xxe;");
    format!("<?xml version=\"1.0\"?>{doctype}{xml}")
}

/// Billion laughs (nested internal entities), referenced inside NameID.
pub fn billion_laughs(xml: &str) -> String {
    let xml = strip_xml_declaration(xml);
    let mut dtd = String::from("<!ENTITY lol0 \"lol\">");
    for i in 1..10 {
        let p = i - 1;
        dtd.push_str(&format!(
            "<!ENTITY lol{i} \"{}\">",
            format!("&lol{p};").repeat(10)
        ));
    }
    let name_id = element_range(&xml, NS_SAML, "NameID", 0);
    let xml = insert(&xml, after_start_tag(&xml, &name_id), "&lol9;");
    format!("<!DOCTYPE samlp:Response [{dtd}]>{xml}")
}

/// Point the (first) Reference somewhere else.
pub fn set_reference_uri(xml: &str, uri: &str) -> String {
    let xml = strip_xml_declaration(xml);
    let r = element_range(&xml, NS_DS, "Reference", 0);
    let start = r.start + xml[r.clone()].find("URI=\"").expect("URI") + 5;
    let end = start + xml[start..].find('"').expect("quote");
    splice(&xml, start..end, uri)
}

/// Duplicate the first `{ds}local` element right after itself (extra Reference / SignedInfo).
pub fn duplicate_ds_element(xml: &str, local: &str) -> String {
    let xml = strip_xml_declaration(xml);
    let r = element_range(&xml, NS_DS, local, 0);
    let copy = xml[r.clone()].to_string();
    insert(&xml, r.end, &copy)
}

/// Add `<samlp:Extensions><saml:Attribute ID="{id}"/></samlp:Extensions>` after the Response
/// Issuer: a second element carrying an existing ID (docs/SECURITY.md S10).
pub fn add_element_with_id(xml: &str, id: &str) -> String {
    let xml = strip_xml_declaration(xml);
    let issuer = element_range(&xml, NS_SAML, "Issuer", 0);
    let ext =
        format!("<samlp:Extensions><saml:Attribute ID=\"{id}\" Name=\"x\"/></samlp:Extensions>");
    insert(&xml, issuer.end, &ext)
}

/// Move the Assertion's Signature to be the first child of its Subject (digest still valid: the
/// enveloped transform removes it wherever it sits).
pub fn move_assertion_signature_into_subject(xml: &str) -> String {
    let xml = strip_xml_declaration(xml);
    let a = element_range(&xml, NS_SAML, "Assertion", 0);
    let doc = roxmltree::Document::parse(&xml).expect("parses");
    let sig = doc
        .descendants()
        .find(|n| n.tag_name().name() == "Signature" && n.range().start > a.start)
        .expect("assertion signature")
        .range();
    let sig_text = xml[sig.clone()].to_string();
    let xml = splice(&xml, sig, "");
    let subject = element_range(&xml, NS_SAML, "Subject", 0);
    insert(&xml, after_start_tag(&xml, &subject), &sig_text)
}

/// Replace the nth value of Attribute `name` text (pre-sign use).
pub fn replace_once(xml: &str, from: &str, to: &str) -> String {
    assert!(xml.contains(from), "{from} not in {xml}");
    xml.replacen(from, to, 1)
}

/// An EncryptedAssertion in place of the Assertion (pre-sign, Response stage).
pub fn encrypt_assertion_placeholder(response: &str) -> String {
    let a = element_range(response, NS_SAML, "Assertion", 0);
    let enc = "<saml:EncryptedAssertion><xenc:EncryptedData xmlns:xenc=\"http://www.w3.org/2001/04/xmlenc#\" \
               Type=\"http://www.w3.org/2001/04/xmlenc#Element\"><xenc:EncryptionMethod \
               Algorithm=\"http://www.w3.org/2009/xmlenc11#aes128-gcm\"/><xenc:CipherData>\
               <xenc:CipherValue>AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA</xenc:CipherValue></xenc:CipherData>\
               </xenc:EncryptedData></saml:EncryptedAssertion>";
    splice(response, a, enc)
}

/// A second, evil Assertion (new ID) right after the first (pre-sign, Response stage).
pub fn append_second_assertion(response: &str) -> String {
    let a = element_range(response, NS_SAML, "Assertion", 0);
    let evil = set_root_id(&evilize(&response[a.clone()]), EVIL_ASSERTION_ID);
    insert(response, a.end, &evil)
}

/// An evil Assertion inside `<saml:Advice>` of the Assertion (pre-sign, Assertion stage).
pub fn add_advice_assertion(assertion: &str) -> String {
    let evil = set_root_id(&evilize(assertion), EVIL_ASSERTION_ID);
    let c = element_range(assertion, NS_SAML, "Conditions", 0);
    insert(
        assertion,
        c.end,
        &format!("<saml:Advice>{evil}</saml:Advice>"),
    )
}

/// Text of the first NameID of the document.
pub fn name_id(xml: &str) -> String {
    let doc = roxmltree::Document::parse(xml).expect("parses");
    let n = doc
        .descendants()
        .find(|n| n.tag_name().name() == "NameID")
        .expect("NameID");
    n.descendants()
        .filter(|d| d.is_text())
        .filter_map(|d| d.text())
        .collect()
}

/// A loopback TCP listener that records whether anybody connected (XXE / external URI probes).
pub struct LoopbackProbe {
    listener: std::net::TcpListener,
}

impl LoopbackProbe {
    pub fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener.set_nonblocking(true).expect("nonblocking");
        LoopbackProbe { listener }
    }
    pub fn url(&self) -> String {
        format!("http://{}/probe", self.listener.local_addr().expect("addr"))
    }
    /// True when at least one connection is waiting (nobody should ever connect).
    pub fn was_contacted(&self) -> bool {
        std::thread::sleep(std::time::Duration::from_millis(50));
        self.listener.accept().is_ok()
    }
}
