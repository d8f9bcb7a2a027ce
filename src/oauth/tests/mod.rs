//! Tests of the authorization server, each run against both state stores a broker can use: the
//! in-process [`MemoryKv`] and a real Redis [`RedisKv`] (sealed, `FEDBROKER_TEST_REDIS_URL`, else
//! `redis://127.0.0.1:6379`; each run under its own key prefix, deleted afterwards). The clock is
//! a [`FixedClock`] in both: record lifetimes are decided by it, so expiry is tested exactly even
//! though Redis keeps the keys a little longer in real time.

mod code;
mod device;
mod session;

use super::{Oauth, OauthSettings};
use crate::cache::Keyring;
use crate::clock::{Clock, FixedClock};
use crate::identity::{AwsClaims, OriginalCredential, Protocol, VerifiedIdentity};
use crate::sign_in::{BrowserKv, MemoryKv, RedisKv};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use std::sync::Arc;

/// One store under test.
pub(super) struct Harness {
    pub name: &'static str,
    pub oauth: Arc<Oauth>,
    pub clock: Arc<FixedClock>,
    /// Redis key prefix to delete afterwards.
    cleanup: Option<(String, String)>,
}

impl Harness {
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    pub fn advance(&self, by: TimeDelta) {
        self.clock.advance(by);
    }

    /// Delete this run's Redis keys.
    pub async fn done(self) {
        if let Some((url, prefix)) = self.cleanup {
            let client = redis::Client::open(url).unwrap();
            let mut con = client.get_multiplexed_async_connection().await.unwrap();
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg(format!("{prefix}*"))
                .query_async(&mut con)
                .await
                .unwrap();
            for k in keys {
                let _: i64 = redis::cmd("DEL")
                    .arg(k)
                    .query_async(&mut con)
                    .await
                    .unwrap();
            }
        }
    }
}

pub(super) fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
}

fn redis_url() -> String {
    std::env::var("FEDBROKER_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Both stores, with `settings`.
pub(super) async fn stores_with(settings: OauthSettings) -> Vec<Harness> {
    let mut out = Vec::new();
    let clock = Arc::new(FixedClock::new(t0()));
    let kv: Arc<dyn BrowserKv> = Arc::new(MemoryKv::new(clock.clone()));
    out.push(Harness {
        name: "memory",
        oauth: Arc::new(Oauth::new(clock.clone(), kv, settings.clone())),
        clock,
        cleanup: None,
    });
    let clock = Arc::new(FixedClock::new(t0()));
    let prefix = format!("fedbroker-oauth-test-{}:", uuid::Uuid::new_v4().simple());
    let url = redis_url();
    let kv = RedisKv::connect(&url, &prefix, Keyring::random("oauth-test"))
        .await
        .unwrap_or_else(|e| panic!("Redis at {url} (FEDBROKER_TEST_REDIS_URL): {e}"));
    let kv: Arc<dyn BrowserKv> = Arc::new(kv);
    out.push(Harness {
        name: "redis",
        oauth: Arc::new(Oauth::new(clock.clone(), kv, settings)),
        clock,
        cleanup: Some((url, prefix)),
    });
    out
}

/// Two replicas over one Redis (same prefix and keys, one clock): what one writes, the other
/// reads; delete with [`Harness::done`] on the first.
pub(super) async fn replicas() -> (Harness, Arc<Oauth>) {
    const KEY_SPEC: &str = "t1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    let clock = Arc::new(FixedClock::new(t0()));
    let prefix = format!("fedbroker-oauth-test-{}:", uuid::Uuid::new_v4().simple());
    let url = redis_url();
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let keyring = Keyring::from_specs([KEY_SPEC]).unwrap();
        let kv = RedisKv::connect(&url, &prefix, keyring)
            .await
            .unwrap_or_else(|e| panic!("Redis at {url} (FEDBROKER_TEST_REDIS_URL): {e}"));
        let kv: Arc<dyn BrowserKv> = Arc::new(kv);
        replicas.push(Arc::new(Oauth::new(
            clock.clone(),
            kv,
            OauthSettings::default(),
        )));
    }
    let second = replicas.pop().unwrap();
    let first = replicas.pop().unwrap();
    let h = Harness {
        name: "redis replicas",
        oauth: first,
        clock,
        cleanup: Some((url, prefix)),
    };
    (h, second)
}

/// The in-process store alone (tests of shapes rather than of storage).
pub(super) async fn memory() -> Harness {
    let clock = Arc::new(FixedClock::new(t0()));
    let kv: Arc<dyn BrowserKv> = Arc::new(MemoryKv::new(clock.clone()));
    Harness {
        name: "memory",
        oauth: Arc::new(Oauth::new(clock.clone(), kv, OauthSettings::default())),
        clock,
        cleanup: None,
    }
}

pub(super) async fn stores() -> Vec<Harness> {
    stores_with(OauthSettings::default()).await
}

/// A verified SAML identity of `subject` whose IdP session ends at `idp_end`.
pub(super) fn person(subject: &str, idp_end: Option<DateTime<Utc>>) -> VerifiedIdentity {
    VerifiedIdentity {
        protocol: Protocol::Saml,
        provider: "corp".into(),
        issuer: "https://idp.example.com".into(),
        subject: subject.into(),
        subject_format: None,
        token_id: format!("_{subject}"),
        expires_at: t0() + TimeDelta::minutes(5),
        authn_instant: Some(t0()),
        attributes: Default::default(),
        aws: AwsClaims {
            session_not_on_or_after: idp_end,
            ..AwsClaims::default()
        },
        key_fingerprint: "00".into(),
        legacy_algorithm: false,
        original: OriginalCredential::SamlResponse("PHNhbWxwOlJlc3BvbnNlLz4=".to_owned().into()),
        in_response_to: None,
        recipient: None,
        audiences: Vec::new(),
        encrypted: false,
    }
}

/// Alice, whose IdP session lasts a day.
pub(super) fn alice() -> VerifiedIdentity {
    person("alice@example.com", Some(t0() + TimeDelta::days(1)))
}

pub(super) const CLI: Option<&str> = Some(super::CLIENT_ID);
