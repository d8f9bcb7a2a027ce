//! Credential cache: STS credentials keyed by everything that shapes the session.
//!
//! - [`key`]: [`CacheKey`] derivation (hash of provider, subject, role, mode, tags, ...);
//! - [`CredentialCache`]: the store trait, with an in-process ([`memory`], default) and a Redis
//!   ([`redis`], standalone or cluster, AES-256-GCM envelopes from [`crypto`]) implementation, both
//!   held to one conformance suite (`tests/all/cache/conformance.rs`);
//! - [`service`]: [`CachingExchange`], the policy on top: serve while more than the refresh window
//!   remains, refresh early by one caller, single flight in-process and across replicas, a short
//!   negative cache, and fallback to in-process + direct STS when Redis fails;
//! - `state`: what one cache holds and the single flight (one fetch per key and process, locked
//!   across replicas); [`service`], [`revoke`] and [`refresher`] use it, it uses none of them;
//! - [`label`], [`revoke`]: revocation by subject or role, and blocks on re-issue;
//! - `hot`, [`refresher`]: the registry of hot assume-role / issuer keys and their background
//!   renewal.
//!
//! Invariants: no store keeps a raw subject or token in a key name; Redis never holds a readable
//! secret; every time decision reads the injected clock. Design notes: `docs/CACHE.md`.

pub mod crypto;
mod hot;
pub mod key;
pub mod label;
pub mod memory;
pub mod metrics;
pub mod redis;
pub mod refresher;
pub mod revoke;
pub mod service;
mod state;
pub mod window;

pub use self::crypto::Keyring;
pub use self::hot::RenewFn;
pub use self::key::{CacheKey, CacheKeyInput};
pub use self::label::Label;
pub use self::memory::MemoryCredentialCache;
pub use self::metrics::{CacheMetrics, CacheMetricsSnapshot};
pub use self::redis::RedisCredentialCache;
pub use self::refresher::REFRESHER_EVERY;
pub use self::revoke::Checked;
pub use self::service::{CacheHealth, CacheOutcome, CachingExchange};
pub use self::window::{EARLY_REFRESH_MARGIN, REFRESH_WINDOW};

use crate::error::{ApiError, ErrorKind};
use crate::sts::StsCredentials;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// A cached credential and when it was fetched (to know its lifetime for the refresh window).
#[derive(Clone, Debug)]
pub struct CachedCredentials {
    pub credentials: StsCredentials,
    /// When the broker received it from STS (injected clock).
    pub fetched_at: DateTime<Utc>,
}

/// What [`CredentialCache::get_unless_blocked`] found.
#[expect(
    clippy::large_enum_variant,
    reason = "a return value moved once, never stored: boxing would cost an allocation per cache hit"
)]
#[derive(Clone, Debug)]
pub enum Guarded {
    /// One of the labels is blocked: the entry was not read (or not opened).
    Blocked,
    /// No label is blocked; the entry under the key, if any.
    Open(Option<CachedCredentials>),
}

/// A held lock: only the holder's token can renew or release it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockToken(pub String);

impl LockToken {
    pub fn random() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The store did not answer (connection refused, timeout, cluster down).
    #[error("the credential cache is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// An entry could not be read back (wrong key, tampered or moved entry, unknown format).
    #[error("{0}")]
    Corrupt(String),
}

impl ApiError for CacheError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Unavailable(_) => ErrorKind::Unavailable,
            Self::Corrupt(_) => ErrorKind::Internal,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::Unavailable(_) => "credential_cache_unavailable",
            Self::Corrupt(_) => "credential_cache_corrupt",
        }
    }
    fn retry_after(&self) -> Option<u64> {
        matches!(self, Self::Unavailable(_)).then_some(2)
    }
}

/// A store of credentials, plus the short leases used for single flight across replicas.
#[async_trait::async_trait]
pub trait CredentialCache: Send + Sync + std::fmt::Debug {
    /// The entry under `key`, if one was put less than its `ttl` ago and not purged.
    async fn get(&self, key: &CacheKey) -> Result<Option<CachedCredentials>, CacheError>;
    /// Store `entry` under `key` for `ttl` (replacing any previous entry).
    async fn put(
        &self,
        key: &CacheKey,
        entry: &CachedCredentials,
        ttl: Duration,
    ) -> Result<(), CacheError>;
    /// Take the fetch lock for `key` for `lease` unless someone else holds it: `Ok(None)` then.
    async fn try_lock(
        &self,
        key: &CacheKey,
        lease: Duration,
    ) -> Result<Option<LockToken>, CacheError>;
    /// Extend a held lock to `lease` from now; `Ok(false)` if it is no longer ours (expired).
    async fn renew(
        &self,
        key: &CacheKey,
        token: &LockToken,
        lease: Duration,
    ) -> Result<bool, CacheError>;
    /// Release a held lock (no effect if it expired and someone else took it).
    async fn release(&self, key: &CacheKey, token: &LockToken) -> Result<(), CacheError>;
    /// Drop the entry under `key` (revocation); `Ok(true)` if there was one.
    async fn purge(&self, key: &CacheKey) -> Result<bool, CacheError>;
    /// Whether the store answers (readiness).
    async fn ping(&self) -> Result<(), CacheError>;

    /// Record `key` under each of `labels` (subject, role) for at least `ttl`, so a revocation by
    /// label can find it.
    async fn label(
        &self,
        key: &CacheKey,
        labels: &[Label],
        ttl: Duration,
    ) -> Result<(), CacheError>;
    /// Drop every entry recorded under `label` (revocation).
    async fn purge_label(&self, label: &Label) -> Result<Purged, CacheError>;
    /// Refuse new issuance for `label` for `ttl` (replaces a shorter or longer earlier block).
    async fn block(&self, label: &Label, ttl: Duration) -> Result<(), CacheError>;
    /// Whether any of `labels` is blocked now.
    async fn blocked(&self, labels: &[Label]) -> Result<bool, CacheError>;

    /// [`Self::blocked`] then, unless blocked, [`Self::get`]: the cache hit's only store call.
    /// Stores answer it in one step (one lock, one Redis round trip) where they can, keeping that
    /// order (a block set before the check is seen; the entry is read after the check).
    /// `Err(Corrupt)` means no label is blocked but the entry is unreadable.
    async fn get_unless_blocked(
        &self,
        key: &CacheKey,
        labels: &[Label],
    ) -> Result<Guarded, CacheError> {
        blocked_then_get(self, key, labels).await
    }
}

/// [`CredentialCache::get_unless_blocked`] as two calls, `blocked` then `get`: the default, and what
/// a store falls back to when it cannot do both in one step.
pub(crate) async fn blocked_then_get<S: CredentialCache + ?Sized>(
    store: &S,
    key: &CacheKey,
    labels: &[Label],
) -> Result<Guarded, CacheError> {
    if store.blocked(labels).await? {
        return Ok(Guarded::Blocked);
    }
    Ok(Guarded::Open(store.get(key).await?))
}

/// What a purge by label removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Purged {
    /// Entries dropped.
    pub entries: u64,
    /// The assumed-role ARNs (`arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`) of the dropped
    /// entries that could be read: they name the sessions AWS still honours until they expire.
    pub sessions: Vec<String>,
}

impl Purged {
    pub fn add(&mut self, other: Purged) {
        self.entries += other.entries;
        self.sessions.extend(other.sessions);
        self.sessions.sort();
        self.sessions.dedup();
    }
}
