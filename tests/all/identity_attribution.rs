//! Identity and attribution through the real handlers: who AWS records as the caller.
//!
//! - Outside pass-through a caller may not choose the session name (`session_name_not_accepted`)
//!   unless the grant allows it, and the verified subject always reaches AWS (session tag
//!   `fedbroker:subject` by default, or SourceIdentity per grant), checked on the recorded STS call
//!   and the minted issuer token; pass-through still takes the caller's name.
//! - `/v1/roles` and `/v1/explain` name the protocol and provider that verified the identity.
//! - SAML assertions of the broker's own browser sign-in (InResponseTo, the broker's SP entity ID
//!   as Audience, its ACS as Recipient) are refused on every API endpoint (`saml_browser_assertion`)
//!   without being consumed.
//!
//! STS is the SDK client against moto wrapped in `support::recording_sts`; the OIDC provider is
//! the loopback HTTPS test issuer of `support/jwt_idp.rs`.

use crate::support;
use crate::support::fixtures::test_saml_idp;
use crate::support::http::code;
use crate::support::issuer as issuer_support;
use crate::support::jwt_idp;

use actix_web::test::TestRequest;
use fedbroker::config::load_str;
use fedbroker::http::AppState;
use fedbroker::replay::memory::MemoryReplayGuard;
use fedbroker::sts::sdk::SdkStsClient;
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use std::sync::Arc;
use support::harness::test_idp;
use support::http::send;
use support::recording_sts::{moto_endpoint, RecordingSts};
use support::saml_idp::SamlResponseBuilder;

const PUBLIC: &str = "https://broker.example";
const CI_DEPLOY: &str = "arn:aws:iam::111122223333:role/CiDeploy";
const CI_ISSUER: &str = "arn:aws:iam::111122223333:role/CiIssuer";
const CI_PASS: &str = "arn:aws:iam::111122223333:role/CiPass";
const CI_NAMED: &str = "arn:aws:iam::111122223333:role/CiNamed";
const STAFF: &str = "arn:aws:iam::111122223333:role/Staff";

fn config(oidc_issuer: &str) -> String {
    format!(
        r#"
[server]
public_url = "{PUBLIC}"
{saml_idp}[[oidc.providers]]
name = "ci"
issuer = "{oidc_issuer}"
audiences = ["sts.amazonaws.com"]

[issuer]
enabled = true
issuer_url = "https://broker.example.com"
[[issuer.keys]]
kid = "demo-rsa-1"
file = "certs/issuer-rsa-1.key"
alg = "RS256"
active = true

[[rules]]
name = "ci"
[rules.match]
provider = "ci"
[[rules.grants]]
role_arn = "{CI_DEPLOY}"
mode = "assume-role"
[[rules.grants]]
role_arn = "{CI_ISSUER}"
mode = "issuer"
[[rules.grants]]
role_arn = "{CI_PASS}"
mode = "pass-through"
[[rules.grants]]
role_arn = "{CI_NAMED}"
mode = "assume-role"
allow_caller_session_name = true
record_subject = "source_identity"

[[rules]]
name = "staff"
[rules.match]
provider = "test-idp"
[[rules.grants]]
role_arn = "{STAFF}"
mode = "assume-role"
"#,
        saml_idp = test_saml_idp!()
    )
}

struct Setup {
    state: AppState,
    sts: Arc<RecordingSts>,
    idp: jwt_idp::TestIdp,
    key: jwt_idp::SigningKey,
    clock: Arc<fedbroker::clock::FixedClock>,
    jwks: String,
}

async fn setup() -> Setup {
    let key = jwt_idp::rsa_key("oidc-signing-rsa.key", "rsa-1");
    let idp = jwt_idp::TestIdp::start(jwt_idp::jwks(&[&key])).await;
    let cfg = load_str(&config(&idp.issuer), Vec::<(String, String)>::new()).expect("loads");
    let clock = jwt_idp::fixed_clock();
    let shared: fedbroker::clock::SharedClock = clock.clone();
    let broker_creds =
        aws_credential_types::Credentials::new("test", "test", None, None, "fedbroker-test");
    let sts = RecordingSts::wrapping(
        SdkStsClient::new("us-east-1", Some(&moto_endpoint()))
            .with_broker_credentials(broker_creds),
    );
    let issuer = issuer_support::issuer("https://broker.example.com", "demo-rsa-1", &clock);
    let jwks = issuer.jwks_json().to_owned();
    let mut saml_idp = test_idp();
    // As the broker's loader does for browser sign-in: assertions addressed to the broker verify.
    saml_idp.audiences.push(format!("{PUBLIC}/saml/metadata"));
    saml_idp.recipients.push(format!("{PUBLIC}/saml/acs"));
    let state = AppState::from_parts(
        &cfg,
        vec![saml_idp],
        sts.clone(),
        Arc::new(MemoryReplayGuard::new(shared.clone())),
        shared,
    )
    .with_oidc(jwt_idp::validator(
        &[idp.provider_config("ci")],
        clock.clone(),
    ))
    .with_issuer(Some(Arc::new(issuer)));
    Setup {
        state,
        sts,
        idp,
        key,
        clock,
        jwks,
    }
}

impl Setup {
    fn token(&self) -> String {
        let claims = jwt_idp::claims(&self.idp.issuer, jwt_idp::now_secs(&self.clock));
        jwt_idp::mint(&self.key, &claims)
    }
    fn saml(&self, edit: impl FnOnce(&mut SamlResponseBuilder)) -> String {
        let mut b = SamlResponseBuilder::new(fedbroker::clock::Clock::now(&*self.clock));
        b.assertion_id = format!("_a{}", uuid::Uuid::new_v4().simple());
        edit(&mut b);
        b.build_base64()
    }
    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let (status, _, body) =
            send(&self.state, TestRequest::post().uri(path).set_json(body)).await;
        (status, body)
    }
    async fn web_identity(&self, body: Value) -> (u16, Value) {
        self.post("/v1/web-identity/credentials", body).await
    }
}

#[actix_web::test]
async fn caller_chosen_session_name_is_refused_in_assume_role_mode() {
    let s = setup().await;
    let (status, body) = s
        .web_identity(
            json!({"token": s.token(), "role_arn": CI_DEPLOY, "session_name": "alice@example.com"}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (400, "session_name_not_accepted"),
        "{body}"
    );
    assert!(
        !body.to_string().contains("alice"),
        "the name is not echoed"
    );
    assert_eq!(s.sts.calls(), 0, "refused before STS");
    // The same through the console and explained as a problem.
    let (status, body) = s
        .post(
            "/v1/console-url",
            json!({"token": s.token(), "role_arn": CI_DEPLOY, "session_name": "alice@example.com"}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (400, "session_name_not_accepted"),
        "{body}"
    );
    let (status, body) = s
        .post(
            "/v1/explain",
            json!({"token": s.token(), "role_arn": CI_DEPLOY, "session_name": "alice@example.com"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["problems"][0]["code"], "session_name_not_accepted",
        "{body}"
    );
    assert_ne!(body["session_name"], "alice@example.com", "{body}");
    assert_eq!(s.sts.calls(), 0);
}

#[actix_web::test]
async fn caller_chosen_session_name_is_refused_in_issuer_mode() {
    let s = setup().await;
    let (status, body) = s
        .web_identity(
            json!({"token": s.token(), "role_arn": CI_ISSUER, "session_name": "alice@example.com"}),
        )
        .await;
    assert_eq!(
        (status, code(&body)),
        (400, "session_name_not_accepted"),
        "{body}"
    );
    assert_eq!(s.sts.calls(), 0, "refused before STS");
}

#[actix_web::test]
async fn verified_subject_reaches_aws_in_assume_role_mode() {
    let s = setup().await;
    let (status, body) = s
        .web_identity(json!({"token": s.token(), "role_arn": CI_DEPLOY}))
        .await;
    assert_eq!(status, 200, "{body}");
    let seen = s.sts.seen();
    let req = &seen.assume_role[0];
    let tags: Vec<(&str, &str)> = req
        .tags
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(tags, vec![("fedbroker:subject", jwt_idp::SUBJECT)]);
    // The session name is derived from the subject, never the caller's.
    assert!(
        req.role_session_name
            .as_str()
            .starts_with("repo-my-org-app-ref-refs-heads-main."),
        "{}",
        req.role_session_name
    );
}

#[actix_web::test]
async fn verified_subject_reaches_aws_in_issuer_mode() {
    let s = setup().await;
    let (status, body) = s
        .web_identity(json!({"token": s.token(), "role_arn": CI_ISSUER}))
        .await;
    assert_eq!(status, 200, "{body}");
    let seen = s.sts.seen();
    let minted = seen.web_identity[0]
        .web_identity_token
        .expose_secret()
        .to_owned();
    let payload = fedbroker::oidc::verify_jws_with_jwks(&minted, s.jwks.as_bytes()).unwrap();
    let claims: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(
        claims["https://aws.amazon.com/tags"]["principal_tags"]["fedbroker:subject"],
        json!([jwt_idp::SUBJECT])
    );
}

#[actix_web::test]
async fn a_grant_may_allow_the_callers_session_name_and_record_the_subject_as_source_identity() {
    let s = setup().await;
    let (status, body) = s
        .web_identity(json!({"token": s.token(), "role_arn": CI_NAMED, "session_name": "build-42"}))
        .await;
    assert_eq!(status, 200, "{body}");
    let seen = s.sts.seen();
    let req = &seen.assume_role[0];
    assert_eq!(req.role_session_name.as_str(), "build-42");
    let si = req.source_identity.as_ref().unwrap().as_str().to_owned();
    assert!(
        si.starts_with("repo-my-org-app-ref-refs-heads-main."),
        "{si}"
    );
    assert!(req.tags.is_empty(), "SourceIdentity instead of the tag");
}

#[actix_web::test]
async fn pass_through_still_takes_the_callers_session_name_and_adds_nothing() {
    let s = setup().await;
    let (status, body) = s
        .web_identity(json!({"token": s.token(), "role_arn": CI_PASS, "session_name": "build-42"}))
        .await;
    assert_eq!(status, 200, "{body}");
    let seen = s.sts.seen();
    assert_eq!(seen.web_identity[0].role_session_name.as_str(), "build-42");
    assert!(seen.assume_role.is_empty());
}

#[actix_web::test]
async fn roles_and_explain_name_the_protocol_and_provider() {
    let s = setup().await;
    let (status, _, body) = send(
        &s.state,
        TestRequest::get()
            .uri("/v1/roles")
            .insert_header(("authorization", format!("Bearer {}", s.token()))),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["protocol"].as_str(), body["provider"].as_str()),
        (Some("oidc"), Some("ci"))
    );
    let (status, body) = s
        .post("/v1/roles", json!({"saml_response": s.saml(|_| {})}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["protocol"].as_str(), body["provider"].as_str()),
        (Some("saml"), Some("test-idp"))
    );
    let (status, body) = s
        .post(
            "/v1/explain",
            json!({"token": s.token(), "role_arn": CI_DEPLOY}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["protocol"], "oidc");
    assert_eq!(body["tags"]["fedbroker:subject"], jwt_idp::SUBJECT);
}

#[actix_web::test]
async fn browser_sign_in_assertion_is_refused_on_the_api() {
    let s = setup().await;
    let acs = format!("{PUBLIC}/saml/acs");
    let sp = format!("{PUBLIC}/saml/metadata");
    let attacks: Vec<(&str, String)> = vec![
        (
            "in_response_to",
            s.saml(|b| b.in_response_to = Some("_req-1".into())),
        ),
        (
            "broker_audience_and_acs",
            s.saml(|b| {
                b.audiences = vec![sp.clone()];
                b.recipient = Some(acs.clone());
                b.destination = Some(acs.clone());
            }),
        ),
        (
            "broker_audience",
            s.saml(|b| b.audiences = vec![sp.clone()]),
        ),
        (
            "broker_acs",
            s.saml(|b| {
                b.recipient = Some(acs.clone());
                b.destination = Some(acs.clone());
            }),
        ),
    ];
    for (name, saml) in &attacks {
        for (path, body) in [
            (
                "/v1/saml/credentials",
                json!({"saml_response": saml, "role_arn": STAFF}),
            ),
            ("/v1/roles", json!({"saml_response": saml})),
            ("/v1/explain", json!({"saml_response": saml})),
            ("/v1/console-url", json!({"saml_response": saml})),
        ] {
            let (status, body) = s.post(path, body).await;
            assert_eq!(
                (status, code(&body)),
                (401, "saml_browser_assertion"),
                "{name} at {path}: {body}"
            );
        }
    }
    assert_eq!(s.sts.calls(), 0, "nothing reached STS");
    // An assertion addressed to AWS still works.
    let (status, body) = s
        .post(
            "/v1/saml/credentials",
            json!({"saml_response": s.saml(|_| {}), "role_arn": STAFF}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}
