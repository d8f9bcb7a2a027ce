//! Rate limits per client address and per subject (GCRA, with the `governor` crate), answered
//! 429 with `Retry-After`.
//!
//! - per client: every request except `/healthz`, `/readyz` and `/metrics`, keyed by the client
//!   address (`http::middleware::client_addr`: the TCP peer, or behind a proxy listed in
//!   `server.trusted_proxies` the client it names);
//! - per subject: credential requests, keyed by `hash_subject(issuer, subject)`, checked after the
//!   identity is verified and *before* the assertion or token is consumed, so a rate-limited
//!   request can be retried with the same message.
//!
//! Every refusal of either limit is counted in `fedbroker_rate_limited_total{limit}` when a
//! counter is attached ([`RateLimits::with_counter`]; the application state attaches its own).
//!
//! Invariants: a limit of 0 disables it; keys hold no clear subject; idle keys are dropped by
//! [`RateLimits::sweep`] (the credential cache's background task calls it), so memory stays
//! bounded by the number of active clients and subjects.

use crate::config::LimitsConfig;
use crate::error::{ApiError, ErrorKind};
use crate::telemetry::metrics::RateLimitedCounter;
use governor::clock::{Clock, DefaultClock};
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};
use std::num::NonZeroU32;

type Keyed = RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock>;

/// A request over its limit.
#[derive(Debug, thiserror::Error)]
#[error("too many requests from this {what}; retry in {retry_after} s")]
pub struct RateLimited {
    pub what: &'static str,
    pub retry_after: u64,
}

impl ApiError for RateLimited {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Throttled
    }
    fn code(&self) -> &'static str {
        match self.what {
            "client" => "rate_limited_client",
            _ => "rate_limited_subject",
        }
    }
    fn retry_after(&self) -> Option<u64> {
        Some(self.retry_after)
    }
}

/// Both limiters (held in `AppState` and `Exchange`).
pub struct RateLimits {
    per_client: Option<Keyed>,
    per_subject: Option<Keyed>,
    /// Counts every request refused by either limit (`None`: not counted, e.g. unit tests).
    refused: Option<RateLimitedCounter>,
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("per_client", &self.per_client.is_some())
            .field("per_subject", &self.per_subject.is_some())
            .field("counted", &self.refused.is_some())
            .finish()
    }
}

fn limiter(per_minute: u32) -> Option<Keyed> {
    NonZeroU32::new(per_minute).map(|n| RateLimiter::keyed(Quota::per_minute(n)))
}

fn check(l: &Option<Keyed>, key: &str, what: &'static str) -> Result<(), RateLimited> {
    let Some(l) = l else { return Ok(()) };
    l.check_key(&key.to_owned()).map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        RateLimited {
            what,
            retry_after: wait.as_secs().max(1),
        }
    })
}

impl RateLimits {
    /// Count every refusal in `counter` (`fedbroker_rate_limited_total`).
    pub fn with_counter(mut self, counter: RateLimitedCounter) -> Self {
        self.refused = Some(counter);
        self
    }

    fn counted(&self, out: Result<(), RateLimited>) -> Result<(), RateLimited> {
        if let (Err(e), Some(c)) = (&out, &self.refused) {
            c.inc(e.what);
        }
        out
    }
}

impl RateLimits {
    pub fn from_config(cfg: &LimitsConfig) -> Self {
        Self {
            per_client: limiter(cfg.per_client_per_minute),
            per_subject: limiter(cfg.per_subject_per_minute),
            refused: None,
        }
    }

    /// No limits (tests that count on unlimited calls).
    pub fn none() -> Self {
        Self {
            per_client: None,
            per_subject: None,
            refused: None,
        }
    }

    pub fn check_client(&self, addr: &str) -> Result<(), RateLimited> {
        self.counted(check(&self.per_client, addr, "client"))
    }

    /// `subject_hash`: `identity::hash_subject` of the verified identity.
    pub fn check_subject(&self, subject_hash: &str) -> Result<(), RateLimited> {
        self.counted(check(&self.per_subject, subject_hash, "subject"))
    }

    /// Drop keys whose limit has fully recovered.
    pub fn sweep(&self) {
        for l in [&self.per_client, &self.per_subject].into_iter().flatten() {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn over_the_limit_is_refused_with_a_retry_after_and_keys_are_independent() {
        let l = RateLimits::from_config(&LimitsConfig {
            per_client_per_minute: 2,
            per_subject_per_minute: 0,
        });
        assert!(l.check_client("10.0.0.1").is_ok());
        assert!(l.check_client("10.0.0.1").is_ok());
        let e = l.check_client("10.0.0.1").unwrap_err();
        assert_eq!(e.code(), "rate_limited_client");
        assert!((1..=30).contains(&e.retry_after), "{}", e.retry_after);
        assert!(l.check_client("10.0.0.2").is_ok(), "another client");
        for _ in 0..100 {
            assert!(l.check_subject("s").is_ok(), "0 = off");
        }
    }

    #[test]
    fn every_refusal_is_counted_by_limit_and_allowed_requests_are_not() {
        let metrics = crate::telemetry::metrics::Metrics::new();
        let l = RateLimits::from_config(&LimitsConfig {
            per_client_per_minute: 1,
            per_subject_per_minute: 1,
        })
        .with_counter(metrics.rate_limited());
        let text = metrics.render();
        assert!(
            text.contains("fedbroker_rate_limited_total{limit=\"client\"} 0"),
            "{text}"
        );
        assert!(
            text.contains("fedbroker_rate_limited_total{limit=\"subject\"} 0"),
            "{text}"
        );
        assert!(l.check_client("10.0.0.1").is_ok());
        assert!(l.check_client("10.0.0.1").is_err());
        assert!(l.check_client("10.0.0.1").is_err());
        assert!(l.check_subject("s").is_ok());
        assert!(l.check_subject("s").is_err());
        let text = metrics.render();
        assert!(
            text.contains("fedbroker_rate_limited_total{limit=\"client\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("fedbroker_rate_limited_total{limit=\"subject\"} 1"),
            "{text}"
        );
    }
}
