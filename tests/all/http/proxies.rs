//! Trusted proxies (`server.trusted_proxies`) through the real routes and middleware: behind a
//! trusted load balancer each client has its own per-client budget, its own audit `client_ip` and
//! its own access-log line; forwarding headers from untrusted peers, and addresses a client puts
//! left of what the trusted proxy appended, are never used. (The header parser's cases are unit
//! tests in `src/http/client_addr.rs`; pending-login bounds behind a proxy are in
//! `tests/all/browser/saml.rs`.)

use crate::support;

use actix_web::test::{self, TestRequest};
use actix_web::web;
use fedbroker::audit::{Audit, MemorySink};
use fedbroker::config::DEFAULT_BODY_TIMEOUT_SECS;
use fedbroker::http::server::public_app;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::Arc;
use support::app::{test_app, TestApp};

/// The load balancer's address (inside the trusted 10.0.0.0/8).
const LB: &str = "10.0.0.5";

fn setup(trusted: &str, per_client: u32) -> TestApp {
    test_app(&format!(
        "[server]\ntrusted_proxies = [{trusted}]\n[limits]\nper_client_per_minute = {per_client}\n\
         per_subject_per_minute = 0\n[[saml.idps]]\nname = \"test-idp\"\n\
         metadata_file = \"config/test-idp-metadata.xml\"\n"
    ))
}

/// The routes behind the public listener's middleware, in production's order
/// (`fedbroker::http::server::public_app`: headers, request ids and access log, metrics, the
/// per-client limit, the body deadline).
macro_rules! broker {
    ($state:expr) => {
        test::init_service(public_app(
            web::Data::new($state),
            std::time::Duration::from_secs(DEFAULT_BODY_TIMEOUT_SECS),
            "http://127.0.0.1:8080",
            true,
        ))
        .await
    };
}

fn peer(ip: &str) -> SocketAddr {
    SocketAddr::new(ip.parse().unwrap(), 40_000)
}

/// A rate-limited route, from `from`, with `X-Forwarded-For: xff` when given.
fn get(from: &str, xff: Option<&str>) -> TestRequest {
    let r = TestRequest::get()
        .uri("/v1/thumbprint?issuer=x")
        .peer_addr(peer(from));
    match xff {
        Some(v) => r.insert_header(("x-forwarded-for", v.to_owned())),
        None => r,
    }
}

#[actix_web::test]
async fn clients_behind_one_trusted_proxy_have_separate_budgets() {
    let app = broker!(setup("\"10.0.0.0/8\"", 2).state);
    for client in ["198.51.100.1", "198.51.100.2"] {
        for i in 0..2 {
            let resp = test::call_service(&app, get(LB, Some(client)).to_request()).await;
            assert_ne!(
                resp.status(),
                429,
                "{client} request {i} is within its own budget"
            );
        }
        let resp = test::call_service(&app, get(LB, Some(client)).to_request()).await;
        assert_eq!(resp.status(), 429, "{client}'s own budget is spent");
    }
    // The load balancer's own requests (no header) have their own budget too.
    let resp = test::call_service(&app, get(LB, None).to_request()).await;
    assert_ne!(resp.status(), 429);
}

#[actix_web::test]
async fn one_client_flooding_does_not_throttle_another_behind_the_same_proxy() {
    let flood = |app_trusted: &'static str| async move {
        let app = broker!(setup(app_trusted, 20).state);
        let mut refused = 0;
        for _ in 0..200 {
            let r = test::call_service(&app, get(LB, Some("198.51.100.66")).to_request()).await;
            refused += usize::from(r.status() == 429);
        }
        let victim = test::call_service(&app, get(LB, Some("198.51.100.7")).to_request()).await;
        (refused, victim.status().as_u16())
    };
    let (refused, victim) = flood("\"10.0.0.0/8\"").await;
    assert!(
        refused >= 180,
        "the flooding client is throttled: {refused} of 200"
    );
    assert_ne!(victim, 429, "another client behind the same proxy is not");
    // Without the proxy listed (the default) everyone behind it shares one budget: the victim is
    // throttled too. This is what listing the proxy fixes.
    let (_, victim) = flood("").await;
    assert_eq!(victim, 429);
}

#[actix_web::test]
async fn spoofed_forwarded_for_from_untrusted_peer_is_ignored() {
    let app = broker!(setup("\"10.0.0.0/8\"", 2).state);
    // A client reaching the broker directly invents a new address on every request, in both
    // headers: all of them count against its own TCP address.
    for i in 0..2 {
        let r = get("203.0.113.9", Some(&format!("198.51.100.{i}")))
            .insert_header(("forwarded", format!("for=192.0.2.{i}")));
        assert_ne!(test::call_service(&app, r.to_request()).await.status(), 429);
    }
    let r =
        get("203.0.113.9", Some("198.51.100.99")).insert_header(("forwarded", "for=192.0.2.99"));
    assert_eq!(test::call_service(&app, r.to_request()).await.status(), 429);
    // Nor can it borrow an address to spend someone else's budget: 198.51.100.0 still has its own.
    let resp = test::call_service(&app, get(LB, Some("198.51.100.0")).to_request()).await;
    assert_ne!(resp.status(), 429);
}

#[actix_web::test]
async fn spoofed_leftmost_forwarded_for_behind_trusted_proxy_is_not_used() {
    let app = broker!(setup("\"10.0.0.0/8\"", 2).state);
    // The client prepends fresh addresses (even trusted-looking ones) to the header; the load
    // balancer appends the address it saw, which is the one that counts.
    for i in 0..2 {
        let xff = format!("1.1.1.{i}, 10.9.9.{i}, 198.51.100.1");
        let resp = test::call_service(&app, get(LB, Some(&xff)).to_request()).await;
        assert_ne!(resp.status(), 429);
    }
    let resp = test::call_service(&app, get(LB, Some("1.1.1.3, 198.51.100.1")).to_request()).await;
    assert_eq!(
        resp.status(),
        429,
        "the spoofed prefixes did not buy a new budget"
    );
}

/// The audit records of an unauthenticated admin call from `from` with `X-Forwarded-For: xff`.
async fn admin_call_audit(trusted: &str, from: &str, xff: &str) -> Vec<Value> {
    let mut app = setup(trusted, 0);
    let sink = Arc::new(MemorySink::default());
    app.state.audit = Audit::to_sink(sink.clone(), false);
    let app = broker!(app.state);
    let r = TestRequest::post()
        .uri("/v1/admin/revoke")
        .peer_addr(peer(from))
        .insert_header(("x-forwarded-for", xff.to_owned()))
        .set_json(serde_json::json!({"subject": "x"}));
    let status = test::call_service(&app, r.to_request()).await.status();
    assert_eq!(status, 403, "admin disabled");
    let lines = sink.lines.lock().unwrap().clone();
    lines
        .iter()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            fedbroker::audit::schema::check(&v).unwrap();
            v
        })
        .collect()
}

#[actix_web::test]
async fn the_audit_record_carries_the_client_behind_a_trusted_proxy() {
    let records =
        admin_call_audit("\"10.0.0.0/8\"", LB, "192.0.2.50, 198.51.100.1, 10.0.0.9").await;
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["event"], "admin.unauthorized");
    assert_eq!(records[0]["client_ip"], "198.51.100.1");
    // From an untrusted peer, the header is ignored: the peer is recorded.
    let records = admin_call_audit("\"10.0.0.0/8\"", "203.0.113.9", "198.51.100.1").await;
    assert_eq!(records[0]["client_ip"], "203.0.113.9");
    // Garbage from a trusted proxy: its own address, never the garbage.
    let records = admin_call_audit("\"10.0.0.0/8\"", LB, "<script>alert(1)</script>").await;
    assert_eq!(records[0]["client_ip"], LB);
    // An IPv4-mapped peer on a dual-stack listener is trusted as its IPv4 address.
    let records = admin_call_audit("\"10.0.0.0/8\"", "::ffff:10.0.0.5", "198.51.100.1").await;
    assert_eq!(records[0]["client_ip"], "198.51.100.1");
}

#[actix_web::test]
async fn credential_records_carry_the_client_behind_a_trusted_proxy() {
    let mut app = setup("\"10.0.0.0/8\"", 0);
    let sink = Arc::new(MemorySink::default());
    app.state.audit = Audit::to_sink(sink.clone(), false);
    let saml = app.saml(|_| {});
    let svc = broker!(app.state.clone());
    let post = |saml: &str| {
        TestRequest::post()
            .uri("/v1/saml/credentials")
            .peer_addr(peer(LB))
            .insert_header(("x-forwarded-for", "192.0.2.1, 198.51.100.1"))
            .set_form([("SAMLResponse", saml)])
    };
    let resp = test::call_service(&svc, post(&saml).to_request()).await;
    assert_eq!(resp.status(), 200);
    let resp = test::call_service(&svc, post(&saml).to_request()).await;
    assert_eq!(resp.status(), 401, "the replay is refused");
    let records: Vec<Value> = sink
        .lines
        .lock()
        .unwrap()
        .iter()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            fedbroker::audit::schema::check(&v).unwrap();
            v
        })
        .collect();
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(records[0]["event"], "credentials.issued");
    assert_eq!(records[1]["event"], "credentials.refused");
    for r in &records {
        assert_eq!(r["client_ip"], "198.51.100.1", "{r}");
    }
}

#[actix_web::test]
async fn a_forwarded_header_is_read_only_when_configured() {
    let mut app = test_app(
        "[server]\ntrusted_proxies = [\"10.0.0.0/8\"]\ntrusted_proxy_header = \"forwarded\"\n\
         [limits]\nper_subject_per_minute = 0\n[[saml.idps]]\nname = \"test-idp\"\n\
         metadata_file = \"config/test-idp-metadata.xml\"\n",
    );
    let sink = Arc::new(MemorySink::default());
    app.state.audit = Audit::to_sink(sink.clone(), false);
    let app = broker!(app.state);
    let r = TestRequest::post()
        .uri("/v1/admin/revoke")
        .peer_addr(peer(LB))
        .insert_header(("x-forwarded-for", "192.0.2.1"))
        .insert_header(("forwarded", "for=\"[2001:db8::7]:4711\";proto=https"))
        .set_json(serde_json::json!({"subject": "x"}));
    test::call_service(&app, r.to_request()).await;
    let line = sink.lines.lock().unwrap()[0].clone();
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["client_ip"], "2001:db8::7", "{line}");
}

/// `fedbroker check-config` reports every bad entry by its key and index, and exits 2.
#[test]
fn invalid_trusted_proxies_are_config_errors_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fedbroker.toml");
    std::fs::write(
        &path,
        "[server]\ntrusted_proxies = [\"10.0.0.0/8\", \"10.0.0.1/8\", \"lb.internal\", \"0.0.0.0/0\"]\n\
         trusted_proxy_header = \"forwarded\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fedbroker"))
        .args(["check-config", "--config"])
        .arg(&path)
        .env_remove("FEDBROKER_SERVER__TRUSTED_PROXIES")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    for needle in [
        "server.trusted_proxies[1] = \"10.0.0.1/8\"",
        "server.trusted_proxies[2] = \"lb.internal\"",
        "server.trusted_proxies[3] = \"0.0.0.0/0\"",
    ] {
        assert!(stderr.contains(needle), "{needle} in {stderr}");
    }
    assert!(!stderr.contains("trusted_proxies[0]"), "{stderr}");
    // From the environment, as a TOML list.
    let cfg = fedbroker::config::load_str(
        "",
        vec![(
            "FEDBROKER_SERVER__TRUSTED_PROXIES".to_owned(),
            "[\"10.0.0.0/8\", \"2001:db8::/32\"]".to_owned(),
        )],
    )
    .unwrap();
    assert_eq!(cfg.server.trusted_proxies.len(), 2);
    let err = fedbroker::config::load_str(
        "[server]\ntrusted_proxy_header = \"x-real-ip\"\n",
        Vec::<(String, String)>::new(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("trusted_proxy_header"), "{err}");
}

#[actix_web::test]
async fn the_access_log_names_the_client_behind_a_trusted_proxy() {
    // The binary's one log capture (`support::logs`), in production's format.
    let captured = support::logs::captured();
    let app = broker!(setup("\"10.0.0.0/8\"", 0).state);
    let r =
        get(LB, Some("192.0.2.77, 198.51.100.177")).insert_header(("x-request-id", "proxy-log-1"));
    test::call_service(&app, r.to_request()).await;
    // What a `fedbroker=info` filter keeps: fedbroker's own lines at info and above.
    let log: String = captured
        .text()
        .lines()
        .filter(|l| {
            serde_json::from_str::<Value>(l).is_ok_and(|v| {
                v["target"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("fedbroker"))
                    && matches!(v["level"].as_str(), Some("INFO" | "WARN" | "ERROR"))
            })
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let line: Value = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["message"] == "request done" && v["span"]["request_id"] == "proxy-log-1")
        .unwrap_or_else(|| panic!("no access-log line in {log}"));
    assert_eq!(line["span"]["client_ip"], "198.51.100.177", "{line}");
    assert!(
        !log.contains("192.0.2.77"),
        "the spoofable part is not logged: {log}"
    );
}
