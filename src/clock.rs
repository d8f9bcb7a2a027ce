//! Injected time source, and the one place that reads the wall clock.
//!
//! Every time-dependent decision (assertion windows, replay expiry, credential refresh, the
//! credential cache's retry of a failed shared store) reads the time through a [`Clock`] held in
//! application state, never `Utc::now()` directly, so tests can pin boundaries exactly (the
//! smithy-rs `TimeSource` pattern). Measuring how long something took (latency for metrics and
//! logs, probe timings) uses a [`Stopwatch`].
//!
//! Invariant: clippy refuses `Utc::now`, `SystemTime::now` and `Instant::now` everywhere else in
//! the library and the binary (`clippy.toml`, `disallowed-methods`); a site that needs an exception
//! says why in an `#[expect(clippy::disallowed_methods, reason = "…")]`.

use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> DateTime<Utc>;
}

/// Shared clock handle.
pub type SharedClock = Arc<dyn Clock>;

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[expect(
        clippy::disallowed_methods,
        reason = "the system clock behind the injected `Clock`"
    )]
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// How long something took, on the monotonic clock: latency for metrics and logs, probe timings.
/// Never for a decision about time (those read the injected [`Clock`]).
#[derive(Debug, Clone, Copy)]
pub struct Stopwatch(Instant);

impl Stopwatch {
    /// Start measuring now.
    #[expect(
        clippy::disallowed_methods,
        reason = "a duration measurement, not a time decision; the monotonic clock is right here"
    )]
    pub fn start() -> Self {
        Self(Instant::now())
    }

    /// Time since [`Self::start`].
    pub fn elapsed(&self) -> Duration {
        self.0.elapsed()
    }
}

/// A clock that only moves when told to; for tests.
#[derive(Debug)]
pub struct FixedClock(Mutex<DateTime<Utc>>);

impl FixedClock {
    pub fn new(at: DateTime<Utc>) -> Self {
        Self(Mutex::new(at))
    }

    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = at;
    }

    pub fn advance(&self, by: chrono::Duration) {
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *t += by;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}
