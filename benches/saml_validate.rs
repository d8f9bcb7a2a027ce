//! Hot path: validating one signed SAML Response (preflight → xmlsec verify → profile → AWS
//! attributes), per signing layout, plus preflight alone and an early rejection; and the
//! namespace-heavy hostile documents at the size cap (the worst preflight accepts, the worst it
//! refuses) beside a valid Response of the same size.
//! Run: `cargo bench --bench saml_validate`. Figures: docs/BENCHMARKS.md.

#[path = "../tests/all/support/saml_idp.rs"]
mod saml_idp;

use chrono::{TimeZone, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use fedbroker::clock::FixedClock;
use fedbroker::saml::{SamlValidator, TrustedIdp};
use saml_idp::{b64, KeyPair, SamlResponseBuilder, SignWhat, Stage};
use std::hint::black_box;
use std::sync::Arc;

fn validator(now: chrono::DateTime<Utc>) -> SamlValidator {
    let xml = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/test-idp-metadata.xml"
    ))
    .expect("metadata");
    let idp = TrustedIdp::from_metadata_xml(
        "test-idp",
        &xml,
        vec!["urn:amazon:webservices".into()],
        vec!["https://signin.aws.amazon.com/saml".into()],
    )
    .expect("idp");
    SamlValidator::new(vec![idp], Arc::new(FixedClock::new(now)))
}

/// Largest base64 `SAMLResponse` accepted (`MAX_SAML_RESPONSE_BASE64_LEN`): 75,000 bytes of XML.
const XML_BUDGET: usize = 74_300;

/// Pad `xml` (a Response) with empty elements in a `samlp:Extensions` to just under the size cap;
/// each of the first `declaring` elements declares `xmlns:c="urn:c"`.
fn fill_extensions(xml: &str, declaring: usize) -> String {
    let mut kids = "<x xmlns:c=\"urn:c\"/>".repeat(declaring);
    let room = XML_BUDGET.saturating_sub(xml.len() + kids.len() + 40);
    kids.push_str(&"<x/>".repeat(room / 4));
    xml.replacen(
        "<samlp:Status>",
        &format!("<samlp:Extensions>{kids}</samlp:Extensions><samlp:Status>"),
        1,
    )
}

/// `n` distinct namespace declarations (`xmlns:pN="u:N"`) to put on the root.
fn root_declarations(n: usize) -> String {
    (0..n).map(|i| format!(" xmlns:p{i}=\"u:{i}\"")).collect()
}

/// The worst namespace load preflight accepts: 60 extra prefixes on the root (64 with samlp,
/// saml, ds and the children's c), the declaration cap reached by 900 children re-declaring one namespace, filler
/// children to the size cap, SignedInfo in inclusive C14N (every in-scope namespace rendered),
/// validly signed by a key the IdP does not have: refused only after SignedInfo is
/// canonicalized and checked against both pinned keys.
fn worst_accepted(now: chrono::DateTime<Utc>) -> String {
    let xml = SamlResponseBuilder::new(now)
        .key(KeyPair::attacker())
        .build_xml_edited(|stage, xml| match stage {
            Stage::Assertion => xml,
            Stage::Response => fill_extensions(
                &xml.replacen(
                    "<samlp:Response ",
                    &format!("<samlp:Response{} ", root_declarations(60)),
                    1,
                )
                .replacen(
                    "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/>",
                    "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/TR/2001/REC-xml-c14n-20010315\"/>",
                    1,
                ),
                900,
            ),
        });
    assert!(fedbroker::saml::preflight::check(&xml).is_ok());
    b64(&xml)
}

/// The reported document: 2,200 namespace declarations on the root, thousands of children, at the
/// size cap. Refused before it is parsed.
fn worst_refused(now: chrono::DateTime<Utc>) -> String {
    let xml = SamlResponseBuilder::new(now).build_xml().replacen(
        "<samlp:Response ",
        &format!("<samlp:Response{} ", root_declarations(2_200)),
        1,
    );
    b64(&fill_extensions(&xml, 0))
}

/// One element with as many attributes as fit (about 8,000): refused before it is parsed.
fn many_attributes(now: chrono::DateTime<Utc>) -> String {
    let xml = SamlResponseBuilder::new(now).build_xml();
    let room = XML_BUDGET - xml.len();
    let attrs: String = (0..room / 9).map(|i| format!(" a{i:04}=\"\"")).collect();
    b64(&xml.replacen("<samlp:Status>", &format!("<samlp:Status{attrs}>"), 1))
}

/// A valid Response of the same size: an IdP-signed one with 1,250 group values.
fn large_valid(now: chrono::DateTime<Utc>) -> String {
    let groups: Vec<String> = (0..1_250).map(|i| format!("group-{i:05}")).collect();
    let groups: Vec<&str> = groups.iter().map(String::as_str).collect();
    SamlResponseBuilder::new(now)
        .attribute("groups", &groups)
        .build_base64()
}

fn bench(c: &mut Criterion) {
    let now = Utc.with_ymd_and_hms(2030, 1, 2, 3, 4, 5).unwrap();
    let v = validator(now);
    let mut group = c.benchmark_group("saml_validate");
    for (name, what) in [
        ("response_signed", SignWhat::Response),
        ("assertion_signed", SignWhat::Assertion),
        ("both_signed", SignWhat::Both),
    ] {
        let b64 = SamlResponseBuilder::new(now).sign(what).build_base64();
        v.validate(&b64).expect("valid");
        group.bench_function(name, |b| b.iter(|| v.validate(black_box(&b64)).unwrap()));
    }
    let b64 = SamlResponseBuilder::new(now).build_base64();
    group.bench_function("preflight_only", |b| {
        b.iter(|| {
            fedbroker::saml::preflight::decode(black_box(&b64))
                .map(|x| fedbroker::saml::preflight::check(&x).is_ok())
        })
    });
    let unsigned = SamlResponseBuilder::new(now)
        .sign(SignWhat::Nothing)
        .build_base64();
    group.bench_function("reject_unsigned", |b| {
        b.iter(|| v.validate(black_box(&unsigned)).unwrap_err())
    });
    for (name, b64, valid) in [
        ("large_valid_99kb", large_valid(now), true),
        ("hostile_ns_worst_accepted_99kb", worst_accepted(now), false),
        ("hostile_ns_worst_refused_99kb", worst_refused(now), false),
        (
            "hostile_attributes_refused_99kb",
            many_attributes(now),
            false,
        ),
    ] {
        assert!(
            (90_000..=100_000).contains(&b64.len()),
            "{name}: {} base64 characters",
            b64.len()
        );
        assert_eq!(v.validate(&b64).is_ok(), valid, "{name}");
        group.bench_function(name, |b| b.iter(|| v.validate(black_box(&b64)).is_ok()));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
