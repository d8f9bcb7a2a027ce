//! Shared helpers for the credential cache tests: stores under test and sample credentials.
#![allow(dead_code)]

use chrono::{DateTime, TimeDelta, Utc};
use fedbroker::cache::{CachedCredentials, Keyring, RedisCredentialCache};
use fedbroker::sts::StsCredentials;
use secrecy::SecretString;

pub const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY";
pub const TOKEN: &str = "FwoGZXIvYXdzEXAMPLESESSIONTOKEN//////////wEaDPlainSessionToken";
pub const SUBJECT: &str = "alice-subject@example.com";

pub fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z")
        .unwrap()
        .into()
}

/// Credentials valid for `lifetime` from `now`, tagged with `n` in the access key id.
pub fn creds(now: DateTime<Utc>, lifetime: TimeDelta, n: usize) -> StsCredentials {
    StsCredentials {
        access_key_id: format!("ASIATEST{n:08}"),
        secret_access_key: SecretString::from(SECRET),
        session_token: SecretString::from(TOKEN),
        expiration: now + lifetime,
        assumed_role_arn: "arn:aws:sts::123456789012:assumed-role/Dev/alice".into(),
        assumed_role_id: "AROAEXAMPLE:alice".into(),
        subject: Some(SUBJECT.into()),
        provider: Some("https://idp.example.com".into()),
        audience: Some("sts.amazonaws.com".into()),
        source_identity: Some("alice".into()),
        packed_policy_size: Some(7),
        chained: false,
        request_id: Some("req-0001".into()),
    }
}

pub fn entry(now: DateTime<Utc>, lifetime: TimeDelta, n: usize) -> CachedCredentials {
    CachedCredentials {
        credentials: creds(now, lifetime, n),
        fetched_at: now,
    }
}

pub fn redis_url() -> String {
    std::env::var("FEDBROKER_TEST_REDIS_URL").unwrap_or_else(|_| {
        panic!(
            "FEDBROKER_TEST_REDIS_URL is not set: run the tests through scripts/test.sh, or \
             `scripts/services.sh start && . .fedbroker-run/services.env` first"
        )
    })
}

pub fn cluster_urls() -> Vec<String> {
    std::env::var("FEDBROKER_TEST_REDIS_CLUSTER_URLS")
        .unwrap_or_else(|_| {
            panic!(
                "FEDBROKER_TEST_REDIS_CLUSTER_URLS is not set: run `scripts/redis-cluster.sh start && \
                 . .fedbroker-run/redis-cluster.env` first (scripts/test.sh does)"
            )
        })
        .split(',')
        .map(str::to_owned)
        .collect()
}

pub fn prefix(what: &str) -> String {
    format!("fedbroker-test:cache:{what}:{}:", uuid::Uuid::new_v4())
}

pub fn keyring() -> Keyring {
    Keyring::from_specs(["k2:AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="]).unwrap()
}

pub async fn redis_store(prefix: &str) -> RedisCredentialCache {
    RedisCredentialCache::connect(&redis_url(), prefix, keyring())
        .await
        .unwrap_or_else(|e| panic!("cannot reach Redis at FEDBROKER_TEST_REDIS_URL: {e}"))
}

pub async fn cluster_store(prefix: &str) -> RedisCredentialCache {
    let urls = cluster_urls();
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    RedisCredentialCache::connect_cluster(&urls, prefix, keyring())
        .await
        .unwrap_or_else(|e| panic!("cannot reach the Redis Cluster: {e}"))
}
