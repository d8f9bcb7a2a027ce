//! Background refresher: renews *hot* renewable entries before callers would see them age.
//!
//! In assume-role and issuer modes the broker can fetch a credential again on its own (its own AWS
//! credentials, or a JWT it mints), so a key served recently ([`HOT_FOR`]) is renewed by a
//! background task shortly before its early-refresh window opens ([`REFRESH_AHEAD`]): under steady
//! load no caller ever waits on STS after warm-up. Pass-through modes are never registered (the
//! IdP's assertion or token is single-use): they refresh when the next valid one arrives.
//!
//! Invariants: a refresh is an ordinary flight (one per key and process, the cross-replica lock, a
//! peer refreshing means this replica skips); a blocked (revoked) label is never renewed and is
//! forgotten; the registry is bounded ([`MAX_HOT`]) and forgets keys idle longer than [`HOT_FOR`];
//! the task holds a weak reference and ends when the cache is dropped.

use super::metrics::inc;
use super::service::{lock, CachingExchange, Flight, Inner};
use super::window::early_refresh_window;
use super::{CacheKey, Label};
use crate::sts::{StsCredentials, StsError};
use chrono::{DateTime, TimeDelta, Utc};
use futures_util::future::BoxFuture;
use futures_util::StreamExt;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// A fetch the broker can repeat without the caller (assume-role, issuer modes).
pub type RenewFn =
    Arc<dyn Fn() -> BoxFuture<'static, Result<StsCredentials, StsError>> + Send + Sync>;

/// How often the background task runs.
pub const REFRESHER_EVERY: Duration = Duration::from_secs(30);
/// A key served within this long is hot (kept renewed); idle longer, it is left to expire. An hour:
/// the default session (1 h) of a key used once is renewed once, ~40 min in, so a client coming
/// back for a fresh credential near expiry (as the AWS CLI does) does not wait; a key idle for an
/// hour costs no more STS calls.
pub const HOT_FOR: TimeDelta = TimeDelta::hours(1);
/// Renew this long before the early-refresh window opens: two runs of the task, so one missed run
/// (a slow STS) still leaves a renewal before any caller would refresh.
pub const REFRESH_AHEAD: TimeDelta = TimeDelta::seconds(60);
/// Most keys the refresher tracks (a bound on memory; beyond it, new keys refresh on demand).
pub const MAX_HOT: usize = 10_000;
/// Renewals run at once per pass.
const PARALLEL_RENEWALS: usize = 8;

/// A renewable key in use.
#[derive(Clone)]
pub(crate) struct Hot {
    renew: RenewFn,
    labels: Vec<Label>,
    last_used: DateTime<Utc>,
}

impl Hot {
    pub(super) fn has_any(&self, labels: &[Label]) -> bool {
        self.labels.iter().any(|l| labels.contains(l))
    }
}

impl CachingExchange {
    /// Record that `key` was just served and can be renewed with `renew`.
    pub(super) fn touch_hot(&self, key: &CacheKey, labels: &[Label], renew: RenewFn) {
        let now = self.inner.clock.now();
        let mut hot = lock(&self.inner.hot);
        if let Some(h) = hot.get_mut(key) {
            h.last_used = now;
            h.renew = renew;
            return;
        }
        if hot.len() >= MAX_HOT {
            hot.retain(|_, h| now - h.last_used <= HOT_FOR);
            if hot.len() >= MAX_HOT {
                return;
            }
        }
        hot.insert(
            key.clone(),
            Hot {
                renew,
                labels: labels.to_vec(),
                last_used: now,
            },
        );
    }

    /// Keys the refresher currently tracks.
    pub fn hot_keys(&self) -> usize {
        lock(&self.inner.hot).len()
    }

    /// One pass of the refresher: renew every hot key whose entry is within [`REFRESH_AHEAD`] of
    /// its early-refresh window. Returns how many renewals stored a new credential.
    pub async fn refresh_hot(&self) -> usize {
        let now = self.inner.clock.now();
        let candidates: Vec<(CacheKey, Hot)> = {
            let mut hot = lock(&self.inner.hot);
            hot.retain(|_, h| now - h.last_used <= HOT_FOR);
            hot.iter().map(|(k, h)| (k.clone(), h.clone())).collect()
        };
        futures_util::stream::iter(candidates)
            .map(|(key, h)| self.renew_one(key, h))
            .buffer_unordered(PARALLEL_RENEWALS)
            .fold(0, |n, renewed| async move { n + usize::from(renewed) })
            .await
    }

    async fn renew_one(&self, key: CacheKey, h: Hot) -> bool {
        let inner = &self.inner;
        let Some(entry) = inner.read(&key).await else {
            // Expired, evicted or purged: the next request fetches (never resurrect a purge).
            return false;
        };
        let lifetime = entry.credentials.expiration - entry.fetched_at;
        let left = entry.credentials.expiration - inner.clock.now();
        if left > early_refresh_window(lifetime) + REFRESH_AHEAD {
            return false;
        }
        if self.is_blocked(&h.labels).await {
            lock(&inner.hot).remove(&key);
            return false;
        }
        let flight = {
            let mut flights = lock(&inner.flights);
            if flights.contains_key(&key) {
                return false;
            }
            let renew = h.renew.clone();
            let f = self.start_flight(key.clone(), h.labels.clone(), move || renew(), true);
            flights.insert(key.clone(), f.clone());
            f
        };
        match flight.await {
            Flight::Fetched(_) => {
                inc(&inner.metrics.background_refreshes);
                true
            }
            Flight::FromPeer(_) | Flight::PeerBusy => false,
            Flight::Failed(e) => {
                tracing::warn!(cache.key = %key, sts.error = %e, "background refresh failed; the entry is served until its refresh window");
                false
            }
        }
    }

    /// Start the background task (refresher, sweep of expired in-process entries and of the
    /// negative cache) every `every`; it ends when the last clone of this cache is dropped.
    pub fn spawn_background(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { return };
                let me = CachingExchange { inner };
                me.refresh_hot().await;
                me.inner.local.sweep();
                me.inner.sweep_negative();
            }
        })
    }
}
