//! Hot path: validating one web-identity JWT with the provider's JWKS already cached (parse →
//! key lookup → signature → claims), RS256 and ES256, plus an early rejection (bad signature).
//! The JWKS comes from a local HTTPS test issuer (fetched once, before measuring).
//! Run: `cargo bench --bench oidc_validate`. Figures: docs/BENCHMARKS.md.

#[path = "../tests/all/support/jwt_idp.rs"]
mod jwt_idp;

use criterion::{criterion_group, criterion_main, Criterion};
use jwt_idp::*;
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let rsa = rsa_key("oidc-signing-rsa.key", "rsa-1");
    let ec = ec_key("oidc-signing-ec.key", "ec-1");
    let idp = rt.block_on(TestIdp::start(jwks(&[&rsa, &ec])));
    let clock = fixed_clock();
    let v = validator(&[idp.provider_config("bench")], clock.clone());
    let claims = claims(&idp.issuer, now_secs(&clock));
    let rs_token = mint(&rsa, &claims);
    let es_token = mint(&ec, &claims);
    rt.block_on(v.validate(&rs_token))
        .expect("RS256 token valid");
    rt.block_on(v.validate(&es_token))
        .expect("ES256 token valid");
    let mut bad = rs_token.clone();
    let mid = bad.len() - 40;
    let flipped = if &bad[mid..=mid] == "A" { "B" } else { "A" };
    bad.replace_range(mid..=mid, flipped);

    let mut group = c.benchmark_group("oidc_validate");
    group.bench_function("rs256_cached_jwks", |b| {
        b.iter(|| rt.block_on(v.validate(black_box(&rs_token))).unwrap())
    });
    group.bench_function("es256_cached_jwks", |b| {
        b.iter(|| rt.block_on(v.validate(black_box(&es_token))).unwrap())
    });
    group.bench_function("reject_bad_signature", |b| {
        b.iter(|| rt.block_on(v.validate(black_box(&bad))).unwrap_err())
    });
    group.finish();
    drop(idp);
}

criterion_group!(benches, bench);
criterion_main!(benches);
