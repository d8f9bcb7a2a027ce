//! Hot path: validating one signed SAML Response (preflight → xmlsec verify → profile → AWS
//! attributes), per signing layout, plus preflight alone and an early rejection.
//! Run: `cargo bench --bench saml_validate`. Figures: docs/BENCHMARKS.md.

#[path = "../tests/support/saml_idp.rs"]
mod saml_idp;

use chrono::{TimeZone, Utc};
use criterion::{criterion_group, criterion_main, Criterion};
use fedbroker::clock::FixedClock;
use fedbroker::saml::{SamlValidator, TrustedIdp};
use saml_idp::{SamlResponseBuilder, SignWhat};
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
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
