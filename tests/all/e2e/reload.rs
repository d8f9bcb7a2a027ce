//! End to end: the real `fedbroker` binary reloads its mapping rules on SIGHUP. The rule
//! in its config file is edited and the process sent SIGHUP: `POST /v1/explain` then grants the new
//! role. A broken file and another SIGHUP leave the new rules in force and the process alive, with
//! one error line listing the problems (and no secret from the file), and `/metrics` counts both.
//! STS (moto, via `scripts/services.sh`) is configured but never called: explaining makes no call.
//! The binary also runs the IdP metadata refresher: certificate expiry is on `/metrics` from start.

use crate::support::broker;
use crate::support::saml_idp;

use broker::{Broker, BrokerOptions};
use chrono::Utc;
use saml_idp::SamlResponseBuilder;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const ROLE_A: &str = "arn:aws:iam::111122223333:role/ReloadA";
const ROLE_B: &str = "arn:aws:iam::111122223333:role/ReloadB";
/// A secret-looking value in the broken file: it must never reach the log.
const SECRET: &str = "hunter2-reload-secret-value";

fn rules(role: &str) -> String {
    format!(
        r#"
[[rules]]
name = "readers"
[rules.match]
provider = "test-idp"
subject = {{ glob = "*@example.com" }}
[[rules.grants]]
role_arn = "{role}"
mode = "assume-role"
"#
    )
}

/// The role `POST /v1/explain` grants to a fresh response from the test IdP.
async fn granted(broker: &Broker) -> String {
    let mut b = SamlResponseBuilder::new(Utc::now());
    b.assertion_id = format!("_a{}", uuid::Uuid::new_v4().simple());
    let resp = reqwest::Client::new()
        .post(broker.url("/v1/explain"))
        .json(&json!({ "saml_response": b.build_base64() }))
        .send()
        .await
        .expect("explain");
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.expect("JSON");
    assert_eq!(status, 200, "{body}\n{}", broker.logs());
    body["role_arn"]
        .as_str()
        .unwrap_or_else(|| panic!("no role granted: {body}"))
        .to_owned()
}

async fn metrics(broker: &Broker) -> String {
    reqwest::get(broker.url("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

/// Wait until the log has `n` lines containing `needle` (the reload runs after the signal).
async fn wait_for_log(broker: &Broker, needle: &str, n: usize) {
    let start = Instant::now();
    while broker.logs().matches(needle).count() < n {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "no {needle:?} in the log after SIGHUP:\n{}",
            broker.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn sighup_reloads_the_rules_and_a_broken_file_keeps_them() {
    let mut broker = Broker::start(BrokerOptions {
        redis: false,
        extra_toml: rules(ROLE_A),
    });
    assert_eq!(granted(&broker).await, ROLE_A);

    // Edit the rule and send SIGHUP: the next request gets the new role.
    let text = std::fs::read_to_string(&broker.config_path).expect("config");
    std::fs::write(&broker.config_path, text.replace(ROLE_A, ROLE_B)).expect("edit config");
    broker.signal("HUP");
    wait_for_log(&broker, "\"config.reloaded\"", 1).await;
    assert_eq!(granted(&broker).await, ROLE_B);
    let logs = broker.logs();
    let line = logs
        .lines()
        .find(|l| l.contains("\"config.reloaded\""))
        .expect("reload line");
    assert!(
        line.contains("\"rules\":1") && line.contains("\"saml_idps\":1"),
        "{line}"
    );

    // A broken file (two problems, and a secret in a valid key): refused, the process stays up
    // and keeps the rules it had.
    let broken = text.replace(ROLE_A, "arn:aws:iam::1:role/Broken")
        + &format!(
            "\n[cache]\nredis_url = \"redis://:{SECRET}@127.0.0.1:1\"\n[limits]\nbogus = 1\n"
        );
    std::fs::write(&broker.config_path, broken).expect("break config");
    broker.signal("HUP");
    wait_for_log(&broker, "\"config.reload_failed\"", 1).await;
    assert!(
        broker.is_running(),
        "SIGHUP with a broken file killed the broker"
    );
    assert_eq!(granted(&broker).await, ROLE_B);
    let logs = broker.logs();
    let failed: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("\"config.reload_failed\""))
        .collect();
    assert_eq!(failed.len(), 1, "one error line: {failed:?}");
    assert!(
        failed[0].contains("role_arn") && failed[0].contains("bogus"),
        "every problem in the line: {}",
        failed[0]
    );
    assert!(
        !logs.contains(SECRET),
        "a secret from the file reached the log"
    );

    let m = metrics(&broker).await;
    assert!(
        m.contains("fedbroker_config_reloads_total{outcome=\"success\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("fedbroker_config_reloads_total{outcome=\"failure\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("fedbroker_config_last_reload_successful 0"),
        "{m}"
    );

    // Still a clean, graceful stop.
    assert!(broker.terminate().success());
}

/// `fedbroker serve` runs the metadata refresher: the pinned certificates' expiry is on `/metrics`
/// from the start (one series per certificate of the test IdP, labelled with its SHA-256).
#[tokio::test]
async fn serve_exports_the_idp_certificate_expiry() {
    let broker = Broker::start(BrokerOptions {
        redis: false,
        extra_toml: rules(ROLE_A),
    });
    let m = metrics(&broker).await;
    let series: Vec<&str> = m
        .lines()
        .filter(|l| {
            l.starts_with(
                "fedbroker_saml_idp_certificate_expiry_timestamp_seconds{idp=\"test-idp\",fingerprint=\"",
            )
        })
        .collect();
    assert_eq!(series.len(), 2, "RSA and EC certificates: {m}");
    for line in series {
        let value: i64 = line
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .expect("a timestamp");
        assert!(value > Utc::now().timestamp(), "{line}");
    }
}
