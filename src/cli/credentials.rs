//! `fedbroker credentials --broker URL --role ARN|ALIAS [--duration SECONDS]`: the
//! `credential_process` of the AWS profiles `fedbroker profiles` writes.
//!
//! It keeps a local copy of the credentials (`credentials.json` in the state directory, 0600) and
//! hands it out again until the refresh window, so each `aws` call does not reach the broker.
//!
//! The refresh window: credentials are fetched again once less than
//! `min(15 minutes, half their lifetime)` remains before `Expiration`. 15 minutes is botocore's
//! advisory refresh window (the AWS CLI and boto3 call `credential_process` again when less than
//! that remains), so what this command hands out is never already inside the SDK's own window and
//! a long-running boto3 process does not call it on every request; the SDKs for Go, Java and Rust
//! refresh later (5 minutes or less), so the same window also suits them. Half the lifetime caps
//! the window for short credentials (a 15-minute duration would otherwise never be cached).
//!
//! Invariants: the answer printed is exactly the five `credential_process` fields; the secret key
//! and session token never reach stderr or a log; cache entries are keyed by broker, role (as
//! given) and duration, and expired entries are dropped when the file is written; a missing or
//! ended session exits non-zero with one line (see [`crate::cli::session`]).

use crate::cli::broker_client::{BrokerClient, BrokerUrl, ProcessCredentials};
use crate::cli::session::{self, SessionError};
use crate::cli::state::{read_json, write_json, Env};
use crate::clock::Clock;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The longest refresh window (botocore's advisory refresh time).
pub const MAX_REFRESH_WINDOW: Duration = Duration::minutes(15);

/// Whether credentials fetched at `fetched_at` and ending at `expiration` may still be handed out.
pub fn still_fresh(
    now: DateTime<Utc>,
    fetched_at: DateTime<Utc>,
    expiration: DateTime<Utc>,
) -> bool {
    let lifetime = expiration - fetched_at;
    if lifetime <= Duration::zero() {
        return false;
    }
    let window = MAX_REFRESH_WINDOW.min(lifetime / 2);
    now < expiration - window
}

/// One cached answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cached {
    pub fetched_at: DateTime<Utc>,
    pub credentials: ProcessCredentials,
}

/// `credentials.json`.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialCache {
    #[serde(default)]
    pub entries: BTreeMap<String, Cached>,
}

impl CredentialCache {
    pub fn key(broker: &BrokerUrl, role: &str, duration: Option<u32>) -> String {
        let duration = duration.map_or_else(|| "default".to_string(), |d| d.to_string());
        format!("{} {role} {duration}", broker.key())
    }

    /// Delete every entry of `broker` (logout, ended session).
    pub fn forget_broker(env: &Env, broker: &BrokerUrl) -> Result<(), String> {
        let path = env.credentials_file();
        if !path.exists() {
            return Ok(());
        }
        let mut cache: Self = read_json(&path)?;
        let prefix = format!("{} ", broker.key());
        let before = cache.entries.len();
        cache.entries.retain(|k, _| !k.starts_with(&prefix));
        if cache.entries.len() != before {
            write_json(&path, &cache)?;
        }
        Ok(())
    }
}

/// The credentials for `role`: the local copy while fresh, else from the broker (and cached).
pub async fn get(
    env: &Env,
    client: &BrokerClient,
    clock: &dyn Clock,
    role: &str,
    duration: Option<u32>,
) -> Result<ProcessCredentials, SessionError> {
    let path = env.credentials_file();
    let key = CredentialCache::key(client.broker(), role, duration);
    // An unreadable cache is only a cache: fetch again and overwrite it.
    let cache: CredentialCache = read_json(&path).unwrap_or_default();
    if let Some(hit) = cache.entries.get(&key) {
        if still_fresh(clock.now(), hit.fetched_at, hit.credentials.expiration) {
            return Ok(hit.credentials.clone());
        }
    }
    let fetched_at = clock.now();
    let credentials = session::with_token(env, client, clock, |token| async move {
        client.credentials(&token, role, duration).await
    })
    .await?;
    let now = clock.now();
    let mut cache: CredentialCache = read_json(&path).unwrap_or_default();
    cache.entries.retain(|_, c| c.credentials.expiration > now);
    cache.entries.insert(
        key,
        Cached {
            fetched_at,
            credentials: credentials.clone(),
        },
    );
    write_json(&path, &cache)?;
    Ok(credentials)
}

/// The JSON printed on stdout.
pub fn render(credentials: &ProcessCredentials) -> String {
    serde_json::to_string(credentials).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn one_hour_credentials_are_reused_until_15_minutes_before_they_end() {
        let fetched = t("2030-01-01T00:00:00Z");
        let exp = t("2030-01-01T01:00:00Z");
        assert!(still_fresh(fetched, fetched, exp));
        assert!(still_fresh(t("2030-01-01T00:44:59Z"), fetched, exp));
        assert!(!still_fresh(t("2030-01-01T00:45:00Z"), fetched, exp));
        assert!(!still_fresh(t("2030-01-01T02:00:00Z"), fetched, exp));
    }

    #[test]
    fn short_credentials_use_half_their_lifetime() {
        let fetched = t("2030-01-01T00:00:00Z");
        let exp = t("2030-01-01T00:15:00Z");
        assert!(still_fresh(t("2030-01-01T00:07:29Z"), fetched, exp));
        assert!(!still_fresh(t("2030-01-01T00:07:30Z"), fetched, exp));
        // Already ended, or nonsense: never fresh.
        assert!(!still_fresh(fetched, fetched, fetched));
        assert!(!still_fresh(fetched, exp, fetched));
    }

    #[test]
    fn the_printed_json_is_the_credential_process_format() {
        let c = ProcessCredentials {
            version: 1,
            access_key_id: "ASIAX".into(),
            secret_access_key: crate::cli::state::Token::new("sek"),
            session_token: crate::cli::state::Token::new("tok"),
            expiration: t("2030-01-01T01:00:00Z"),
        };
        let v: serde_json::Value = serde_json::from_str(&render(&c)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"Version":1,"AccessKeyId":"ASIAX","SecretAccessKey":"sek",
                "SessionToken":"tok","Expiration":"2030-01-01T01:00:00Z"})
        );
    }

    #[test]
    fn forgetting_a_broker_keeps_the_others() {
        let tmp = tempfile::tempdir().unwrap();
        let env = Env {
            state_dir: tmp.path().to_path_buf(),
            aws_config_file: tmp.path().join("config"),
            browser: None,
        };
        let a = BrokerUrl::parse("https://a.example").unwrap();
        let b = BrokerUrl::parse("https://a.example.org").unwrap();
        let c = Cached {
            fetched_at: t("2030-01-01T00:00:00Z"),
            credentials: ProcessCredentials {
                version: 1,
                access_key_id: "A".into(),
                secret_access_key: crate::cli::state::Token::new("s"),
                session_token: crate::cli::state::Token::new("t"),
                expiration: t("2030-01-01T01:00:00Z"),
            },
        };
        let mut cache = CredentialCache::default();
        cache
            .entries
            .insert(CredentialCache::key(&a, "r", None), c.clone());
        cache
            .entries
            .insert(CredentialCache::key(&b, "r", Some(900)), c);
        write_json(&env.credentials_file(), &cache).unwrap();
        CredentialCache::forget_broker(&env, &a).unwrap();
        let left: CredentialCache = read_json(&env.credentials_file()).unwrap();
        assert_eq!(
            left.entries.keys().collect::<Vec<_>>(),
            vec!["https://a.example.org r 900"]
        );
    }
}
