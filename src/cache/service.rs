//! [`CachingExchange`]: the cache policy around an STS fetch, and the one public face of the
//! credential cache (revocation and the background refresher are reached through it too).
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
//! not cancel a fetch others wait for. Every time decision reads the injected clock.
//!
//! The state and the flight live in `state.rs`; revocation (labels, blocks) in
//! [`super::revoke`], the background refresher of renewable (assume-role, issuer) entries in
//! [`super::refresher`]. This module uses them; none of them uses this one.

use super::hot::RenewFn;
use super::metrics::{inc, CacheMetricsSnapshot};
use super::refresher;
use super::revoke::{self, Checked};
use super::state::{lock, CacheState, Flight};
use super::window::{freshness, Freshness};
use super::{
    CacheError, CacheKey, CachedCredentials, CredentialCache, Label, MemoryCredentialCache, Purged,
};
use crate::clock::SharedClock;
use crate::sts::{StsCredentials, StsError};
use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::Duration;

pub use super::state::{
    LOCK_LEASE, LOCK_RENEW_EVERY, NEGATIVE_TTL, PEER_POLL_MAX, PEER_POLL_MIN, PEER_WAIT,
    SHARED_RETRY_AFTER,
};

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

/// What is already known of the entry under a key when serving starts.
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "moved once per request, never stored: boxing would cost an allocation per cache hit"
)]
enum FirstRead {
    /// Nothing read yet: serving reads the store.
    NotRead,
    /// Read together with the block check: nothing was there.
    Empty,
    /// Read together with the block check: this entry.
    Found(CachedCredentials),
}

impl From<Option<CachedCredentials>> for FirstRead {
    fn from(read: Option<CachedCredentials>) -> Self {
        match read {
            Some(e) => Self::Found(e),
            None => Self::Empty,
        }
    }
}

/// The cache policy; cheap to clone (one per process, held in application state).
#[derive(Clone)]
pub struct CachingExchange {
    inner: Arc<CacheState>,
}

impl std::fmt::Debug for CachingExchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachingExchange")
            .field("store", &self.inner.store)
            .finish_non_exhaustive()
    }
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
            inner: Arc::new(CacheState::new(store, local, shared, clock)),
        }
    }

    pub fn metrics(&self) -> CacheMetricsSnapshot {
        self.inner.metrics.snapshot()
    }

    /// `Degraded` while the shared store is being skipped after a failure.
    pub fn health(&self) -> CacheHealth {
        if self.inner.shared_down() {
            CacheHealth::Degraded
        } else {
            CacheHealth::Ok
        }
    }

    /// Ping the store (readiness); a success ends a degraded period at once.
    pub async fn check(&self) -> CacheHealth {
        match self.inner.store.ping().await {
            Ok(()) => {
                self.inner.shared_up();
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
        self.inner.forget(key);
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

    /// Purge every entry under `labels` and block them for `block_for` (zero: purge only); see
    /// [`super::revoke`].
    pub async fn revoke(
        &self,
        labels: &[Label],
        block_for: Duration,
    ) -> Result<Purged, CacheError> {
        revoke::revoke(&self.inner, labels, block_for).await
    }

    /// Whether any of `labels` is blocked (see [`super::revoke`] for the Redis-down case); a `true`
    /// counts as a refused request in the metrics.
    pub async fn blocked(&self, labels: &[Label]) -> bool {
        revoke::blocked(&self.inner, labels).await
    }

    /// [`Self::blocked`] and the first read of `key` in one store call (one Redis round trip):
    /// `None` (counted as refused) if a label is blocked, as `blocked` would say, else what
    /// [`Self::get_or_fetch_checked`] serves or fetches from. The entry comes from the shared store
    /// when it answers, else from the fallback, as `get_or_fetch_with` reads it.
    pub async fn check_and_read(&self, key: &CacheKey, labels: &[Label]) -> Option<Checked> {
        revoke::check_and_read(&self.inner, key, labels).await
    }

    /// Keys the background refresher currently tracks.
    pub fn hot_keys(&self) -> usize {
        self.inner.hot.len()
    }

    /// One pass of the background refresher (see [`super::refresher`]); returns how many renewals
    /// stored a new credential.
    pub async fn refresh_hot(&self) -> usize {
        refresher::refresh_hot(&self.inner).await
    }

    /// Start the background task (refresher, sweep of expired in-process entries and of the
    /// negative cache) every `every`; it ends when the last clone of this cache is dropped.
    pub fn spawn_background(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let weak: Weak<CacheState> = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(state) = weak.upgrade() else { return };
                refresher::refresh_hot(&state).await;
                state.local.sweep();
                state.sweep_negative();
            }
        })
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
        self.serve_and_register(key, labels, FirstRead::NotRead, renew, fetch)
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
        self.serve_and_register(&key, labels, entry.into(), renew, fetch)
            .await
    }

    /// [`Self::serve`], then, with `renew` and on success, register `key` for the refresher.
    async fn serve_and_register<F, Fut>(
        &self,
        key: &CacheKey,
        labels: &[Label],
        first: FirstRead,
        renew: Option<RenewFn>,
        fetch: F,
    ) -> Result<(StsCredentials, CacheOutcome), StsError>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = Result<StsCredentials, StsError>> + Send + 'static,
    {
        let out = self.serve(key, labels, first, fetch).await;
        if let (Ok(_), Some(renew)) = (&out, renew) {
            self.inner
                .hot
                .touch(key, labels, renew, self.inner.clock.now());
        }
        out
    }

    /// `first`: what is already known of the entry for `key`.
    async fn serve<F, Fut>(
        &self,
        key: &CacheKey,
        labels: &[Label],
        mut first: FirstRead,
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
            let current = match std::mem::replace(&mut first, FirstRead::NotRead) {
                FirstRead::NotRead => inner.read(key).await,
                FirstRead::Empty => None,
                FirstRead::Found(e) => Some(e),
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
                        let f = inner.start_flight(key.clone(), labels.to_vec(), fetch, refresh);
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::{Guarded, LockToken};
    use crate::clock::FixedClock;
    use chrono::{TimeDelta, TimeZone, Utc};

    /// A shared store that never answers (Redis down).
    #[derive(Debug)]
    struct DownStore;

    fn down() -> CacheError {
        CacheError::Unavailable("redis down (test)".into())
    }

    #[async_trait::async_trait]
    impl CredentialCache for DownStore {
        async fn get(&self, _: &CacheKey) -> Result<Option<CachedCredentials>, CacheError> {
            Err(down())
        }
        async fn put(
            &self,
            _: &CacheKey,
            _: &CachedCredentials,
            _: Duration,
        ) -> Result<(), CacheError> {
            Err(down())
        }
        async fn try_lock(
            &self,
            _: &CacheKey,
            _: Duration,
        ) -> Result<Option<LockToken>, CacheError> {
            Err(down())
        }
        async fn renew(
            &self,
            _: &CacheKey,
            _: &LockToken,
            _: Duration,
        ) -> Result<bool, CacheError> {
            Err(down())
        }
        async fn release(&self, _: &CacheKey, _: &LockToken) -> Result<(), CacheError> {
            Err(down())
        }
        async fn purge(&self, _: &CacheKey) -> Result<bool, CacheError> {
            Err(down())
        }
        async fn ping(&self) -> Result<(), CacheError> {
            Err(down())
        }
        async fn label(&self, _: &CacheKey, _: &[Label], _: Duration) -> Result<(), CacheError> {
            Err(down())
        }
        async fn purge_label(&self, _: &Label) -> Result<Purged, CacheError> {
            Err(down())
        }
        async fn block(&self, _: &Label, _: Duration) -> Result<(), CacheError> {
            Err(down())
        }
        async fn blocked(&self, _: &[Label]) -> Result<bool, CacheError> {
            Err(down())
        }
        async fn get_unless_blocked(
            &self,
            _: &CacheKey,
            _: &[Label],
        ) -> Result<Guarded, CacheError> {
            Err(down())
        }
    }

    fn credentials(now: chrono::DateTime<Utc>) -> StsCredentials {
        StsCredentials {
            access_key_id: "ASIATEST".into(),
            secret_access_key: "secret".to_owned().into(),
            session_token: "token".to_owned().into(),
            expiration: now + TimeDelta::hours(1),
            assumed_role_arn: "arn:aws:sts::123456789012:assumed-role/r/s".into(),
            assumed_role_id: "AROATEST:s".into(),
            subject: None,
            provider: None,
            audience: None,
            source_identity: None,
            packed_policy_size: None,
            chained: false,
            request_id: None,
        }
    }

    /// The shared store is skipped for `SHARED_RETRY_AFTER` after a failure, measured on the
    /// injected clock: a pinned clock keeps the cache degraded however long the test runs, and
    /// moving it past the window ends the degraded period.
    #[tokio::test]
    async fn the_shared_store_retry_window_follows_the_injected_clock() {
        let t0 = Utc.with_ymd_and_hms(2030, 1, 1, 12, 0, 0).unwrap();
        let clock = Arc::new(FixedClock::new(t0));
        let ex = CachingExchange::shared(Arc::new(DownStore), clock.clone());
        assert_eq!(ex.health(), CacheHealth::Ok);
        let key = crate::cache::CacheKey::derive(&crate::cache::CacheKeyInput {
            subject: "alice".into(),
            role_arn: "arn:aws:iam::123456789012:role/r".into(),
            ..Default::default()
        });
        let (_, outcome) = ex
            .get_or_fetch(&key, move || async move { Ok(credentials(t0)) })
            .await
            .unwrap();
        assert_eq!(outcome, CacheOutcome::Miss);
        assert_eq!(ex.health(), CacheHealth::Degraded);
        // Real time passing does not end it: only the injected clock counts.
        tokio::time::sleep(Duration::from_millis(50)).await;
        clock.advance(SHARED_RETRY_AFTER - TimeDelta::milliseconds(1));
        assert_eq!(ex.health(), CacheHealth::Degraded);
        clock.advance(TimeDelta::milliseconds(1));
        assert_eq!(ex.health(), CacheHealth::Ok);
        assert_eq!(ex.metrics().fallbacks, 1);
    }
}
