//! Inclusive C14N 1.0 against libxml2: documents signed by xmlsec (samael) with inclusive C14N as
//! SignedInfo's CanonicalizationMethod and as the Transform after enveloped-signature verify
//! natively and under xmlsec, with namespaces and `xml:*` attributes inherited from the signed
//! element's ancestors (which then enter the digest: changing them must fail under both), and the
//! with-comments variants stay refused.

use super::tests::{assertion_signed_with, native, random_element, reference_accepts, Rng};
use super::*;
use crate::error::ApiError;
use crate::saml::preflight;
use crate::saml::preflight::ALG_C14N;
use crate::saml::test_support::*;

/// `sig_template` with inclusive C14N for SignedInfo and the Reference (`both`), or for the
/// Reference's Transform only.
fn inclusive_template(id: &str, both: bool) -> String {
    let t = sig_template(id);
    if both {
        t.replace(ALG_EXC_C14N, ALG_C14N)
    } else {
        // The second occurrence is the Transform.
        let at = t.rfind(ALG_EXC_C14N).unwrap();
        format!("{}{ALG_C14N}{}", &t[..at], &t[at + ALG_EXC_C14N.len()..])
    }
}

/// `sig_template` with inclusive C14N for SignedInfo only (what .NET's SignedXml does by default).
fn inclusive_signed_info_template(id: &str) -> String {
    sig_template(id).replacen(ALG_EXC_C14N, ALG_C14N, 1)
}

/// Assertion signed with inclusive C14N; `edit` rewrites the unsigned document first.
fn inclusive_signed_with(edit: impl Fn(String) -> String) -> String {
    assertion_signed_with(|t| {
        edit(t.replacen(
            &sig_template(ASSERTION_ID),
            &inclusive_template(ASSERTION_ID, true),
            1,
        ))
    })
}

/// Both verifiers accept `signed` (with inclusive C14N reported); each tamper fails under both.
fn agree_inclusive(signed: &str, tampers: &[(&str, &str)]) {
    assert!(reference_accepts(signed), "xmlsec rejects\n{signed}");
    native(signed).unwrap_or_else(|e| panic!("native rejects ({e})\n{signed}"));
    let pre = preflight::check(signed).unwrap();
    assert_eq!(
        verify(&pre.unverified_doc, &idp()).unwrap().facts.c14n,
        "c14n"
    );
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

/// The Response start tag with extra namespaces (a default one, unused prefixes) and `xml:*`
/// attributes, all in scope on the signed Assertion.
fn decorate_response(t: String) -> String {
    t.replacen(
        "<samlp:Response ",
        r#"<samlp:Response xmlns="urn:outer-default" xmlns:unused="urn:unused" xmlns:xs="http://www.w3.org/2001/XMLSchema" xml:lang="en" xml:space="preserve" "#,
        1,
    )
}

#[test]
fn inclusive_c14n_with_ancestor_namespaces_xml_lang_and_default_undeclaration() {
    let x = inclusive_signed_with(|t| {
        decorate_response(t).replacen(
            "<saml:Subject>",
            r#"<saml:Advice><Extra xmlns:p="urn:p" a="1"><Inner xmlns=""><p:Deep xmlns:p="urn:p2" xml:lang="fr"/></Inner><p:Same xmlns:p="urn:p" xmlns:unused="urn:unused"/></Extra></saml:Advice><saml:Subject>"#,
            1,
        )
    });
    agree_inclusive(
        &x,
        &[
            // The ancestors' declarations and xml:* attributes are part of what is signed.
            ("xmlns:unused=\"urn:unused\"", "xmlns:unused=\"urn:unusee\""),
            ("xml:lang=\"en\"", "xml:lang=\"de\""),
            ("xml:space=\"preserve\"", "xml:space=\"default\""),
            ("xmlns=\"urn:outer-default\"", "xmlns=\"urn:outer-defaulu\""),
            // And the content, as always.
            ("<Inner xmlns=\"\">", "<Inner>"),
            ("xmlns:p=\"urn:p2\"", "xmlns:p=\"urn:p3\""),
            ("alice", "alicf"),
        ],
    );
}

#[test]
fn inclusive_transform_with_exclusive_signed_info_and_response_signature() {
    // Reference transform inclusive, SignedInfo exclusive.
    let mixed = assertion_signed_with(|t| {
        decorate_response(t).replacen(
            &sig_template(ASSERTION_ID),
            &inclusive_template(ASSERTION_ID, false),
            1,
        )
    });
    agree_inclusive(
        &mixed,
        &[("xmlns:unused=\"urn:unused\"", "xmlns:unused=\"urn:other\"")],
    );
    // SignedInfo inclusive, Reference exclusive: the Response's declarations and xml:* attributes
    // are in SignedInfo's canonical form, so they are signed through it.
    let dotnet = assertion_signed_with(|t| {
        decorate_response(t).replacen(
            &sig_template(ASSERTION_ID),
            &inclusive_signed_info_template(ASSERTION_ID),
            1,
        )
    });
    assert!(reference_accepts(&dotnet));
    assert_eq!(native(&dotnet).map(|_| ()), Ok(()));
    for (from, to) in [
        ("xmlns:unused=\"urn:unused\"", "xmlns:unused=\"urn:other\""),
        ("xml:lang=\"en\"", "xml:lang=\"de\""),
        ("alice", "alicf"),
    ] {
        let bad = dotnet.replacen(from, to, 1);
        assert!(!reference_accepts(&bad), "xmlsec accepts tamper {from:?}");
        assert_eq!(native(&bad), Err("saml_signature_invalid"), "{from:?}");
    }
    // A Response signature: the root has no ancestors; its own declarations are rendered.
    let r = sign(
        &decorate_response(response(
            &inclusive_template(RESPONSE_ID, true),
            &assertion("", "alice"),
        )),
        0,
    );
    agree_inclusive(
        &r,
        &[("alice", "alicf"), ("xml:lang=\"en\"", "xml:lang=\"e\"")],
    );
}

#[test]
fn inclusive_c14n_with_comments_variants_are_refused() {
    let signed = inclusive_signed_with(|t| t);
    for with_comments in [
        "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments",
        "http://www.w3.org/2001/10/xml-exc-c14n#WithComments",
    ] {
        // In SignedInfo's CanonicalizationMethod, then in the Reference's Transform.
        for nth in [0, 1] {
            let at = signed.match_indices(ALG_C14N).nth(nth).unwrap().0;
            let rest = &signed[at + ALG_C14N.len()..];
            let bad = format!("{}{with_comments}{rest}", &signed[..at]);
            let doc = xml::parse(&bad).unwrap();
            assert_eq!(
                verify(&doc, &idp()).unwrap_err().code(),
                "saml_algorithm_forbidden",
                "{with_comments} at {nth}"
            );
            assert_eq!(
                preflight::check(&bad).unwrap_err().code(),
                "saml_algorithm_forbidden",
                "preflight: {with_comments} at {nth}"
            );
        }
    }
}

#[test]
fn inclusive_transform_carrying_inclusive_namespaces_is_refused() {
    let bad = inclusive_signed_with(|t| t).replacen(
        &format!(r#"<ds:Transform Algorithm="{ALG_C14N}"/>"#),
        &format!(
            r#"<ds:Transform Algorithm="{ALG_C14N}"><ec:InclusiveNamespaces xmlns:ec="http://www.w3.org/2001/10/xml-exc-c14n#" PrefixList="xs"/></ds:Transform>"#
        ),
        1,
    );
    let doc = xml::parse(&bad).unwrap();
    assert_eq!(
        verify(&doc, &idp()).unwrap_err().code(),
        "saml_signature_shape"
    );
    assert_eq!(
        preflight::check(&bad).unwrap_err().code(),
        "saml_signature_shape"
    );
}

#[test]
fn random_documents_signed_by_xmlsec_with_inclusive_c14n_verify_natively() {
    // As the exclusive random test, with inclusive C14N and ancestors that carry namespaces and
    // xml:* attributes (some of them rebound or repeated inside the random tree).
    for seed in 1..=300u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut tree = String::new();
        random_element(&mut rng, 0, &["saml"], &mut tree);
        let ancestors = [
            "",
            r#"xmlns:p="urn:two" "#,
            r#"xmlns="urn:one" xml:lang="x" "#,
            r#"xmlns:q="urn:three" xmlns:unused="urn:u" xml:space="preserve" "#,
        ];
        let extra = rng.pick(&ancestors);
        let x = inclusive_signed_with(|t| {
            t.replacen("<samlp:Response ", &format!("<samlp:Response {extra}"), 1)
                .replacen(
                    "<saml:Subject>",
                    &format!("<saml:Advice>{tree}</saml:Advice><saml:Subject>"),
                    1,
                )
        });
        assert!(reference_accepts(&x), "seed {seed}: xmlsec rejects\n{x}");
        assert!(
            native(&x).is_ok(),
            "seed {seed}: native rejects ({:?})\n{x}",
            native(&x)
        );
        let tampered = x.replacen("<saml:Advice>", "<saml:Advice> ", 1);
        assert!(!reference_accepts(&tampered), "seed {seed}: xmlsec tamper");
        assert_eq!(
            native(&tampered),
            Err("saml_signature_invalid"),
            "seed {seed}"
        );
    }
}
