//! Exclusive and inclusive C14N on fixed inputs: the W3C spec's examples, sorting, escaping,
//! namespace rendering, inherited `xml:*` attributes, the omitted subtree. (`dsig_tests` checks agreement with libxml2's C14N through
//! documents xmlsec signed.)

use super::*;
use crate::saml::xml;

/// Canonical form of the first element named `apex_local` in `x`.
fn c14n_of(x: &str, apex_local: &str, prefixes: &[&str]) -> String {
    let doc = xml::parse(x).unwrap();
    let apex = doc
        .descendants()
        .find(|n| n.is_element() && n.tag_name().name() == apex_local)
        .unwrap();
    let mut out = Vec::new();
    exclusive(apex, None, prefixes, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn w3c_exc_c14n_example_does_not_import_ancestor_namespaces_or_xml_attributes() {
    // xml-exc-c14n §2.2: the same elem2 subtree in two different contexts.
    let first = r#"<n0:local xmlns:n0="foo:bar" xmlns:n3="ftp://example.org"><n1:elem2 xmlns:n1="http://example.net" xml:lang="en"><n3:stuff xmlns:n3="ftp://example.org"/></n1:elem2></n0:local>"#;
    let second = r#"<n2:pdu xmlns:n1="http://example.com" xmlns:n2="http://foo.example" xml:lang="fr" xml:space="retain"><n1:elem2 xmlns:n1="http://example.net" xml:lang="en"><n3:stuff xmlns:n3="ftp://example.org"/></n1:elem2></n2:pdu>"#;
    let expected = r#"<n1:elem2 xmlns:n1="http://example.net" xml:lang="en"><n3:stuff xmlns:n3="ftp://example.org"></n3:stuff></n1:elem2>"#;
    assert_eq!(c14n_of(first, "elem2", &[]), expected);
    assert_eq!(c14n_of(second, "elem2", &[]), expected);
}

#[test]
fn namespaces_sorted_by_prefix_attributes_by_namespace_then_name() {
    let x = r#"<a xmlns:b="urn:b" b:z="1" y="2" a="3" xmlns:c="urn:a" c:q="4"/>"#;
    assert_eq!(
        c14n_of(x, "a", &[]),
        r#"<a xmlns:b="urn:b" xmlns:c="urn:a" a="3" y="2" c:q="4" b:z="1"></a>"#
    );
}

#[test]
fn escaping_of_text_and_attribute_values() {
    let x =
        "<a t=\"&quot;&#9;&#10;&#13;&lt;&amp;>'\">x &amp; &lt; &gt; &#13; \"'<![CDATA[<y>&]]></a>";
    assert_eq!(
        c14n_of(x, "a", &[]),
        "<a t=\"&quot;&#x9;&#xA;&#xD;&lt;&amp;>'\">x &amp; &lt; &gt; &#xD; \"'&lt;y&gt;&amp;</a>"
    );
}

#[test]
fn escaped_markup_in_text_never_canonicalizes_like_real_markup() {
    let real = c14n_of("<a><b/></a>", "a", &[]);
    let text = c14n_of("<a>&lt;b&gt;&lt;/b&gt;</a>", "a", &[]);
    assert_eq!(real, "<a><b></b></a>");
    assert_ne!(real, text);
}

#[test]
fn line_endings_and_attribute_whitespace_are_normalized_as_parsed() {
    let x = "<a t=\"x\r\ny\tz\">1\r\n2\r3</a>";
    assert_eq!(c14n_of(x, "a", &[]), "<a t=\"x y z\">1\n2\n3</a>");
}

#[test]
fn unused_namespaces_dropped_and_redundant_redeclarations_not_repeated() {
    let x = r#"<a xmlns:u="urn:unused" xmlns:v="urn:v"><v:b xmlns:v="urn:v"><v:c/></v:b></a>"#;
    assert_eq!(
        c14n_of(x, "a", &[]),
        r#"<a><v:b xmlns:v="urn:v"><v:c></v:c></v:b></a>"#
    );
}

#[test]
fn a_prefix_rebound_to_another_uri_is_rendered_again() {
    let x = r#"<p:a xmlns:p="urn:1"><p:b xmlns:p="urn:2"><p:c xmlns:p="urn:1"/></p:b></p:a>"#;
    assert_eq!(
        c14n_of(x, "a", &[]),
        r#"<p:a xmlns:p="urn:1"><p:b xmlns:p="urn:2"><p:c xmlns:p="urn:1"></p:c></p:b></p:a>"#
    );
}

#[test]
fn default_namespace_and_its_undeclaration() {
    let x = r#"<a xmlns="urn:x"><b xmlns=""><c/></b></a>"#;
    assert_eq!(
        c14n_of(x, "a", &[]),
        r#"<a xmlns="urn:x"><b xmlns=""><c></c></b></a>"#
    );
    // As an apex nothing default was rendered before it, so no xmlns="" is needed.
    assert_eq!(c14n_of(x, "b", &[]), "<b><c></c></b>");
}

#[test]
fn inclusive_prefix_list_renders_in_scope_namespaces_on_the_apex() {
    let x = r#"<a xmlns:xs="urn:xs" xmlns:q="urn:q" xmlns="urn:d"><b><c/></b></a>"#;
    assert_eq!(
        c14n_of(x, "b", &["xs"]),
        r#"<b xmlns="urn:d" xmlns:xs="urn:xs"><c></c></b>"#
    );
    // Listed prefixes that are not in scope are ignored.
    assert_eq!(
        c14n_of(x, "b", &["nope"]),
        r#"<b xmlns="urn:d"><c></c></b>"#
    );
}

#[test]
fn comments_dropped_processing_instructions_kept() {
    let x = "<a><!--note--><?pi some data?><?empty?>t</a>";
    assert_eq!(c14n_of(x, "a", &[]), "<a><?pi some data?><?empty?>t</a>");
}

#[test]
fn omitted_subtree_leaves_surrounding_text() {
    let x = r#"<a xmlns:s="urn:s">1<s:sig><s:x/></s:sig>2</a>"#;
    let doc = xml::parse(x).unwrap();
    let a = doc.root_element();
    let sig = a.children().find(|n| n.is_element()).unwrap();
    let mut out = Vec::new();
    exclusive(a, Some(sig.id()), &[], &mut out).unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), "<a>12</a>");
}

#[test]
fn non_ascii_text_is_copied_unchanged() {
    let x = "<a t=\"é😀\">ünïcødé &#x1F600;</a>";
    assert_eq!(c14n_of(x, "a", &[]), "<a t=\"é😀\">ünïcødé 😀</a>");
}

#[test]
fn deep_nesting_beyond_the_cap_is_an_error_not_a_stack_overflow() {
    let x = format!(
        "{}{}",
        "<a>".repeat(MAX_DEPTH + 5),
        "</a>".repeat(MAX_DEPTH + 5)
    );
    let doc = roxmltree::Document::parse(&x).unwrap();
    let mut out = Vec::new();
    assert!(exclusive(doc.root_element(), None, &[], &mut out).is_err());
}

/// Inclusive canonical form of the first element named `apex_local` in `x`.
fn inclusive_of(x: &str, apex_local: &str) -> String {
    let doc = xml::parse(x).unwrap();
    let apex = doc
        .descendants()
        .find(|n| n.is_element() && n.tag_name().name() == apex_local)
        .unwrap();
    let mut out = Vec::new();
    inclusive(apex, None, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn w3c_exc_c14n_example_under_inclusive_c14n_imports_ancestor_namespaces_and_xml_attributes() {
    // xml-exc-c14n §2.2 gives what Canonical XML 1.0 makes of the same elem2 subtree in its two
    // contexts: every in-scope namespace on the apex, and the xml:* attributes it inherits.
    let first = r#"<n0:local xmlns:n0="foo:bar" xmlns:n3="ftp://example.org"><n1:elem2 xmlns:n1="http://example.net" xml:lang="en"><n3:stuff xmlns:n3="ftp://example.org"/></n1:elem2></n0:local>"#;
    let second = r#"<n2:pdu xmlns:n1="http://example.com" xmlns:n2="http://foo.example" xml:lang="fr" xml:space="retain"><n1:elem2 xmlns:n1="http://example.net" xml:lang="en"><n3:stuff xmlns:n3="ftp://example.org"/></n1:elem2></n2:pdu>"#;
    assert_eq!(
        inclusive_of(first, "elem2"),
        r#"<n1:elem2 xmlns:n0="foo:bar" xmlns:n1="http://example.net" xmlns:n3="ftp://example.org" xml:lang="en"><n3:stuff></n3:stuff></n1:elem2>"#
    );
    assert_eq!(
        inclusive_of(second, "elem2"),
        r#"<n1:elem2 xmlns:n1="http://example.net" xmlns:n2="http://foo.example" xml:lang="en" xml:space="retain"><n3:stuff xmlns:n3="ftp://example.org"></n3:stuff></n1:elem2>"#
    );
}

#[test]
fn inclusive_nearest_ancestor_xml_attribute_wins_and_only_the_apex_inherits() {
    let x = r#"<a xml:lang="outer" xml:base="http://b/"><b xml:lang="inner"><c><d/></c></b></a>"#;
    assert_eq!(
        inclusive_of(x, "c"),
        r#"<c xml:base="http://b/" xml:lang="inner"><d></d></c>"#
    );
}

#[test]
fn inclusive_default_namespace_inherited_and_undeclared() {
    let x = r#"<a xmlns="urn:x" xmlns:u="urn:u"><b><c xmlns=""><e xmlns:u="urn:u"/></c></b></a>"#;
    assert_eq!(
        inclusive_of(x, "b"),
        r#"<b xmlns="urn:x" xmlns:u="urn:u"><c xmlns=""><e></e></c></b>"#
    );
    // An apex whose default namespace is undeclared renders no xmlns="".
    assert_eq!(inclusive_of(x, "c"), r#"<c xmlns:u="urn:u"><e></e></c>"#);
}
