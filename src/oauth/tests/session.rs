//! CLI sessions: lifetime bounds, refresh, logout and administrator revocation.

use super::*;
use crate::oauth::events::Grant;
use crate::oauth::session::SignIn;
use crate::oauth::{EventKind, TokenSet};
use secrecy::ExposeSecret;

async fn sign_in(h: &Harness, identity: &VerifiedIdentity) -> TokenSet {
    sign_in_at(h, identity, h.now()).await.unwrap()
}

async fn sign_in_at(
    h: &Harness,
    identity: &VerifiedIdentity,
    signed_in_at: DateTime<Utc>,
) -> Result<TokenSet, crate::oauth::TokenError> {
    h.oauth
        .create_session(SignIn {
            identity,
            signed_in_at,
            grant: Grant::DeviceCode,
        })
        .await
        .map(|(t, _)| t)
}

async fn live(h: &Harness, t: &TokenSet) -> bool {
    h.oauth
        .authenticate(t.access_token.expose_secret())
        .await
        .unwrap()
        .is_some()
}

async fn refresh(h: &Harness, t: &TokenSet) -> Result<TokenSet, crate::oauth::TokenError> {
    h.oauth
        .refresh(Some(t.refresh_token.expose_secret()), CLI)
        .await
}

#[tokio::test]
async fn access_tokens_are_short_and_refreshable_until_the_session_bound() {
    for h in stores().await {
        let name = h.name;
        let t = sign_in(&h, &alice()).await;
        assert_eq!(t.expires_in, 3600, "{name}");
        assert_eq!(t.session_expires_at, t0() + TimeDelta::hours(12));
        assert_eq!(t.token_type, "Bearer");
        let json = t.to_json();
        assert_eq!(json["session_expires_at"], "2026-03-01T21:00:00Z");
        assert_eq!(json["access_token"], t.access_token.expose_secret());
        h.advance(TimeDelta::hours(1));
        assert!(!live(&h, &t).await, "{name}: the access token expired");
        let r = refresh(&h, &t).await.unwrap();
        assert_eq!(r.event.kind, EventKind::TokenRefreshed);
        assert!(live(&h, &r).await, "{name}");
        assert_eq!(
            r.refresh_token.expose_secret(),
            t.refresh_token.expose_secret()
        );
        // Near the end an access token lasts only as long as the session.
        h.advance(TimeDelta::hours(10) + TimeDelta::minutes(30));
        let r = refresh(&h, &t).await.unwrap();
        assert_eq!(r.expires_in, 30 * 60, "{name}");
        h.done().await;
    }
}

#[tokio::test]
async fn refresh_beyond_the_session_bound_is_refused() {
    for h in stores().await {
        let t = sign_in(&h, &alice()).await;
        h.advance(TimeDelta::hours(12));
        let e = refresh(&h, &t).await.unwrap_err();
        assert_eq!(e.error(), "invalid_grant", "{}", h.name);
        assert!(!live(&h, &t).await);
        h.done().await;
    }
}

#[tokio::test]
async fn a_session_never_outlives_the_idp_session() {
    for h in stores().await {
        let end = t0() + TimeDelta::minutes(30);
        let t = sign_in(&h, &person("bob@example.com", Some(end))).await;
        assert_eq!(t.session_expires_at, end, "{}", h.name);
        assert_eq!(t.expires_in, 30 * 60);
        h.advance(TimeDelta::minutes(30));
        assert_eq!(refresh(&h, &t).await.unwrap_err().error(), "invalid_grant");
        // An identity whose IdP session already ended gets nothing.
        let e = sign_in_at(&h, &person("bob@example.com", Some(end)), h.now())
            .await
            .unwrap_err();
        assert_eq!(e.error(), "invalid_grant");
        h.done().await;
    }
    // The configured bound is the other limit (and is capped).
    let settings = crate::oauth::OauthSettings {
        cli_session_ttl: TimeDelta::hours(2),
        ..Default::default()
    };
    for h in stores_with(settings).await {
        let t = sign_in(&h, &alice()).await;
        assert_eq!(t.session_expires_at, t0() + TimeDelta::hours(2));
        h.done().await;
    }
    let settings = crate::oauth::OauthSettings {
        cli_session_ttl: TimeDelta::days(365),
        ..Default::default()
    };
    let h = stores_with(settings).await.remove(0);
    assert_eq!(
        h.oauth.settings().cli_session_ttl,
        crate::oauth::MAX_CLI_SESSION_TTL
    );
}

#[tokio::test]
async fn token_after_logout_is_refused() {
    for h in stores().await {
        let name = h.name;
        // Logout with the refresh token (what `fedbroker logout` sends) or the access token.
        for by_refresh in [true, false] {
            let t = sign_in(&h, &alice()).await;
            let presented = if by_refresh {
                t.refresh_token.expose_secret()
            } else {
                t.access_token.expose_secret()
            };
            let event = h.oauth.logout(presented).await.unwrap().expect("ended");
            assert_eq!(event.kind, EventKind::LoggedOut);
            assert_eq!(event.subject_hash, Some(alice().subject_hash()));
            assert!(!live(&h, &t).await, "{name}");
            assert_eq!(refresh(&h, &t).await.unwrap_err().error(), "invalid_grant");
            assert!(
                h.oauth.logout(presented).await.unwrap().is_none(),
                "{name}: twice"
            );
        }
        assert!(h.oauth.logout("never-issued").await.unwrap().is_none());
        h.done().await;
    }
}

#[tokio::test]
async fn token_after_revoke_is_refused_and_a_later_sign_in_works() {
    for h in stores().await {
        let name = h.name;
        let t = sign_in(&h, &alice()).await;
        let other = sign_in(&h, &person("carol@example.com", None)).await;
        // A browser session that started before the revocation.
        let old_browser_sign_in = h.now();
        h.advance(TimeDelta::minutes(5));
        h.oauth.revoke_subject("alice@example.com").await.unwrap();
        assert!(!live(&h, &t).await, "{name}: access refused");
        assert_eq!(refresh(&h, &t).await.unwrap_err().error(), "invalid_grant");
        assert!(live(&h, &other).await, "{name}: only the revoked subject");
        // Approved through the older browser session: refused.
        let e = sign_in_at(&h, &alice(), old_browser_sign_in)
            .await
            .unwrap_err();
        assert_eq!(e.error(), "invalid_grant", "{name}");
        // Signing in again afterwards works.
        h.advance(TimeDelta::seconds(1));
        let again = sign_in(&h, &alice()).await;
        assert!(live(&h, &again).await, "{name}");
        assert!(!live(&h, &t).await, "{name}: the old one stays ended");
        h.done().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_refreshes_all_succeed() {
    for h in stores().await {
        let t = sign_in(&h, &alice()).await;
        let refresh_token = t.refresh_token.expose_secret().to_owned();
        let racers = (0..8).map(|_| {
            let oauth = h.oauth.clone();
            let rt = refresh_token.clone();
            tokio::spawn(async move { oauth.refresh(Some(&rt), CLI).await.is_ok() })
        });
        let ok = futures_util::future::join_all(racers)
            .await
            .into_iter()
            .filter(|r| *r.as_ref().unwrap())
            .count();
        assert_eq!(ok, 8, "{}", h.name);
        h.done().await;
    }
}

#[tokio::test]
async fn tokens_are_never_in_debug_output_nor_store_keys() {
    for h in stores().await {
        let t = sign_in(&h, &alice()).await;
        let debug = format!("{t:?}");
        for secret in [
            t.access_token.expose_secret(),
            t.refresh_token.expose_secret(),
        ] {
            assert!(!debug.contains(secret), "{}", h.name);
            assert_eq!(secret.len(), 43);
            assert!(h
                .oauth
                .kv
                .get(&format!("oauth:at:{secret}"))
                .await
                .unwrap()
                .is_none());
            assert!(h
                .oauth
                .kv
                .get(&format!("oauth:rt:{secret}"))
                .await
                .unwrap()
                .is_none());
        }
        let session = h
            .oauth
            .authenticate(t.access_token.expose_secret())
            .await
            .unwrap()
            .unwrap();
        assert!(!format!("{session:?}").contains(t.access_token.expose_secret()));
        h.done().await;
    }
}

#[tokio::test]
async fn refresh_needs_the_cli_client_and_a_token() {
    let h = memory().await;
    let t = sign_in(&h, &alice()).await;
    let e = h
        .oauth
        .refresh(Some(t.refresh_token.expose_secret()), Some("other"))
        .await
        .unwrap_err();
    assert_eq!(e.error(), "invalid_client");
    let e = h.oauth.refresh(None, CLI).await.unwrap_err();
    assert_eq!(e.error(), "invalid_request");
    // An access token is not a refresh token.
    let e = h
        .oauth
        .refresh(Some(t.access_token.expose_secret()), CLI)
        .await
        .unwrap_err();
    assert_eq!(e.error(), "invalid_grant");
    h.done().await;
}

#[tokio::test]
async fn a_revocation_through_one_replica_ends_the_session_on_the_other() {
    let (h, other) = replicas().await;
    let t = sign_in(&h, &alice()).await;
    assert!(other
        .authenticate(t.access_token.expose_secret())
        .await
        .unwrap()
        .is_some());
    h.advance(TimeDelta::seconds(1));
    other.revoke_subject("alice@example.com").await.unwrap();
    assert!(!live(&h, &t).await);
    assert_eq!(refresh(&h, &t).await.unwrap_err().error(), "invalid_grant");
    h.done().await;
}
