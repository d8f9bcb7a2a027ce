//! Issuer mode's last step: a token the broker minted goes to AssumeRoleWithWebIdentity through
//! the production `SdkStsClient`, against moto (`FEDBROKER_TEST_STS_ENDPOINT`, started by
//! `scripts/services.sh start`; `scripts/test.sh` does this).
//!
//! Moto never looks at `WebIdentityToken` (see `sts_moto.rs`), so this proves the plumbing (a
//! minted `SecretString` token, the request and the credentials answer), not AWS's verification;
//! that the token is verifiable from the published JWKS is `issuer_mode.rs`'s job.

use crate::support::recording_sts::moto_endpoint as endpoint;
use fedbroker::aws::{RoleArn, RoleSessionName, SessionTags, SourceIdentity, TagKey, TagValue};
use fedbroker::clock::SystemClock;
use fedbroker::config::{IssuerConfig, IssuerKeyConfig};
use fedbroker::issuer::{Issuer, MintRequest};
use fedbroker::sts::{AssumeRoleWithWebIdentityRequest, SdkStsClient, StsClient};
use secrecy::ExposeSecret;
use std::sync::Arc;

const ROLE: &str = "arn:aws:iam::123456789012:role/fedbroker-test/IssuerMode";

fn issuer() -> Issuer {
    let file = |f: &str| format!("{}/certs/{f}", env!("CARGO_MANIFEST_DIR"));
    let cfg = IssuerConfig {
        enabled: true,
        issuer_url: Some("https://broker.example.com".into()),
        keys: vec![IssuerKeyConfig {
            kid: "demo-rsa-1".into(),
            file: file("issuer-rsa-1.key"),
            alg: "RS256".into(),
            active: true,
        }],
        ..IssuerConfig::default()
    };
    Issuer::from_config(&cfg, "", Arc::new(SystemClock)).unwrap()
}

#[tokio::test]
async fn minted_token_is_exchanged_for_credentials_at_sts() {
    let tags = SessionTags::new(
        vec![(
            TagKey::parse("Project").unwrap(),
            TagValue::parse("Automation").unwrap(),
        )],
        vec![TagKey::parse("Project").unwrap()],
    )
    .unwrap();
    let si = SourceIdentity::parse("alice").unwrap();
    let minted = issuer()
        .mint(MintRequest {
            subject: "alice@example.com",
            session_tags: &tags,
            source_identity: Some(&si),
            audience: None,
        })
        .unwrap();

    let creds = SdkStsClient::new("us-east-1", Some(&endpoint()))
        .assume_role_with_web_identity(AssumeRoleWithWebIdentityRequest {
            role_arn: RoleArn::parse(ROLE).unwrap(),
            role_session_name: RoleSessionName::parse("alice-issuer").unwrap(),
            web_identity_token: minted.token.clone(),
            duration: None,
        })
        .await
        .expect("moto returns credentials for the minted token");
    assert!(!creds.access_key_id.is_empty());
    assert!(!creds.secret_access_key.expose_secret().is_empty());
    assert!(!creds.session_token.expose_secret().is_empty());
    assert!(creds.expiration > chrono::Utc::now());
    assert_eq!(
        creds.assumed_role_arn,
        "arn:aws:sts::123456789012:assumed-role/IssuerMode/alice-issuer"
    );
}
