//! `SdkStsClient` against a moto server (`FEDBROKER_TEST_STS_ENDPOINT`, started by
//! `scripts/services.sh start`).
//!
//! What moto 5.x needs in the SAML assertion (read from `moto/sts/models.py`): a base64
//! `samlp:Response` → `saml:Assertion` → `saml:AttributeStatement` with **at least two**
//! `saml:Attribute` elements (with a single one xmltodict yields a dict, not a list, and moto fails
//! with HTTP 500), each with exactly one `saml:AttributeValue`:
//! - `https://aws.amazon.com/SAML/Attributes/Role` (required; moto takes the account from the role
//!   ARN before the comma),
//! - `https://aws.amazon.com/SAML/Attributes/RoleSessionName` (required),
//! - `https://aws.amazon.com/SAML/Attributes/SessionDuration` (optional; it wins over the request's
//!   `DurationSeconds`, which moto ignores for this call; default 3600).
//!
//! Moto checks no signature, issuer, audience or time, and needs neither the role nor the SAML
//! provider to exist in IAM. It accepts the unsigned request. It models no AssumeRoleWithSAML error
//! code: a malformed assertion is an HTTP 500. The AWS-code → `StsError` mapping is therefore tested
//! against a scripted fake STS in `sts_error_mapping.rs` and in unit tests.
//!
//! What moto 5.x needs for AssumeRoleWithWebIdentity (`moto/sts/responses.py`, `models.py`): only
//! `RoleArn` (account taken from it) and `RoleSessionName`. It reads `DurationSeconds` (default
//! 3600) — unlike the SAML call — and **never looks at `WebIdentityToken`**: no signature, issuer,
//! audience or expiry check, no IAM OIDC provider or role needed. Its answer has Credentials,
//! AssumedRoleUser (`AssumedRoleId` is always `ARO123EXAMPLE123:<session>`) and
//! `PackedPolicySize`, but no `SubjectFromWebIdentityToken`, `Provider` or `Audience`; those are
//! checked against the fake STS in `sts_error_mapping.rs`. Token validation is the broker's job
//! (`src/oidc`), before STS is called.

use crate::support::recording_sts::moto_endpoint as endpoint;
use base64::Engine;
use chrono::{TimeDelta, Utc};
use fedbroker::aws::{RoleArn, RoleSessionName, SamlProviderArn, SessionDuration};
use fedbroker::sts::{
    AssumeRoleWithSamlRequest, AssumeRoleWithWebIdentityRequest, SdkStsClient, StsClient, StsError,
};
use secrecy::{ExposeSecret, SecretString};

const ROLE: &str = "arn:aws:iam::123456789012:role/fedbroker-test/Admin";
const PROVIDER: &str = "arn:aws:iam::123456789012:saml-provider/corp";

fn client() -> SdkStsClient {
    SdkStsClient::new("us-east-1", Some(&endpoint()))
}

/// A minimal unsigned SAML Response carrying what moto reads (see the module doc).
fn saml_response(session_name: &str, session_duration: Option<u32>) -> String {
    let attr = |name: &str, value: &str| {
        format!(
            r#"<saml:Attribute Name="https://aws.amazon.com/SAML/Attributes/{name}"><saml:AttributeValue>{value}</saml:AttributeValue></saml:Attribute>"#
        )
    };
    let mut attrs = attr("Role", &format!("{ROLE},{PROVIDER}"));
    attrs += &attr("RoleSessionName", session_name);
    if let Some(secs) = session_duration {
        attrs += &attr("SessionDuration", &secs.to_string());
    }
    let xml = format!(
        r#"<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"><saml:Assertion><saml:Subject><saml:NameID>alice@example.com</saml:NameID></saml:Subject><saml:AttributeStatement>{attrs}</saml:AttributeStatement></saml:Assertion></samlp:Response>"#
    );
    base64::engine::general_purpose::STANDARD.encode(xml)
}

fn request(assertion: String, duration: Option<u32>) -> AssumeRoleWithSamlRequest {
    AssumeRoleWithSamlRequest {
        role_arn: RoleArn::parse(ROLE).unwrap(),
        principal_arn: SamlProviderArn::parse(PROVIDER).unwrap(),
        saml_assertion: SecretString::from(assertion),
        duration: duration.map(|s| SessionDuration::from_secs(s.into()).unwrap()),
    }
}

/// Temporary (ASIA…) key id, non-empty secret and session token.
#[track_caller]
fn assert_temporary_credentials(creds: &fedbroker::sts::StsCredentials) {
    assert!(
        creds.access_key_id.starts_with("ASIA"),
        "{}",
        creds.access_key_id
    );
    assert!(!creds.secret_access_key.expose_secret().is_empty());
    assert!(!creds.session_token.expose_secret().is_empty());
}

#[tokio::test]
async fn assume_role_with_saml_returns_temporary_credentials() {
    let before = Utc::now();
    let creds = client()
        .assume_role_with_saml(request(saml_response("alice.example", None), Some(1800)))
        .await
        .expect("moto should return credentials");

    assert_temporary_credentials(&creds);
    // moto ignores DurationSeconds for this call and defaults to one hour.
    assert!(creds.expiration > before + TimeDelta::minutes(55));
    assert!(creds.expiration < Utc::now() + TimeDelta::minutes(65));
    assert!(
        creds
            .assumed_role_arn
            .starts_with("arn:aws:sts::123456789012:assumed-role/"),
        "{}",
        creds.assumed_role_arn
    );
    assert!(creds.assumed_role_arn.contains("/Admin/"));
    assert!(creds.assumed_role_arn.ends_with("/alice.example"));
    assert!(creds.assumed_role_id.ends_with(":alice.example"));
    assert!(creds.subject.is_some());
    assert!(creds.packed_policy_size.is_some());
    // The Debug form never shows the secrets.
    let debug = format!("{creds:?}");
    assert!(!debug.contains(creds.secret_access_key.expose_secret()));
    assert!(!debug.contains(creds.session_token.expose_secret()));
}

#[tokio::test]
async fn session_duration_from_the_assertion_sets_the_expiration() {
    let before = Utc::now();
    let creds = client()
        .assume_role_with_saml(request(saml_response("bob", Some(900)), None))
        .await
        .unwrap();
    assert!(creds.expiration >= before + TimeDelta::seconds(890));
    assert!(creds.expiration <= Utc::now() + TimeDelta::seconds(910));
}

#[tokio::test]
async fn server_error_is_unavailable_and_does_not_echo_the_assertion() {
    // Valid base64, but not the XML moto expects: moto answers HTTP 500.
    let assertion = base64::engine::general_purpose::STANDARD
        .encode("<samlp:Response>not what moto expects, and secret</samlp:Response>");
    let err = client()
        .assume_role_with_saml(request(assertion.clone(), None))
        .await
        .unwrap_err();
    assert!(matches!(err, StsError::Unavailable(_)), "{err:?}");
    let text = format!("{err} {err:?}");
    assert!(!text.contains(&assertion), "{text}");
}

/// A JWT-shaped token; moto never decodes it (see the module doc).
const WEB_IDENTITY_TOKEN: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6InRlc3QifQ.eyJpc3MiOiJodHRwczovLzEyNy4wLjAuMSIsInN1YiI6ImNpLXdvcmtsb2FkIiwiYXVkIjoic3RzLmFtYXpvbmF3cy5jb20ifQ.c2lnbmF0dXJl";

fn web_identity_request(
    session_name: &str,
    duration: Option<u32>,
) -> AssumeRoleWithWebIdentityRequest {
    AssumeRoleWithWebIdentityRequest {
        role_arn: RoleArn::parse(ROLE).unwrap(),
        role_session_name: RoleSessionName::parse(session_name).unwrap(),
        web_identity_token: SecretString::from(WEB_IDENTITY_TOKEN.to_owned()),
        duration: duration.map(|s| SessionDuration::from_secs(s.into()).unwrap()),
    }
}

#[tokio::test]
async fn assume_role_with_web_identity_returns_temporary_credentials() {
    let before = Utc::now();
    let creds = client()
        .assume_role_with_web_identity(web_identity_request("ci-job-42", None))
        .await
        .expect("moto should return credentials");

    assert_temporary_credentials(&creds);
    // Default one hour.
    assert!(creds.expiration > before + TimeDelta::minutes(55));
    assert!(creds.expiration < Utc::now() + TimeDelta::minutes(65));
    assert_eq!(
        creds.assumed_role_arn,
        "arn:aws:sts::123456789012:assumed-role/Admin/ci-job-42"
    );
    assert!(creds.assumed_role_id.ends_with(":ci-job-42"));
    // moto sends no SubjectFromWebIdentityToken/Provider/Audience.
    assert_eq!(creds.subject, None);
    assert_eq!(creds.provider, None);
    assert_eq!(creds.audience, None);
    let debug = format!("{creds:?}");
    assert!(!debug.contains(creds.secret_access_key.expose_secret()));
    assert!(!debug.contains(creds.session_token.expose_secret()));
}

#[tokio::test]
async fn web_identity_duration_seconds_sets_the_expiration() {
    let before = Utc::now();
    let creds = client()
        .assume_role_with_web_identity(web_identity_request("short", Some(900)))
        .await
        .unwrap();
    assert!(creds.expiration >= before + TimeDelta::seconds(890));
    assert!(creds.expiration <= Utc::now() + TimeDelta::seconds(910));
}

#[tokio::test]
async fn web_identity_request_debug_hides_the_token() {
    let req = web_identity_request("debug", None);
    let debug = format!("{req:?}");
    assert!(!debug.contains(&WEB_IDENTITY_TOKEN[..20]), "{debug}");
    assert!(!debug.contains("c2lnbmF0dXJl"), "{debug}");
}
