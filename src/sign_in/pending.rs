//! Pending logins (OIDC `state`, SAML request IDs) in process: bounded on their own, per client
//! and overall, apart from broker sessions.
//!
//! Invariants: at most `max` entries in all and `per_client` per client; beyond either bound the
//! *oldest* pending login (of that client, or of all) is evicted, so a new login always starts
//! and a flood can only push out pending logins, never a session (sessions live in another
//! store); an expired entry is never returned; `take` removes atomically (single use).

use crate::clock::SharedClock;
use chrono::{DateTime, TimeDelta, Utc};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

/// Most pending logins held at once, all clients together (a login lasts at most `LOGIN_TTL`).
pub const MAX_PENDING: usize = 10_000;
/// Most pending logins one client (its address, `http::middleware::client_addr`) holds; its oldest is evicted
/// beyond this.
/// A few browsers behind one NAT each start a login or two; a flood from one address cannot
/// push out anyone else's until it has `MAX_PENDING / MAX_PENDING_PER_CLIENT` addresses.
pub const MAX_PENDING_PER_CLIENT: usize = 64;

#[derive(Debug)]
struct Entry<T> {
    value: T,
    until: DateTime<Utc>,
    client: String,
    seq: u64,
}

#[derive(Debug)]
struct Inner<T> {
    next: u64,
    entries: HashMap<String, Entry<T>>,
    /// Insertion order: sequence number → key.
    order: BTreeMap<u64, String>,
    /// Each client's sequence numbers, oldest first.
    by_client: HashMap<String, VecDeque<u64>>,
}

impl<T> Inner<T> {
    fn remove(&mut self, key: &str) -> Option<Entry<T>> {
        let e = self.entries.remove(key)?;
        self.order.remove(&e.seq);
        if let Some(q) = self.by_client.get_mut(&e.client) {
            q.retain(|s| *s != e.seq);
            if q.is_empty() {
                self.by_client.remove(&e.client);
            }
        }
        Some(e)
    }

    fn evict(&mut self, seq: u64) {
        if let Some(key) = self.order.get(&seq).cloned() {
            self.remove(&key);
        }
    }
}

/// Bounded pending-login store (see the module invariants).
#[derive(Debug)]
pub struct PendingStore<T> {
    clock: SharedClock,
    max: usize,
    per_client: usize,
    inner: Mutex<Inner<T>>,
}

impl<T: Clone> PendingStore<T> {
    pub fn new(clock: SharedClock) -> Self {
        Self::with_limits(clock, MAX_PENDING, MAX_PENDING_PER_CLIENT)
    }

    /// Other bounds (tests); both at least 1.
    pub fn with_limits(clock: SharedClock, max: usize, per_client: usize) -> Self {
        Self {
            clock,
            max: max.max(1),
            per_client: per_client.max(1),
            inner: Mutex::new(Inner {
                next: 0,
                entries: HashMap::new(),
                order: BTreeMap::new(),
                by_client: HashMap::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<T>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Insert for `ttl` on behalf of `client`, evicting the oldest pending logins beyond the
    /// bounds (never refused).
    pub fn insert(&self, client: &str, key: String, value: T, ttl: TimeDelta) {
        let now = self.clock.now();
        let mut g = self.lock();
        g.remove(&key);
        while let Some(&oldest) = g
            .by_client
            .get(client)
            .filter(|q| q.len() >= self.per_client)
            .and_then(|q| q.front())
        {
            g.evict(oldest);
        }
        while g.entries.len() >= self.max {
            match g.order.keys().next().copied() {
                Some(oldest) => g.evict(oldest),
                None => break,
            }
        }
        let seq = g.next;
        g.next += 1;
        g.order.insert(seq, key.clone());
        g.by_client
            .entry(client.to_owned())
            .or_default()
            .push_back(seq);
        g.entries.insert(
            key,
            Entry {
                value,
                until: now + ttl,
                client: client.to_owned(),
                seq,
            },
        );
    }

    /// The live entry under `key`.
    pub fn get(&self, key: &str) -> Option<T> {
        let now = self.clock.now();
        let g = self.lock();
        g.entries
            .get(key)
            .filter(|e| e.until > now)
            .map(|e| e.value.clone())
    }

    /// Remove and return the live entry under `key` (single use).
    pub fn take(&self, key: &str) -> Option<T> {
        let now = self.clock.now();
        self.lock()
            .remove(key)
            .filter(|e| e.until > now)
            .map(|e| e.value)
    }

    pub fn remove(&self, key: &str) {
        self.lock().remove(key);
    }

    /// How many pending logins are held (bounded by `max`).
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use std::sync::Arc;

    fn store(max: usize, per_client: usize) -> PendingStore<u32> {
        let clock = Arc::new(FixedClock::new(Utc::now()));
        PendingStore::with_limits(clock, max, per_client)
    }

    #[test]
    fn flooding_pending_logins_evicts_the_flooders_oldest_and_stays_bounded() {
        let s = store(100, 4);
        s.insert("victim", "v".into(), 0, TimeDelta::minutes(10));
        // One address floods: only its own oldest logins go.
        for i in 0..1_000 {
            s.insert("flooder", format!("f{i}"), i, TimeDelta::minutes(10));
        }
        assert_eq!(s.len(), 5);
        assert_eq!(s.get("v"), Some(0), "another client's login survives");
        assert_eq!(s.get("f999"), Some(999));
        assert_eq!(s.get("f995"), None, "the flooder's oldest went");
        // 35 addresses flood: the overall bound holds, the oldest overall go, new ones start.
        for i in 0..10_000u32 {
            s.insert(
                &format!("a{}", i % 35),
                format!("g{i}"),
                i,
                TimeDelta::minutes(10),
            );
        }
        assert_eq!(s.len(), 100, "bounded overall");
        assert_eq!(s.get("g9999"), Some(9_999), "a new login is never refused");
        assert_eq!(s.take("g9999"), Some(9_999));
        assert_eq!(s.take("g9999"), None, "single use");
        let inner = s.lock();
        assert!(
            inner.order.len() <= 100
                && inner.by_client.values().map(VecDeque::len).sum::<usize>() <= 100
        );
    }

    #[test]
    fn expired_pending_login_is_never_returned() {
        let clock = Arc::new(FixedClock::new(Utc::now()));
        let s: PendingStore<u8> = PendingStore::with_limits(clock.clone(), 10, 10);
        s.insert("c", "a".into(), 1, TimeDelta::seconds(10));
        clock.advance(TimeDelta::seconds(10));
        assert_eq!(s.get("a"), None);
        assert_eq!(s.take("a"), None);
        assert!(s.is_empty());
    }
}
