//! One conformance suite for every `CredentialCache`: in-process (fixed clock) and every Redis
//! topology a broker can be configured for (`tests/all/support/topology.rs`): standalone
//! (`FEDBROKER_TEST_REDIS_URL`), TLS with a client certificate (`FEDBROKER_TEST_REDIS_TLS_*`), a
//! real 3-node Redis Cluster (`FEDBROKER_TEST_REDIS_CLUSTER_URLS`, `scripts/redis-cluster.sh
//! start`) and one over TLS (`FEDBROKER_TEST_REDIS_CLUSTER_TLS_URLS`), Sentinel and Sentinel over
//! TLS (`FEDBROKER_TEST_SENTINEL_*`, `scripts/redis-topologies.sh start`). All must give the same
//! answers to the same checks; each Redis store is built from the `[cache]` section a broker
//! would be given.

use crate::support::cache;
use crate::support::topology;

use cache::*;
use chrono::TimeDelta;
use fedbroker::cache::{
    CacheError, CacheKey, CacheKeyInput, CredentialCache, Guarded, Keyring, Label,
    MemoryCredentialCache,
};
use fedbroker::clock::{Clock, FixedClock, SystemClock};
use futures_util::future::BoxFuture;
use secrecy::ExposeSecret;
use std::sync::Arc;
use std::time::Duration;

/// Tasks racing for one lock.
const RACERS: usize = 64;

struct Subject {
    name: &'static str,
    store: Arc<dyn CredentialCache>,
    clock: Arc<dyn Clock>,
    pass: Box<dyn Fn(Duration) -> BoxFuture<'static, ()>>,
}

fn key(run: &uuid::Uuid, name: &str) -> CacheKey {
    CacheKey::derive(&CacheKeyInput {
        subject: format!("{run}:{name}"),
        ..Default::default()
    })
}

async fn conformance(s: &Subject) {
    let name = s.name;
    let run = uuid::Uuid::new_v4();
    let (a, b) = (key(&run, "a"), key(&run, "b"));
    s.store.ping().await.unwrap();

    // Empty, then put/get round trip with every field intact.
    assert!(s.store.get(&a).await.unwrap().is_none(), "{name}: empty");
    let e = entry(s.clock.now(), TimeDelta::hours(1), 1);
    s.store.put(&a, &e, Duration::from_secs(60)).await.unwrap();
    let got = s.store.get(&a).await.unwrap().expect("entry");
    let (g, w) = (&got.credentials, &e.credentials);
    assert_eq!(g.access_key_id, w.access_key_id, "{name}");
    assert_eq!(g.secret_access_key.expose_secret(), SECRET, "{name}");
    assert_eq!(g.session_token.expose_secret(), TOKEN, "{name}");
    assert_eq!(g.expiration, w.expiration, "{name}");
    assert_eq!(g.assumed_role_arn, w.assumed_role_arn, "{name}");
    assert_eq!(g.subject, w.subject, "{name}");
    assert_eq!(g.source_identity, w.source_identity, "{name}");
    assert_eq!(g.packed_policy_size, w.packed_policy_size, "{name}");
    assert_eq!(got.fetched_at, e.fetched_at, "{name}");
    assert!(
        s.store.get(&b).await.unwrap().is_none(),
        "{name}: keys are independent"
    );

    // Overwrite replaces.
    let e2 = entry(s.clock.now(), TimeDelta::hours(1), 2);
    s.store.put(&a, &e2, Duration::from_secs(60)).await.unwrap();
    let got = s.store.get(&a).await.unwrap().unwrap();
    assert_eq!(
        got.credentials.access_key_id, e2.credentials.access_key_id,
        "{name}"
    );

    // TTL: gone after it.
    s.store
        .put(&b, &e, Duration::from_millis(1_000))
        .await
        .unwrap();
    assert!(s.store.get(&b).await.unwrap().is_some(), "{name}");
    (s.pass)(Duration::from_millis(1_300)).await;
    assert!(
        s.store.get(&b).await.unwrap().is_none(),
        "{name}: expired by TTL"
    );
    assert!(
        s.store.get(&a).await.unwrap().is_some(),
        "{name}: longer TTL kept"
    );

    // Purge.
    assert!(s.store.purge(&a).await.unwrap(), "{name}: purge finds it");
    assert!(!s.store.purge(&a).await.unwrap(), "{name}: purge twice");
    assert!(s.store.get(&a).await.unwrap().is_none(), "{name}: purged");

    // Labels: a purge by label drops exactly the entries recorded under it, and reports their
    // sessions; other labels and entries are untouched.
    let (alice, bob, role) = (
        Label::subject(&format!("{run}:alice")),
        Label::subject(&format!("{run}:bob")),
        Label::role(&format!("{run}:role")),
    );
    let (ka1, ka2, kb) = (key(&run, "a1"), key(&run, "a2"), key(&run, "b1"));
    let ttl = Duration::from_secs(60);
    for (k, labels) in [
        (&ka1, vec![alice.clone(), role.clone()]),
        (&ka2, vec![alice.clone()]),
        (&kb, vec![bob.clone(), role.clone()]),
    ] {
        s.store.put(k, &e, ttl).await.unwrap();
        s.store.label(k, &labels, ttl).await.unwrap();
    }
    let purged = s.store.purge_label(&alice).await.unwrap();
    assert_eq!(purged.entries, 2, "{name}: both of alice's entries");
    assert_eq!(
        purged.sessions,
        vec![e.credentials.assumed_role_arn.clone()],
        "{name}: sessions reported once"
    );
    assert!(s.store.get(&ka1).await.unwrap().is_none(), "{name}");
    assert!(s.store.get(&ka2).await.unwrap().is_none(), "{name}");
    assert!(
        s.store.get(&kb).await.unwrap().is_some(),
        "{name}: bob kept"
    );
    assert_eq!(
        s.store.purge_label(&alice).await.unwrap().entries,
        0,
        "{name}: purge by label twice"
    );
    assert_eq!(
        s.store.purge_label(&role).await.unwrap().entries,
        1,
        "{name}: the role's remaining entry (bob's)"
    );

    // A label with more entries than one purge pipeline holds (Redis purges in chunks of 500):
    // every entry is dropped and counted, none is left behind.
    let many = Label::role(&format!("{run}:many"));
    let keys: Vec<_> = (0..1_234).map(|i| key(&run, &format!("m{i}"))).collect();
    for k in &keys {
        s.store.put(k, &e, ttl).await.unwrap();
        s.store
            .label(k, std::slice::from_ref(&many), ttl)
            .await
            .unwrap();
    }
    let purged = s.store.purge_label(&many).await.unwrap();
    assert_eq!(
        purged.entries, 1_234,
        "{name}: every entry of a large label"
    );
    assert_eq!(purged.sessions.len(), 1, "{name}: one distinct session");
    for k in [&keys[0], &keys[499], &keys[500], &keys[1_233]] {
        assert!(s.store.get(k).await.unwrap().is_none(), "{name}: purged");
    }
    assert!(s.store.get(&kb).await.unwrap().is_none(), "{name}");

    // Blocks: per label, until they expire.
    assert!(!s
        .store
        .blocked(&[alice.clone(), bob.clone()])
        .await
        .unwrap());
    s.store
        .block(&alice, Duration::from_millis(1_000))
        .await
        .unwrap();
    assert!(
        s.store
            .blocked(&[bob.clone(), alice.clone()])
            .await
            .unwrap(),
        "{name}"
    );
    assert!(
        !s.store.blocked(std::slice::from_ref(&bob)).await.unwrap(),
        "{name}"
    );
    assert!(!s.store.blocked(&[]).await.unwrap(), "{name}: no labels");
    // The hit path's one call: the entry unless a label is blocked.
    let g = key(&run, "guarded");
    s.store.put(&g, &e, ttl).await.unwrap();
    let guarded = |labels: Vec<Label>| {
        let (store, g) = (s.store.clone(), g.clone());
        async move { store.get_unless_blocked(&g, &labels).await.unwrap() }
    };
    assert!(
        matches!(
            guarded(vec![bob.clone(), alice.clone()]).await,
            Guarded::Blocked
        ),
        "{name}: blocked, entry withheld"
    );
    match guarded(vec![bob.clone(), role.clone()]).await {
        Guarded::Open(Some(got)) => assert_eq!(
            got.credentials.access_key_id, e.credentials.access_key_id,
            "{name}"
        ),
        other => panic!("{name}: not blocked, entry expected: {other:?}"),
    }
    assert!(
        matches!(guarded(vec![]).await, Guarded::Open(Some(_))),
        "{name}: no labels"
    );
    assert!(
        matches!(
            s.store
                .get_unless_blocked(&key(&run, "none"), std::slice::from_ref(&bob))
                .await
                .unwrap(),
            Guarded::Open(None)
        ),
        "{name}: not blocked, no entry"
    );
    (s.pass)(Duration::from_millis(1_300)).await;
    assert!(
        !s.store.blocked(std::slice::from_ref(&alice)).await.unwrap(),
        "{name}: block expired"
    );
    assert!(
        matches!(guarded(vec![alice.clone()]).await, Guarded::Open(Some(_))),
        "{name}: block expired, entry served"
    );

    // Locks: exclusive, renewable and releasable only by the holder, lease expiry.
    let l = key(&run, "lock");
    let t1 = s
        .store
        .try_lock(&l, Duration::from_secs(30))
        .await
        .unwrap()
        .expect("first lock");
    assert!(
        s.store
            .try_lock(&l, Duration::from_secs(30))
            .await
            .unwrap()
            .is_none(),
        "{name}: held"
    );
    let stranger = fedbroker::cache::LockToken::random();
    assert!(
        !s.store
            .renew(&l, &stranger, Duration::from_secs(30))
            .await
            .unwrap(),
        "{name}"
    );
    s.store.release(&l, &stranger).await.unwrap();
    assert!(
        s.store
            .try_lock(&l, Duration::from_secs(30))
            .await
            .unwrap()
            .is_none(),
        "{name}: stranger cannot release"
    );
    assert!(
        s.store
            .renew(&l, &t1, Duration::from_millis(1_000))
            .await
            .unwrap(),
        "{name}: holder renews"
    );
    s.store.release(&l, &t1).await.unwrap();
    let t2 = s
        .store
        .try_lock(&l, Duration::from_millis(1_000))
        .await
        .unwrap()
        .expect("after release");
    (s.pass)(Duration::from_millis(1_300)).await;
    assert!(
        !s.store
            .renew(&l, &t2, Duration::from_secs(1))
            .await
            .unwrap(),
        "{name}: lease expired"
    );
    let t3 = s.store.try_lock(&l, Duration::from_secs(30)).await.unwrap();
    assert!(t3.is_some(), "{name}: expired lease can be taken");
    s.store.release(&l, &t3.unwrap()).await.unwrap();

    // Racing for one lock: exactly one winner.
    let r = key(&run, "race");
    let racers: Vec<_> = (0..RACERS)
        .map(|_| {
            let (store, r) = (s.store.clone(), r.clone());
            tokio::spawn(async move {
                store
                    .try_lock(&r, Duration::from_secs(30))
                    .await
                    .unwrap()
                    .is_some()
            })
        })
        .collect();
    let mut winners = 0;
    for h in racers {
        winners += usize::from(h.await.unwrap());
    }
    assert_eq!(winners, 1, "{name}: exactly one of {RACERS} lockers wins");
}

fn fixed_subject() -> Subject {
    let clock = Arc::new(FixedClock::new(t0()));
    let advance = clock.clone();
    Subject {
        name: "memory",
        store: Arc::new(MemoryCredentialCache::new(clock.clone())),
        clock,
        pass: Box::new(move |d| {
            advance.advance(TimeDelta::from_std(d).unwrap());
            Box::pin(async {})
        }),
    }
}

fn real_subject(name: &'static str, store: Arc<dyn CredentialCache>) -> Subject {
    Subject {
        name,
        store,
        clock: Arc::new(SystemClock),
        pass: Box::new(|d| Box::pin(tokio::time::sleep(d))),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn memory_store_conforms() {
    conformance(&fixed_subject()).await;
}

/// The suite checks what each store answers, not how fast: it gives Redis 5 s per command
/// (`cache.credential_cache_timeout_ms`; production default 500 ms). With the whole test suite
/// beside it on 2 cores, a round trip to the test Redis took longer than 500 ms now and then
/// (`Redis did not answer in time` in 3 of 6 runs at 6 test threads). That the budget holds is
/// tested on its own: `a_hung_redis_is_given_up_after_the_configured_budget`.
const SUITE_BUDGET_MS: u64 = 5_000;

async fn topology_conforms(t: topology::Topology) {
    let mut cfg = t.cache_config(&prefix("conf"));
    cfg.credential_cache_timeout_ms = SUITE_BUDGET_MS;
    let store = topology::cache_store_with(t, &cfg).await;
    conformance(&real_subject(t.name(), store)).await;
}

/// A Redis that stops answering (here: its process stopped with SIGSTOP, as a hung or
/// partitioned server would behave) costs a cache command its configured budget and no more:
/// the request then goes to STS instead of waiting. Also checks the key is read from the config.
#[tokio::test]
async fn a_hung_redis_is_given_up_after_the_configured_budget() {
    use std::process::{Command, Stdio};
    let port = crate::support::broker::spare_port();
    let mut server = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server (scripts/setup.sh installs it)");
    struct Stop(std::process::Child);
    impl Drop for Stop {
        fn drop(&mut self) {
            let pid = self.0.id().to_string();
            let _ = Command::new("kill").args(["-CONT", &pid]).status();
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let pid = server.id().to_string();
    let url = format!("redis://127.0.0.1:{port}");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while redis::Client::open(url.as_str())
        .and_then(|c| c.get_connection())
        .is_err()
    {
        assert!(
            std::time::Instant::now() < deadline && server.try_wait().unwrap().is_none(),
            "redis-server on port {port} did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let _server = Stop(server);
    let cfg: fedbroker::config::CacheConfig = toml::from_str(&format!(
        "redis_url = {url:?}\nkey_prefix = \"budget:\"\nencryption_keys = [{:?}]\n\
         credential_cache_timeout_ms = 300\n",
        topology::KEY_SPEC
    ))
    .unwrap();
    let store = topology::cache_store_of(&cfg).await;
    let k = key(&uuid::Uuid::new_v4(), "k");
    assert!(
        store.get(&k).await.unwrap().is_none(),
        "answers while running"
    );

    assert!(Command::new("kill")
        .args(["-STOP", &pid])
        .status()
        .unwrap()
        .success());
    let asked = std::time::Instant::now();
    let got = store.get(&k).await;
    let took = asked.elapsed();
    assert!(
        matches!(got, Err(CacheError::Unavailable(_))),
        "a hung Redis is unavailable: {got:?}"
    );
    assert!(
        took >= Duration::from_millis(300) && took < Duration::from_millis(2_000),
        "given up after the 300 ms budget, not {took:?}"
    );
}

topology::conforms_on_every_topology!(topology_conforms);

/// Entries sealed under one key name do not open under another (AAD = cache key), and rotation:
/// a keyring with a new first key still reads entries written with the old one.
#[tokio::test]
async fn redis_entries_are_bound_to_their_key_and_survive_rotation() {
    let p = prefix("rot");
    let old = redis_store(&p).await;
    let run = uuid::Uuid::new_v4();
    let (a, b) = (key(&run, "a"), key(&run, "b"));
    old.put(
        &a,
        &entry(chrono::Utc::now(), TimeDelta::hours(1), 1),
        Duration::from_secs(60),
    )
    .await
    .unwrap();

    // Move the sealed bytes to b's name: must not decrypt.
    let mut conn = redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let raw: Vec<u8> = redis::cmd("GET")
        .arg(old.entry_key(&a))
        .query_async(&mut conn)
        .await
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg(old.entry_key(&b))
        .arg(raw)
        .arg("EX")
        .arg(60)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(matches!(
        old.get(&b).await,
        Err(fedbroker::cache::CacheError::Corrupt(_))
    ));

    let rotated = Keyring::from_specs([
        "k3:AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=",
        "k2:AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=",
    ])
    .unwrap();
    let new = fedbroker::cache::RedisCredentialCache::connect(&redis_url(), &p, rotated)
        .await
        .unwrap();
    assert!(new.get(&a).await.unwrap().is_some(), "old key still reads");
    let only_new =
        Keyring::from_specs(["k3:AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM="]).unwrap();
    let dropped = fedbroker::cache::RedisCredentialCache::connect(&redis_url(), &p, only_new)
        .await
        .unwrap();
    assert!(matches!(
        dropped.get(&a).await,
        Err(fedbroker::cache::CacheError::Corrupt(_))
    ));
    new.put(
        &a,
        &entry(chrono::Utc::now(), TimeDelta::hours(1), 2),
        Duration::from_secs(60),
    )
    .await
    .unwrap();
    assert!(
        dropped.get(&a).await.unwrap().is_some(),
        "rewritten with the newest key"
    );
}

#[tokio::test]
async fn redis_connect_failure_is_unavailable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = fedbroker::cache::RedisCredentialCache::connect(
        &format!("redis://127.0.0.1:{port}"),
        "x:",
        keyring(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, fedbroker::cache::CacheError::Unavailable(_)));
}
