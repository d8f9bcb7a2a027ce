//! The audit log through the real handlers (STS = the SDK client against moto): one JSON line per
//! issuance with the fields that join CloudTrail and no secret; one per refusal; `fail_closed`
//! withholds credentials when the record cannot be written. Browser sign-ins (succeeded and
//! refused, with the code), sign-outs, console URLs (never the URL), admin revocations and
//! reloads (by the admin token's fingerprint) and refused admin calls (nothing presented) are
//! audited too. Every record these tests see is checked against `audit::schema` (the table in
//! docs/OPERATIONS.md): exactly the documented fields, with the documented types.

use crate::support;

use actix_web::test::TestRequest;
use fedbroker::audit::{Audit, AuditSink, MemorySink};
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use support::app::{test_app, TestApp};
use support::http::{post_form, send, CookieJar};

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

/// The records written so far, each checked against the documented schema.
fn lines(sink: &MemorySink) -> Vec<Value> {
    sink.lines
        .lock()
        .unwrap()
        .iter()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("each line is JSON");
            if let Err(e) = fedbroker::audit::schema::check(&v) {
                panic!("audit record off the documented schema: {e}: {l}");
            }
            v
        })
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

// --- Browser sign-in, sign-out, console URLs, admin actions --------------------------------------

const PUBLIC: &str = "http://127.0.0.1:8080";
const ADMIN_TOKEN: &str = "audit-test-admin-token-0123456789abcdef";
/// First 16 hex of SHA-256 of `ADMIN_TOKEN` (`printf %s TOKEN | sha256sum | cut -c1-16`).
const ADMIN_FINGERPRINT: &str = "5df4fdfcd3f48475";
const CLIENT: &str = "203.0.113.7:40000";

/// A broker accepting IdP-initiated browser sign-ins addressed to it, with an admin token, whose
/// audit log writes to a memory sink.
fn browser_setup(fail_closed: bool) -> (TestApp, Arc<MemorySink>) {
    browser_setup_with(fail_closed, "")
}

/// As [`browser_setup`], with more TOML sections first (`aws`).
fn browser_setup_with(fail_closed: bool, extra: &str) -> (TestApp, Arc<MemorySink>) {
    let cfg = format!(
        "{extra}[server]\npublic_url = \"{PUBLIC}\"\nadmin_token = \"{ADMIN_TOKEN}\"\n\
         [[saml.idps]]\nname = \"test-idp\"\nmetadata_file = \"config/test-idp-metadata.xml\"\n\
         allow_idp_initiated = true\n"
    );
    let mut app = test_app(&cfg);
    let mut idp = support::harness::test_idp();
    idp.audiences.push(format!("{PUBLIC}/saml/metadata"));
    idp.recipients.push(format!("{PUBLIC}/saml/acs"));
    let cfg = fedbroker::config::load_str(&cfg, Vec::<(String, String)>::new()).unwrap();
    let clock: fedbroker::clock::SharedClock = app.clock.clone();
    app.state = fedbroker::http::AppState::from_parts(
        &cfg,
        vec![idp],
        app.sts.clone(),
        Arc::new(fedbroker::replay::memory::MemoryReplayGuard::new(
            clock.clone(),
        )),
        clock,
    );
    let sink = Arc::new(MemorySink::default());
    app.state.audit = Audit::to_sink(sink.clone(), fail_closed);
    (app, sink)
}

/// An IdP-initiated Response addressed to the broker's ACS.
fn browser_saml(app: &TestApp) -> String {
    app.saml(|b| {
        b.audiences = vec![format!("{PUBLIC}/saml/metadata")];
        b.recipient = Some(format!("{PUBLIC}/saml/acs"));
        b.destination = Some(format!("{PUBLIC}/saml/acs"));
    })
}

/// `POST /saml/acs` from `CLIENT`: status, the cookies set, the body text.
async fn acs(app: &TestApp, saml: &str) -> (u16, CookieJar, String) {
    let (status, headers, body) = send(
        &app.state,
        TestRequest::post()
            .uri("/saml/acs")
            .peer_addr(CLIENT.parse().unwrap())
            .set_form([("SAMLResponse", saml)]),
    )
    .await;
    let mut jar = CookieJar::default();
    jar.keep(&headers);
    (status, jar, body.as_str().unwrap_or_default().to_owned())
}

/// Records of `event`.
fn events(sink: &MemorySink, event: &str) -> Vec<Value> {
    lines(sink)
        .into_iter()
        .filter(|r| r["event"] == event)
        .collect()
}

fn raw(sink: &MemorySink) -> String {
    sink.lines.lock().unwrap().join("\n")
}

#[actix_web::test]
async fn browser_sign_in_is_audited() {
    let (app, sink) = browser_setup(false);
    let (status, _, body) = acs(&app, &browser_saml(&app)).await;
    assert_eq!(status, 303, "{body}");
    let records = lines(&sink);
    assert_eq!(records.len(), 1, "{records:?}");
    let r = &records[0];
    assert_eq!(r["event"], "signin.succeeded");
    assert_eq!(r["decision"], "succeeded");
    assert_eq!(r["route"], "saml_acs");
    assert_eq!(r["protocol"], "saml");
    assert_eq!(r["provider"], "test-idp");
    assert_eq!(r["client_ip"], "203.0.113.7");
    assert_eq!(r["subject_hash"].as_str().unwrap().len(), 16);
    assert!(!raw(&sink).contains("alice@example.com"), "clear subject");
}

#[actix_web::test]
async fn unwritable_audit_refuses_the_browser_sign_in_when_fail_closed() {
    let (app, sink) = browser_setup(true);
    sink.failing.store(true, Ordering::SeqCst);
    let (status, jar, body) = acs(&app, &browser_saml(&app)).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("audit_unavailable"), "{body}");
    // No session was left behind: a cookie, if any were set, opens nothing.
    let (status, _, _) = send(
        &app.state,
        jar.apply(TestRequest::get().uri("/roles"))
            .insert_header(("accept", "application/json")),
    )
    .await;
    assert_eq!(status, 401, "the unaudited session still works");
}

#[actix_web::test]
async fn refused_sign_in_is_audited_with_its_code() {
    let (app, sink) = browser_setup(false);
    let saml = browser_saml(&app);
    assert_eq!(acs(&app, &saml).await.0, 303);
    let (status, _, body) = acs(&app, &saml).await;
    assert_eq!(status, 401, "{body}");
    // An unsigned response: refused before any identity is known.
    let (status, _, _) = acs(&app, "bm90IHhtbA==").await;
    assert_eq!(status, 400);
    for (query, code) in [
        ("error=access_denied", "login_refused"),
        ("code=c&state=never-issued", "login_state_invalid"),
    ] {
        let (status, _, _) = send(
            &app.state,
            TestRequest::get()
                .uri(&format!("/oidc/callback?{query}"))
                .peer_addr(CLIENT.parse().unwrap()),
        )
        .await;
        assert!(status >= 400, "{query}: {status}");
        let last = lines(&sink).pop().unwrap();
        assert_eq!(
            (last["event"].as_str(), last["reason"].as_str()),
            (Some("signin.refused"), Some(code))
        );
        assert_eq!(last["route"], "oidc_callback");
    }
    let refused = events(&sink, "signin.refused");
    assert_eq!(refused.len(), 4, "{refused:?}");
    // The replay: verified, so the provider and hashed subject are known.
    assert_eq!(refused[0]["reason"], "saml_replay");
    assert_eq!(refused[0]["route"], "saml_acs");
    assert_eq!(refused[0]["provider"], "test-idp");
    assert_eq!(refused[0]["client_ip"], "203.0.113.7");
    assert_eq!(
        refused[0]["subject_hash"],
        events(&sink, "signin.succeeded")[0]["subject_hash"]
    );
    // Not verified: nothing about who.
    assert_eq!(refused[1]["route"], "saml_acs");
    assert!(refused[1]["reason"].as_str().unwrap().starts_with("saml_"));
    assert_eq!(refused[1]["provider"], Value::Null);
    assert_eq!(refused[1]["subject_hash"], Value::Null);
    assert!(!raw(&sink).contains("access_denied"), "IdP text written");
}

#[actix_web::test]
async fn sign_out_is_audited() {
    let (app, sink) = browser_setup(false);
    let (status, jar, _) = acs(&app, &browser_saml(&app)).await;
    assert_eq!(status, 303);
    let (_, _, page) = send(&app.state, jar.apply(TestRequest::get().uri("/roles"))).await;
    let page = page.as_str().unwrap().to_owned();
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the picker's sign-out form")
        .to_owned();
    let (status, _, _) = send(
        &app.state,
        jar.apply(
            TestRequest::post()
                .uri("/logout")
                .peer_addr(CLIENT.parse().unwrap())
                .set_form([("csrf", csrf.as_str())]),
        ),
    )
    .await;
    assert_eq!(status, 303);
    let out = events(&sink, "signout");
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["decision"], "signed_out");
    assert_eq!(out[0]["provider"], "test-idp");
    assert_eq!(out[0]["client_ip"], "203.0.113.7");
    assert_eq!(
        out[0]["subject_hash"],
        events(&sink, "signin.succeeded")[0]["subject_hash"]
    );
}

/// `POST /v1/admin/revoke` from `CLIENT` with `token`.
async fn revoke(app: &TestApp, body: Value, token: Option<&str>) -> (u16, Value) {
    let mut req = TestRequest::post()
        .uri("/v1/admin/revoke")
        .peer_addr(CLIENT.parse().unwrap())
        .set_json(body);
    if let Some(t) = token {
        req = req.insert_header(("authorization", format!("Bearer {t}")));
    }
    let (status, _, body) = send(&app.state, req).await;
    (status, body)
}

#[actix_web::test]
async fn admin_revoke_is_audited_with_the_token_fingerprint() {
    let (app, sink) = browser_setup(false);
    let role = "arn:aws:iam::111122223333:role/Deployer";
    let (status, body) = revoke(&app, json!({"role_arn": role}), Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = revoke(
        &app,
        json!({"subject": "alice@example.com", "block_seconds": 0}),
        Some(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = revoke(
        &app,
        json!({"role_arn": role, "block_seconds": 99_999_999}),
        Some(ADMIN_TOKEN),
    )
    .await;
    assert_eq!(status, 400);
    let records = events(&sink, "admin.revoke");
    assert_eq!(records.len(), 3, "{records:?}");
    for r in &records {
        assert_eq!(r["admin"], ADMIN_FINGERPRINT);
        assert_eq!(r["client_ip"], "203.0.113.7");
    }
    assert_eq!(records[0]["decision"], "revoked");
    assert_eq!(records[0]["target_kind"], "role");
    assert_eq!(records[0]["target"], role);
    assert_eq!(records[0]["purged"], 0);
    assert!(records[0]["blocked_until"].is_string());
    assert_eq!(records[1]["target_kind"], "subject");
    let target = records[1]["target"].as_str().unwrap();
    assert!(target.starts_with("sub:") && target.len() == 68, "{target}");
    assert_eq!(records[1]["blocked_until"], Value::Null);
    assert_eq!(
        (
            records[2]["decision"].as_str(),
            records[2]["reason"].as_str()
        ),
        (Some("refused"), Some("invalid_block_seconds"))
    );
    let raw = raw(&sink);
    assert!(!raw.contains(ADMIN_TOKEN), "the admin token was written");
    assert!(!raw.contains("alice@example.com"), "clear subject");
}

#[actix_web::test]
async fn admin_reload_is_audited_with_the_token_fingerprint() {
    let (app, sink) = browser_setup(false);
    let (status, _, body) = send(
        &app.state,
        TestRequest::post()
            .uri("/v1/admin/reload")
            .peer_addr(CLIENT.parse().unwrap())
            .insert_header(("authorization", format!("Bearer {ADMIN_TOKEN}"))),
    )
    .await;
    // Not started from a file: refused, and audited as such.
    assert_eq!(status, 500, "{body}");
    let r = &events(&sink, "admin.reload")[0];
    assert_eq!(r["admin"], ADMIN_FINGERPRINT);
    assert_eq!(
        (r["decision"].as_str(), r["reason"].as_str()),
        (Some("refused"), Some("reload_unavailable"))
    );
}

#[actix_web::test]
async fn admin_auth_failure_is_audited() {
    let (app, sink) = browser_setup(false);
    let wrong = "audit-test-admin-token-0123456789abcdeX";
    assert_eq!(
        revoke(&app, json!({"subject": "x"}), Some(wrong)).await.0,
        401
    );
    assert_eq!(revoke(&app, json!({"subject": "x"}), None).await.0, 401);
    let (status, _, _) = send(
        &app.state,
        TestRequest::post()
            .uri("/v1/admin/reload")
            .insert_header(("authorization", format!("Bearer {wrong}"))),
    )
    .await;
    assert_eq!(status, 401);
    let records = lines(&sink);
    assert_eq!(records.len(), 3, "{records:?}");
    for r in &records[..2] {
        assert_eq!(r["event"], "admin.unauthorized");
        assert_eq!(r["reason"], "admin_unauthorized");
        assert_eq!(r["route"], "admin_revoke");
        assert_eq!(r["client_ip"], "203.0.113.7");
    }
    assert_eq!(records[2]["route"], "admin_reload");
    let raw = raw(&sink);
    for material in [
        wrong,
        &fedbroker::audit::token_fingerprint(wrong),
        ADMIN_FINGERPRINT,
    ] {
        assert!(!raw.contains(material), "{material:?} in {raw}");
    }
    // No token configured: refused as disabled, audited too.
    let (app, sink) = setup(false);
    assert_eq!(
        revoke(&app, json!({"subject": "x"}), Some(wrong)).await.0,
        403
    );
    assert_eq!(lines(&sink)[0]["reason"], "admin_disabled");
}

/// A sink that fails only for one event.
#[derive(Debug)]
struct FailingFor(&'static str, MemorySink);

impl AuditSink for FailingFor {
    fn write_line(&self, line: &[u8]) -> std::io::Result<()> {
        if String::from_utf8_lossy(line).contains(self.0) {
            return Err(std::io::Error::other("failing (test)"));
        }
        self.1.write_line(line)
    }
}

#[actix_web::test]
async fn console_url_issued_is_audited_without_the_url() {
    let fed = support::federation::FederationDouble::start();
    let mut app = test_app(&format!(
        "[aws]\nfederation_endpoint = \"{}\"\n{CONFIG}",
        fed.url
    ));
    let sink = Arc::new(MemorySink::default());
    app.state.audit = Audit::to_sink(sink.clone(), false);
    let (status, _, body) = send(
        &app.state,
        TestRequest::post().uri("/v1/console-url").set_json(json!({
            "saml_response": saml(&app),
            "session_duration": 1800,
            "destination": "https://eu-west-1.console.aws.amazon.com/s3/buckets?region=eu-west-1",
        })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let url = body["url"].as_str().unwrap();
    let issued = events(&sink, "credentials.issued");
    let r = &events(&sink, "console.url_issued")[0];
    assert_eq!(r["route"], "console_url");
    assert_eq!(r["destination_host"], "eu-west-1.console.aws.amazon.com");
    assert_eq!(r["session_duration"], 1800);
    assert_eq!(r["expires_at"], body["expires_at"]);
    assert_eq!(r["role_arn"], issued[0]["role_arn"]);
    assert_eq!(r["access_key_id"], issued[0]["access_key_id"]);
    assert_eq!(r["subject_hash"], issued[0]["subject_hash"]);
    let token = fed.token_requests()[0].token.clone();
    let raw = raw(&sink);
    for secret in [url, token.as_str(), "SigninToken", "buckets"] {
        assert!(!raw.contains(secret), "{secret:?} in the audit log");
    }

    // Fail-closed: a console URL whose record cannot be written is withheld.
    let mut app = test_app(&format!(
        "[aws]\nfederation_endpoint = \"{}\"\n{CONFIG}",
        fed.url
    ));
    app.state.audit = Audit::to_sink(
        Arc::new(FailingFor("console.url_issued", MemorySink::default())),
        true,
    );
    let (status, _, body) = send(
        &app.state,
        TestRequest::post()
            .uri("/v1/console-url")
            .set_json(json!({ "saml_response": saml(&app) })),
    )
    .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "audit_unavailable");
    assert!(body.get("url").is_none());
}

#[actix_web::test]
async fn console_url_from_the_role_picker_is_audited_without_the_url() {
    let fed = support::federation::FederationDouble::start();
    let (app, sink) = browser_setup_with(
        false,
        &format!("[aws]\nfederation_endpoint = \"{}\"\n", fed.url),
    );
    let (status, jar, _) = acs(&app, &browser_saml(&app)).await;
    assert_eq!(status, 303);
    let (_, _, picker) = send(
        &app.state,
        jar.apply(TestRequest::get().uri("/roles"))
            .insert_header(("accept", "application/json")),
    )
    .await;
    let click = picker["roles"][0]["console_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, headers, _) = send(&app.state, jar.apply(TestRequest::get().uri(&click))).await;
    assert_eq!(status, 302);
    let url = headers
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let r = &events(&sink, "console.url_issued")[0];
    assert_eq!(r["route"], "console");
    assert_eq!(r["destination_host"], "console.aws.amazon.com");
    assert_eq!(r["session_duration"], Value::Null);
    assert_eq!(r["role_arn"], picker["roles"][0]["role_arn"]);
    assert_eq!(
        r["access_key_id"],
        events(&sink, "credentials.issued")[0]["access_key_id"]
    );
    let token = fed.token_requests()[0].token.clone();
    let raw = raw(&sink);
    assert!(
        !raw.contains(&url) && !raw.contains(&token),
        "URL or token in the audit log"
    );
}

/// A new sign-in in a browser ends the session that browser held; that ending is a sign-out in
/// the audit stream too (else the SIEM sees a session that never ends).
#[actix_web::test]
async fn session_ended_by_a_new_sign_in_is_audited_as_a_sign_out() {
    let (app, sink) = browser_setup(false);
    let (status, jar, _) = acs(&app, &browser_saml(&app)).await;
    assert_eq!(status, 303);
    let (status, headers, _) = send(
        &app.state,
        jar.apply(
            TestRequest::post()
                .uri("/saml/acs")
                .peer_addr(CLIENT.parse().unwrap())
                .set_form([("SAMLResponse", browser_saml(&app).as_str())]),
        ),
    )
    .await;
    assert_eq!(status, 303, "{headers:?}");
    let signins = events(&sink, "signin.succeeded");
    assert_eq!(signins.len(), 2);
    let out = events(&sink, "signout");
    assert_eq!(out.len(), 1, "{:?}", lines(&sink));
    assert_eq!(out[0]["client_ip"], "203.0.113.7");
    assert_eq!(out[0]["subject_hash"], signins[0]["subject_hash"]);
}
