//! End to end: the real `fedbroker` binary, moto server as STS and a real Redis (both started by
//! `scripts/test.sh`), SAML Responses signed at test time by the test IdP key.

use crate::support::broker;
use crate::support::harness::fresh;
use crate::support::saml_idp;

use broker::{Broker, BrokerOptions};
use chrono::Utc;
use saml_idp::ATTR_ROLE;
use serde_json::Value;

const ROLE_A: &str =
    "arn:aws:iam::111122223333:role/ReadOnly,arn:aws:iam::111122223333:saml-provider/TestIdp";
const ROLE_B: &str =
    "arn:aws:iam::111122223333:role/Admin,arn:aws:iam::111122223333:saml-provider/TestIdp";

async fn post_form(
    broker: &Broker,
    fields: &[(&str, &str)],
) -> (u16, Value, reqwest::header::HeaderMap) {
    let resp = reqwest::Client::new()
        .post(broker.url("/v1/saml/credentials"))
        .form(fields)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body: Value = resp.json().await.expect("JSON body");
    (status, body, headers)
}

fn assert_credentials(body: &Value, role_name: &str) {
    assert_eq!(body["Version"], 1, "{body}");
    let akid = body["AccessKeyId"].as_str().expect("AccessKeyId");
    assert!(akid.starts_with("ASIA"), "temporary key id: {akid}");
    assert!(!body["SecretAccessKey"]
        .as_str()
        .unwrap_or_default()
        .is_empty());
    assert!(!body["SessionToken"].as_str().unwrap_or_default().is_empty());
    let exp =
        chrono::DateTime::parse_from_rfc3339(body["Expiration"].as_str().expect("Expiration"))
            .expect("RFC 3339 Expiration");
    assert!(exp > Utc::now(), "expiration in the future");
    let arn = body["AssumedRoleArn"].as_str().expect("AssumedRoleArn");
    assert!(arn.contains(&format!("assumed-role/{role_name}/")), "{arn}");
    assert_eq!(body["Subject"], "alice@example.com");
    assert_eq!(body["SessionName"], "alice");
}

#[tokio::test]
async fn signed_saml_response_is_exchanged_for_credentials_through_moto() {
    let broker = Broker::start(BrokerOptions::default());
    let saml = fresh().build_base64();
    let (status, body, headers) = post_form(&broker, &[("SAMLResponse", &saml)]).await;
    assert_eq!(status, 200, "{body}\n{}", broker.logs());
    assert_credentials(&body, "ReadOnly");
    assert_eq!(headers["cache-control"], "no-store");
    assert!(headers.contains_key("x-request-id"));

    // The logs say what happened but never carry the assertion or the credentials.
    let logs = broker.logs();
    assert!(logs.contains("credentials.issued"), "{logs}");
    assert!(!logs.contains(&saml[..60]), "assertion leaked into logs");
    for secret in ["SecretAccessKey", "SessionToken"] {
        let v = body[secret].as_str().unwrap();
        assert!(!logs.contains(v), "{secret} leaked into logs");
    }
    assert!(
        !logs.contains("alice@example.com"),
        "subject must be hashed in logs"
    );
}

#[tokio::test]
async fn json_body_with_duration_is_accepted() {
    let broker = Broker::start(BrokerOptions::default());
    let saml = fresh().build_base64();
    let resp = reqwest::Client::new()
        .post(broker.url("/v1/saml/credentials"))
        .json(&serde_json::json!({"saml_response": saml, "duration_seconds": 900}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    // moto ignores DurationSeconds on AssumeRoleWithSAML; that the broker sends 900 is checked in
    // tests/all/http/saml.rs on the request itself.
    assert_credentials(&body, "ReadOnly");
}

#[tokio::test]
async fn replayed_assertion_is_refused_with_redis() {
    let broker = Broker::start(BrokerOptions::default());
    let saml = fresh().build_base64();
    let (first, _, _) = post_form(&broker, &[("SAMLResponse", &saml)]).await;
    assert_eq!(first, 200);
    let (second, body, _) = post_form(&broker, &[("SAMLResponse", &saml)]).await;
    assert_eq!(second, 401, "{body}");
    assert_eq!(body["error"]["code"], "saml_replay");
}

#[tokio::test]
async fn replayed_assertion_is_refused_with_in_process_cache() {
    let broker = Broker::start(BrokerOptions {
        redis: false,
        ..Default::default()
    });
    let saml = fresh().build_base64();
    assert_eq!(post_form(&broker, &[("SAMLResponse", &saml)]).await.0, 200);
    let (second, body, _) = post_form(&broker, &[("SAMLResponse", &saml)]).await;
    assert_eq!(second, 401, "{body}");
    assert_eq!(body["error"]["code"], "saml_replay");
}

#[tokio::test]
async fn several_roles_answer_409_listing_them() {
    let broker = Broker::start(BrokerOptions::default());
    let mut b = fresh();
    b.set_attribute(ATTR_ROLE, &[ROLE_A, ROLE_B]);
    let saml = b.build_base64();
    let (status, body, _) = post_form(&broker, &[("SAMLResponse", &saml)]).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "role_choice_required");
    let roles = body["error"]["roles"].as_array().expect("roles listed");
    assert_eq!(roles.len(), 2);
    assert!(roles
        .iter()
        .any(|r| r == "arn:aws:iam::111122223333:role/Admin"));
    // Resending with role_arn is checked in tests/all/http/saml.rs: moto's shallow SAML parser fails
    // on a multi-valued Role attribute, so only the request the broker sends can be examined.
}

#[tokio::test]
async fn role_not_offered_is_forbidden() {
    let broker = Broker::start(BrokerOptions::default());
    let saml = fresh().build_base64();
    let other = "arn:aws:iam::111122223333:role/NotOffered";
    let (status, body, _) =
        post_form(&broker, &[("SAMLResponse", &saml), ("role_arn", other)]).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "role_not_offered");
}

#[tokio::test]
async fn bad_input_gets_clear_errors_without_echoing_secrets() {
    let broker = Broker::start(BrokerOptions::default());
    let (status, body, _) = post_form(&broker, &[("SAMLResponse", "not base64!!")]).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "saml_malformed");

    let (status, body, _) = post_form(&broker, &[("role_arn", "x")]).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "missing_saml_response");

    let saml = fresh().build_base64();
    let (status, body, _) = post_form(
        &broker,
        &[("SAMLResponse", &saml), ("duration_seconds", "60")],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "invalid_duration");
    assert!(!body.to_string().contains(&saml[..40]));

    let big = "A".repeat(300 * 1024);
    let (status, body, _) = post_form(&broker, &[("SAMLResponse", &big)]).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "request_too_large");
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let broker = Broker::start(BrokerOptions::default());
    for path in ["/healthz", "/readyz"] {
        let resp = reqwest::get(broker.url(path)).await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
    }
}

#[tokio::test]
async fn sigterm_shuts_down_gracefully() {
    let broker = Broker::start(BrokerOptions::default());
    let status = broker.terminate();
    assert!(status.success(), "exit status {status:?}");
}

/// The real binary with its default lifetime settings accepts Entra ID's and AD FS's default
/// lifetimes (60-minute windows; Entra backdates NotBefore 5 minutes; AD FS's bearer window is
/// 5 minutes).
#[tokio::test]
async fn entra_and_adfs_shaped_assertions_are_exchanged_with_the_default_config() {
    let broker = Broker::start(BrokerOptions {
        redis: false,
        ..BrokerOptions::default()
    });
    for (idp, b) in [
        ("Entra ID", fresh().entra_shaped()),
        ("AD FS", fresh().adfs_shaped()),
    ] {
        let (status, body, _) = post_form(&broker, &[("SAMLResponse", &b.build_base64())]).await;
        assert_eq!(status, 200, "{idp}: {body}\n{}", broker.logs());
        assert_credentials(&body, "ReadOnly");
    }
}
