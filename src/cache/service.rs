//! [`CachingExchange`]: the cache policy around an STS fetch.
//!
//! `get_or_fetch(key, fetch)`:
//! 1. a recent refusal/throttle for `key` (negative cache, [`NEGATIVE_TTL`]) is answered again;
//! 2. a fresh entry is served ([`CacheOutcome::Hit`]); inside the early-refresh window the entry is
//!    served to everyone except one caller, who refreshes it ([`CacheOutcome::Refreshed`]);
//! 3. otherwise one *flight* per key and process runs `fetch` (single flight: other callers join it,
//!    [`CacheOutcome::Coalesced`]). Across replicas the flight first takes the store's lock
//!    ([`LOCK_LEASE`], renewed every [`LOCK_RENEW_EVERY`] while STS is slow); if another replica
//!    holds it, the flight polls the store for that replica's result (bounded by [`PEER_WAIT`]).
//!
//! Invariants: a credential with less than the refresh window left is never served from the cache
//! (see [`super::window`]); the shared store failing never fails a request: the flight fetches
//! directly and keeps the result in an in-process fallback cache, and the shared store is skipped for
//! [`SHARED_RETRY_AFTER`] before it is tried again (readiness reports [`CacheHealth::Degraded`]
//! meanwhile); `fetch` runs at most once per call and in a spawned task, so a caller going away does
//! not cancel a fetch others wait for.
//!
//! Revocation (labels, blocks) lives in [`super::revoke`], the background refresher of renewable
//! (assume-role, issuer) entries in [`super::refresher`].

use super::metrics::{inc, CacheMetrics, CacheMetricsSnapshot};
use super::refresher::{Hot, RenewFn};
use super::revoke::Checked;
use super::window::{freshness, store_ttl, Freshness};
use super::{
    CacheError, CacheKey, CachedCredentials, CredentialCache, Label, LockToken,
    MemoryCredentialCache,
};
use crate::clock::SharedClock;
use crate::sts::{StsCredentials, StsError};
use chrono::{DateTime, Utc};
use futures_util::future::{BoxFuture, FutureExt, Shared};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long an STS refusal (`Refused`) or throttling is answered from memory. Short: it only has to
/// stop a storm of retries (every retry would be refused too, and throttling gets worse with each
/// call), while a fixed trust policy should start working within seconds.
pub const NEGATIVE_TTL: chrono::TimeDelta = chrono::TimeDelta::seconds(5);
/// Lease of the cross-replica fetch lock. Long enough for an STS call with its retries; if the
/// holder dies, others take over after at most this long.
pub const LOCK_LEASE: Duration = Duration::from_secs(10);
/// The holder renews its lease this often while STS is slow.
pub const LOCK_RENEW_EVERY: Duration = Duration::from_millis(3_300);
/// Longest a request waits for another replica's fetch before calling STS itself.
pub const PEER_WAIT: Duration = Duration::from_secs(15);
/// First and longest pause between polls of the store while another replica fetches.
pub const PEER_POLL_MIN: Duration = Duration::from_millis(20);
pub const PEER_POLL_MAX: Duration = Duration::from_millis(250);
/// After a shared-store failure, skip it for this long (then try again: reconnection is automatic).
pub const SHARED_RETRY_AFTER: Duration = Duration::from_secs(2);

/// How a request was answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheOutcome {
    /// From the cache.
    Hit,
    /// Nothing servable was cached: this request's fetch.
    Miss,
    /// The entry was inside the early-refresh window: this request fetched a new one.
    Refreshed,
    /// Another request's fetch (this process or another replica).
    Coalesced,
}

impl CacheOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hit => "hit",
            Self::Miss => "miss",
            Self::Refreshed => "refreshed",
            Self::Coalesced => "coalesced",
        }
    }
}

/// Readiness of the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheHealth {
    Ok,
    /// The shared store failed recently: serving from the in-process fallback and STS.
    Degraded,
}

/// Result of one flight, shared by everyone waiting on it.
#[derive(Clone)]
pub(super) enum Flight {
    Fetched(CachedCredentials),
    FromPeer(CachedCredentials),
    /// Refresh only: another replica is refreshing; keep serving the current entry.
    PeerBusy,
    Failed(Arc<StsError>),
}

/// A remembered refusal and until when it is answered again.
type NegativeEntry = (DateTime<Utc>, Arc<StsError>);

pub(super) type FlightFuture = Shared<BoxFuture<'static, Flight>>;

pub(super) struct Inner {
    pub(super) store: Arc<dyn CredentialCache>,
    /// The in-process store: `store` itself without Redis, else the fallback used while Redis fails
    /// (and the local mirror of revocation blocks).
    pub(super) local: Arc<MemoryCredentialCache>,
    /// Whether `store` is shared (Redis) rather than `local`.
    pub(super) shared: bool,
    pub(super) clock: SharedClock,
    pub(super) flights: Mutex<HashMap<CacheKey, FlightFuture>>,
    negative: Mutex<HashMap<CacheKey, NegativeEntry>>,
    shared_down_until: Mutex<Option<Instant>>,
    /// Renewable entries in use, for the background refresher.
    pub(super) hot: Mutex<HashMap<CacheKey, Hot>>,
    pub(super) metrics: CacheMetrics,
}

/// The cache policy; cheap to clone (one per process, held in application state).
#[derive(Clone)]
pub struct CachingExchange {
    pub(super) inner: Arc<Inner>,
}

impl std::fmt::Debug for CachingExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachingExchange")
            .field("store", &self.inner.store)
            .finish_non_exhaustive()
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl CachingExchange {
    /// In-process only (no `redis_url`).
    pub fn in_process(clock: SharedClock) -> Self {
        let local = Arc::new(MemoryCredentialCache::new(clock.clone()));
        Self::build(local.clone(), local, false, clock)
    }

    /// Over a shared store (Redis), with an in-process fallback for when it fails.
    pub fn shared(store: Arc<dyn CredentialCache>, clock: SharedClock) -> Self {
        let local = Arc::new(MemoryCredentialCache::new(clock.clone()));
        Self::build(store, local, true, clock)
    }

    fn build(
        store: Arc<dyn CredentialCache>,
        local: Arc<MemoryCredentialCache>,
        shared: bool,
        clock: SharedClock,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                local,
                shared,
                clock,
                hot: Mutex::new(HashMap::new()),
                flights: Mutex::new(HashMap::new()),
                negative: Mutex::new(HashMap::new()),
                shared_down_until: Mutex::new(None),
                metrics: CacheMetrics::default(),
            }),
        }
    }

    pub fn metrics(&self) -> CacheMetricsSnapshot {
        self.inner.metrics.snapshot()
    }

    /// `Degraded` while the shared store is being skipped after a failure.
    pub fn health(&self) -> CacheHealth {
        match *lock(&self.inner.shared_down_until) {
            Some(until) if Instant::now() < until => CacheHealth::Degraded,
            _ => CacheHealth::Ok,
        }
    }

    /// Ping the store (readiness); a success ends a degraded period at once.
    pub async fn check(&self) -> CacheHealth {
        match self.inner.store.ping().await {
            Ok(()) => {
                *lock(&self.inner.shared_down_until) = None;
                CacheHealth::Ok
            }
            Err(e) => {
                self.inner.shared_failed(&e);
                CacheHealth::Degraded
            }
        }
    }

    /// Drop the entry for `key` everywhere this process can reach (revocation).
    pub async fn purge(&self, key: &CacheKey) -> Result<bool, CacheError> {
        lock(&self.inner.negative).remove(key);
        lock(&self.inner.hot).remove(key);
        let mut found = false;
        if self.inner.shared {
            found |= self.inner.local.purge(key).await?;
        }
        Ok(self.inner.store.purge(key).await? || found)
    }

    /// Whether the store in use is shared (Redis) rather than in-process.
    pub fn is_shared(&self) -> bool {
        self.inner.shared
    }

    /// Serve `key` from the cache, or run `fetch` (STS) once for every concurrent caller.
    pub async fn get_or_fetch<F, Fut>(
        &self,
        key: &CacheKey,
        fetch: F,
    ) -> Result<(StsCredentials, CacheOutcome), StsError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<StsCredentials, StsError>> + Send + 'static,
    {
        self.get_or_fetch_with(key, &[], None, fetch).await
    }

    /// [`Self::get_or_fetch`], recording a new entry under `labels` (revocation by subject or
    /// role) and, with `renew`, registering the key for the background refresher (modes where the
    /// broker can fetch again on its own: assume-role, issuer).
    pub async fn get_or_fetch_with<F, Fut>(
        &self,
        key: &CacheKey,
        labels: &[Label],
        renew: Option<RenewFn>,
        fetch: F,
    ) -> Result<(StsCredentials, CacheOutcome), StsError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<StsCredentials, StsError>> + Send + 'static,
    {
        self.serve_and_register(key, labels, None, renew, fetch)
            .await
    }

    /// [`Self::get_or_fetch_with`] for a key whose block check and first read were done together
    /// by [`Self::check_and_read`] (the cache hit then costs that one store call).
    pub async fn get_or_fetch_checked<F, Fut>(
        &self,
        checked: Checked,
        labels: &[Label],
        renew: Option<RenewFn>,
        fetch: F,
    ) -> Result<(StsCredentials, CacheOutcome), StsError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<StsCredentials, StsError>> + Send + 'static,
    {
        let Checked { key, entry } = checked;
        self.serve_and_register(&key, labels, Some(entry), renew, fetch)
            .await
    }

    /// [`Self::serve`], then, with `renew` and on success, register `key` for the refresher.
    async fn serve_and_register<F, Fut>(
        &self,
        key: &CacheKey,
        labels: &[Label],
        first: Option<Option<CachedCredentials>>,
        renew: Option<RenewFn>,
        fetch: F,
    ) -> Result<(StsCredentials, CacheOutcome), StsError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<StsCredentials, StsError>> + Send + 'static,
    {
        let out = self.serve(key, labels, first, fetch).await;
        if let (Ok(_), Some(renew)) = (&out, renew) {
            self.touch_hot(key, labels, renew);
        }
        out
    }

    /// `first`: the entry already read for `key` (`Some(None)`: read, nothing there).
    async fn serve<F, Fut>(
        &self,
        key: &CacheKey,
        labels: &[Label],
        mut first: Option<Option<CachedCredentials>>,
        fetch: F,
    ) -> Result<(StsCredentials, CacheOutcome), StsError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<StsCredentials, StsError>> + Send + 'static,
    {
        let inner = &self.inner;
        let mut fetch = Some(fetch);
        // Two rounds at most: a joined refresh flight can end without a credential for a cold caller.
        for _ in 0..2 {
            if let Some(e) = inner.negative_hit(key) {
                inc(&inner.metrics.negative_hits);
                return Err(e);
            }
            let current = match first.take() {
                Some(read) => read,
                None => inner.read(key).await,
            };
            let now = inner.clock.now();
            let stale = match &current {
                Some(e) => match freshness(e.fetched_at, e.credentials.expiration, now) {
                    Freshness::Fresh => {
                        inc(&inner.metrics.hits);
                        return Ok((e.credentials.clone(), CacheOutcome::Hit));
                    }
                    Freshness::RefreshDue => current.clone(),
                    Freshness::Unservable => None,
                },
                None => None,
            };
            let refresh = stale.is_some();
            let (flight, leader) = {
                let mut flights = lock(&inner.flights);
                match flights.get(key) {
                    Some(f) => (f.clone(), false),
                    None => {
                        let Some(fetch) = fetch.take() else { break };
                        let f = self.start_flight(key.clone(), labels.to_vec(), fetch, refresh);
                        flights.insert(key.clone(), f.clone());
                        (f, true)
                    }
                }
            };
            if let (Some(e), false) = (&stale, leader) {
                // Someone in this process is already refreshing: keep serving the valid entry.
                inc(&inner.metrics.hits);
                inc(&inner.metrics.stale_served);
                return Ok((e.credentials.clone(), CacheOutcome::Hit));
            }
            match flight.await {
                Flight::Fetched(c) => {
                    let outcome = match (leader, refresh) {
                        (false, _) => CacheOutcome::Coalesced,
                        (true, true) => CacheOutcome::Refreshed,
                        (true, false) => CacheOutcome::Miss,
                    };
                    inc(match outcome {
                        CacheOutcome::Coalesced => &inner.metrics.coalesced,
                        CacheOutcome::Refreshed => &inner.metrics.refreshes,
                        _ => &inner.metrics.misses,
                    });
                    return Ok((c.credentials, outcome));
                }
                Flight::FromPeer(c) => {
                    inc(&inner.metrics.coalesced);
                    return Ok((c.credentials, CacheOutcome::Coalesced));
                }
                Flight::Failed(e) if stale.is_none() => return Err((*e).clone()),
                Flight::PeerBusy | Flight::Failed(_) => {
                    if let Some(e) = stale {
                        inc(&inner.metrics.hits);
                        inc(&inner.metrics.stale_served);
                        return Ok((e.credentials, CacheOutcome::Hit));
                    }
                }
            }
        }
        // Only reachable by a cold caller whose joined refresh flight gave nothing, twice.
        let fetch = fetch.ok_or_else(|| {
            StsError::Unavailable("the credential cache could not complete a fetch".into())
        })?;
        inc(&inner.metrics.sts_calls);
        inc(&inner.metrics.misses);
        fetch().await.map(|c| (c, CacheOutcome::Miss))
    }

    pub(super) fn start_flight<F, Fut>(
        &self,
        key: CacheKey,
        labels: Vec<Label>,
        fetch: F,
        refresh: bool,
    ) -> FlightFuture
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<StsCredentials, StsError>> + Send + 'static,
    {
        let inner = self.inner.clone();
        let task = tokio::spawn(async move {
            let fetch = Box::new(move || fetch().boxed()) as BoxFetch;
            let out = inner.clone().fly(&key, &labels, fetch, refresh).await;
            lock(&inner.flights).remove(&key);
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
}

type BoxFetch = Box<dyn FnOnce() -> BoxFuture<'static, Result<StsCredentials, StsError>> + Send>;

impl Inner {
    pub(super) fn shared_usable(&self) -> bool {
        !self.shared || !matches!(*lock(&self.shared_down_until), Some(t) if Instant::now() < t)
    }

    pub(super) fn shared_failed(&self, e: &CacheError) {
        inc(&self.metrics.shared_errors);
        if self.shared {
            tracing::warn!(cache.error = %e, "shared credential cache failed; using the in-process fallback");
            *lock(&self.shared_down_until) = Some(Instant::now() + SHARED_RETRY_AFTER);
        }
    }

    /// Forget expired negative entries (background task).
    pub(super) fn sweep_negative(&self) {
        let now = self.clock.now();
        lock(&self.negative).retain(|_, (until, _)| *until > now);
    }

    fn negative_hit(&self, key: &CacheKey) -> Option<StsError> {
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

    /// One flight: lock across replicas (or wait for the holder), fetch, store.
    async fn fly(
        self: Arc<Self>,
        key: &CacheKey,
        labels: &[Label],
        fetch: BoxFetch,
        refresh: bool,
    ) -> Flight {
        let deadline = Instant::now() + PEER_WAIT;
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
                    if Instant::now() >= deadline {
                        tracing::warn!(cache.key = %key, "gave up waiting for another replica's fetch");
                        break;
                    }
                    tokio::time::sleep(pause).await;
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
