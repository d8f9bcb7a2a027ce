//! The device approval page behind the real browser sign-in: a person who opens
//! `verification_uri_complete` without a broker session signs in at the test OIDC IdP
//! (`scripts/oidc-idp.sh`, the IdP's own login form) and comes back to the same approval page,
//! then approves; the CLI's poll gets the tokens.

use crate::support;

use actix_web::test::TestRequest;
use fedbroker::clock::SystemClock;
use fedbroker::config::load_str;
use fedbroker::http::AppState;
use fedbroker::replay::memory::MemoryReplayGuard;
use serde_json::Value;
use std::sync::Arc;
use support::http::{send, CookieJar};
use support::recording_sts::{moto_endpoint, RecordingSts};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run scripts/test.sh (it starts the test IdP), or `scripts/oidc-idp.sh start && . .fedbroker-run/oidc-idp.env`")
    })
}

fn state() -> AppState {
    let redirect = env("FEDBROKER_TEST_OIDC_REDIRECT_URI");
    let public = redirect.trim_end_matches("/oidc/callback");
    let config = format!(
        r#"
[server]
public_url = "{public}"

{oidc_provider}
[[rules]]
name = "people"
[rules.match]
provider = "testidp"
subject = "{user}"
[[rules.grants]]
role_arn = "arn:aws:iam::111122223333:role/ReadOnly"
mode = "assume-role"
alias = "sandbox"
session_name = "{{subject}}"
"#,
        oidc_provider = support::fixtures::oidc_web_provider("testidp", &env),
        user = env("FEDBROKER_TEST_OIDC_USER"),
    );
    let cfg = load_str(&config, Vec::<(String, String)>::new()).expect("config loads");
    let creds = aws_credential_types::Credentials::new("test", "test", None, None, "test");
    let sts = RecordingSts::wrapping(
        fedbroker::sts::sdk::SdkStsClient::new("us-east-1", Some(&moto_endpoint()))
            .with_broker_credentials(creds),
    );
    let clock: fedbroker::clock::SharedClock = Arc::new(SystemClock);
    let kv: Arc<dyn fedbroker::sign_in::BrowserKv> =
        Arc::new(fedbroker::sign_in::MemoryKv::new(clock.clone()));
    let browser =
        fedbroker::sign_in::OidcBrowser::from_config(&cfg, clock.clone(), kv.clone()).unwrap();
    AppState::from_parts_with_store(
        &cfg,
        Vec::new(),
        sts,
        Arc::new(MemoryReplayGuard::new(clock.clone())),
        clock,
        kv,
    )
    .with_oidc_browser(browser)
}

async fn get(
    state: &AppState,
    jar: &mut CookieJar,
    uri: &str,
) -> (u16, actix_web::http::header::HeaderMap, Value) {
    let (s, h, b) = send(state, jar.apply(TestRequest::get().uri(uri))).await;
    jar.keep(&h);
    (s, h, b)
}

fn location(h: &actix_web::http::header::HeaderMap) -> String {
    h.get("location").unwrap().to_str().unwrap().to_owned()
}

#[actix_web::test]
async fn device_approval_signs_in_through_the_idp_and_returns_to_the_page() {
    let state = state();
    let (status, _, d) = send(
        &state,
        TestRequest::post()
            .uri("/oauth/device_authorization")
            .set_form([("client_id", "fedbroker-cli")]),
    )
    .await;
    assert_eq!(status, 200, "{d}");
    let complete = d["verification_uri_complete"].as_str().unwrap();
    let page = complete
        .split_once("/device")
        .map(|(_, q)| format!("/device{q}"))
        .unwrap();

    let mut jar = CookieJar::default();
    let (status, _, choices) = get(&state, &mut jar, &page).await;
    assert_eq!(status, 401);
    assert!(choices
        .as_str()
        .unwrap()
        .contains("/oidc/login?provider=testidp"));
    let (status, h, _) = get(&state, &mut jar, "/oidc/login?provider=testidp").await;
    assert_eq!(status, 302);
    let callback = support::oidc_idp::sign_in_at_idp(&location(&h)).await;
    let u = url::Url::parse(&callback).unwrap();
    let path = format!("{}?{}", u.path(), u.query().unwrap_or_default());
    let (status, h, _) = get(&state, &mut jar, &path).await;
    assert_eq!(status, 303);
    assert_eq!(
        location(&h),
        page,
        "back to the approval page it started from"
    );
    assert!(jar.get("__Host-fedbroker_return").is_none(), "used once");

    let (status, _, approval) = get(&state, &mut jar, &page).await;
    assert_eq!(status, 200);
    let approval = approval.as_str().unwrap().to_owned();
    let csrf = approval
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_owned();
    let user_code = d["user_code"].as_str().unwrap();
    let (status, _, done) = send(
        &state,
        jar.apply(TestRequest::post().uri("/device").set_form([
            ("csrf", csrf.as_str()),
            ("user_code", user_code),
            ("decision", "approve"),
        ])),
    )
    .await;
    assert_eq!(status, 200, "{done}");
    let (status, _, tokens) = send(
        &state,
        TestRequest::post().uri("/oauth/token").set_form([
            ("grant_type", super::DEVICE_GRANT),
            ("device_code", d["device_code"].as_str().unwrap()),
            ("client_id", "fedbroker-cli"),
        ]),
    )
    .await;
    assert_eq!(status, 200, "{tokens}");
    let (status, _, roles) = send(
        &state,
        TestRequest::get().uri("/v1/roles").insert_header((
            "Authorization",
            format!("Bearer {}", tokens["access_token"].as_str().unwrap()),
        )),
    )
    .await;
    assert_eq!(status, 200, "{roles}");
    assert_eq!(roles["roles"][0]["alias"], "sandbox");
}

#[actix_web::test]
async fn loopback_approval_signs_in_through_the_idp_and_returns_with_the_whole_query() {
    let state = state();
    let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
    let page = format!(
        "/oauth/authorize?response_type=code&client_id=fedbroker-cli&redirect_uri=http%3A%2F%2F127.0.0.1%3A5000%2Fcb&code_challenge={challenge}&code_challenge_method=S256&state=s%2B1"
    );
    let mut jar = CookieJar::default();
    let (status, _, _) = get(&state, &mut jar, &page).await;
    assert_eq!(status, 401);
    let (status, h, _) = get(&state, &mut jar, "/oidc/login?provider=testidp").await;
    assert_eq!(status, 302);
    let callback = support::oidc_idp::sign_in_at_idp(&location(&h)).await;
    let u = url::Url::parse(&callback).unwrap();
    let path = format!("{}?{}", u.path(), u.query().unwrap_or_default());
    let (status, h, _) = get(&state, &mut jar, &path).await;
    assert_eq!(status, 303);
    assert_eq!(location(&h), page, "every parameter comes back");
    let (status, _, approval) = get(&state, &mut jar, &page).await;
    assert_eq!(status, 200, "{approval}");
    assert!(approval.as_str().unwrap().contains("value=\"s+1\""));
}
