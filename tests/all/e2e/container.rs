//! The AWS SDK's own container-credentials provider against fedbroker: boto3 (from the test venv)
//! with `AWS_CONTAINER_CREDENTIALS_FULL_URI` pointing at `/v1/container-credentials` and
//! `AWS_CONTAINER_AUTHORIZATION_TOKEN` holding a workload JWT from the real test OIDC IdP gets
//! credentials for the role, and uses them against moto (`GetCallerIdentity`).

use crate::support::broker;
use crate::support::oidc_idp;

use broker::{repo_path, required_env, Broker, BrokerOptions};
use oidc_idp::{env, idp, workload_token};
use std::process::Command;

const ROLE: &str = "arn:aws:iam::111122223333:role/CiDeploy";

fn broker() -> Broker {
    Broker::start(BrokerOptions {
        extra_toml: format!(
            "\n[[oidc.providers]]\nname = \"testidp\"\nissuer = \"{}\"\naudiences = [\"sts.amazonaws.com\"]\nca_file = \"{}\"\n",
            env("FEDBROKER_TEST_OIDC_ISSUER"),
            env("FEDBROKER_TEST_OIDC_CA")
        ),
        ..Default::default()
    })
}

fn python() -> String {
    let venv = std::env::var("FEDBROKER_VENV")
        .unwrap_or_else(|_| repo_path(".venv").display().to_string());
    format!("{venv}/bin/python")
}

const BOTO3_SCRIPT: &str = r#"
import json, os, boto3
session = boto3.session.Session(region_name="us-east-1")
creds = session.get_credentials()
method = creds.method
frozen = creds.get_frozen_credentials()
sts = session.client("sts", endpoint_url=os.environ["STS_ENDPOINT"])
arn = sts.get_caller_identity()["Arn"]
print(json.dumps({"method": method, "access_key": frozen.access_key, "arn": arn}))
"#;

#[tokio::test]
async fn boto3_gets_working_credentials_from_the_container_endpoint() {
    let broker = broker();
    let (_, token) = workload_token(&idp()).await;
    let out = Command::new(python())
        .arg("-c")
        .arg(BOTO3_SCRIPT)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env(
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            broker.url(&format!("/v1/container-credentials?role_arn={ROLE}")),
        )
        .env("AWS_CONTAINER_AUTHORIZATION_TOKEN", &token)
        .env("STS_ENDPOINT", required_env("FEDBROKER_TEST_STS_ENDPOINT"))
        .output()
        .expect("run python with boto3 (the test venv: scripts/setup.sh)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "boto3 failed:\n{}\n{}\nbroker log:\n{}",
        stdout,
        String::from_utf8_lossy(&out.stderr),
        broker.logs()
    );
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).expect("JSON from the script");
    assert_eq!(v["method"], "container-role", "{v}");
    assert!(v["access_key"].as_str().unwrap().starts_with("ASIA"), "{v}");
    assert!(
        v["arn"]
            .as_str()
            .unwrap()
            .contains("assumed-role/CiDeploy/"),
        "moto knows the credentials as the assumed role: {v}"
    );
}

#[tokio::test]
async fn the_same_token_may_be_presented_again_and_a_missing_token_is_refused() {
    let broker = broker();
    let (_, token) = workload_token(&idp()).await;
    let url = broker.url(&format!("/v1/container-credentials?role_arn={ROLE}"));
    let client = reqwest::Client::new();
    for _ in 0..2 {
        let resp = client
            .get(&url)
            .header("authorization", &token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["cache-control"], "no-store");
        let body: serde_json::Value = resp.json().await.unwrap();
        for key in [
            "AccessKeyId",
            "SecretAccessKey",
            "Token",
            "Expiration",
            "RoleArn",
        ] {
            assert!(body.get(key).is_some(), "{key} missing");
        }
        assert_eq!(body["RoleArn"], ROLE);
    }
    let resp = client.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "missing_token");
    let resp = client
        .get(&url)
        .header("authorization", "not-a-jwt")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}
