//! End to end, web identity: the real `fedbroker` binary trusts the test OIDC IdP (npm
//! `oidc-provider` over HTTPS with a test CA, `scripts/oidc-idp.sh`), a workload token from it
//! (client_credentials, JWT access token) is exchanged at moto for credentials.

use crate::support::broker;
use crate::support::oidc_idp;

use broker::{Broker, BrokerOptions};
use oidc_idp::{env, idp, workload_token};
use serde_json::Value;

const ROLE: &str = "arn:aws:iam::111122223333:role/CiDeploy";

pub fn oidc_toml() -> String {
    format!(
        r#"
[[oidc.providers]]
name = "testidp"
issuer = "{}"
audiences = ["sts.amazonaws.com"]
ca_file = "{}"
"#,
        env("FEDBROKER_TEST_OIDC_ISSUER"),
        env("FEDBROKER_TEST_OIDC_CA")
    )
}

fn broker() -> Broker {
    Broker::start(BrokerOptions {
        extra_toml: oidc_toml(),
        ..Default::default()
    })
}

async fn exchange(broker: &Broker, body: Value, bearer: Option<&str>) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(broker.url("/v1/web-identity/credentials"))
        .json(&body);
    if let Some(t) = bearer {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("JSON"))
}

#[tokio::test]
async fn workload_token_from_a_real_idp_is_exchanged_for_credentials_through_moto() {
    let broker = broker();
    let (_, token) = workload_token(&idp()).await;
    let (status, body) = exchange(
        &broker,
        serde_json::json!({"token": token, "role_arn": ROLE, "duration_seconds": 900}),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}\n{}", broker.logs());
    assert_eq!(body["Version"], 1);
    assert!(body["AccessKeyId"].as_str().unwrap().starts_with("ASIA"));
    let session = body["SessionName"].as_str().unwrap();
    assert_eq!(body["Subject"], env("FEDBROKER_TEST_OIDC_CLIENT_ID"));
    assert!(
        body["AssumedRoleArn"]
            .as_str()
            .unwrap()
            .ends_with(&format!("assumed-role/CiDeploy/{session}")),
        "{body}"
    );
    let exp = chrono::DateTime::parse_from_rfc3339(body["Expiration"].as_str().unwrap()).unwrap();
    let secs = (exp.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_seconds();
    assert!(
        (850..=905).contains(&secs),
        "900 s session honoured by moto, got {secs}"
    );

    let logs = broker.logs();
    assert!(!logs.contains(&token[..40]), "token leaked into logs");
    assert!(!logs.contains(body["SessionToken"].as_str().unwrap()));
}

#[tokio::test]
async fn bearer_header_works_and_replay_is_refused() {
    let broker = broker();
    let (_, token) = workload_token(&idp()).await;
    let body = serde_json::json!({"role_arn": ROLE});
    let (first, b) = exchange(&broker, body.clone(), Some(&token)).await;
    assert_eq!(first, 200, "{b}");
    let (second, b) = exchange(&broker, body, Some(&token)).await;
    assert_eq!(second, 401, "{b}");
    assert_eq!(b["error"]["code"], "oidc_replay");
}

#[tokio::test]
async fn tampered_token_and_wrong_issuer_never_get_credentials() {
    let broker = broker();
    let (_, token) = workload_token(&idp()).await;
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    // Flip a character inside the signature (the last one may only carry padding bits, and a
    // non-canonical encoding is refused earlier, as malformed).
    let mid = parts[2].len() / 2;
    let flipped = if &parts[2][mid..=mid] == "A" {
        "B"
    } else {
        "A"
    };
    parts[2].replace_range(mid..=mid, flipped);
    let (status, b) = exchange(
        &broker,
        serde_json::json!({"token": parts.join("."), "role_arn": ROLE}),
        None,
    )
    .await;
    assert_eq!(status, 401, "{b}");
    assert_eq!(b["error"]["code"], "oidc_signature_invalid");

    let (status, b) = exchange(
        &broker,
        serde_json::json!({"token": "a.b.c", "role_arn": ROLE}),
        None,
    )
    .await;
    assert_eq!(status, 400, "{b}");
    assert_eq!(b["error"]["code"], "oidc_malformed");

    let (status, b) = exchange(&broker, serde_json::json!({"token": token}), None).await;
    assert_eq!(status, 400, "{b}");
    assert_eq!(b["error"]["code"], "role_arn_required");
}
