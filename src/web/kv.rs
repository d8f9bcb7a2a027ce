//! Where browser state lives (pending logins, broker sessions): in-process by default, or Redis
//! so that any replica can finish a login or serve a session another replica started.
//!
//! Invariants: keys are the caller's (already hashed) names under `<key_prefix>web:`; in Redis
//! every value is an AES-256-GCM envelope (the credential cache's keyring, AAD = domain + key), so
//! an ID token, assertion or PKCE verifier is never readable there, and an envelope moved to another
//! key does not open; `take` is atomic (`GETDEL`), so single-use state is single-use across
//! replicas; every Redis command is bounded by the cache's `OP_TIMEOUT`.

use super::store::ExpiringStore;
use crate::cache::redis::{connect_manager, unavailable, OP_TIMEOUT};
use crate::cache::{CacheError, Keyring};
use crate::clock::SharedClock;
use chrono::TimeDelta;
use redis::aio::ConnectionManager;
use std::sync::Arc;
use zeroize::Zeroizing;

/// AAD domain of browser-state envelopes (distinct from credential-cache entries).
const AAD_DOMAIN: &[u8] = b"fedbroker.browser-state.v1\0";

/// A small key-value store with expiry and single-use reads.
#[async_trait::async_trait]
pub trait BrowserKv: Send + Sync + std::fmt::Debug {
    async fn put(&self, key: &str, value: &[u8], ttl: TimeDelta) -> Result<(), CacheError>;
    async fn get(&self, key: &str) -> Result<Option<Zeroizing<Vec<u8>>>, CacheError>;
    /// Remove and return (single use).
    async fn take(&self, key: &str) -> Result<Option<Zeroizing<Vec<u8>>>, CacheError>;
    async fn remove(&self, key: &str) -> Result<(), CacheError>;
}

/// In-process [`BrowserKv`] (one replica: use session affinity with several).
#[derive(Debug)]
pub struct MemoryKv(ExpiringStore<Arc<Zeroizing<Vec<u8>>>>);

impl MemoryKv {
    pub fn new(clock: SharedClock) -> Self {
        Self(ExpiringStore::new(clock))
    }
}

#[async_trait::async_trait]
impl BrowserKv for MemoryKv {
    async fn put(&self, key: &str, value: &[u8], ttl: TimeDelta) -> Result<(), CacheError> {
        if self.0.insert(
            key.to_owned(),
            Arc::new(Zeroizing::new(value.to_vec())),
            ttl,
        ) {
            Ok(())
        } else {
            Err(CacheError::Unavailable(
                "the in-process browser store is full".into(),
            ))
        }
    }
    async fn get(&self, key: &str) -> Result<Option<Zeroizing<Vec<u8>>>, CacheError> {
        Ok(self.0.get(key).map(|v| Zeroizing::new(v.to_vec())))
    }
    async fn take(&self, key: &str) -> Result<Option<Zeroizing<Vec<u8>>>, CacheError> {
        Ok(self.0.take(key).map(|v| Zeroizing::new(v.to_vec())))
    }
    async fn remove(&self, key: &str) -> Result<(), CacheError> {
        self.0.remove(key);
        Ok(())
    }
}

/// Redis [`BrowserKv`], values sealed with the credential cache's keyring.
pub struct RedisKv {
    conn: ConnectionManager,
    prefix: String,
    keyring: Arc<Keyring>,
}

impl std::fmt::Debug for RedisKv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisKv")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisKv {
    pub async fn connect(
        url: &str,
        key_prefix: &str,
        keyring: Keyring,
    ) -> Result<Self, CacheError> {
        let conn = connect_manager(url).await?;
        Ok(Self {
            conn,
            prefix: format!("{key_prefix}web:"),
            keyring: Arc::new(keyring),
        })
    }

    fn full(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    fn aad(&self, key: &str) -> Vec<u8> {
        [AAD_DOMAIN, key.as_bytes()].concat()
    }

    async fn query<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Result<T, CacheError> {
        let mut conn = self.conn.clone();
        tokio::time::timeout(OP_TIMEOUT, cmd.query_async(&mut conn))
            .await
            .map_err(unavailable)?
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
        self.query::<()>(
            redis::cmd("SET")
                .arg(self.full(key))
                .arg(sealed)
                .arg("PX")
                .arg(ms),
        )
        .await
    }
    async fn get(&self, key: &str) -> Result<Option<Zeroizing<Vec<u8>>>, CacheError> {
        let v: Option<Vec<u8>> = self.query(redis::cmd("GET").arg(self.full(key))).await?;
        self.open(key, v)
    }
    async fn take(&self, key: &str) -> Result<Option<Zeroizing<Vec<u8>>>, CacheError> {
        let v: Option<Vec<u8>> = self.query(redis::cmd("GETDEL").arg(self.full(key))).await?;
        self.open(key, v)
    }
    async fn remove(&self, key: &str) -> Result<(), CacheError> {
        self.query::<i64>(redis::cmd("DEL").arg(self.full(key)))
            .await
            .map(|_| ())
    }
}
