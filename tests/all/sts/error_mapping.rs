//! `SdkStsClient` against a scripted fake STS on loopback: every AWS error code moto cannot produce,
//! the retry policy as seen on the wire (how many times the assertion or token reaches "AWS"), and
//! that AssumeRoleWithSAML and AssumeRoleWithWebIdentity are sent unsigned. Both operations go
//! through every mapping and retry case.

use fedbroker::aws::{RoleArn, RoleSessionName, SamlProviderArn};
use fedbroker::sts::retry::{RetryPolicy, MAX_ATTEMPTS};
use fedbroker::sts::{
    AssumeRoleWithSamlRequest, AssumeRoleWithWebIdentityRequest, SdkStsClient, StsClient,
    StsCredentials, StsError,
};
use secrecy::SecretString;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const ASSERTION: &str =
    "PHNhbWxwOlJlc3BvbnNlPnNlY3JldCBhc3NlcnRpb24gY29udGVudDwvc2FtbHA6UmVzcG9uc2U+";
/// A JWT whose base64url has `-`/`_` (so plain base64-run redaction alone would miss chunks).
const TOKEN: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6Ims_Pj8-fn5-Pz4ifQ.eyJzdWIiOiJyZXBvOm8vcj8-Pz5-fn5-Pz4_PiIsImF1ZCI6InN0cy5hbWF6b25hd3MuY29tIn0.c2ln-_-_bmF0dXJl";

/// The two unsigned operations under test.
#[derive(Clone, Copy, Debug)]
enum Op {
    Saml,
    WebIdentity,
}

const OPS: [Op; 2] = [Op::Saml, Op::WebIdentity];

impl Op {
    /// The secret this operation sends.
    fn secret(self) -> &'static str {
        match self {
            Op::Saml => ASSERTION,
            Op::WebIdentity => TOKEN,
        }
    }
}

/// HTTP status, AWS error code, and the variant expected for it.
type Case = (u16, &'static str, fn(&StsError) -> bool);

/// One canned HTTP answer.
#[derive(Clone)]
struct Reply {
    status: u16,
    body: String,
}

fn aws_error(status: u16, code: &str, message: &str) -> Reply {
    Reply {
        status,
        body: format!(
            r#"<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>c6104cbe-af31-11e0-8154-cbc7ccf896c7</RequestId></ErrorResponse>"#
        ),
    }
}

fn success() -> Reply {
    Reply {
        status: 200,
        body: r#"<AssumeRoleWithSAMLResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithSAMLResult><Credentials><AccessKeyId>ASIAEXAMPLEEXAMPLE00</AccessKeyId><SecretAccessKey>secret</SecretAccessKey><SessionToken>token</SessionToken><Expiration>2030-01-01T00:00:00.5Z</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>AROAEXAMPLE:alice</AssumedRoleId><Arn>arn:aws:sts::123456789012:assumed-role/Admin/alice</Arn></AssumedRoleUser><Subject>alice@example.com</Subject><SourceIdentity>alice</SourceIdentity><PackedPolicySize>6</PackedPolicySize></AssumeRoleWithSAMLResult><ResponseMetadata><RequestId>x</RequestId></ResponseMetadata></AssumeRoleWithSAMLResponse>"#.into(),
    }
}

fn web_identity_success() -> Reply {
    Reply {
        status: 200,
        body: r#"<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult><SubjectFromWebIdentityToken>repo:org/app:ref:refs/heads/main</SubjectFromWebIdentityToken><Audience>sts.amazonaws.com</Audience><AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/Deploy/ci-42</Arn><AssumedRoleId>AROAEXAMPLE:ci-42</AssumedRoleId></AssumedRoleUser><Credentials><SessionToken>token</SessionToken><SecretAccessKey>secret</SecretAccessKey><Expiration>2030-01-01T00:00:00Z</Expiration><AccessKeyId>ASIAEXAMPLEEXAMPLE01</AccessKeyId></Credentials><SourceIdentity>ci-bot</SourceIdentity><Provider>token.example.com</Provider><PackedPolicySize>3</PackedPolicySize></AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>y</RequestId></ResponseMetadata></AssumeRoleWithWebIdentityResponse>"#.into(),
    }
}

fn success_for(op: Op) -> Reply {
    match op {
        Op::Saml => success(),
        Op::WebIdentity => web_identity_success(),
    }
}

/// What the fake saw.
#[derive(Default)]
struct Seen {
    requests: Vec<String>,
}

/// Serve `script` in order (the last reply repeats), recording each raw request.
async fn fake_sts(script: Vec<Reply>) -> (String, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Seen::default()));
    let log = seen.clone();
    tokio::spawn(async move {
        let mut n = 0;
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let reply = script[n.min(script.len() - 1)].clone();
            n += 1;
            let request = read_request(&mut sock).await;
            log.lock().unwrap().requests.push(request);
            let head = format!(
                "HTTP/1.1 {} X\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                reply.status,
                reply.body.len()
            );
            let _ = sock.write_all(head.as_bytes()).await;
            let _ = sock.write_all(reply.body.as_bytes()).await;
            let _ = sock.shutdown().await;
        }
    });
    (url, seen)
}

async fn read_request(sock: &mut tokio::net::TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = sock.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        if let Some(end) = text.find("\r\n\r\n") {
            let len = text[..end]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                break;
            }
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// A client for `url` whose retries do not sleep.
fn client(url: &str) -> SdkStsClient {
    SdkStsClient::new("us-east-1", Some(url))
        .with_retry_policy(RetryPolicy::default().with_hooks(|_| Box::pin(async {}), || 0.0))
}

fn request() -> AssumeRoleWithSamlRequest {
    AssumeRoleWithSamlRequest {
        role_arn: RoleArn::parse("arn:aws:iam::123456789012:role/Admin").unwrap(),
        principal_arn: SamlProviderArn::parse("arn:aws:iam::123456789012:saml-provider/corp")
            .unwrap(),
        saml_assertion: SecretString::from(ASSERTION.to_owned()),
        duration: None,
    }
}

fn web_identity_request() -> AssumeRoleWithWebIdentityRequest {
    AssumeRoleWithWebIdentityRequest {
        role_arn: RoleArn::parse("arn:aws:iam::123456789012:role/Deploy").unwrap(),
        role_session_name: RoleSessionName::parse("ci-42").unwrap(),
        web_identity_token: SecretString::from(TOKEN.to_owned()),
        duration: None,
    }
}

async fn send(client: &SdkStsClient, op: Op) -> Result<StsCredentials, StsError> {
    match op {
        Op::Saml => client.assume_role_with_saml(request()).await,
        Op::WebIdentity => {
            client
                .assume_role_with_web_identity(web_identity_request())
                .await
        }
    }
}

/// Run one SAML call against `script`; return the result and the requests that reached the fake.
async fn call(script: Vec<Reply>) -> (Result<StsCredentials, StsError>, Vec<String>) {
    call_op(Op::Saml, script).await
}

/// Run one `op` call against `script`; return the result and the requests that reached the fake.
async fn call_op(op: Op, script: Vec<Reply>) -> (Result<StsCredentials, StsError>, Vec<String>) {
    let (url, seen) = fake_sts(script).await;
    let result = send(&client(&url), op).await;
    let requests = seen.lock().unwrap().requests.clone();
    (result, requests)
}

#[tokio::test]
async fn success_is_mapped_and_request_is_unsigned() {
    let (result, requests) = call(vec![success()]).await;
    let creds = result.unwrap();
    assert_eq!(creds.access_key_id, "ASIAEXAMPLEEXAMPLE00");
    assert_eq!(
        creds.expiration.to_rfc3339(),
        "2030-01-01T00:00:00.500+00:00"
    );
    assert_eq!(creds.subject.as_deref(), Some("alice@example.com"));
    assert_eq!(creds.source_identity.as_deref(), Some("alice"));
    assert_eq!(creds.packed_policy_size, Some(6));
    assert_eq!(requests.len(), 1);
    let req = requests[0].to_ascii_lowercase();
    assert!(req.starts_with("post / http/1.1"), "{req}");
    assert!(req.contains("action=assumerolewithsaml"), "{req}");
    assert!(
        !req.contains("\r\nauthorization:"),
        "request was signed: {req}"
    );
    assert!(!req.contains("x-amz-security-token"), "{req}");
}

#[tokio::test]
async fn client_errors_map_by_code_and_are_sent_once() {
    let cases: [Case; 8] = [
        (400, "InvalidIdentityToken", |e| {
            matches!(e, StsError::IdentityRejected { .. })
        }),
        (400, "ExpiredTokenException", |e| {
            matches!(e, StsError::IdentityRejected { .. })
        }),
        (400, "IDPRejectedClaim", |e| {
            matches!(e, StsError::IdentityRejected { .. })
        }),
        (403, "AccessDenied", |e| {
            matches!(e, StsError::Refused { .. })
        }),
        (403, "RegionDisabledException", |e| {
            matches!(e, StsError::Refused { .. })
        }),
        (400, "ValidationError", |e| {
            matches!(e, StsError::InvalidRequest { .. })
        }),
        (400, "MalformedPolicyDocument", |e| {
            matches!(e, StsError::InvalidRequest { .. })
        }),
        (400, "PackedPolicyTooLarge", |e| {
            matches!(e, StsError::InvalidRequest { .. })
        }),
    ];
    for op in OPS {
        for (status, code, expected) in cases {
            let (result, requests) =
                call_op(op, vec![aws_error(status, code, "AWS says no")]).await;
            let err = result.unwrap_err();
            assert!(expected(&err), "{op:?}: {code} mapped to {err:?}");
            assert_eq!(err.aws_code(), Some(code));
            assert!(err.to_string().contains("AWS says no"), "{err}");
            assert_eq!(requests.len(), 1, "{op:?}: {code} must not be retried");
        }
    }
}

#[tokio::test]
async fn transient_errors_are_retried_up_to_the_bound() {
    let cases: [Case; 5] = [
        (400, "IDPCommunicationError", |e| {
            matches!(e, StsError::IdpUnreachable)
        }),
        (400, "Throttling", |e| matches!(e, StsError::Throttled)),
        (400, "ThrottlingException", |e| {
            matches!(e, StsError::Throttled)
        }),
        (400, "RequestLimitExceeded", |e| {
            matches!(e, StsError::Throttled)
        }),
        (503, "ServiceUnavailable", |e| {
            matches!(e, StsError::Unavailable(_))
        }),
    ];
    for op in OPS {
        for (status, code, expected) in cases {
            let (result, requests) = call_op(op, vec![aws_error(status, code, "later")]).await;
            let err = result.unwrap_err();
            assert!(expected(&err), "{op:?}: {code} mapped to {err:?}");
            assert_eq!(requests.len(), MAX_ATTEMPTS as usize, "{op:?}: {code}");
        }
    }
}

#[tokio::test]
async fn idp_communication_error_then_success() {
    for op in OPS {
        let (result, requests) = call_op(
            op,
            vec![
                aws_error(400, "IDPCommunicationError", "IdP timed out"),
                success_for(op),
            ],
        )
        .await;
        assert!(result.is_ok(), "{op:?}: {result:?}");
        assert_eq!(requests.len(), 2, "{op:?}");
    }
}

#[tokio::test]
async fn web_identity_success_is_mapped_and_request_is_unsigned() {
    let (result, requests) = call_op(Op::WebIdentity, vec![web_identity_success()]).await;
    let creds = result.unwrap();
    assert_eq!(creds.access_key_id, "ASIAEXAMPLEEXAMPLE01");
    assert_eq!(creds.expiration.to_rfc3339(), "2030-01-01T00:00:00+00:00");
    assert_eq!(
        creds.assumed_role_arn,
        "arn:aws:sts::123456789012:assumed-role/Deploy/ci-42"
    );
    assert_eq!(creds.assumed_role_id, "AROAEXAMPLE:ci-42");
    assert_eq!(
        creds.subject.as_deref(),
        Some("repo:org/app:ref:refs/heads/main")
    );
    assert_eq!(creds.provider.as_deref(), Some("token.example.com"));
    assert_eq!(creds.audience.as_deref(), Some("sts.amazonaws.com"));
    assert_eq!(creds.source_identity.as_deref(), Some("ci-bot"));
    assert_eq!(creds.packed_policy_size, Some(3));
    assert_eq!(requests.len(), 1);
    let req = requests[0].to_ascii_lowercase();
    assert!(req.starts_with("post / http/1.1"), "{req}");
    assert!(req.contains("action=assumerolewithwebidentity"), "{req}");
    assert!(req.contains("rolesessionname=ci-42"), "{req}");
    // The token goes to STS as is (form-encoded; base64url and '.' need no escaping).
    assert!(
        requests[0].contains(&format!("WebIdentityToken={TOKEN}")),
        "{req}"
    );
    assert!(!req.contains("durationseconds"), "{req}");
    assert!(
        !req.contains("\r\nauthorization:"),
        "request was signed: {req}"
    );
    assert!(!req.contains("x-amz-security-token"), "{req}");
}

#[tokio::test]
async fn web_identity_answer_without_credentials_is_unavailable() {
    let reply = Reply {
        status: 200,
        body: r#"<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleWithWebIdentityResult><Provider>p</Provider></AssumeRoleWithWebIdentityResult></AssumeRoleWithWebIdentityResponse>"#.into(),
    };
    let (result, requests) = call_op(Op::WebIdentity, vec![reply]).await;
    assert!(
        matches!(result, Err(StsError::Unavailable(_))),
        "{result:?}"
    );
    // Retried like any transient failure: a malformed answer may be a broken proxy.
    assert_eq!(requests.len(), MAX_ATTEMPTS as usize);
}

#[tokio::test]
async fn html_5xx_is_unavailable() {
    let reply = Reply {
        status: 502,
        body: "<html>bad gateway</html>".into(),
    };
    let (result, requests) = call(vec![reply]).await;
    assert!(
        matches!(result, Err(StsError::Unavailable(_))),
        "{result:?}"
    );
    assert_eq!(requests.len(), MAX_ATTEMPTS as usize);
}

#[tokio::test]
async fn echoed_assertion_never_reaches_the_error() {
    let message = format!("1 validation error detected: Value '{ASSERTION}' at 'SAMLAssertion' failed to satisfy constraint");
    let (result, _) = call(vec![aws_error(400, "ValidationError", &message)]).await;
    let err = result.unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains(&ASSERTION[..24]), "{text}");
    assert!(text.contains("at 'SAMLAssertion' failed"), "{text}");
}

#[tokio::test]
async fn echoed_web_identity_token_never_reaches_the_error() {
    for echoed in [TOKEN, &TOKEN[..60]] {
        let message = format!("1 validation error detected: Value '{echoed}' at 'webIdentityToken' failed to satisfy constraint");
        let (result, _) = call_op(
            Op::WebIdentity,
            vec![aws_error(400, "ValidationError", &message)],
        )
        .await;
        let err = result.unwrap_err();
        let text = format!("{err} {err:?}");
        assert!(!text.contains(&TOKEN[..16]), "{text}");
        assert!(!text.contains("eyJzdWIi"), "{text}");
        assert!(text.contains("at 'webIdentityToken' failed"), "{text}");
    }
}

#[tokio::test]
async fn unreachable_endpoint_is_unavailable() {
    // A port nothing listens on: bind, note it, close it again.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for op in OPS {
        let err = send(&client(&format!("http://127.0.0.1:{port}")), op)
            .await
            .unwrap_err();
        assert!(matches!(err, StsError::Unavailable(_)), "{op:?}: {err:?}");
        assert!(!format!("{err:?}").contains(op.secret()));
    }
}
