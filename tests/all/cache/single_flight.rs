//! `CachingExchange` policy: single flight (in-process and across two "replicas" sharing Redis),
//! the refresh window with a fixed clock, nothing readable in Redis, and the negative cache.

use crate::support::cache;

use cache::*;
use chrono::TimeDelta;
use fedbroker::cache::{
    CacheKey, CacheKeyInput, CacheOutcome, CachingExchange, CredentialCache, Label, Purged,
    REFRESH_WINDOW,
};
use fedbroker::clock::{Clock, FixedClock, SystemClock};
use fedbroker::sts::{StsCredentials, StsError};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const CONCURRENT: usize = 100;

fn key(tag: &str) -> CacheKey {
    CacheKey::derive(&CacheKeyInput {
        subject: SUBJECT.into(),
        role_arn: format!(
            "arn:aws:iam::123456789012:role/{tag}-{}",
            uuid::Uuid::new_v4()
        ),
        ..Default::default()
    })
}

/// A fetch that counts its calls and takes `delay` (a slow STS).
fn counting_fetch(
    calls: Arc<AtomicUsize>,
    clock: Arc<dyn Clock>,
    delay: Duration,
) -> impl FnOnce() -> futures_util::future::BoxFuture<'static, Result<StsCredentials, StsError>> {
    move || {
        Box::pin(async move {
            let n = calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(delay).await;
            Ok(creds(clock.now(), TimeDelta::hours(1), n))
        })
    }
}

async fn hundred_cold(
    exchanges: &[CachingExchange],
    clock: Arc<dyn Clock>,
    delay: Duration,
) -> usize {
    let k = key("cold");
    let calls = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..CONCURRENT)
        .map(|i| {
            let ex = exchanges[i % exchanges.len()].clone();
            let (k, f) = (
                k.clone(),
                counting_fetch(calls.clone(), clock.clone(), delay),
            );
            tokio::spawn(async move { ex.get_or_fetch(&k, f).await.unwrap() })
        })
        .collect();
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        ids.insert(t.await.unwrap().0.access_key_id);
    }
    assert_eq!(ids.len(), 1, "every caller got the same credential");
    calls.load(Ordering::SeqCst)
}

/// The standalone test Redis with 5 s per command (`cache.credential_cache_timeout_ms`; production
/// 500 ms). These tests check the lock protocol across replicas: past its budget a replica goes to
/// STS directly, by design, which on a starved 2-core machine once made a second STS call here
/// (the budget itself: `cache::conformance::a_hung_redis_is_given_up_after_the_configured_budget`).
async fn patient_redis_store(prefix: &str) -> fedbroker::cache::RedisCredentialCache {
    redis_store(prefix)
        .await
        .with_op_timeout(Duration::from_secs(5))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundred_cold_requests_make_one_sts_call_in_process() {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let ex = CachingExchange::in_process(clock.clone());
    assert_eq!(
        hundred_cold(std::slice::from_ref(&ex), clock, Duration::from_millis(200)).await,
        1
    );
    let m = ex.metrics();
    assert_eq!((m.misses, m.coalesced, m.sts_calls), (1, 99, 1), "{m:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundred_cold_requests_make_one_sts_call_across_two_replicas_on_redis() {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let p = prefix("sf");
    let replicas = [
        CachingExchange::shared(Arc::new(patient_redis_store(&p).await), clock.clone()),
        CachingExchange::shared(Arc::new(patient_redis_store(&p).await), clock.clone()),
    ];
    // A slow STS (longer than a lock renewal period) keeps the lease renewed while others wait.
    let slow = fedbroker::cache::service::LOCK_RENEW_EVERY + Duration::from_millis(700);
    assert_eq!(hundred_cold(&replicas, clock, slow).await, 1);
    let waits: u64 = replicas.iter().map(|r| r.metrics().lock_waits).sum();
    assert_eq!(
        waits, 1,
        "the second replica waited on the first one's lock"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn served_credentials_keep_the_refresh_window_and_one_caller_refreshes() {
    let fixed = Arc::new(FixedClock::new(t0()));
    let clock: Arc<dyn Clock> = fixed.clone();
    let ex = CachingExchange::in_process(clock.clone());
    let k = key("window");
    let calls = Arc::new(AtomicUsize::new(0));
    let f = || counting_fetch(calls.clone(), clock.clone(), Duration::ZERO);
    let (c, o) = ex.get_or_fetch(&k, f()).await.unwrap();
    assert_eq!(o, CacheOutcome::Miss);
    // Walk through the whole hour minute by minute: whatever is served keeps the window.
    for _ in 0..120 {
        let (got, outcome) = ex.get_or_fetch(&k, f()).await.unwrap();
        let left = got.expiration - fixed.now();
        assert!(
            left > REFRESH_WINDOW,
            "served with {left} left ({outcome:?})"
        );
        fixed.advance(TimeDelta::minutes(1));
    }
    assert!(calls.load(Ordering::SeqCst) >= 3, "refreshed along the way");
    let _ = c;

    // Inside the early-refresh window: one caller refreshes (slow STS), the others get the entry.
    let k = key("early");
    let slow = Arc::new(AtomicUsize::new(0));
    ex.get_or_fetch(
        &k,
        counting_fetch(slow.clone(), clock.clone(), Duration::ZERO),
    )
    .await
    .unwrap();
    fixed.advance(TimeDelta::minutes(42));
    let refresher = {
        let (ex, k) = (ex.clone(), k.clone());
        let f = counting_fetch(slow.clone(), clock.clone(), Duration::from_millis(300));
        tokio::spawn(async move { ex.get_or_fetch(&k, f).await.unwrap().1 })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    for _ in 0..10 {
        let f = counting_fetch(slow.clone(), clock.clone(), Duration::ZERO);
        assert_eq!(ex.get_or_fetch(&k, f).await.unwrap().1, CacheOutcome::Hit);
    }
    assert_eq!(refresher.await.unwrap(), CacheOutcome::Refreshed);
    assert_eq!(
        slow.load(Ordering::SeqCst),
        2,
        "one initial fetch, one refresh"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nothing_secret_is_readable_in_redis() {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let p = prefix("scan");
    let ex = CachingExchange::shared(Arc::new(patient_redis_store(&p).await), clock.clone());
    for i in 0..5 {
        let calls = Arc::new(AtomicUsize::new(0));
        ex.get_or_fetch(
            &key(&format!("scan{i}")),
            counting_fetch(calls, clock.clone(), Duration::ZERO),
        )
        .await
        .unwrap();
    }
    let mut conn = redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let mut cursor = 0u64;
    let mut seen = 0;
    loop {
        let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(format!("{p}*"))
            .arg("COUNT")
            .arg(1000)
            .query_async(&mut conn)
            .await
            .unwrap();
        for k in keys {
            assert!(
                !k.contains(SUBJECT) && !k.contains("alice"),
                "subject in key name {k}"
            );
            let v: Option<Vec<u8>> = redis::cmd("GET")
                .arg(&k)
                .query_async(&mut conn)
                .await
                .unwrap();
            let v = v.unwrap_or_default();
            for needle in [SECRET, TOKEN, SUBJECT, "ASIATEST", "assumed-role"] {
                assert!(
                    !v.windows(needle.len()).any(|w| w == needle.as_bytes()),
                    "{needle} readable in {k}"
                );
            }
            seen += 1;
        }
        if next == 0 {
            break;
        }
        cursor = next;
    }
    assert_eq!(seen, 5, "every entry was scanned (locks are released)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn negative_cache_bounds_sts_calls_during_a_refusal_storm() {
    let fixed = Arc::new(FixedClock::new(t0()));
    let ex = CachingExchange::in_process(fixed.clone());
    let k = key("storm");
    let calls = Arc::new(AtomicUsize::new(0));
    let refuse = |calls: Arc<AtomicUsize>| {
        move || async move {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<StsCredentials, _>(StsError::Refused {
                aws_code: "AccessDenied".into(),
                message: "not authorized".into(),
            })
        }
    };
    for _ in 0..50 {
        let err = ex
            .get_or_fetch(&k, refuse(calls.clone()))
            .await
            .unwrap_err();
        assert!(matches!(err, StsError::Refused { .. }));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    fixed.advance(fedbroker::cache::service::NEGATIVE_TTL + TimeDelta::seconds(1));
    ex.get_or_fetch(&k, refuse(calls.clone()))
        .await
        .unwrap_err();
    assert_eq!(
        calls.load(Ordering::SeqCst),
        2,
        "asked again after the negative TTL"
    );
    // Identity rejections are not remembered (a fresh token may succeed).
    let k2 = key("rejected");
    let rejected = Arc::new(AtomicUsize::new(0));
    for _ in 0..3 {
        let r = rejected.clone();
        ex.get_or_fetch(&k2, move || async move {
            r.fetch_add(1, Ordering::SeqCst);
            Err::<StsCredentials, _>(StsError::IdentityRejected {
                aws_code: "ExpiredTokenException".into(),
                message: "expired".into(),
            })
        })
        .await
        .unwrap_err();
    }
    assert_eq!(rejected.load(Ordering::SeqCst), 3);
}

/// A shared store that always fails: every request still succeeds, through the fallback.
#[derive(Debug)]
struct DownStore;

#[async_trait::async_trait]
impl CredentialCache for DownStore {
    async fn get(
        &self,
        _: &CacheKey,
    ) -> Result<Option<fedbroker::cache::CachedCredentials>, fedbroker::cache::CacheError> {
        Err(down())
    }
    async fn put(
        &self,
        _: &CacheKey,
        _: &fedbroker::cache::CachedCredentials,
        _: Duration,
    ) -> Result<(), fedbroker::cache::CacheError> {
        Err(down())
    }
    async fn try_lock(
        &self,
        _: &CacheKey,
        _: Duration,
    ) -> Result<Option<fedbroker::cache::LockToken>, fedbroker::cache::CacheError> {
        Err(down())
    }
    async fn renew(
        &self,
        _: &CacheKey,
        _: &fedbroker::cache::LockToken,
        _: Duration,
    ) -> Result<bool, fedbroker::cache::CacheError> {
        Err(down())
    }
    async fn release(
        &self,
        _: &CacheKey,
        _: &fedbroker::cache::LockToken,
    ) -> Result<(), fedbroker::cache::CacheError> {
        Err(down())
    }
    async fn purge(&self, _: &CacheKey) -> Result<bool, fedbroker::cache::CacheError> {
        Err(down())
    }
    async fn ping(&self) -> Result<(), fedbroker::cache::CacheError> {
        Err(down())
    }
    async fn label(
        &self,
        _: &CacheKey,
        _: &[Label],
        _: Duration,
    ) -> Result<(), fedbroker::cache::CacheError> {
        Err(down())
    }
    async fn purge_label(&self, _: &Label) -> Result<Purged, fedbroker::cache::CacheError> {
        Err(down())
    }
    async fn block(&self, _: &Label, _: Duration) -> Result<(), fedbroker::cache::CacheError> {
        Err(down())
    }
    async fn blocked(&self, _: &[Label]) -> Result<bool, fedbroker::cache::CacheError> {
        Err(down())
    }
}

fn down() -> fedbroker::cache::CacheError {
    fedbroker::cache::CacheError::Unavailable("redis down (test)".into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shared_store_down_falls_back_and_reports_degraded() {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let ex = CachingExchange::shared(Arc::new(DownStore), clock.clone());
    assert_eq!(
        hundred_cold(
            std::slice::from_ref(&ex),
            clock.clone(),
            Duration::from_millis(100)
        )
        .await,
        1
    );
    assert_eq!(ex.health(), fedbroker::cache::CacheHealth::Degraded);
    let m = ex.metrics();
    assert!(m.shared_errors >= 1 && m.fallbacks == 1, "{m:?}");
}
