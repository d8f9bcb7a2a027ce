//! Unauthenticated resource exhaustion over HTTP, one test per attack: metric series grown by
//! random methods and paths, slow request bodies (slowloris) holding connections, and more
//! connections than the broker has file descriptors for.

use crate::support;
use crate::support::broker;

use actix_web::http::Method;
use actix_web::middleware::from_fn;
use actix_web::test as atest;
use actix_web::{web, App};
use broker::{spare_port, Broker, BrokerOptions};
use fedbroker::http::middleware::{rate_limit as limits, request_metrics};
use fedbroker::http::routes;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use support::app::test_app;

/// The `fedbroker_http_request_duration_seconds` series in an OpenMetrics page (one per label set).
fn request_series(page: &str) -> std::collections::BTreeSet<String> {
    page.lines()
        .filter(|l| l.starts_with("fedbroker_http_request_duration_seconds_count{"))
        .filter_map(|l| l.split_once('}').map(|(labels, _)| labels.to_owned()))
        .collect()
}

#[actix_web::test]
async fn random_http_methods_and_paths_do_not_grow_metric_series() {
    // A tight per-client limit, so most of the flood is also rate limited (and still counted:
    // the metrics middleware wraps the limiter).
    let app = test_app(
        "[limits]\nper_client_per_minute = 5\n[[saml.idps]]\nname = \"test-idp\"\nmetadata_file = \"config/test-idp-metadata.xml\"\n",
    );
    let app = atest::init_service(
        App::new()
            .app_data(web::Data::new(app.state))
            .wrap(from_fn(limits::middleware))
            .wrap(from_fn(request_metrics::middleware))
            .configure(routes),
    )
    .await;
    let peer: std::net::SocketAddr = "198.51.100.9:40000".parse().unwrap();
    let scrape = || async {
        let req = atest::TestRequest::get().uri("/metrics").to_request();
        let resp = atest::call_service(&app, req).await;
        assert_eq!(resp.status(), 200);
        String::from_utf8(atest::read_body(resp).await.to_vec()).unwrap()
    };
    let flood = |from: usize, to: usize| {
        let app = &app;
        async move {
            for i in from..to {
                let method = Method::from_bytes(format!("XAB{i}").as_bytes()).unwrap();
                for (method, path) in [
                    (method.clone(), "/healthz".to_owned()),
                    (method, format!("/no/such/path/{i}")),
                    (Method::GET, format!("/random-{i}?q={i}")),
                    (Method::POST, format!("/v1/saml/credentials/{i}")),
                ] {
                    let req = atest::TestRequest::default()
                        .method(method)
                        .uri(&path)
                        .peer_addr(peer)
                        .to_request();
                    let resp = atest::call_service(app, req).await;
                    assert!(resp.status().is_client_error(), "{path}: {}", resp.status());
                }
            }
        }
    };
    scrape().await;
    flood(0, 20).await;
    let before = request_series(&scrape().await);
    flood(20, 520).await;
    let page = scrape().await;
    let after = request_series(&page);
    assert_eq!(
        after.len(),
        before.len(),
        "2,000 requests with 500 new methods and 1,500 new paths added series"
    );
    assert_eq!(after, before);
    for series in &after {
        assert!(
            !series.contains("XAB"),
            "a raw method became a label: {series}"
        );
        assert!(
            !series.contains("/no/such") && !series.contains("random-"),
            "a raw path became a label: {series}"
        );
    }
    assert!(
        after.iter().any(|s| s.contains("method=\"other\"")),
        "{after:?}"
    );
    assert!(
        after.iter().any(|s| s.contains("route=\"unmatched\"")),
        "{after:?}"
    );
}

/// A client that announces a 200,000-byte form body and sends one byte of it.
fn slow_post(addr: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "POST /v1/saml/credentials HTTP/1.1\r\nHost: {addr}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 200000\r\n\r\nS"
    )
    .expect("send headers");
    s
}

/// Descriptors the process `pid` holds open.
fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("read /proc/PID/fd")
        .count()
}

/// `GET /healthz` on a new connection: the status and how long the answer took.
fn healthz(addr: &str, patience: Duration) -> (Option<u16>, Duration) {
    let started = Instant::now();
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(patience)).unwrap();
    write!(
        s,
        "GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).unwrap_or(0);
    let status = std::str::from_utf8(&buf[..n])
        .ok()
        .and_then(|t| t.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok());
    (status, started.elapsed())
}

fn broker_with(envs: &[(&str, &str)]) -> (Broker, String) {
    let broker = Broker::start_on(
        BrokerOptions {
            redis: false,
            ..Default::default()
        },
        spare_port(),
        envs,
    );
    let addr = broker.base_url.trim_start_matches("http://").to_owned();
    (broker, addr)
}

#[test]
fn a_slowloris_body_is_cut_off_with_request_timeout_after_the_deadline() {
    let (_broker, addr) = broker_with(&[
        ("FEDBROKER_SERVER__BODY_TIMEOUT_SECS", "1"),
        ("FEDBROKER_LIMITS__PER_CLIENT_PER_MINUTE", "0"),
    ]);
    let started = Instant::now();
    let mut s = slow_post(&addr);
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut answer = Vec::new();
    // One more byte every 200 ms, as long as the broker listens (at most 10 s).
    while started.elapsed() < Duration::from_secs(10) {
        let mut buf = [0u8; 4096];
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(_) if answer.is_empty() => {
                let _ = s.write_all(b"S");
            }
            Err(_) => break,
        }
    }
    let elapsed = started.elapsed();
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.starts_with("HTTP/1.1 408"),
        "after {elapsed:?}: {text}"
    );
    assert!(text.contains("\"code\":\"request_timeout\""), "{text}");
    assert!(
        elapsed >= Duration::from_secs(1) && elapsed < Duration::from_secs(4),
        "cut off after {elapsed:?}, not at the 1 s deadline"
    );
    // The connection is closed: the rest of the announced body is not waited for.
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut rest = Vec::new();
    assert!(
        s.read_to_end(&mut rest).is_ok(),
        "the broker kept the connection open after the 408"
    );
}

#[test]
fn slow_bodies_beyond_the_connection_cap_do_not_exhaust_descriptors_or_stop_healthz() {
    let (broker, addr) = broker_with(&[
        ("FEDBROKER_SERVER__MAX_CONNECTIONS", "40"),
        ("FEDBROKER_SERVER__BODY_TIMEOUT_SECS", "3"),
        ("FEDBROKER_LIMITS__PER_CLIENT_PER_MINUTE", "0"),
    ]);
    std::thread::sleep(Duration::from_millis(300));
    let baseline = open_fds(broker.pid());
    // Below the cap, health answers at once.
    let mut held: Vec<TcpStream> = (0..30).map(|_| slow_post(&addr)).collect();
    std::thread::sleep(Duration::from_millis(300));
    let (status, took) = healthz(&addr, Duration::from_secs(5));
    assert_eq!(status, Some(200), "below the cap");
    assert!(
        took < Duration::from_millis(1500),
        "healthz took {took:?} below the cap"
    );
    // Four times the cap: the broker holds at most the cap, the rest wait in the backlog.
    held.extend((0..130).map(|_| slow_post(&addr)));
    std::thread::sleep(Duration::from_millis(500));
    let fds = open_fds(broker.pid());
    assert!(
        fds <= baseline + 40 + 4,
        "{fds} descriptors open with 160 slow clients (baseline {baseline}, cap 40)"
    );
    // A new client is answered once the body deadline frees slots (4 rounds of 3 s at most).
    let (status, took) = healthz(&addr, Duration::from_secs(20));
    assert_eq!(status, Some(200), "healthz beyond the cap (after {took:?})");
    drop(held);
    assert!(
        !broker.logs().contains("Too many open files"),
        "{}",
        broker.logs()
    );
}
