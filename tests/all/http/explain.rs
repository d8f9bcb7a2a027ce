//! `GET|POST /v1/roles` and `POST /v1/explain` in process: a SAML identity under mapping
//! rules lists its roles with aliases; explaining a granted role shows the rendered session name,
//! tags, source identity and duration with its reason; an ungranted role, a too-long duration, a
//! missing choice and an invalid template value are all reported as problems in one 200 answer; a
//! tampered assertion is still 401. STS is wrapped in a counter: neither endpoint ever calls it,
//! and explaining does not consume the assertion (a real exchange afterwards succeeds, via moto).

use crate::support;
use crate::support::fixtures::test_saml_idp;

use actix_web::{test, web, App};
use fedbroker::clock::{FixedClock, SharedClock};
use fedbroker::config::load_str;
use fedbroker::http::{routes, AppState};
use fedbroker::replay::memory::MemoryReplayGuard;
use fedbroker::sts::sdk::SdkStsClient;
use serde_json::{json, Value};
use std::sync::Arc;
use support::harness::{t0, test_idp};
use support::recording_sts::{moto_endpoint, RecordingSts};
use support::saml_idp::{b64, SamlResponseBuilder};

const TAGGED: &str = "arn:aws:iam::111122223333:role/Tagged";
const DEPLOYER: &str = "arn:aws:iam::111122223333:role/Deployer";
const READ_ONLY: &str = "arn:aws:iam::111122223333:role/ReadOnly";
const ADMIN: &str = "arn:aws:iam::111122223333:role/Admin";
const ATTR_SESSION_DURATION: &str = "https://aws.amazon.com/SAML/Attributes/SessionDuration";

const RULES: &str = concat!(
    test_saml_idp!(),
    r#"
[[rules]]
name = "engineers"
[rules.match]
provider = "test-idp"
subject = { glob = "*@example.com" }

[[rules.grants]]
role_arn = "arn:aws:iam::111122223333:role/Tagged"
mode = "assume-role"
alias = "tagged-dev"
session_name = "{subject}"
source_identity = "{subject}"
tags = { Team = "platform", Who = "{subject}" }
transitive_tag_keys = ["Team"]

[[rules.grants]]
role_arn = "arn:aws:iam::111122223333:role/Deployer"
mode = "assume-role"
alias = "deployer-prod"
duration_seconds = 1800

[[rules.grants]]
role_arn = "arn:aws:iam::111122223333:role/ReadOnly"
mode = "pass-through"
alias = "read-only"

[[rules]]
name = "contractors"
[rules.match]
provider = "test-idp"
subject = { glob = "*@example.org" }

[[rules.grants]]
role_arn = "arn:aws:iam::111122223333:role/Tagged"
mode = "assume-role"
tags = { Who = "{subject}" }
"#
);

struct Setup {
    state: AppState,
    sts: Arc<RecordingSts>,
}

impl Setup {
    fn sts_calls(&self) -> usize {
        self.sts.calls()
    }
}

/// `endpoint`: moto for tests that exchange for real; otherwise a closed loopback port (any call
/// would fail, and the counter shows there is none).
fn setup_with(endpoint: &str) -> Setup {
    let cfg = load_str(RULES, Vec::<(String, String)>::new()).expect("rules load");
    let sts = RecordingSts::wrapping(SdkStsClient::new("us-east-1", Some(endpoint)));
    let clock: SharedClock = Arc::new(FixedClock::new(t0()));
    let state = AppState::from_parts(
        &cfg,
        vec![test_idp()],
        sts.clone(),
        Arc::new(MemoryReplayGuard::new(clock.clone())),
        clock,
    );
    Setup { state, sts }
}

fn setup() -> Setup {
    setup_with("http://127.0.0.1:9")
}

async fn call(state: &AppState, req: test::TestRequest) -> (u16, Value) {
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(state.clone()))
            .configure(routes),
    )
    .await;
    let resp = test::call_service(&app, req.to_request()).await;
    let status = resp.status().as_u16();
    assert_eq!(
        resp.headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    (status, test::read_body_json(resp).await)
}

async fn explain(state: &AppState, body: Value) -> (u16, Value) {
    call(
        state,
        test::TestRequest::post().uri("/v1/explain").set_json(body),
    )
    .await
}

fn saml_with(edit: impl FnOnce(&mut SamlResponseBuilder)) -> String {
    let mut b = SamlResponseBuilder::new(t0());
    b.assertion_id = format!("_a{}", uuid::Uuid::new_v4().simple());
    edit(&mut b);
    b.build_base64()
}

fn fresh_saml() -> String {
    saml_with(|_| {})
}

fn codes(body: &Value) -> Vec<&str> {
    body["problems"]
        .as_array()
        .unwrap_or_else(|| panic!("no problems array: {body}"))
        .iter()
        .map(|p| p["code"].as_str().unwrap())
        .collect()
}

#[actix_web::test]
async fn roles_of_a_saml_identity_are_listed_with_aliases_form_or_json() {
    let s = setup();
    let saml = fresh_saml();
    let expected = json!({ "protocol": "saml", "provider": "test-idp", "roles": [
        { "role_arn": TAGGED, "alias": "tagged-dev", "mode": "assume-role", "rule": "engineers" },
        { "role_arn": DEPLOYER, "alias": "deployer-prod", "mode": "assume-role", "rule": "engineers" },
        { "role_arn": READ_ONLY, "alias": "read-only", "mode": "pass-through", "rule": "engineers" },
    ]});
    let (status, body) = call(
        &s.state,
        test::TestRequest::post()
            .uri("/v1/roles")
            .set_form([("SAMLResponse", saml.as_str())]),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, expected);

    // The same assertion again, as JSON: listing consumed nothing.
    let (status, body) = call(
        &s.state,
        test::TestRequest::post()
            .uri("/v1/roles")
            .set_json(json!({ "saml_response": saml })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, expected);
    assert!(!body.to_string().contains(&saml[..40]));
    assert_eq!(s.sts_calls(), 0);
}

#[actix_web::test]
async fn get_roles_needs_a_bearer_token() {
    let s = setup();
    let (status, body) = call(&s.state, test::TestRequest::get().uri("/v1/roles")).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "missing_token");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("POST /v1/roles"));
}

#[actix_web::test]
async fn explain_shows_the_rendered_grant_for_a_granted_role() {
    let s = setup();
    let saml = fresh_saml();
    let (status, body) = explain(
        &s.state,
        json!({ "saml_response": saml, "role_arn": TAGGED, "duration_seconds": 1200 }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({
            "protocol": "saml",
            "provider": "test-idp",
            "role_arn": TAGGED,
            "rule": "engineers",
            "mode": "assume-role",
            "alias": "tagged-dev",
            "session_name": "alice@example.com",
            "tags": {
                "Team": "platform",
                "Who": "alice@example.com",
                "fedbroker:subject": "alice@example.com",
            },
            "transitive_tag_keys": ["Team"],
            "source_identity": "alice@example.com",
            "duration_seconds": 1200,
            "duration_reason": "as requested",
            "problems": [],
        })
    );
    assert!(!body.to_string().contains(&saml[..40]));

    // Without a request: the rule's duration, with its reason; pass-through keeps the assertion's
    // session name.
    let (_, body) = explain(
        &s.state,
        json!({ "saml_response": saml, "role_arn": DEPLOYER }),
    )
    .await;
    assert_eq!(body["duration_seconds"], 1800, "{body}");
    assert_eq!(
        body["duration_reason"],
        "the mapping rule's duration_seconds"
    );
    let (_, body) = explain(
        &s.state,
        json!({ "saml_response": saml, "role_arn": READ_ONLY }),
    )
    .await;
    assert_eq!(body["mode"], "pass-through", "{body}");
    assert_eq!(body["session_name"], "alice");
    assert_eq!(body["duration_seconds"], 3600);
    assert_eq!(body["problems"], json!([]));
    assert_eq!(s.sts_calls(), 0);
}

#[actix_web::test]
async fn explain_lists_every_problem_instead_of_failing_on_the_first() {
    let s = setup();
    // An ungranted role and a duration above the IdP's SessionDuration: both reported at once.
    let saml = saml_with(|b| b.set_attribute(ATTR_SESSION_DURATION, &["3600"]));
    let (status, body) = explain(
        &s.state,
        json!({ "saml_response": saml, "role_arn": ADMIN, "duration_seconds": 7200 }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        codes(&body),
        ["role_not_offered", "duration_not_allowed"],
        "{body}"
    );
    assert_eq!(body["problems"][0]["requested_role"], ADMIN);
    assert!(body["role_arn"].is_null() && body["duration_seconds"].is_null());

    // Above the rule's limit for a granted role.
    let (status, body) = explain(
        &s.state,
        json!({ "saml_response": saml, "role_arn": DEPLOYER, "duration_seconds": 2400 }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(codes(&body), ["duration_not_allowed"], "{body}");
    assert!(body["problems"][0]["message"]
        .as_str()
        .unwrap()
        .contains("mapping rule"));
    assert_eq!(body["role_arn"], DEPLOYER);

    // No role named among several; a session name SAML cannot take; a malformed duration.
    let (status, body) = explain(
        &s.state,
        json!({ "saml_response": saml, "session_name": "me", "duration_seconds": "soon" }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        codes(&body),
        [
            "invalid_duration",
            "session_name_not_accepted",
            "role_choice_required"
        ],
        "{body}"
    );
    assert_eq!(
        body["problems"][2]["roles"],
        json!([TAGGED, DEPLOYER, READ_ONLY])
    );
    assert_eq!(s.sts_calls(), 0);
}

#[actix_web::test]
async fn template_value_invalid_for_the_identity_is_a_problem() {
    let s = setup();
    // '#' is not allowed in a session tag value; the "contractors" rule renders Who from it.
    let saml = saml_with(|b| b.name_id = Some("bob#1@example.org".into()));
    let (status, body) = explain(
        &s.state,
        json!({ "saml_response": saml, "role_arn": TAGGED }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(codes(&body), ["template_value_invalid"], "{body}");
    assert_eq!(body["problems"][0]["field"], "tags.Who");
    assert_eq!(body["problems"][0]["rule"], "contractors");
    assert!(!body.to_string().contains("bob#1"), "{body}");
    assert_eq!(s.sts_calls(), 0);
}

#[actix_web::test]
async fn tampered_assertion_is_refused_with_401_by_both_endpoints() {
    let s = setup();
    let mut b = SamlResponseBuilder::new(t0());
    b.assertion_id = format!("_a{}", uuid::Uuid::new_v4().simple());
    let tampered = b64(&b
        .build_xml()
        .replace("alice@example.com", "mallory@example.com"));
    let (status, body) = explain(
        &s.state,
        json!({ "saml_response": tampered, "role_arn": TAGGED }),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert!(body["error"]["code"].as_str().unwrap().starts_with("saml_"));
    let (status, _) = call(
        &s.state,
        test::TestRequest::post()
            .uri("/v1/roles")
            .set_form([("SAMLResponse", tampered.as_str())]),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(s.sts_calls(), 0);
}

#[actix_web::test]
async fn explaining_does_not_consume_the_assertion() {
    let s = setup_with(&moto_endpoint());
    let saml = fresh_saml();
    for _ in 0..2 {
        let (status, body) = explain(
            &s.state,
            json!({ "saml_response": saml, "role_arn": READ_ONLY }),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["problems"], json!([]));
    }
    assert_eq!(s.sts_calls(), 0, "explaining must not call STS");

    let (status, body) = call(
        &s.state,
        test::TestRequest::post()
            .uri("/v1/saml/credentials")
            .set_form([("SAMLResponse", saml.as_str()), ("role_arn", READ_ONLY)]),
    )
    .await;
    assert_eq!(
        status, 200,
        "the explained assertion is still usable: {body}"
    );
    assert_eq!(body["Alias"], "read-only");
    assert_eq!(s.sts_calls(), 1);

    // Now it is consumed: a second exchange is a replay (explain still only verifies it).
    let (status, body) = call(
        &s.state,
        test::TestRequest::post()
            .uri("/v1/saml/credentials")
            .set_form([("SAMLResponse", saml.as_str()), ("role_arn", READ_ONLY)]),
    )
    .await;
    assert_eq!(status, 401, "{body}");
    assert_eq!(body["error"]["code"], "saml_replay");
    assert_eq!(s.sts_calls(), 1);
}
