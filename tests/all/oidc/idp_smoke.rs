//! The test OIDC IdP (`testidp/server.mjs`, started by `scripts/oidc-idp.sh start`) answers over
//! HTTPS with the test CA, and a workload's client_credentials token has the shape of a CI job
//! token: a three-part JWS whose `kid` is in the published JWKS, with iss/sub/aud/iat/exp/jti.
//! The token is also taken by STS (moto: it does not verify tokens) through `SdkStsClient`.

use fedbroker::aws::{RoleArn, RoleSessionName};
use fedbroker::sts::{AssumeRoleWithWebIdentityRequest, SdkStsClient, StsClient};
use secrecy::SecretString;

use crate::support::oidc_idp;
use oidc_idp::*;

#[tokio::test]
async fn discovery_and_workload_token_have_the_expected_shape() {
    let idp = idp();
    let (disco, token) = workload_token(&idp).await;
    assert_eq!(disco["issuer"], idp.issuer.as_str());
    assert!(
        idp.issuer.starts_with("https://127.0.0.1:"),
        "{}",
        idp.issuer
    );

    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3, "a JWS compact serialization");
    let header = b64_json(parts[0]);
    let claims = b64_json(parts[1]);
    assert!(!parts[2].is_empty());

    let alg = header["alg"].as_str().unwrap();
    assert!(["RS256", "ES256"].contains(&alg), "{header}");
    let kid = header["kid"].as_str().expect("kid in the header");

    assert_eq!(claims["iss"], idp.issuer.as_str());
    let audience =
        std::env::var("FEDBROKER_TEST_OIDC_AUDIENCE").unwrap_or("sts.amazonaws.com".into());
    assert_eq!(claims["aud"], audience.as_str());
    assert!(!claims["sub"].as_str().unwrap().is_empty());
    assert!(!claims["jti"].as_str().unwrap().is_empty());
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert!(exp > iat, "{claims}");
    let now = chrono::Utc::now().timestamp();
    assert!((iat - now).abs() < 300, "iat {iat} vs now {now}");

    // The signing key is published, and only its public half.
    let jwks = get_json(&idp.http, disco["jwks_uri"].as_str().unwrap()).await;
    let keys = jwks["keys"].as_array().unwrap();
    assert!(
        keys.iter().any(|k| k["kid"] == kid),
        "kid {kid} not in {jwks}"
    );
    for key in keys {
        for private in ["d", "p", "q", "dp", "dq", "qi"] {
            assert!(key.get(private).is_none(), "JWKS publishes {private}");
        }
    }
}

#[tokio::test]
async fn tls_needs_the_test_ca() {
    let issuer = env("FEDBROKER_TEST_OIDC_ISSUER");
    let err = reqwest::Client::new()
        .get(format!("{issuer}/.well-known/openid-configuration"))
        .send()
        .await
        .expect_err("the test CA is not a public root");
    assert!(err.is_connect() || err.is_request(), "{err:?}");
}

#[tokio::test]
async fn moto_accepts_a_test_idp_token_for_web_identity() {
    let (_, token) = workload_token(&idp()).await;
    let sts = SdkStsClient::new("us-east-1", Some(&env("FEDBROKER_TEST_STS_ENDPOINT")));
    let creds = sts
        .assume_role_with_web_identity(AssumeRoleWithWebIdentityRequest {
            role_arn: RoleArn::parse("arn:aws:iam::123456789012:role/ci-deploy").unwrap(),
            role_session_name: RoleSessionName::parse("ci-smoke").unwrap(),
            web_identity_token: SecretString::from(token),
            duration: None,
        })
        .await
        .expect("moto should return credentials");
    assert_eq!(
        creds.assumed_role_arn,
        "arn:aws:sts::123456789012:assumed-role/ci-deploy/ci-smoke"
    );
}
