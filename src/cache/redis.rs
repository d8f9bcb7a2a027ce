//! Redis credential cache over the shared connection layer ([`crate::redis_link`]): standalone,
//! Redis Cluster or Sentinel.
//!
//! Key names (every command touches one key, so cluster slots never matter):
//! - `<prefix>cred:<cache key hex>` → AES-256-GCM envelope ([`super::crypto`]), `PX` = the TTL;
//! - `<prefix>lock:<cache key hex>` → a random lock token, `SET NX PX <lease>`; renew and release
//!   are compare-and-set Lua scripts, so only the holder extends or frees a lock;
//! - `<prefix>idx:<label>` → a set of cache key hexes (revocation by subject or role), kept for
//!   [`LABEL_TTL`] after its last addition;
//! - `<prefix>block:<label>` → `1`, `PX` = how long re-issue stays blocked.
//!
//! A cache hit is one round trip on a single node (standalone, Sentinel): `EXISTS <block keys>` and
//! `GET <entry>` pipelined, in that order ([`CredentialCache::get_unless_blocked`]). The cache is an
//! optimisation: its writes do not `WAIT` for a replica (a lost entry only costs an STS call).
//!
//! Invariants: no readable secret, subject or token in a key or a value (values are sealed, AAD =
//! cache key); every call is bounded by [`OP_TIMEOUT`] and reported as
//! [`CacheError::Unavailable`], so the caller can fall back instead of hanging; the connection
//! reconnects by itself (see [`crate::redis_link`]).

use super::crypto::Keyring;
use super::{
    blocked_then_get, CacheError, CacheKey, CachedCredentials, CredentialCache, Guarded, Label,
    LockToken, Purged,
};
use crate::redis_link::{RedisLink, Store};
use redis::{Cmd, FromRedisValue, Pipeline, Script};
use std::sync::Arc;
use std::time::Duration;

pub use crate::redis_link::{
    CLUSTER_RETRIES, CONNECT_TIMEOUT, RECONNECT_MAX_DELAY, RECONNECT_RETRIES,
};

/// Time allowed for one cache command by default (`cache.credential_cache_timeout_ms`). The
/// cache is an optimisation: past this, a login goes to STS directly rather than wait, so it is
/// much shorter than an STS call's budget. The browser store uses it too.
pub const OP_TIMEOUT: Duration = Duration::from_millis(OP_TIMEOUT_MS);

/// [`OP_TIMEOUT`] in milliseconds: the default of `cache.credential_cache_timeout_ms`.
pub const OP_TIMEOUT_MS: u64 = 500;

/// How long a label's index outlives its last addition: the longest STS session (12 h), so an
/// index never forgets an entry that can still be served.
pub const LABEL_TTL: Duration = Duration::from_secs(12 * 3600);

const RENEW_SCRIPT: &str = r"if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
else
  return 0
end";

const RELEASE_SCRIPT: &str = r"if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
else
  return 0
end";

/// Entries read and deleted per round trip when a label is purged (single node).
const PURGE_CHUNK: usize = 500;

/// Redis-backed [`CredentialCache`].
#[derive(Clone)]
pub struct RedisCredentialCache {
    link: RedisLink,
    key_prefix: String,
    keyring: Arc<Keyring>,
    renew: Arc<Script>,
    release: Arc<Script>,
    /// Budget of one command ([`OP_TIMEOUT`] unless configured).
    op_timeout: Duration,
}

impl std::fmt::Debug for RedisCredentialCache {
    // URLs may hold a password; show the prefix, the link's topology and the key ids only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCredentialCache")
            .field("key_prefix", &self.key_prefix)
            .field("link", &self.link)
            .field("keyring", &self.keyring)
            .finish()
    }
}

pub(crate) fn unavailable(e: impl std::error::Error + Send + Sync + 'static) -> CacheError {
    CacheError::Unavailable(Box::new(e))
}

impl RedisCredentialCache {
    /// Connect to a standalone Redis at `url`. Fails if it does not answer within
    /// [`CONNECT_TIMEOUT`], so a misconfiguration shows at start-up.
    pub async fn connect(
        url: &str,
        key_prefix: &str,
        keyring: Keyring,
    ) -> Result<Self, CacheError> {
        let link = RedisLink::connect_url(url).await.map_err(unavailable)?;
        Ok(Self::new(link, key_prefix, keyring))
    }

    /// Connect to a Redis Cluster through any of `urls` (seed nodes; the rest is discovered).
    pub async fn connect_cluster(
        urls: &[&str],
        key_prefix: &str,
        keyring: Keyring,
    ) -> Result<Self, CacheError> {
        let link = RedisLink::connect(&crate::redis_link::LinkSettings::cluster(urls))
            .await
            .map_err(unavailable)?;
        Ok(Self::new(link, key_prefix, keyring))
    }

    /// On an open link (any topology).
    pub fn new(link: RedisLink, key_prefix: &str, keyring: impl Into<Arc<Keyring>>) -> Self {
        Self {
            link,
            key_prefix: key_prefix.to_owned(),
            keyring: keyring.into(),
            renew: Arc::new(Script::new(RENEW_SCRIPT)),
            release: Arc::new(Script::new(RELEASE_SCRIPT)),
            op_timeout: OP_TIMEOUT,
        }
    }

    /// Another budget per command than [`OP_TIMEOUT`] (`cache.credential_cache_timeout_ms`).
    #[must_use]
    pub fn with_op_timeout(mut self, budget: Duration) -> Self {
        self.op_timeout = budget;
        self
    }

    /// The Redis key holding the entry for `key`.
    pub fn entry_key(&self, key: &CacheKey) -> String {
        format!("{}cred:{key}", self.key_prefix)
    }

    /// The Redis key holding the fetch lock for `key`.
    pub fn lock_key(&self, key: &CacheKey) -> String {
        format!("{}lock:{key}", self.key_prefix)
    }

    fn index_key(&self, label: &Label) -> String {
        format!("{}idx:{label}", self.key_prefix)
    }

    fn block_key(&self, label: &Label) -> String {
        format!("{}block:{label}", self.key_prefix)
    }

    async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, CacheError> {
        self.link
            .query(Store::Cache, self.op_timeout, cmd)
            .await
            .map_err(unavailable)
    }

    async fn query_pipe<T: FromRedisValue>(&self, pipe: &Pipeline) -> Result<T, CacheError> {
        self.link
            .query_pipe(Store::Cache, self.op_timeout, pipe)
            .await
            .map_err(unavailable)
    }

    async fn script(&self, script: &Script, key: String, args: &[&str]) -> Result<i64, CacheError> {
        let mut inv = script.key(key);
        for a in args {
            inv.arg(*a);
        }
        self.link
            .invoke(Store::Cache, self.op_timeout, &inv)
            .await
            .map_err(unavailable)
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1)
}

#[async_trait::async_trait]
impl CredentialCache for RedisCredentialCache {
    async fn get(&self, key: &CacheKey) -> Result<Option<CachedCredentials>, CacheError> {
        let raw: Option<Vec<u8>> = self
            .query(redis::cmd("GET").arg(self.entry_key(key)))
            .await?;
        raw.map(|v| self.keyring.open(key, &v)).transpose()
    }

    async fn put(
        &self,
        key: &CacheKey,
        entry: &CachedCredentials,
        ttl: Duration,
    ) -> Result<(), CacheError> {
        let sealed = self.keyring.seal(key, entry)?;
        let _: () = self
            .query(
                redis::cmd("SET")
                    .arg(self.entry_key(key))
                    .arg(sealed)
                    .arg("PX")
                    .arg(millis(ttl)),
            )
            .await?;
        Ok(())
    }

    async fn try_lock(
        &self,
        key: &CacheKey,
        lease: Duration,
    ) -> Result<Option<LockToken>, CacheError> {
        let token = LockToken::random();
        let reply: Option<String> = self
            .query(
                redis::cmd("SET")
                    .arg(self.lock_key(key))
                    .arg(&token.0)
                    .arg("NX")
                    .arg("PX")
                    .arg(millis(lease)),
            )
            .await?;
        Ok((reply.as_deref() == Some("OK")).then_some(token))
    }

    async fn renew(
        &self,
        key: &CacheKey,
        token: &LockToken,
        lease: Duration,
    ) -> Result<bool, CacheError> {
        let ms = millis(lease).to_string();
        let n = self
            .script(&self.renew, self.lock_key(key), &[&token.0, &ms])
            .await?;
        Ok(n == 1)
    }

    async fn release(&self, key: &CacheKey, token: &LockToken) -> Result<(), CacheError> {
        self.script(&self.release, self.lock_key(key), &[&token.0])
            .await?;
        Ok(())
    }

    async fn purge(&self, key: &CacheKey) -> Result<bool, CacheError> {
        let n: i64 = self
            .query(redis::cmd("DEL").arg(self.entry_key(key)))
            .await?;
        Ok(n > 0)
    }

    async fn ping(&self) -> Result<(), CacheError> {
        let _: String = self.query(&redis::cmd("PING")).await?;
        Ok(())
    }

    async fn label(
        &self,
        key: &CacheKey,
        labels: &[Label],
        _ttl: Duration,
    ) -> Result<(), CacheError> {
        // One key per command (cluster slots): SADD then PEXPIRE for each label.
        for l in labels {
            let idx = self.index_key(l);
            let _: i64 = self
                .query(redis::cmd("SADD").arg(&idx).arg(key.as_str()))
                .await?;
            let _: i64 = self
                .query(redis::cmd("PEXPIRE").arg(&idx).arg(millis(LABEL_TTL)))
                .await?;
        }
        Ok(())
    }

    async fn purge_label(&self, label: &Label) -> Result<Purged, CacheError> {
        let idx = self.index_key(label);
        let members: Vec<String> = self.query(redis::cmd("SMEMBERS").arg(&idx)).await?;
        let keys: Vec<CacheKey> = members
            .iter()
            .filter_map(|h| CacheKey::from_hex(h))
            .collect();
        let mut out = Purged::default();
        if self.link.single_node() {
            // Standalone: one round trip per PURGE_CHUNK entries: MGET (to report which AWS
            // sessions remain valid) then DEL, pipelined in that order.
            for chunk in keys.chunks(PURGE_CHUNK) {
                let entry_keys: Vec<String> = chunk.iter().map(|k| self.entry_key(k)).collect();
                let mut pipe = redis::pipe();
                pipe.cmd("MGET")
                    .arg(&entry_keys)
                    .cmd("DEL")
                    .arg(&entry_keys);
                let (raws, n): (Vec<Option<Vec<u8>>>, i64) = self.query_pipe(&pipe).await?;
                for (key, raw) in chunk.iter().zip(raws) {
                    if let Some(Ok(e)) = raw.map(|v| self.keyring.open(key, &v)) {
                        out.sessions.push(e.credentials.assumed_role_arn);
                    }
                }
                out.entries += u64::try_from(n).unwrap_or(0);
            }
        } else {
            // Cluster: entry keys live in different slots, so one key at a time.
            for key in &keys {
                if let Ok(Some(e)) = self.get(key).await {
                    out.sessions.push(e.credentials.assumed_role_arn);
                }
                let n: i64 = self
                    .query(redis::cmd("DEL").arg(self.entry_key(key)))
                    .await?;
                out.entries += u64::try_from(n).unwrap_or(0);
            }
        }
        let _: i64 = self.query(redis::cmd("DEL").arg(&idx)).await?;
        out.sessions.sort();
        out.sessions.dedup();
        Ok(out)
    }

    async fn block(&self, label: &Label, ttl: Duration) -> Result<(), CacheError> {
        let _: () = self
            .query(
                redis::cmd("SET")
                    .arg(self.block_key(label))
                    .arg(1)
                    .arg("PX")
                    .arg(millis(ttl)),
            )
            .await?;
        Ok(())
    }

    async fn blocked(&self, labels: &[Label]) -> Result<bool, CacheError> {
        if labels.is_empty() {
            return Ok(false);
        }
        // On every request: one round trip. Standalone: one EXISTS over all keys; cluster (keys
        // in different slots): one EXISTS per key, sent concurrently.
        if self.link.single_node() {
            let mut cmd = redis::cmd("EXISTS");
            for l in labels {
                cmd.arg(self.block_key(l));
            }
            let n: i64 = self.query(&cmd).await?;
            return Ok(n > 0);
        }
        let checks = labels.iter().map(|l| {
            let key = self.block_key(l);
            async move { self.query::<i64>(redis::cmd("EXISTS").arg(key)).await }
        });
        for n in futures_util::future::join_all(checks).await {
            if n? > 0 {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn get_unless_blocked(
        &self,
        key: &CacheKey,
        labels: &[Label],
    ) -> Result<Guarded, CacheError> {
        // Cluster (block and entry keys in different slots): `blocked` then `get`, in order.
        if labels.is_empty() || !self.link.single_node() {
            return blocked_then_get(self, key, labels).await;
        }
        // Standalone: EXISTS then GET pipelined, one round trip. Redis runs a connection's commands
        // in order, so the entry is read after the block check, as with two calls. A blocked
        // entry is never opened.
        let mut pipe = redis::pipe();
        let exists = pipe.cmd("EXISTS");
        for l in labels {
            exists.arg(self.block_key(l));
        }
        pipe.cmd("GET").arg(self.entry_key(key));
        let (n, raw): (i64, Option<Vec<u8>>) = self.query_pipe(&pipe).await?;
        if n > 0 {
            return Ok(Guarded::Blocked);
        }
        Ok(Guarded::Open(
            raw.map(|v| self.keyring.open(key, &v)).transpose()?,
        ))
    }
}
