//! [`CacheState`]: what one credential cache holds (the stores, the clock, the flights in progress,
//! the negative cache, the shared store's health, the hot keys, the counters), and the *flight*:
//! one fetch per key and process, locked across replicas, whose result is stored and shared by
//! everyone waiting on it.
//!
//! The cache policy (`service`), revocation (`revoke`) and the background refresher (`refresher`)
//! all work on this state; it depends on none of them.
//!
//! Invariants:
//! - a flight runs `fetch` at most once, in a spawned task (a caller going away does not cancel a
//!   fetch others wait for), and leaves the flight table when it ends;
//! - across replicas the flight first takes the store's lock ([`LOCK_LEASE`], renewed every
//!   [`LOCK_RENEW_EVERY`] while STS is slow); if another replica holds it, the flight polls the
//!   store for that replica's result, pausing [`PEER_POLL_MIN`] to [`PEER_POLL_MAX`] between polls
//!   and at most [`PEER_WAIT`] in all;
//! - the shared store failing never fails a request: the flight fetches directly and keeps the
//!   result in the in-process fallback, and the shared store is skipped for
//!   [`SHARED_RETRY_AFTER`] (by the injected clock) before it is tried again;
//! - an STS refusal or throttling is remembered for [`NEGATIVE_TTL`] (by the injected clock).

use super::hot::HotKeys;
use super::metrics::{inc, CacheMetrics};
use super::window::{freshness, store_ttl, Freshness};
use super::{
    CacheError, CacheKey, CachedCredentials, CredentialCache, Label, LockToken,
    MemoryCredentialCache,
};
use crate::clock::SharedClock;
use crate::sts::{StsCredentials, StsError};
use chrono::{DateTime, TimeDelta, Utc};
use futures_util::future::{BoxFuture, FutureExt, Shared};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long an STS refusal (`Refused`) or throttling is answered from memory. Short: it only has to
/// stop a storm of retries (every retry would be refused too, and throttling gets worse with each
/// call), while a fixed trust policy should start working within seconds.
pub const NEGATIVE_TTL: TimeDelta = TimeDelta::seconds(5);
/// Lease of the cross-replica fetch lock. Long enough for an STS call with its retries; if the
/// holder dies, others take over after at most this long.
pub const LOCK_LEASE: Duration = Duration::from_secs(10);
/// The holder renews its lease this often while STS is slow.
pub const LOCK_RENEW_EVERY: Duration = Duration::from_millis(3_300);
/// Longest a request waits (in pauses between polls) for another replica's fetch before calling
/// STS itself.
pub const PEER_WAIT: Duration = Duration::from_secs(15);
/// First and longest pause between polls of the store while another replica fetches.
pub const PEER_POLL_MIN: Duration = Duration::from_millis(20);
pub const PEER_POLL_MAX: Duration = Duration::from_millis(250);
/// After a shared-store failure, skip it for this long (then try again: reconnection is automatic).
pub const SHARED_RETRY_AFTER: TimeDelta = TimeDelta::seconds(2);

/// Result of one flight, shared by everyone waiting on it.
#[derive(Clone)]
pub(super) enum Flight {
    Fetched(CachedCredentials),
    FromPeer(CachedCredentials),
    /// Refresh only: another replica is refreshing; keep serving the current entry.
    PeerBusy,
    Failed(Arc<StsError>),
}

pub(super) type FlightFuture = Shared<BoxFuture<'static, Flight>>;

type BoxFetch = Box<dyn FnOnce() -> BoxFuture<'static, Result<StsCredentials, StsError>> + Send>;

/// A remembered refusal and until when it is answered again.
type NegativeEntry = (DateTime<Utc>, Arc<StsError>);

/// A poisoned lock still holds consistent data here (every critical section is a map update).
pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(super) struct CacheState {
    pub(super) store: Arc<dyn CredentialCache>,
    /// The in-process store: `store` itself without Redis, else the fallback used while Redis fails
    /// (and the local mirror of revocation blocks).
    pub(super) local: Arc<MemoryCredentialCache>,
    /// Whether `store` is shared (Redis) rather than `local`.
    pub(super) shared: bool,
    pub(super) clock: SharedClock,
    pub(super) flights: Mutex<HashMap<CacheKey, FlightFuture>>,
    negative: Mutex<HashMap<CacheKey, NegativeEntry>>,
    /// Until when the shared store is skipped after a failure (injected clock).
    shared_down_until: Mutex<Option<DateTime<Utc>>>,
    /// Renewable entries in use, for the background refresher.
    pub(super) hot: HotKeys,
    pub(super) metrics: CacheMetrics,
}

impl CacheState {
    pub(super) fn new(
        store: Arc<dyn CredentialCache>,
        local: Arc<MemoryCredentialCache>,
        shared: bool,
        clock: SharedClock,
    ) -> Self {
        Self {
            store,
            local,
            shared,
            clock,
            hot: HotKeys::default(),
            flights: Mutex::new(HashMap::new()),
            negative: Mutex::new(HashMap::new()),
            shared_down_until: Mutex::new(None),
            metrics: CacheMetrics::default(),
        }
    }

    /// Whether the shared store is being skipped after a recent failure.
    pub(super) fn shared_down(&self) -> bool {
        matches!(*lock(&self.shared_down_until), Some(until) if self.clock.now() < until)
    }

    /// The shared store answered: stop skipping it at once.
    pub(super) fn shared_up(&self) {
        *lock(&self.shared_down_until) = None;
    }

    pub(super) fn shared_usable(&self) -> bool {
        !self.shared || !self.shared_down()
    }

    pub(super) fn shared_failed(&self, e: &CacheError) {
        inc(&self.metrics.shared_errors);
        if self.shared {
            tracing::warn!(cache.error = %e, "shared credential cache failed; using the in-process fallback");
            *lock(&self.shared_down_until) = Some(self.clock.now() + SHARED_RETRY_AFTER);
        }
    }

    /// Forget expired negative entries (background task).
    pub(super) fn sweep_negative(&self) {
        let now = self.clock.now();
        lock(&self.negative).retain(|_, (until, _)| *until > now);
    }

    /// Forget the negative entry and the hot registration of `key` (purge).
    pub(super) fn forget(&self, key: &CacheKey) {
        lock(&self.negative).remove(key);
        self.hot.remove(key);
    }

    pub(super) fn negative_hit(&self, key: &CacheKey) -> Option<StsError> {
        let now = self.clock.now();
        let mut neg = lock(&self.negative);
        match neg.get(key) {
            Some((until, e)) if *until > now => Some((**e).clone()),
            Some(_) => {
                neg.remove(key);
                None
            }
            None => None,
        }
    }

    /// The current entry: from the shared store, or the fallback while the store is failing.
    pub(super) async fn read(&self, key: &CacheKey) -> Option<CachedCredentials> {
        if self.shared_usable() {
            match self.store.get(key).await {
                Ok(e) => return e,
                Err(CacheError::Corrupt(why)) => {
                    tracing::warn!(cache.key = %key, cache.error = %why, "unreadable cache entry ignored");
                    return None;
                }
                Err(e) => self.shared_failed(&e),
            }
        }
        if self.shared {
            self.local.get(key).await.ok().flatten()
        } else {
            None
        }
    }

    /// Whether any of `labels` is blocked: the shared store when it answers, and always the local
    /// mirror of this replica's blocks.
    pub(super) async fn is_blocked(&self, labels: &[Label]) -> bool {
        if labels.is_empty() {
            return false;
        }
        let blocked = if self.shared && self.shared_usable() {
            match self.store.blocked(labels).await {
                Ok(b) => b,
                Err(e) => {
                    self.shared_failed(&e);
                    false
                }
            }
        } else {
            false
        };
        blocked || self.local.blocked(labels).await.unwrap_or(false)
    }

    async fn store_entry(
        &self,
        key: &CacheKey,
        labels: &[Label],
        entry: &CachedCredentials,
        shared: bool,
    ) {
        let Some(ttl) = store_ttl(
            entry.fetched_at,
            entry.credentials.expiration,
            self.clock.now(),
        ) else {
            return;
        };
        if shared {
            let stored = match self.store.put(key, entry, ttl).await {
                Ok(()) => self.store.label(key, labels, ttl).await,
                Err(e) => Err(e),
            };
            match stored {
                Ok(()) => return,
                Err(e) => self.shared_failed(&e),
            }
        }
        if self.shared {
            let _ = self.local.put(key, entry, ttl).await;
            let _ = self.local.label(key, labels, ttl).await;
        }
    }

    fn servable(&self, e: &CachedCredentials) -> bool {
        freshness(e.fetched_at, e.credentials.expiration, self.clock.now()) != Freshness::Unservable
    }

    /// Start a flight for `key` (the caller inserts it in [`Self::flights`]); it removes itself
    /// from the table when it ends.
    pub(super) fn start_flight<F, Fut>(
        self: &Arc<Self>,
        key: CacheKey,
        labels: Vec<Label>,
        fetch: F,
        refresh: bool,
    ) -> FlightFuture
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<StsCredentials, StsError>> + Send + 'static,
    {
        let state = self.clone();
        let task = tokio::spawn(async move {
            let fetch: BoxFetch = Box::new(move || fetch().boxed());
            let out = state.clone().fly(&key, &labels, fetch, refresh).await;
            lock(&state.flights).remove(&key);
            out
        });
        async move {
            task.await.unwrap_or_else(|_| {
                Flight::Failed(Arc::new(StsError::Unavailable(
                    "the credential fetch task stopped".into(),
                )))
            })
        }
        .boxed()
        .shared()
    }

    /// One flight: lock across replicas (or wait for the holder), fetch, store.
    async fn fly(
        self: Arc<Self>,
        key: &CacheKey,
        labels: &[Label],
        fetch: BoxFetch,
        refresh: bool,
    ) -> Flight {
        // Bounded by the pauses themselves rather than a time reading: the wait is a timer.
        let mut paused = Duration::ZERO;
        let mut pause = PEER_POLL_MIN;
        let mut waited = false;
        while self.shared_usable() {
            match self.store.try_lock(key, LOCK_LEASE).await {
                Ok(Some(token)) => {
                    if !refresh {
                        // A peer may have stored a result between our read and our lock.
                        if let Ok(Some(e)) = self.store.get(key).await {
                            if self.servable(&e) {
                                let _ = self.store.release(key, &token).await;
                                return Flight::FromPeer(e);
                            }
                        }
                    }
                    return self.fetch_locked(key, labels, fetch, token).await;
                }
                Ok(None) if refresh => return Flight::PeerBusy,
                Ok(None) => {
                    if !waited {
                        waited = true;
                        inc(&self.metrics.lock_waits);
                    }
                    if paused >= PEER_WAIT {
                        tracing::warn!(cache.key = %key, "gave up waiting for another replica's fetch");
                        break;
                    }
                    tokio::time::sleep(pause).await;
                    paused += pause;
                    pause = (pause * 2).min(PEER_POLL_MAX);
                    match self.store.get(key).await {
                        Ok(Some(e)) if self.servable(&e) => return Flight::FromPeer(e),
                        Ok(_) | Err(CacheError::Corrupt(_)) => {}
                        Err(e) => self.shared_failed(&e),
                    }
                }
                Err(e) => self.shared_failed(&e),
            }
        }
        if self.shared {
            inc(&self.metrics.fallbacks);
        }
        let shared = self.shared_usable();
        self.fetch_and_store(key, labels, fetch, shared).await
    }

    async fn fetch_locked(
        self: Arc<Self>,
        key: &CacheKey,
        labels: &[Label],
        fetch: BoxFetch,
        token: LockToken,
    ) -> Flight {
        let renewer = {
            let (me, key, token) = (self.clone(), key.clone(), token.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(LOCK_RENEW_EVERY).await;
                    match me.store.renew(&key, &token, LOCK_LEASE).await {
                        Ok(true) => {}
                        Ok(false) | Err(_) => return,
                    }
                }
            })
        };
        let out = self.fetch_and_store(key, labels, fetch, true).await;
        renewer.abort();
        if let Err(e) = self.store.release(key, &token).await {
            self.shared_failed(&e);
        }
        out
    }

    async fn fetch_and_store(
        &self,
        key: &CacheKey,
        labels: &[Label],
        fetch: BoxFetch,
        shared: bool,
    ) -> Flight {
        inc(&self.metrics.sts_calls);
        match fetch().await {
            Ok(credentials) => {
                let entry = CachedCredentials {
                    credentials,
                    fetched_at: self.clock.now(),
                };
                self.store_entry(key, labels, &entry, shared).await;
                Flight::Fetched(entry)
            }
            Err(e) => {
                inc(&self.metrics.sts_errors);
                if matches!(e, StsError::Refused { .. } | StsError::Throttled) {
                    let until = self.clock.now() + NEGATIVE_TTL;
                    let e = Arc::new(e.clone());
                    lock(&self.negative).insert(key.clone(), (until, e));
                }
                Flight::Failed(Arc::new(e))
            }
        }
    }
}
