//! The credential cache end to end: real `fedbroker` processes, a real Redis, moto for STS and the
//! real test OIDC IdP (`oidc-provider`) for workload tokens, exercised through
//! `GET /v1/container-credentials` (reusable tokens: no replay store involved, so these requests are
//! the ones that must survive a Redis outage).
//!
//! - 100 concurrent cold requests spread over two replicas sharing Redis make exactly one STS call
//!   (counted at the STS client, `fedbroker_sts_calls_total` of both replicas), and Redis then holds
//!   nothing readable: neither the secret key, nor the session token, nor the subject;
//! - killing Redis mid-load fails no request; restarting it is picked up without restarting the
//!   broker (new entries reach Redis again, `/readyz` is ready again);
//! - a revocation made through one replica refuses the other replica's very next cache hit (no
//!   replica keeps a copy of Redis that would delay it).

use crate::support::broker;
use crate::support::fixtures::admin_token;
use crate::support::oidc_idp;

use broker::{spare_port, Broker, BrokerOptions};
use oidc_idp::{env, idp, workload_token};
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A test-only cache key (32 zero-ish bytes, base64): never a production secret.
const CACHE_KEY: &str = "test1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// A test-only admin token (`/v1/admin/revoke`).
const ADMIN_TOKEN: &str = admin_token!();

fn broker_with(redis_url: &str, prefix: &str) -> Broker {
    let opts = BrokerOptions {
        redis: false,
        extra_toml: format!(
            "\n[limits]\nper_client_per_minute = 0\nper_subject_per_minute = 0\n\
             \n[cache]\nredis_url = \"{redis_url}\"\nkey_prefix = \"{prefix}\"\nencryption_keys = [\"{CACHE_KEY}\"]\n\
             \n[[oidc.providers]]\nname = \"testidp\"\nissuer = \"{}\"\naudiences = [\"sts.amazonaws.com\"]\nca_file = \"{}\"\n",
            env("FEDBROKER_TEST_OIDC_ISSUER"),
            env("FEDBROKER_TEST_OIDC_CA")
        ),
    };
    Broker::start_on(
        opts,
        spare_port(),
        &[("FEDBROKER_SERVER__ADMIN_TOKEN", ADMIN_TOKEN)],
    )
}

fn unique_role(tag: &str) -> String {
    format!(
        "arn:aws:iam::111122223333:role/{tag}-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

async fn get_credentials(
    client: &reqwest::Client,
    broker: &Broker,
    role: &str,
    token: &str,
) -> (u16, Value) {
    let resp = client
        .get(broker.url(&format!("/v1/container-credentials?role_arn={role}")))
        .header("authorization", token)
        .send()
        .await
        .expect("the broker answers");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// `fedbroker_sts_calls_total` summed over every API and outcome.
async fn sts_calls(client: &reqwest::Client, broker: &Broker) -> u64 {
    let text = client
        .get(broker.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with("fedbroker_sts_calls_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

async fn redis_dump(url: &str, prefix: &str) -> Vec<(String, Vec<u8>)> {
    let client = redis::Client::open(url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut out = Vec::new();
    for k in keys {
        let kind: String = redis::cmd("TYPE")
            .arg(&k)
            .query_async(&mut conn)
            .await
            .unwrap();
        let value: Vec<u8> = match kind.as_str() {
            "string" => redis::cmd("GET")
                .arg(&k)
                .query_async(&mut conn)
                .await
                .unwrap(),
            "set" => {
                let members: Vec<Vec<u8>> = redis::cmd("SMEMBERS")
                    .arg(&k)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                members.concat()
            }
            _ => Vec::new(),
        };
        out.push((k, value));
    }
    out
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    !needle.is_empty()
        && haystack
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundred_concurrent_cold_requests_on_two_replicas_make_one_sts_call_and_leave_nothing_readable_in_redis(
) {
    let redis_url = broker::required_env("FEDBROKER_TEST_REDIS_URL");
    let prefix = format!("fedbroker-e2e-cache-{}:", uuid::Uuid::new_v4().simple());
    let role = unique_role("Cold");
    let replicas = [
        broker_with(&redis_url, &prefix),
        broker_with(&redis_url, &prefix),
    ];
    let (_, token) = workload_token(&idp()).await;
    let client = reqwest::Client::new();
    let before: u64 =
        sts_calls(&client, &replicas[0]).await + sts_calls(&client, &replicas[1]).await;

    let replicas = Arc::new(replicas);
    let tasks: Vec<_> = (0..100)
        .map(|i| {
            let (client, replicas, role, token) = (
                client.clone(),
                replicas.clone(),
                role.clone(),
                token.clone(),
            );
            tokio::spawn(
                async move { get_credentials(&client, &replicas[i % 2], &role, &token).await },
            )
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, 200, "{body}");
        answers.push(body);
    }
    let ids: std::collections::HashSet<&str> = answers
        .iter()
        .map(|b| b["AccessKeyId"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 1, "every caller got the same session");
    let after = sts_calls(&client, &replicas[0]).await + sts_calls(&client, &replicas[1]).await;
    assert_eq!(
        after - before,
        1,
        "100 cold requests on 2 replicas → 1 STS call"
    );

    // Nothing readable in Redis: scan every key under the prefix.
    let dump = redis_dump(&redis_url, &prefix).await;
    assert!(
        dump.iter()
            .any(|(k, _)| k.starts_with(&format!("{prefix}cred:"))),
        "the entry is in Redis: {:?}",
        dump.iter().map(|(k, _)| k).collect::<Vec<_>>()
    );
    let secret = answers[0]["SecretAccessKey"].as_str().unwrap();
    let session_token = answers[0]["Token"].as_str().unwrap();
    let subject = token_subject(&token);
    for (k, v) in &dump {
        for (what, needle) in [
            ("secret access key", secret),
            ("session token", session_token),
            ("subject", subject.as_str()),
            ("role", role.as_str()),
        ] {
            assert!(!contains(v, needle), "{what} readable in the value of {k}");
            assert!(!k.contains(needle), "{what} in the key name {k}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revocation_through_one_replica_refuses_the_next_cache_hit_on_the_other() {
    let redis_url = broker::required_env("FEDBROKER_TEST_REDIS_URL");
    let prefix = format!("fedbroker-e2e-revoke-{}:", uuid::Uuid::new_v4().simple());
    let role = unique_role("Revoked");
    let (a, b) = (
        broker_with(&redis_url, &prefix),
        broker_with(&redis_url, &prefix),
    );
    let (_, token) = workload_token(&idp()).await;
    let client = reqwest::Client::new();
    for replica in [&a, &b, &a] {
        let (status, body) = get_credentials(&client, replica, &role, &token).await;
        assert_eq!(status, 200, "{body}");
    }
    let calls = sts_calls(&client, &a).await + sts_calls(&client, &b).await;
    assert_eq!(calls, 1, "warm: one STS call, then cache hits on both");

    let resp = client
        .post(b.url("/v1/admin/revoke"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({ "role_arn": role }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    for replica in [&a, &b] {
        let (status, body) = get_credentials(&client, replica, &role, &token).await;
        assert_eq!(status, 403, "{body}");
        assert_eq!(body["error"]["code"], "access_revoked", "{body}");
    }
    let after = sts_calls(&client, &a).await + sts_calls(&client, &b).await;
    assert_eq!(after, calls, "refused before STS");
    // Another role of the same workload is unaffected.
    let other = unique_role("Kept");
    let (status, body) = get_credentials(&client, &a, &other, &token).await;
    assert_eq!(status, 200, "{body}");
}

/// The workload token's `sub` (the test decodes its own token).
fn token_subject(token: &str) -> String {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("a JWS");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    let claims: Value = serde_json::from_slice(&bytes).unwrap();
    claims["sub"].as_str().unwrap().to_owned()
}

/// A Redis server owned by the test, on a spare loopback port, without persistence.
struct OwnRedis {
    port: u16,
    child: Option<Child>,
}

impl OwnRedis {
    fn start(port: u16) -> Self {
        let mut r = Self { port, child: None };
        r.restart();
        r
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (scripts/setup.sh installs it)");
        self.child = Some(child);
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    async fn dbsize(&self) -> Option<i64> {
        let client = redis::Client::open(self.url()).ok()?;
        let mut conn = client.get_multiplexed_async_connection().await.ok()?;
        redis::cmd("DBSIZE").query_async(&mut conn).await.ok()
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_redis_mid_load_fails_no_request_and_its_restart_is_picked_up() {
    let mut redis = OwnRedis::start(spare_port());
    let role = unique_role("Outage");
    let broker = broker_with(&redis.url(), "fedbroker-outage:");
    let (_, token) = workload_token(&idp()).await;
    let client = reqwest::Client::new();
    let (status, body) = get_credentials(&client, &broker, &role, &token).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        redis.dbsize().await.unwrap() > 0,
        "warm: the entry is in Redis"
    );

    // Load: 8 workers asking for credentials (and a new role now and then, so some requests need
    // STS and a store) until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let (client, url, token, role) = (
                client.clone(),
                broker.base_url.clone(),
                token.clone(),
                role.clone(),
            );
            let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
            tokio::spawn(async move {
                let mut n = 0;
                let mut failures = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    let role = if n % 10 == 0 {
                        format!("{role}-{w}-{n}")
                    } else {
                        role.clone()
                    };
                    let resp = client
                        .get(format!("{url}/v1/container-credentials?role_arn={role}"))
                        .header("authorization", &token)
                        .send()
                        .await;
                    match resp {
                        Ok(r) if r.status() == 200 => {
                            ok.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(r) => {
                            failed.fetch_add(1, Ordering::SeqCst);
                            failures.push(format!(
                                "{} {}",
                                r.status(),
                                r.text().await.unwrap_or_default()
                            ));
                        }
                        Err(e) => {
                            failed.fetch_add(1, Ordering::SeqCst);
                            failures.push(e.to_string());
                        }
                    }
                }
                failures
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(800)).await;
    let before_kill = ok.load(Ordering::SeqCst);
    redis.kill();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let during_outage = ok.load(Ordering::SeqCst) - before_kill;
    // Readiness says so while Redis is gone (the replay store is Redis here).
    let ready = client.get(broker.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["status"], "degraded", "{ready}");
    assert_eq!(ready["checks"]["replay_store"], "unavailable", "{ready}");
    let tolerant = client
        .get(broker.url("/readyz?allow_degraded=true"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        tolerant.status(),
        200,
        "the tolerant probe keeps the replica in service"
    );
    redis.restart();
    tokio::time::sleep(Duration::from_millis(3_000)).await;
    stop.store(true, Ordering::SeqCst);
    let mut failures = Vec::new();
    for w in workers {
        failures.extend(w.await.unwrap());
    }
    assert!(
        failures.is_empty(),
        "{} of {} requests failed: {:?}\nbroker log tail:\n{}",
        failed.load(Ordering::SeqCst),
        ok.load(Ordering::SeqCst) + failed.load(Ordering::SeqCst),
        &failures[..failures.len().min(5)],
        tail(&broker.logs())
    );
    assert!(
        during_outage > 0,
        "requests were served while Redis was down"
    );
    eprintln!(
        "load: {} requests ok, {during_outage} of them while Redis was down",
        ok.load(Ordering::SeqCst)
    );

    // The restart is picked up: ready again, and new entries reach the new (empty) Redis.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let fresh = unique_role("AfterRestart");
        let (status, body) = get_credentials(&client, &broker, &fresh, &token).await;
        assert_eq!(status, 200, "{body}");
        let ready = client
            .get(broker.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status();
        if ready == 200 && redis.dbsize().await.unwrap_or(0) > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the broker did not reconnect to the restarted Redis\n{}",
            tail(&broker.logs())
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
