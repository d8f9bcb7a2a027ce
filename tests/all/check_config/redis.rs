//! `fedbroker check-config` on the shared-Redis settings, end to end through the binary: a config
//! naming more than one topology, or one that would keep a store per replica while another is
//! shared, or with an incomplete Sentinel or TLS setting, exits non-zero with a message naming the
//! key to fix (every problem at once, never a password); the `[cache]` section of each supported
//! topology (`tests/all/support/topology.rs`) is accepted.

use crate::support::broker;
use crate::support::topology;

use broker::repo_path;
use topology::{Topology, KEY_SPEC};

/// Run `check-config` on `[cache]` keys `cache` added to a valid config; (success, output).
fn check(cache: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("fedbroker.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = \"127.0.0.1:8080\"\npublic_url = \"http://127.0.0.1:8080\"\n\n\
             [aws]\nregion = \"us-east-1\"\n\n\
             [[saml.idps]]\nname = \"test-idp\"\nmetadata_file = {:?}\n\n[cache]\n{cache}",
            repo_path("config/test-idp-metadata.xml")
                .display()
                .to_string()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fedbroker"))
        .args(["check-config", "--config"])
        .arg(&cfg)
        .output()
        .expect("run check-config");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn keys() -> String {
    format!("encryption_keys = [{KEY_SPEC:?}]\n")
}

fn refused_naming(cache: &str, names: &[&str]) -> String {
    let (ok, text) = check(cache);
    assert!(!ok, "check-config accepted:\n{cache}\n{text}");
    for name in names {
        assert!(text.contains(name), "{name} not named:\n{text}");
    }
    text
}

#[test]
fn standalone_and_cluster_at_once_is_refused() {
    refused_naming(
        &format!(
            "{}redis_url = \"redis://127.0.0.1:6379\"\nredis_cluster_urls = [\"redis://127.0.0.1:7000\"]\n",
            keys()
        ),
        &["cache.redis_cluster_urls"],
    );
}

#[test]
fn standalone_and_sentinel_at_once_is_refused() {
    refused_naming(
        &format!(
            "{}redis_url = \"redis://127.0.0.1:6379\"\nsentinel_urls = [\"redis://127.0.0.1:26379\"]\nsentinel_master = \"m\"\n",
            keys()
        ),
        &["cache.sentinel_urls"],
    );
}

#[test]
fn cluster_and_sentinel_at_once_is_refused() {
    refused_naming(
        &format!(
            "{}redis_cluster_urls = [\"redis://127.0.0.1:7000\"]\nsentinel_urls = [\"redis://127.0.0.1:26379\"]\nsentinel_master = \"m\"\n",
            keys()
        ),
        &["cache.sentinel_urls", "cache.redis_cluster_urls"],
    );
}

/// Redis without an encryption key: replay protection would be shared while the credential cache
/// and browser sign-ins stayed in each replica (a sign-in started on one could not finish on
/// another). That silent split is refused.
#[test]
fn shared_replay_with_per_replica_browser_state_is_refused() {
    for topology in [
        "redis_url = \"redis://127.0.0.1:6379\"\n",
        "redis_cluster_urls = [\"redis://127.0.0.1:7000\"]\n",
        "sentinel_urls = [\"redis://127.0.0.1:26379\"]\nsentinel_master = \"m\"\n",
    ] {
        refused_naming(topology, &["cache.encryption_keys"]);
    }
}

#[test]
fn sentinel_without_a_master_name_is_refused() {
    refused_naming(
        &format!("{}sentinel_urls = [\"redis://127.0.0.1:26379\"]\n", keys()),
        &["cache.sentinel_master"],
    );
}

#[test]
fn sentinel_master_without_sentinels_is_refused() {
    refused_naming(
        &format!("{}sentinel_master = \"m\"\n", keys()),
        &["cache.sentinel_master"],
    );
}

#[test]
fn client_certificate_without_its_key_is_refused() {
    let cert = topology::env(
        "FEDBROKER_TEST_REDIS_TLS_CLIENT_CERT",
        "redis-topologies.sh",
    );
    let text = refused_naming(
        &format!(
            "{}redis_url = \"rediss://127.0.0.1:6380\"\ntls_cert_file = {cert:?}\n",
            keys()
        ),
        &["cache.tls_key_file"],
    );
    assert!(!text.contains("PRIVATE KEY"), "{text}");
}

#[test]
fn tls_files_without_a_rediss_url_are_refused() {
    let ca = topology::env("FEDBROKER_TEST_REDIS_TLS_CA", "redis-topologies.sh");
    refused_naming(
        &format!(
            "{}redis_url = \"redis://127.0.0.1:6379\"\ntls_ca_file = {ca:?}\n",
            keys()
        ),
        &["cache.tls_ca_file"],
    );
}

/// Every problem at once, and the password in a Redis URL is never echoed.
#[test]
fn every_redis_problem_is_reported_at_once_without_the_password() {
    let text = refused_naming(
        "redis_url = \"redis://:hunter2-in-the-url@127.0.0.1:6379\"\n\
         redis_cluster_urls = [\"redis://:hunter2-in-the-url@127.0.0.1:7000\"]\n\
         sentinel_master = \"m\"\n",
        &[
            "cache.redis_cluster_urls",
            "cache.sentinel_master",
            "cache.encryption_keys",
        ],
    );
    assert!(
        !text.contains("hunter2-in-the-url"),
        "password echoed:\n{text}"
    );
}

#[test]
fn every_supported_topology_is_accepted() {
    for t in Topology::ALL {
        let section = t.cache_toml("fedbroker-check:");
        let body = section.trim_start().trim_start_matches("[cache]");
        let (ok, text) = check(body);
        assert!(ok, "{}: refused:\n{body}\n{text}", t.name());
    }
}
