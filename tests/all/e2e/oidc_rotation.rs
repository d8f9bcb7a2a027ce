//! Key rotation at the IdP is picked up without restarting the broker: the test IdP is restarted
//! on the same issuer with a JWKS holding only a new key; the broker, which cached the old JWKS,
//! refetches on the unknown `kid` and accepts the new token. It restarts the shared test IdP, so it
//! holds it alone (`oidc_idp::SHARED_IDP`): no other test talks to the IdP meanwhile.

use crate::support::broker;
use crate::support::oidc_idp;

use broker::{Broker, BrokerOptions};
use oidc_idp::{b64_json, env, idp, workload_token};
use std::process::Command;

const ROLE: &str = "arn:aws:iam::111122223333:role/CiDeploy";

fn restart_idp(jwks: &str) {
    let status = Command::new("bash")
        .arg(broker::repo_path("scripts/oidc-idp.sh"))
        .arg("restart")
        .env("TESTIDP_JWKS", broker::repo_path(jwks))
        .current_dir(broker::repo_path(""))
        .status()
        .expect("run scripts/oidc-idp.sh");
    assert!(status.success(), "IdP restart failed");
}

async fn exchange(broker: &Broker, token: &str) -> (u16, serde_json::Value) {
    let resp = reqwest::Client::new()
        .post(broker.url("/v1/web-identity/credentials"))
        .json(&serde_json::json!({"token": token, "role_arn": ROLE}))
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

#[tokio::test]
async fn idp_key_rotation_is_picked_up_without_restarting_the_broker() {
    let _alone = oidc_idp::SHARED_IDP.write().await;
    let broker = Broker::start(BrokerOptions {
        extra_toml: format!(
            "\n[[oidc.providers]]\nname = \"testidp\"\nissuer = \"{}\"\naudiences = [\"sts.amazonaws.com\"]\nca_file = \"{}\"\n",
            env("FEDBROKER_TEST_OIDC_ISSUER"),
            env("FEDBROKER_TEST_OIDC_CA")
        ),
        ..Default::default()
    });
    let (_, before) = workload_token(&idp()).await;
    let (status, body) = exchange(&broker, &before).await;
    assert_eq!(status, 200, "{body}");

    restart_idp("testidp/keys/rotated.json");
    let result = async {
        let (_, after) = workload_token(&idp()).await;
        let kid_before = b64_json(before.split('.').next().unwrap())["kid"].clone();
        let kid_after = b64_json(after.split('.').next().unwrap())["kid"].clone();
        assert_ne!(kid_before, kid_after, "the IdP now signs with another key");
        // The broker refetches an unknown kid at most once per cooldown (30 s), so the new key may
        // be refused at first (`oidc_key_not_found`, which does not consume the token).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(45);
        loop {
            let (status, body) = exchange(&broker, &after).await;
            if status == 200 || std::time::Instant::now() > deadline {
                return (status, body);
            }
            assert_eq!(body["error"]["code"], "oidc_key_not_found", "{body}");
            // Polled often enough that the test ends soon after the cooldown (it holds the IdP
            // alone meanwhile); far below the per-client rate limit.
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    }
    .await;
    restart_idp("testidp/keys/default.json");
    let (status, body) = result;
    assert_eq!(
        status,
        200,
        "rotated key not picked up: {body}\n{}",
        broker.logs()
    );
}
