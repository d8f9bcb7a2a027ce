//! Native XML-DSig against documents signed by xmlsec (samael), an independent implementation of
//! exclusive C14N: every tricky construct below is canonicalized by libxml2 when signing and by
//! `c14n` when verifying, so any disagreement fails verification. Each case is also verified by
//! xmlsec itself (`Crypto::verify_signed_xml`; every document here has one Signature), and
//! tampered copies must fail under both.

use super::*;
use crate::error::ApiError;
use crate::saml::test_support::*;
use crate::saml::{preflight, xmlsec_reference};

const EXC_TRANSFORM: &str =
    r#"<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>"#;

/// Response with an Assertion-only signature; `edit` rewrites the unsigned template first.
pub(super) fn assertion_signed_with(edit: impl Fn(String) -> String) -> String {
    let unsigned = response("", &assertion(&sig_template(ASSERTION_ID), "alice"));
    sign(&edit(unsigned), 0)
}

pub(super) fn native(xml: &str) -> Result<(String, String), &'static str> {
    let pre = preflight::check(xml).map_err(|e| e.code())?;
    let v = verify(&pre.unverified_doc, &idp()).map_err(|e| e.code())?;
    Ok((
        v.assertion.attribute("ID").unwrap_or_default().to_owned(),
        v.facts.key_fingerprint,
    ))
}

pub(super) fn reference_accepts(xml: &str) -> bool {
    use samael::crypto::{CertificateDer, Crypto, CryptoProvider};
    let cert = CertificateDer::from(key(0).1.clone());
    Crypto::verify_signed_xml(xml, &cert, Some("ID")).is_ok()
}

/// Signed: both verifiers accept. Then every `(from, to)` tamper: both reject.
fn agree(signed: &str, tampers: &[(&str, &str)]) {
    assert!(reference_accepts(signed), "xmlsec rejects\n{signed}");
    let (id, fp) = native(signed).unwrap_or_else(|e| panic!("native rejects ({e})\n{signed}"));
    assert_eq!(id, ASSERTION_ID);
    assert_eq!(fp, xmlsec_reference::fingerprint(&idp().signing_certs[0]));
    for (from, to) in tampers {
        assert!(signed.contains(from), "tamper target {from:?} absent");
        let bad = signed.replacen(from, to, 1);
        assert!(!reference_accepts(&bad), "xmlsec accepts tamper {from:?}");
        assert_eq!(
            native(&bad),
            Err("saml_signature_invalid"),
            "native on tamper {from:?}"
        );
    }
}

#[test]
fn assertion_response_and_both_signed_verify() {
    let a = sign(
        &response("", &assertion(&sig_template(ASSERTION_ID), "alice")),
        0,
    );
    let r = sign(
        &response(&sig_template(RESPONSE_ID), &assertion("", "alice")),
        0,
    );
    for x in [a, r] {
        agree(&x, &[("alice", "mallory")]);
    }
}

#[test]
fn escaped_characters_in_text_and_attributes() {
    let x = assertion_signed_with(|t| {
        t.replacen(
            "<saml:Subject>",
            "<saml:Advice t=\"&quot;&#9;&#10;&#13;&lt;&amp;>'\">a &amp; b &lt; c &gt; d &#13; \"' é😀</saml:Advice><saml:Subject>",
            1,
        )
    });
    agree(&x, &[("&amp; b", "&amp; B"), ("&#13;&lt;", "&#10;&lt;")]);
}

#[test]
fn pretty_printing_and_crlf_line_endings_added_after_signing() {
    let x = assertion_signed_with(|t| {
        t.replace("><saml:", ">\n    <saml:")
            .replacen("Format=", "\n  Format=", 1)
    });
    agree(&x, &[("\n    <saml:Conditions", "\n     <saml:Conditions")]);
    // CRLF is normalized to LF by parsing, so converting after signing changes nothing signed.
    let crlf = x.replace('\n', "\r\n");
    assert!(reference_accepts(&crlf));
    assert!(native(&crlf).is_ok());
}

#[test]
fn cdata_sections_in_signed_text() {
    // samael's reduce (the previous verifier) refused these valid signatures; xmlsec accepts.
    let x = assertion_signed_with(|t| {
        t.replacen(
            "<saml:Subject>",
            "<saml:Advice>a<![CDATA[<b>&]]> c</saml:Advice><saml:Subject>",
            1,
        )
    });
    assert!(xmlsec_reference::verify_signatures(&x, &idp()).is_err());
    agree(&x, &[("<![CDATA[<b>&]]>", "<![CDATA[<b>&amp;]]>")]);
    // A CDATA section and the same text escaped canonicalize alike: still valid.
    let escaped = x.replacen("<![CDATA[<b>&]]>", "&lt;b&gt;&amp;", 1);
    assert!(native(&escaped).is_ok());
}

#[test]
fn namespaces_declared_on_the_response_only_and_unused_declarations() {
    let x = assertion_signed_with(|t| {
        t.replacen(
            "<saml:Assertion xmlns:saml=\"urn:oasis:names:tc:SAML:2.0:assertion\"",
            "<saml:Assertion xmlns:unused=\"urn:unused\"",
            1,
        )
    });
    assert!(!x.contains("<saml:Assertion xmlns:saml"));
    agree(&x, &[("alice", "alicf")]);
}

#[test]
fn default_namespace_undeclared_and_foreign_attributes() {
    let x = assertion_signed_with(|t| {
        t.replacen(
            "<saml:Subject>",
            r#"<saml:Advice><Extra xmlns="urn:extra" xmlns:z="urn:z" z:b="2" a="1"><Inner xmlns=""><z:Deep/></Inner><!--c--><?pi x?></Extra></saml:Advice><saml:Subject>"#,
            1,
        )
    });
    agree(
        &x,
        &[
            ("z:b=\"2\"", "z:b=\"3\""),
            ("<Inner xmlns=\"\">", "<Inner>"),
        ],
    );
}

#[test]
fn inclusive_namespaces_prefix_list_for_qnames_in_content() {
    let x = assertion_signed_with(|t| {
        t.replacen(
            EXC_TRANSFORM,
            r#"<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"><ec:InclusiveNamespaces xmlns:ec="http://www.w3.org/2001/10/xml-exc-c14n#" PrefixList="xs #default"/></ds:Transform>"#,
            1,
        )
        .replacen(
            "<samlp:Response ",
            r#"<samlp:Response xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" "#,
            1,
        )
        .replace(
            "<saml:AttributeValue>",
            r#"<saml:AttributeValue xsi:type="xs:string">"#,
        )
    });
    // Rebinding xs changes the canonical form only because xs is on the PrefixList.
    agree(
        &x,
        &[(
            "xmlns:xs=\"http://www.w3.org/2001/XMLSchema\"",
            "xmlns:xs=\"urn:other\"",
        )],
    );
}

#[test]
fn wrong_key_is_rejected_by_both() {
    let x = sign(
        &response("", &assertion(&sig_template(ASSERTION_ID), "alice")),
        1,
    );
    assert!(!reference_accepts(&x));
    assert_eq!(native(&x), Err("saml_signature_invalid"));
}

#[test]
fn signature_value_and_digest_value_tampering() {
    let x = sign(
        &response("", &assertion(&sig_template(ASSERTION_ID), "alice")),
        0,
    );
    let sv = x.split("<ds:SignatureValue>").nth(1).unwrap();
    let first = &sv[..4];
    let flipped = if first == "AAAA" { "BBBB" } else { "AAAA" };
    let bad_sig = x.replacen(
        &format!("<ds:SignatureValue>{first}"),
        &format!("<ds:SignatureValue>{flipped}"),
        1,
    );
    assert_eq!(native(&bad_sig), Err("saml_signature_invalid"));
    let dv = x.split("<ds:DigestValue>").nth(1).unwrap();
    let bad_digest = x.replacen(
        &dv[..4],
        if &dv[..4] == "AAAA" { "BBBB" } else { "AAAA" },
        1,
    );
    assert_eq!(native(&bad_digest), Err("saml_signature_invalid"));
}

#[test]
fn hmac_key_confusion_never_reaches_a_key() {
    let x = sign(
        &response("", &assertion(&sig_template(ASSERTION_ID), "alice")),
        0,
    )
    .replacen(
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256",
        1,
    );
    let doc = xml::parse(&x).unwrap();
    let err = verify(&doc, &idp()).unwrap_err();
    assert_eq!(err.code(), "saml_algorithm_forbidden");
}

#[test]
fn forged_response_signature_beside_a_valid_assertion_signature_is_refused() {
    // Every Signature present must verify: a valid Assertion signature does not excuse a forged
    // (here: tampered) Response signature, nor the other way round.
    let inner = sign(
        &response("", &assertion(&sig_template(ASSERTION_ID), "alice")),
        0,
    );
    let both = sign(
        &inner.replacen(
            "</saml:Issuer>",
            &format!("</saml:Issuer>{}", sig_template(RESPONSE_ID)),
            1,
        ),
        0,
    );
    assert!(native(&both).is_ok());
    for which in [0, 1] {
        let sv = both.split("<ds:SignatureValue>").nth(which + 1).unwrap();
        let first = &sv[..8];
        let bad = both.replacen(
            &format!("<ds:SignatureValue>{first}"),
            &format!(
                "<ds:SignatureValue>{}",
                if first == "AAAAAAAA" {
                    "BBBBBBBB"
                } else {
                    "AAAAAAAA"
                }
            ),
            1,
        );
        assert_eq!(
            native(&bad),
            Err("saml_signature_invalid"),
            "signature {which}"
        );
    }
}

#[test]
fn unsigned_response_is_refused() {
    let x = response("", &assertion("", "alice"));
    let doc = xml::parse(&x).unwrap();
    assert_eq!(verify(&doc, &idp()).unwrap_err().code(), "saml_unsigned");
}

#[test]
fn signature_wrapping_reference_to_another_element_is_refused() {
    // A valid Assertion signature moved under the Response: its Reference names the Assertion,
    // not its new parent, so the native verifier refuses it before any digest.
    let signed = sign(
        &response("", &assertion(&sig_template(ASSERTION_ID), "alice")),
        0,
    );
    let start = signed.find("<ds:Signature").unwrap();
    let end = signed.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    let sig = &signed[start..end];
    let moved =
        signed
            .replacen(sig, "", 1)
            .replacen("<samlp:Status>", &format!("{sig}<samlp:Status>"), 1);
    let doc = xml::parse(&moved).unwrap();
    assert_eq!(
        verify(&doc, &idp()).unwrap_err().code(),
        "saml_signature_shape"
    );
}

/// Deterministic pseudo-random generator (xorshift64*), so failures reproduce by seed.
pub(super) struct Rng(pub(super) u64);

impl Rng {
    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub(super) fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
    pub(super) fn chance(&mut self, one_in: u64) -> bool {
        self.next() % one_in == 0
    }
}

const PIECES: &[&str] = &[
    "a", "Z", " ", "&amp;", "&lt;", "&gt;", "\"", "'", "&#9;", "&#10;", "&#13;", "é", "😀", "\n",
];

fn random_text(rng: &mut Rng) -> String {
    (0..rng.next() % 6).map(|_| rng.pick(PIECES)).collect()
}

/// A random well-formed element tree using prefixes p, q and the default namespace, declared where
/// first needed or at random, rebound at random, with namespaced and plain attributes, escapes,
/// CDATA, comments and PIs.
pub(super) fn random_element(rng: &mut Rng, depth: u32, in_scope: &[&str], out: &mut String) {
    let prefix = rng.pick(&["", "p", "q", "saml"]);
    let mut scope: Vec<&str> = in_scope.to_vec();
    let mut decls = String::new();
    for p in ["", "p", "q"] {
        let needed = p == prefix && !scope.contains(&p);
        if needed || rng.chance(5) {
            let uri = rng.pick(&["urn:one", "urn:two", "urn:three"]);
            if p.is_empty() {
                decls.push_str(&format!(" xmlns=\"{uri}\""));
            } else {
                decls.push_str(&format!(" xmlns:{p}=\"{uri}\""));
            }
            scope.push(p);
        }
    }
    if prefix.is_empty() && rng.chance(6) && !decls.contains(" xmlns=") {
        decls.push_str(" xmlns=\"\"");
    }
    let name = if prefix.is_empty() {
        "E".to_owned()
    } else {
        format!("{prefix}:E")
    };
    let mut attrs = String::new();
    for (i, ap) in ["", "p", "q", "", "xml"].iter().enumerate() {
        let declared = ap.is_empty() || *ap == "xml" || scope.contains(ap);
        if declared && rng.chance(2) {
            let local = if *ap == "xml" {
                "lang".to_owned()
            } else {
                format!("a{i}")
            };
            let qn = if ap.is_empty() {
                local
            } else {
                format!("{ap}:{local}")
            };
            attrs.push_str(&format!(
                " {qn}=\"{}\"",
                random_text(rng).replace('"', "&quot;")
            ));
        }
    }
    out.push_str(&format!("<{name}{attrs}{decls}>"));
    for _ in 0..rng.next() % 5 {
        match rng.next() % 6 {
            0..=2 if depth < 5 => random_element(rng, depth + 1, &scope, out),
            2 => out.push_str(&format!(
                "<![CDATA[{}]]>",
                rng.pick(&["<x>", "&", "]", "a b"])
            )),
            3 => out.push_str(rng.pick(&["<!-- c -->", "<?pi data?>", "<?pi?>"])),
            _ => out.push_str(&random_text(rng).replace('\n', "&#10;")),
        }
    }
    out.push_str(&format!("</{name}>"));
}

#[test]
fn random_documents_signed_by_xmlsec_verify_natively() {
    // libxml2 canonicalizes when xmlsec signs, `c14n` when verifying: any disagreement on any of
    // these trees fails the signature.
    for seed in 1..=300u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut tree = String::new();
        random_element(&mut rng, 0, &["saml"], &mut tree);
        let x = assertion_signed_with(|t| {
            t.replacen(
                "<saml:Subject>",
                &format!("<saml:Advice>{tree}</saml:Advice><saml:Subject>"),
                1,
            )
        });
        assert!(reference_accepts(&x), "seed {seed}: xmlsec rejects\n{tree}");
        assert!(
            native(&x).is_ok(),
            "seed {seed}: native rejects ({:?})\n{tree}",
            native(&x)
        );
        let tampered = x.replacen("<saml:Advice>", "<saml:Advice> ", 1);
        assert_eq!(
            native(&tampered),
            Err("saml_signature_invalid"),
            "seed {seed}"
        );
    }
}

#[test]
fn signature_facts_name_method_digest_c14n_layout_and_key() {
    let fp = xmlsec_reference::fingerprint(&idp().signing_certs[0]);
    let inner = sign(
        &response("", &assertion(&sig_template(ASSERTION_ID), "alice")),
        0,
    );
    let response_only = sign(
        &response(&sig_template(RESPONSE_ID), &assertion("", "alice")),
        0,
    );
    let both = sign(
        &inner.replacen(
            "</saml:Issuer>",
            &format!(
                "</saml:Issuer>{}",
                sig_template(RESPONSE_ID).replacen("rsa-sha256", "rsa-sha512", 1)
            ),
            1,
        ),
        0,
    );
    for (xml, signed, method) in [
        (&inner, Signed::Assertion, "rsa-sha256"),
        (&response_only, Signed::Response, "rsa-sha256"),
        (&both, Signed::Both, "rsa-sha512+rsa-sha256"),
    ] {
        let doc = xml::parse(xml).unwrap();
        let facts = verify(&doc, &idp()).unwrap().facts;
        assert_eq!(
            facts,
            SignatureFacts {
                method: method.into(),
                digest: "sha256".into(),
                c14n: "exc-c14n".into(),
                signed,
                key_fingerprint: fp.clone(),
                legacy: false,
            }
        );
        assert_eq!(facts.signed.as_str(), signed.as_str());
    }
}
