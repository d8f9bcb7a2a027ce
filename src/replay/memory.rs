//! In-process replay store (default when no `redis_url` is configured).
//!
//! A `Mutex<HashMap<digest, expiry>>` read against the injected clock. Invariants:
//! - a key is answered `true` at most once until its expiry (check and insert under one lock);
//! - only the SHA-256 of a key is kept ([`super::key_digest`]), so entries have a fixed size;
//! - the map never holds more than [`MAX_ENTRIES`]: when full, expired entries are purged, and if it
//!   is still full the store fails closed ([`ReplayError::Unavailable`]) instead of evicting live
//!   entries, because evicting a live entry would let that assertion be replayed.
//!
//! Only correct for a single broker instance; several instances need the Redis store.

use super::{key_digest, remember_until, ReplayError, ReplayGuard};
use crate::clock::SharedClock;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Mutex;

/// Most live keys held at once. An entry costs well under 100 bytes, so this caps the store near
/// 100 MB; a million assertions still valid at the same time is abuse, not load, and refusing new
/// logins (fail closed) is safer than forgetting a live entry.
pub const MAX_ENTRIES: usize = 1_000_000;

/// Purge expired entries after this many inserts, so memory follows the live set without a
/// background task. A purge is O(entries); amortised over this many inserts it is cheap.
pub const PURGE_EVERY_INSERTS: u64 = 10_000;

#[derive(Debug, Default)]
struct Entries {
    expiry: HashMap<[u8; 32], DateTime<Utc>>,
    inserts_since_purge: u64,
}

impl Entries {
    fn purge(&mut self, now: DateTime<Utc>) {
        self.expiry.retain(|_, until| *until > now);
        self.inserts_since_purge = 0;
    }
}

/// The store is at [`MAX_ENTRIES`] live entries.
#[derive(Debug, thiserror::Error)]
#[error("the in-process replay cache is full ({0} live entries)")]
struct StoreFull(usize);

/// In-process [`ReplayGuard`].
#[derive(Debug)]
pub struct MemoryReplayGuard {
    clock: SharedClock,
    max_entries: usize,
    entries: Mutex<Entries>,
}

impl MemoryReplayGuard {
    pub fn new(clock: SharedClock) -> Self {
        Self::with_capacity(clock, MAX_ENTRIES)
    }

    /// A store with a smaller bound (tests).
    pub fn with_capacity(clock: SharedClock, max_entries: usize) -> Self {
        Self {
            clock,
            max_entries,
            entries: Mutex::new(Entries::default()),
        }
    }

    /// Number of entries held (live or not yet purged).
    pub fn len(&self) -> usize {
        self.lock().expiry.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        // A panic while holding the lock cannot leave the map half-updated (single insert/retain),
        // so a poisoned lock is still consistent.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait::async_trait]
impl ReplayGuard for MemoryReplayGuard {
    async fn first_use(&self, key: &str, until: DateTime<Utc>) -> Result<bool, ReplayError> {
        let digest = key_digest(key);
        let now = self.clock.now();
        let until = remember_until(now, until);
        let mut entries = self.lock();

        if let Some(expiry) = entries.expiry.get(&digest) {
            if *expiry > now {
                return Ok(false);
            }
        } else if entries.expiry.len() >= self.max_entries {
            entries.purge(now);
            if entries.expiry.len() >= self.max_entries {
                return Err(ReplayError::Unavailable(Box::new(StoreFull(
                    entries.expiry.len(),
                ))));
            }
        }

        entries.expiry.insert(digest, until);
        entries.inserts_since_purge += 1;
        if entries.inserts_since_purge >= PURGE_EVERY_INSERTS {
            entries.purge(now);
        }
        Ok(true)
    }

    async fn ping(&self) -> Result<(), ReplayError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, FixedClock};
    use chrono::TimeDelta;
    use std::sync::Arc;

    fn clock() -> Arc<FixedClock> {
        Arc::new(FixedClock::new(
            DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z")
                .unwrap()
                .into(),
        ))
    }

    #[tokio::test]
    async fn full_store_purges_expired_then_fails_closed() {
        let clock = clock();
        let guard = MemoryReplayGuard::with_capacity(clock.clone(), 2);
        let t0 = clock.now();
        assert!(guard
            .first_use("a", t0 + TimeDelta::seconds(10))
            .await
            .unwrap());
        assert!(guard
            .first_use("b", t0 + TimeDelta::seconds(60))
            .await
            .unwrap());
        // Full of live entries: refuse rather than forget one.
        assert!(matches!(
            guard.first_use("c", t0 + TimeDelta::seconds(60)).await,
            Err(ReplayError::Unavailable(_))
        ));
        // A key already held is still answered while full.
        assert!(!guard
            .first_use("a", t0 + TimeDelta::seconds(10))
            .await
            .unwrap());
        // Once "a" expires, the purge frees a slot.
        clock.advance(TimeDelta::seconds(11));
        assert!(guard
            .first_use("c", t0 + TimeDelta::seconds(60))
            .await
            .unwrap());
        assert_eq!(guard.len(), 2);
    }

    #[tokio::test]
    async fn periodic_purge_drops_expired_entries() {
        let clock = clock();
        let guard = MemoryReplayGuard::new(clock.clone());
        let t0 = clock.now();
        for i in 0..PURGE_EVERY_INSERTS - 1 {
            guard
                .first_use(&format!("k{i}"), t0 + TimeDelta::seconds(5))
                .await
                .unwrap();
        }
        clock.advance(TimeDelta::seconds(6));
        guard
            .first_use("last", t0 + TimeDelta::seconds(60))
            .await
            .unwrap();
        assert_eq!(guard.len(), 1);
    }

    #[tokio::test]
    async fn past_until_is_remembered_for_the_minimum() {
        let clock = clock();
        let guard = MemoryReplayGuard::new(clock.clone());
        let past = clock.now() - TimeDelta::seconds(30);
        assert!(guard.first_use("k", past).await.unwrap());
        assert!(!guard.first_use("k", past).await.unwrap());
        clock.advance(super::super::MIN_REMEMBER);
        assert!(guard.first_use("k", past).await.unwrap());
    }
}
