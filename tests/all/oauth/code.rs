//! The loopback authorization code grant with PKCE (RFC 7636, RFC 8252) through the real
//! handlers: the approval page, the redirect to the CLI's listener, the code exchange, and the
//! attacks it refuses.

use super::{broker, oauth_error, Broker, Browser, CLIENT, REDIRECT};
use actix_web::test::TestRequest;
use base64::Engine;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-the-cli-verifier";

fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn authorize_uri(redirect: &str) -> String {
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", CLIENT)
        .append_pair("redirect_uri", redirect)
        .append_pair("code_challenge", &challenge(VERIFIER))
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", "st4te")
        .finish();
    format!("/oauth/authorize?{q}")
}

fn query_of(location: &str) -> HashMap<String, String> {
    url::Url::parse(location)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The approval page, then the person's click: the redirect's query.
async fn approve(b: &Broker, browser: &Browser, decision: &str) -> HashMap<String, String> {
    let (status, headers, page) = b
        .in_browser(browser, TestRequest::get().uri(&authorize_uri(REDIRECT)))
        .await;
    assert_eq!(status, 200, "{page}");
    let csp = headers
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap();
    assert!(
        csp.contains("form-action 'self' http://127.0.0.1:* http://[::1]:*"),
        "{csp}"
    );
    assert!(page.as_str().unwrap().contains("alice@example.com"));
    let (status, headers, _) = b
        .in_browser(
            browser,
            TestRequest::post().uri("/oauth/authorize").set_form([
                ("csrf", browser.csrf.as_str()),
                ("decision", decision),
                ("redirect_uri", REDIRECT),
                ("code_challenge", &challenge(VERIFIER)),
                ("state", "st4te"),
            ]),
        )
        .await;
    assert_eq!(status, 302);
    let location = headers.get("location").unwrap().to_str().unwrap();
    assert!(location.starts_with(REDIRECT), "{location}");
    query_of(location)
}

async fn exchange(b: &Broker, code: &str, verifier: Option<&str>) -> (u16, serde_json::Value) {
    let mut fields = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("client_id", CLIENT),
    ];
    if let Some(v) = verifier {
        fields.push(("code_verifier", v));
    }
    b.token(&fields).await
}

#[actix_web::test]
async fn loopback_code_flow_end_to_end() {
    let b = broker();
    let browser = b.browser().await;
    let q = approve(&b, &browser, "approve").await;
    assert_eq!(q["state"], "st4te");
    let (status, tokens) = exchange(&b, &q["code"], Some(VERIFIER)).await;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["token_type"], "Bearer");
    let (status, _, roles) = b
        .bearer(
            tokens["access_token"].as_str().unwrap(),
            TestRequest::get().uri("/v1/roles"),
        )
        .await;
    assert_eq!(status, 200, "{roles}");
    assert_eq!(roles["subject"], "alice@example.com");
}

#[actix_web::test]
async fn denied_loopback_sign_in_redirects_access_denied() {
    let b = broker();
    let browser = b.browser().await;
    let q = approve(&b, &browser, "deny").await;
    assert_eq!(q["error"], "access_denied");
    assert_eq!(q["state"], "st4te");
    assert!(!q.contains_key("code"));
}

#[actix_web::test]
async fn non_loopback_redirect_uri_is_refused_without_a_redirect() {
    let b = broker();
    let browser = b.browser().await;
    for evil in [
        "https://attacker.example/callback",
        "http://localhost:5000/callback",
        "http://127.0.0.1.attacker.example:5000/cb",
        "http://127.0.0.1:5000@attacker.example/cb",
        "http://127.0.0.1/callback",
    ] {
        let (status, headers, page) = b
            .in_browser(&browser, TestRequest::get().uri(&authorize_uri(evil)))
            .await;
        assert_eq!(status, 400, "{evil}: {page}");
        assert!(
            headers.get("location").is_none(),
            "{evil}: never redirected"
        );
    }
    // Nor can the approval POST be pointed elsewhere.
    let (status, headers, _) = b
        .in_browser(
            &browser,
            TestRequest::post().uri("/oauth/authorize").set_form([
                ("csrf", browser.csrf.as_str()),
                ("decision", "approve"),
                ("redirect_uri", "https://attacker.example/cb"),
                ("code_challenge", &challenge(VERIFIER)),
                ("state", "s"),
            ]),
        )
        .await;
    assert_eq!(status, 400);
    assert!(headers.get("location").is_none());
}

#[actix_web::test]
async fn plain_pkce_is_refused_through_the_redirect() {
    let b = broker();
    let browser = b.browser().await;
    let uri = authorize_uri(REDIRECT).replace("S256", "plain");
    let (status, headers, _) = b.in_browser(&browser, TestRequest::get().uri(&uri)).await;
    assert_eq!(status, 302);
    let q = query_of(headers.get("location").unwrap().to_str().unwrap());
    assert_eq!(q["error"], "invalid_request");
    assert_eq!(q["state"], "st4te");
}

#[actix_web::test]
async fn missing_pkce_verifier_is_invalid_request_and_burns_the_code() {
    let b = broker();
    let browser = b.browser().await;
    let q = approve(&b, &browser, "approve").await;
    let (status, body) = exchange(&b, &q["code"], None).await;
    assert_eq!((status, oauth_error(&body)), (400, "invalid_request"));
}

#[actix_web::test]
async fn wrong_pkce_verifier_is_invalid_grant_and_the_code_is_spent() {
    let b = broker();
    let browser = b.browser().await;
    let q = approve(&b, &browser, "approve").await;
    let wrong = "a".repeat(43);
    let (status, body) = exchange(&b, &q["code"], Some(&wrong)).await;
    assert_eq!((status, oauth_error(&body)), (400, "invalid_grant"));
    // The stolen code is worthless even with the right verifier afterwards.
    let (status, body) = exchange(&b, &q["code"], Some(VERIFIER)).await;
    assert_eq!((status, oauth_error(&body)), (400, "invalid_grant"));
}

#[actix_web::test]
async fn replayed_code_ends_the_session_it_produced() {
    let b = broker();
    let browser = b.browser().await;
    let q = approve(&b, &browser, "approve").await;
    let (status, tokens) = exchange(&b, &q["code"], Some(VERIFIER)).await;
    assert_eq!(status, 200);
    let (status, body) = exchange(&b, &q["code"], Some(VERIFIER)).await;
    assert_eq!((status, oauth_error(&body)), (400, "invalid_grant"));
    let (status, _, body) = b
        .bearer(
            tokens["access_token"].as_str().unwrap(),
            TestRequest::get().uri("/v1/roles"),
        )
        .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "cli_session_invalid");
}

#[actix_web::test]
async fn authorize_without_a_session_asks_to_sign_in() {
    let b = broker();
    let (status, headers, _) =
        crate::support::http::send(&b.state, TestRequest::get().uri(&authorize_uri(REDIRECT)))
            .await;
    assert_eq!(status, 401);
    assert!(headers
        .get_all("set-cookie")
        .any(|c| c.to_str().unwrap().starts_with("__Host-fedbroker_return=")));
}
