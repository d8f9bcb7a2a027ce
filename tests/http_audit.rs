//! The audit log through the real handlers (STS = the SDK client against moto): one JSON line per
//! issuance with the fields that join CloudTrail and no secret; one per refusal; `fail_closed`
//! withholds credentials when the record cannot be written.

mod support;

use chrono::{SubsecRound, Utc};
use fedbroker::audit::{Audit, MemorySink};
use fedbroker::clock::{FixedClock, SharedClock};
use fedbroker::config::load_str;
use fedbroker::http::AppState;
use fedbroker::replay::memory::MemoryReplayGuard;
use serde_json::Value;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use support::harness::test_idp;
use support::http::post_form;
use support::recording_sts::{moto_endpoint, RecordingSts};
use support::saml_idp::SamlResponseBuilder;

fn setup(fail_closed: bool) -> (AppState, Arc<MemorySink>, Arc<FixedClock>) {
    let cfg = load_str(
        "[[saml.idps]]\nname = \"test-idp\"\nmetadata_file = \"config/test-idp-metadata.xml\"\n",
        Vec::<(String, String)>::new(),
    )
    .unwrap();
    let clock = Arc::new(FixedClock::new(Utc::now().trunc_subsecs(0)));
    let shared: SharedClock = clock.clone();
    let sts = RecordingSts::wrapping(fedbroker::sts::sdk::SdkStsClient::new(
        "us-east-1",
        Some(&moto_endpoint()),
    ));
    let mut state = AppState::from_parts(
        &cfg,
        vec![test_idp()],
        sts,
        Arc::new(MemoryReplayGuard::new(shared.clone())),
        shared,
    );
    let sink = Arc::new(MemorySink::default());
    state.audit = Audit::to_sink(sink.clone(), fail_closed);
    (state, sink, clock)
}

fn saml(clock: &FixedClock) -> String {
    let mut b = SamlResponseBuilder::new(fedbroker::clock::Clock::now(clock));
    b.assertion_id = format!("_a{}", uuid::Uuid::new_v4().simple());
    b.attributes.push((
        "https://aws.amazon.com/SAML/Attributes/PrincipalTag:Team".into(),
        vec!["platform".into()],
    ));
    b.build_base64()
}

fn lines(sink: &MemorySink) -> Vec<Value> {
    sink.lines
        .lock()
        .unwrap()
        .iter()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

#[actix_web::test]
async fn issuance_is_audited_with_cloudtrail_join_fields_and_no_secret() {
    let (state, sink, clock) = setup(false);
    let (status, body) = post_form(
        &state,
        "/v1/saml/credentials",
        &[("SAMLResponse", &saml(&clock))],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let records = lines(&sink);
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r["event"], "credentials.issued");
    assert_eq!(r["decision"], "issued");
    assert_eq!(r["route"], "saml");
    assert_eq!(r["provider"], "test-idp");
    assert_eq!(r["access_key_id"], body["AccessKeyId"]);
    assert_eq!(r["expiration"], body["Expiration"]);
    assert_eq!(r["role_arn"], body["RoleArn"]);
    assert_eq!(r["session_name"], "alice");
    assert_eq!(r["tag_keys"], serde_json::json!(["Team"]));
    assert_eq!(r["subject_hash"].as_str().unwrap().len(), 16);
    assert!(
        r["sts_request_id"].is_string(),
        "STS request id for CloudTrail: {r}"
    );
    let raw = sink.lines.lock().unwrap()[0].clone();
    for secret in [
        body["SecretAccessKey"].as_str().unwrap(),
        body["SessionToken"].as_str().unwrap(),
        "alice@example.com",
        "platform",
    ] {
        assert!(!raw.contains(secret), "{secret:?} in the audit line");
    }
}

#[actix_web::test]
async fn refusal_is_audited_with_its_code() {
    let (state, sink, clock) = setup(false);
    let s = saml(&clock);
    assert_eq!(
        post_form(&state, "/v1/saml/credentials", &[("SAMLResponse", &s)])
            .await
            .0,
        200
    );
    assert_eq!(
        post_form(&state, "/v1/saml/credentials", &[("SAMLResponse", &s)])
            .await
            .0,
        401
    );
    let records = lines(&sink);
    assert_eq!(records.len(), 2);
    assert_eq!(records[1]["decision"], "refused");
    assert_eq!(records[1]["reason"], "saml_replay");
}

#[actix_web::test]
async fn unwritable_audit_withholds_credentials_when_fail_closed() {
    let (state, sink, clock) = setup(true);
    sink.failing.store(true, Ordering::SeqCst);
    let (status, body) = post_form(
        &state,
        "/v1/saml/credentials",
        &[("SAMLResponse", &saml(&clock))],
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "audit_unavailable");
    assert!(body.get("SecretAccessKey").is_none());
    // Fail-open (the default): served, the failure only logged.
    let (state, sink, clock) = setup(false);
    sink.failing.store(true, Ordering::SeqCst);
    let (status, _) = post_form(
        &state,
        "/v1/saml/credentials",
        &[("SAMLResponse", &saml(&clock))],
    )
    .await;
    assert_eq!(status, 200);
}
