//! Cost of preflight on hostile, namespace-heavy documents. Work is counted, not timed: a test
//! hook counts every namespace-URI check, so a quadratic walk over in-scope namespaces shows up as
//! a count, never as a flaky clock. Also: the declaration caps, applied before parsing, and the
//! declarations read from each start tag (entity references expanded) still checked one by one.

use super::*;
use crate::error::ApiError;
use crate::saml::test_support::*;
use std::cell::Cell;

thread_local! {
    static NAMESPACE_CHECKS: Cell<usize> = const { Cell::new(0) };
}

/// Called by `namespace_uri_ok` in test builds.
pub(super) fn count_namespace_check() {
    NAMESPACE_CHECKS.with(|c| c.set(c.get() + 1));
}

/// Run `f`, returning its result and how many namespace URIs it checked (this thread only).
fn checks_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    NAMESPACE_CHECKS.with(|c| c.set(0));
    let out = f();
    (out, NAMESPACE_CHECKS.with(Cell::get))
}

/// `templated_both()` with `prefixes` extra namespace declarations on the root and `children`
/// empty elements in a `samlp:Extensions`, each declaring `per_child` namespaces (the same
/// prefixes on every child).
fn namespace_heavy(prefixes: usize, children: usize, per_child: usize) -> String {
    let decls: String = (0..prefixes)
        .map(|i| format!(" xmlns:n{i}=\"urn:n{i}\""))
        .collect();
    let child_decls: String = (0..per_child)
        .map(|i| format!(" xmlns:c{i}=\"urn:c{i}\""))
        .collect();
    let kids = format!("<x{child_decls}/>").repeat(children);
    let x = templated_both()
        .replacen("<samlp:Response ", &format!("<samlp:Response{decls} "), 1)
        .replacen(
            "<samlp:Status>",
            &format!("<samlp:Extensions>{kids}</samlp:Extensions><samlp:Status>"),
            1,
        );
    assert_ne!(x, templated_both());
    x
}

fn declarations(xml: &str) -> usize {
    xml.matches("xmlns").count()
}

fn refusal(xml: &str) -> (&'static str, String) {
    let e = check(xml).unwrap_err();
    (e.code(), e.to_string())
}

#[test]
fn many_namespace_declarations_cost_linear_time() {
    // The shape of the reported attack, under the prefix cap: as many prefixes on the root as a
    // document may declare (the template brings samlp, saml, ds) and 7,500 child elements. Each
    // declaration is checked once, where it is declared; re-checking everything in scope on every
    // element cost 7,500 × 61 checks here (and 7,500 × 2,200 before the caps).
    let x = namespace_heavy(xml::MAX_NAMESPACE_PREFIXES - 3, 7_500, 0);
    let (result, checks) = checks_during(|| check(&x).map(|_| ()));
    result.unwrap();
    assert_eq!(checks, declarations(&x));
    assert!(checks < 100, "{checks} namespace checks");

    // More elements cost no more namespace checks.
    let bigger = namespace_heavy(xml::MAX_NAMESPACE_PREFIXES - 3, 15_000, 0);
    let (result, more) = checks_during(|| check(&bigger).map(|_| ()));
    result.unwrap();
    assert_eq!(more, checks);

    // A declaration repeated on every child is checked on each child that declares it, once.
    let repeated = namespace_heavy(8, 500, 2);
    let (result, checks) = checks_during(|| check(&repeated).map(|_| ()));
    result.unwrap();
    assert_eq!(checks, declarations(&repeated));
}

#[test]
fn namespace_declarations_over_the_cap_are_refused() {
    // The reported document: 2,200 declarations on the root, 7,500 children. Refused before it
    // is parsed, so not one namespace is checked.
    let reported = namespace_heavy(2_200, 7_500, 0);
    let (result, checks) = checks_during(|| check(&reported).map(|_| ()));
    let e = result.unwrap_err();
    assert_eq!(e.code(), "saml_malformed");
    assert!(
        e.to_string().contains("64 distinct namespace prefixes"),
        "{e}"
    );
    assert_eq!(checks, 0);

    // Exactly the prefix cap passes, one more is refused.
    let at_cap = namespace_heavy(xml::MAX_NAMESPACE_PREFIXES - 3, 10, 0);
    assert!(check(&at_cap).is_ok());
    let over = namespace_heavy(xml::MAX_NAMESPACE_PREFIXES - 2, 10, 0);
    assert_eq!(refusal(&over).0, "saml_malformed");

    // Few prefixes declared over and over: the total is capped too.
    let base = declarations(&templated_both());
    let at_cap = namespace_heavy(0, xml::MAX_NAMESPACE_DECLARATIONS - base, 1);
    assert_eq!(declarations(&at_cap), xml::MAX_NAMESPACE_DECLARATIONS);
    assert!(check(&at_cap).is_ok());
    let over = namespace_heavy(0, xml::MAX_NAMESPACE_DECLARATIONS - base + 1, 1);
    let (code, msg) = refusal(&over);
    assert_eq!(code, "saml_malformed");
    assert!(msg.contains("more than 1024 XML namespaces"), "{msg}");

    // The message names the limit, never the caller's prefixes or URIs.
    assert!(!msg.contains("urn:c0"), "{msg}");
}

#[test]
fn decrypted_assertion_gets_the_wrapper_declarations_on_top_of_its_own_budget() {
    // `decrypt` re-declares, on its wrapper, what was in scope at the EncryptedAssertion (at most
    // the Response's own budget); the plaintext may use a full budget of its own.
    let own: String = (0..xml::MAX_NAMESPACE_PREFIXES - 2)
        .map(|i| format!(" xmlns:a{i}=\"urn:a{i}\""))
        .collect();
    let wrapper: String = (0..xml::MAX_NAMESPACE_PREFIXES)
        .map(|i| format!(" xmlns:w{i}=\"urn:w{i}\""))
        .collect();
    let plain = assertion(&sig_template(ASSERTION_ID), "alice").replacen(
        "<saml:Assertion ",
        &format!("<saml:Assertion{own} "),
        1,
    );
    let doc = format!("<{DECRYPTED_WRAPPER}{wrapper}>{plain}</{DECRYPTED_WRAPPER}>");
    assert!(check_decrypted(&doc, AlgorithmPolicy::Strict).is_ok());
    let too_many = doc.replacen(
        "<saml:Assertion ",
        "<saml:Assertion xmlns:b1=\"urn:b\" xmlns:b2=\"urn:b\" xmlns:b3=\"urn:b\" ",
        1,
    );
    let e = check_decrypted(&too_many, AlgorithmPolicy::Strict).unwrap_err();
    assert_eq!(e.code(), "saml_malformed");
}

#[test]
fn parser_differential_namespace_uri_hidden_behind_an_entity_reference_is_refused() {
    // Declarations are read from the start tag but checked as the parser resolved them, so a
    // character reference cannot smuggle a space (or anything else) past the check, on any
    // element at any depth.
    for (bad, on) in [
        ("urn:x&#x20;y", "<saml:Subject>"),
        ("urn:x&#9;y", "<samlp:Status>"),
        ("&#x72;elative", "<saml:AttributeValue>"),
    ] {
        let tag = on.trim_end_matches('>');
        let x = templated_both().replacen(on, &format!("{tag} xmlns:e=\"{bad}\">"), 1);
        assert_ne!(x, templated_both());
        assert_eq!(refusal(&x).0, "saml_malformed", "{bad} on {on}");
    }
    // A valid URI written with references, and the explicit (permitted) `xml` declaration before
    // and after others on the same start tag, pass.
    let ok = templated_both().replacen(
        "<saml:Subject>",
        "<saml:Subject q='a>b' xmlns:xml=\"http://www.w3.org/XML/1998/namespace\" \
         xmlns:e='urn:a&amp;b' xmlns = \"urn:d\" xmlns:f=\"urn:&#x66;\">",
        1,
    );
    let (result, checks) = checks_during(|| check(&ok).map(|_| ()));
    result.unwrap();
    assert_eq!(
        checks,
        declarations(&ok) - 1,
        "xmlns:xml is not a namespace in scope"
    );
    // The same, with a bad one last: still found.
    let bad = ok.replacen("xmlns:f=\"urn:&#x66;\"", "xmlns:f=\"urn:&#x66; \"", 1);
    assert_eq!(refusal(&bad).0, "saml_malformed");
}

#[test]
fn overlong_inclusive_namespaces_prefix_list_is_refused() {
    let list = |n: usize| {
        (0..n)
            .map(|i| format!("p{i}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let with = |n: usize| {
        templated_both().replacen(
            &format!("<ds:Transform Algorithm=\"{ALG_EXC_C14N}\"/>"),
            &format!(
                "<ds:Transform Algorithm=\"{ALG_EXC_C14N}\"><ec:InclusiveNamespaces \
                 xmlns:ec=\"{NS_EXC_C14N}\" PrefixList=\"{}\"/></ds:Transform>",
                list(n)
            ),
            1,
        )
    };
    assert!(check(&with(xml::MAX_NAMESPACE_PREFIXES)).is_ok());
    let (code, msg) = refusal(&with(xml::MAX_NAMESPACE_PREFIXES + 1));
    assert_eq!(code, "saml_signature_shape");
    assert!(msg.contains("at most 64 prefixes"), "{msg}");
}

#[test]
fn thousands_of_attributes_on_one_element_are_refused_before_parsing() {
    // The parser checks each attribute against every earlier one on the same element: 8,000
    // attributes on one element are 32 million comparisons. Refused on the text instead.
    let attrs = |n: usize| (0..n).map(|i| format!(" a{i}=\"\"")).collect::<String>();
    let with = |n: usize| {
        templated_both().replacen("<samlp:Status>", &format!("<samlp:Status{}>", attrs(n)), 1)
    };
    assert!(check(&with(xml::MAX_ATTRIBUTES_PER_ELEMENT)).is_ok());
    let (result, checks) = checks_during(|| check(&with(8_000)).map(|_| ()));
    let e = result.unwrap_err();
    assert_eq!(e.code(), "saml_malformed");
    assert!(e.to_string().contains("more than 128 attributes"), "{e}");
    assert_eq!(checks, 0, "refused before parsing");
    // Namespace declarations count as attributes too.
    let decls: String = (0..60).map(|i| format!(" xmlns:d{i}=\"urn:d\"")).collect();
    let x = |n: usize| {
        templated_both().replacen(
            "<samlp:Status>",
            &format!("<samlp:Status{}{decls}>", attrs(n)),
            1,
        )
    };
    assert!(check(&x(xml::MAX_ATTRIBUTES_PER_ELEMENT - 60)).is_ok());
    let (code, msg) = refusal(&x(xml::MAX_ATTRIBUTES_PER_ELEMENT - 59));
    assert_eq!(code, "saml_malformed");
    assert!(msg.contains("more than 128 attributes"), "{msg}");
}
