//! When to fetch an IdP's metadata again: pure arithmetic on the injected clock's time, so the
//! rules below are unit-tested with fixed values.
//!
//! Invariants:
//! - after a successful fetch the next one comes no later than the configured interval
//!   (`metadata_refresh_secs`), the document's `cacheDuration`, or its `validUntil`, whichever is
//!   first, and up to [`JITTER_PERCENT`] earlier (replicas started together spread out);
//! - whatever the document says, the wait is [`MIN_REFRESH_SECS`] to [`MAX_REFRESH_SECS`]: a
//!   hostile or broken `cacheDuration="PT0S"` (or a past `validUntil`) cannot make the broker
//!   hammer the IdP, and `cacheDuration="P1Y"` cannot freeze trust beyond the configured interval;
//! - after a failure the retry backs off exponentially from [`FIRST_RETRY_SECS`], never waiting
//!   longer than the regular interval nor [`MAX_RETRY_SECS`].

pub use crate::config::{MAX_REFRESH_SECS, MIN_REFRESH_SECS};
use crate::saml::validity::MetadataValidity;
use chrono::{DateTime, TimeDelta, Utc};

/// The interval when `metadata_refresh_secs` is not set.
pub const DEFAULT_REFRESH_SECS: u64 = 3_600;
/// At most this share of the wait is taken off at random.
pub const JITTER_PERCENT: u64 = 10;
/// First retry after a failed fetch or a refused document.
pub const FIRST_RETRY_SECS: u64 = 60;
/// Longest wait between retries while fetches keep failing.
pub const MAX_RETRY_SECS: u64 = 3_600;

/// The configured interval, or the default.
pub fn interval(configured_secs: Option<u64>) -> TimeDelta {
    let secs = configured_secs
        .unwrap_or(DEFAULT_REFRESH_SECS)
        .clamp(MIN_REFRESH_SECS, MAX_REFRESH_SECS);
    TimeDelta::seconds(secs as i64)
}

/// When to fetch again after a document with `validity` was accepted at `now`. `jitter` in
/// [0, 1] (a random draw in production) takes up to [`JITTER_PERCENT`] off the wait.
pub fn next_after_success(
    validity: &MetadataValidity,
    interval: TimeDelta,
    now: DateTime<Utc>,
    jitter: f64,
) -> DateTime<Utc> {
    let mut wait = interval;
    if let Some(cache) = validity.cache_duration {
        wait = wait.min(cache);
    }
    if let Some(until) = validity.valid_until {
        wait = wait.min(until - now);
    }
    now + bounded(
        take_jitter(wait, jitter),
        MIN_REFRESH_SECS,
        MAX_REFRESH_SECS,
    )
}

/// When to try again after the `failures`-th failure in a row (1 for the first) at `now`.
pub fn next_after_failure(
    failures: u32,
    interval: TimeDelta,
    now: DateTime<Utc>,
    jitter: f64,
) -> DateTime<Utc> {
    let doublings = failures.saturating_sub(1).min(20);
    let backoff = TimeDelta::seconds((FIRST_RETRY_SECS << doublings) as i64);
    let cap = interval.min(TimeDelta::seconds(MAX_RETRY_SECS as i64));
    let wait = take_jitter(backoff.min(cap), jitter);
    now + bounded(wait, FIRST_RETRY_SECS / 2, MAX_RETRY_SECS)
}

fn take_jitter(wait: TimeDelta, jitter: f64) -> TimeDelta {
    let jitter = if jitter.is_finite() {
        jitter.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let off =
        (wait.num_milliseconds().max(0) as f64 * jitter * JITTER_PERCENT as f64 / 100.0) as i64;
    wait - TimeDelta::milliseconds(off)
}

fn bounded(wait: TimeDelta, min_secs: u64, max_secs: u64) -> TimeDelta {
    wait.clamp(
        TimeDelta::seconds(min_secs as i64),
        TimeDelta::seconds(max_secs as i64),
    )
}

/// A uniform draw in [0, 1) from the system's CSPRNG (0 if it is unavailable: no jitter).
pub fn random_jitter() -> f64 {
    let mut b = [0u8; 4];
    match aws_lc_rs::rand::fill(&mut b) {
        Ok(()) => f64::from(u32::from_le_bytes(b)) / (f64::from(u32::MAX) + 1.0),
        Err(_) => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::saml::validity::parse_xs_duration;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2030, 1, 2, 3, 4, 5).unwrap()
    }

    fn wait_secs(validity: MetadataValidity, configured: Option<u64>, jitter: f64) -> i64 {
        (next_after_success(&validity, interval(configured), now(), jitter) - now()).num_seconds()
    }

    fn cache(s: &str) -> MetadataValidity {
        MetadataValidity {
            cache_duration: parse_xs_duration(s),
            valid_until: None,
        }
    }

    #[test]
    fn without_cache_duration_or_valid_until_the_configured_interval_applies() {
        assert_eq!(wait_secs(MetadataValidity::default(), None, 0.0), 3_600);
        assert_eq!(wait_secs(MetadataValidity::default(), Some(900), 0.0), 900);
    }

    #[test]
    fn cache_duration_and_valid_until_bring_the_refresh_forward() {
        assert_eq!(wait_secs(cache("PT20M"), None, 0.0), 1_200);
        let soon = MetadataValidity {
            cache_duration: parse_xs_duration("P1D"),
            valid_until: Some(now() + TimeDelta::minutes(40)),
        };
        assert_eq!(wait_secs(soon, None, 0.0), 2_400, "validUntil is first");
        // A longer cacheDuration does not postpone the configured interval.
        assert_eq!(wait_secs(cache("PT6H"), Some(1_800), 0.0), 1_800);
    }

    #[test]
    fn metadata_refresh_huge_cache_duration_is_clamped() {
        assert_eq!(wait_secs(cache("P1Y"), None, 0.0), 3_600);
        assert_eq!(wait_secs(cache("P99999Y"), Some(86_400), 0.0), 86_400);
        // Even a configured value out of bounds (refused by config validation) is clamped.
        assert_eq!(wait_secs(cache("P1Y"), Some(10_000_000), 0.0), 86_400);
        let far = MetadataValidity {
            cache_duration: None,
            valid_until: Some(now() + TimeDelta::days(3_650)),
        };
        assert_eq!(wait_secs(far, None, 0.0), 3_600);
    }

    #[test]
    fn metadata_refresh_zero_cache_duration_cannot_hammer_the_idp() {
        assert_eq!(wait_secs(cache("PT0S"), None, 0.0), 300);
        assert_eq!(wait_secs(cache("PT1S"), None, 1.0), 300);
        assert_eq!(wait_secs(cache("-P1D"), None, 0.0), 300);
        let past = MetadataValidity {
            cache_duration: None,
            valid_until: Some(now() - TimeDelta::days(1)),
        };
        assert_eq!(wait_secs(past, None, 0.0), 300);
        assert_eq!(interval(Some(1)), TimeDelta::seconds(300));
    }

    #[test]
    fn jitter_only_brings_the_refresh_forward_by_at_most_ten_percent() {
        assert_eq!(wait_secs(MetadataValidity::default(), None, 1.0), 3_240);
        assert_eq!(wait_secs(MetadataValidity::default(), None, 0.5), 3_420);
        assert_eq!(
            wait_secs(MetadataValidity::default(), None, f64::NAN),
            3_600
        );
        assert_eq!(wait_secs(MetadataValidity::default(), None, 7.0), 3_240);
        for _ in 0..100 {
            let j = random_jitter();
            assert!((0.0..1.0).contains(&j), "{j}");
            let w = wait_secs(MetadataValidity::default(), None, j);
            assert!((3_240..=3_600).contains(&w), "{w}");
        }
    }

    #[test]
    fn failures_back_off_exponentially_up_to_the_interval() {
        let at = |failures, configured| {
            (next_after_failure(failures, interval(configured), now(), 0.0) - now()).num_seconds()
        };
        assert_eq!(
            [1, 2, 3, 4, 5, 6, 7, 100].map(|f| at(f, None)),
            [60, 120, 240, 480, 960, 1_920, 3_600, 3_600]
        );
        assert_eq!(
            at(5, Some(600)),
            600,
            "never slower than the regular interval"
        );
        assert_eq!(
            at(30, Some(86_400)),
            3_600,
            "at most an hour between retries"
        );
        let jittered = next_after_failure(1, interval(None), now(), 1.0) - now();
        assert_eq!(jittered.num_seconds(), 54);
    }
}
