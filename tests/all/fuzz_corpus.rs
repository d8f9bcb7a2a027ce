//! Replays the committed fuzz seeds (`fuzz/corpus/<target>/`) and past fuzzer findings
//! (`fuzz/regressions/<target>/`) through the very entry points the cargo-fuzz targets call
//! (`fuzz/src/lib.rs`, compiled here with `#[path]`): plain `cargo test` on stable, no cargo-fuzz,
//! no nightly. Every file must be handled without a panic; `valid-*` files must be accepted and
//! `reject-*` files refused; other names (inputs kept from fuzzer runs, vectors whose outcome is
//! policy) only have to not panic. Seeds: `fuzz/gen-corpus.sh`; running the fuzzer:
//! `scripts/fuzz.sh`.

#[path = "../../fuzz/src/lib.rs"]
mod entries;

use entries::Outcome;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

fn files(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz")
        .join(kind)
        .join(target);
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = rd
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    v.sort();
    v
}

/// Replay every file for `target`; report all failures at once.
fn replay(target: &str, entry: fn(&[u8]) -> Outcome) {
    let seeds = files("corpus", target);
    let names = |prefix: &str| {
        seeds
            .iter()
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
            .count()
    };
    assert!(
        names("valid-") > 0 && names("reject-") > 0,
        "fuzz/corpus/{target}/ needs valid-* and reject-* seeds (fuzz/gen-corpus.sh)"
    );
    let mut failures = Vec::new();
    let mut counts = (0, 0, 0);
    for path in seeds.iter().chain(files("regressions", target).iter()) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let shown = path
            .strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .unwrap_or(path)
            .display()
            .to_string();
        let data = std::fs::read(path).unwrap();
        let outcome = match catch_unwind(AssertUnwindSafe(|| entry(&data))) {
            Ok(o) => o,
            Err(_) => {
                failures.push(format!("{shown}: PANICKED"));
                continue;
            }
        };
        match (
            &outcome,
            name.starts_with("valid-"),
            name.starts_with("reject-"),
        ) {
            (Outcome::Accepted, _, true) => failures.push(format!("{shown}: ACCEPTED")),
            (Outcome::Rejected(code), true, _) => {
                failures.push(format!("{shown}: refused ({code}), expected acceptance"))
            }
            (Outcome::Accepted, ..) => counts.0 += 1,
            (Outcome::Rejected(_), ..) => counts.1 += 1,
        }
        counts.2 += 1;
    }
    println!(
        "{target}: {} files, {} accepted, {} refused",
        counts.2, counts.0, counts.1
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn saml_preflight_corpus_replays() {
    replay("saml_preflight", entries::saml_preflight);
}

#[test]
fn saml_validate_corpus_replays() {
    replay("saml_validate", entries::saml_validate);
}

#[test]
fn saml_profile_corpus_replays() {
    replay("saml_profile", entries::saml_profile);
}

#[test]
fn jwt_parse_corpus_replays() {
    replay("jwt_parse", entries::jwt_parse);
}

#[test]
fn jwt_claims_corpus_replays() {
    replay("jwt_claims", entries::jwt_claims);
}
