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
//! - revoked keys leave the refresher's registry, so they are not renewed.

use super::metrics::inc;
use super::service::{lock, CachingExchange};
use super::{CacheError, CredentialCache, Label, Purged};
use std::time::Duration;

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
