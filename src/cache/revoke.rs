//! Revocation: purge entries by label (subject, role), block re-issue for a while, and answer
//! whether a label is blocked.
//!
//! Invariants:
//! - a revocation is applied to the in-process store first (this replica is safe at once), then to
//!   the shared store; if Redis fails the revocation reports [`CacheError::Unavailable`] so the
//!   operator knows other replicas were not reached (and retries);
//! - `blocked` reads the shared store when it answers; when it does not, the local mirror (every
//!   block made through this replica) decides: a revocation made through *another* replica during a
//!   Redis outage cannot be seen, which `docs/CACHE.md` states;
//! - `check_and_read` is `blocked` plus the entry read in one store call (the cache hit's only
//!   Redis round trip); it reads Redis every time (no in-process copy), so a block made through any
//!   replica refuses the next hit everywhere;
//! - revoked keys leave the refresher's registry, so they are not renewed.

use super::metrics::inc;
use super::service::{lock, CachingExchange};
use super::{CacheError, CacheKey, CachedCredentials, CredentialCache, Guarded, Label, Purged};
use std::time::Duration;

/// A block check that passed and the entry read with it, for
/// [`CachingExchange::get_or_fetch_checked`].
#[derive(Debug)]
pub struct Checked {
    pub(super) key: CacheKey,
    pub(super) entry: Option<CachedCredentials>,
}

impl Checked {
    /// The cache key checked and read.
    pub fn key(&self) -> &CacheKey {
        &self.key
    }
}

impl CachingExchange {
    /// Purge every entry under `labels` and block them for `block_for` (zero: purge only).
    pub async fn revoke(
        &self,
        labels: &[Label],
        block_for: Duration,
    ) -> Result<Purged, CacheError> {
        let inner = &self.inner;
        inc(&inner.metrics.revocations);
        let mut purged = Purged::default();
        for l in labels {
            if !block_for.is_zero() {
                inner.local.block(l, block_for).await?;
            }
            purged.add(inner.local.purge_label(l).await?);
        }
        lock(&inner.hot).retain(|_, h| !h.has_any(labels));
        if inner.shared {
            for l in labels {
                if !block_for.is_zero() {
                    inner.store.block(l, block_for).await?;
                }
                purged.add(inner.store.purge_label(l).await?);
            }
        }
        Ok(purged)
    }

    /// Whether any of `labels` is blocked (see the module doc for the Redis-down case); a `true`
    /// counts as a refused request in the metrics.
    pub async fn blocked(&self, labels: &[Label]) -> bool {
        let blocked = self.is_blocked(labels).await;
        if blocked {
            inc(&self.inner.metrics.blocked);
        }
        blocked
    }

    /// [`Self::blocked`] and the first read of `key` in one store call (one Redis round trip):
    /// `None` (counted as refused) if a label is blocked, as `blocked` would say, else what
    /// [`Self::get_or_fetch_checked`] serves or fetches from. The entry comes from the shared store
    /// when it answers, else from the fallback, as `get_or_fetch_with` reads it.
    pub async fn check_and_read(&self, key: &CacheKey, labels: &[Label]) -> Option<Checked> {
        let inner = &self.inner;
        let guarded = match self.read_shared(key, labels).await {
            // The shared store answered; the local mirror of blocks still counts.
            Some(Guarded::Open(entry)) if !inner.local.blocked(labels).await.unwrap_or(false) => {
                Guarded::Open(entry)
            }
            Some(_) => Guarded::Blocked,
            // The in-process store is the only one, or the fallback while the shared one fails.
            None => inner
                .local
                .get_unless_blocked(key, labels)
                .await
                .unwrap_or(Guarded::Open(None)),
        };
        match guarded {
            Guarded::Open(entry) => Some(Checked {
                key: key.clone(),
                entry,
            }),
            Guarded::Blocked => {
                inc(&inner.metrics.blocked);
                None
            }
        }
    }

    /// The shared store's answer; `None` without one, or while it fails.
    async fn read_shared(&self, key: &CacheKey, labels: &[Label]) -> Option<Guarded> {
        let inner = &self.inner;
        if !inner.shared || !inner.shared_usable() {
            return None;
        }
        match inner.store.get_unless_blocked(key, labels).await {
            Ok(guarded) => Some(guarded),
            Err(CacheError::Corrupt(why)) => {
                tracing::warn!(cache.key = %key, cache.error = %why, "unreadable cache entry ignored");
                Some(Guarded::Open(None))
            }
            Err(e) => {
                inner.shared_failed(&e);
                None
            }
        }
    }

    pub(super) async fn is_blocked(&self, labels: &[Label]) -> bool {
        if labels.is_empty() {
            return false;
        }
        let inner = &self.inner;
        let blocked = if inner.shared && inner.shared_usable() {
            match inner.store.blocked(labels).await {
                Ok(b) => b,
                Err(e) => {
                    inner.shared_failed(&e);
                    false
                }
            }
        } else {
            false
        };
        blocked || inner.local.blocked(labels).await.unwrap_or(false)
    }
}
