//! The three STS modes through the real handler, chosen by mapping rules: a SAML identity granted
//! (a) an issuer-mode role: the broker mints a token carrying the mapped tags and source identity,
//! which verifies against the broker's own JWKS, and moto returns credentials for it; (b) an
//! assume-role role: AssumeRole receives the mapped tags, source identity and ExternalId (signed
//! with the broker's credentials; that the SDK puts them on the wire is `sts_assume_role.rs`);
//! (c) several grants without a choice → 409. STS is the real `SdkStsClient` talking to moto,
//! wrapped in `support::recording_sts`.

use crate::support;
use crate::support::fixtures::test_saml_idp;
use crate::support::issuer as issuer_support;

use fedbroker::clock::{FixedClock, SharedClock};
use fedbroker::config::load_str;
use fedbroker::http::AppState;
use fedbroker::replay::memory::MemoryReplayGuard;
use fedbroker::sts::sdk::SdkStsClient;
use secrecy::ExposeSecret;
use serde_json::Value;
use std::sync::Arc;
use support::harness::{t0, test_idp};
use support::http::post_form;
use support::recording_sts::{moto_endpoint, RecordingSts};
use support::saml_idp::SamlResponseBuilder;

const TAGGED: &str = "arn:aws:iam::111122223333:role/Tagged";
const DEPLOYER: &str = "arn:aws:iam::111122223333:role/Deployer";

const RULES: &str = concat!(
    test_saml_idp!(),
    r#"
[issuer]
enabled = true
issuer_url = "https://broker.example.com"
[[issuer.keys]]
kid = "demo-rsa-1"
file = "certs/issuer-rsa-1.key"
alg = "RS256"
active = true

[[rules]]
name = "engineers"
[rules.match]
provider = "test-idp"
subject = { glob = "*@example.com" }

[[rules.grants]]
role_arn = "arn:aws:iam::111122223333:role/Tagged"
mode = "issuer"
alias = "tagged-dev"
session_name = "{subject}"
source_identity = "{subject}"
tags = { Team = "platform", Who = "{subject}" }
transitive_tag_keys = ["Team"]

[[rules.grants]]
role_arn = "arn:aws:iam::111122223333:role/Deployer"
mode = "assume-role"
tags = { Team = "platform" }
source_identity = "{subject}"
external_id = "Example987"
duration_seconds = 1800
"#
);

struct Setup {
    state: AppState,
    sts: Arc<RecordingSts>,
    jwks: String,
}

fn setup(with_issuer: bool) -> Setup {
    let cfg = load_str(RULES, Vec::<(String, String)>::new()).expect("rules load");
    let broker_creds =
        aws_credential_types::Credentials::new("test", "test", None, None, "fedbroker-test");
    let sts = RecordingSts::wrapping(
        SdkStsClient::new("us-east-1", Some(&moto_endpoint()))
            .with_broker_credentials(broker_creds),
    );
    let clock = Arc::new(FixedClock::new(t0()));
    let shared: SharedClock = clock.clone();
    let issuer = issuer_support::issuer("https://broker.example.com", "demo-rsa-1", &clock);
    let jwks = issuer.jwks_json().to_owned();
    let state = AppState::from_parts(
        &cfg,
        vec![test_idp()],
        sts.clone(),
        Arc::new(MemoryReplayGuard::new(shared.clone())),
        shared,
    )
    .with_issuer(with_issuer.then(|| Arc::new(issuer)));
    Setup { state, sts, jwks }
}

async fn post(state: &AppState, fields: &[(&str, &str)]) -> (u16, Value) {
    post_form(state, "/v1/saml/credentials", fields).await
}

fn fresh_saml() -> String {
    let mut b = SamlResponseBuilder::new(t0());
    b.assertion_id = format!("_a{}", uuid::Uuid::new_v4().simple());
    b.build_base64()
}

#[actix_web::test]
async fn issuer_mode_token_carries_the_mapped_tags_and_verifies_against_the_broker_jwks() {
    let s = setup(true);
    let (status, body) = post(
        &s.state,
        &[("SAMLResponse", &fresh_saml()), ("role_arn", TAGGED)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["Mode"], "issuer");
    assert_eq!(body["Alias"], "tagged-dev");
    assert_eq!(body["Rule"], "engineers");
    assert_eq!(body["SessionName"], "alice@example.com");
    assert!(
        body["AssumedRoleArn"]
            .as_str()
            .unwrap()
            .ends_with("assumed-role/Tagged/alice@example.com"),
        "{body}"
    );

    let seen = s.sts.seen();
    assert_eq!(
        seen.saml.len(),
        0,
        "issuer mode must not pass the IdP's assertion on"
    );
    let req = &seen.web_identity[0];
    assert_eq!(req.role_arn.as_str(), TAGGED);
    let payload = fedbroker::oidc::verify_jws_with_jwks(
        req.web_identity_token.expose_secret(),
        s.jwks.as_bytes(),
    )
    .expect("the minted token verifies against the broker's JWKS");
    let claims: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(claims["iss"], "https://broker.example.com");
    assert_eq!(claims["sub"], "alice@example.com");
    assert_eq!(claims["aud"], "sts.amazonaws.com");
    let tags = &claims["https://aws.amazon.com/tags"];
    assert_eq!(
        tags["principal_tags"]["Team"],
        serde_json::json!(["platform"])
    );
    assert_eq!(
        tags["principal_tags"]["Who"],
        serde_json::json!(["alice@example.com"])
    );
    assert_eq!(tags["transitive_tag_keys"], serde_json::json!(["Team"]));
    assert_eq!(
        claims["https://aws.amazon.com/source_identity"],
        "alice@example.com"
    );
}

#[actix_web::test]
async fn assume_role_mode_passes_the_mapped_tags_source_identity_and_external_id() {
    let s = setup(true);
    let (status, body) = post(
        &s.state,
        &[("SAMLResponse", &fresh_saml()), ("role_arn", DEPLOYER)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["Mode"], "assume-role");
    assert_eq!(body["RoleChaining"], false);
    assert_eq!(body["DurationSeconds"], 1800, "the rule's duration: {body}");
    assert_eq!(
        body["DurationReason"],
        "the mapping rule's duration_seconds"
    );
    let seen = s.sts.seen();
    let req = &seen.assume_role[0];
    assert_eq!(req.role_arn.as_str(), DEPLOYER);
    let tags: Vec<(String, String)> = req
        .tags
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.as_str().to_owned()))
        .collect();
    assert_eq!(
        tags,
        vec![
            ("Team".to_owned(), "platform".to_owned()),
            // Outside pass-through the broker always adds the verified subject.
            (
                "fedbroker:subject".to_owned(),
                "alice@example.com".to_owned()
            ),
        ]
    );
    assert_eq!(
        req.source_identity.as_ref().unwrap().as_str(),
        "alice@example.com"
    );
    assert_eq!(req.external_id.as_ref().unwrap().as_str(), "Example987");
    assert_eq!(req.duration.map(|d| d.secs()), Some(1800));
    // AWS reads the SAML session name from the assertion; other modes send the assertion's.
    assert_eq!(req.role_session_name.as_str(), "alice");
}

#[actix_web::test]
async fn several_granted_roles_need_a_choice_and_an_ungranted_one_is_refused() {
    let s = setup(true);
    let (status, body) = post(&s.state, &[("SAMLResponse", &fresh_saml())]).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["roles"].as_array().unwrap().len(), 2);
    let other = "arn:aws:iam::111122223333:role/ReadOnly";
    let (status, body) = post(
        &s.state,
        &[("SAMLResponse", &fresh_saml()), ("role_arn", other)],
    )
    .await;
    assert_eq!(
        status, 403,
        "the assertion offers ReadOnly but no rule grants it: {body}"
    );
    assert_eq!(s.sts.calls(), 0);
}

#[actix_web::test]
async fn issuer_grant_without_issuer_mode_is_a_clear_server_error() {
    let s = setup(false);
    let (status, body) = post(
        &s.state,
        &[("SAMLResponse", &fresh_saml()), ("role_arn", TAGGED)],
    )
    .await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["error"]["code"], "issuer_disabled");
}
