//! The registry of *hot* renewable keys: keys served recently in a mode where the broker can fetch
//! again on its own (assume-role, issuer), which the background refresher keeps renewed.
//!
//! Invariants: the registry is bounded ([`MAX_HOT`]; beyond it, new keys refresh on demand) and
//! forgets keys idle longer than [`HOT_FOR`]; a key under a revoked label is dropped from it, so it
//! is never renewed again; every time read comes from the caller (the injected clock).

use super::{CacheKey, Label};
use crate::sts::{StsCredentials, StsError};
use chrono::{DateTime, TimeDelta, Utc};
use futures_util::future::BoxFuture;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// A fetch the broker can repeat without the caller (assume-role, issuer modes).
pub type RenewFn =
    Arc<dyn Fn() -> BoxFuture<'static, Result<StsCredentials, StsError>> + Send + Sync>;

/// A key served within this long is hot (kept renewed); idle longer, it is left to expire. An hour:
/// the default session (1 h) of a key used once is renewed once, ~40 min in, so a client coming
/// back for a fresh credential near expiry (as the AWS CLI does) does not wait; a key idle for an
/// hour costs no more STS calls.
pub const HOT_FOR: TimeDelta = TimeDelta::hours(1);
/// Most keys the refresher tracks (a bound on memory; beyond it, new keys refresh on demand).
pub const MAX_HOT: usize = 10_000;

/// A renewable key in use.
#[derive(Clone)]
pub(super) struct Hot {
    pub(super) renew: RenewFn,
    pub(super) labels: Vec<Label>,
    last_used: DateTime<Utc>,
}

/// The hot keys of one cache (one lock; every operation is short and never awaits).
#[derive(Default)]
pub(super) struct HotKeys(Mutex<HashMap<CacheKey, Hot>>);

impl HotKeys {
    fn map(&self) -> MutexGuard<'_, HashMap<CacheKey, Hot>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Record that `key` was served at `now` and can be renewed with `renew`.
    pub(super) fn touch(
        &self,
        key: &CacheKey,
        labels: &[Label],
        renew: RenewFn,
        now: DateTime<Utc>,
    ) {
        let mut hot = self.map();
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

    /// Keys tracked.
    pub(super) fn len(&self) -> usize {
        self.map().len()
    }

    /// Forget `key` (purged or revoked).
    pub(super) fn remove(&self, key: &CacheKey) {
        self.map().remove(key);
    }

    /// Forget every key recorded under any of `labels` (revocation).
    pub(super) fn remove_labelled(&self, labels: &[Label]) {
        self.map()
            .retain(|_, h| !h.labels.iter().any(|l| labels.contains(l)));
    }

    /// Forget keys idle longer than [`HOT_FOR`] at `now`, and list the others.
    pub(super) fn live(&self, now: DateTime<Utc>) -> Vec<(CacheKey, Hot)> {
        let mut hot = self.map();
        hot.retain(|_, h| now - h.last_used <= HOT_FOR);
        hot.iter().map(|(k, h)| (k.clone(), h.clone())).collect()
    }
}
