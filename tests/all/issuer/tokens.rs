//! Issuer mode: what a minted token contains (AWS shape of the tags claim, header, times, jti),
//! redaction, refusals, and the lifetime bound with expiry seen by the broker's own validator.

use crate::support::issuer as issuer_support;

use fedbroker::aws::{SessionTags, SourceIdentity};
use fedbroker::clock::{Clock, SharedClock};
use fedbroker::config::OidcProviderConfig;
use fedbroker::issuer::{Issuer, MintRequest, MAX_TOKEN_LIFETIME_SECS};
use fedbroker::oidc::{OidcError, OidcProvider, OidcValidator};
use issuer_support::*;
use secrecy::ExposeSecret;
use serde_json::json;
use std::sync::Arc;

// ---- token content -------------------------------------------------------------------------------

#[test]
fn token_header_and_claims_follow_the_aws_shape() {
    let clock = fixed_clock();
    let iss = issuer("https://broker.example.com", "demo-rsa-1", &clock);
    let t = tags(
        &[("Project", "Automation"), ("CostCenter", "987654")],
        &["Project"],
    );
    let si = SourceIdentity::parse("Admin").unwrap();
    let minted = iss
        .mint(MintRequest {
            subject: "user-1234",
            session_tags: &t,
            source_identity: Some(&si),
            audience: None,
        })
        .unwrap();
    let token = minted.token.expose_secret();
    assert_eq!(
        decode_segment(token, 0),
        json!({"alg": "RS256", "kid": "demo-rsa-1", "typ": "JWT"})
    );
    let c = decode_segment(token, 1);
    let now = clock.now().timestamp();
    assert_eq!(c["iss"], "https://broker.example.com");
    assert_eq!(c["sub"], "user-1234");
    assert_eq!(c["aud"], "sts.amazonaws.com");
    assert_eq!(c["iat"], now);
    assert_eq!(c["nbf"], now);
    assert_eq!(c["exp"], now + 300);
    assert_eq!(c["jti"], minted.jti);
    assert!(uuid::Uuid::parse_str(&minted.jti).is_ok());
    // Exactly AWS's documented shape: each value a single-element array, transitive keys a list.
    assert_eq!(
        c["https://aws.amazon.com/tags"],
        json!({
            "principal_tags": {"CostCenter": ["987654"], "Project": ["Automation"]},
            "transitive_tag_keys": ["Project"]
        })
    );
    assert_eq!(c["https://aws.amazon.com/source_identity"], "Admin");
    let names: Vec<&String> = c.as_object().unwrap().keys().collect();
    assert_eq!(names.len(), 9, "{names:?}");

    // No tags, no source identity: both claims are absent (not empty).
    let bare = iss
        .mint(MintRequest {
            subject: "user-1234",
            session_tags: &SessionTags::default(),
            source_identity: None,
            audience: Some("my-client"),
        })
        .unwrap();
    let c = decode_segment(bare.token.expose_secret(), 1);
    assert!(c.get("https://aws.amazon.com/tags").is_none());
    assert!(c.get("https://aws.amazon.com/source_identity").is_none());
    assert_eq!(c["aud"], "my-client");
    assert_ne!(bare.jti, minted.jti);
}

#[test]
fn minted_token_debug_is_redacted() {
    let clock = fixed_clock();
    let iss = issuer("https://broker.example.com", "demo-rsa-1", &clock);
    let minted = iss
        .mint(MintRequest {
            subject: "user-1234",
            session_tags: &SessionTags::default(),
            source_identity: None,
            audience: None,
        })
        .unwrap();
    let dbg = format!("{minted:?} {iss:?}");
    let token = minted.token.expose_secret();
    assert!(!dbg.contains(token.split('.').nth(1).unwrap()), "{dbg}");
    assert!(!dbg.contains(token.split('.').nth(2).unwrap()), "{dbg}");
    assert!(!dbg.contains("PRIVATE"), "{dbg}");
}

#[test]
fn bad_subject_or_audience_is_refused() {
    let clock = fixed_clock();
    let iss = issuer("https://broker.example.com", "demo-rsa-1", &clock);
    let none = SessionTags::default();
    let long = "s".repeat(256);
    for (subject, audience) in [
        ("", None),
        (long.as_str(), None),
        ("a\nb", None),
        ("ok", Some("")),
        ("ok", Some(" x")),
    ] {
        assert!(
            iss.mint(MintRequest {
                subject,
                session_tags: &none,
                source_identity: None,
                audience,
            })
            .is_err(),
            "{subject:?} {audience:?}"
        );
    }
}

#[tokio::test]
async fn lifetime_is_bounded_and_tokens_expire_for_the_validator() {
    // Configured lifetime shows in exp; the maximum is accepted, one second more is not.
    let clock = fixed_clock();
    let mut cfg = issuer_config("https://broker.example.com", "demo-rsa-1");
    cfg.token_lifetime_secs = MAX_TOKEN_LIFETIME_SECS;
    let shared: SharedClock = clock.clone();
    let iss = Issuer::from_config(&cfg, "", shared.clone()).unwrap();
    let none = SessionTags::default();
    let req = MintRequest {
        subject: SUBJECT,
        session_tags: &none,
        source_identity: None,
        audience: None,
    };
    let m = iss.mint(req).unwrap();
    assert_eq!(m.expires_at - m.issued_at, chrono::Duration::seconds(3600));
    for bad in [MAX_TOKEN_LIFETIME_SECS + 1, 0, 59] {
        cfg.token_lifetime_secs = bad;
        let errs = Issuer::from_config(&cfg, "", shared.clone()).unwrap_err();
        assert!(
            errs.iter()
                .any(|e| e.contains("issuer.token_lifetime_secs")),
            "{errs:?}"
        );
    }

    // A default (300 s) token is refused by the validator once expired (plus its 60 s leeway).
    let iss = issuer("https://broker.example.com", "demo-rsa-1", &clock);
    let m = iss.mint(req).unwrap();
    assert_eq!(m.expires_at - m.issued_at, chrono::Duration::seconds(300));
    let jwks = iss.jwks_json().to_owned();
    let cfg = OidcProviderConfig {
        name: "broker".into(),
        issuer: "https://broker.example.com".into(),
        audiences: vec!["sts.amazonaws.com".into()],
        ..Default::default()
    };
    let v = OidcValidator::new(
        vec![OidcProvider::new(&cfg, Arc::new(StaticJwks(jwks))).unwrap()],
        shared,
    )
    .unwrap();
    v.validate(m.token.expose_secret()).await.unwrap();
    clock.advance(chrono::Duration::seconds(300 + 60));
    assert!(matches!(
        v.validate(m.token.expose_secret()).await,
        Err(OidcError::Expired)
    ));
}

/// A key source over a fixed JWKS (no network), for the clock-only test above.
#[derive(Debug)]
struct StaticJwks(String);

#[async_trait::async_trait]
impl fedbroker::oidc::KeySource for StaticJwks {
    async fn key_for(
        &self,
        kid: Option<&str>,
        alg: fedbroker::oidc::SigningAlg,
    ) -> Result<Arc<fedbroker::oidc::keys::TrustedKey>, OidcError> {
        let set = fedbroker::oidc::keys::KeySet::from_jwks(self.0.as_bytes()).unwrap();
        set.select(kid, alg).map_err(|_| OidcError::KeyNotFound {
            provider: "broker".into(),
        })
    }
}
