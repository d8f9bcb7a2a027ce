//! When a cached credential may be served, when it should be refreshed, and how long Redis keeps it.
//!
//! For an entry fetched at `f` that expires at `e` (lifetime `L = e - f`), at time `now`:
//! - hard window `W = min(REFRESH_WINDOW, L / 2)`: an entry with `W` or less left is never served
//!   from the cache (done criterion: "a served credential never has less than the refresh window
//!   left"); the store's TTL is `e - W - now`, so it disappears by then on its own;
//! - soft window `W + min(EARLY_REFRESH_MARGIN, L / 4)`: inside it the entry is still served, and one
//!   caller refreshes it in the background of the others;
//! - otherwise the entry is fresh.
//!
//! Short sessions: STS allows 15-minute sessions, which a fixed 15-minute window would never cache
//! (and would call stale on arrival), hence the `L / 2` clamp; the soft window stays inside the
//! first three quarters of the lifetime for the same reason.

use chrono::{DateTime, TimeDelta, Utc};

/// Least time left on a credential the cache hands out. AWS gives one concrete figure for refreshing
/// temporary credentials: "at least 15 minutes before the current set expires" (EC2 instance
/// metadata, docs/AWS-RULES.md §7.1); callers (the CLI, SDKs) cache what they get, so a credential handed out
/// with less left would expire in their hands mid-job.
pub const REFRESH_WINDOW: TimeDelta = TimeDelta::minutes(15);

/// How long before the hard window one caller starts refreshing while others are still served, so
/// that under steady load no caller ever waits on STS for a key that is in use.
pub const EARLY_REFRESH_MARGIN: TimeDelta = TimeDelta::minutes(5);

/// What to do with a cached entry now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freshness {
    /// Serve it.
    Fresh,
    /// Serve it, and let one caller refresh it.
    RefreshDue,
    /// Do not serve it.
    Unservable,
}

/// The hard window for a credential with this lifetime.
pub fn refresh_window(lifetime: TimeDelta) -> TimeDelta {
    REFRESH_WINDOW.min(lifetime / 2).max(TimeDelta::zero())
}

/// The soft window (hard window plus the early-refresh margin).
pub fn early_refresh_window(lifetime: TimeDelta) -> TimeDelta {
    refresh_window(lifetime)
        + EARLY_REFRESH_MARGIN
            .min(lifetime / 4)
            .max(TimeDelta::zero())
}

/// Classify an entry fetched at `fetched_at`, expiring at `expiration`.
pub fn freshness(
    fetched_at: DateTime<Utc>,
    expiration: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Freshness {
    let lifetime = expiration - fetched_at;
    let left = expiration - now;
    if left <= refresh_window(lifetime) {
        Freshness::Unservable
    } else if left <= early_refresh_window(lifetime) {
        Freshness::RefreshDue
    } else {
        Freshness::Fresh
    }
}

/// How long a store keeps an entry: until the hard window starts. `None`: not worth caching.
pub fn store_ttl(
    fetched_at: DateTime<Utc>,
    expiration: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<std::time::Duration> {
    let ttl = expiration - refresh_window(expiration - fetched_at) - now;
    (ttl > TimeDelta::zero())
        .then(|| ttl.to_std().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(min: i64) -> DateTime<Utc> {
        DateTime::<Utc>::UNIX_EPOCH + TimeDelta::minutes(min)
    }

    #[test]
    fn one_hour_session_boundaries() {
        let (f, e) = (t(0), t(60));
        assert_eq!(freshness(f, e, t(0)), Freshness::Fresh);
        assert_eq!(freshness(f, e, t(39)), Freshness::Fresh);
        assert_eq!(freshness(f, e, t(40)), Freshness::RefreshDue);
        assert_eq!(freshness(f, e, t(44)), Freshness::RefreshDue);
        assert_eq!(freshness(f, e, t(45)), Freshness::Unservable);
        assert_eq!(
            store_ttl(f, e, t(0)),
            Some(std::time::Duration::from_secs(45 * 60))
        );
        assert_eq!(store_ttl(f, e, t(45)), None);
    }

    #[test]
    fn fifteen_minute_session_is_clamped() {
        let (f, e) = (t(0), t(15));
        assert_eq!(refresh_window(e - f), TimeDelta::seconds(450));
        assert_eq!(freshness(f, e, t(0)), Freshness::Fresh);
        assert_eq!(freshness(f, e, t(4)), Freshness::RefreshDue);
        assert_eq!(freshness(f, e, t(8)), Freshness::Unservable);
    }

    #[test]
    fn already_expired_or_inverted_is_unservable() {
        assert_eq!(freshness(t(0), t(60), t(61)), Freshness::Unservable);
        assert_eq!(freshness(t(10), t(0), t(0)), Freshness::Unservable);
        assert_eq!(store_ttl(t(10), t(0), t(0)), None);
    }
}
