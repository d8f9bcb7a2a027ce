//! Writes the committed fuzz seeds `fuzz/corpus/<target>/` and the public JWKS
//! `fuzz/fixtures/jwks.json`. Run through `fuzz/gen-corpus.sh` (test keys only, from `certs/`).
//!
//! Deterministic except ECDSA signatures: fixed issue instant (2030-01-02T03:04:05Z, the fuzz
//! entries' `t0`), fixed IDs, RSA PKCS#1 v1.5 (deterministic). Names say what the target must do
//! with a seed, and `tests/all/fuzz_corpus.rs` asserts it: `valid-*` accepted, `reject-*` refused;
//! other names (Wycheproof vectors whose outcome is policy, inputs kept from fuzzer runs)
//! are only replayed for panics. Negative seeds are named after their attack (docs/ARCHITECTURE.md rule 9).

#[path = "../tests/all/support/jwt_idp.rs"]
mod jwt_idp;
#[path = "../tests/all/support/mutate.rs"]
mod mutate;
#[path = "../tests/all/support/saml_idp.rs"]
mod saml_idp;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use chrono::{DateTime, Duration, TimeZone, Utc};
use jwt_idp::{ec_key, jwks, mint_raw, rsa_key, SigningKey};
use saml_idp::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Same instant as `fedbroker_fuzz::t0` and the SAML tests' `harness::t0`.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 2, 3, 4, 5).unwrap()
}

const JWT_ISSUER: &str = "https://issuer.fuzz.fedbroker.local";

struct Out {
    root: PathBuf,
    count: usize,
}

impl Out {
    fn put(&mut self, target: &str, name: &str, bytes: impl AsRef<[u8]>) {
        let dir = self.root.join("corpus").join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
        self.count += 1;
    }
}

fn builder() -> SamlResponseBuilder {
    // No KeyInfo: the validator ignores it and it would add ~1 KB to every seed.
    let mut b = SamlResponseBuilder::new(t0());
    b.signature.key_info = false;
    b
}

fn saml(out: &mut Out) {
    let response_signed = builder().build_xml();
    let assertion_signed = builder().sign(SignWhat::Assertion).build_xml();
    let both_signed = builder().sign(SignWhat::Both).build_xml();
    let ec_signed = builder()
        .key(KeyPair::test_idp_ec())
        .algorithms(SigAlg::EcdsaSha256, DigestAlg::Sha256)
        .build_xml();
    let unsigned = builder().sign(SignWhat::Nothing).build_xml();

    // saml_validate: the XML document (the entry base64-encodes it).
    let v = "saml_validate";
    out.put(v, "valid-response-signed.xml", &response_signed);
    out.put(v, "valid-assertion-signed.xml", &assertion_signed);
    out.put(v, "valid-both-signed.xml", &both_signed);
    out.put(v, "valid-ecdsa-response-signed.xml", &ec_signed);
    out.put(v, "reject-unsigned.xml", &unsigned);
    out.put(
        v,
        "reject-tampered-name-id.xml",
        response_signed.replacen("alice@example.com", "admin@example.com", 1),
    );
    out.put(
        v,
        "reject-untrusted-key.xml",
        builder().key(KeyPair::attacker()).build_xml(),
    );
    out.put(
        v,
        "reject-rsa-sha1.xml",
        builder()
            .algorithms(SigAlg::RsaSha1, DigestAlg::Sha1)
            .build_xml(),
    );
    let expired = {
        let mut b = builder();
        b.issue_instant = t0() - Duration::hours(1);
        b.not_before = Some(b.issue_instant);
        b.not_on_or_after = Some(b.issue_instant + Duration::minutes(5));
        b.subject_not_on_or_after = b.not_on_or_after;
        b.build_xml()
    };
    out.put(v, "reject-expired.xml", &expired);
    let mut wrong_audience = builder();
    wrong_audience.audiences = vec!["https://evil.example/sp".into()];
    out.put(v, "reject-wrong-audience.xml", wrong_audience.build_xml());
    for (i, xsw) in [
        mutate::xsw1(&response_signed),
        mutate::xsw2(&response_signed),
        mutate::xsw3(&assertion_signed),
        mutate::xsw4(&assertion_signed),
        mutate::xsw5(&assertion_signed),
        mutate::xsw6(&assertion_signed),
        mutate::xsw7(&assertion_signed),
        mutate::xsw8(&assertion_signed),
    ]
    .iter()
    .enumerate()
    {
        out.put(v, &format!("reject-xsw{}.xml", i + 1), xsw);
    }
    let comment = mutate::inject_comment(&response_signed, "alice@example.com", "alice");
    out.put(v, "reject-comment-injection.xml", &comment);
    let xxe = mutate::doctype_xxe(&response_signed, "http://127.0.0.1:9/xxe");
    out.put(v, "reject-doctype-xxe.xml", &xxe);
    let two = mutate::append_second_assertion(&unsigned);
    out.put(v, "reject-two-assertions.xml", &two);

    // saml_preflight: raw XML and base64 form values.
    let p = "saml_preflight";
    out.put(
        p,
        "valid-response-signed.b64",
        STANDARD.encode(&response_signed),
    );
    let wrapped: Vec<String> = STANDARD
        .encode(&both_signed)
        .as_bytes()
        .chunks(76)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    out.put(p, "valid-both-signed-76-columns.b64", wrapped.join("\r\n"));
    out.put(p, "valid-assertion-signed.xml", &assertion_signed);
    out.put(
        p,
        "valid-bom-and-utf8-declaration.xml",
        format!(
            "\u{feff}<?xml version=\"1.0\" encoding=\"UTF-8\"?>{}",
            strip_xml_declaration(&response_signed)
        ),
    );
    out.put(
        p,
        "reject-rsa-sha1.xml",
        builder()
            .algorithms(SigAlg::RsaSha1, DigestAlg::Sha1)
            .build_xml(),
    );
    out.put(p, "reject-doctype-xxe.xml", &xxe);
    out.put(
        p,
        "reject-billion-laughs.xml",
        mutate::billion_laughs(&response_signed),
    );
    out.put(p, "reject-two-assertions.xml", &two);
    // Preflight accepts the shape (the signature may be inside the ciphertext); the validator
    // refuses it (the fuzz IdP has no decryption key).
    out.put(
        p,
        "valid-encrypted-assertion-shape.xml",
        mutate::encrypt_assertion_placeholder(&unsigned),
    );
    out.put(
        "saml_validate",
        "reject-encrypted-assertion.xml",
        mutate::encrypt_assertion_placeholder(&unsigned),
    );
    out.put(
        p,
        "reject-utf16-declaration.xml",
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-16\"?>{}",
            strip_xml_declaration(&response_signed)
        ),
    );
    out.put(
        p,
        "reject-latin1-byte.xml",
        [b"<a>caf".as_slice(), &[0xe9], b"</a>"].concat(),
    );
    out.put(
        p,
        "reject-deep-nesting.xml",
        format!("{}{}", "<a>".repeat(60), "</a>".repeat(60)),
    );
    out.put(
        p,
        "reject-url-safe-alphabet.b64",
        URL_SAFE_NO_PAD.encode(&response_signed),
    );
    out.put(
        p,
        "reject-extra-reference.xml",
        mutate::duplicate_ds_element(&response_signed, "Reference"),
    );

    // saml_profile: the post-signature checks on unsigned documents.
    let f = "saml_profile";
    out.put(f, "valid-response-unsigned.xml", &unsigned);
    out.put(
        f,
        "valid-assertion-root.xml",
        builder().assertion_template(),
    );
    out.put(f, "valid-both-signed.xml", &both_signed);
    let edit = |f: &dyn Fn(&mut SamlResponseBuilder)| {
        let mut b = builder().sign(SignWhat::Nothing);
        f(&mut b);
        b.build_xml()
    };
    out.put(f, "reject-expired.xml", &expired);
    out.put(
        f,
        "reject-not-yet-valid.xml",
        edit(&|b| b.not_before = Some(t0() + Duration::minutes(10))),
    );
    out.put(
        f,
        "reject-wrong-audience.xml",
        edit(&|b| b.audiences = vec!["https://evil.example/sp".into()]),
    );
    out.put(
        f,
        "reject-wrong-recipient.xml",
        edit(&|b| b.recipient = Some("https://evil.example/acs".into())),
    );
    out.put(
        f,
        "reject-status-responder.xml",
        edit(&|b| b.status_code = STATUS_RESPONDER.into()),
    );
    out.put(
        f,
        "reject-lifetime-too-long.xml",
        edit(&|b| {
            b.not_on_or_after = Some(t0() + Duration::hours(2));
            b.subject_not_on_or_after = b.not_on_or_after;
        }),
    );
    out.put(
        f,
        "reject-no-role.xml",
        edit(&|b| b.attributes.retain(|(n, _)| n != ATTR_ROLE)),
    );
    out.put(
        f,
        "reject-role-not-an-arn.xml",
        edit(&|b| b.set_attribute(ATTR_ROLE, &["Admin,arn:aws:iam::1:saml-provider/x"])),
    );
    out.put(
        f,
        "reject-duplicate-attribute.xml",
        edit(&|b| {
            b.attributes
                .push((ATTR_SESSION_NAME.into(), vec!["mallory".into()]))
        }),
    );
    out.put(
        f,
        "reject-session-name-with-space.xml",
        edit(&|b| b.set_attribute(ATTR_SESSION_NAME, &["alice smith"])),
    );
    out.put(
        f,
        "reject-bad-instant.xml",
        unsigned.replace(&saml_time(t0()), "2030-13-45T25:61:61Z"),
    );
    out.put(
        f,
        "reject-foreign-issuer.xml",
        edit(&|b| b.assertion_issuer = Some("https://evil.example/idp".into())),
    );
    out.put(
        f,
        "reject-tags.xml",
        edit(&|b| {
            b.attributes.push((
                format!("{ATTR_PRINCIPAL_TAG_PREFIX}team"),
                vec!["a".into(), "b".into()],
            ))
        }),
    );
}

fn b64u(s: &str) -> String {
    URL_SAFE_NO_PAD.encode(s)
}

fn jwt(out: &mut Out, rsa: &SigningKey, ec: &SigningKey) {
    let t = t0().timestamp();
    let claims = json!({"iss": JWT_ISSUER, "aud": "sts.amazonaws.com",
        "sub": "repo:my-org/app:ref:refs/heads/main", "iat": t, "nbf": t - 5, "exp": t + 300,
        "jti": "jti-fuzz-1"})
    .to_string();
    let rs_header = r#"{"alg":"RS256","kid":"rsa-1","typ":"JWT"}"#;
    let rs = mint_raw(rsa, rs_header, &claims);
    let es = mint_raw(ec, r#"{"alg":"ES256","kid":"ec-1","typ":"JWT"}"#, &claims);
    let j = "jwt_parse";
    out.put(j, "valid-rs256.jwt", &rs);
    out.put(j, "valid-es256.jwt", &es);
    out.put(j, "valid-no-kid-inline-jwks.txt", {
        let tok = mint_raw(rsa, r#"{"alg":"RS256"}"#, &claims);
        format!("{}\n{tok}", jwks(&[rsa]))
    });
    let mut bad = rs.clone();
    let mid = bad.len() - 20;
    let flipped = if &bad[mid..=mid] == "A" { "B" } else { "A" };
    bad.replace_range(mid..=mid, flipped);
    out.put(j, "reject-bad-signature.jwt", &bad);
    let (h, rest) = rs.split_once('.').unwrap();
    let (p, s) = rest.split_once('.').unwrap();
    out.put(
        j,
        "reject-alg-none.jwt",
        format!("{}.{p}.", b64u(r#"{"alg":"none"}"#)),
    );
    let hs = {
        let pem = String::from_utf8(rsa.public_pem.clone()).unwrap();
        let key = jsonwebtoken::EncodingKey::from_secret(pem.as_bytes());
        let input = format!("{}.{p}", b64u(r#"{"alg":"HS256","kid":"rsa-1"}"#));
        let sig =
            jsonwebtoken::crypto::sign(input.as_bytes(), &key, jsonwebtoken::Algorithm::HS256)
                .unwrap();
        format!("{input}.{sig}")
    };
    out.put(j, "reject-hs256-key-confusion.jwt", hs);
    out.put(
        j,
        "reject-jwe-five-segments.jwt",
        format!("{h}.{p}.{s}.e.f"),
    );
    out.put(
        j,
        "reject-json-serialization.jwt",
        json!({"protected": h, "payload": p, "signature": s}).to_string(),
    );
    out.put(
        j,
        "reject-duplicate-header-alg.jwt",
        mint_raw(
            rsa,
            r#"{"alg":"RS256","kid":"rsa-1","alg":"RS256"}"#,
            &claims,
        ),
    );
    out.put(
        j,
        "reject-crit.jwt",
        mint_raw(
            rsa,
            r#"{"alg":"RS256","kid":"rsa-1","crit":["exp"],"exp":1}"#,
            &claims,
        ),
    );
    out.put(
        j,
        "reject-unknown-kid.jwt",
        mint_raw(rsa, r#"{"alg":"RS256","kid":"rsa-9"}"#, &claims),
    );
    out.put(j, "reject-padded-segment.jwt", format!("{h}=.{p}.{s}"));
    out.put(j, "reject-embedded-jwk.jwt", {
        let attacker = rsa_key("oidc-attacker-rsa.key", "rsa-1");
        let header = json!({"alg":"RS256","kid":"rsa-1","jwk": attacker.jwk}).to_string();
        mint_raw(&attacker, &header, &claims)
    });
    out.put(j, "reject-key-alg-mismatch-inline-jwks.txt", {
        let mut k = rsa.jwk.clone();
        k["alg"] = json!("PS256");
        format!("{}\n{rs}", json!({ "keys": [k] }))
    });
    wycheproof(out);

    // jwt_claims: claim sets (the post-signature checks).
    let c = "jwt_claims";
    let base = json!({"iss": JWT_ISSUER, "aud": "sts.amazonaws.com",
        "sub": "repo:my-org/app:ref:refs/heads/main", "iat": t, "nbf": t - 5, "exp": t + 300,
        "jti": "jti-fuzz-1",
        "https://aws.amazon.com/tags": {"principal_tags": {"team": ["platform"]},
                                        "transitive_tag_keys": ["team"]},
        "https://aws.amazon.com/source_identity": "alice"});
    let with = |k: &str, v: Value| {
        let mut m = base.clone();
        m[k] = v;
        m.to_string()
    };
    out.put(c, "valid-claims.json", base.to_string());
    out.put(
        c,
        "valid-aud-array.json",
        with("aud", json!(["sts.amazonaws.com"])),
    );
    out.put(c, "reject-expired.json", with("exp", json!(t - 120)));
    out.put(c, "reject-not-yet-valid.json", with("nbf", json!(t + 600)));
    out.put(
        c,
        "reject-issued-in-future.json",
        with("iat", json!(t + 600)),
    );
    out.put(
        c,
        "reject-exp-as-string.json",
        with("exp", json!((t + 300).to_string())),
    );
    out.put(
        c,
        "reject-exp-as-float.json",
        with("exp", json!(t as f64 + 300.5)),
    );
    out.put(
        c,
        "reject-exp-beyond-9999.json",
        with("exp", json!(1u64 << 62)),
    );
    out.put(c, "reject-exp-negative.json", with("exp", json!(-1)));
    out.put(
        c,
        "reject-lifetime-25h.json",
        with("exp", json!(t + 25 * 3600)),
    );
    out.put(c, "reject-iss-array.json", with("iss", json!([JWT_ISSUER])));
    out.put(
        c,
        "reject-aud-extra-party.json",
        with("aud", json!(["sts.amazonaws.com", "https://other.example"])),
    );
    out.put(c, "reject-empty-sub.json", with("sub", json!("")));
    out.put(
        c,
        "reject-sub-outside-condition.json",
        with("sub", json!("repo:evil-org/app:ref:refs/heads/main")),
    );
    out.put(
        c,
        "reject-nonce-interactive-token.json",
        with("nonce", json!("n")),
    );
    out.put(
        c,
        "reject-logout-events.json",
        with(
            "events",
            json!({"http://schemas.openid.net/event/backchannel-logout": {}}),
        ),
    );
    out.put(
        c,
        "reject-tag-two-values.json",
        with(
            "https://aws.amazon.com/tags",
            json!({"principal_tags": {"team": ["a", "b"]}}),
        ),
    );
    out.put(
        c,
        "reject-tags-unknown-member.json",
        with(
            "https://aws.amazon.com/tags",
            json!({"session_policy": "*"}),
        ),
    );
    let dup = base.to_string().replacen('{', r#"{"sub":"admin","#, 1);
    out.put(c, "reject-duplicate-sub.json", dup);
}

/// Wycheproof JWS and JWK vectors (Apache-2.0, `tests/data/wycheproof/`) as
/// `JWKS\ntoken` seeds, one valid and one invalid per group. Invalid ones and algorithms outside the allowlist
/// (HMAC, none) must be refused; valid in-scope ones are only replayed (policy may refuse them,
/// see tests/all/oidc/wycheproof.rs).
fn wycheproof(out: &mut Out) {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    for file in ["json_web_signature_test.json", "json_web_key_test.json"] {
        let path = manifest.join("tests/data/wycheproof").join(file);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let d: Value = serde_json::from_slice(&bytes).unwrap();
        // One valid and one invalid vector per group keeps the corpus small (~50 KB).
        let mut taken = std::collections::BTreeSet::new();
        for (gi, g) in d["testGroups"].as_array().unwrap().iter().enumerate() {
            let key = g.get("public").unwrap_or(&g["private"]);
            let set = if key.get("keys").is_some() {
                key.clone()
            } else {
                json!({ "keys": [key] })
            };
            for t in g["tests"].as_array().unwrap() {
                let Value::String(jws) = &t["jws"] else {
                    continue;
                };
                if !taken.insert((gi, t["result"] == "valid")) {
                    continue;
                }
                let alg = jws
                    .split('.')
                    .next()
                    .and_then(|h| URL_SAFE_NO_PAD.decode(h).ok())
                    .and_then(|h| serde_json::from_slice::<Value>(&h).ok())
                    .and_then(|h| h["alg"].as_str().map(str::to_owned))
                    .unwrap_or_default();
                let refused = t["result"] == "invalid"
                    || alg.starts_with("HS")
                    || alg.eq_ignore_ascii_case("none");
                let name = format!(
                    "{}wycheproof-{}-{}.txt",
                    if refused { "reject-" } else { "" },
                    file.trim_end_matches("_test.json").replace('_', "-"),
                    t["tcId"]
                );
                out.put("jwt_parse", &name, format!("{set}\n{jws}"));
            }
        }
    }
}

fn main() {
    let root = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz"));
    let mut out = Out {
        root: root.clone(),
        count: 0,
    };
    let rsa = rsa_key("oidc-signing-rsa.key", "rsa-1");
    let ec = ec_key("oidc-signing-ec.key", "ec-1");
    std::fs::create_dir_all(root.join("fixtures")).unwrap();
    std::fs::write(root.join("fixtures/jwks.json"), jwks(&[&rsa, &ec]) + "\n").unwrap();
    saml(&mut out);
    jwt(&mut out, &rsa, &ec);
    println!("wrote {} seeds under {}", out.count, root.display());
}
