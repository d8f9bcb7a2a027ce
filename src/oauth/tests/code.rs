//! The authorization code grant with PKCE and a loopback redirect, and the attacks on it.

use super::*;
use crate::oauth::code::{s256, CODE_TTL};
use crate::oauth::{AuthorizeError, AuthorizeRequest, EventKind, TokenError, ValidAuthorize};
use secrecy::ExposeSecret;

const REDIRECT: &str = "http://127.0.0.1:49152/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

fn request<'a>(redirect_uri: &'a str, challenge: &'a str) -> AuthorizeRequest<'a> {
    AuthorizeRequest {
        response_type: Some("code"),
        client_id: CLI,
        redirect_uri: Some(redirect_uri),
        code_challenge: Some(challenge),
        code_challenge_method: Some("S256"),
        state: Some("st4te"),
    }
}

/// Validate, approve as Alice, and return the code.
async fn code_for(h: &Harness, redirect_uri: &str) -> String {
    let challenge = s256(VERIFIER);
    let valid = h
        .oauth
        .validate_authorize(&request(redirect_uri, &challenge))
        .unwrap();
    let (code, location, event) = h
        .oauth
        .issue_code(&valid, &alice(), h.now(), "127.0.0.1")
        .await
        .unwrap();
    assert_eq!(event.kind, EventKind::CodeIssued);
    assert_eq!(
        location.expose_secret(),
        format!("{redirect_uri}?code={}&state=st4te", code.expose_secret())
    );
    code.expose_secret().to_owned()
}

async fn exchange(
    h: &Harness,
    code: &str,
    redirect_uri: &str,
    verifier: Option<&str>,
) -> Result<crate::oauth::TokenSet, TokenError> {
    h.oauth
        .exchange_code(Some(code), Some(redirect_uri), verifier, CLI)
        .await
}

#[test]
fn the_rfc_7636_example_challenge() {
    assert_eq!(
        s256(VERIFIER),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
}

#[tokio::test]
async fn loopback_sign_in_gives_a_session() {
    for h in stores().await {
        for redirect in [
            REDIRECT,
            "http://[::1]:8400/",
            "http://127.0.0.1:1/a/b-c_d.e~f",
        ] {
            let code = code_for(&h, redirect).await;
            let tokens = exchange(&h, &code, redirect, Some(VERIFIER)).await.unwrap();
            assert_eq!(tokens.event.kind, EventKind::TokenIssued, "{}", h.name);
            assert!(h
                .oauth
                .authenticate(tokens.access_token.expose_secret())
                .await
                .unwrap()
                .is_some());
        }
        h.done().await;
    }
}

#[tokio::test]
async fn non_loopback_redirect_uri_is_refused_and_never_redirected_to() {
    let h = memory().await;
    let challenge = s256(VERIFIER);
    for bad in [
        "https://127.0.0.1:49152/callback",
        "http://localhost:49152/callback",
        "http://evil.example:49152/callback",
        "http://127.0.0.1.evil.example:49152/callback",
        "http://127.0.0.2:49152/callback",
        "http://[::2]:49152/callback",
        "http://user@127.0.0.1:49152/callback",
        "http://127.0.0.1:49152@evil.example/callback",
        "http://127.0.0.1:49152/callback#frag",
        "http://127.0.0.1:49152/callback?x=1",
        "http://127.0.0.1:49152/%2e%2e/callback",
        "http://127.0.0.1:49152/../callback",
        "http://127.0.0.1:49152\\@evil.example/",
        "http://127.0.0.1/callback",
        "http://127.0.0.1:0/callback",
        "http://127.0.0.1:65536/callback",
        "http://127.0.0.1:049152/callback",
        "http://127.0.0.1:49152",
        "HTTP://127.0.0.1:49152/callback",
        "http://[0:0:0:0:0:0:0:1]:49152/callback",
        "http://2130706433:49152/callback",
        "urn:ietf:wg:oauth:2.0:oob",
        "",
    ] {
        let e = h
            .oauth
            .validate_authorize(&request(bad, &challenge))
            .unwrap_err();
        assert!(matches!(e, AuthorizeError::NoRedirect(_)), "{bad}: {e:?}");
    }
    let mut no_uri = request(REDIRECT, &challenge);
    no_uri.redirect_uri = None;
    assert!(matches!(
        h.oauth.validate_authorize(&no_uri),
        Err(AuthorizeError::NoRedirect(_))
    ));
    let mut other_client = request(REDIRECT, &challenge);
    other_client.client_id = Some("aws-cli");
    assert!(matches!(
        h.oauth.validate_authorize(&other_client),
        Err(AuthorizeError::NoRedirect(_))
    ));
    h.done().await;
}

fn redirected_error(e: AuthorizeError) -> (String, &'static str) {
    match e {
        AuthorizeError::Redirect {
            location, error, ..
        } => (location, error),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn plain_method_missing_method_bad_challenge_and_missing_state_are_refused() {
    let h = memory().await;
    let challenge = s256(VERIFIER);
    let base = request(REDIRECT, &challenge);
    let plain = AuthorizeRequest {
        code_challenge_method: Some("plain"),
        code_challenge: Some(VERIFIER),
        ..base
    };
    let (location, error) = redirected_error(h.oauth.validate_authorize(&plain).unwrap_err());
    assert_eq!(error, "invalid_request");
    assert!(location.starts_with(&format!("{REDIRECT}?error=invalid_request&")));
    assert!(location.ends_with("&state=st4te"), "{location}");
    for req in [
        AuthorizeRequest {
            code_challenge_method: None,
            ..base
        },
        AuthorizeRequest {
            code_challenge: None,
            ..base
        },
        AuthorizeRequest {
            code_challenge: Some("too-short"),
            ..base
        },
        AuthorizeRequest {
            code_challenge: Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM"),
            ..base
        },
        AuthorizeRequest {
            state: None,
            ..base
        },
        AuthorizeRequest {
            state: Some(""),
            ..base
        },
    ] {
        let (_, error) = redirected_error(h.oauth.validate_authorize(&req).unwrap_err());
        assert_eq!(error, "invalid_request", "{req:?}");
    }
    let token = AuthorizeRequest {
        response_type: Some("token"),
        ..base
    };
    let (_, error) = redirected_error(h.oauth.validate_authorize(&token).unwrap_err());
    assert_eq!(error, "unsupported_response_type");
    let valid = h.oauth.validate_authorize(&base).unwrap();
    assert_eq!(
        valid,
        ValidAuthorize {
            redirect_uri: crate::oauth::LoopbackRedirect::parse(REDIRECT).unwrap(),
            code_challenge: challenge.clone(),
            state: "st4te".into(),
        }
    );
    h.done().await;
}

#[tokio::test]
async fn missing_pkce_verifier_is_invalid_request_and_does_not_burn_the_code() {
    for h in stores().await {
        let code = code_for(&h, REDIRECT).await;
        for missing in [None, Some("")] {
            let e = exchange(&h, &code, REDIRECT, missing).await.unwrap_err();
            assert_eq!(e.error(), "invalid_request", "{}", h.name);
        }
        exchange(&h, &code, REDIRECT, Some(VERIFIER)).await.unwrap();
        h.done().await;
    }
}

#[tokio::test]
async fn wrong_pkce_verifier_is_invalid_grant_and_burns_the_code() {
    for h in stores().await {
        for wrong in [
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK",
            "short",
            // The challenge itself (what a `plain` downgrade would send).
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        ] {
            let code = code_for(&h, REDIRECT).await;
            let e = exchange(&h, &code, REDIRECT, Some(wrong))
                .await
                .unwrap_err();
            assert_eq!(e.error(), "invalid_grant", "{}: {wrong}", h.name);
            let e = exchange(&h, &code, REDIRECT, Some(VERIFIER))
                .await
                .unwrap_err();
            assert_eq!(e.error(), "invalid_grant", "{}: burnt", h.name);
        }
        h.done().await;
    }
}

#[tokio::test]
async fn redirect_uri_must_be_the_same_string() {
    for h in stores().await {
        for other in [
            "http://127.0.0.1:49152/callback/",
            "http://127.0.0.1:49153/callback",
            "http://[::1]:49152/callback",
        ] {
            let code = code_for(&h, REDIRECT).await;
            let e = exchange(&h, &code, other, Some(VERIFIER))
                .await
                .unwrap_err();
            assert_eq!(e.error(), "invalid_grant", "{}: {other}", h.name);
        }
        let code = code_for(&h, REDIRECT).await;
        let e = h
            .oauth
            .exchange_code(Some(&code), None, Some(VERIFIER), CLI)
            .await
            .unwrap_err();
        assert_eq!(e.error(), "invalid_request");
        h.done().await;
    }
}

#[tokio::test]
async fn code_reuse_is_invalid_grant_and_ends_the_session_it_gave() {
    for h in stores().await {
        let code = code_for(&h, REDIRECT).await;
        let first = exchange(&h, &code, REDIRECT, Some(VERIFIER)).await.unwrap();
        let e = exchange(&h, &code, REDIRECT, Some(VERIFIER))
            .await
            .unwrap_err();
        assert_eq!(e.error(), "invalid_grant", "{}", h.name);
        let TokenError::CodeReplayed(event) = e else {
            panic!("{}: {e:?}", h.name)
        };
        assert_eq!(event.kind, EventKind::CodeReplayed);
        assert_eq!(event.subject_hash, Some(alice().subject_hash()));
        assert!(h
            .oauth
            .authenticate(first.access_token.expose_secret())
            .await
            .unwrap()
            .is_none());
        let e = h
            .oauth
            .refresh(Some(first.refresh_token.expose_secret()), CLI)
            .await
            .unwrap_err();
        assert_eq!(e.error(), "invalid_grant");
        h.done().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_exchanges_of_one_code_issue_at_most_one_session() {
    for h in stores().await {
        let code = code_for(&h, REDIRECT).await;
        let racers = (0..16).map(|_| {
            let oauth = h.oauth.clone();
            let code = code.clone();
            tokio::spawn(async move {
                oauth
                    .exchange_code(Some(&code), Some(REDIRECT), Some(VERIFIER), CLI)
                    .await
                    .is_ok()
            })
        });
        let won = futures_util::future::join_all(racers)
            .await
            .into_iter()
            .filter(|r| *r.as_ref().unwrap())
            .count();
        assert_eq!(won, 1, "{}", h.name);
        h.done().await;
    }
}

#[tokio::test]
async fn a_denied_loopback_sign_in_tells_the_cli_and_issues_no_code() {
    let h = memory().await;
    let challenge = s256(VERIFIER);
    let valid = h
        .oauth
        .validate_authorize(&request(REDIRECT, &challenge))
        .unwrap();
    let (location, event) = h.oauth.deny_code(&valid, &alice(), "127.0.0.1");
    assert_eq!(event.kind, EventKind::CodeDenied);
    assert!(location.starts_with(&format!("{REDIRECT}?error=access_denied&")));
    assert!(location.ends_with("&state=st4te") && !location.contains("code="));
}

#[tokio::test]
async fn expired_code_is_invalid_grant() {
    for h in stores().await {
        let code = code_for(&h, REDIRECT).await;
        h.advance(CODE_TTL);
        let e = exchange(&h, &code, REDIRECT, Some(VERIFIER))
            .await
            .unwrap_err();
        assert_eq!(e.error(), "invalid_grant", "{}", h.name);
        h.done().await;
    }
}

#[tokio::test]
async fn unknown_client_is_refused_at_the_token_endpoint() {
    let h = memory().await;
    let code = code_for(&h, REDIRECT).await;
    let e = h
        .oauth
        .exchange_code(Some(&code), Some(REDIRECT), Some(VERIFIER), Some("x"))
        .await
        .unwrap_err();
    assert_eq!(e.error(), "invalid_client");
    h.done().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_code_issued_on_one_replica_is_exchanged_once_across_replicas() {
    let (h, other) = replicas().await;
    let code = code_for(&h, REDIRECT).await;
    let racers = (0..8).map(|i| {
        let oauth = if i % 2 == 0 {
            h.oauth.clone()
        } else {
            other.clone()
        };
        let code = code.clone();
        tokio::spawn(async move {
            oauth
                .exchange_code(Some(&code), Some(REDIRECT), Some(VERIFIER), CLI)
                .await
                .ok()
        })
    });
    let won: Vec<_> = futures_util::future::join_all(racers)
        .await
        .into_iter()
        .filter_map(|r| r.unwrap())
        .collect();
    // Exactly one exchange wins; a loser that came after it is a replay and may have ended
    // the session already (RFC 6749 §4.1.2), so nothing more is asserted about it here.
    assert_eq!(won.len(), 1);

    // Exchanged on one replica: the session serves on both; a logout on one ends it on both.
    let code = code_for(&h, REDIRECT).await;
    let t = exchange(&h, &code, REDIRECT, Some(VERIFIER)).await.unwrap();
    let access = t.access_token.expose_secret();
    assert!(other.authenticate(access).await.unwrap().is_some());
    other.logout(access).await.unwrap();
    assert!(h.oauth.authenticate(access).await.unwrap().is_none());

    // Replayed on the other replica: refused, and the session it gave is ended everywhere.
    let code = code_for(&h, REDIRECT).await;
    let t = exchange(&h, &code, REDIRECT, Some(VERIFIER)).await.unwrap();
    let e = other
        .exchange_code(Some(&code), Some(REDIRECT), Some(VERIFIER), CLI)
        .await
        .unwrap_err();
    assert!(matches!(e, TokenError::CodeReplayed(_)), "{e:?}");
    assert!(h
        .oauth
        .authenticate(t.access_token.expose_secret())
        .await
        .unwrap()
        .is_none());
    h.done().await;
}
