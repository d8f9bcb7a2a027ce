//! OIDC browser sign-in through the real handlers against the real test IdP (`oidc-provider` over
//! HTTPS, `scripts/oidc-idp.sh`), its sign-in page driven with an HTTP client and a cookie jar:
//! sign-in lands on the role picker; a replayed callback, a callback in another browser, an
//! injected authorization code and a logout without the CSRF token are refused.

use crate::support;

use actix_web::test::TestRequest;
use fedbroker::clock::SystemClock;
use fedbroker::config::load_str;
use fedbroker::http::AppState;
use fedbroker::replay::memory::MemoryReplayGuard;
use serde_json::Value;
use std::sync::Arc;
use support::federation::FederationDouble;
use support::http::{send, CookieJar};
use support::recording_sts::{moto_endpoint, RecordingSts};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run scripts/test.sh (it starts the test IdP), or `scripts/oidc-idp.sh start && . .fedbroker-run/oidc-idp.env`")
    })
}

fn config() -> String {
    config_with_federation("https://signin.aws.amazon.com/federation")
}

fn config_with_federation(federation: &str) -> String {
    let redirect = env("FEDBROKER_TEST_OIDC_REDIRECT_URI");
    let public = redirect.trim_end_matches("/oidc/callback");
    format!(
        r#"
[server]
public_url = "{public}"
[aws]
federation_endpoint = "{federation}"

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
[[rules.grants]]
role_arn = "arn:aws:iam::444455556666:role/Admin"
mode = "assume-role"
session_name = "{{subject}}"
"#,
        oidc_provider = support::fixtures::oidc_web_provider("testidp", &env),
        user = env("FEDBROKER_TEST_OIDC_USER"),
    )
}

fn state() -> AppState {
    state_with(&config())
}

fn state_with(config: &str) -> AppState {
    state_on(config, None)
}

/// A broker replica; with `kv`, its browser state lives there (shared by replicas).
fn state_on(config: &str, kv: Option<Arc<dyn fedbroker::sign_in::BrowserKv>>) -> AppState {
    let cfg = load_str(config, Vec::<(String, String)>::new()).expect("config loads");
    let broker_creds =
        aws_credential_types::Credentials::new("test", "test", None, None, "fedbroker-test");
    let sts = RecordingSts::wrapping(
        fedbroker::sts::sdk::SdkStsClient::new("us-east-1", Some(&moto_endpoint()))
            .with_broker_credentials(broker_creds),
    );
    let clock: fedbroker::clock::SharedClock = Arc::new(SystemClock);
    let kv = kv.unwrap_or_else(|| Arc::new(fedbroker::sign_in::MemoryKv::new(clock.clone())));
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

struct Browser {
    jar: CookieJar,
}

impl Browser {
    fn new() -> Self {
        Self {
            jar: CookieJar::default(),
        }
    }
    fn request(&self, req: TestRequest) -> TestRequest {
        self.jar.apply(req)
    }
    fn keep(&mut self, headers: &actix_web::http::header::HeaderMap) {
        self.jar.keep(headers)
    }
    async fn get(
        &mut self,
        state: &AppState,
        uri: &str,
    ) -> (u16, actix_web::http::header::HeaderMap, Value) {
        let (s, h, b) = send(state, self.request(TestRequest::get().uri(uri))).await;
        self.keep(&h);
        (s, h, b)
    }
    async fn get_json(&mut self, state: &AppState, uri: &str) -> (u16, Value) {
        let req = TestRequest::get()
            .uri(uri)
            .insert_header(("accept", "application/json"));
        let (s, h, b) = send(state, self.request(req)).await;
        self.keep(&h);
        (s, b)
    }
}

fn path_and_query(url: &str) -> String {
    let u = url::Url::parse(url).unwrap();
    format!("{}?{}", u.path(), u.query().unwrap_or_default())
}

/// Start a login in `browser`; the callback URL the IdP sends back.
async fn login(state: &AppState, browser: &mut Browser) -> String {
    let (status, headers, _) = browser.get(state, "/oidc/login?provider=testidp").await;
    assert_eq!(status, 302);
    let to_idp = headers
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        to_idp.contains("code_challenge_method=S256"),
        "PKCE: {to_idp}"
    );
    assert!(to_idp.contains("nonce="), "nonce: {to_idp}");
    support::oidc_idp::sign_in_at_idp(&to_idp).await
}

#[actix_web::test]
async fn oidc_sign_in_lands_on_the_role_picker() {
    let state = state();
    let mut browser = Browser::new();
    let callback = login(&state, &mut browser).await;
    let (status, headers, body) = browser.get(&state, &path_and_query(&callback)).await;
    assert_eq!(status, 303, "{body}");
    assert_eq!(headers.get("location").unwrap(), "/roles");
    let set = headers
        .get_all("set-cookie")
        .map(|h| h.to_str().unwrap().to_owned())
        .collect::<Vec<_>>();
    let session = set
        .iter()
        .find(|c| c.starts_with("fedbroker_session="))
        .expect("session cookie");
    assert!(
        session.contains("HttpOnly") && session.contains("SameSite=Lax"),
        "{session}"
    );

    let (status, headers, page) = browser.get(&state, "/roles").await;
    assert_eq!(status, 200);
    let html = page.as_str().unwrap();
    for needle in [
        "sandbox",
        "ReadOnly",
        "111122223333",
        "Admin",
        "444455556666",
        "/console?role=",
    ] {
        assert!(html.contains(needle), "{needle} missing from the picker");
    }
    assert!(headers
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'none'"));
    assert_eq!(headers.get("referrer-policy").unwrap(), "no-referrer");
    assert_eq!(headers.get("cache-control").unwrap(), "no-store");

    let (status, json) = browser.get_json(&state, "/roles").await;
    assert_eq!(status, 200);
    assert_eq!(json["subject"], env("FEDBROKER_TEST_OIDC_USER"));
    assert_eq!(json["roles"].as_array().unwrap().len(), 2, "{json}");
}

#[actix_web::test]
async fn replayed_login_callback_is_refused() {
    let state = state();
    let mut browser = Browser::new();
    let callback = path_and_query(&login(&state, &mut browser).await);
    let login_cookie = browser.jar.clone();
    assert_eq!(browser.get(&state, &callback).await.0, 303);
    // The same callback again, with the login cookie it had: the state was used up.
    let mut again = Browser { jar: login_cookie };
    let (status, _, body) = again.get(&state, &callback).await;
    assert_eq!(status, 401);
    assert!(body.as_str().unwrap().contains("login_state_invalid"));
}

#[actix_web::test]
async fn login_callback_in_another_browser_is_refused() {
    let state = state();
    let mut victim = Browser::new();
    let callback = path_and_query(&login(&state, &mut victim).await);
    // The attacker's browser presents the victim's callback URL (a leaked or planted link).
    let mut attacker = Browser::new();
    let (status, _, body) = attacker.get(&state, &callback).await;
    assert_eq!(status, 401);
    assert!(body.as_str().unwrap().contains("login_browser_mismatch"));
    assert_eq!(
        attacker.get_json(&state, "/roles").await.0,
        401,
        "no session"
    );
    // And the state is spent: the victim's own browser cannot use it afterwards either.
    assert_eq!(victim.get(&state, &callback).await.0, 401);
}

#[actix_web::test]
async fn authorization_code_injection_is_refused() {
    // A code from another login (another PKCE verifier and nonce) pasted into this login's
    // callback: the IdP refuses the code for this verifier.
    let state = state();
    let mut browser = Browser::new();
    let mine = url::Url::parse(&login(&state, &mut browser).await).unwrap();
    let mut other_browser = Browser::new();
    let theirs = url::Url::parse(&login(&state, &mut other_browser).await).unwrap();
    let q = |u: &url::Url, k: &str| {
        u.query_pairs()
            .find(|(n, _)| n == k)
            .unwrap()
            .1
            .into_owned()
    };
    let forged = format!(
        "/oidc/callback?code={}&state={}",
        q(&theirs, "code"),
        q(&mine, "state")
    );
    let (status, _, body) = browser.get(&state, &forged).await;
    assert!(status == 403 || status == 401, "{status} {body}");
    assert_eq!(
        browser.get_json(&state, "/roles").await.0,
        401,
        "no session"
    );
}

#[actix_web::test]
async fn idp_error_and_unknown_provider_are_clear_errors() {
    let state = state();
    let mut browser = Browser::new();
    let (status, _, body) = browser
        .get(&state, "/oidc/callback?error=access_denied&state=x")
        .await;
    assert_eq!(status, 403);
    assert!(body.as_str().unwrap().contains("login_refused"));
    let (status, _, body) = browser.get(&state, "/oidc/login?provider=nope").await;
    assert_eq!(status, 400);
    assert!(body.as_str().unwrap().contains("login_unknown_provider"));
}

#[actix_web::test]
async fn logout_without_the_csrf_token_is_refused() {
    let state = state();
    let mut browser = Browser::new();
    let callback = path_and_query(&login(&state, &mut browser).await);
    assert_eq!(browser.get(&state, &callback).await.0, 303);
    let forged = browser.request(
        TestRequest::post()
            .uri("/logout")
            .set_form([("csrf", "not-the-token")]),
    );
    let (status, _, _) = send(&state, forged).await;
    assert_eq!(status, 403, "cross-site logout refused");
    assert_eq!(
        browser.get_json(&state, "/roles").await.0,
        200,
        "still signed in"
    );
    let (_, json) = browser.get_json(&state, "/roles").await;
    let link = json["roles"][0]["console_url"].as_str().unwrap().to_owned();
    let csrf = link.split("csrf=").nth(1).unwrap().to_owned();
    let real = browser.request(
        TestRequest::post()
            .uri("/logout")
            .set_form([("csrf", csrf.as_str())]),
    );
    let (status, headers, _) = send(&state, real).await;
    assert_eq!(status, 303);
    browser.keep(&headers);
    assert_eq!(
        browser.get_json(&state, "/roles").await.0,
        401,
        "signed out"
    );
}

#[actix_web::test]
async fn picking_a_role_redirects_to_a_console_sign_in_url_the_federation_endpoint_accepts() {
    let federation = FederationDouble::start();
    let state = state_with(&config_with_federation(&federation.url));
    let mut browser = Browser::new();
    let callback = path_and_query(&login(&state, &mut browser).await);
    assert_eq!(browser.get(&state, &callback).await.0, 303);
    let (_, json) = browser.get_json(&state, "/roles").await;
    let link = json["roles"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["alias"] == "sandbox")
        .unwrap()["console_url"]
        .as_str()
        .unwrap()
        .to_owned();

    // Without the CSRF token (a cross-site link): refused, nothing issued.
    let no_csrf = link.split("&csrf=").next().unwrap().to_owned();
    let (status, _, _) = browser.get(&state, &no_csrf).await;
    assert_eq!(status, 403);
    let forged = format!("{no_csrf}&csrf=forged");
    assert_eq!(browser.get(&state, &forged).await.0, 403);
    assert_eq!(federation.hits(), 0);

    // An open redirect through destination: refused before any credential.
    let evil = format!("{link}&destination=https%3A%2F%2Fevil.example%2F");
    assert_eq!(browser.get(&state, &evil).await.0, 400);
    assert_eq!(federation.hits(), 0);

    let (status, headers, _) = browser
        .get(&state, &format!("{link}&session_duration=1800"))
        .await;
    assert_eq!(status, 302);
    assert_eq!(headers.get("cache-control").unwrap(), "no-store");
    assert_eq!(headers.get("referrer-policy").unwrap(), "no-referrer");
    let signin = headers
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(signin.starts_with(&federation.url), "{signin}");
    let u = url::Url::parse(&signin).unwrap();
    let q: std::collections::HashMap<String, String> = u.query_pairs().into_owned().collect();
    assert_eq!(q["Action"], "login");
    assert_eq!(q["Destination"], "https://console.aws.amazon.com/");
    let requests = federation.token_requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].session_duration, Some(1800));

    // The browser follows the redirect: the endpoint accepts the token once.
    let http = reqwest::Client::new();
    assert_eq!(http.get(&signin).send().await.unwrap().status(), 200);
    assert_eq!(
        http.get(&signin).send().await.unwrap().status(),
        400,
        "single use"
    );

    // Not signed in: back to the sign-in page, nothing issued.
    let mut stranger = Browser::new();
    let (status, headers, _) = stranger.get(&state, &link).await;
    assert_eq!(status, 303);
    assert_eq!(headers.get("location").unwrap(), "/roles");
}

#[actix_web::test]
async fn sign_in_started_on_one_replica_finishes_on_another_and_redis_holds_nothing_readable() {
    let redis_url = env("FEDBROKER_TEST_REDIS_URL");
    let prefix = format!("fedbroker-browser-{}:", uuid::Uuid::new_v4().simple());
    let keyring = || {
        fedbroker::cache::Keyring::from_specs(["t1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="])
            .unwrap()
    };
    let kv_a: Arc<dyn fedbroker::sign_in::BrowserKv> = Arc::new(
        fedbroker::sign_in::RedisKv::connect(&redis_url, &prefix, keyring())
            .await
            .unwrap(),
    );
    let kv_b: Arc<dyn fedbroker::sign_in::BrowserKv> = Arc::new(
        fedbroker::sign_in::RedisKv::connect(&redis_url, &prefix, keyring())
            .await
            .unwrap(),
    );
    let (a, b) = (
        state_on(&config(), Some(kv_a)),
        state_on(&config(), Some(kv_b)),
    );
    let mut browser = Browser::new();
    let callback = path_and_query(&login(&a, &mut browser).await);
    // The load balancer sends the callback to replica B: it knows the login.
    assert_eq!(browser.get(&b, &callback).await.0, 303);
    // And the session works on either replica.
    assert_eq!(browser.get_json(&a, "/roles").await.0, 200);
    assert_eq!(browser.get_json(&b, "/roles").await.0, 200);
    // Single use across replicas: the same callback on A is refused.
    assert_eq!(browser.get(&a, &callback).await.0, 401);

    // Nothing readable in Redis: not the subject, the ID token's parts or the session cookie.
    let client = redis::Client::open(redis_url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(!keys.is_empty(), "the session is in Redis");
    let session_cookie = browser.jar.get("fedbroker_session").unwrap().to_owned();
    let user = env("FEDBROKER_TEST_OIDC_USER");
    for k in keys {
        assert!(!k.contains(&session_cookie), "cookie value in a key name");
        // Entries are strings; the pending-login indexes are sorted sets of key names.
        let kind: String = redis::cmd("TYPE")
            .arg(&k)
            .query_async(&mut conn)
            .await
            .unwrap();
        let v: Vec<u8> = if kind == "zset" {
            let members: Vec<String> = redis::cmd("ZRANGE")
                .arg(&k)
                .arg(0)
                .arg(-1)
                .query_async(&mut conn)
                .await
                .unwrap();
            members.join("\n").into_bytes()
        } else {
            redis::cmd("GET")
                .arg(&k)
                .query_async(&mut conn)
                .await
                .unwrap()
        };
        let text = String::from_utf8_lossy(&v);
        for needle in [
            user.as_str(),
            "eyJ",
            "@example.com",
            session_cookie.as_str(),
        ] {
            assert!(!text.contains(needle), "{needle:?} readable in {k}");
        }
    }
}

#[actix_web::test]
async fn id_token_signed_with_an_algorithm_outside_allowed_algorithms_is_refused_at_the_callback() {
    // The test IdP signs ID tokens with RS256; this provider allows ES256 only.
    let config = config().replace(
        "scopes = [\"email\", \"profile\"]",
        "scopes = [\"email\", \"profile\"]\nallowed_algorithms = [\"ES256\"]",
    );
    assert!(config.contains("allowed_algorithms"));
    let state = state_with(&config);
    let mut browser = Browser::new();
    let callback = login(&state, &mut browser).await;
    let (status, _, body) = browser.get(&state, &path_and_query(&callback)).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body.as_str().unwrap().contains("login_id_token_invalid"),
        "{body}"
    );
    assert_eq!(
        browser.get_json(&state, "/roles").await.0,
        401,
        "no session"
    );
    // The same IdP with its algorithm allowed signs in.
    let config = config.replace("[\"ES256\"]", "[\"RS256\", \"ES256\"]");
    let state = state_with(&config);
    let mut browser = Browser::new();
    let callback = login(&state, &mut browser).await;
    assert_eq!(browser.get(&state, &path_and_query(&callback)).await.0, 303);
}

#[actix_web::test]
async fn oidc_login_cookie_is_host_prefixed_on_an_https_broker() {
    // A sibling subdomain can set `fedbroker_login` for the parent domain, not a __Host- cookie.
    let redirect = env("FEDBROKER_TEST_OIDC_REDIRECT_URI");
    let public = redirect.trim_end_matches("/oidc/callback").to_owned();
    let config = config().replace(
        &format!("public_url = \"{public}\""),
        "public_url = \"https://broker.example.com\"",
    );
    let state = state_with(&config);
    let mut browser = Browser::new();
    let (status, headers, _) = browser.get(&state, "/oidc/login?provider=testidp").await;
    assert_eq!(status, 302);
    let set: Vec<String> = headers
        .get_all("set-cookie")
        .map(|h| h.to_str().unwrap().to_owned())
        .collect();
    let login = set
        .iter()
        .find(|c| c.starts_with("__Host-fedbroker_login="))
        .unwrap_or_else(|| panic!("no __Host- login cookie: {set:?}"));
    assert!(
        login.contains("Secure") && login.contains("Path=/") && !login.contains("Domain"),
        "{login}"
    );
}
