//! Background refresher: renews *hot* renewable entries before callers would see them age.
//!
//! In assume-role and issuer modes the broker can fetch a credential again on its own (its own AWS
//! credentials, or a JWT it mints), so a key served recently (see `hot.rs`) is renewed by a
//! background task shortly before its early-refresh window opens ([`REFRESH_AHEAD`]): under steady
//! load no caller ever waits on STS after warm-up. Pass-through modes are never registered (the
//! IdP's assertion or token is single-use): they refresh when the next valid one arrives.
//! Started and driven through [`super::CachingExchange`]; works on `CacheState`.
//!
//! Invariants: a refresh is an ordinary flight (one per key and process, the cross-replica lock, a
//! peer refreshing means this replica skips); a blocked (revoked) label is never renewed and is
//! forgotten; the task holds a weak reference and ends when the cache is dropped.

use super::hot::Hot;
use super::metrics::inc;
use super::state::{lock, CacheState, Flight};
use super::window::early_refresh_window;
use super::CacheKey;
use chrono::TimeDelta;
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;

pub use super::hot::{RenewFn, HOT_FOR, MAX_HOT};

/// How often the background task runs.
pub const REFRESHER_EVERY: Duration = Duration::from_secs(30);
/// Renew this long before the early-refresh window opens: two runs of the task, so one missed run
/// (a slow STS) still leaves a renewal before any caller would refresh.
pub const REFRESH_AHEAD: TimeDelta = TimeDelta::seconds(60);
/// Renewals run at once per pass.
const PARALLEL_RENEWALS: usize = 8;

/// One pass of the refresher: renew every hot key whose entry is within [`REFRESH_AHEAD`] of its
/// early-refresh window. Returns how many renewals stored a new credential.
pub(super) async fn refresh_hot(state: &Arc<CacheState>) -> usize {
    let candidates = state.hot.live(state.clock.now());
    futures_util::stream::iter(candidates)
        .map(|(key, h)| renew_one(state, key, h))
        .buffer_unordered(PARALLEL_RENEWALS)
        .fold(0, |n, renewed| async move { n + usize::from(renewed) })
        .await
}

async fn renew_one(state: &Arc<CacheState>, key: CacheKey, h: Hot) -> bool {
    let Some(entry) = state.read(&key).await else {
        // Expired, evicted or purged: the next request fetches (never resurrect a purge).
        return false;
    };
    let lifetime = entry.credentials.expiration - entry.fetched_at;
    let left = entry.credentials.expiration - state.clock.now();
    if left > early_refresh_window(lifetime) + REFRESH_AHEAD {
        return false;
    }
    if state.is_blocked(&h.labels).await {
        state.hot.remove(&key);
        return false;
    }
    let flight = {
        let mut flights = lock(&state.flights);
        if flights.contains_key(&key) {
            return false;
        }
        let renew = h.renew.clone();
        let f = state.start_flight(key.clone(), h.labels.clone(), move || renew(), true);
        flights.insert(key.clone(), f.clone());
        f
    };
    match flight.await {
        Flight::Fetched(_) => {
            inc(&state.metrics.background_refreshes);
            true
        }
        Flight::FromPeer(_) | Flight::PeerBusy => false,
        Flight::Failed(e) => {
            tracing::warn!(cache.key = %key, sts.error = %e, "background refresh failed; the entry is served until its refresh window");
            false
        }
    }
}
