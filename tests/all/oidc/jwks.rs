//! JWKS cache behaviour against a live loopback HTTPS issuer (docs/SECURITY.md J14, J15): key rotation
//! picked up on an unknown kid without restart, refetch storms bounded by the cooldown (requests
//! counted at the server), stale-while-error while the IdP is down and fail-closed after the
//! maximum stale age, discovery issuer mismatch refused, kid-less tokens.

use crate::support::jwt_idp;

use chrono::Duration;
use fedbroker::error::ApiError;
use fedbroker::oidc::jwks::{MAX_STALE, REFETCH_COOLDOWN};
use jwt_idp::*;
use serde_json::json;

#[tokio::test]
async fn rotation_is_picked_up_on_unknown_kid_without_restart() {
    let k1 = rsa_key("oidc-signing-rsa.key", "k1");
    let k2 = rsa_key("oidc-signing-rsa2.key", "k2");
    let idp = TestIdp::start(jwks(&[&k1])).await;
    let clock = fixed_clock();
    let v = validator(&[idp.provider_config("ci")], clock.clone());
    assert!(v
        .validate(&mint(&k1, &claims(&idp.issuer, now_secs(&clock))))
        .await
        .is_ok());
    assert_eq!(idp.jwks_hits(), 1);
    idp.set_jwks(jwks(&[&k1, &k2]));
    // Within the cooldown the new kid is not fetched yet.
    let e = v
        .validate(&mint(&k2, &claims(&idp.issuer, now_secs(&clock))))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "oidc_key_not_found");
    assert_eq!(idp.jwks_hits(), 1);
    clock.advance(REFETCH_COOLDOWN + Duration::seconds(1));
    assert!(v
        .validate(&mint(&k2, &claims(&idp.issuer, now_secs(&clock))))
        .await
        .is_ok());
    assert_eq!(idp.jwks_hits(), 2);
    // The old key still works from the same fetch, without another request.
    assert!(v
        .validate(&mint(&k1, &claims(&idp.issuer, now_secs(&clock))))
        .await
        .is_ok());
    assert_eq!(idp.jwks_hits(), 2);
}

#[tokio::test]
async fn unknown_kid_flood_is_bounded_by_the_cooldown() {
    let k1 = rsa_key("oidc-signing-rsa.key", "k1");
    let idp = TestIdp::start(jwks(&[&k1])).await;
    let clock = fixed_clock();
    let v = validator(&[idp.provider_config("ci")], clock.clone());
    let now = now_secs(&clock);
    let flood = |n: usize| {
        let tokens: Vec<String> = (0..n)
            .map(|i| {
                mint_with_header(
                    &k1,
                    &json!({"alg":"RS256","kid":format!("made-up-{i}")}),
                    &claims(&idp.issuer, now),
                )
            })
            .collect();
        tokens
    };
    // Concurrent first requests share one fetch (single flight).
    let toks = flood(50);
    let results = futures_util::future::join_all(toks.iter().map(|t| v.validate(t))).await;
    assert!(results
        .iter()
        .all(|r| r.as_ref().unwrap_err().code() == "oidc_key_not_found"));
    assert_eq!(idp.jwks_hits(), 1, "50 concurrent unknown kids: one fetch");
    for t in flood(50) {
        assert_eq!(
            v.validate(&t).await.unwrap_err().code(),
            "oidc_key_not_found"
        );
    }
    assert_eq!(
        idp.jwks_hits(),
        1,
        "sequential flood within the cooldown: no fetch"
    );
    clock.advance(REFETCH_COOLDOWN + Duration::seconds(1));
    for t in flood(50) {
        let _ = v.validate(&t).await;
    }
    assert_eq!(idp.jwks_hits(), 2, "one more fetch per cooldown period");
}

#[tokio::test]
async fn stale_keys_serve_while_the_idp_is_down_then_fail_closed() {
    let k1 = rsa_key("oidc-signing-rsa.key", "k1");
    let idp = TestIdp::start(jwks(&[&k1])).await;
    let clock = fixed_clock();
    let v = validator(&[idp.provider_config("ci")], clock.clone());
    assert!(v
        .validate(&mint(&k1, &claims(&idp.issuer, now_secs(&clock))))
        .await
        .is_ok());
    idp.set_down(true);
    clock.advance(Duration::minutes(11)); // past the 10-minute TTL
    assert!(v
        .validate(&mint(&k1, &claims(&idp.issuer, now_secs(&clock))))
        .await
        .is_ok());
    let discovery_hits = idp.hits("/.well-known/openid-configuration");
    assert_eq!(discovery_hits, 2, "the refresh was attempted");
    // Within the cooldown the down IdP is not asked again.
    assert!(v
        .validate(&mint(&k1, &claims(&idp.issuer, now_secs(&clock))))
        .await
        .is_ok());
    assert_eq!(idp.hits("/.well-known/openid-configuration"), 2);
    clock.advance(MAX_STALE);
    let e = v
        .validate(&mint(&k1, &claims(&idp.issuer, now_secs(&clock))))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "oidc_discovery_failed");
    assert!(e.retry_after().is_some());
    // Back up: recovers on the next attempt after the cooldown.
    idp.set_down(false);
    clock.advance(REFETCH_COOLDOWN + Duration::seconds(1));
    assert!(v
        .validate(&mint(&k1, &claims(&idp.issuer, now_secs(&clock))))
        .await
        .is_ok());
}

#[tokio::test]
async fn discovery_issuer_mismatch_is_refused() {
    let k1 = rsa_key("oidc-signing-rsa.key", "k1");
    let idp = TestIdp::start(jwks(&[&k1])).await;
    idp.set_discovery_issuer("https://evil.example");
    let clock = fixed_clock();
    let v = validator(&[idp.provider_config("ci")], clock.clone());
    let e = v
        .validate(&mint(&k1, &claims(&idp.issuer, now_secs(&clock))))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "oidc_discovery_failed");
    assert_eq!(
        idp.jwks_hits(),
        0,
        "no JWKS fetched from an unverified discovery document"
    );
}

#[tokio::test]
async fn untrusted_tls_certificate_is_refused() {
    let k1 = rsa_key("oidc-signing-rsa.key", "k1");
    let idp = TestIdp::start(jwks(&[&k1])).await;
    let clock = fixed_clock();
    let mut cfg = idp.provider_config("ci");
    cfg.ca_file = None; // the test CA is not a webpki root
    let v = validator(&[cfg], clock.clone());
    let e = v
        .validate(&mint(&k1, &claims(&idp.issuer, now_secs(&clock))))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "oidc_discovery_failed");
}

#[tokio::test]
async fn kidless_token_uses_the_single_key_and_refuses_ambiguity() {
    let k1 = rsa_key("oidc-signing-rsa.key", "k1");
    let k2 = rsa_key("oidc-signing-rsa2.key", "k2");
    let idp = TestIdp::start(jwks(&[&k1])).await;
    let clock = fixed_clock();
    let v = validator(&[idp.provider_config("ci")], clock.clone());
    let t = mint_with_header(
        &k1,
        &json!({"alg":"RS256"}),
        &claims(&idp.issuer, now_secs(&clock)),
    );
    assert!(v.validate(&t).await.is_ok());

    let idp2 = TestIdp::start(jwks(&[&k1, &k2])).await;
    let v2 = validator(&[idp2.provider_config("ci")], clock.clone());
    let t = mint_with_header(
        &k1,
        &json!({"alg":"RS256"}),
        &claims(&idp2.issuer, now_secs(&clock)),
    );
    assert_eq!(
        v2.validate(&t).await.unwrap_err().code(),
        "oidc_key_ambiguous"
    );
}

#[tokio::test]
async fn duplicate_kid_in_jwks_is_unusable() {
    let k1 = rsa_key("oidc-signing-rsa.key", "dup");
    let k2 = rsa_key("oidc-signing-rsa2.key", "dup");
    let idp = TestIdp::start(jwks(&[&k1, &k2])).await;
    let clock = fixed_clock();
    let v = validator(&[idp.provider_config("ci")], clock.clone());
    let e = v
        .validate(&mint(&k1, &claims(&idp.issuer, now_secs(&clock))))
        .await
        .unwrap_err();
    assert!(
        matches!(e.code(), "oidc_key_ambiguous" | "oidc_jwks_unavailable"),
        "{}",
        e.code()
    );
}

#[tokio::test]
async fn oversized_jwks_is_refused_without_trusting_any_key() {
    use fedbroker::oidc::fetch::MAX_JWKS_BYTES;
    let k1 = rsa_key("oidc-signing-rsa.key", "k1");
    // A valid JWKS holding the real key, padded past the cap with a huge ignored member.
    let mut set: serde_json::Value = serde_json::from_str(&jwks(&[&k1])).unwrap();
    set["padding"] = json!("x".repeat(MAX_JWKS_BYTES + 1));
    let idp = TestIdp::start(set.to_string()).await;
    let clock = fixed_clock();
    let v = validator(&[idp.provider_config("ci")], clock.clone());
    let e = v
        .validate(&mint(&k1, &claims(&idp.issuer, now_secs(&clock))))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "oidc_jwks_unavailable", "{e}");
    assert_eq!(idp.jwks_hits(), 1);
}

#[tokio::test]
async fn jwks_with_too_many_keys_is_refused() {
    use fedbroker::oidc::keys::MAX_JWKS_KEYS;
    let k1 = rsa_key("oidc-signing-rsa.key", "k1");
    let mut set: serde_json::Value = serde_json::from_str(&jwks(&[&k1])).unwrap();
    let one = set["keys"][0].clone();
    let keys = set["keys"].as_array_mut().unwrap();
    for i in 0..MAX_JWKS_KEYS {
        let mut k = one.clone();
        k["kid"] = json!(format!("filler-{i}"));
        keys.push(k);
    }
    let idp = TestIdp::start(set.to_string()).await;
    let clock = fixed_clock();
    let v = validator(&[idp.provider_config("ci")], clock.clone());
    let e = v
        .validate(&mint(&k1, &claims(&idp.issuer, now_secs(&clock))))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "oidc_jwks_unavailable", "{e}");
}

#[tokio::test]
async fn a_configured_refetch_cooldown_replaces_the_default() {
    let k1 = rsa_key("oidc-signing-rsa.key", "k1");
    let k2 = rsa_key("oidc-signing-rsa2.key", "k2");
    let idp = TestIdp::start(jwks(&[&k1])).await;
    let clock = fixed_clock();
    let mut cfg = idp.provider_config("ci");
    cfg.jwks_refetch_cooldown_secs = Some(5);
    let v = validator(&[cfg], clock.clone());
    assert!(v
        .validate(&mint(&k1, &claims(&idp.issuer, now_secs(&clock))))
        .await
        .is_ok());
    assert_eq!(idp.jwks_hits(), 1);
    idp.set_jwks(jwks(&[&k1, &k2]));
    // Just short of the configured cooldown: not fetched again.
    clock.advance(Duration::seconds(4));
    let e = v
        .validate(&mint(&k2, &claims(&idp.issuer, now_secs(&clock))))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "oidc_key_not_found");
    assert_eq!(idp.jwks_hits(), 1);
    // Once it has passed (well before the default's 30 s), the new key is fetched and accepted.
    clock.advance(Duration::seconds(1));
    assert!(v
        .validate(&mint(&k2, &claims(&idp.issuer, now_secs(&clock))))
        .await
        .is_ok());
    assert_eq!(idp.jwks_hits(), 2);
}
