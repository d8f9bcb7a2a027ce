//! End to end across two broker processes: two real `fedbroker` binaries with the same
//! configuration (as two replicas behind a load balancer: the same `public_url`), sharing one
//! Redis deployment, for each topology an operator can configure (`tests/all/support/topology.rs`:
//! standalone, TLS with a client certificate, Cluster URLs alone, Cluster over TLS, Sentinel,
//! Sentinel over TLS). STS is moto (`scripts/services.sh start`).
//!
//! Per topology:
//! - an assertion exchanged at replica 1 is refused at replica 2 as a replay (`401 saml_replay`),
//!   and the other way round;
//! - the same fresh assertion posted to both replicas at once is accepted exactly once;
//! - a browser sign-in started at replica 1 (`GET /saml/login`) finishes at replica 2 (the IdP's
//!   POST to `/saml/acs`), and the session it opens is served by both replicas.

use crate::support::broker;
use crate::support::harness::fresh;
use crate::support::topology;

use base64::Engine as _;
use broker::{spare_port, Broker, BrokerOptions};
use serde_json::Value;
use std::io::Read as _;
use topology::Topology;

/// Two brokers with the same configuration for `t`; both answer for replica 1's `public_url`.
fn replicas(t: Topology) -> (Broker, Broker) {
    let prefix = topology::prefix("replicas");
    let opts = || BrokerOptions {
        redis: false,
        extra_toml: t.cache_toml(&prefix),
    };
    let port = spare_port();
    let public = format!("http://127.0.0.1:{port}");
    let envs = [("FEDBROKER_SERVER__PUBLIC_URL", public.as_str())];
    let first = Broker::start_on(opts(), port, &envs);
    let second = Broker::start_on(opts(), spare_port(), &envs);
    (first, second)
}

async fn exchange(broker: &Broker, saml: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(broker.url("/v1/saml/credentials"))
        .form(&[("SAMLResponse", saml)])
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.expect("JSON body"))
}

fn assert_replay(what: &str, (status, body): &(u16, Value), broker: &Broker) {
    assert_eq!(*status, 401, "{what}: {body}\n{}", broker.logs());
    assert_eq!(body["error"]["code"], "saml_replay", "{what}: {body}");
}

/// Replay across replicas, both ways, and a double submit racing at both.
async fn replay_is_shared(name: &str, first: &Broker, second: &Broker) {
    for (at, again) in [(first, second), (second, first)] {
        let saml = fresh().build_base64();
        let ok = exchange(at, &saml).await;
        assert_eq!(ok.0, 200, "{name}: {}\n{}", ok.1, at.logs());
        assert_replay(
            &format!("{name}: the same assertion at the other replica"),
            &exchange(again, &saml).await,
            again,
        );
    }
    let saml = fresh().build_base64();
    let (a, b) = tokio::join!(exchange(first, &saml), exchange(second, &saml));
    let accepted = [a.0, b.0].iter().filter(|s| **s == 200).count();
    assert_eq!(
        accepted, 1,
        "{name}: one assertion posted to both replicas at once: {a:?} / {b:?}"
    );
    let refused = if a.0 == 200 { (b, second) } else { (a, first) };
    assert_replay(&format!("{name}: the racing loser"), &refused.0, refused.1);
}

/// The AuthnRequest ID in a `GET /saml/login` redirect.
fn authn_request_id(location: &str) -> String {
    let loc = url::Url::parse(location).expect("redirect URL");
    let req = loc
        .query_pairs()
        .find(|(k, _)| k == "SAMLRequest")
        .expect("SAMLRequest in the redirect")
        .1
        .into_owned();
    let deflated = base64::engine::general_purpose::STANDARD
        .decode(req)
        .unwrap();
    let mut xml = String::new();
    flate2::read::DeflateDecoder::new(deflated.as_slice())
        .read_to_string(&mut xml)
        .unwrap();
    xml.split("ID=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("AuthnRequest ID")
        .to_owned()
}

/// A browser sign-in started at `first`, finished at `second`, its session served by both.
async fn sign_in_crosses_replicas(name: &str, first: &Broker, second: &Broker) {
    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = browser
        .get(first.url("/saml/login?idp=test-idp"))
        .send()
        .await
        .expect("login");
    assert_eq!(resp.status().as_u16(), 302, "{name}: {}", first.logs());
    let location = resp.headers()["location"].to_str().unwrap().to_owned();
    let id = authn_request_id(&location);

    // The IdP answers; the load balancer sends the browser's POST to the other replica.
    let public = &first.base_url;
    let mut b = fresh();
    b.audiences = vec![format!("{public}/saml/metadata")];
    b.recipient = Some(format!("{public}/saml/acs"));
    b.destination = Some(format!("{public}/saml/acs"));
    b.in_response_to = Some(id);
    let saml = b.build_base64();
    let resp = browser
        .post(second.url("/saml/acs"))
        .form(&[("SAMLResponse", saml.as_str())])
        .send()
        .await
        .expect("acs");
    let status = resp.status().as_u16();
    let body = resp.text().await.unwrap_or_default();
    assert_eq!(
        status,
        303,
        "{name}: the sign-in started at replica 1 must finish at replica 2: {body}\n{}",
        second.logs()
    );
    for (which, broker) in [("replica 2", second), ("replica 1", first)] {
        let resp = browser
            .get(broker.url("/roles"))
            .header("accept", "application/json")
            .send()
            .await
            .expect("roles");
        assert_eq!(
            resp.status().as_u16(),
            200,
            "{name}: the session is served by {which}"
        );
    }

    // The same response once more, at replica 1: the request it answers was used up.
    let resp = browser
        .post(first.url("/saml/acs"))
        .form(&[("SAMLResponse", saml.as_str())])
        .send()
        .await
        .expect("acs again");
    assert!(
        resp.status().is_client_error(),
        "{name}: a sign-in response replayed at the other replica must be refused, got {}",
        resp.status()
    );
}

async fn replay_across_replicas(t: Topology) {
    t.wait_ready().await;
    let (first, second) = replicas(t);
    replay_is_shared(t.name(), &first, &second).await;
}

async fn sign_in_across_replicas(t: Topology) {
    t.wait_ready().await;
    let (first, second) = replicas(t);
    sign_in_crosses_replicas(t.name(), &first, &second).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assertion_replayed_at_another_replica_is_refused_on_standalone_redis() {
    replay_across_replicas(Topology::Standalone).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_started_on_one_replica_finishes_on_another_on_standalone_redis() {
    sign_in_across_replicas(Topology::Standalone).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assertion_replayed_at_another_replica_is_refused_on_tls_redis() {
    replay_across_replicas(Topology::Tls).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_started_on_one_replica_finishes_on_another_on_tls_redis() {
    sign_in_across_replicas(Topology::Tls).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assertion_replayed_at_another_replica_is_refused_on_redis_cluster() {
    replay_across_replicas(Topology::Cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_started_on_one_replica_finishes_on_another_on_redis_cluster() {
    sign_in_across_replicas(Topology::Cluster).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assertion_replayed_at_another_replica_is_refused_on_redis_cluster_over_tls() {
    replay_across_replicas(Topology::ClusterTls).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_started_on_one_replica_finishes_on_another_on_redis_cluster_over_tls() {
    sign_in_across_replicas(Topology::ClusterTls).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assertion_replayed_at_another_replica_is_refused_on_sentinel() {
    replay_across_replicas(Topology::Sentinel).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_started_on_one_replica_finishes_on_another_on_sentinel() {
    sign_in_across_replicas(Topology::Sentinel).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assertion_replayed_at_another_replica_is_refused_on_sentinel_over_tls() {
    replay_across_replicas(Topology::SentinelTls).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_started_on_one_replica_finishes_on_another_on_sentinel_over_tls() {
    sign_in_across_replicas(Topology::SentinelTls).await;
}
