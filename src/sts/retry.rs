//! When and how often an STS call is retried.
//!
//! Policy: retry only what AWS says is temporary — throttling, `IDPCommunicationError`, and
//! transport failures / 5xx — at most [`MAX_ATTEMPTS`] attempts in all, with exponential backoff
//! and jitter starting at [`BASE_BACKOFF`]. Never retry a client error (`InvalidIdentityToken`,
//! `AccessDenied`, validation...): the same assertion would be sent to AWS again for nothing, and a
//! SAML assertion must not be replayed at AWS on a client error.
//!
//! The SDK's own retries are disabled (`sdk.rs`) so this is the single place that decides: the SDK
//! (aws-sdk-sts 1.x) already classifies `IDPCommunicationError` as transient, and stacking both
//! layers would multiply the attempts. Sleep and jitter are injected, so tests run without waiting.

use super::StsError;
use crate::error::ApiError;
use futures_util::future::BoxFuture;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

/// Attempts in all (first call included). Three keeps a login under ~35 s in the worst case
/// (3 × the 10 s operation timeout plus backoff) while riding out a short throttling burst.
pub const MAX_ATTEMPTS: u32 = 3;
/// Backoff before the first retry; doubles for each further retry.
pub const BASE_BACKOFF: Duration = Duration::from_millis(100);
/// Ceiling for one backoff, whatever the attempt number.
pub const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// Whether `err` is worth another attempt with the same request.
pub fn is_retryable(err: &StsError) -> bool {
    match err {
        StsError::Throttled | StsError::IdpUnreachable | StsError::Unavailable(_) => true,
        StsError::IdentityRejected { .. }
        | StsError::Refused { .. }
        | StsError::InvalidRequest { .. }
        | StsError::ChainingLimit { .. }
        | StsError::BrokerCredentials(_)
        | StsError::Broker(_) => false,
    }
}

type SleepFn = Arc<dyn Fn(Duration) -> BoxFuture<'static, ()> + Send + Sync>;
type JitterFn = Arc<dyn Fn() -> f64 + Send + Sync>;

/// Bounded exponential backoff with jitter.
#[derive(Clone)]
pub struct RetryPolicy {
    max_attempts: u32,
    base: Duration,
    max: Duration,
    sleep: SleepFn,
    jitter: JitterFn,
}

impl std::fmt::Debug for RetryPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("max_attempts", &self.max_attempts)
            .field("base", &self.base)
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: MAX_ATTEMPTS,
            base: BASE_BACKOFF,
            max: MAX_BACKOFF,
            sleep: Arc::new(|d| Box::pin(tokio::time::sleep(d))),
            jitter: Arc::new(random_unit),
        }
    }
}

/// A uniform-enough number in `[0, 1)` from the std hasher's per-instance random keys; jitter only
/// needs to de-synchronise clients, not to be unpredictable.
fn random_unit() -> f64 {
    let bits = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

impl RetryPolicy {
    /// The same policy with injected sleep and jitter (tests).
    pub fn with_hooks(
        mut self,
        sleep: impl Fn(Duration) -> BoxFuture<'static, ()> + Send + Sync + 'static,
        jitter: impl Fn() -> f64 + Send + Sync + 'static,
    ) -> Self {
        self.sleep = Arc::new(sleep);
        self.jitter = Arc::new(jitter);
        self
    }

    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// Backoff before retry number `retry` (1 = first retry): `base · 2^(retry-1)`, capped at
    /// `max`, then "equal jitter": a uniform point in the upper half, so it never collapses to 0.
    pub fn backoff(&self, retry: u32, jitter: f64) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << retry.saturating_sub(1).min(16));
        let capped = exp.min(self.max);
        let jitter = jitter.clamp(0.0, 1.0);
        capped / 2 + capped.mul_f64(jitter / 2.0)
    }

    /// Run `op` (given the attempt number, from 1) until it succeeds, fails with a
    /// non-retryable error, or [`Self::max_attempts`] are used up; returns the last error.
    pub async fn run<T, F, Fut>(&self, mut op: F) -> Result<T, StsError>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, StsError>>,
    {
        let mut attempt = 1;
        loop {
            match op(attempt).await {
                Ok(v) => return Ok(v),
                Err(e) if attempt < self.max_attempts && is_retryable(&e) => {
                    let delay = self.backoff(attempt, (self.jitter)());
                    tracing::debug!(
                        sts.attempt = attempt,
                        sts.error = e.code(),
                        sts.aws_code = e.aws_code(),
                        sts.backoff_ms = delay.as_millis() as u64,
                        "retrying STS call"
                    );
                    (self.sleep)(delay).await;
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A policy that records its sleeps instead of sleeping, with fixed jitter.
    fn fake(jitter: f64) -> (RetryPolicy, Arc<Mutex<Vec<Duration>>>) {
        let slept = Arc::new(Mutex::new(Vec::new()));
        let log = slept.clone();
        let policy = RetryPolicy::default().with_hooks(
            move |d| {
                log.lock().unwrap().push(d);
                Box::pin(async {})
            },
            move || jitter,
        );
        (policy, slept)
    }

    /// An STS stand-in failing with `errors` in order, then succeeding.
    async fn scripted(policy: &RetryPolicy, errors: Vec<StsError>) -> (Result<u32, StsError>, u32) {
        let errors = Mutex::new(errors.into_iter());
        let calls = Mutex::new(0);
        let result = policy
            .run(|attempt| {
                *calls.lock().unwrap() += 1;
                let next = errors.lock().unwrap().next();
                async move {
                    match next {
                        Some(e) => Err(e),
                        None => Ok(attempt),
                    }
                }
            })
            .await;
        let calls = *calls.lock().unwrap();
        (result, calls)
    }

    fn rejected(code: &str) -> StsError {
        StsError::IdentityRejected {
            aws_code: code.into(),
            message: "no".into(),
        }
    }

    #[tokio::test]
    async fn idp_communication_error_is_retried_then_succeeds() {
        let (policy, slept) = fake(0.0);
        let (result, calls) =
            scripted(&policy, vec![StsError::IdpUnreachable, StsError::Throttled]).await;
        assert_eq!(result.unwrap(), 3);
        assert_eq!(calls, 3);
        // Equal jitter with jitter=0: half of 100 ms, then half of 200 ms.
        assert_eq!(
            *slept.lock().unwrap(),
            vec![Duration::from_millis(50), Duration::from_millis(100)]
        );
    }

    #[tokio::test]
    async fn gives_up_after_max_attempts_with_last_error() {
        let (policy, slept) = fake(1.0);
        let (result, calls) = scripted(
            &policy,
            vec![
                StsError::IdpUnreachable,
                StsError::IdpUnreachable,
                StsError::Unavailable("503".into()),
                StsError::IdpUnreachable,
            ],
        )
        .await;
        assert!(matches!(result, Err(StsError::Unavailable(_))));
        assert_eq!(calls, MAX_ATTEMPTS);
        assert_eq!(
            *slept.lock().unwrap(),
            vec![Duration::from_millis(100), Duration::from_millis(200)]
        );
    }

    #[tokio::test]
    async fn client_errors_are_never_retried() {
        for err in [
            rejected("InvalidIdentityToken"),
            StsError::Refused {
                aws_code: "AccessDenied".into(),
                message: "no".into(),
            },
            StsError::InvalidRequest {
                aws_code: "ValidationError".into(),
                message: "no".into(),
            },
        ] {
            let (policy, slept) = fake(0.5);
            let (result, calls) = scripted(&policy, vec![err]).await;
            assert!(result.is_err());
            assert_eq!(calls, 1, "a client error must reach AWS once only");
            assert!(slept.lock().unwrap().is_empty());
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(1, 1.0), Duration::from_millis(100));
        assert_eq!(p.backoff(2, 1.0), Duration::from_millis(200));
        assert_eq!(p.backoff(3, 1.0), Duration::from_millis(400));
        assert_eq!(p.backoff(30, 1.0), MAX_BACKOFF);
        assert_eq!(p.backoff(30, 0.0), MAX_BACKOFF / 2);
        for _ in 0..100 {
            let j = random_unit();
            assert!((0.0..1.0).contains(&j));
        }
    }
}
