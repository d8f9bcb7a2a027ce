//! One conformance suite for every `BrowserKv` (where pending logins and browser sessions live):
//! the in-process store (fixed clock) and every Redis topology a broker can be configured for
//! (`tests/all/support/topology.rs`: standalone, TLS with a client certificate, Cluster URLs alone,
//! Cluster over TLS, Sentinel, Sentinel over TLS), in real time. All must give the same answers
//! to the same checks: round trips, expiry, single-use takes (exactly one of many racing takers wins), and the pending-login bounds
//! (one flooding client evicts only its own oldest; the overall bound holds; a session is never
//! crowded out by pending logins).
//!
//! The Redis-only properties (values sealed, an envelope moved to another key does not open, the
//! number of index members stays bounded) are checked in `tests/all/browser/saml.rs` and
//! `tests/all/browser/oidc.rs`.

use crate::support::topology;

use chrono::{DateTime, TimeDelta};
use fedbroker::clock::FixedClock;
use fedbroker::sign_in::{BrowserKv, MemoryKv};
use futures_util::future::BoxFuture;
use std::sync::Arc;

/// Tasks racing to take one single-use entry.
const RACERS: usize = 64;
/// Pending-login bounds every subject is built with: overall, per client.
const MAX_PENDING: usize = 100;
const MAX_PER_CLIENT: usize = 8;

struct Subject {
    name: &'static str,
    kv: Arc<dyn BrowserKv>,
    pass: Box<dyn Fn(TimeDelta) -> BoxFuture<'static, ()>>,
}

async fn value(kv: &dyn BrowserKv, key: &str) -> Option<Vec<u8>> {
    kv.get(key).await.unwrap().map(|v| v.to_vec())
}

async fn conformance(s: &Subject) {
    let name = s.name;
    let kv = s.kv.as_ref();
    let run = uuid::Uuid::new_v4().simple().to_string();
    let k = |what: &str| format!("{what}:{run}");
    let hour = TimeDelta::hours(1);

    // Empty; round trip; reads do not consume; binary values intact; keys independent.
    assert!(value(kv, &k("sess:a")).await.is_none(), "{name}: empty");
    assert!(kv.take(&k("sess:a")).await.unwrap().is_none(), "{name}");
    let all_bytes: Vec<u8> = (0..=255u8).collect();
    kv.put(&k("sess:a"), &all_bytes, hour).await.unwrap();
    assert_eq!(
        value(kv, &k("sess:a")).await,
        Some(all_bytes.clone()),
        "{name}"
    );
    assert_eq!(
        value(kv, &k("sess:a")).await,
        Some(all_bytes.clone()),
        "{name}: get does not consume"
    );
    assert!(value(kv, &k("sess:b")).await.is_none(), "{name}: other key");
    assert!(
        value(kv, &k("SESS:a")).await.is_none(),
        "{name}: keys are case-sensitive"
    );

    // Overwrite replaces.
    kv.put(&k("sess:a"), b"second", hour).await.unwrap();
    assert_eq!(
        value(kv, &k("sess:a")).await,
        Some(b"second".to_vec()),
        "{name}"
    );

    // Take: once, then gone for every reader.
    assert_eq!(
        kv.take(&k("sess:a")).await.unwrap().map(|v| v.to_vec()),
        Some(b"second".to_vec()),
        "{name}: take returns the value"
    );
    assert!(
        kv.take(&k("sess:a")).await.unwrap().is_none(),
        "{name}: take twice"
    );
    assert!(value(kv, &k("sess:a")).await.is_none(), "{name}: taken");

    // Remove, for sessions and pending logins alike; removing nothing is fine.
    kv.put(&k("sess:r"), b"r", hour).await.unwrap();
    kv.put_pending("192.0.2.9", &k("saml:r"), b"p", hour)
        .await
        .unwrap();
    kv.remove(&k("sess:r")).await.unwrap();
    kv.remove(&k("saml:r")).await.unwrap();
    kv.remove(&k("never-written")).await.unwrap();
    assert!(value(kv, &k("sess:r")).await.is_none(), "{name}: removed");
    assert!(value(kv, &k("saml:r")).await.is_none(), "{name}: removed");

    // A pending login: readable, then single use.
    kv.put_pending("192.0.2.1", &k("oidc:p"), b"verifier", hour)
        .await
        .unwrap();
    assert_eq!(
        value(kv, &k("oidc:p")).await,
        Some(b"verifier".to_vec()),
        "{name}"
    );
    assert!(kv.take(&k("oidc:p")).await.unwrap().is_some(), "{name}");
    assert!(
        kv.take(&k("oidc:p")).await.unwrap().is_none(),
        "{name}: a pending login is single use"
    );

    // Expiry, for sessions and pending logins; a longer TTL is kept.
    let short = TimeDelta::milliseconds(1_000);
    kv.put(&k("sess:short"), b"s", short).await.unwrap();
    kv.put(&k("sess:long"), b"l", hour).await.unwrap();
    kv.put_pending("192.0.2.2", &k("saml:short"), b"p", short)
        .await
        .unwrap();
    assert!(value(kv, &k("sess:short")).await.is_some(), "{name}");
    assert!(value(kv, &k("saml:short")).await.is_some(), "{name}");
    (s.pass)(TimeDelta::milliseconds(1_300)).await;
    assert!(
        value(kv, &k("sess:short")).await.is_none(),
        "{name}: expired"
    );
    assert!(
        value(kv, &k("saml:short")).await.is_none(),
        "{name}: expired"
    );
    assert!(
        kv.take(&k("saml:short")).await.unwrap().is_none(),
        "{name}: an expired pending login cannot be taken"
    );
    assert!(value(kv, &k("sess:long")).await.is_some(), "{name}: kept");

    // Racing takes of one single-use entry (a callback submitted twice at once, at two
    // replicas): exactly one winner.
    for (what, pending) in [("saml:race", true), ("sess:race", false)] {
        let key = k(what);
        if pending {
            kv.put_pending("192.0.2.3", &key, b"once", hour)
                .await
                .unwrap();
        } else {
            kv.put(&key, b"once", hour).await.unwrap();
        }
        let racers: Vec<_> = (0..RACERS)
            .map(|_| {
                let (kv, key) = (s.kv.clone(), key.clone());
                tokio::spawn(async move { kv.take(&key).await.unwrap().is_some() })
            })
            .collect();
        let mut winners = 0;
        for r in racers {
            winners += usize::from(r.await.unwrap());
        }
        assert_eq!(
            winners, 1,
            "{name}: exactly one of {RACERS} takers of {what}"
        );
    }

    // One client floods pending logins: only its own oldest go.
    kv.put(&k("sess:victim"), b"session", hour).await.unwrap();
    kv.put_pending("192.0.2.1", &k("saml:victim"), b"v", hour)
        .await
        .unwrap();
    for i in 0..200 {
        kv.put_pending("198.51.100.7", &k(&format!("saml:f{i}")), b"f", hour)
            .await
            .unwrap();
    }
    let newest_kept = 200 - MAX_PER_CLIENT;
    assert!(
        value(kv, &k("saml:victim")).await.is_some(),
        "{name}: another client's pending login is kept"
    );
    assert!(
        value(kv, &k("saml:f199")).await.is_some(),
        "{name}: newest kept"
    );
    assert!(
        value(kv, &k(&format!("saml:f{newest_kept}")))
            .await
            .is_some(),
        "{name}: the {MAX_PER_CLIENT} newest are kept"
    );
    assert!(
        value(kv, &k(&format!("saml:f{}", newest_kept - 1)))
            .await
            .is_none(),
        "{name}: older than the per-client bound are evicted"
    );

    // Many clients flood: the overall bound holds, the newest is never refused, a session is
    // never crowded out.
    for i in 0..1_000 {
        kv.put_pending(
            &format!("203.0.113.{}", i % 35),
            &k(&format!("oidc:g{i}")),
            b"g",
            hour,
        )
        .await
        .unwrap();
    }
    assert!(
        value(kv, &k("oidc:g999")).await.is_some(),
        "{name}: newest kept"
    );
    let mut held = 0;
    for i in 0..1_000 {
        held += usize::from(value(kv, &k(&format!("oidc:g{i}"))).await.is_some());
    }
    assert!(
        held <= MAX_PENDING,
        "{name}: {held} pending logins held, bound {MAX_PENDING}"
    );
    assert!(
        value(kv, &k("oidc:g0")).await.is_none(),
        "{name}: oldest evicted"
    );
    assert_eq!(
        value(kv, &k("sess:victim")).await,
        Some(b"session".to_vec()),
        "{name}: a session is never crowded out by pending logins"
    );
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
        kv: Arc::new(MemoryKv::with_pending_limits(
            clock,
            MAX_PENDING,
            MAX_PER_CLIENT,
        )),
        pass: Box::new(move |d| {
            advance.advance(d);
            Box::pin(async {})
        }),
    };
    conformance(&subject).await;
}

/// The suite checks what each store answers, not how fast: Redis gets 5 s per command (the broker
/// 500 ms). With the whole test suite beside it on 2 cores a round trip to the test Redis took
/// longer than 500 ms once in about ten runs (`Redis did not answer in time`), as in the credential
/// cache's suite (`cache::conformance`, which also tests that a budget holds).
const SUITE_BUDGET: std::time::Duration = std::time::Duration::from_secs(5);

async fn topology_conforms(t: topology::Topology) {
    let kv = topology::browser_store_with_budget(
        t,
        &topology::prefix("web"),
        MAX_PENDING,
        MAX_PER_CLIENT,
        SUITE_BUDGET,
    )
    .await;
    let subject = Subject {
        name: t.name(),
        kv,
        pass: Box::new(|d| Box::pin(tokio::time::sleep(d.to_std().unwrap()))),
    };
    conformance(&subject).await;
}

topology::conforms_on_every_topology!(topology_conforms);
