//! The stores the config asks for, built once at start-up: the shared Redis link, the replay
//! store, the browser-state store and the credential cache.
//!
//! Invariants: every shared store uses the one Redis link (standalone, Cluster or Sentinel, with
//! TLS); a config that shares one store shares them all, so no store stays per-replica while
//! another is in Redis; what reaches Redis (credentials, browser state) is sealed with the one
//! keyring, read once from `cache.encryption_keys` / `cache.encryption_key_file`; Redis without a
//! key is a configuration error, never a silent downgrade.

use crate::cache::{CachingExchange, Keyring, RedisCredentialCache};
use crate::clock::SharedClock;
use crate::config::{Config, ConfigErrors};
use crate::redis_link::{LinkSettings, RedisLink};
use crate::replay::memory::MemoryReplayGuard;
use crate::replay::redis::RedisReplayGuard;
use crate::replay::ReplayGuard;
use crate::sign_in::{BrowserKv, MemoryKv, RedisKv};
use std::sync::Arc;
use std::time::Duration;

/// The stores of one broker process.
#[derive(Debug)]
pub struct Stores {
    /// The shared Redis link (`None`: every store is in-process).
    pub link: Option<RedisLink>,
    /// Consumed assertion and token ids.
    pub replay: Arc<dyn ReplayGuard>,
    /// Browser state: pending logins and sessions.
    pub browser: Arc<dyn BrowserKv>,
    /// The credential cache (`None`: `cache.enabled = false`).
    pub cache: Option<CachingExchange>,
}

impl Stores {
    /// Connect the link `[cache]` configures and build every store on it (or in-process without
    /// one). The keyring is read once and shared by the credential cache and the browser store.
    pub async fn build(cfg: &Config, clock: SharedClock) -> Result<Self, ConfigErrors> {
        let link = connect_link(cfg).await?;
        let keyring = Keyring::from_config(
            &cfg.cache.encryption_keys,
            cfg.cache.encryption_key_file.as_deref(),
        )
        .map_err(|e| ConfigErrors(vec![e]))?
        .map(Arc::new);
        let prefix = &cfg.cache.key_prefix;
        let stores = match (link, keyring) {
            (Some(_), None) => return Err(shared_without_key(cfg)),
            (Some(link), Some(keyring)) => Self {
                replay: Arc::new(
                    RedisReplayGuard::new(link.clone(), prefix).with_clock(clock.clone()),
                ),
                browser: Arc::new(RedisKv::new(link.clone(), prefix, keyring.clone())),
                cache: cfg.cache.enabled.then(|| {
                    let store = RedisCredentialCache::new(link.clone(), prefix, keyring)
                        .with_op_timeout(Duration::from_millis(
                            cfg.cache.credential_cache_timeout_ms,
                        ));
                    CachingExchange::shared(Arc::new(store), clock.clone())
                }),
                link: Some(link),
            },
            (None, _) => Self {
                link: None,
                replay: Arc::new(MemoryReplayGuard::new(clock.clone())),
                browser: Arc::new(MemoryKv::new(clock.clone())),
                cache: cfg
                    .cache
                    .enabled
                    .then(|| CachingExchange::in_process(clock)),
            },
        };
        Ok(stores)
    }
}

/// The shared Redis link `[cache]` configures, or `None` for in-process stores.
async fn connect_link(cfg: &Config) -> Result<Option<RedisLink>, ConfigErrors> {
    let Some(settings) = LinkSettings::from_config(&cfg.cache) else {
        return Ok(None);
    };
    RedisLink::connect(&settings)
        .await
        .map(Some)
        .map_err(|e| ConfigErrors(vec![e.to_string()]))
}

/// The config key that needs an encryption key when Redis is configured.
fn shared_without_key(cfg: &Config) -> ConfigErrors {
    ConfigErrors(vec![format!(
        "{} needs cache.encryption_keys or cache.encryption_key_file: the credential cache and \
         browser sessions are stored encrypted in Redis, and every shared store must be shared \
         (no store may stay per-replica while another is in Redis)",
        LinkSettings::from_config(&cfg.cache).map_or("cache.redis_url", |s| s.config_key())
    )])
}
