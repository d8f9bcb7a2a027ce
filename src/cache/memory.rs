//! In-process credential cache: the default store, and the fallback when Redis fails.
//!
//! Two maps under one mutex: entries (`CacheKey` → credentials + expiry) and locks (`CacheKey` →
//! token + lease end), both read against the injected clock. Invariants:
//! - nothing leaves the process, so entries are kept as [`CachedCredentials`] (secrets stay
//!   `SecretString`, zeroized on drop) without encryption: a key held in the same memory would add
//!   nothing against someone who can read that memory;
//! - at most [`MAX_ENTRIES`] entries: when full, expired entries are purged, and if still full the
//!   new entry is simply not cached (a cache may forget; the caller then asks STS again);
//! - a lock is held by one token at a time until its lease ends;
//! - labels (revocation) index live entries only: an entry's labels go when it goes, and a block
//!   ends at its deadline.

use super::{
    CacheError, CacheKey, CachedCredentials, CredentialCache, Guarded, Label, LockToken, Purged,
};
use crate::clock::SharedClock;
use chrono::{DateTime, TimeDelta, Utc};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

/// Most entries held at once. An entry is a few KB (session tokens have no fixed size, typically
/// under 4 KB), so this caps the cache near 400 MB in the worst case.
pub const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Default)]
struct State {
    entries: HashMap<CacheKey, (CachedCredentials, DateTime<Utc>)>,
    locks: HashMap<CacheKey, (LockToken, DateTime<Utc>)>,
    labels: HashMap<Label, HashSet<CacheKey>>,
    blocks: HashMap<Label, DateTime<Utc>>,
}

impl State {
    /// Drop what has expired (entries, locks, blocks) and labels pointing at nothing.
    fn sweep(&mut self, now: DateTime<Utc>) {
        self.entries.retain(|_, (_, u)| *u > now);
        self.locks.retain(|_, (_, u)| *u > now);
        self.blocks.retain(|_, u| *u > now);
        let entries = &self.entries;
        self.labels.retain(|_, keys| {
            keys.retain(|k| entries.contains_key(k));
            !keys.is_empty()
        });
    }

    /// The live entry under `key` (an expired one is dropped).
    fn get(&mut self, key: &CacheKey, now: DateTime<Utc>) -> Option<CachedCredentials> {
        match self.entries.get(key) {
            Some((entry, until)) if *until > now => Some(entry.clone()),
            Some(_) => {
                self.entries.remove(key);
                None
            }
            None => None,
        }
    }

    fn blocked(&self, labels: &[Label], now: DateTime<Utc>) -> bool {
        labels
            .iter()
            .any(|l| matches!(self.blocks.get(l), Some(u) if *u > now))
    }
}

/// In-process [`CredentialCache`].
#[derive(Debug)]
pub struct MemoryCredentialCache {
    clock: SharedClock,
    max_entries: usize,
    state: Mutex<State>,
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

impl MemoryCredentialCache {
    pub fn new(clock: SharedClock) -> Self {
        Self::with_capacity(clock, MAX_ENTRIES)
    }

    /// A cache with a smaller bound (tests).
    pub fn with_capacity(clock: SharedClock, max_entries: usize) -> Self {
        Self {
            clock,
            max_entries,
            state: Mutex::new(State::default()),
        }
    }

    /// Entries held (live or not yet purged).
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Drop expired entries, locks, blocks and labels now (the service's background task calls
    /// this every minute, so expired secrets do not linger in memory until the map fills).
    pub fn sweep(&self) {
        let now = self.clock.now();
        self.lock().sweep(now);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // Every update is a single insert/remove/retain: a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait::async_trait]
impl CredentialCache for MemoryCredentialCache {
    async fn get(&self, key: &CacheKey) -> Result<Option<CachedCredentials>, CacheError> {
        let now = self.clock.now();
        Ok(self.lock().get(key, now))
    }

    async fn put(
        &self,
        key: &CacheKey,
        entry: &CachedCredentials,
        ttl: Duration,
    ) -> Result<(), CacheError> {
        let now = self.clock.now();
        let until = now + delta(ttl);
        let mut st = self.lock();
        if !st.entries.contains_key(key) && st.entries.len() >= self.max_entries {
            st.sweep(now);
            if st.entries.len() >= self.max_entries {
                return Ok(());
            }
        }
        st.entries.insert(key.clone(), (entry.clone(), until));
        Ok(())
    }

    async fn try_lock(
        &self,
        key: &CacheKey,
        lease: Duration,
    ) -> Result<Option<LockToken>, CacheError> {
        let now = self.clock.now();
        let mut st = self.lock();
        if matches!(st.locks.get(key), Some((_, until)) if *until > now) {
            return Ok(None);
        }
        let token = LockToken::random();
        st.locks
            .insert(key.clone(), (token.clone(), now + delta(lease)));
        Ok(Some(token))
    }

    async fn renew(
        &self,
        key: &CacheKey,
        token: &LockToken,
        lease: Duration,
    ) -> Result<bool, CacheError> {
        let now = self.clock.now();
        let mut st = self.lock();
        match st.locks.get_mut(key) {
            Some((held, until)) if held == token && *until > now => {
                *until = now + delta(lease);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn release(&self, key: &CacheKey, token: &LockToken) -> Result<(), CacheError> {
        let mut st = self.lock();
        if matches!(st.locks.get(key), Some((held, _)) if held == token) {
            st.locks.remove(key);
        }
        Ok(())
    }

    async fn purge(&self, key: &CacheKey) -> Result<bool, CacheError> {
        Ok(self.lock().entries.remove(key).is_some())
    }

    async fn ping(&self) -> Result<(), CacheError> {
        Ok(())
    }

    async fn label(
        &self,
        key: &CacheKey,
        labels: &[Label],
        _ttl: Duration,
    ) -> Result<(), CacheError> {
        let mut st = self.lock();
        if !st.entries.contains_key(key) {
            return Ok(());
        }
        for l in labels {
            st.labels.entry(l.clone()).or_default().insert(key.clone());
        }
        Ok(())
    }

    async fn purge_label(&self, label: &Label) -> Result<Purged, CacheError> {
        let now = self.clock.now();
        let mut st = self.lock();
        let mut out = Purged::default();
        for key in st.labels.remove(label).unwrap_or_default() {
            if let Some((e, until)) = st.entries.remove(&key) {
                if until > now {
                    out.entries += 1;
                    out.sessions.push(e.credentials.assumed_role_arn.clone());
                }
            }
        }
        out.sessions.sort();
        out.sessions.dedup();
        Ok(out)
    }

    async fn block(&self, label: &Label, ttl: Duration) -> Result<(), CacheError> {
        let until = self.clock.now() + delta(ttl);
        self.lock().blocks.insert(label.clone(), until);
        Ok(())
    }

    async fn blocked(&self, labels: &[Label]) -> Result<bool, CacheError> {
        let now = self.clock.now();
        Ok(self.lock().blocked(labels, now))
    }

    async fn get_unless_blocked(
        &self,
        key: &CacheKey,
        labels: &[Label],
    ) -> Result<Guarded, CacheError> {
        // One lock for both: nothing changes between the check and the read.
        let now = self.clock.now();
        let mut st = self.lock();
        if st.blocked(labels, now) {
            return Ok(Guarded::Blocked);
        }
        Ok(Guarded::Open(st.get(key, now)))
    }
}
