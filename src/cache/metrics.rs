//! Counters of the credential cache, read by `/metrics` and by tests.

use std::sync::atomic::{AtomicU64, Ordering};

macro_rules! counters {
    ($($name:ident: $doc:literal),* $(,)?) => {
        /// Monotonic counters (relaxed atomics).
        #[derive(Debug, Default)]
        pub struct CacheMetrics { $(#[doc = $doc] pub $name: AtomicU64,)* }

        /// A point-in-time copy of [`CacheMetrics`].
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct CacheMetricsSnapshot { $(#[doc = $doc] pub $name: u64,)* }

        impl CacheMetrics {
            pub fn snapshot(&self) -> CacheMetricsSnapshot {
                CacheMetricsSnapshot { $($name: self.$name.load(Ordering::Relaxed),)* }
            }
        }
    };
}

counters! {
    hits: "Requests served from the cache (fresh or inside the early-refresh window).",
    misses: "Requests that fetched from STS because nothing servable was cached.",
    refreshes: "Early refreshes that fetched a new credential.",
    coalesced: "Requests that waited for another caller's fetch (in-process or another replica).",
    lock_waits: "Times a fetch waited for another replica's lock.",
    stale_served: "Entries served from inside the early-refresh window.",
    negative_hits: "Requests answered from the negative cache without calling STS.",
    sts_calls: "Calls made to the fetch function (STS).",
    sts_errors: "Fetches that failed.",
    shared_errors: "Shared cache (Redis) operations that failed.",
    fallbacks: "Fetches made without the shared cache because it failed.",
    background_refreshes: "Hot renewable entries renewed by the background refresher.",
    revocations: "Revocations applied (POST /v1/admin/revoke).",
    blocked: "Requests refused because their subject or role is blocked after a revocation.",
}

pub(crate) fn inc(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}
