//! An in-process map whose entries expire (injected clock), bounded in size: the store behind
//! broker sessions (pending logins have their own, evicting store: `sign_in::pending`).
//!
//! Invariants: an expired entry is never returned; `take` removes atomically (single use); when
//! full, expired entries are swept and, if still full, the insert is refused (the caller answers
//! 503 rather than evicting someone's session).

use crate::clock::SharedClock;
use chrono::{DateTime, TimeDelta, Utc};
use std::collections::HashMap;
use std::sync::Mutex;

/// Most entries one store holds.
pub const MAX_ENTRIES: usize = 100_000;

#[derive(Debug)]
pub struct ExpiringStore<T> {
    clock: SharedClock,
    map: Mutex<HashMap<String, (T, DateTime<Utc>)>>,
}

impl<T: Clone> ExpiringStore<T> {
    pub fn new(clock: SharedClock) -> Self {
        Self {
            clock,
            map: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (T, DateTime<Utc>)>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Insert for `ttl`; `false` when the store is full.
    pub fn insert(&self, key: String, value: T, ttl: TimeDelta) -> bool {
        let now = self.clock.now();
        let mut map = self.lock();
        if map.len() >= MAX_ENTRIES {
            map.retain(|_, (_, until)| *until > now);
            if map.len() >= MAX_ENTRIES {
                return false;
            }
        }
        map.insert(key, (value, now + ttl));
        true
    }

    /// The live entry under `key`.
    pub fn get(&self, key: &str) -> Option<T> {
        let now = self.clock.now();
        let mut map = self.lock();
        match map.get(key) {
            Some((v, until)) if *until > now => Some(v.clone()),
            Some(_) => {
                map.remove(key);
                None
            }
            None => None,
        }
    }

    /// Remove and return the live entry under `key` (single use).
    pub fn take(&self, key: &str) -> Option<T> {
        let now = self.clock.now();
        match self.lock().remove(key) {
            Some((v, until)) if until > now => Some(v),
            _ => None,
        }
    }

    pub fn remove(&self, key: &str) {
        self.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use std::sync::Arc;

    #[test]
    fn take_is_single_use_and_expiry_is_enforced() {
        let clock = Arc::new(FixedClock::new(Utc::now()));
        let s: ExpiringStore<u8> = ExpiringStore::new(clock.clone());
        assert!(s.insert("a".into(), 1, TimeDelta::seconds(10)));
        assert_eq!(s.get("a"), Some(1));
        assert_eq!(s.take("a"), Some(1));
        assert_eq!(s.take("a"), None, "single use");
        s.insert("b".into(), 2, TimeDelta::seconds(10));
        clock.advance(TimeDelta::seconds(10));
        assert_eq!(s.get("b"), None, "expired at its deadline");
    }
}
