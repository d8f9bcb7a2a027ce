//! Where browser state lives (pending logins, broker sessions): in-process by default, or Redis
//! so that any replica can finish a login or serve a session another replica started.
//!
//! Invariants: keys are the caller's (already hashed) names under `<key_prefix>{web}:` (one hash
//! tag, so the pending-login script's keys share a Redis Cluster slot); in Redis
//! every value is an AES-256-GCM envelope (the credential cache's keyring, AAD = domain + key), so
//! an ID token, assertion or PKCE verifier is never readable there, and an envelope moved to another
//! key does not open; `take` is atomic (`GETDEL`), so single-use state is single-use across
//! replicas; every write (put, put_pending, take, remove) is a security-relevant write of the
//! connection layer (with Sentinel, acknowledged by a replica, see [`crate::redis_link`]); every
//! Redis command is bounded by the cache's `OP_TIMEOUT`; pending logins are
//! bounded on their own (per client and overall, the oldest evicted, never refused) and never
//! share a bound with sessions, in process and in Redis (an index per client and one overall,
//! trimmed atomically by a Lua script on every insert).

use super::pending::{PendingStore, MAX_PENDING, MAX_PENDING_PER_CLIENT};
use super::store::ExpiringStore;
use crate::cache::redis::{unavailable, OP_TIMEOUT};
use crate::cache::{CacheError, Keyring};
use crate::clock::SharedClock;
use crate::redis_link::{RedisLink, Store};
use chrono::TimeDelta;
use std::sync::Arc;
use std::time::Duration;
use zeroize::Zeroizing;

/// AAD domain of browser-state envelopes (distinct from credential-cache entries).
const AAD_DOMAIN: &[u8] = b"fedbroker.browser-state.v1\0";

/// A small key-value store with expiry and single-use reads.
#[async_trait::async_trait]
pub trait BrowserKv: Send + Sync + std::fmt::Debug {
    /// Store a session (or other long-lived state) under `key`.
    async fn put(&self, key: &str, value: &[u8], ttl: TimeDelta) -> Result<(), CacheError>;
    /// Store a pending login started by `client` (its address): at most
    /// `MAX_PENDING_PER_CLIENT` per client and `MAX_PENDING` in all; beyond either bound the
    /// oldest pending login is evicted (a new one is never refused), and sessions are never
    /// counted against or evicted by pending logins.
    async fn put_pending(
        &self,
        client: &str,
        key: &str,
        value: &[u8],
        ttl: TimeDelta,
    ) -> Result<(), CacheError>;
    async fn get(&self, key: &str) -> Result<Option<Zeroizing<Vec<u8>>>, CacheError>;
    /// Remove and return (single use).
    async fn take(&self, key: &str) -> Result<Option<Zeroizing<Vec<u8>>>, CacheError>;
    async fn remove(&self, key: &str) -> Result<(), CacheError>;
}

type Bytes = Arc<Zeroizing<Vec<u8>>>;

/// In-process [`BrowserKv`] (one replica: use session affinity with several): sessions and
/// pending logins in two stores with their own bounds.
#[derive(Debug)]
pub struct MemoryKv {
    sessions: ExpiringStore<Bytes>,
    pending: PendingStore<Bytes>,
}

impl MemoryKv {
    pub fn new(clock: SharedClock) -> Self {
        Self {
            sessions: ExpiringStore::new(clock.clone()),
            pending: PendingStore::new(clock),
        }
    }

    /// With other pending-login bounds (tests).
    pub fn with_pending_limits(clock: SharedClock, max: usize, per_client: usize) -> Self {
        Self {
            sessions: ExpiringStore::new(clock.clone()),
            pending: PendingStore::with_limits(clock, max, per_client),
        }
    }

    /// Pending logins held now (bounded).
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }
}

#[async_trait::async_trait]
impl BrowserKv for MemoryKv {
    async fn put(&self, key: &str, value: &[u8], ttl: TimeDelta) -> Result<(), CacheError> {
        if self.sessions.insert(
            key.to_owned(),
            Arc::new(Zeroizing::new(value.to_vec())),
            ttl,
        ) {
            Ok(())
        } else {
            Err(CacheError::Unavailable(
                "the in-process session store is full".into(),
            ))
        }
    }
    async fn put_pending(
        &self,
        client: &str,
        key: &str,
        value: &[u8],
        ttl: TimeDelta,
    ) -> Result<(), CacheError> {
        self.pending.insert(
            client,
            key.to_owned(),
            Arc::new(Zeroizing::new(value.to_vec())),
            ttl,
        );
        Ok(())
    }
    async fn get(&self, key: &str) -> Result<Option<Zeroizing<Vec<u8>>>, CacheError> {
        Ok(self
            .pending
            .get(key)
            .or_else(|| self.sessions.get(key))
            .map(|v| Zeroizing::new(v.to_vec())))
    }
    async fn take(&self, key: &str) -> Result<Option<Zeroizing<Vec<u8>>>, CacheError> {
        Ok(self
            .pending
            .take(key)
            .or_else(|| self.sessions.take(key))
            .map(|v| Zeroizing::new(v.to_vec())))
    }
    async fn remove(&self, key: &str) -> Result<(), CacheError> {
        self.pending.remove(key);
        self.sessions.remove(key);
        Ok(())
    }
}

/// Redis [`BrowserKv`], values sealed with the credential cache's keyring.
pub struct RedisKv {
    link: RedisLink,
    prefix: String,
    keyring: Arc<Keyring>,
    max_pending: usize,
    max_pending_per_client: usize,
    /// Budget of one command ([`OP_TIMEOUT`] unless set with [`RedisKv::with_op_timeout`]).
    op_timeout: Duration,
}

/// Insert a pending login and trim its client's index and the overall index, oldest first,
/// deleting the evicted entries. KEYS: entry, overall index, client index, sequence counter.
/// ARGV: sealed value, TTL ms, per-client bound, overall bound, client index key prefix, client
/// id. Overall-index members are `<client id> <entry key>` so an eviction there also leaves the
/// client's index; every index is bounded, so Redis holds at most about three times the overall
/// bound in pending-login members, whatever the request rate.
const PUT_PENDING: &str = r"
local seq = redis.call('INCR', KEYS[4])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local member = ARGV[6] .. ' ' .. KEYS[1]
redis.call('ZADD', KEYS[2], seq, member)
redis.call('ZADD', KEYS[3], seq, KEYS[1])
redis.call('PEXPIRE', KEYS[3], ARGV[2])
local over = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[3])
if over > 0 then
  local old = redis.call('ZPOPMIN', KEYS[3], over)
  for i = 1, #old, 2 do
    redis.call('DEL', old[i])
    redis.call('ZREM', KEYS[2], ARGV[6] .. ' ' .. old[i])
  end
end
over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[4])
if over > 0 then
  local old = redis.call('ZPOPMIN', KEYS[2], over)
  for i = 1, #old, 2 do
    local sp = string.find(old[i], ' ', 1, true)
    local entry = string.sub(old[i], sp + 1)
    redis.call('DEL', entry)
    redis.call('ZREM', ARGV[5] .. string.sub(old[i], 1, sp - 1), entry)
  end
end
return 1
";

impl std::fmt::Debug for RedisKv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisKv")
            .field("prefix", &self.prefix)
            .field("link", &self.link)
            .finish_non_exhaustive()
    }
}

impl RedisKv {
    /// Connect to a standalone Redis at `url`.
    pub async fn connect(
        url: &str,
        key_prefix: &str,
        keyring: Keyring,
    ) -> Result<Self, CacheError> {
        let link = RedisLink::connect_url(url).await.map_err(unavailable)?;
        Ok(Self::new(link, key_prefix, keyring))
    }

    /// On an open link (any topology).
    pub fn new(link: RedisLink, key_prefix: &str, keyring: impl Into<Arc<Keyring>>) -> Self {
        Self {
            link,
            prefix: format!("{key_prefix}{{web}}:"),
            keyring: keyring.into(),
            max_pending: MAX_PENDING,
            max_pending_per_client: MAX_PENDING_PER_CLIENT,
            op_timeout: OP_TIMEOUT,
        }
    }

    /// With other pending-login bounds (tests).
    pub fn with_pending_limits(mut self, max: usize, per_client: usize) -> Self {
        self.max_pending = max.max(1);
        self.max_pending_per_client = per_client.max(1);
        self
    }

    /// With another budget per command than [`OP_TIMEOUT`] (tests that check what the store
    /// answers rather than how fast; the broker always uses [`OP_TIMEOUT`]).
    #[must_use]
    pub fn with_op_timeout(mut self, budget: Duration) -> Self {
        self.op_timeout = budget;
        self
    }

    fn full(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn aad(&self, key: &str) -> Vec<u8> {
        [AAD_DOMAIN, key.as_bytes()].concat()
    }

    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, CacheError> {
        self.link
            .query(Store::Browser, self.op_timeout, cmd)
            .await
            .map_err(unavailable)
    }

    /// A write that must survive a failover (sessions, single-use state).
    async fn write<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, CacheError> {
        self.link
            .write(Store::Browser, self.op_timeout, cmd)
            .await
            .map_err(unavailable)
    }

    fn open(
        &self,
        key: &str,
        v: Option<Vec<u8>>,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, CacheError> {
        v.map(|v| self.keyring.open_bytes(&self.aad(key), &v))
            .transpose()
    }
}

#[async_trait::async_trait]
impl BrowserKv for RedisKv {
    async fn put(&self, key: &str, value: &[u8], ttl: TimeDelta) -> Result<(), CacheError> {
        let sealed = self.keyring.seal_bytes(&self.aad(key), value)?;
        let ms = ttl.num_milliseconds().max(1);
        self.write::<()>(
            redis::cmd("SET")
                .arg(self.full(key))
                .arg(sealed)
                .arg("PX")
                .arg(ms),
        )
        .await
    }
    async fn put_pending(
        &self,
        client: &str,
        key: &str,
        value: &[u8],
        ttl: TimeDelta,
    ) -> Result<(), CacheError> {
        let sealed = self.keyring.seal_bytes(&self.aad(key), value)?;
        let ms = ttl.num_milliseconds().max(1);
        // The client's address is personal data: only its hash names its index.
        let client = &super::token_hash(client)[..32];
        let client_prefix = self.full("pending-client:");
        let script = redis::Script::new(PUT_PENDING);
        let mut invocation = script.prepare_invoke();
        invocation
            .key(self.full(key))
            .key(self.full("pending-index"))
            .key(format!("{client_prefix}{client}"))
            .key(self.full("pending-seq"))
            .arg(sealed)
            .arg(ms)
            .arg(self.max_pending_per_client)
            .arg(self.max_pending)
            .arg(client_prefix)
            .arg(client);
        self.link
            .write_script::<i64>(Store::Browser, self.op_timeout, &invocation)
            .await
            .map_err(unavailable)
            .map(|_| ())
    }
    async fn get(&self, key: &str) -> Result<Option<Zeroizing<Vec<u8>>>, CacheError> {
        let v: Option<Vec<u8>> = self.query(redis::cmd("GET").arg(self.full(key))).await?;
        self.open(key, v)
    }
    async fn take(&self, key: &str) -> Result<Option<Zeroizing<Vec<u8>>>, CacheError> {
        let v: Option<Vec<u8>> = self.write(redis::cmd("GETDEL").arg(self.full(key))).await?;
        self.open(key, v)
    }
    async fn remove(&self, key: &str) -> Result<(), CacheError> {
        self.write::<i64>(redis::cmd("DEL").arg(self.full(key)))
            .await
            .map(|_| ())
    }
}
