//! OIDC negative suite against a live loopback HTTPS issuer: each test is named after its attack
//! (docs/SECURITY.md J01-J20) and asserts the stable error code. One positive test proves the
//! happy path works with the same setup, so every refusal is for the stated reason.

use crate::support::jwt_idp;

use fedbroker::error::{ApiError, ErrorKind};
use fedbroker::identity::Protocol;
use fedbroker::oidc::OidcValidator;
use jwt_idp::*;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;

struct Setup {
    idp: TestIdp,
    rsa: SigningKey,
    ec: SigningKey,
    attacker: SigningKey,
    clock: Arc<fedbroker::clock::FixedClock>,
    v: OidcValidator,
}

async fn setup() -> Setup {
    let rsa = rsa_key("oidc-signing-rsa.key", "rsa-1");
    let ec = ec_key("oidc-signing-ec.key", "ec-1");
    let attacker = rsa_key("oidc-attacker-rsa.key", "rsa-1");
    let idp = TestIdp::start(jwks(&[&rsa, &ec])).await;
    let clock = fixed_clock();
    let v = validator(&[idp.provider_config("ci")], clock.clone());
    Setup {
        idp,
        rsa,
        ec,
        attacker,
        clock,
        v,
    }
}

impl Setup {
    fn claims(&self) -> Value {
        claims(&self.idp.issuer, now_secs(&self.clock))
    }
    fn with(&self, f: impl FnOnce(&mut serde_json::Map<String, Value>)) -> Value {
        let mut c = self.claims();
        f(c.as_object_mut().unwrap());
        c
    }
    async fn code(&self, token: &str) -> &'static str {
        match self.v.validate(token).await {
            Ok(_) => "accepted",
            Err(e) => e.code(),
        }
    }
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

#[tokio::test]
async fn accepts_valid_rs256_and_es256_tokens() {
    let s = setup().await;
    let c = s.with(|c| {
        c.insert(
            "https://aws.amazon.com/tags".into(),
            json!({
            "principal_tags": {"Project": ["Automation"]}, "transitive_tag_keys": ["Project"]}),
        );
        c.insert(
            "https://aws.amazon.com/source_identity".into(),
            json!("Admin"),
        );
        c.insert("groups".into(), json!(["eng", "ops"]));
    });
    let id = s.v.validate(&mint(&s.rsa, &c)).await.unwrap();
    assert_eq!(id.protocol(), Protocol::Oidc);
    assert_eq!(id.subject(), SUBJECT);
    assert_eq!(id.issuer(), s.idp.issuer);
    assert_eq!(id.provider(), "ci");
    assert!(id.token_id().starts_with("jti:"));
    assert!(id.key_fingerprint().starts_with("rsa-1:"));
    assert_eq!(id.aws().tags.len(), 1);
    assert_eq!(id.aws().source_identity.as_ref().unwrap().as_str(), "Admin");
    assert_eq!(id.attributes()["groups"], vec!["eng", "ops"]);
    assert_eq!(id.expires_at().timestamp(), c["exp"].as_i64().unwrap());
    let id = s.v.validate(&mint(&s.ec, &s.claims())).await.unwrap();
    assert!(id.key_fingerprint().starts_with("ec-1:"));
}

#[tokio::test]
async fn j01_alg_none_refused() {
    let s = setup().await;
    let p = b64(&s.claims().to_string());
    let h = b64(r#"{"alg":"none","kid":"rsa-1"}"#);
    assert_eq!(s.code(&format!("{h}.{p}.")).await, "oidc_malformed");
    assert_eq!(
        s.code(&format!("{h}.{p}.c2ln")).await,
        "oidc_algorithm_forbidden"
    );
}

#[tokio::test]
async fn j02_hs256_keyed_with_the_rsa_public_key_refused() {
    let s = setup().await;
    let mut hs = s.rsa.clone();
    hs.alg = jsonwebtoken::Algorithm::HS256;
    for secret in [s.rsa.public_pem.clone(), s.rsa.jwk.to_string().into_bytes()] {
        hs.enc = jsonwebtoken::EncodingKey::from_secret(&secret);
        assert_eq!(
            s.code(&mint(&hs, &s.claims())).await,
            "oidc_algorithm_forbidden"
        );
    }
}

#[tokio::test]
async fn j02_rs_token_with_ec_key_kid_refused() {
    let s = setup().await;
    let t = mint_with_header(&s.rsa, &json!({"alg":"RS256","kid":"ec-1"}), &s.claims());
    assert_eq!(s.code(&t).await, "oidc_key_not_found");
}

#[tokio::test]
async fn j03_kid_injection_is_an_opaque_miss() {
    let s = setup().await;
    for kid in ["../../../../dev/null", "' OR '1'='1", "/etc/passwd"] {
        let t = mint_with_header(&s.rsa, &json!({"alg":"RS256","kid":kid}), &s.claims());
        assert_eq!(s.code(&t).await, "oidc_key_not_found", "{kid}");
    }
    let long = "k".repeat(10_000);
    let t = mint_with_header(&s.rsa, &json!({"alg":"RS256","kid":long}), &s.claims());
    assert_eq!(s.code(&t).await, "oidc_malformed");
    let t = mint_with_header(
        &s.rsa,
        &json!({"alg":"RS256","kid":"rsa-1\u{0}"}),
        &s.claims(),
    );
    assert_eq!(s.code(&t).await, "oidc_malformed");
}

#[tokio::test]
async fn j04_embedded_jwk_x5c_and_jku_are_ignored() {
    let s = setup().await;
    let listener = CountingListener::start().await;
    let headers = [
        json!({"alg":"RS256","kid":"rsa-1","jwk": s.attacker.jwk}),
        json!({"alg":"RS256","kid":"rsa-1","jku": listener.url}),
        json!({"alg":"RS256","kid":"rsa-1","x5u": listener.url}),
        json!({"alg":"RS256","kid":"rsa-1","x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]}),
    ];
    for h in headers {
        let t = mint_with_header(&s.attacker, &h, &s.claims());
        assert_eq!(s.code(&t).await, "oidc_signature_invalid", "{h}");
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(
        listener.connections.load(Ordering::SeqCst),
        0,
        "jku/x5u must never be fetched"
    );
    // The same headers on a genuinely signed token change nothing either.
    let t = mint_with_header(
        &s.rsa,
        &json!({"alg":"RS256","kid":"rsa-1","jku": listener.url}),
        &s.claims(),
    );
    assert_eq!(s.code(&t).await, "accepted");
}

#[tokio::test]
async fn j05_es256_psychic_signature_r_s_zero_refused() {
    let s = setup().await;
    let t = mint(&s.ec, &s.claims());
    let input = t.rsplit_once('.').unwrap().0;
    use base64::Engine;
    let zero = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([0u8; 64]);
    assert_eq!(
        s.code(&format!("{input}.{zero}")).await,
        "oidc_signature_invalid"
    );
}

#[tokio::test]
async fn j06_padded_or_non_url_base64_refused() {
    let s = setup().await;
    let t = mint(&s.rsa, &s.claims());
    assert_eq!(s.code(&format!("{t}=")).await, "oidc_malformed");
    assert_eq!(
        s.code(&t.replacen('-', "+", 1).replacen('_', "/", 1)).await,
        "oidc_malformed"
    );
}

#[tokio::test]
async fn j07_exp_as_string_cve_2026_25537_refused() {
    let s = setup().await;
    let c = s.with(|c| {
        c.insert("exp".into(), json!("9999999999"));
    });
    assert_eq!(s.code(&mint(&s.rsa, &c)).await, "oidc_claim_invalid");
    let c = s.with(|c| {
        c.insert("nbf".into(), json!("0"));
    });
    assert_eq!(s.code(&mint(&s.rsa, &c)).await, "oidc_claim_invalid");
}

#[tokio::test]
async fn j07_exp_missing_float_huge_negative_refused() {
    let s = setup().await;
    let now = now_secs(&s.clock);
    for exp in [
        json!(null),
        json!(1e300),
        json!((now + 60) as f64 + 0.5),
        json!(-1),
        json!(18446744073709551615u64),
    ] {
        let c = s.with(|c| {
            if exp.is_null() {
                c.remove("exp");
            } else {
                c.insert("exp".into(), exp.clone());
            }
        });
        assert_eq!(
            s.code(&mint(&s.rsa, &c)).await,
            "oidc_claim_invalid",
            "{exp}"
        );
    }
}

#[tokio::test]
async fn j07_expired_nbf_future_iat_future_refused_beyond_leeway() {
    let s = setup().await;
    let now = now_secs(&s.clock);
    let c = s.with(|c| {
        c.insert("iat".into(), json!(now - 600));
        c.insert("nbf".into(), json!(now - 600));
        c.insert("exp".into(), json!(now - 61));
    });
    assert_eq!(s.code(&mint(&s.rsa, &c)).await, "oidc_expired");
    let c = s.with(|c| {
        c.insert("exp".into(), json!(now - 30)); // within leeway
    });
    assert_eq!(s.code(&mint(&s.rsa, &c)).await, "accepted");
    let c = s.with(|c| {
        c.insert("nbf".into(), json!(now + 120));
    });
    assert_eq!(s.code(&mint(&s.rsa, &c)).await, "oidc_not_yet_valid");
    let c = s.with(|c| {
        c.insert("iat".into(), json!(now + 120));
        c.remove("nbf");
    });
    assert_eq!(s.code(&mint(&s.rsa, &c)).await, "oidc_issued_in_future");
    let c = s.with(|c| {
        c.insert("exp".into(), json!(now + 3 * 86400));
    });
    assert_eq!(
        s.code(&mint(&s.rsa, &c)).await,
        "oidc_claim_invalid",
        "lifetime cap"
    );
}

#[tokio::test]
async fn j08_iss_array_missing_or_variant_refused() {
    let s = setup().await;
    let iss = s.idp.issuer.clone();
    let c = s.with(|c| {
        c.insert("iss".into(), json!(["https://evil.example", iss]));
    });
    assert_eq!(s.code(&mint(&s.rsa, &c)).await, "oidc_issuer_mismatch");
    let c = s.with(|c| {
        c.remove("iss");
    });
    assert_eq!(s.code(&mint(&s.rsa, &c)).await, "oidc_issuer_mismatch");
    for variant in [
        format!("{iss}/"),
        iss.to_uppercase(),
        "https://evil.example".into(),
    ] {
        let c = s.with(|c| {
            c.insert("iss".into(), json!(variant));
        });
        assert_eq!(
            s.code(&mint(&s.rsa, &c)).await,
            "oidc_issuer_unknown",
            "{variant}"
        );
    }
}

#[tokio::test]
async fn j09_aud_missing_wrong_typed_or_with_extra_audience_refused() {
    let s = setup().await;
    for aud in [
        json!(null),
        json!("evil"),
        json!(123),
        json!({"x":1}),
        json!([]),
        json!([AUDIENCE, "evil"]),
    ] {
        let c = s.with(|c| {
            if aud.is_null() {
                c.remove("aud");
            } else {
                c.insert("aud".into(), aud.clone());
            }
        });
        assert_eq!(
            s.code(&mint(&s.rsa, &c)).await,
            "oidc_audience_mismatch",
            "{aud}"
        );
    }
    let c = s.with(|c| {
        c.insert("aud".into(), json!([AUDIENCE]));
    });
    assert_eq!(s.code(&mint(&s.rsa, &c)).await, "accepted");
}

#[tokio::test]
async fn j10_j11_interactive_id_tokens_refused() {
    let s = setup().await;
    for claim in ["nonce", "at_hash", "c_hash"] {
        let c = s.with(|c| {
            c.insert(claim.into(), json!("abc"));
        });
        assert_eq!(
            s.code(&mint(&s.rsa, &c)).await,
            "oidc_interactive_token",
            "{claim}"
        );
    }
}

#[tokio::test]
async fn j12_logout_and_typed_tokens_refused() {
    let s = setup().await;
    let c = s.with(|c| {
        c.insert(
            "events".into(),
            json!({"http://schemas.openid.net/event/backchannel-logout": {}}),
        );
    });
    assert_eq!(s.code(&mint(&s.rsa, &c)).await, "oidc_token_type_forbidden");
    let t = mint_with_header(
        &s.rsa,
        &json!({"alg":"RS256","kid":"rsa-1","typ":"logout+jwt"}),
        &s.claims(),
    );
    assert_eq!(s.code(&t).await, "oidc_token_type_forbidden");
    let t = mint_with_header(
        &s.rsa,
        &json!({"alg":"RS256","kid":"rsa-1","typ":"at+jwt"}),
        &s.claims(),
    );
    assert_eq!(s.code(&t).await, "accepted");
}

#[tokio::test]
async fn j13_crit_refused() {
    let s = setup().await;
    for crit in [json!(["b64"]), json!(["exp"]), json!([]), json!(["urn:x"])] {
        let t = mint_with_header(
            &s.rsa,
            &json!({"alg":"RS256","kid":"rsa-1","crit":crit}),
            &s.claims(),
        );
        assert_eq!(s.code(&t).await, "oidc_crit_unsupported", "{crit}");
    }
}

#[tokio::test]
async fn j16_jwe_dots_and_oversized_tokens_refused() {
    let s = setup().await;
    assert_eq!(
        s.code("eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d").await,
        "oidc_malformed"
    );
    assert_eq!(s.code(&".".repeat(10_000)).await, "oidc_malformed");
    let big = format!("{}.{}.c2ln", b64(r#"{"alg":"RS256"}"#), "A".repeat(1 << 20));
    let e = s.v.validate(&big).await.unwrap_err();
    assert_eq!(
        (e.code(), e.kind()),
        ("oidc_token_too_large", ErrorKind::TooLarge)
    );
}

#[tokio::test]
async fn j17_duplicate_claims_and_header_names_refused() {
    let s = setup().await;
    let c = s.claims().to_string();
    let dup_sub = format!(r#"{{"sub":"admin",{}"#, &c[1..]);
    let t = mint_raw(&s.rsa, r#"{"alg":"RS256","kid":"rsa-1"}"#, &dup_sub);
    assert_eq!(s.code(&t).await, "oidc_malformed");
    let t = mint_raw(&s.rsa, r#"{"alg":"RS256","kid":"rsa-1","kid":"ec-1"}"#, &c);
    assert_eq!(s.code(&t).await, "oidc_malformed");
}

#[tokio::test]
async fn j18_json_serialization_refused() {
    let s = setup().await;
    let t = mint(&s.rsa, &s.claims());
    let parts: Vec<&str> = t.split('.').collect();
    let js = json!({"protected": parts[0], "payload": parts[1], "signature": parts[2]}).to_string();
    assert_eq!(s.code(&js).await, "oidc_malformed");
}

#[tokio::test]
async fn j20_cross_issuer_kid_does_not_verify() {
    // Two providers publishing the same kid; a token claiming issuer A signed with B's key fails.
    let a = rsa_key("oidc-signing-rsa.key", "shared");
    let b = rsa_key("oidc-signing-rsa2.key", "shared");
    let idp_a = TestIdp::start(jwks(&[&a])).await;
    let idp_b = TestIdp::start(jwks(&[&b])).await;
    let clock = fixed_clock();
    let v = validator(
        &[idp_a.provider_config("a"), idp_b.provider_config("b")],
        clock.clone(),
    );
    let now = now_secs(&clock);
    assert!(v
        .validate(&mint(&b, &claims(&idp_b.issuer, now)))
        .await
        .is_ok());
    let e = v
        .validate(&mint(&b, &claims(&idp_a.issuer, now)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "oidc_signature_invalid");
}

#[tokio::test]
async fn sub_missing_or_empty_refused() {
    let s = setup().await;
    for sub in [json!(null), json!(""), json!(5)] {
        let c = s.with(|c| {
            if sub.is_null() {
                c.remove("sub");
            } else {
                c.insert("sub".into(), sub.clone());
            }
        });
        assert_eq!(
            s.code(&mint(&s.rsa, &c)).await,
            "oidc_subject_missing",
            "{sub}"
        );
    }
}

#[tokio::test]
async fn algorithm_outside_provider_allowlist_refused() {
    let rsa = rsa_key("oidc-signing-rsa.key", "rsa-1");
    let ec = ec_key("oidc-signing-ec.key", "ec-1");
    let idp = TestIdp::start(jwks(&[&rsa, &ec])).await;
    let clock = fixed_clock();
    let mut cfg = idp.provider_config("ci");
    cfg.allowed_algorithms = Some(vec!["RS256".into()]);
    let v = validator(&[cfg], clock.clone());
    let e = v
        .validate(&mint(&ec, &claims(&idp.issuer, now_secs(&clock))))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "oidc_algorithm_forbidden");
}

#[tokio::test]
async fn claim_conditions_and_aws_claims_enforced() {
    let rsa = rsa_key("oidc-signing-rsa.key", "rsa-1");
    let idp = TestIdp::start(jwks(&[&rsa])).await;
    let clock = fixed_clock();
    let mut cfg = idp.provider_config("ci");
    cfg.claim_conditions = Some([("sub".to_string(), vec!["repo:my-org/*".to_string()])].into());
    let v = validator(&[cfg], clock.clone());
    let now = now_secs(&clock);
    assert!(v
        .validate(&mint(&rsa, &claims(&idp.issuer, now)))
        .await
        .is_ok());
    let mut c = claims(&idp.issuer, now);
    c["sub"] = json!("repo:other-org/app:ref:refs/heads/main");
    let e = v.validate(&mint(&rsa, &c)).await.unwrap_err();
    assert_eq!(
        (e.code(), e.kind()),
        ("oidc_condition_failed", ErrorKind::Forbidden)
    );
    let mut c = claims(&idp.issuer, now);
    c["https://aws.amazon.com/tags"] = json!({"principal_tags": {"P": ["a", "b"]}});
    assert_eq!(
        v.validate(&mint(&rsa, &c)).await.unwrap_err().code(),
        "oidc_claim_invalid"
    );
}

#[tokio::test]
async fn errors_never_echo_the_token() {
    let s = setup().await;
    let c = s.with(|c| {
        c.insert("aud".into(), json!("evil-audience-marker"));
    });
    let t = mint(&s.rsa, &c);
    let e = s.v.validate(&t).await.unwrap_err();
    let msg = e.to_string();
    assert!(
        !msg.contains(&t[..20]) && !msg.contains("evil-audience-marker"),
        "{msg}"
    );
}
