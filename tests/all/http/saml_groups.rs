//! Mapping rules without AWS attributes: an IdP application set up for the broker sends only its
//! own attributes (`groups`), no `https://aws.amazon.com/SAML/Attributes/Role` or
//! `RoleSessionName`. With rules, such an assertion gets the rules' assume-role grants (credentials
//! from moto, the session named by the rule's template or the NameID fallback), `no_matching_rule`
//! when no rule matches, and `saml_role_missing` for a pass-through grant (AWS reads both
//! attributes); `/v1/roles`, `/v1/explain` and the browser role picker agree. Without rules the
//! same assertion is refused as before (`saml_role_missing`). STS is the real `SdkStsClient`
//! talking to moto, wrapped in `support::recording_sts`.

use crate::support;
use crate::support::http::code;

use actix_web::test::TestRequest;
use fedbroker::clock::{FixedClock, SharedClock};
use fedbroker::config::load_str;
use fedbroker::http::AppState;
use fedbroker::replay::memory::MemoryReplayGuard;
use fedbroker::sts::sdk::SdkStsClient;
use serde_json::{json, Value};
use std::sync::Arc;
use support::harness::{t0, test_idp};
use support::http::{post_form, send, CookieJar};
use support::recording_sts::{moto_endpoint, RecordingSts};
use support::saml_idp::*;

const ADMIN: &str = "arn:aws:iam::111122223333:role/Admin";
const AUDITOR: &str = "arn:aws:iam::111122223333:role/Auditor";
const LEGACY: &str = "arn:aws:iam::111122223333:role/Legacy";
const PUBLIC: &str = "http://127.0.0.1:8080";

const RULES: &str = r#"
[[rules]]
name = "admins"
[rules.match]
provider = "test-idp"
attributes.groups = { contains = "aws-admins" }
[[rules.grants]]
role_arn = "arn:aws:iam::111122223333:role/Admin"
mode = "assume-role"
session_name = "admin.{subject}"

[[rules]]
name = "auditors"
[rules.match]
provider = "test-idp"
attributes.groups = { contains = "auditors" }
[[rules.grants]]
role_arn = "arn:aws:iam::111122223333:role/Auditor"
mode = "assume-role"

[[rules]]
name = "legacy"
[rules.match]
provider = "test-idp"
attributes.groups = { contains = "legacy" }
[[rules.grants]]
role_arn = "arn:aws:iam::111122223333:role/Legacy"
mode = "pass-through"
"#;

struct Setup {
    state: AppState,
    sts: Arc<RecordingSts>,
}

/// The broker with `rules` (empty: none) and IdP-initiated browser sign-in enabled.
fn setup(rules: &str) -> Setup {
    let toml = format!(
        "[server]\npublic_url = \"{PUBLIC}\"\n[[saml.idps]]\nname = \"test-idp\"\n\
         metadata_file = \"config/test-idp-metadata.xml\"\nallow_idp_initiated = true\n{rules}"
    );
    let cfg = load_str(&toml, Vec::<(String, String)>::new()).expect("config loads");
    let broker_creds =
        aws_credential_types::Credentials::new("test", "test", None, None, "fedbroker-test");
    let sts = RecordingSts::wrapping(
        SdkStsClient::new("us-east-1", Some(&moto_endpoint()))
            .with_broker_credentials(broker_creds),
    );
    let clock: SharedClock = Arc::new(FixedClock::new(t0()));
    let mut idp = test_idp();
    // As the broker's own loader does for browser sign-in.
    idp.audiences.push(format!("{PUBLIC}/saml/metadata"));
    idp.recipients.push(format!("{PUBLIC}/saml/acs"));
    let state = AppState::from_parts(
        &cfg,
        vec![idp],
        sts.clone(),
        Arc::new(MemoryReplayGuard::new(clock.clone())),
        clock,
    );
    Setup { state, sts }
}

/// A signed groups-only response (no AWS attribute at all), with a unique assertion ID.
fn groups_only(groups: &[&str]) -> String {
    let mut b = SamlResponseBuilder::new(t0()).groups_only(groups);
    b.assertion_id = format!("_a{}", uuid::Uuid::new_v4().simple());
    b.build_base64()
}

async fn credentials(s: &Setup, fields: &[(&str, &str)]) -> (u16, Value) {
    post_form(&s.state, "/v1/saml/credentials", fields).await
}

#[actix_web::test]
async fn groups_only_assertion_exchanges_for_an_assume_role_grants_credentials() {
    let s = setup(RULES);
    let (status, body) = credentials(&s, &[("SAMLResponse", &groups_only(&["aws-admins"]))]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["Mode"], "assume-role");
    assert_eq!(body["Rule"], "admins");
    assert_eq!(body["SessionName"], "admin.alice@example.com");
    let seen = s.sts.seen();
    assert_eq!(
        seen.saml.len(),
        0,
        "assume-role never passes the assertion on"
    );
    let req = &seen.assume_role[0];
    assert_eq!(req.role_arn.as_str(), ADMIN);
    assert_eq!(req.role_session_name.as_str(), "admin.alice@example.com");
}

/// No session_name template and no RoleSessionName attribute: the session is named after the
/// NameID (the fallback used for every non-pass-through grant).
#[actix_web::test]
async fn without_a_session_name_template_the_name_id_names_the_session() {
    let s = setup(RULES);
    let (status, body) = credentials(&s, &[("SAMLResponse", &groups_only(&["auditors"]))]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        s.sts.seen().assume_role[0].role_session_name.as_str(),
        "alice@example.com"
    );
    assert_eq!(s.sts.seen().assume_role[0].role_arn.as_str(), AUDITOR);
}

#[actix_web::test]
async fn groups_only_assertion_matching_no_rule_gets_no_matching_rule() {
    let s = setup(RULES);
    let (status, body) = credentials(&s, &[("SAMLResponse", &groups_only(&["staff"]))]).await;
    assert_eq!((status, code(&body)), (403, "no_matching_rule"), "{body}");
    assert_eq!(s.sts.calls(), 0);
}

/// Pass-through means AWS reads the assertion's Role and RoleSessionName: without them the grant
/// cannot work, and the broker says so instead of letting STS fail.
#[actix_web::test]
async fn groups_only_assertion_matched_to_a_pass_through_grant_is_refused_as_role_missing() {
    let s = setup(RULES);
    let (status, body) = credentials(&s, &[("SAMLResponse", &groups_only(&["legacy"]))]).await;
    assert_eq!((status, code(&body)), (403, "saml_role_missing"), "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("pass-through"), "{message}");
    assert_eq!(body["error"]["role"], LEGACY);
    assert_eq!(s.sts.calls(), 0);

    // Asked for by name next to a usable grant: the same clear refusal, not role_not_offered.
    let (status, body) = credentials(
        &s,
        &[
            ("SAMLResponse", &groups_only(&["aws-admins", "legacy"])),
            ("role_arn", LEGACY),
        ],
    )
    .await;
    assert_eq!((status, code(&body)), (403, "saml_role_missing"), "{body}");
    assert_eq!(s.sts.calls(), 0);
}

#[actix_web::test]
async fn roles_and_explain_list_the_grant_for_a_groups_only_assertion() {
    let s = setup(RULES);
    let saml = groups_only(&["aws-admins", "legacy"]);
    let (status, _, body) = send(
        &s.state,
        TestRequest::post()
            .uri("/v1/roles")
            .set_form([("SAMLResponse", saml.as_str())]),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let roles: Vec<&str> = body["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["role_arn"].as_str().unwrap())
        .collect();
    assert_eq!(roles, vec![ADMIN], "the pass-through grant is left out");

    let (status, _, body) = send(
        &s.state,
        TestRequest::post()
            .uri("/v1/explain")
            .set_json(json!({ "saml_response": saml })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["role_arn"], ADMIN, "{body}");
    assert_eq!(body["session_name"], "admin.alice@example.com");
    assert_eq!(body["problems"], json!([]), "{body}");
    assert_eq!(s.sts.calls(), 0, "roles and explain never call STS");
}

#[actix_web::test]
async fn browser_sign_in_with_a_groups_only_assertion_offers_the_rules_grant() {
    let s = setup(RULES);
    let mut b = SamlResponseBuilder::new(t0()).groups_only(&["aws-admins"]);
    b.audiences = vec![format!("{PUBLIC}/saml/metadata")];
    b.recipient = Some(format!("{PUBLIC}/saml/acs"));
    b.destination = Some(format!("{PUBLIC}/saml/acs"));
    let saml = b.build_base64();
    let (status, headers, body) = send(
        &s.state,
        TestRequest::post()
            .uri("/saml/acs")
            .set_form([("SAMLResponse", saml.as_str())]),
    )
    .await;
    assert_eq!(status, 303, "{body}");
    let mut jar = CookieJar::default();
    jar.keep(&headers);
    let (status, _, page) = send(
        &s.state,
        jar.apply(
            TestRequest::get()
                .uri("/roles")
                .insert_header(("accept", "application/json")),
        ),
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["roles"].as_array().unwrap().len(), 1, "{page}");
    assert_eq!(page["roles"][0]["role_arn"], ADMIN, "{page}");
}

/// Without rules the assertion itself must name the role, exactly as before: refused at the API
/// and at the browser ACS.
#[actix_web::test]
async fn without_rules_a_groups_only_assertion_still_gets_saml_role_missing() {
    let s = setup("");
    let (status, body) = credentials(&s, &[("SAMLResponse", &groups_only(&["aws-admins"]))]).await;
    assert_eq!((status, code(&body)), (403, "saml_role_missing"), "{body}");
    let (status, _, body) = send(
        &s.state,
        TestRequest::post()
            .uri("/v1/roles")
            .set_form([("SAMLResponse", groups_only(&["aws-admins"]).as_str())]),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(s.sts.calls(), 0);
}
