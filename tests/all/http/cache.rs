//! The credential cache behind the real handlers, with STS = the SDK client talking to moto
//! (wrapped in `support::recording_sts` to count calls): repeated logins share one STS session,
//! a different trust context never does, replay protection still holds on a cache hit, the
//! background refresher renews assume-role entries before callers would wait, revocation purges
//! and blocks, and `/metrics` / `/readyz` report it all.
//!
//! The clock is a `FixedClock` set to the real time (moto's expirations are real-time), moved by
//! hand to reach refresh windows.

use crate::support;
use crate::support::fixtures::{admin_server, admin_token, test_saml_idp};

use actix_web::test::TestRequest;
use chrono::{TimeDelta, Utc};
use fedbroker::cache::CachingExchange;
use fedbroker::clock::Clock;
use serde_json::{json, Value};
use support::app::{test_app, TestApp};
use support::http::send;
use support::saml_idp::SamlResponseBuilder;

const DEPLOYER: &str = "arn:aws:iam::111122223333:role/Deployer";
const ADMIN_TOKEN: &str = admin_token!();

const PASS_THROUGH: &str = concat!(admin_server!(), test_saml_idp!());

const ASSUME_ROLE: &str = concat!(
    admin_server!(),
    test_saml_idp!(),
    r#"
[[rules]]
name = "deployers"
[rules.match]
provider = "test-idp"
subject = { glob = "*@example.com" }
[[rules.grants]]
role_arn = "arn:aws:iam::111122223333:role/Deployer"
mode = "assume-role"
session_name = "{subject}"
duration_seconds = 3600
"#
);

/// The per-test broker (see `support::app`) with this file's request helpers.
impl TestApp {
    async fn login(&self, saml: &str) -> (u16, String, Value) {
        let (status, headers, body) = send(
            &self.state,
            TestRequest::post()
                .uri("/v1/saml/credentials")
                .set_form([("SAMLResponse", saml)]),
        )
        .await;
        let cache = headers
            .get("x-fedbroker-cache")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        (status, cache, body)
    }

    fn cache(&self) -> CachingExchange {
        self.state.exchange().cache.clone().expect("cache enabled")
    }

    async fn revoke(&self, body: Value, token: Option<&str>) -> (u16, Value) {
        let mut req = TestRequest::post().uri("/v1/admin/revoke").set_json(body);
        if let Some(t) = token {
            req = req.insert_header(("Authorization", format!("Bearer {t}")));
        }
        let (status, _, body) = send(&self.state, req).await;
        (status, body)
    }
}

#[actix_web::test]
async fn repeated_logins_share_one_sts_session() {
    let s = test_app(PASS_THROUGH);
    let (st1, c1, first) = s.login(&s.saml(|_| {})).await;
    assert_eq!((st1, c1.as_str()), (200, "miss"), "{first}");
    let (st2, c2, second) = s.login(&s.saml(|_| {})).await;
    assert_eq!((st2, c2.as_str()), (200, "hit"), "{second}");
    assert_eq!(first["AccessKeyId"], second["AccessKeyId"]);
    assert_eq!(s.sts.calls(), 1, "the second login did not reach STS");
}

#[actix_web::test]
async fn cached_session_is_not_shared_with_a_different_trust_context() {
    // AWS may condition the role's trust policy on any SAML attribute (saml:edupersonaffiliation,
    // ...): an assertion that differs in one must not be answered with another's session.
    let s = test_app(PASS_THROUGH);
    let (st1, _, a) = s.login(&s.saml(|_| {})).await;
    let (st2, c2, b) = s
        .login(&s.saml(|b| {
            b.attributes.push((
                "urn:oid:1.3.6.1.4.1.5923.1.1.1.1".into(),
                vec!["student".into()],
            ))
        }))
        .await;
    assert_eq!((st1, st2), (200, 200), "{a} {b}");
    assert_eq!(c2, "miss");
    assert_ne!(a["AccessKeyId"], b["AccessKeyId"]);
    let (st3, c3, _) = s
        .login(&s.saml(|b| b.name_id = Some("bob@example.com".into())))
        .await;
    assert_eq!((st3, c3.as_str()), (200, "miss"), "another subject");
    assert_eq!(s.sts.calls(), 3);
}

#[actix_web::test]
async fn replayed_assertion_is_refused_even_when_its_session_is_cached() {
    let s = test_app(PASS_THROUGH);
    let saml = s.saml(|_| {});
    assert_eq!(s.login(&saml).await.0, 200);
    let (status, _, body) = s.login(&saml).await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "saml_replay");
}

#[actix_web::test]
async fn background_refresher_renews_assume_role_entries_before_callers_wait() {
    let s = test_app(ASSUME_ROLE);
    let (status, cache, first) = s.login(&s.saml(|_| {})).await;
    assert_eq!((status, cache.as_str()), (200, "miss"), "{first}");
    let c = s.cache();
    assert_eq!(c.hot_keys(), 1, "an assume-role entry is renewable");
    // Fresh: nothing to do.
    assert_eq!(c.refresh_hot().await, 0);
    assert_eq!(s.sts.calls(), 1);
    // 1 h session: the early-refresh window opens 20 min before expiry; the refresher renews a
    // minute ahead of it. Move to 20 min 30 s before expiry.
    let expiry: chrono::DateTime<Utc> = first["Expiration"].as_str().unwrap().parse().unwrap();
    s.clock
        .set(expiry - TimeDelta::minutes(20) - TimeDelta::seconds(30));
    assert_eq!(c.refresh_hot().await, 1, "renewed in the background");
    assert_eq!(s.sts.calls(), 2);
    let (status, cache, second) = s.login(&s.saml(|_| {})).await;
    assert_eq!((status, cache.as_str()), (200, "hit"), "{second}");
    assert_ne!(
        second["AccessKeyId"], first["AccessKeyId"],
        "the renewed one"
    );
    assert_eq!(s.sts.calls(), 2, "the caller did not wait on STS");
    let left = second["Expiration"]
        .as_str()
        .unwrap()
        .parse::<chrono::DateTime<Utc>>()
        .unwrap()
        - s.clock.now();
    assert!(left > TimeDelta::minutes(15), "served with {left} left");
}

#[actix_web::test]
async fn pass_through_entries_are_not_renewed_in_the_background() {
    let s = test_app(PASS_THROUGH);
    assert_eq!(s.login(&s.saml(|_| {})).await.0, 200);
    assert_eq!(s.cache().hot_keys(), 0, "the IdP's assertion is single-use");
}

#[actix_web::test]
async fn revoke_by_subject_purges_blocks_and_returns_a_narrowed_deny_policy() {
    let s = test_app(ASSUME_ROLE);
    assert_eq!(s.login(&s.saml(|_| {})).await.0, 200);
    let (status, body) = s
        .revoke(json!({ "subject": "alice@example.com" }), Some(ADMIN_TOKEN))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["purged"], 1);
    assert_eq!(body["sessions_total"], 1);
    assert_eq!(
        body["sessions"],
        json!(["arn:aws:sts::111122223333:assumed-role/Deployer/alice@example.com"])
    );
    assert!(body["blocked_until"].is_string());
    let stmt = &body["deny_policy"]["Statement"][0];
    assert_eq!(stmt["Effect"], "Deny");
    assert_eq!(
        stmt["Condition"]["StringLike"]["aws:userid"],
        json!(["*:alice@example.com"])
    );
    assert_eq!(
        stmt["Condition"]["DateLessThan"]["aws:TokenIssueTime"],
        body["revoked_at"]
    );
    assert_eq!(
        body["attach_to"],
        json!([{ "account": "111122223333", "role_name": "Deployer" }])
    );
    assert_eq!(s.cache().hot_keys(), 0, "no longer renewed");

    // Blocked: refused before STS and before the assertion is consumed.
    let saml = s.saml(|_| {});
    let (status, _, refused) = s.login(&saml).await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(refused["error"]["code"], "access_revoked");
    assert_eq!(s.sts.calls(), 1);
    // Another subject is unaffected.
    let (status, _, _) = s
        .login(&s.saml(|b| b.name_id = Some("bob@example.com".into())))
        .await;
    assert_eq!(status, 200);
    // The block ends (default 1 h); the same assertion was not consumed by the refusal.
    s.clock.advance(TimeDelta::seconds(3_601));
    let later = s.saml(|_| {});
    let (status, cache, _) = s.login(&later).await;
    assert_eq!((status, cache.as_str()), (200, "miss"));
}

#[actix_web::test]
async fn revoke_by_role_purges_every_subject_and_offers_the_role_wide_policy() {
    let s = test_app(ASSUME_ROLE);
    assert_eq!(s.login(&s.saml(|_| {})).await.0, 200);
    assert_eq!(
        s.login(&s.saml(|b| b.name_id = Some("bob@example.com".into())))
            .await
            .0,
        200
    );
    let (status, body) = s
        .revoke(
            json!({ "role_arn": DEPLOYER, "block_seconds": 0 }),
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["purged"], 2);
    assert_eq!(body["sessions_total"], 2);
    assert!(body["blocked_until"].is_null(), "purge only");
    let cond = &body["deny_policy"]["Statement"][0]["Condition"];
    assert!(cond.get("StringLike").is_none(), "role-wide: {cond}");
    // Not blocked: the next login fetches a new session.
    let (status, cache, _) = s.login(&s.saml(|_| {})).await;
    assert_eq!((status, cache.as_str()), (200, "miss"));
}

#[actix_web::test]
async fn admin_revoke_without_or_with_a_wrong_token_is_refused() {
    let s = test_app(ASSUME_ROLE);
    let target = json!({ "subject": "alice@example.com" });
    let (status, body) = s.revoke(target.clone(), None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("admin_unauthorized"))
    );
    let (status, body) = s
        .revoke(
            target.clone(),
            Some("test-admin-token-0123456789abcdef012345678X"),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("admin_unauthorized"))
    );
    assert!(!body.to_string().contains(ADMIN_TOKEN));
    // Nothing was revoked.
    assert_eq!(s.login(&s.saml(|_| {})).await.0, 200);
}

#[actix_web::test]
async fn admin_endpoints_are_disabled_without_a_configured_token() {
    let s = test_app(test_saml_idp!());
    let (status, body) = s
        .revoke(json!({ "subject": "alice@example.com" }), Some(ADMIN_TOKEN))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("admin_disabled"))
    );
}

#[actix_web::test]
async fn revoke_needs_exactly_one_target() {
    let s = test_app(ASSUME_ROLE);
    for bad in [
        json!({}),
        json!({ "subject": "a", "role_arn": DEPLOYER }),
        json!({ "role_arn": "Deployer" }),
        json!({ "subject": "" }),
    ] {
        let (status, body) = s.revoke(bad.clone(), Some(ADMIN_TOKEN)).await;
        assert_eq!(status, 400, "{bad} → {body}");
    }
    let (status, body) = s
        .revoke(json!({ "subject": "a", "extra": 1 }), Some(ADMIN_TOKEN))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_json"))
    );
    let (status, body) = s
        .revoke(
            json!({ "subject": "a", "block_seconds": 86_401 }),
            Some(ADMIN_TOKEN),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_block_seconds"))
    );
}

#[actix_web::test]
async fn metrics_count_sts_calls_cache_hits_and_served_lifetimes() {
    let s = test_app(PASS_THROUGH);
    assert_eq!(s.login(&s.saml(|_| {})).await.0, 200);
    assert_eq!(s.login(&s.saml(|_| {})).await.0, 200);
    let (status, headers, body) = send(&s.state, TestRequest::get().uri("/metrics")).await;
    assert_eq!(status, 200);
    assert!(headers
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = body.as_str().expect("text");
    for line in [
        "fedbroker_sts_calls_total{api=\"AssumeRoleWithSAML\",outcome=\"ok\"} 1",
        "fedbroker_credential_cache_hits_total 1",
        "fedbroker_credential_cache_misses_total 1",
        "fedbroker_credentials_issued_total{protocol=\"saml\",mode=\"pass-through\",cache=\"hit\"} 1",
        "fedbroker_served_credential_ttl_seconds_count{cache=\"miss\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in:\n{text}");
    }
    assert!(!text.contains("alice"), "no subject in metrics");
}

#[actix_web::test]
async fn readyz_lists_its_checks() {
    let s = test_app(PASS_THROUGH);
    let (status, _, body) = send(&s.state, TestRequest::get().uri("/readyz")).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ready");
    assert_eq!(body["checks"]["replay_store"], "ok");
    assert_eq!(body["checks"]["credential_cache"], "in-process");
}

#[actix_web::test]
async fn cache_disabled_calls_sts_every_time() {
    let s = test_app(&format!("{PASS_THROUGH}\n[cache]\nenabled = false\n"));
    let (_, c1, _) = s.login(&s.saml(|_| {})).await;
    let (_, c2, _) = s.login(&s.saml(|_| {})).await;
    assert_eq!((c1.as_str(), c2.as_str()), ("off", "off"));
    assert_eq!(s.sts.calls(), 2);
}

#[actix_web::test]
async fn cached_session_never_outlives_the_callers_idp_session() {
    let s = test_app(PASS_THROUGH);
    let now = s.clock.now();
    let ending = |mins: i64| {
        move |b: &mut SamlResponseBuilder| {
            b.session_not_on_or_after = Some(now + TimeDelta::minutes(mins))
        }
    };
    let (st, c, a) = s.login(&s.saml(ending(30))).await;
    assert_eq!((st, c.as_str()), (200, "miss"), "{a}");
    // Same IdP session (same SessionNotOnOrAfter): shared.
    let (st, c, _) = s.login(&s.saml(ending(30))).await;
    assert_eq!((st, c.as_str()), (200, "hit"));
    // An IdP session ending sooner must not get the longer-lived cached session.
    let (st, c, b) = s.login(&s.saml(ending(20))).await;
    assert_eq!((st, c.as_str()), (200, "miss"), "{b}");
    assert_eq!(s.sts.calls(), 2);
    let (dur_a, dur_b) = (a["DurationSeconds"].as_u64(), b["DurationSeconds"].as_u64());
    assert_eq!((dur_a, dur_b), (Some(1800), Some(1200)));
}
