//! Redis replay store: `SET <prefix><sha256-hex> 1 NX PX <ttl>`, shared by all broker instances.
//!
//! Invariants:
//! - one atomic command per check, so two instances racing on the same key get exactly one `OK`;
//! - keys are the prefix plus the SHA-256 hex of the replay key, never the raw assertion/token ID;
//! - the TTL comes from the injected clock (`until - now`), at least [`super::MIN_REMEMBER`];
//! - every Redis failure is [`ReplayError::Unavailable`]: the caller fails closed.
//!
//! The connection is a `redis::aio::ConnectionManager` (multiplexed, reconnects on failure) with
//! bounded connect and response timeouts so a hung Redis cannot hang a login.

use super::{key_digest, remember_until, ReplayError, ReplayGuard};
use crate::clock::{SharedClock, SystemClock};
use chrono::{DateTime, Utc};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use std::sync::Arc;
use std::time::Duration;

/// Time allowed to open a TCP connection to Redis.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Time allowed for one Redis reply; a login waits on it, so keep it short.
pub const RESPONSE_TIMEOUT: Duration = Duration::from_secs(2);
/// Reconnection attempts the connection manager makes before reporting an error.
pub const RECONNECT_RETRIES: usize = 2;
/// Ceiling for the wait between reconnection attempts. redis 0.32 hands `factor` to backon as the
/// growth factor with a 1 s minimum and 60 s maximum delay by default, which made an unreachable
/// Redis take about two minutes to report; a login cannot wait that long.
pub const RECONNECT_MAX_DELAY: Duration = Duration::from_millis(500);
/// Growth factor between reconnection waits.
const RECONNECT_BACKOFF_FACTOR: u64 = 2;

/// Redis-backed [`ReplayGuard`].
#[derive(Clone)]
pub struct RedisReplayGuard {
    conn: ConnectionManager,
    key_prefix: String,
    clock: SharedClock,
}

impl std::fmt::Debug for RedisReplayGuard {
    // The URL may hold a password; only the prefix is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisReplayGuard")
            .field("key_prefix", &self.key_prefix)
            .finish_non_exhaustive()
    }
}

fn unavailable(e: redis::RedisError) -> ReplayError {
    ReplayError::Unavailable(Box::new(e))
}

impl RedisReplayGuard {
    /// Connect to `url` (`redis://` or `rediss://`), reading time from the system clock.
    /// Fails if Redis does not answer, so a misconfiguration is reported at start-up.
    pub async fn connect(url: &str, key_prefix: &str) -> Result<Self, ReplayError> {
        let client = redis::Client::open(url).map_err(unavailable)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(CONNECT_TIMEOUT)
            .set_response_timeout(RESPONSE_TIMEOUT)
            .set_number_of_retries(RECONNECT_RETRIES)
            .set_factor(RECONNECT_BACKOFF_FACTOR)
            .set_max_delay(RECONNECT_MAX_DELAY.as_millis() as u64);
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(unavailable)?;
        Ok(Self {
            conn,
            key_prefix: key_prefix.to_owned(),
            clock: Arc::new(SystemClock),
        })
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
        let mut conn = self.conn.clone();
        let reply: Option<String> = redis::cmd("SET")
            .arg(self.redis_key(key))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(ttl_ms)
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(reply.as_deref() == Some("OK"))
    }

    async fn ping(&self) -> Result<(), ReplayError> {
        let mut conn = self.conn.clone();
        let _: String = redis::cmd("PING")
            .query_async(&mut conn)
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
