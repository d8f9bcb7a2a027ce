//! Revocation: purge entries by label (subject, role), block re-issue for a while, and answer
//! whether a label is blocked. Reached through [`super::CachingExchange`]; works on
//! `CacheState`.
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
use super::state::CacheState;
use super::{CacheError, CacheKey, CachedCredentials, CredentialCache, Guarded, Label, Purged};
use std::time::Duration;

/// A block check that passed and the entry read with it, for
/// [`super::CachingExchange::get_or_fetch_checked`].
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

/// Purge every entry under `labels` and block them for `block_for` (zero: purge only).
pub(super) async fn revoke(
    state: &CacheState,
    labels: &[Label],
    block_for: Duration,
) -> Result<Purged, CacheError> {
    inc(&state.metrics.revocations);
    let mut purged = Purged::default();
    for l in labels {
        if !block_for.is_zero() {
            state.local.block(l, block_for).await?;
        }
        purged.add(state.local.purge_label(l).await?);
    }
    state.hot.remove_labelled(labels);
    if state.shared {
        for l in labels {
            if !block_for.is_zero() {
                state.store.block(l, block_for).await?;
            }
            purged.add(state.store.purge_label(l).await?);
        }
    }
    Ok(purged)
}

/// Whether any of `labels` is blocked; a `true` counts as a refused request in the metrics.
pub(super) async fn blocked(state: &CacheState, labels: &[Label]) -> bool {
    let blocked = state.is_blocked(labels).await;
    if blocked {
        inc(&state.metrics.blocked);
    }
    blocked
}

/// [`blocked`] and the first read of `key` in one store call; `None` (counted as refused) if a
/// label is blocked.
pub(super) async fn check_and_read(
    state: &CacheState,
    key: &CacheKey,
    labels: &[Label],
) -> Option<Checked> {
    let guarded = match read_shared(state, key, labels).await {
        // The shared store answered; the local mirror of blocks still counts.
        Some(Guarded::Open(entry)) if !state.local.blocked(labels).await.unwrap_or(false) => {
            Guarded::Open(entry)
        }
        Some(_) => Guarded::Blocked,
        // The in-process store is the only one, or the fallback while the shared one fails.
        None => state
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
            inc(&state.metrics.blocked);
            None
        }
    }
}

/// The shared store's answer; `None` without one, or while it fails.
async fn read_shared(state: &CacheState, key: &CacheKey, labels: &[Label]) -> Option<Guarded> {
    if !state.shared || !state.shared_usable() {
        return None;
    }
    match state.store.get_unless_blocked(key, labels).await {
        Ok(guarded) => Some(guarded),
        Err(CacheError::Corrupt(why)) => {
            tracing::warn!(cache.key = %key, cache.error = %why, "unreadable cache entry ignored");
            Some(Guarded::Open(None))
        }
        Err(e) => {
            state.shared_failed(&e);
            None
        }
    }
}
