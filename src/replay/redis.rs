//! Redis replay store: `SET <prefix><sha256-hex> 1 NX PX <ttl>`, shared by all broker instances,
//! over the shared connection layer ([`crate::redis_link`]) on any topology.
//!
//! Invariants:
//! - one atomic command per check (one key, so any Cluster slot), so two instances racing on the
//!   same key get exactly one `OK`;
//! - keys are the prefix plus the SHA-256 hex of the replay key, never the raw assertion/token ID;
//! - the TTL comes from the injected clock (`until - now`), at least [`super::MIN_REMEMBER`];
//! - the record is a security-relevant write ([`RedisLink::write`]): with Sentinel it counts only
//!   once a replica acknowledged it, so a failover cannot forget it;
//! - every Redis failure (including "not acknowledged in time") is [`ReplayError::Unavailable`]:
//!   the caller fails closed. Every call is bounded by [`RESPONSE_TIMEOUT`].

use super::{key_digest, remember_until, ReplayError, ReplayGuard};
use crate::clock::{SharedClock, SystemClock};
use crate::redis_link::{RedisLink, Store};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;

/// Time allowed for one replay check (a login waits on it, so keep it short).
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Redis-backed [`ReplayGuard`].
#[derive(Clone)]
pub struct RedisReplayGuard {
    link: RedisLink,
    key_prefix: String,
    clock: SharedClock,
}

impl std::fmt::Debug for RedisReplayGuard {
    // The URL may hold a password; only the prefix is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisReplayGuard")
            .field("key_prefix", &self.key_prefix)
            .field("link", &self.link)
            .finish_non_exhaustive()
    }
}

fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> ReplayError {
    ReplayError::Unavailable(Box::new(e))
}

impl RedisReplayGuard {
    /// Connect to a standalone Redis at `url` (`redis://` or `rediss://`), reading time from the
    /// system clock. Fails if Redis does not answer, so a misconfiguration is reported at start-up.
    pub async fn connect(url: &str, key_prefix: &str) -> Result<Self, ReplayError> {
        let link = RedisLink::connect_url(url).await.map_err(unavailable)?;
        Ok(Self::new(link, key_prefix))
    }

    /// On an open link (any topology), reading time from the system clock.
    pub fn new(link: RedisLink, key_prefix: &str) -> Self {
        Self {
            link,
            key_prefix: key_prefix.to_owned(),
            clock: Arc::new(SystemClock),
        }
    }

    /// Use `clock` to turn `until` into a TTL.
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// The Redis key for a replay key.
    pub fn redis_key(&self, key: &str) -> String {
        format!("{}{}", self.key_prefix, hex::encode(key_digest(key)))
    }
}

#[async_trait::async_trait]
impl ReplayGuard for RedisReplayGuard {
    async fn first_use(&self, key: &str, until: DateTime<Utc>) -> Result<bool, ReplayError> {
        let now = self.clock.now();
        let ttl_ms = (remember_until(now, until) - now).num_milliseconds();
        let reply: Option<String> = self
            .link
            .write(
                Store::Replay,
                RESPONSE_TIMEOUT,
                redis::cmd("SET")
                    .arg(self.redis_key(key))
                    .arg(1)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl_ms),
            )
            .await
            .map_err(unavailable)?;
        Ok(reply.as_deref() == Some("OK"))
    }

    async fn ping(&self) -> Result<(), ReplayError> {
        let _: String = self
            .link
            .query(Store::Replay, RESPONSE_TIMEOUT, &redis::cmd("PING"))
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
