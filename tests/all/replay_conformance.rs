//! One conformance suite for every `ReplayGuard`: the in-process store (fixed clock) and every
//! Redis topology a broker can be configured for (`tests/all/support/topology.rs`: standalone, TLS
//! with a client certificate, Cluster URLs alone, Cluster over TLS, Sentinel, Sentinel over TLS),
//! in real time. All must give the same answers to the same checks; each Redis store is built
//! from the `[cache]` section a broker would be given.

use crate::support::topology;

use chrono::{DateTime, TimeDelta, Utc};
use fedbroker::clock::{Clock, FixedClock, SystemClock};
use fedbroker::replay::{MemoryReplayGuard, RedisReplayGuard, ReplayGuard, MIN_REMEMBER};
use futures_util::future::BoxFuture;
use std::sync::Arc;

/// Tasks racing on one key in the double-submit check.
const RACERS: usize = 64;

/// A store under test, its clock, and how to let `d` pass for it.
struct Subject {
    name: &'static str,
    guard: Arc<dyn ReplayGuard>,
    clock: Arc<dyn Clock>,
    pass: Box<dyn Fn(TimeDelta) -> BoxFuture<'static, ()>>,
}

impl Subject {
    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}

async fn conformance(s: &Subject) {
    let name = s.name;
    let run = uuid::Uuid::new_v4();
    let key = |k: &str| format!("{run}:{k}");
    s.guard.ping().await.unwrap();

    // First use, then replay.
    let until = s.now() + TimeDelta::minutes(5);
    assert!(
        s.guard.first_use(&key("a"), until).await.unwrap(),
        "{name}: first use"
    );
    assert!(
        !s.guard.first_use(&key("a"), until).await.unwrap(),
        "{name}: replay"
    );
    assert!(
        !s.guard
            .first_use(&key("a"), until + TimeDelta::hours(1))
            .await
            .unwrap(),
        "{name}: replay with a later expiry"
    );

    // Distinct keys are independent.
    assert!(
        s.guard.first_use(&key("b"), until).await.unwrap(),
        "{name}: other key"
    );
    assert!(
        s.guard.first_use(&key("A"), until).await.unwrap(),
        "{name}: keys are case-sensitive"
    );

    // Expiry: a key is forgotten after `until`, and usable once more.
    let short = s.now() + TimeDelta::seconds(1);
    assert!(
        s.guard.first_use(&key("short"), short).await.unwrap(),
        "{name}"
    );
    assert!(
        !s.guard.first_use(&key("short"), short).await.unwrap(),
        "{name}"
    );
    (s.pass)(TimeDelta::milliseconds(1_300)).await;
    let later = s.now() + TimeDelta::seconds(1);
    assert!(
        s.guard.first_use(&key("short"), later).await.unwrap(),
        "{name}: after expiry"
    );
    assert!(
        !s.guard.first_use(&key("short"), later).await.unwrap(),
        "{name}: replay after re-use"
    );
    assert!(
        !s.guard.first_use(&key("a"), until).await.unwrap(),
        "{name}: long key still held"
    );

    // An `until` already in the past is still remembered for MIN_REMEMBER.
    let past = s.now() - TimeDelta::minutes(1);
    assert!(
        s.guard.first_use(&key("past"), past).await.unwrap(),
        "{name}"
    );
    assert!(
        !s.guard.first_use(&key("past"), past).await.unwrap(),
        "{name}: past until"
    );
    assert_eq!(MIN_REMEMBER, TimeDelta::seconds(1));

    // Concurrent double submit: exactly one winner.
    let until = s.now() + TimeDelta::minutes(5);
    let racers: Vec<_> = (0..RACERS)
        .map(|_| {
            let guard = s.guard.clone();
            let k = key("race");
            tokio::spawn(async move { guard.first_use(&k, until).await.unwrap() })
        })
        .collect();
    let mut winners = 0;
    for r in racers {
        winners += usize::from(r.await.unwrap());
    }
    assert_eq!(winners, 1, "{name}: exactly one of {RACERS} racers wins");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_conforms() {
    let clock = Arc::new(FixedClock::new(
        DateTime::parse_from_rfc3339("2025-01-01T00:00:00Z")
            .unwrap()
            .into(),
    ));
    let advance = clock.clone();
    let subject = Subject {
        name: "memory",
        guard: Arc::new(MemoryReplayGuard::new(clock.clone())),
        clock,
        pass: Box::new(move |d| {
            advance.advance(d);
            Box::pin(async {})
        }),
    };
    conformance(&subject).await;
}

fn real_subject(name: &'static str, guard: Arc<dyn ReplayGuard>) -> Subject {
    Subject {
        name,
        guard,
        clock: Arc::new(SystemClock),
        pass: Box::new(|d| Box::pin(tokio::time::sleep(d.to_std().unwrap()))),
    }
}

async fn topology_conforms(t: topology::Topology) {
    let guard = topology::replay_store(t, &topology::prefix("replay")).await;
    conformance(&real_subject(t.name(), guard)).await;
}

topology::conforms_on_every_topology!(topology_conforms);

/// Keys are the prefix plus a SHA-256 hex digest, never the raw key.
#[tokio::test]
async fn redis_keys_never_hold_the_raw_assertion_id() {
    let url = topology::env("FEDBROKER_TEST_REDIS_URL", "services.sh");
    let prefix = topology::prefix("replay");
    let guard = RedisReplayGuard::connect(&url, &prefix)
        .await
        .unwrap_or_else(|e| panic!("cannot reach Redis at FEDBROKER_TEST_REDIS_URL: {e}"));
    let k = guard.redis_key("assertion-id-123");
    assert!(k.starts_with(&prefix));
    assert_eq!(k.len(), prefix.len() + 64);
    assert!(!k.contains("assertion-id-123"));
}

#[tokio::test]
async fn redis_connect_failure_is_unavailable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = RedisReplayGuard::connect(&format!("redis://127.0.0.1:{port}"), "x:")
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        fedbroker::replay::ReplayError::Unavailable(_)
    ));
}
