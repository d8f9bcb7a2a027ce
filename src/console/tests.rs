//! `ConsoleService` with a fake federation endpoint and a fixed clock: URL shape, lifetime,
//! partitions, the checks that run before the endpoint is called, and what is logged.

use super::*;
use crate::clock::FixedClock;
use crate::config::load_str;
use crate::identity::Protocol;
use crate::mapping::{DurationReason, Negotiated, StsMode};
use crate::sts::StsCredentials;
use chrono::TimeZone;
use std::sync::Mutex;

const TOKEN: &str = "fake-signin-token-0123456789";

/// Records each call's (endpoint, session JSON, SessionDuration) and answers [`TOKEN`].
#[derive(Debug, Default)]
struct FakeEndpoint {
    calls: Mutex<Vec<(String, String, Option<u32>)>>,
}

#[async_trait::async_trait]
impl FederationEndpoint for FakeEndpoint {
    async fn get_signin_token(
        &self,
        endpoint_url: &Url,
        session_json: &SecretString,
        session_duration: Option<u32>,
    ) -> Result<SecretString, ConsoleError> {
        self.calls.lock().unwrap().push((
            endpoint_url.to_string(),
            session_json.expose_secret().to_owned(),
            session_duration,
        ));
        Ok(SecretString::from(TOKEN.to_owned()))
    }
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 1, 2, 3, 4, 5).unwrap()
}

fn service(toml: &str) -> (ConsoleService, Arc<FakeEndpoint>) {
    let cfg = load_str(toml, Vec::<(String, String)>::new()).expect("config loads");
    let fake = Arc::new(FakeEndpoint::default());
    let svc = ConsoleService::from_config(&cfg, Arc::new(FixedClock::new(now())))
        .with_endpoint(fake.clone());
    (svc, fake)
}

fn issued(role: &str, chained: bool) -> IssuedCredentials {
    IssuedCredentials {
        credentials: StsCredentials {
            access_key_id: "ASIAFAKE".into(),
            secret_access_key: SecretString::from("fake-secret-key".to_owned()),
            session_token: SecretString::from("fake-session-token".to_owned()),
            expiration: now() + TimeDelta::hours(1),
            assumed_role_arn: String::new(),
            assumed_role_id: String::new(),
            subject: None,
            provider: None,
            audience: None,
            source_identity: None,
            packed_policy_size: None,
            chained,
            request_id: None,
        },
        role_arn: crate::aws::RoleArn::parse(role).unwrap(),
        subject: "alice@example.com".into(),
        session_name: None,
        issuer: "https://idp.example".into(),
        provider: "test-idp".into(),
        protocol: Protocol::Saml,
        tag_keys: Vec::new(),
        source_identity: None,
        mode: StsMode::PassThrough,
        alias: None,
        rule: "r".into(),
        duration: Negotiated {
            duration: crate::aws::SessionDuration::from_secs(3600).unwrap(),
            reason: DurationReason::StsDefault,
        },
        cache: None,
        legacy_algorithm: false,
    }
}

fn query(url: &SecretString) -> BTreeMap<String, String> {
    Url::parse(url.expose_secret())
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

const AWS_ROLE: &str = "arn:aws:iam::123456789012:role/R";

#[tokio::test]
async fn login_url_carries_issuer_default_destination_and_token_and_expires_in_15_minutes() {
    let (svc, fake) = service("[server]\npublic_url = \"https://broker.example\"\n");
    let u = svc
        .signin_url(&issued(AWS_ROLE, false), &ConsoleRequest::default())
        .await
        .unwrap();
    assert!(u
        .url
        .expose_secret()
        .starts_with("https://signin.aws.amazon.com/federation?Action=login&"));
    let q = query(&u.url);
    assert_eq!(q["Issuer"], "https://broker.example");
    assert_eq!(q["Destination"], "https://console.aws.amazon.com/");
    assert_eq!(q["SigninToken"], TOKEN);
    assert_eq!(u.expires_at, now() + TimeDelta::minutes(15));
    assert_eq!(u.session_duration, None);
    let calls = fake.calls.lock().unwrap();
    assert_eq!(calls[0].2, None, "SessionDuration omitted by default");
    assert!(format!("{u:?}").contains("REDACTED") && !format!("{u:?}").contains(TOKEN));
}

#[tokio::test]
async fn partitions_use_their_own_endpoint_and_console() {
    let (svc, fake) = service(
        "[console]\nfederation_endpoints = { aws-cn = \"http://127.0.0.1:9/cn-federation\" }\n",
    );
    let gov = svc
        .signin_url(
            &issued("arn:aws-us-gov:iam::123456789012:role/R", false),
            &ConsoleRequest {
                region: Some("us-gov-west-1".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(gov
        .url
        .expose_secret()
        .starts_with("https://signin.amazonaws-us-gov.com/federation?"));
    assert_eq!(
        query(&gov.url)["Destination"],
        "https://console.amazonaws-us-gov.com/console/home?region=us-gov-west-1"
    );
    let cn = svc
        .signin_url(
            &issued("arn:aws-cn:iam::123456789012:role/R", false),
            &ConsoleRequest::default(),
        )
        .await
        .unwrap();
    assert!(cn
        .url
        .expose_secret()
        .starts_with("http://127.0.0.1:9/cn-federation?Action=login"));
    assert_eq!(
        query(&cn.url)["Destination"],
        "https://console.amazonaws.cn/"
    );
    assert_eq!(fake.calls.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn destination_of_another_partitions_console_is_refused_before_the_endpoint() {
    let (svc, fake) = service("");
    let e = svc
        .signin_url(
            &issued(AWS_ROLE, false),
            &ConsoleRequest {
                destination: Some("https://console.amazonaws.cn/".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(
        crate::error::ApiError::code(&e),
        "console_destination_not_allowed"
    );
    assert!(fake.calls.lock().unwrap().is_empty());
}

#[tokio::test]
async fn chained_credentials_asking_for_more_than_an_hour_are_refused_before_the_endpoint() {
    let (svc, fake) = service("");
    let req = |d: &str| ConsoleRequest {
        session_duration: Some(d.into()),
        ..Default::default()
    };
    let e = svc
        .signin_url(&issued(AWS_ROLE, true), &req("3601"))
        .await
        .unwrap_err();
    assert_eq!(
        crate::error::ApiError::code(&e),
        "console_session_duration_chained"
    );
    assert!(fake.calls.lock().unwrap().is_empty());
    let ok = svc
        .signin_url(&issued(AWS_ROLE, true), &req("3600"))
        .await
        .unwrap();
    assert_eq!(ok.session_duration, Some(3600));
    assert_eq!(fake.calls.lock().unwrap()[0].2, Some(3600));
}

#[test]
fn check_refuses_bad_options_with_their_codes() {
    let (svc, _) = service("");
    let code = |r: ConsoleRequest| crate::error::ApiError::code(&svc.check(&r, None).unwrap_err());
    assert_eq!(
        code(ConsoleRequest {
            region: Some("us-east-1/../x".into()),
            ..Default::default()
        }),
        "console_invalid_region"
    );
    assert_eq!(
        code(ConsoleRequest {
            region: Some("us-east-1".into()),
            destination: Some("https://console.aws.amazon.com/".into()),
            ..Default::default()
        }),
        "console_region_with_destination"
    );
    for d in ["899", "43201"] {
        assert_eq!(
            code(ConsoleRequest {
                session_duration: Some(d.into()),
                ..Default::default()
            }),
            "console_invalid_session_duration"
        );
    }
}

#[test]
fn configured_allow_list_replaces_the_default() {
    let (svc, _) =
        service("[console]\nallowed_destinations = [\"https://console.aws.amazon.com/s3/\"]\n");
    let with = |d: &str| ConsoleRequest {
        destination: Some(d.into()),
        ..Default::default()
    };
    assert!(svc
        .check(&with("https://console.aws.amazon.com/s3/buckets"), None)
        .is_ok());
    assert!(svc
        .check(&with("https://console.aws.amazon.com/iam/"), None)
        .is_err());
    assert!(load_str(
        "[console]\nallowed_destinations = [\"http://console.aws.amazon.com/\"]\n",
        Vec::<(String, String)>::new()
    )
    .is_err());
}

#[test]
fn console_config_problems_are_reported_together() {
    let e = load_str(
        r#"
[console]
allowed_destinations = ["https://user@console.aws.amazon.com/", "https://console.aws.amazon.com/?x=1"]
issuer_url = "http://broker.example/"
federation_endpoints = { aws = "https://x.example/", aws-iso = "https://y.example/", aws-cn = "http://signin.example/" }
"#,
        Vec::<(String, String)>::new(),
    )
    .unwrap_err();
    let all = e.0.join("\n");
    for key in [
        "console.allowed_destinations[0]",
        "console.allowed_destinations[1]",
        "console.issuer_url",
        "console.federation_endpoints.aws: set aws.federation_endpoint",
        "unknown partition \"aws-iso\"",
        "console.federation_endpoints.aws-cn",
    ] {
        assert!(all.contains(key), "{key} missing from:\n{all}");
    }
}
