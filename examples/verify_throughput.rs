//! fedbroker's side of `scripts/bench-peers.sh`: verification throughput on ONE thread, on the
//! inputs written by `examples/peer_inputs.rs`.
//!
//! ```text
//! cargo run --release --example verify_throughput -- INDIR [saml|jwt|both] [SECONDS] [WARMUP_SECONDS]
//! ```
//!
//! * SAML: `SamlValidator::validate` (preflight → xmlsec verify with the pinned certificate from
//!   the IdP metadata → reduce to the signed subtree → profile → AWS attributes), validator built
//!   from the metadata file like the broker does (`TrustedIdp::from_metadata_xml` with AWS's
//!   audiences and recipients).
//! * JWT: `OidcValidator::validate` with the provider's JWKS already cached: the production
//!   `JwksCache` in front of a fetcher that returns `jwks.json` from memory instead of doing
//!   discovery over HTTPS (the fetcher runs once, before measuring; after that the cache serves,
//!   exactly as in the broker). The broker's own `OidcProvider::from_config` differs only in the
//!   fetcher; the provider allows RS256 only (the peers are configured the same way).
//!
//! Both use a fixed clock inside the validity window (`inputs.json: fedbroker_clock`). Replay is
//! checked by the broker outside `validate()` (`ReplayGuard`), so it is not measured here; the
//! peers do not check replay either. Before timing, each case asserts that the valid input
//! verifies, the tampered input is refused and a validator expecting another audience refuses
//! the valid input. Output: one `RESULT` line per case (see `report`).

use async_trait::async_trait;
use fedbroker::clock::{FixedClock, SharedClock};
use fedbroker::config::OidcProviderConfig;
use fedbroker::oidc::fetch::{FetchError, JwksFetcher};
use fedbroker::oidc::jwks::DEFAULT_JWKS_TTL;
use fedbroker::oidc::{JwksCache, OidcProvider, OidcValidator};
use fedbroker::saml::{SamlValidator, TrustedIdp};
use serde_json::Value;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A JWKS "fetched" from memory (the document the peers load too).
#[derive(Debug)]
struct InMemoryJwks(Vec<u8>);

#[async_trait]
impl JwksFetcher for InMemoryJwks {
    async fn fetch_jwks(&self) -> Result<Vec<u8>, FetchError> {
        Ok(self.0.clone())
    }
}

fn read(dir: &Path, name: &str) -> String {
    let p = dir.join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// CPU time this (single-threaded) process has used: `/proc/self/schedstat`, first field, in
/// nanoseconds. On a shared machine ops per CPU-second is steadier than ops per wall second.
fn cpu_time() -> Duration {
    let s = std::fs::read_to_string("/proc/self/schedstat").expect("/proc/self/schedstat");
    let ns = s.split_whitespace().next().and_then(|v| v.parse().ok());
    Duration::from_nanos(ns.expect("schedstat"))
}

/// What one timed loop measured.
struct Measured {
    iterations: u64,
    wall: Duration,
    cpu: Duration,
}

/// Run `op` for `warmup` then for `measure` (wall clock).
fn time_loop(warmup: Duration, measure: Duration, mut op: impl FnMut()) -> Measured {
    let start = Instant::now();
    while start.elapsed() < warmup {
        op();
    }
    let (start, cpu0) = (Instant::now(), cpu_time());
    let mut n = 0u64;
    loop {
        op();
        n += 1;
        if n % 16 == 0 && start.elapsed() >= measure {
            break;
        }
    }
    Measured {
        iterations: n,
        wall: start.elapsed(),
        cpu: cpu_time() - cpu0,
    }
}

/// `RESULT name version ops_per_wall_s us_per_op iterations ops_per_cpu_s` (parsed by the script).
fn report(m: Measured) {
    let n = m.iterations as f64;
    println!(
        "RESULT fedbroker fedbroker-{} {:.0} {:.2} {} {:.0}",
        env!("CARGO_PKG_VERSION"),
        n / m.wall.as_secs_f64(),
        m.wall.as_secs_f64() * 1e6 / n,
        m.iterations,
        n / m.cpu.as_secs_f64()
    );
}

fn saml_validator(dir: &Path, clock: SharedClock, audience: &str) -> SamlValidator {
    let recipients = vec![
        fedbroker::saml::AWS_GLOBAL_SAML_ENDPOINT.to_owned(),
        fedbroker::saml::aws_regional_saml_endpoint("us-east-1"),
    ];
    let idp = TrustedIdp::from_metadata_xml(
        "peers",
        &read(dir, "idp-metadata.xml"),
        vec![audience.to_owned()],
        recipients,
    )
    .expect("IdP metadata");
    SamlValidator::try_new(vec![idp], clock).expect("SAML validator")
}

fn bench_saml(dir: &Path, clock: SharedClock, manifest: &Value, warmup: Duration, dur: Duration) {
    let valid = read(dir, "saml-response.b64");
    let tampered = read(dir, "saml-response-tampered.b64");
    let audience = manifest["saml"]["audience"].as_str().expect("audience");
    let v = saml_validator(dir, clock.clone(), audience);
    let id = v
        .validate(&valid)
        .expect("fedbroker refused the valid SAML Response");
    assert_eq!(id.subject(), "alice@example.com");
    assert!(
        v.validate(&tampered).is_err(),
        "fedbroker accepted the tampered SAML Response"
    );
    let other = saml_validator(dir, clock, "urn:example:another-sp");
    assert!(
        other.validate(&valid).is_err(),
        "fedbroker ignored the audience"
    );
    report(time_loop(warmup, dur, || {
        black_box(v.validate(black_box(&valid)).expect("valid"));
    }));
}

fn oidc_validator(jwks: &str, clock: SharedClock, issuer: &str, audience: &str) -> OidcValidator {
    let cfg = OidcProviderConfig {
        name: "peers".into(),
        issuer: issuer.into(),
        audiences: vec![audience.into()],
        allowed_algorithms: Some(vec!["RS256".into()]),
        ..Default::default()
    };
    let cache = JwksCache::new(
        &cfg.name,
        Arc::new(InMemoryJwks(jwks.as_bytes().to_vec())),
        clock.clone(),
        DEFAULT_JWKS_TTL,
    );
    let provider = OidcProvider::new(&cfg, Arc::new(cache)).expect("provider");
    OidcValidator::new(vec![provider], clock).expect("OIDC validator")
}

fn bench_jwt(dir: &Path, clock: SharedClock, manifest: &Value, warmup: Duration, dur: Duration) {
    let token = read(dir, "token.jwt");
    let tampered = read(dir, "token-tampered.jwt");
    let jwks = read(dir, "jwks.json");
    let issuer = manifest["jwt"]["issuer"].as_str().expect("issuer");
    let audience = manifest["jwt"]["audience"].as_str().expect("audience");
    let v = oidc_validator(&jwks, clock.clone(), issuer, audience);
    let other = oidc_validator(&jwks, clock, issuer, "another-audience");
    // One thread: the loop runs inside one block_on, each validate() awaited like in a handler.
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let result = rt.block_on(async {
        let id = v.validate(&token).await.expect("fedbroker refused the JWT");
        assert_eq!(id.subject(), manifest["jwt"]["subject"].as_str().unwrap());
        assert!(
            v.validate(&tampered).await.is_err(),
            "fedbroker accepted the tampered JWT"
        );
        assert!(
            other.validate(&token).await.is_err(),
            "fedbroker ignored the audience"
        );
        let start = Instant::now();
        while start.elapsed() < warmup {
            black_box(v.validate(black_box(&token)).await.expect("valid"));
        }
        let (start, cpu0) = (Instant::now(), cpu_time());
        let mut n = 0u64;
        loop {
            black_box(v.validate(black_box(&token)).await.expect("valid"));
            n += 1;
            if n % 16 == 0 && start.elapsed() >= dur {
                break;
            }
        }
        Measured {
            iterations: n,
            wall: start.elapsed(),
            cpu: cpu_time() - cpu0,
        }
    });
    report(result);
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().expect(
        "usage: verify_throughput INDIR [saml|jwt|both] [SECONDS] [WARMUP_SECONDS] (see the doc)",
    ));
    let which = args.next().unwrap_or_else(|| "both".into());
    let secs: f64 = args.next().map_or(5.0, |s| s.parse().expect("SECONDS"));
    let warm: f64 = args
        .next()
        .map_or(1.0, |s| s.parse().expect("WARMUP_SECONDS"));
    let (dur, warmup) = (Duration::from_secs_f64(secs), Duration::from_secs_f64(warm));
    let manifest: Value = serde_json::from_str(&read(&dir, "inputs.json")).expect("inputs.json");
    let at = manifest["fedbroker_clock"]
        .as_i64()
        .expect("fedbroker_clock");
    let clock: SharedClock = Arc::new(FixedClock::new(
        chrono::DateTime::from_timestamp(at, 0).expect("clock"),
    ));
    if matches!(which.as_str(), "saml" | "both") {
        bench_saml(&dir, clock.clone(), &manifest, warmup, dur);
    }
    if matches!(which.as_str(), "jwt" | "both") {
        bench_jwt(&dir, clock, &manifest, warmup, dur);
    }
}
