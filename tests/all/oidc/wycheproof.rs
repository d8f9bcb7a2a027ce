//! Wycheproof JWS/JWK vectors (Apache-2.0, `tests/data/wycheproof/`) through the broker's own
//! signature path: `verify_jws_signature` (one JWK) and `verify_jws_with_jwks` (JWKS ingest + kid
//! selection). Valid RS/PS/ES256/ES384 vectors must pass, invalid ones must fail. Vectors outside
//! the allowlist (HMAC, ES512) must be refused; a valid vector refused by a deliberate policy is
//! listed in `POLICY_REFUSALS` with the reason, and every other valid one must pass.

use fedbroker::oidc::{verify_jws_signature, verify_jws_with_jwks, SigningAlg};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// (file, tcId, reason): valid per Wycheproof, refused on purpose here.
const POLICY_REFUSALS: &[(&str, u64, &str)] = &[
    (
        "json_web_signature_test.json",
        346,
        "RFC 7520 Figure 20 is PS384 but the JWK says alg PS256: a key's alg fixes its one algorithm",
    ),
    (
        "json_web_signature_test.json",
        350,
        "the same Figure 20 with key_ops: PS384 token, JWK alg PS256",
    ),
];

fn data(file: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/wycheproof")
        .join(file);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap()
}

fn jws_text(t: &Value) -> String {
    match &t["jws"] {
        Value::String(s) => s.clone(),
        other => other.to_string(), // JSON serialization: must be refused
    }
}

/// The header alg, if the token's first segment decodes to JSON with a string alg.
fn header_alg(jws: &str) -> Option<String> {
    use base64::Engine;
    let h = jws.split('.').next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(h)
        .ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    v["alg"].as_str().map(str::to_owned)
}

#[derive(Default, Debug)]
struct Counts {
    valid_passed: usize,
    invalid_failed: usize,
    skipped_refused: usize,
    policy_refused: usize,
}

fn run(
    file: &str,
    verify: impl Fn(&Value, &str) -> Result<Vec<u8>, fedbroker::oidc::OidcError>,
) -> BTreeMap<String, Counts> {
    let d = data(file);
    let mut by_group: BTreeMap<String, Counts> = BTreeMap::new();
    let mut failures = Vec::new();
    for g in d["testGroups"].as_array().unwrap() {
        let name = g["comment"].as_str().unwrap_or("?").to_owned();
        for t in g["tests"].as_array().unwrap() {
            let id = t["tcId"].as_u64().unwrap();
            let jws = jws_text(t);
            let valid = t["result"] == "valid";
            // Out of scope: a readable header naming an algorithm we never accept (HS*, none,
            // ES512), or a group without a public key. Unreadable headers stay in scope.
            let in_scope = header_alg(&jws).is_none_or(|a| SigningAlg::parse(&a).is_some())
                && g.get("public").is_some();
            let result = verify(g, &jws);
            let c = by_group.entry(name.clone()).or_default();
            match (in_scope, valid, result.is_ok()) {
                // Out of scope (HMAC, ES512, none, no public key): must be refused whatever Wycheproof says.
                (false, _, false) => c.skipped_refused += 1,
                (false, _, true) => failures.push(format!(
                    "{file} #{id} ({name}): out-of-scope vector accepted"
                )),
                (true, true, true) => c.valid_passed += 1,
                (true, false, false) => c.invalid_failed += 1,
                (true, false, true) => failures.push(format!(
                    "{file} #{id} ({name}) {}: invalid vector ACCEPTED",
                    t["comment"]
                )),
                (true, true, false) => {
                    if POLICY_REFUSALS
                        .iter()
                        .any(|(f, i, _)| *f == file && *i == id)
                    {
                        c.policy_refused += 1;
                    } else {
                        failures.push(format!(
                            "{file} #{id} ({name}) {}: valid vector refused: {}",
                            t["comment"],
                            result.unwrap_err()
                        ));
                    }
                }
            }
        }
    }
    for (g, c) in &by_group {
        println!(
            "{file} {g:>22}: valid passed {:>3}, invalid failed {:>3}, out of scope (refused) {:>3}, policy-refused {}",
            c.valid_passed, c.invalid_failed, c.skipped_refused, c.policy_refused
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    by_group
}

fn total(m: &BTreeMap<String, Counts>) -> Counts {
    m.values().fold(Counts::default(), |mut a, c| {
        a.valid_passed += c.valid_passed;
        a.invalid_failed += c.invalid_failed;
        a.skipped_refused += c.skipped_refused;
        a.policy_refused += c.policy_refused;
        a
    })
}

#[test]
fn wycheproof_json_web_signature_vectors() {
    let m = run("json_web_signature_test.json", |g, jws| {
        // No public key (HMAC groups): hand over the private JWK, which ingest must refuse.
        let key = g.get("public").unwrap_or(&g["private"]);
        verify_jws_signature(jws, key)
    });
    let t = total(&m);
    println!("TOTAL json_web_signature: {t:?}");
    assert!(t.valid_passed >= 20 && t.invalid_failed >= 250, "{t:?}");
    assert_eq!(
        m["SpecialCaseEs256"].invalid_failed, 23,
        "psychic signatures (J05)"
    );
}

#[test]
fn wycheproof_json_web_key_vectors() {
    let m = run("json_web_key_test.json", |g, jws| {
        let set = g.get("public").unwrap_or(&g["private"]);
        let set = if set.get("keys").is_some() {
            set.clone()
        } else {
            serde_json::json!({ "keys": [set] })
        };
        verify_jws_with_jwks(jws, set.to_string().as_bytes())
    });
    let t = total(&m);
    println!("TOTAL json_web_key: {t:?}");
    assert!(t.valid_passed >= 1, "{t:?}");
}
