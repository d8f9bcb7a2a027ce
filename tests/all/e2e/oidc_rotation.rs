//! Key rotation at the IdP is picked up without restarting the broker: the test IdP is restarted
//! on the same issuer with a JWKS holding only a new key; the broker, which cached the old JWKS,
//! refetches on the unknown `kid` and accepts the new token — not before the provider's refetch
//! cooldown has passed since its last fetch, and as soon as it has. The broker is configured with a
//! short cooldown ([`COOLDOWN`], `jwks_refetch_cooldown_secs`; production default 30 s) and the
//! test measures against it. It restarts an IdP of its own (`testidp/server.mjs` on a spare port,
//! then again on the same port with the other keys), so no other test sees the rotation.

use super::browser::start_own_oidc_idp_with;
use crate::support::broker;
use crate::support::oidc_idp;

use broker::{Broker, BrokerOptions};
use oidc_idp::{b64_json, workload_token, Idp};
use std::time::{Duration, Instant};

const ROLE: &str = "arn:aws:iam::111122223333:role/CiDeploy";

/// The refetch cooldown the broker is given: longer than the IdP restart takes (about 1 s), so the
/// new key is refused at first, and far shorter than the production default to keep the test short.
const COOLDOWN: Duration = Duration::from_secs(8);
/// How often the test asks again while the new key is refused (far below the per-client rate
/// limit).
const POLL: Duration = Duration::from_millis(250);
/// Slack for the last poll's round trip (a debug broker on a loaded machine).
const SLACK: Duration = Duration::from_secs(10);

/// The redirect URI the IdP's web client is given (unused: this test has no browser).
const NO_BROWSER: &str = "http://127.0.0.1:9";

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
    let dir = tempfile::tempdir().unwrap();
    let (idp_proc, vars) =
        start_own_oidc_idp_with(dir.path(), NO_BROWSER, &[("TESTIDP_PORT", "0".into())]);
    let idp = Idp::from_vars(&vars);
    let port = url::Url::parse(&idp.issuer)
        .unwrap()
        .port()
        .expect("the IdP's issuer names its port");
    let broker = Broker::start(BrokerOptions {
        extra_toml: format!(
            "\n[[oidc.providers]]\nname = \"testidp\"\nissuer = \"{}\"\naudiences = [\"sts.amazonaws.com\"]\nca_file = \"{}\"\njwks_refetch_cooldown_secs = {}\n",
            idp.issuer,
            vars["FEDBROKER_TEST_OIDC_CA"],
            COOLDOWN.as_secs()
        ),
        ..Default::default()
    });
    let (_, before) = workload_token(&idp).await;
    // The broker fetches the JWKS on its first token, during this exchange: the last fetch
    // before the rotation happened between these two instants.
    let first_sent = Instant::now();
    let (status, body) = exchange(&broker, &before).await;
    let first_done = Instant::now();
    assert_eq!(status, 200, "{body}");

    // The same issuer (same port) with only the new key.
    drop(idp_proc);
    let (_idp_proc, vars) = start_own_oidc_idp_with(
        dir.path(),
        NO_BROWSER,
        &[
            ("TESTIDP_PORT", port.to_string()),
            (
                "TESTIDP_JWKS",
                broker::repo_path("testidp/keys/rotated.json")
                    .display()
                    .to_string(),
            ),
        ],
    );
    // A new client: the old one's pooled connection went with the stopped IdP.
    let idp = Idp::from_vars(&vars);
    let result = async {
        let (_, after) = workload_token(&idp).await;
        let kid_before = b64_json(before.split('.').next().unwrap())["kid"].clone();
        let kid_after = b64_json(after.split('.').next().unwrap())["kid"].clone();
        assert_ne!(kid_before, kid_after, "the IdP now signs with another key");
        // The broker refetches an unknown kid at most once per cooldown, so the new key is
        // refused at first (`oidc_key_not_found`, which does not consume the token).
        let deadline = first_done + COOLDOWN + SLACK;
        loop {
            let (status, body) = exchange(&broker, &after).await;
            let done = Instant::now();
            if status == 200 || body["error"]["code"] != "oidc_key_not_found" || done > deadline {
                return (status, body, done);
            }
            // Polled often, so the test ends soon after the cooldown.
            tokio::time::sleep(POLL).await;
        }
    }
    .await;
    let (status, body, done) = result;
    assert_eq!(
        status,
        200,
        "rotated key not picked up within {COOLDOWN:?} + {SLACK:?} of the first fetch: {body}\n{}",
        broker.logs()
    );
    // Accepted only after a refetch, which the cooldown allows no earlier than COOLDOWN after the
    // first fetch (itself after `first_sent`).
    assert!(
        done >= first_sent + COOLDOWN,
        "the new key was accepted {:?} after the first fetch: the refetch cooldown ({COOLDOWN:?}) \
         was not honoured",
        done - first_sent
    );
}
