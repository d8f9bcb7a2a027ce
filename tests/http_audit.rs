//! The audit log through the real handlers (STS = the SDK client against moto): one JSON line per
//! issuance with the fields that join CloudTrail and no secret; one per refusal; `fail_closed`
//! withholds credentials when the record cannot be written.

mod support;

use fedbroker::audit::{Audit, MemorySink};
use serde_json::Value;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use support::app::{test_app, TestApp};
use support::http::post_form;

const CONFIG: &str =
    "[[saml.idps]]\nname = \"test-idp\"\nmetadata_file = \"config/test-idp-metadata.xml\"\n";

/// A broker whose audit log writes to a memory sink.
fn setup(fail_closed: bool) -> (TestApp, Arc<MemorySink>) {
    let mut app = test_app(CONFIG);
    let sink = Arc::new(MemorySink::default());
    app.state.audit = Audit::to_sink(sink.clone(), fail_closed);
    (app, sink)
}

/// A fresh response carrying a `Team` session tag.
fn saml(app: &TestApp) -> String {
    app.saml(|b| {
        b.attributes.push((
            "https://aws.amazon.com/SAML/Attributes/PrincipalTag:Team".into(),
            vec!["platform".into()],
        ))
    })
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
    let (app, sink) = setup(false);
    let (status, body) = post_form(
        &app.state,
        "/v1/saml/credentials",
        &[("SAMLResponse", &saml(&app))],
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
    let (app, sink) = setup(false);
    let s = saml(&app);
    assert_eq!(
        post_form(&app.state, "/v1/saml/credentials", &[("SAMLResponse", &s)])
            .await
            .0,
        200
    );
    assert_eq!(
        post_form(&app.state, "/v1/saml/credentials", &[("SAMLResponse", &s)])
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
    let (app, sink) = setup(true);
    sink.failing.store(true, Ordering::SeqCst);
    let (status, body) = post_form(
        &app.state,
        "/v1/saml/credentials",
        &[("SAMLResponse", &saml(&app))],
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "audit_unavailable");
    assert!(body.get("SecretAccessKey").is_none());
    // Fail-open (the default): served, the failure only logged.
    let (app, sink) = setup(false);
    sink.failing.store(true, Ordering::SeqCst);
    let (status, _) = post_form(
        &app.state,
        "/v1/saml/credentials",
        &[("SAMLResponse", &saml(&app))],
    )
    .await;
    assert_eq!(status, 200);
}

const LEGACY_CONFIG: &str = "[[saml.idps]]\nname = \"test-idp\"\nmetadata_file = \"config/test-idp-metadata.xml\"\nlegacy_algorithms = true\n";

/// `fedbroker_saml_legacy_signatures_total` lines of the metrics exposition.
async fn legacy_metric(app: &TestApp) -> Vec<String> {
    let (status, _, body) = support::http::send(
        &app.state,
        actix_web::test::TestRequest::get().uri("/metrics"),
    )
    .await;
    assert_eq!(status, 200);
    body.as_str()
        .expect("text")
        .lines()
        .filter(|l| l.starts_with("fedbroker_saml_legacy_signatures_total"))
        .map(str::to_owned)
        .collect()
}

#[actix_web::test]
async fn sha1_signed_response_from_an_opted_in_idp_is_issued_and_marked_legacy_in_audit_and_metric()
{
    use support::saml_idp::{DigestAlg, SigAlg};
    let mut app = test_app(LEGACY_CONFIG);
    let sink = Arc::new(MemorySink::default());
    app.state.audit = Audit::to_sink(sink.clone(), false);
    // A SHA-256 signature from the same IdP is not marked.
    let modern = saml(&app);
    let (status, body) = post_form(
        &app.state,
        "/v1/saml/credentials",
        &[("SAMLResponse", &modern)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(lines(&sink)[0]["legacy_algorithm"], false);
    assert!(legacy_metric(&app).await.is_empty());

    let sha1 = app.saml(|b| {
        b.signature.algorithm = SigAlg::RsaSha1;
        b.signature.digest = DigestAlg::Sha1;
    });
    let (status, body) = post_form(
        &app.state,
        "/v1/saml/credentials",
        &[("SAMLResponse", &sha1)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let records = lines(&sink);
    assert_eq!(records.len(), 2);
    assert_eq!(records[1]["event"], "credentials.issued");
    assert_eq!(records[1]["legacy_algorithm"], true);
    assert_eq!(
        legacy_metric(&app).await,
        ["fedbroker_saml_legacy_signatures_total{idp=\"test-idp\"} 1"]
    );
}

#[actix_web::test]
async fn sha1_signed_response_from_a_strict_idp_is_refused_and_never_counted_as_legacy() {
    use support::saml_idp::{DigestAlg, SigAlg};
    let (app, sink) = setup(false);
    let sha1 = app.saml(|b| {
        b.signature.algorithm = SigAlg::RsaSha1;
        b.signature.digest = DigestAlg::Sha1;
    });
    let (status, body) = post_form(
        &app.state,
        "/v1/saml/credentials",
        &[("SAMLResponse", &sha1)],
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("saml_algorithm_forbidden"))
    );
    assert_eq!(lines(&sink)[0]["reason"], "saml_algorithm_forbidden");
    assert!(legacy_metric(&app).await.is_empty());
    assert_eq!(app.sts.calls(), 0, "STS was called");
}
