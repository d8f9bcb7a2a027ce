//! `POST /v1/console-url` through the real handlers: STS = the SDK client against moto (wrapped in
//! `support::recording_sts`), the federation endpoint = `support::federation`'s double on a
//! loopback port. Negative tests are named after the attack and prove that a refused request
//! reached neither STS nor the federation endpoint.

use crate::support;
use crate::support::fixtures::test_saml_idp;

use actix_web::test::TestRequest;
use chrono::TimeDelta;
use fedbroker::clock::Clock;
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use std::collections::HashMap;
use support::app::{test_app, TestApp};
use support::federation::{closed_endpoint, FederationDouble, Mode};
use support::http::send;

const ISSUER: &str = "https://broker.example/";

/// The in-process broker of `support::app` with a console configuration.
struct Setup(TestApp);

impl std::ops::Deref for Setup {
    type Target = TestApp;
    fn deref(&self) -> &TestApp {
        &self.0
    }
}

fn setup(federation_endpoint: &str) -> Setup {
    Setup(test_app(&format!(
        r#"
[server]
public_url = "{ISSUER}"
[aws]
federation_endpoint = "{federation_endpoint}"
{idp}"#,
        idp = test_saml_idp!()
    )))
}

impl Setup {
    fn saml(&self) -> String {
        self.0.saml(|_| {})
    }

    async fn console_url(&self, body: Value) -> (u16, actix_web::http::header::HeaderMap, Value) {
        send(
            &self.state,
            TestRequest::post().uri("/v1/console-url").set_json(body),
        )
        .await
    }
}

fn query(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

#[actix_web::test]
async fn saml_assertion_becomes_a_login_url_the_federation_endpoint_accepts_once() {
    let fed = FederationDouble::start();
    let s = setup(&fed.url);
    let (status, headers, body) = s.console_url(json!({ "saml_response": s.saml() })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers.get("cache-control").unwrap(), "no-store");

    let url = body["url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}?Action=login&", fed.url)),
        "{url}"
    );
    let q = query(url);
    assert_eq!(q["Issuer"], ISSUER);
    assert_eq!(q["Destination"], "https://console.aws.amazon.com/");
    let requests = fed.token_requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(q["SigninToken"], requests[0].token);
    assert_eq!(requests[0].session_duration, None, "omitted by default");
    assert_eq!(body["session_duration"], Value::Null);
    let expires =
        (s.clock.now() + TimeDelta::minutes(15)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert_eq!(body["expires_at"], expires);

    // The Session JSON is exactly the credentials moto issued.
    let issued = s.sts.seen().issued.clone();
    assert_eq!(issued.len(), 1);
    assert_eq!(
        requests[0].session,
        json!({
            "sessionId": issued[0].access_key_id,
            "sessionKey": issued[0].secret_access_key.expose_secret(),
            "sessionToken": issued[0].session_token.expose_secret(),
        })
    );

    // The URL signs in once, like AWS's.
    let client = reqwest::Client::new();
    assert_eq!(client.get(url).send().await.unwrap().status(), 200);
    assert_eq!(client.get(url).send().await.unwrap().status(), 400);
}

#[actix_web::test]
async fn session_duration_and_destination_are_forwarded() {
    let fed = FederationDouble::start();
    let s = setup(&fed.url);
    let (status, _, body) = s
        .console_url(json!({
            "saml_response": s.saml(),
            "session_duration": 1800,
            "destination": "https://eu-west-1.console.aws.amazon.com/s3/buckets?region=eu-west-1",
        }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["session_duration"], 1800);
    assert_eq!(fed.token_requests()[0].session_duration, Some(1800));
    assert_eq!(
        query(body["url"].as_str().unwrap())["Destination"],
        "https://eu-west-1.console.aws.amazon.com/s3/buckets?region=eu-west-1"
    );
}

#[actix_web::test]
async fn region_selects_the_regional_console_home() {
    let fed = FederationDouble::start();
    let s = setup(&fed.url);
    let (status, _, body) = s
        .console_url(json!({ "saml_response": s.saml(), "region": "eu-central-1" }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        query(body["url"].as_str().unwrap())["Destination"],
        "https://console.aws.amazon.com/console/home?region=eu-central-1"
    );
}

#[actix_web::test]
async fn open_redirect_through_destination_is_refused_before_sts_and_the_assertion_survives() {
    let fed = FederationDouble::start();
    let s = setup(&fed.url);
    let saml = s.saml();
    for attack in [
        "https://evil.example/",
        "https://console.aws.amazon.com.evil.example/",
        "https://console.aws.amazon.com@evil.example/",
        "javascript:alert(document.cookie)",
        "//evil.example",
        "https:\\\\evil.example",
        "https:/\\evil.example",
        "http://console.aws.amazon.com/",
        "https://console.aws.amazon.com:444/",
        "data:text/html,<script>alert(1)</script>",
    ] {
        let (status, _, body) = s
            .console_url(json!({ "saml_response": saml, "destination": attack }))
            .await;
        assert_eq!(status, 400, "{attack}: {body}");
        assert_eq!(
            body["error"]["code"], "console_destination_not_allowed",
            "{attack}"
        );
        assert!(
            !body.to_string().contains("evil"),
            "the destination is not echoed"
        );
    }
    assert_eq!(s.sts.calls(), 0, "no STS call for a bad destination");
    assert_eq!(fed.hits(), 0, "no federation call for a bad destination");
    // Checked before the assertion was consumed: it still works.
    let (status, _, body) = s.console_url(json!({ "saml_response": saml })).await;
    assert_eq!(status, 200, "{body}");
}

#[actix_web::test]
async fn out_of_range_session_duration_is_refused_not_clamped() {
    let fed = FederationDouble::start();
    let s = setup(&fed.url);
    for d in [json!(899), json!(43201), json!("3600s"), json!(-900)] {
        let (status, _, body) = s
            .console_url(json!({ "saml_response": s.saml(), "session_duration": d }))
            .await;
        assert_eq!(status, 400, "{d}: {body}");
        assert_eq!(body["error"]["code"], "console_invalid_session_duration");
    }
    assert_eq!((s.sts.calls(), fed.hits()), (0, 0));
}

#[actix_web::test]
async fn console_session_longer_than_the_negotiated_credentials_is_refused() {
    let fed = FederationDouble::start();
    let s = setup(&fed.url);
    // The IdP allows 900 s and its session ends in 16 minutes.
    let saml = s.0.saml(|b| {
        b.set_attribute(
            "https://aws.amazon.com/SAML/Attributes/SessionDuration",
            &["900"],
        );
        b.session_not_on_or_after = Some(b.issue_instant + TimeDelta::minutes(16));
    });
    for d in [43200, 3600, 901] {
        let (status, _, body) = s
            .console_url(json!({ "saml_response": saml, "session_duration": d }))
            .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("duration_not_allowed")),
            "{d}: {body}"
        );
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("session_duration"));
    }
    assert_eq!((s.sts.calls(), fed.hits()), (0, 0), "refused before STS");
    // Checked before the assertion was consumed: within the limits it still works.
    let (status, _, body) = s
        .console_url(json!({ "saml_response": saml, "session_duration": 900 }))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(fed.token_requests()[0].session_duration, Some(900));
}

#[actix_web::test]
async fn session_name_smuggled_with_a_saml_assertion_is_refused() {
    let fed = FederationDouble::start();
    let s = setup(&fed.url);
    let (status, _, body) = s
        .console_url(json!({ "saml_response": s.saml(), "session_name": "admin" }))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("session_name_not_accepted"))
    );
    assert_eq!((s.sts.calls(), fed.hits()), (0, 0));
}

#[actix_web::test]
async fn federation_endpoint_down_answers_503_with_retry_after() {
    let s = setup(&closed_endpoint());
    let (status, headers, body) = s.console_url(json!({ "saml_response": s.saml() })).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "console_endpoint_unavailable");
    assert!(headers.get("retry-after").is_some());
    let secret = s.sts.seen().issued[0]
        .secret_access_key
        .expose_secret()
        .to_owned();
    assert!(!body.to_string().contains(&secret));
}

#[actix_web::test]
async fn federation_endpoint_failing_or_answering_garbage_is_a_502_with_retry_after() {
    let fed = FederationDouble::start();
    let s = setup(&fed.url);
    for (mode, code, expected) in [
        (Mode::ServerError, "console_endpoint_failed", 502),
        (Mode::Garbage, "console_endpoint_bad_answer", 502),
        (Mode::Refuse, "console_signin_refused", 403),
    ] {
        fed.set_mode(mode);
        let (status, headers, body) = s.console_url(json!({ "saml_response": s.saml() })).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (expected, Some(code)),
            "{mode:?}"
        );
        assert_eq!(
            headers.get("retry-after").is_some(),
            expected != 403,
            "{mode:?}"
        );
    }
}

#[actix_web::test]
async fn login_url_token_and_credentials_never_reach_the_log() {
    // Every test of the binary logs into the one capture (`support::logs`).
    let captured = support::logs::captured();
    let fed = FederationDouble::start();
    let s = setup(&fed.url);

    let (status, _, body) = s
        .console_url(json!({ "saml_response": s.saml(), "session_duration": 900 }))
        .await;
    assert_eq!(status, 200, "{body}");
    fed.set_mode(Mode::Refuse);
    let (status, _, _) = s.console_url(json!({ "saml_response": s.saml() })).await;
    assert_eq!(status, 403);

    let log = captured.text();
    assert!(
        log.contains("console.url_issued"),
        "the audit event is written: {log}"
    );
    let issued = s.sts.seen().issued.clone();
    let token = &fed.token_requests()[0].token;
    for secret in [
        token.as_str(),
        body["url"].as_str().unwrap(),
        "Action=login",
        "getSigninToken",
        issued[0].secret_access_key.expose_secret(),
        issued[0].session_token.expose_secret(),
    ] {
        assert!(
            !log.contains(secret),
            "the log holds a secret ({})",
            &secret[..8.min(secret.len())]
        );
    }
}
