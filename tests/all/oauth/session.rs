//! CLI sessions through the real handlers: the bearer token on `GET /v1/roles` and
//! `POST /v1/credentials` (the same exchange as every credential route: STS is moto through the
//! recorder), refresh, `fedbroker logout` (`POST /oauth/revoke`) and the administrator's
//! revocation of the subject.

use super::{broker, broker_with_federation, oauth_error, pass_through_broker, CLIENT, DEPLOYER};
use actix_web::test::TestRequest;
use chrono::TimeDelta;
use serde_json::{json, Value};

fn credentials(body: Value) -> TestRequest {
    TestRequest::post().uri("/v1/credentials").set_json(body)
}

fn at(tokens: &Value) -> &str {
    tokens["access_token"].as_str().unwrap()
}

fn rt(tokens: &Value) -> &str {
    tokens["refresh_token"].as_str().unwrap()
}

#[actix_web::test]
async fn roles_of_the_cli_session_name_account_role_alias_and_region() {
    let b = broker();
    let tokens = b.device_login().await;
    let (status, headers, body) = b
        .bearer(at(&tokens), TestRequest::get().uri("/v1/roles"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers.get("cache-control").unwrap(), "no-store");
    assert_eq!(body["subject"], "alice@example.com");
    assert_eq!(body["session_expires_at"], tokens["session_expires_at"]);
    let role = &body["roles"][0];
    assert_eq!(role["role_arn"], DEPLOYER);
    assert_eq!(role["alias"], "deploy");
    assert_eq!(role["account_id"], "111122223333");
    assert_eq!(role["role_name"], "Deployer");
    assert_eq!(role["mode"], "assume-role");
    assert_eq!(role["region"], "us-east-1");
}

#[actix_web::test]
async fn credentials_with_the_bearer_token_go_through_the_exchange_and_cache() {
    let b = broker();
    let tokens = b.device_login().await;
    let (status, headers, creds) = b
        .bearer(
            at(&tokens),
            credentials(json!({"role_arn": DEPLOYER, "duration_seconds": 900})),
        )
        .await;
    assert_eq!(status, 200, "{creds}");
    assert_eq!(creds["Version"], 1);
    assert!(creds["AccessKeyId"].as_str().is_some());
    assert!(creds["SessionToken"].as_str().is_some());
    assert_eq!(headers.get("cache-control").unwrap(), "no-store");
    assert_eq!(headers.get("x-fedbroker-cache").unwrap(), "miss");
    // The alias names the same role; the cache answers the same session.
    let (status, headers, again) = b
        .bearer(
            at(&tokens),
            credentials(json!({"role_arn": "deploy", "duration_seconds": "900"})),
        )
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(headers.get("x-fedbroker-cache").unwrap(), "hit");
    assert_eq!(again["AccessKeyId"], creds["AccessKeyId"]);
    // Rules still decide: a role not granted is refused.
    let (status, _, body) = b
        .bearer(
            at(&tokens),
            credentials(json!({"role_arn": "arn:aws:iam::111122223333:role/Admin"})),
        )
        .await;
    assert_eq!(status, 403, "{body}");
}

#[actix_web::test]
async fn credentials_without_a_valid_token_are_cli_session_invalid() {
    let b = broker();
    let unknown = format!("Bearer {}", "A".repeat(43));
    for auth in [
        None,
        Some(unknown.as_str()),
        Some("Bearer notatoken"),
        Some("Basic abc"),
    ] {
        let mut req = credentials(json!({"role_arn": DEPLOYER}));
        if let Some(a) = auth {
            req = req.insert_header(("Authorization", a));
        }
        let (status, _, body) = crate::support::http::send(&b.state, req).await;
        assert_eq!(status, 401, "{auth:?}: {body}");
        assert_eq!(body["error"]["code"], "cli_session_invalid");
    }
    assert_eq!(b.sts.calls(), 0, "STS never called");
}

#[actix_web::test]
async fn refresh_gives_a_new_access_token_within_the_session() {
    let b = broker();
    let tokens = b.device_login().await;
    b.clock.advance(TimeDelta::minutes(61));
    let (status, _, body) = b
        .bearer(at(&tokens), TestRequest::get().uri("/v1/roles"))
        .await;
    assert_eq!(status, 401, "the access token expired: {body}");
    // The IdP session of the test response lasts an hour: the CLI session ended with it.
    let (status, body) = b
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt(&tokens)),
            ("client_id", CLIENT),
        ])
        .await;
    assert_eq!(
        (status, oauth_error(&body)),
        (400, "invalid_grant"),
        "{body}"
    );
}

#[actix_web::test]
async fn refresh_within_the_session_keeps_working() {
    let b = broker();
    let tokens = b.device_login().await;
    b.clock.advance(TimeDelta::minutes(20));
    let (status, fresh) = b
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt(&tokens)),
            ("client_id", CLIENT),
        ])
        .await;
    assert_eq!(status, 200, "{fresh}");
    assert_ne!(at(&fresh), at(&tokens));
    assert_eq!(fresh["session_expires_at"], tokens["session_expires_at"]);
    assert!(
        fresh["expires_in"].as_i64().unwrap() <= 40 * 60,
        "never past the session"
    );
    let (status, _, _) = b
        .bearer(at(&fresh), TestRequest::get().uri("/v1/roles"))
        .await;
    assert_eq!(status, 200);
}

#[actix_web::test]
async fn token_after_logout_is_refused() {
    let b = broker();
    let tokens = b.device_login().await;
    let (status, _, _) = b
        .form(
            "/oauth/revoke",
            &[("token", rt(&tokens)), ("client_id", CLIENT)],
        )
        .await;
    assert_eq!(status, 200);
    let (status, _, body) = b
        .bearer(at(&tokens), credentials(json!({"role_arn": DEPLOYER})))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("cli_session_invalid"))
    );
    let (status, body) = b
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt(&tokens)),
            ("client_id", CLIENT),
        ])
        .await;
    assert_eq!((status, oauth_error(&body)), (400, "invalid_grant"));
    // Logging out again, or with a made-up token, is still 200 (RFC 7009).
    let (status, _, _) = b.form("/oauth/revoke", &[("token", "made-up")]).await;
    assert_eq!(status, 200);
}

#[actix_web::test]
async fn token_after_admin_revoke_is_refused_even_without_a_block() {
    let b = broker();
    let tokens = b.device_login().await;
    b.clock.advance(TimeDelta::seconds(1));
    let (status, body) = b.admin_revoke_alice(0).await;
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = b
        .bearer(at(&tokens), credentials(json!({"role_arn": DEPLOYER})))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("cli_session_invalid"))
    );
    let (status, body) = b
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt(&tokens)),
            ("client_id", CLIENT),
        ])
        .await;
    assert_eq!((status, oauth_error(&body)), (400, "invalid_grant"));
    // A sign-in after the revocation gets a working session again (block_seconds = 0).
    b.clock.advance(TimeDelta::seconds(1));
    let fresh = b.device_login().await;
    let (status, _, body) = b
        .bearer(at(&fresh), TestRequest::get().uri("/v1/roles"))
        .await;
    assert_eq!(status, 200, "{body}");
}

#[actix_web::test]
async fn token_after_admin_revoke_with_a_block_is_refused() {
    let b = broker();
    let tokens = b.device_login().await;
    b.clock.advance(TimeDelta::seconds(1));
    let (status, _) = b.admin_revoke_alice(600).await;
    assert_eq!(status, 200);
    let (status, _, body) = b
        .bearer(at(&tokens), TestRequest::get().uri("/v1/roles"))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("cli_session_invalid"))
    );
}

#[actix_web::test]
async fn console_url_accepts_the_cli_session() {
    let fed = crate::support::federation::FederationDouble::start();
    let b = broker_with_federation(&fed.url);
    let tokens = b.device_login().await;
    let console = || TestRequest::post().uri("/v1/console-url");
    let (status, headers, body) = b
        .bearer(
            at(&tokens),
            console().set_json(json!({"role_arn": "deploy"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers.get("cache-control").unwrap(), "no-store");
    assert!(body["url"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{}?Action=login&", fed.url)));
    // A CLI session and a second credential in the body are ambiguous.
    let (status, _, body) = b
        .bearer(
            at(&tokens),
            console().set_json(json!({"role_arn": DEPLOYER, "token": "x"})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("ambiguous_credential"))
    );
    // After logout the token is refused before anything else.
    b.form("/oauth/revoke", &[("token", at(&tokens))]).await;
    let hits = fed.hits();
    let (status, _, body) = b
        .bearer(
            at(&tokens),
            console().set_json(json!({"role_arn": DEPLOYER})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("cli_session_invalid"))
    );
    assert_eq!(fed.hits(), hits, "the federation endpoint was not called");
}

#[actix_web::test]
async fn pass_through_role_is_served_only_while_the_original_assertion_is_valid() {
    let b = pass_through_broker();
    let tokens = b.device_login().await;
    let read_only = "arn:aws:iam::111122223333:role/ReadOnly";
    let (status, _, body) = b
        .bearer(at(&tokens), credentials(json!({"role_arn": read_only})))
        .await;
    assert_eq!(status, 200, "while the assertion is valid: {body}");
    // The assertion's SubjectConfirmation ends 5 minutes after issue; the CLI session lives on.
    b.clock.advance(TimeDelta::minutes(6));
    let calls = b.sts.calls();
    let (status, _, body) = b
        .bearer(
            at(&tokens),
            credentials(json!({"role_arn": read_only, "duration_seconds": 1800})),
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "pass_through_expired");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("pass-through"));
    assert_eq!(b.sts.calls(), calls, "STS not called");
    let (status, _, _) = b
        .bearer(at(&tokens), TestRequest::get().uri("/v1/roles"))
        .await;
    assert_eq!(status, 200, "the session itself is still valid");
}
