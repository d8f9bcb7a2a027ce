//! The device grant, and every attack on it the design must refuse.

use super::*;
use crate::oauth::device::{LookupError, EXPIRED_GRACE, INTERVAL_SECONDS};
use crate::oauth::{DeviceDecision, EventKind, TokenError};
use secrecy::ExposeSecret;

const REQUESTER: &str = "203.0.113.7";
const APPROVER: &str = "198.51.100.9";

async fn start(h: &Harness) -> crate::oauth::DeviceAuthorization {
    h.oauth.device_authorize(CLI, REQUESTER).await.unwrap()
}

async fn poll(h: &Harness, code: &str) -> Result<crate::oauth::TokenSet, TokenError> {
    h.oauth.device_poll(Some(code), CLI).await
}

async fn approve(h: &Harness, user_code: &str) -> Result<crate::oauth::OauthEvent, LookupError> {
    h.oauth
        .device_decide(
            user_code,
            DeviceDecision::Approve,
            &alice(),
            h.now(),
            APPROVER,
        )
        .await
        .map(|(_, e)| e)
}

#[tokio::test]
async fn approved_device_gets_one_session_and_the_page_shows_who_asked() {
    for h in stores().await {
        let name = h.name;
        let d = start(&h).await;
        assert_eq!((d.expires_in, d.interval), (600, 5), "{name}");
        assert_eq!(d.event.kind, EventKind::DeviceAuthorized);
        assert_eq!(d.event.requester_ip.as_deref(), Some(REQUESTER));
        assert_eq!(
            d.verification_uri_complete("https://broker.example/"),
            format!("https://broker.example/device?user_code={}", d.user_code)
        );
        let code = d.device_code.expose_secret().to_owned();
        assert_eq!(code.len(), 43, "{name}: 32 bytes, base64url");
        assert!(matches!(
            poll(&h, &code).await,
            Err(TokenError::AuthorizationPending)
        ));

        let shown = h
            .oauth
            .device_lookup(&d.user_code.to_lowercase(), APPROVER, None)
            .await
            .unwrap();
        assert_eq!(shown.requester_ip, REQUESTER, "{name}");
        assert_eq!(shown.requested_at, t0());
        assert_eq!(shown.client_id, "fedbroker-cli");
        assert_eq!(shown.user_code, d.user_code);

        h.advance(TimeDelta::seconds(5));
        let event = approve(&h, &d.user_code).await.unwrap();
        assert_eq!(event.kind, EventKind::DeviceApproved);
        assert_eq!(event.approver_ip.as_deref(), Some(APPROVER));
        assert_eq!(event.requester_ip.as_deref(), Some(REQUESTER));
        assert_eq!(event.subject_hash, Some(alice().subject_hash()));

        let tokens = poll(&h, &code).await.unwrap();
        assert_eq!(tokens.event.kind, EventKind::TokenIssued, "{name}");
        let session = h
            .oauth
            .authenticate(tokens.access_token.expose_secret())
            .await
            .unwrap()
            .expect("a live session");
        assert_eq!(session.identity.subject(), "alice@example.com");
        h.done().await;
    }
}

#[tokio::test]
async fn second_poll_after_success_is_invalid_grant() {
    for h in stores().await {
        let d = start(&h).await;
        let code = d.device_code.expose_secret();
        approve(&h, &d.user_code).await.unwrap();
        poll(&h, code).await.unwrap();
        for _ in 0..2 {
            h.advance(TimeDelta::seconds(10));
            let e = poll(&h, code).await.unwrap_err();
            assert_eq!(e.error(), "invalid_grant", "{}: {e}", h.name);
        }
        h.done().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_polls_after_an_approval_issue_exactly_one_session() {
    for h in stores().await {
        let d = start(&h).await;
        let code = d.device_code.expose_secret().to_owned();
        approve(&h, &d.user_code).await.unwrap();
        let polls = (0..16).map(|_| {
            let oauth = h.oauth.clone();
            let code = code.clone();
            tokio::spawn(async move { oauth.device_poll(Some(&code), CLI).await })
        });
        let results = futures_util::future::join_all(polls).await;
        let issued = results
            .into_iter()
            .filter(|r| matches!(r, Ok(Ok(_))))
            .count();
        assert_eq!(issued, 1, "{}", h.name);
        h.done().await;
    }
}

#[tokio::test]
async fn denied_code_is_access_denied_and_never_a_token() {
    for h in stores().await {
        let d = start(&h).await;
        let code = d.device_code.expose_secret();
        let (_, event) = h
            .oauth
            .device_decide(
                &d.user_code,
                DeviceDecision::Deny,
                &alice(),
                h.now(),
                APPROVER,
            )
            .await
            .unwrap();
        assert_eq!(event.kind, EventKind::DeviceDenied);
        assert!(matches!(
            poll(&h, code).await,
            Err(TokenError::AccessDenied)
        ));
        h.advance(TimeDelta::seconds(10));
        assert_eq!(poll(&h, code).await.unwrap_err().error(), "invalid_grant");
        // A decided code cannot be approved afterwards.
        assert!(matches!(
            approve(&h, &d.user_code).await,
            Err(LookupError::Unknown)
        ));
        h.done().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_user_code_is_decided_once_even_by_racing_approvals() {
    for h in stores().await {
        let d = start(&h).await;
        let racers = (0..8).map(|i| {
            let oauth = h.oauth.clone();
            let user_code = d.user_code.clone();
            let now = h.now();
            tokio::spawn(async move {
                let decision = if i % 2 == 0 {
                    DeviceDecision::Approve
                } else {
                    DeviceDecision::Deny
                };
                oauth
                    .device_decide(&user_code, decision, &alice(), now, &format!("10.0.0.{i}"))
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
async fn expired_code_is_expired_token_and_cannot_be_approved() {
    for h in stores().await {
        let name = h.name;
        let late = start(&h).await;
        // Approved in time, collected too late: still expired.
        let slow = start(&h).await;
        approve(&h, &slow.user_code).await.unwrap();
        h.advance(TimeDelta::minutes(10));
        assert!(matches!(
            approve(&h, &late.user_code).await,
            Err(LookupError::Unknown)
        ));
        assert!(matches!(
            h.oauth.device_lookup(&late.user_code, APPROVER, None).await,
            Err(LookupError::Unknown)
        ));
        for d in [&late, &slow] {
            let e = poll(&h, d.device_code.expose_secret()).await.unwrap_err();
            assert!(matches!(e, TokenError::ExpiredToken), "{name}: {e}");
        }
        h.advance(EXPIRED_GRACE);
        for d in [&late, &slow] {
            let e = poll(&h, d.device_code.expose_secret()).await.unwrap_err();
            assert_eq!(
                e.error(),
                "invalid_grant",
                "{name}: forgotten after the grace"
            );
        }
        h.done().await;
    }
}

#[tokio::test]
async fn polling_faster_than_the_interval_is_slow_down_adding_five_seconds() {
    for h in stores().await {
        let d = start(&h).await;
        let code = d.device_code.expose_secret();
        assert!(matches!(
            poll(&h, code).await,
            Err(TokenError::AuthorizationPending)
        ));
        h.advance(TimeDelta::seconds(1));
        assert!(matches!(
            poll(&h, code).await,
            Err(TokenError::SlowDown { interval: 10 })
        ));
        // The interval is now 10 s: 5 s later is still too fast.
        h.advance(TimeDelta::seconds(INTERVAL_SECONDS));
        assert!(matches!(
            poll(&h, code).await,
            Err(TokenError::SlowDown { interval: 15 })
        ));
        h.advance(TimeDelta::seconds(15));
        assert!(matches!(
            poll(&h, code).await,
            Err(TokenError::AuthorizationPending)
        ));
        // A poll never overwrites an approval: approve, then poll too fast: the token.
        approve(&h, &d.user_code).await.unwrap();
        poll(&h, code).await.unwrap();
        h.done().await;
    }
}

#[tokio::test]
async fn guessed_user_code_is_unknown_and_guesses_are_bounded_per_client_and_subject() {
    for h in stores().await {
        let name = h.name;
        let d = start(&h).await;
        let guesser = "192.0.2.66";
        let mallory = person("mallory@example.com", None).subject_hash();
        let mut refused = 0;
        for i in 0..12 {
            let guess = if i % 2 == 0 {
                "BCDF-GHJK"
            } else {
                "not a code"
            };
            match h.oauth.device_lookup(guess, guesser, Some(&mallory)).await {
                Err(LookupError::Unknown) => {}
                Err(LookupError::TooManyGuesses(_)) => refused += 1,
                other => panic!("{name}: {other:?}"),
            }
        }
        assert_eq!(refused, 2, "{name}: 10 guesses a minute, then refused");
        // From another address, the same person is still bounded.
        assert!(matches!(
            h.oauth
                .device_lookup("BCDF-GHJK", "192.0.2.67", Some(&mallory))
                .await,
            Err(LookupError::TooManyGuesses(_))
        ));
        // Approving a guessed code counts too.
        let mallory_id = person("mallory@example.com", None);
        assert!(matches!(
            h.oauth
                .device_decide(
                    &d.user_code,
                    DeviceDecision::Approve,
                    &mallory_id,
                    h.now(),
                    "192.0.2.68"
                )
                .await,
            Err(LookupError::TooManyGuesses(_))
        ));
        // Others are not affected, and the real code still works for its owner.
        h.oauth
            .device_lookup(&d.user_code, APPROVER, Some(&alice().subject_hash()))
            .await
            .unwrap();
        approve(&h, &d.user_code).await.unwrap();
        h.done().await;
    }
}

#[tokio::test]
async fn unknown_client_and_missing_code_are_refused() {
    for h in stores().await {
        let e = h
            .oauth
            .device_authorize(Some("other"), REQUESTER)
            .await
            .unwrap_err();
        assert_eq!((e.error(), e.status()), ("invalid_client", 401));
        let d = start(&h).await;
        let e = h
            .oauth
            .device_poll(Some(d.device_code.expose_secret()), None)
            .await
            .unwrap_err();
        assert_eq!(e.error(), "invalid_client");
        let e = h.oauth.device_poll(None, CLI).await.unwrap_err();
        assert_eq!(e.error(), "invalid_request");
        let e = poll(&h, "guessed-device-code").await.unwrap_err();
        assert_eq!(e.error(), "invalid_grant");
        h.done().await;
    }
}

#[tokio::test]
async fn device_code_is_never_in_debug_output_nor_a_store_key() {
    for h in stores().await {
        let d = start(&h).await;
        let code = d.device_code.expose_secret().to_owned();
        assert!(!format!("{d:?}").contains(&code), "{}", h.name);
        assert!(h
            .oauth
            .kv
            .get(&format!("oauth:dev:{code}"))
            .await
            .unwrap()
            .is_none());
        let hashed = format!("oauth:dev:{}", crate::sign_in::token_hash(&code));
        assert!(h.oauth.kv.get(&hashed).await.unwrap().is_some());
        h.done().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn replicas_share_the_grant_approve_once_issue_once_and_keep_the_approval() {
    let (h, other) = replicas().await;
    let d = start(&h).await;
    let code = d.device_code.expose_secret().to_owned();
    // The page on the other replica shows the request.
    let shown = other
        .device_lookup(&d.user_code, APPROVER, None)
        .await
        .unwrap();
    assert_eq!(shown.requester_ip, REQUESTER);
    // Polls on both replicas racing one approval on the other: approved once, issued once,
    // and the approval is not lost to the polls.
    let mut tasks = Vec::new();
    for i in 0..12 {
        let oauth = if i % 2 == 0 {
            h.oauth.clone()
        } else {
            other.clone()
        };
        let code = code.clone();
        tasks.push(tokio::spawn(async move {
            oauth.device_poll(Some(&code), CLI).await.is_ok()
        }));
    }
    let approvers = (0..4).map(|i| {
        let oauth = if i % 2 == 0 {
            h.oauth.clone()
        } else {
            other.clone()
        };
        let user_code = d.user_code.clone();
        let now = h.now();
        tokio::spawn(async move {
            oauth
                .device_decide(&user_code, DeviceDecision::Approve, &alice(), now, APPROVER)
                .await
                .is_ok()
        })
    });
    let approved = futures_util::future::join_all(approvers)
        .await
        .into_iter()
        .filter(|r| *r.as_ref().unwrap())
        .count();
    assert_eq!(approved, 1, "approved once");
    let mut issued = futures_util::future::join_all(tasks)
        .await
        .into_iter()
        .filter(|r| *r.as_ref().unwrap())
        .count();
    // If every poll ran before the approval landed, the next poll collects it.
    h.advance(TimeDelta::seconds(30));
    for oauth in [&h.oauth, &other] {
        if oauth.device_poll(Some(&code), CLI).await.is_ok() {
            issued += 1;
        }
    }
    assert_eq!(issued, 1, "issued once, and the approval was not lost");
    h.done().await;
}
