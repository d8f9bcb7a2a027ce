//! AssumeRole (assume-role mode) through `SdkStsClient` against moto (`FEDBROKER_TEST_STS_ENDPOINT`,
//! started by `scripts/services.sh start`), with the broker's credentials given explicitly (static
//! test keys, with a session token for the role-chaining cases), never through the process env.
//!
//! Moto's AssumeRole reads only RoleArn, RoleSessionName, DurationSeconds, Policy and ExternalId
//! and checks no signature, so what the broker SENT is read from moto's request recorder
//! (`moto/moto_api/_internal/recorder`): `POST /moto-api/recorder/start-recording`, then
//! `GET /moto-api/recorder/download-recording` (one JSON object per line: `headers`, `method`,
//! `url`, `body`, base64 when `body_encoded`), `POST /moto-api/recorder/stop-recording`. The
//! recorder is global to the moto server and appends to `moto_recording` in its working directory
//! (which exists only once something was recorded or reset), so each test here holds one lock from
//! `reset-recording` to the download, and still picks its own requests out by a unique
//! RoleSessionName.
//!
//! AWS errors moto cannot produce (AccessDenied, AWS's own role-chaining ValidationError,
//! throttling) are checked on the same signed path against a scripted fake STS at the end.

use crate::support::recording_sts::moto_endpoint as endpoint;
use chrono::{TimeDelta, Utc};
use fedbroker::aws::{
    ExternalId, RoleArn, RoleSessionName, SessionDuration, SessionTags, SourceIdentity, TagKey,
    TagValue,
};
use fedbroker::sts::retry::{RetryPolicy, MAX_ATTEMPTS};
use fedbroker::sts::{AssumeRoleRequest, SdkStsClient, StsClient, StsCredentials, StsError};
use secrecy::ExposeSecret;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ROLE: &str = "arn:aws:iam::210987654321:role/tenants/Deploy";
const POLICY_ARN: &str = "arn:aws:iam::aws:policy/ReadOnlyAccess";
const POLICY: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
/// A session token of the shape STS issues; moto never checks it.
const BROKER_SESSION_TOKEN: &str = "FwoGZXIvYXdzEBYaDHRlc3Rfc2Vzc2lvbl90b2tlbl9mb3JfZmVkYnJva2Vy";

/// One test at a time drives moto's (global) recorder.
static RECORDER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `SdkStsClient` signing AssumeRole with `test`/`test` (+ `token`: temporary, i.e. chaining).
fn client(token: Option<&str>) -> SdkStsClient {
    let creds = aws_credential_types::Credentials::new(
        "test",
        "test",
        token.map(str::to_owned),
        None,
        "fedbroker-test",
    );
    SdkStsClient::new("us-east-1", Some(&endpoint())).with_broker_credentials(creds)
}

fn unique_session() -> String {
    format!("ar-{}", uuid::Uuid::new_v4().simple())
}

fn request(session: &str, duration: Option<u32>) -> AssumeRoleRequest {
    let kv = |k, v| (TagKey::parse(k).unwrap(), TagValue::parse(v).unwrap());
    AssumeRoleRequest {
        role_arn: RoleArn::parse(ROLE).unwrap(),
        role_session_name: RoleSessionName::parse(session).unwrap(),
        duration: duration.map(|s| SessionDuration::from_secs(s.into()).unwrap()),
        tags: SessionTags::new(
            vec![kv("Project", "Automation"), kv("CostCenter", "12345")],
            vec![TagKey::parse("Project").unwrap()],
        )
        .unwrap(),
        source_identity: Some(SourceIdentity::parse("alice@example.com").unwrap()),
        external_id: Some(ExternalId::parse("Example987").unwrap()),
        policy: Some(POLICY.to_owned()),
        policy_arns: vec![POLICY_ARN.to_owned()],
    }
}

/// One AssumeRole request as moto recorded it.
#[derive(Debug)]
struct Recorded {
    headers: HashMap<String, String>,
    params: HashMap<String, String>,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }
}

async fn recorder(op: &str) -> String {
    let url = format!("{}/moto-api/recorder/{op}", endpoint());
    let http = reqwest::Client::new();
    let resp = if op == "download-recording" {
        http.get(url).send().await
    } else {
        http.post(url).send().await
    }
    .unwrap_or_else(|e| panic!("moto recorder {op}: {e}"));
    assert!(
        resp.status().is_success(),
        "moto recorder {op}: {}",
        resp.status()
    );
    resp.text().await.unwrap()
}

/// Every recorded AssumeRole request whose RoleSessionName is `session`.
async fn recorded_assume_roles(session: &str) -> Vec<Recorded> {
    use base64::Engine;
    let log = recorder("download-recording").await;
    let mut found = Vec::new();
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let entry: Value = serde_json::from_str(line).unwrap();
        let body = entry["body"].as_str().unwrap_or_default();
        let body = if entry["body_encoded"].as_bool() == Some(true) {
            base64::engine::general_purpose::STANDARD
                .decode(body)
                .unwrap()
        } else {
            body.as_bytes().to_vec()
        };
        let params: HashMap<String, String> =
            serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body)
                .unwrap_or_default()
                .into_iter()
                .collect();
        if params.get("Action").map(String::as_str) == Some("AssumeRole")
            && params.get("RoleSessionName").map(String::as_str) == Some(session)
        {
            let headers = serde_json::from_value(entry["headers"].clone()).unwrap();
            found.push(Recorded { headers, params });
        }
    }
    found
}

/// Run `req` with the recorder on; the answer and what moto received.
async fn assume_recorded(
    sts: &SdkStsClient,
    req: AssumeRoleRequest,
) -> (Result<StsCredentials, StsError>, Vec<Recorded>) {
    let _guard = RECORDER.lock().await;
    let session = req.role_session_name.as_str().to_owned();
    recorder("reset-recording").await;
    recorder("start-recording").await;
    let result = sts.assume_role(req).await;
    recorder("stop-recording").await;
    (result, recorded_assume_roles(&session).await)
}

fn assert_assumed(creds: &StsCredentials, session: &str) {
    assert!(
        creds.access_key_id.starts_with("ASIA"),
        "{}",
        creds.access_key_id
    );
    assert!(!creds.secret_access_key.expose_secret().is_empty());
    assert!(!creds.session_token.expose_secret().is_empty());
    assert_eq!(
        creds.assumed_role_arn,
        format!("arn:aws:sts::210987654321:assumed-role/Deploy/{session}")
    );
    assert!(creds.assumed_role_id.ends_with(&format!(":{session}")));
}

#[tokio::test]
async fn every_parameter_reaches_sts_in_a_signed_request() {
    let sts = client(None);
    assert!(!sts.broker_credentials_are_temporary().await.unwrap());
    let session = unique_session();
    let before = Utc::now();
    let (result, seen) = assume_recorded(&sts, request(&session, Some(7_200))).await;
    let creds = result.expect("moto should return credentials");

    assert_assumed(&creds, &session);
    assert!(!creds.chained);
    // Not chained, so the 2-hour duration is sent and granted (moto honours DurationSeconds).
    assert!(creds.expiration > before + TimeDelta::seconds(7_190));
    assert!(creds.expiration < Utc::now() + TimeDelta::seconds(7_210));

    assert_eq!(seen.len(), 1, "exactly one AssumeRole, no retry: {seen:#?}");
    let r = &seen[0];
    eprintln!("recorded AssumeRole: {:#?}", r.params);
    assert_eq!(r.param("Version"), Some("2011-06-15"));
    assert_eq!(r.param("RoleArn"), Some(ROLE));
    assert_eq!(r.param("RoleSessionName"), Some(session.as_str()));
    assert_eq!(r.param("DurationSeconds"), Some("7200"));
    assert_eq!(r.param("SourceIdentity"), Some("alice@example.com"));
    assert_eq!(r.param("ExternalId"), Some("Example987"));
    assert_eq!(r.param("Policy"), Some(POLICY));
    assert_eq!(r.param("PolicyArns.member.1.arn"), Some(POLICY_ARN));
    let mut tags: Vec<(&str, &str)> = (1..=2)
        .map(|n| {
            (
                r.param(&format!("Tags.member.{n}.Key")).unwrap(),
                r.param(&format!("Tags.member.{n}.Value")).unwrap(),
            )
        })
        .collect();
    tags.sort();
    assert_eq!(tags, [("CostCenter", "12345"), ("Project", "Automation")]);
    assert_eq!(r.param("Tags.member.3.Key"), None);
    assert_eq!(r.param("TransitiveTagKeys.member.1"), Some("Project"));
    assert_eq!(r.param("TransitiveTagKeys.member.2"), None);

    // Signed (SigV4) with the broker's long-term key: no session token.
    let auth = r
        .header("Authorization")
        .expect("AssumeRole must be signed");
    assert!(
        auth.starts_with("AWS4-HMAC-SHA256 Credential=test/")
            && auth.contains("/us-east-1/sts/aws4_request"),
        "{auth}"
    );
    assert!(r.header("X-Amz-Date").is_some());
    assert_eq!(r.header("X-Amz-Security-Token"), None);
}

#[tokio::test]
async fn chained_call_above_one_hour_is_refused_before_any_request() {
    let sts = client(Some(BROKER_SESSION_TOKEN));
    assert!(sts.broker_credentials_are_temporary().await.unwrap());
    let session = unique_session();
    let (result, seen) = assume_recorded(&sts, request(&session, Some(7_200))).await;
    let err = result.unwrap_err();
    assert!(
        matches!(err, StsError::ChainingLimit { requested: 7_200 }),
        "{err:?}"
    );
    assert!(err.to_string().contains("role chaining"), "{err}");
    assert!(seen.is_empty(), "nothing may reach STS: {seen:#?}");
}

#[tokio::test]
async fn chained_call_within_one_hour_passes_and_says_chained() {
    let sts = client(Some(BROKER_SESSION_TOKEN));
    let session = unique_session();
    let (result, seen) = assume_recorded(&sts, request(&session, Some(3_600))).await;
    let creds = result.expect("3600 s is allowed when chaining");
    assert_assumed(&creds, &session);
    assert!(creds.chained);
    assert_eq!(seen.len(), 1, "{seen:#?}");
    assert_eq!(seen[0].param("DurationSeconds"), Some("3600"));
    // Signed with the temporary credentials: the session token travels with the request.
    assert_eq!(
        seen[0].header("X-Amz-Security-Token"),
        Some(BROKER_SESSION_TOKEN)
    );
    assert!(seen[0]
        .header("Authorization")
        .is_some_and(|a| a.starts_with("AWS4-HMAC-SHA256 Credential=test/")));
}

#[tokio::test]
async fn chained_call_without_duration_sends_none_and_gets_the_one_hour_default() {
    let sts = client(Some(BROKER_SESSION_TOKEN));
    let session = unique_session();
    let before = Utc::now();
    let (result, seen) = assume_recorded(&sts, request(&session, None)).await;
    let creds = result.unwrap();
    assert!(creds.chained);
    assert_eq!(seen.len(), 1, "{seen:#?}");
    assert_eq!(seen[0].param("DurationSeconds"), None);
    assert!(creds.expiration > before + TimeDelta::seconds(3_590));
    assert!(creds.expiration < Utc::now() + TimeDelta::seconds(3_610));
}

#[tokio::test]
async fn empty_optional_parameters_are_not_sent() {
    let sts = client(None);
    let session = unique_session();
    let mut req = request(&session, None);
    req.tags = SessionTags::default();
    req.source_identity = None;
    req.external_id = None;
    req.policy = None;
    req.policy_arns = vec![];
    let (result, seen) = assume_recorded(&sts, req).await;
    assert!(!result.unwrap().chained);
    assert_eq!(seen.len(), 1, "{seen:#?}");
    let mut keys: Vec<&str> = seen[0].params.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["Action", "RoleArn", "RoleSessionName", "Version"]);
}

// --- AWS errors moto cannot produce, on the signed path: a scripted fake STS on loopback. ---

fn aws_error(status: u16, code: &str, message: &str) -> (u16, String) {
    (
        status,
        format!(
            r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>r</RequestId></ErrorResponse>"#
        ),
    )
}

/// Answer each connection with `reply`; the requests seen, raw.
async fn fake_sts(reply: (u16, String)) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            // Read until the headers and Content-Length bytes of body have arrived.
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                let n = sock.read(&mut chunk).await.unwrap_or(0);
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).into_owned();
                let done = text.find("\r\n\r\n").is_some_and(|end| {
                    let len = text[..end]
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    buf.len() >= end + 4 + len
                });
                if n == 0 || done {
                    break;
                }
            }
            log.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&buf).into_owned());
            let (status, body) = &reply;
            let head = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = sock.write_all(head.as_bytes()).await;
            let _ = sock.write_all(body.as_bytes()).await;
            let _ = sock.shutdown().await;
        }
    });
    (url, seen)
}

async fn against_fake(reply: (u16, String)) -> (StsError, Vec<String>) {
    let (url, seen) = fake_sts(reply).await;
    let creds =
        aws_credential_types::Credentials::new("test", "test", None, None, "fedbroker-test");
    let sts = SdkStsClient::new("us-east-1", Some(&url))
        .with_retry_policy(RetryPolicy::default().with_hooks(|_| Box::pin(async {}), || 0.0))
        .with_broker_credentials(creds);
    let err = sts
        .assume_role(request(&unique_session(), Some(3_600)))
        .await
        .unwrap_err();
    let requests = seen.lock().unwrap().clone();
    (err, requests)
}

#[tokio::test]
async fn aws_refusals_map_by_code_and_are_sent_once() {
    // AWS's own chaining failure (had the broker not known it was chaining) and a trust policy
    // demanding another ExternalId: client errors, never retried.
    let cases = [
        (
            aws_error(
                400,
                "ValidationError",
                "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
            ),
            "InvalidRequest",
        ),
        (
            aws_error(
                403,
                "AccessDenied",
                "User: arn:aws:iam::123456789012:user/broker is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::210987654321:role/tenants/Deploy",
            ),
            "Refused",
        ),
        (
            aws_error(400, "PackedPolicyTooLarge", "Packed policy consumes 112% of allotted space"),
            "InvalidRequest",
        ),
    ];
    for (reply, want) in cases {
        let (err, requests) = against_fake(reply).await;
        let got = match &err {
            StsError::InvalidRequest { .. } => "InvalidRequest",
            StsError::Refused { .. } => "Refused",
            other => panic!("{other:?}"),
        };
        assert_eq!(got, want, "{err:?}");
        assert_eq!(requests.len(), 1, "client errors are not retried: {err:?}");
        assert!(requests[0].contains("Action=AssumeRole"));
        assert!(requests[0]
            .to_ascii_lowercase()
            .contains("authorization: aws4-hmac-sha256 credential=test/"));
    }
}

#[tokio::test]
async fn throttling_is_retried_up_to_the_bound() {
    let (err, requests) = against_fake(aws_error(400, "Throttling", "Rate exceeded")).await;
    assert!(matches!(err, StsError::Throttled), "{err:?}");
    assert_eq!(requests.len(), MAX_ATTEMPTS as usize);
}

/// The production path: broker credentials from the SDK's default chain (here its environment
/// provider). Ignored by default because it needs the process environment set from outside (tests
/// never mutate it):
/// `AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test [AWS_SESSION_TOKEN=x] cargo test --test
/// sts_assume_role -- --ignored`.
#[tokio::test]
#[ignore = "needs AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (and optionally AWS_SESSION_TOKEN) in the environment"]
async fn default_chain_credentials_sign_assume_role() {
    let token_set = std::env::var("AWS_SESSION_TOKEN").is_ok_and(|t| !t.is_empty());
    let sts = SdkStsClient::new("us-east-1", Some(&endpoint()));
    assert_eq!(
        sts.broker_credentials_are_temporary().await.unwrap(),
        token_set
    );
    let session = unique_session();
    let (result, seen) = assume_recorded(&sts, request(&session, Some(3_600))).await;
    let creds = result.unwrap();
    assert_assumed(&creds, &session);
    assert_eq!(creds.chained, token_set);
    assert_eq!(seen.len(), 1);
    let key = std::env::var("AWS_ACCESS_KEY_ID").unwrap();
    assert!(seen[0]
        .header("Authorization")
        .is_some_and(|a| a.contains(&format!("Credential={key}/"))));
    assert_eq!(seen[0].header("X-Amz-Security-Token").is_some(), token_set);
}
