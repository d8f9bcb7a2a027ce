//! The Redis connection layer (`fedbroker::redis_link`) against real servers on every topology:
//! standalone, TLS with client certificates, Redis Cluster and Sentinel (including finding the new
//! master after `SENTINEL FAILOVER` without a restart), plus `probe` (what `check-config --probe`
//! reports) for a wrong password, a wrong CA and a missing client certificate.
//!
//! Needs `scripts/services.sh start`, `scripts/redis-cluster.sh start` and
//! `scripts/redis-topologies.sh start`, with their `.fedbroker-run/*.env` files sourced; a missing
//! variable fails the test with the command to run.

use crate::support::topology::sentinel::{self, Group};
use fedbroker::cache::Keyring;
use fedbroker::config::CacheConfig;
use fedbroker::redis_link::{self, LinkSettings, RedisLink, Store, TlsFiles, Topology};
use fedbroker::replay::{RedisReplayGuard, ReplayGuard};
use fedbroker::sign_in::{BrowserKv, RedisKv};
use secrecy::SecretString;
use std::time::Duration;

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run scripts/services.sh start, scripts/redis-cluster.sh start and \
             scripts/redis-topologies.sh start, then source .fedbroker-run/services.env, \
             .fedbroker-run/redis-cluster.env and .fedbroker-run/redis-topologies.env"
        )
    })
}

fn prefix() -> String {
    format!("fedbroker-topo-{}:", uuid::Uuid::new_v4().simple())
}

fn keyring() -> Keyring {
    Keyring::from_specs(["t1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="]).unwrap()
}

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

fn mtls() -> TlsFiles {
    TlsFiles {
        ca_file: Some(env("FEDBROKER_TEST_REDIS_TLS_CA")),
        cert_file: Some(env("FEDBROKER_TEST_REDIS_TLS_CLIENT_CERT")),
        key_file: Some(env("FEDBROKER_TEST_REDIS_TLS_CLIENT_KEY")),
    }
}

fn tls_cache(tls: TlsFiles) -> CacheConfig {
    CacheConfig {
        redis_url: Some(secret(&env("FEDBROKER_TEST_REDIS_TLS_URL"))),
        tls_ca_file: tls.ca_file,
        tls_cert_file: tls.cert_file,
        tls_key_file: tls.key_file,
        ..Default::default()
    }
}

/// A link to Sentinel `group` (every group's master has the same name).
fn sentinel_settings(group: Group) -> LinkSettings {
    let urls = group.urls();
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    LinkSettings::sentinel(&urls, &env("FEDBROKER_TEST_SENTINEL_MASTER"))
}

fn cluster_settings() -> LinkSettings {
    let urls = env("FEDBROKER_TEST_REDIS_CLUSTER_URLS");
    let urls: Vec<&str> = urls.split(',').collect();
    LinkSettings::cluster(&urls)
}

/// SET, GET and DEL through `link`, and the replay store's single use.
async fn round_trip(link: &RedisLink) {
    let key = format!("{}rt", prefix());
    let b = Duration::from_secs(2);
    let _: () = link
        .write(
            Store::Cache,
            b,
            redis::cmd("SET").arg(&key).arg("v").arg("EX").arg(60),
        )
        .await
        .expect("SET");
    let got: Option<String> = link
        .query(Store::Cache, b, redis::cmd("GET").arg(&key))
        .await
        .expect("GET");
    assert_eq!(got.as_deref(), Some("v"));
    let n: i64 = link
        .query(Store::Cache, b, redis::cmd("DEL").arg(&key))
        .await
        .expect("DEL");
    assert_eq!(n, 1);
    let replay = RedisReplayGuard::new(link.clone(), &prefix());
    let until = chrono::Utc::now() + chrono::TimeDelta::minutes(5);
    assert!(replay.first_use("assertion-1", until).await.unwrap());
    assert!(
        !replay.first_use("assertion-1", until).await.unwrap(),
        "a replayed assertion is refused"
    );
}

/// Pending logins (a multi-key Lua script), single-use `take` and sessions through `link`.
async fn browser_store(link: &RedisLink) {
    let kv = RedisKv::new(link.clone(), &prefix(), keyring()).with_pending_limits(5, 2);
    let ttl = chrono::TimeDelta::minutes(5);
    kv.put("sess:a", b"session", chrono::TimeDelta::hours(1))
        .await
        .expect("session put");
    for i in 0..4 {
        kv.put_pending("192.0.2.1", &format!("saml:p{i}"), b"p", ttl)
            .await
            .expect("pending put (multi-key script)");
    }
    assert!(
        kv.get("saml:p0").await.unwrap().is_none(),
        "per-client bound evicts"
    );
    assert!(kv.take("saml:p3").await.unwrap().is_some());
    assert!(kv.take("saml:p3").await.unwrap().is_none(), "single use");
    assert_eq!(
        kv.get("sess:a")
            .await
            .unwrap()
            .as_deref()
            .map(Vec::as_slice),
        Some(&b"session"[..])
    );
}

#[tokio::test]
async fn standalone_link_serves_every_store() {
    let link = RedisLink::connect_url(&env("FEDBROKER_TEST_REDIS_URL"))
        .await
        .unwrap();
    assert_eq!(link.topology(), Topology::Standalone);
    assert_eq!(link.min_replicas(), 0, "no WAIT without Sentinel");
    round_trip(&link).await;
    browser_store(&link).await;
}

#[tokio::test]
async fn tls_with_client_certificate_serves_every_store() {
    let settings = LinkSettings::from_config(&tls_cache(mtls())).unwrap();
    let link = RedisLink::connect(&settings).await.expect("mutual TLS");
    round_trip(&link).await;
    browser_store(&link).await;
    assert!(redis_link::probe(&tls_cache(mtls())).await.is_empty());
}

#[tokio::test]
async fn tls_server_signed_by_an_unknown_ca_is_refused() {
    let mut tls = mtls();
    tls.ca_file = Some(env("FEDBROKER_TEST_REDIS_TLS_WRONG_CA"));
    let settings = LinkSettings::from_config(&tls_cache(tls.clone())).unwrap();
    assert!(RedisLink::connect(&settings).await.is_err());
    let problems = redis_link::probe(&tls_cache(tls)).await;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].contains("cache.tls_ca_file") && problems[0].contains("not trusted"),
        "{problems:?}"
    );
}

#[tokio::test]
async fn tls_server_is_not_trusted_through_public_roots_alone() {
    // No tls_ca_file: the test CA is in no public or system store.
    let tls = TlsFiles {
        ca_file: None,
        ..mtls()
    };
    let settings = LinkSettings::from_config(&tls_cache(tls)).unwrap();
    assert!(RedisLink::connect(&settings).await.is_err());
}

#[tokio::test]
async fn tls_without_a_client_certificate_is_refused_by_the_server() {
    let tls = TlsFiles {
        ca_file: Some(env("FEDBROKER_TEST_REDIS_TLS_CA")),
        cert_file: None,
        key_file: None,
    };
    let settings = LinkSettings::from_config(&tls_cache(tls.clone())).unwrap();
    assert!(RedisLink::connect(&settings).await.is_err());
    let problems = redis_link::probe(&tls_cache(tls)).await;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("cache.tls_cert_file"), "{problems:?}");
}

#[tokio::test]
async fn tls_client_certificate_from_another_ca_is_refused_by_the_server() {
    let tls = TlsFiles {
        ca_file: Some(env("FEDBROKER_TEST_REDIS_TLS_CA")),
        cert_file: Some(env("FEDBROKER_TEST_REDIS_TLS_STRANGER_CERT")),
        key_file: Some(env("FEDBROKER_TEST_REDIS_TLS_STRANGER_KEY")),
    };
    let settings = LinkSettings::from_config(&tls_cache(tls.clone())).unwrap();
    assert!(RedisLink::connect(&settings).await.is_err());
    assert!(!redis_link::probe(&tls_cache(tls)).await.is_empty());
}

#[tokio::test]
async fn plain_redis_url_to_a_tls_only_server_is_refused() {
    let url = env("FEDBROKER_TEST_REDIS_TLS_URL").replace("rediss://", "redis://");
    assert!(RedisLink::connect_url(&url).await.is_err());
}

#[tokio::test]
async fn probe_reports_a_wrong_password_without_echoing_it() {
    let url = env("FEDBROKER_TEST_REDIS_AUTH_URL");
    let right = CacheConfig {
        redis_url: Some(secret(&url)),
        ..Default::default()
    };
    assert_eq!(redis_link::probe(&right).await, Vec::<String>::new());
    let wrong_password = "wrong-password-7f3a";
    let at = url.find('@').unwrap();
    let wrong = CacheConfig {
        redis_url: Some(secret(&format!("redis://:{wrong_password}{}", &url[at..]))),
        ..Default::default()
    };
    let problems = redis_link::probe(&wrong).await;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("cache.redis_url"), "{problems:?}");
    assert!(problems[0].contains("AUTH"), "{problems:?}");
    assert!(!problems[0].contains(wrong_password), "password echoed");
    let without = CacheConfig {
        redis_url: Some(secret(&format!("redis://{}", &url[at + 1..]))),
        ..Default::default()
    };
    let problems = redis_link::probe(&without).await;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("requires a password"), "{problems:?}");
}

#[tokio::test]
async fn probe_of_an_unreachable_redis_names_the_key() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let cache = CacheConfig {
        redis_url: Some(secret(&format!("redis://:hunter2@127.0.0.1:{port}"))),
        ..Default::default()
    };
    let problems = redis_link::probe(&cache).await;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].starts_with("cache.redis_url"), "{problems:?}");
    assert!(!problems[0].contains("hunter2"));
}

#[tokio::test]
async fn cluster_urls_alone_serve_every_store() {
    let link = RedisLink::connect(&cluster_settings()).await.unwrap();
    assert_eq!(link.topology(), Topology::Cluster);
    assert!(!link.single_node());
    round_trip(&link).await;
    // The pending-login script touches four keys: one hash tag keeps them in one slot.
    browser_store(&link).await;
    let cache = CacheConfig {
        redis_cluster_urls: env("FEDBROKER_TEST_REDIS_CLUSTER_URLS")
            .split(',')
            .map(secret)
            .collect(),
        ..Default::default()
    };
    assert_eq!(redis_link::probe(&cache).await, Vec::<String>::new());
}

#[tokio::test]
async fn sentinel_link_serves_every_store_and_waits_for_a_replica() {
    // The shared group: no test changes its master or stops its replica.
    let link = RedisLink::connect(&sentinel_settings(Group::SHARED))
        .await
        .unwrap();
    assert_eq!(link.topology(), Topology::Sentinel);
    assert_eq!(link.min_replicas(), 1);
    round_trip(&link).await;
    browser_store(&link).await;
    let cache = CacheConfig {
        sentinel_urls: env("FEDBROKER_TEST_SENTINEL_URLS")
            .split(',')
            .map(secret)
            .collect(),
        sentinel_master: Some(env("FEDBROKER_TEST_SENTINEL_MASTER")),
        ..Default::default()
    };
    assert_eq!(redis_link::probe(&cache).await, Vec::<String>::new());
}

#[tokio::test]
async fn sentinel_with_an_unknown_master_name_is_refused() {
    let urls = env("FEDBROKER_TEST_SENTINEL_URLS");
    let urls: Vec<&str> = urls.split(',').collect();
    let err = RedisLink::connect(&LinkSettings::sentinel(&urls, "no-such-master"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cache.sentinel_urls"), "{err}");
    let cache = CacheConfig {
        sentinel_urls: urls.iter().map(|u| secret(u)).collect(),
        sentinel_master: Some("no-such-master".into()),
        ..Default::default()
    };
    let problems = redis_link::probe(&cache).await;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("cache.sentinel_master:"),
        "{problems:?}"
    );
}

async fn sentinel_master_port(sentinel_url: &str, master: &str) -> u16 {
    let client = redis::Client::open(sentinel_url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let (_, port): (String, u16) = redis::cmd("SENTINEL")
        .arg("GET-MASTER-ADDR-BY-NAME")
        .arg(master)
        .query_async(&mut conn)
        .await
        .unwrap();
    port
}

#[tokio::test]
async fn sentinel_failover_is_followed_without_losing_an_acknowledged_write() {
    // Its own group (no other test sees the failover); healthy again if an earlier run failed it
    // over.
    sentinel::wait_healthy(Group::SWITCH, Duration::from_secs(60)).await;
    let master = env("FEDBROKER_TEST_SENTINEL_MASTER");
    let first_sentinel = Group::SWITCH.urls()[0].clone();
    let link = RedisLink::connect(&sentinel_settings(Group::SWITCH))
        .await
        .unwrap();
    let replay = RedisReplayGuard::new(link.clone(), &prefix());
    let until = chrono::Utc::now() + chrono::TimeDelta::minutes(5);
    assert!(replay.first_use("before-failover", until).await.unwrap());
    let old_port = sentinel_master_port(&first_sentinel, &master).await;
    let generation = link.sentinel_generation().unwrap();

    let client = redis::Client::open(first_sentinel.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("SENTINEL")
        .arg("FAILOVER")
        .arg(&master)
        .query_async(&mut conn)
        .await
        .expect("SENTINEL FAILOVER");

    // Requests recover by themselves: keep using the same link until writes succeed again on
    // the new master (each failed attempt is refused, never accepted twice).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut i = 0;
    loop {
        i += 1;
        match replay.first_use(&format!("during-{i}"), until).await {
            Ok(true) if sentinel_master_port(&first_sentinel, &master).await != old_port => break,
            Ok(false) => panic!("a fresh key was reported as a replay"),
            _ => {}
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the link did not reach the new master"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Writes reach the new master through re-resolution (or the old connection was refused).
    assert!(
        link.sentinel_generation().unwrap() > generation,
        "the master was resolved again"
    );
    // The record acknowledged by a replica before the failover survived it.
    assert!(
        !replay.first_use("before-failover", until).await.unwrap(),
        "an assertion recorded before the failover was forgotten"
    );
    round_trip(&link).await;
}

#[tokio::test]
async fn metrics_show_redis_health_and_errors_by_store() {
    let link = RedisLink::connect_url(&env("FEDBROKER_TEST_REDIS_URL"))
        .await
        .unwrap();
    let metrics = fedbroker::telemetry::metrics::Metrics::new();
    assert!(
        !metrics.render().contains("fedbroker_redis_up"),
        "no Redis, no series"
    );
    metrics.attach_redis(Some(link.clone()));
    link.ping().await.unwrap();
    // A command Redis refuses counts as an error of the store that sent it.
    let refused: redis::RedisResult<()> = link
        .query(
            Store::Browser,
            Duration::from_secs(1),
            &redis::cmd("NO-SUCH-COMMAND"),
        )
        .await;
    assert!(refused.is_err());
    let text = metrics.render();
    assert!(text.contains("fedbroker_redis_up 1"), "{text}");
    assert!(
        text.contains("fedbroker_redis_errors_total{store=\"browser\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("fedbroker_redis_errors_total{store=\"replay\"} 0"),
        "{text}"
    );
}

#[test]
fn a_marked_worker_thread_gets_its_own_connection_and_others_share_one() {
    let url = env("FEDBROKER_TEST_REDIS_URL");
    let shared = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let link = shared.block_on(RedisLink::connect_url(&url)).unwrap();
    // An unmarked thread uses the shared connection.
    shared.block_on(round_trip(&link));
    assert_eq!(redis_link::worker_connections_on_this_thread(), 0);
    // A worker thread (its own runtime, as an HTTP worker has) opens one connection of its own
    // on first use and keeps it.
    let worker_link = link.clone();
    let held = std::thread::spawn(move || {
        redis_link::mark_worker_thread();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            round_trip(&worker_link).await;
            browser_store(&worker_link).await;
        });
        redis_link::worker_connections_on_this_thread()
    })
    .join()
    .unwrap();
    assert_eq!(held, 1);
}

fn sentinel_tls_urls() -> Vec<String> {
    env("FEDBROKER_TEST_SENTINEL_TLS_URLS")
        .split(',')
        .map(str::to_owned)
        .collect()
}

#[tokio::test]
async fn sentinel_over_tls_reaches_the_master_over_tls_with_a_client_certificate() {
    let urls = sentinel_tls_urls();
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    let settings =
        LinkSettings::sentinel(&urls, &env("FEDBROKER_TEST_SENTINEL_MASTER")).with_tls(mtls());
    let link = RedisLink::connect(&settings).await.expect("TLS sentinels");
    assert_eq!(link.topology(), Topology::Sentinel);
    round_trip(&link).await;
    browser_store(&link).await;
    let m = mtls();
    let cache = CacheConfig {
        sentinel_urls: urls.iter().map(|u| secret(u)).collect(),
        sentinel_master: Some(env("FEDBROKER_TEST_SENTINEL_MASTER")),
        tls_ca_file: m.ca_file,
        tls_cert_file: m.cert_file,
        tls_key_file: m.key_file,
        ..Default::default()
    };
    assert_eq!(redis_link::probe(&cache).await, Vec::<String>::new());
}

#[tokio::test]
async fn sentinel_over_tls_without_a_client_certificate_is_refused() {
    let urls = sentinel_tls_urls();
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    let settings =
        LinkSettings::sentinel(&urls, &env("FEDBROKER_TEST_SENTINEL_MASTER")).with_tls(TlsFiles {
            ca_file: Some(env("FEDBROKER_TEST_REDIS_TLS_CA")),
            cert_file: None,
            key_file: None,
        });
    assert!(RedisLink::connect(&settings).await.is_err());
}

/// Resumes a stopped process when dropped (even if the test fails).
struct Resume(String);

impl Drop for Resume {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-CONT", &self.0])
            .status();
    }
}

/// The port of a replica of the master `link` writes to that is online (waits up to 15 s).
async fn online_replica_port(link: &RedisLink) -> u16 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let info: String = link
            .query(
                Store::Cache,
                Duration::from_secs(2),
                redis::cmd("INFO").arg("replication"),
            )
            .await
            .unwrap();
        let port = info
            .lines()
            .filter(|l| l.starts_with("slave") && l.contains("state=online"))
            .find_map(|l| {
                l.split(',')
                    .find_map(|kv| kv.strip_prefix("port="))
                    .and_then(|p| p.trim().parse().ok())
            });
        if let Some(p) = port {
            return p;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no online replica: {info}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn sentinel_write_no_replica_acknowledges_is_refused_so_a_failover_cannot_forget_it() {
    // Its own group (no other test sees its replica stop); healthy again after an earlier run.
    sentinel::wait_healthy(Group::STALL, Duration::from_secs(60)).await;
    let link = RedisLink::connect(&sentinel_settings(Group::STALL))
        .await
        .unwrap();
    let replay = RedisReplayGuard::new(link.clone(), &prefix());
    let until = chrono::Utc::now() + chrono::TimeDelta::minutes(5);
    assert!(replay.first_use("warm-up", until).await.unwrap());
    let port = online_replica_port(&link).await;
    let replica = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
    let mut conn = replica.get_multiplexed_async_connection().await.unwrap();
    let info: String = redis::cmd("INFO")
        .arg("server")
        .query_async(&mut conn)
        .await
        .unwrap();
    let pid = info
        .lines()
        .find_map(|l| l.strip_prefix("process_id:"))
        .unwrap()
        .trim()
        .to_owned();
    let before = link.errors(Store::Replay);
    let refused = {
        // The replica stops answering (as a hung or partitioned replica would).
        assert!(std::process::Command::new("kill")
            .args(["-STOP", &pid])
            .status()
            .unwrap()
            .success());
        let _resume = Resume(pid.clone());
        replay.first_use("unacknowledged", until).await
    };
    assert!(
        matches!(refused, Err(fedbroker::replay::ReplayError::Unavailable(_))),
        "a write no replica acknowledged must fail closed: {refused:?}"
    );
    assert!(
        link.errors(Store::Replay) > before,
        "counted as a Redis error"
    );
    // Once the replica is back, the same link records again.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    let mut i = 0;
    loop {
        i += 1;
        if let Ok(first) = replay.first_use(&format!("after-{i}"), until).await {
            assert!(first);
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no recovery");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn cluster_over_tls_with_a_client_certificate_serves_every_store() {
    let urls = env("FEDBROKER_TEST_REDIS_CLUSTER_TLS_URLS");
    let urls: Vec<&str> = urls.split(',').collect();
    let link = RedisLink::connect(&LinkSettings::cluster(&urls).with_tls(mtls()))
        .await
        .expect("TLS cluster");
    assert_eq!(link.topology(), Topology::Cluster);
    round_trip(&link).await;
    browser_store(&link).await;
    // Without a client certificate the nodes refuse the connection.
    let no_cert = TlsFiles {
        ca_file: Some(env("FEDBROKER_TEST_REDIS_TLS_CA")),
        cert_file: None,
        key_file: None,
    };
    assert!(
        RedisLink::connect(&LinkSettings::cluster(&urls).with_tls(no_cert))
            .await
            .is_err()
    );
}
