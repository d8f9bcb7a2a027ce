//! The device authorization grant (RFC 8628) through the real handlers: the happy path from
//! `POST /oauth/device_authorization` through the approval page to the tokens, and each attack
//! the grant must refuse.

use super::{broker, oauth_error, CLIENT};
use actix_web::test::TestRequest;
use chrono::TimeDelta;
use fedbroker::audit::{Audit, MemorySink};
use serde_json::Value;
use std::sync::Arc;

fn decide(csrf: &str, user_code: &str, decision: &str) -> TestRequest {
    TestRequest::post().uri("/device").set_form([
        ("csrf", csrf),
        ("user_code", user_code),
        ("decision", decision),
    ])
}

fn text(body: &Value) -> &str {
    body.as_str().unwrap_or_default()
}

#[actix_web::test]
async fn device_flow_end_to_end_through_the_approval_page() {
    let mut b = broker();
    let sink = Arc::new(MemorySink::default());
    b.0.state.audit = Audit::to_sink(sink.clone(), true);
    let d = b.device_authorization().await;
    assert_eq!(d["verification_uri"], "http://127.0.0.1:8080/device");
    assert_eq!(d["expires_in"], 600);
    assert_eq!(d["interval"], 5);
    let user_code = d["user_code"].as_str().unwrap().to_owned();
    assert_eq!(
        d["verification_uri_complete"],
        format!("http://127.0.0.1:8080/device?user_code={user_code}")
    );
    assert!(user_code
        .chars()
        .all(|c| c == '-' || "BCDFGHJKLMNPQRSTVWXZ".contains(c)));
    let device_code = d["device_code"].as_str().unwrap().to_owned();

    let (status, pending) = b.poll(&device_code).await;
    assert_eq!(
        (status, oauth_error(&pending)),
        (400, "authorization_pending")
    );

    let browser = b.browser().await;
    // The person follows verification_uri_complete, typed in lower case without the dash.
    let typed = user_code.replace('-', "").to_lowercase();
    let (status, headers, page) = b
        .in_browser(
            &browser,
            TestRequest::get().uri(&format!("/device?user_code={typed}")),
        )
        .await;
    assert_eq!(status, 200, "{page}");
    let page = text(&page);
    assert!(page.contains("alice@example.com"), "who approves");
    assert!(page.contains(&user_code), "the code");
    assert!(page.contains("Asked from") && page.contains("Asked at"));
    assert!(page.contains("name=\"csrf\"") && page.contains(&browser.csrf));
    assert!(page.contains("value=\"approve\"") && page.contains("value=\"deny\""));
    assert_eq!(headers.get("cache-control").unwrap(), "no-store");

    let (status, _, done) = b
        .in_browser(&browser, decide(&browser.csrf, &user_code, "approve"))
        .await;
    assert_eq!(status, 200);
    assert!(text(&done).contains("Approved"));

    b.clock.advance(TimeDelta::seconds(5));
    let (status, tokens) = b.poll(&device_code).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    // An hour, but never past the IdP session (an hour from the sign-in, 5 s ago).
    assert_eq!(tokens["expires_in"], 3595);
    assert!(tokens["access_token"].as_str().unwrap().len() >= 43);
    assert!(tokens["refresh_token"].as_str().is_some());
    assert!(tokens["session_expires_at"].as_str().is_some());

    let lines = sink.lines.lock().unwrap().clone();
    let events: Vec<String> = lines
        .iter()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            fedbroker::audit::schema::check(&v).unwrap();
            v["event"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        events,
        [
            "oauth.device_authorized",
            "oauth.device_approved",
            "oauth.token_issued"
        ]
    );
    let all = lines.join("\n");
    for secret in [
        device_code.as_str(),
        user_code.as_str(),
        tokens["access_token"].as_str().unwrap(),
        tokens["refresh_token"].as_str().unwrap(),
    ] {
        assert!(!all.contains(secret), "no code or token in the audit log");
    }
}

#[actix_web::test]
async fn second_poll_after_success_is_invalid_grant() {
    let b = broker();
    let d = b.device_authorization().await;
    let browser = b.browser().await;
    let user_code = d["user_code"].as_str().unwrap();
    b.in_browser(&browser, decide(&browser.csrf, user_code, "approve"))
        .await;
    let device_code = d["device_code"].as_str().unwrap();
    assert_eq!(b.poll(device_code).await.0, 200);
    b.clock.advance(TimeDelta::seconds(10));
    let (status, body) = b.poll(device_code).await;
    assert_eq!((status, oauth_error(&body)), (400, "invalid_grant"));
}

#[actix_web::test]
async fn denied_code_is_access_denied_once_then_invalid_grant() {
    let b = broker();
    let d = b.device_authorization().await;
    let browser = b.browser().await;
    let user_code = d["user_code"].as_str().unwrap();
    let (status, _, page) = b
        .in_browser(&browser, decide(&browser.csrf, user_code, "deny"))
        .await;
    assert_eq!(status, 200);
    assert!(text(&page).contains("Denied"));
    let device_code = d["device_code"].as_str().unwrap();
    let (status, body) = b.poll(device_code).await;
    assert_eq!((status, oauth_error(&body)), (400, "access_denied"));
    b.clock.advance(TimeDelta::seconds(10));
    let (status, body) = b.poll(device_code).await;
    assert_eq!((status, oauth_error(&body)), (400, "invalid_grant"));
    // A denied code cannot be approved afterwards.
    let (_, _, page) = b
        .in_browser(&browser, decide(&browser.csrf, user_code, "approve"))
        .await;
    assert!(text(&page).contains("no pending sign-in has this code"));
}

#[actix_web::test]
async fn expired_code_is_expired_token_and_cannot_be_approved() {
    let b = broker();
    let d = b.device_authorization().await;
    b.clock
        .advance(TimeDelta::minutes(10) + TimeDelta::seconds(1));
    let browser = b.browser().await;
    let user_code = d["user_code"].as_str().unwrap();
    let (_, _, page) = b
        .in_browser(&browser, decide(&browser.csrf, user_code, "approve"))
        .await;
    assert!(text(&page).contains("no pending sign-in has this code"));
    let (status, body) = b.poll(d["device_code"].as_str().unwrap()).await;
    assert_eq!((status, oauth_error(&body)), (400, "expired_token"));
}

#[actix_web::test]
async fn polling_faster_than_the_interval_is_slow_down() {
    let b = broker();
    let d = b.device_authorization().await;
    let device_code = d["device_code"].as_str().unwrap();
    assert_eq!(
        oauth_error(&b.poll(device_code).await.1),
        "authorization_pending"
    );
    let (status, body) = b.poll(device_code).await;
    assert_eq!((status, oauth_error(&body)), (400, "slow_down"));
    assert_eq!(body["interval"], 10);
}

#[actix_web::test]
async fn guessed_user_code_is_unknown_and_guesses_are_bounded() {
    let b = broker();
    let d = b.device_authorization().await;
    let browser = b.browser().await;
    // Ten guesses a minute (`oauth.user_code_guesses_per_minute`), then 429.
    for i in 0..10 {
        let (status, _, page) = b
            .in_browser(
                &browser,
                TestRequest::get().uri(&format!(
                    "/device?user_code=BCDF-GH{}",
                    ["JK", "JL", "JM", "JN", "JP", "JQ", "JR", "JS", "JT", "JV"][i]
                )),
            )
            .await;
        assert_eq!(status, 200);
        assert!(
            text(&page).contains("no pending sign-in has this code"),
            "guess {i}"
        );
    }
    // Even the right code is refused now: the bound is on guesses, not on misses.
    let user_code = d["user_code"].as_str().unwrap();
    let (status, headers, _) = b
        .in_browser(
            &browser,
            TestRequest::get().uri(&format!("/device?user_code={user_code}")),
        )
        .await;
    assert_eq!(status, 429);
    assert!(headers.get("retry-after").is_some());
    // A guess never approves anything: the device is still pending.
    let (_, body) = b.poll(d["device_code"].as_str().unwrap()).await;
    assert_eq!(oauth_error(&body), "authorization_pending");
}

#[actix_web::test]
async fn approval_without_the_csrf_token_is_refused() {
    let b = broker();
    let d = b.device_authorization().await;
    let browser = b.browser().await;
    let user_code = d["user_code"].as_str().unwrap();
    let (status, _, _) = b
        .in_browser(&browser, decide("forged", user_code, "approve"))
        .await;
    assert_eq!(status, 403);
    let (_, body) = b.poll(d["device_code"].as_str().unwrap()).await;
    assert_eq!(oauth_error(&body), "authorization_pending");
}

#[actix_web::test]
async fn device_page_without_a_session_asks_to_sign_in_and_comes_back() {
    let b = broker();
    let d = b.device_authorization().await;
    let user_code = d["user_code"].as_str().unwrap();
    let (status, headers, page) = fedbroker_send(
        &b,
        TestRequest::get().uri(&format!("/device?user_code={user_code}")),
    )
    .await;
    assert_eq!(status, 401);
    assert!(text(&page).contains("/saml/login?idp=test-idp"), "{page}");
    let cookie = headers
        .get_all("set-cookie")
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("__Host-fedbroker_return="))
        .expect("the return cookie");
    assert!(cookie.contains("Secure") && cookie.contains("HttpOnly"));
    assert!(cookie.contains(&user_code.replace('-', "")[..4]));
    // A decision without a session decides nothing.
    let (status, _, _) = fedbroker_send(
        &b,
        TestRequest::post().uri("/device").set_form([
            ("csrf", "x"),
            ("user_code", user_code),
            ("decision", "approve"),
        ]),
    )
    .await;
    assert_eq!(status, 303);
}

#[actix_web::test]
async fn unknown_client_id_is_invalid_client() {
    let b = broker();
    let (status, headers, body) = b
        .form("/oauth/device_authorization", &[("client_id", "other")])
        .await;
    assert_eq!(
        (status, oauth_error(&body)),
        (401, "invalid_client"),
        "{body}"
    );
    assert!(headers.get("www-authenticate").is_some());
    let (status, body) = b
        .token(&[
            ("grant_type", super::DEVICE_GRANT),
            ("device_code", "x"),
            ("client_id", "other"),
        ])
        .await;
    assert_eq!((status, oauth_error(&body)), (401, "invalid_client"));
    let (status, body) = b
        .token(&[("grant_type", "password"), ("client_id", CLIENT)])
        .await;
    assert_eq!(
        (status, oauth_error(&body)),
        (400, "unsupported_grant_type")
    );
}

async fn fedbroker_send(
    b: &super::Broker,
    req: TestRequest,
) -> (u16, actix_web::http::header::HeaderMap, Value) {
    crate::support::http::send(&b.state, req).await
}

#[actix_web::test]
async fn tokens_are_withheld_and_the_session_ended_when_the_audit_log_fails_closed() {
    let mut b = broker();
    let sink = Arc::new(MemorySink::default());
    b.0.state.audit = Audit::to_sink(sink.clone(), true);
    let d = b.device_authorization().await;
    let browser = b.browser().await;
    let user_code = d["user_code"].as_str().unwrap();
    b.in_browser(&browser, decide(&browser.csrf, user_code, "approve"))
        .await;
    sink.failing
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let (status, body) = b.poll(d["device_code"].as_str().unwrap()).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "audit_unavailable");
    assert!(body.get("access_token").is_none());
    sink.failing
        .store(false, std::sync::atomic::Ordering::SeqCst);
    // The approval was used up by the withheld issue: nothing more comes out of this code.
    b.clock.advance(TimeDelta::seconds(5));
    let (status, body) = b.poll(d["device_code"].as_str().unwrap()).await;
    assert_eq!((status, oauth_error(&body)), (400, "invalid_grant"));
}
