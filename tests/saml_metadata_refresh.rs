//! IdP metadata refresh: a loopback HTTP server plays the IdP's `metadata_url` and changes what it
//! serves. Certificate rollover (key A, then A+B, then B) is followed without a restart; every kind
//! of bad document or failed fetch keeps the last good keys, logs a warning without the document
//! and counts a failure; `cacheDuration` drives the schedule, which runs on the injected clock;
//! certificate expiry is exported per IdP and certificate, and warned about ahead of time.
//!
//! Key A is the test IdP's RSA key, key B its EC key (`config/test-idp-metadata.xml` pins both).

mod support;

use actix_web::test::TestRequest;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use fedbroker::clock::{Clock, FixedClock, SharedClock};
use fedbroker::config::{self, Config};
use fedbroker::http::trust::{load_idps_at, HttpMetadataFetcher};
use fedbroker::http::AppState;
use fedbroker::reload::{MetadataRefresher, RefreshOutcome, Reloader};
use fedbroker::replay::memory::MemoryReplayGuard;
use fedbroker::sts::sdk::SdkStsClient;
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::harness::{metadata_xml, t0};
use support::saml_idp::{DigestAlg, KeyPair, SamlResponseBuilder, SigAlg};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ROLE: &str = "arn:aws:iam::111122223333:role/Reader";
const IDP: &str = "test-idp";

// ---- the IdP's metadata endpoint --------------------------------------------------------------

/// A plain-HTTP loopback server answering every GET with the current status and body.
struct MetadataServer {
    url: String,
    served: Arc<Mutex<(u16, String)>>,
    hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl MetadataServer {
    async fn start(body: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://127.0.0.1:{}/federationmetadata.xml",
            listener.local_addr().unwrap().port()
        );
        let served = Arc::new(Mutex::new((200, body)));
        let hits = Arc::new(AtomicUsize::new(0));
        let (s, h) = (served.clone(), hits.clone());
        let task = tokio::spawn(async move {
            while let Ok((mut tcp, _)) = listener.accept().await {
                let (s, h) = (s.clone(), h.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tcp.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    h.fetch_add(1, Ordering::SeqCst);
                    let (status, body) = s.lock().unwrap().clone();
                    let head = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/samlmetadata+xml\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = tcp.write_all(head.as_bytes()).await;
                    let _ = tcp.write_all(body.as_bytes()).await;
                    let _ = tcp.shutdown().await;
                });
            }
        });
        Self {
            url,
            served,
            hits,
            task,
        }
    }

    fn serve(&self, status: u16, body: String) {
        *self.served.lock().unwrap() = (status, body);
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for MetadataServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// ---- metadata documents -----------------------------------------------------------------------

/// The test IdP's metadata with only the signing KeyDescriptors `keep` (0: RSA = A, 1: EC = B).
fn metadata_with(keep: &[usize]) -> String {
    let xml = metadata_xml();
    let open = "<md:KeyDescriptor";
    let close = "</md:KeyDescriptor>";
    let first = xml.find(open).expect("first key");
    let second = first + 1 + xml[first + 1..].find(open).expect("second key");
    let end = second + xml[second..].find(close).expect("end") + close.len();
    let blocks = [&xml[first..second], &xml[second..end]];
    let kept: String = keep.iter().map(|i| blocks[*i]).collect();
    format!("{}{kept}{}", &xml[..first], &xml[end..])
}

fn key_a() -> String {
    metadata_with(&[0])
}
fn keys_a_b() -> String {
    metadata_with(&[0, 1])
}
fn key_b() -> String {
    metadata_with(&[1])
}

/// `doc` with attributes added to its EntityDescriptor.
fn with_root_attrs(doc: &str, attrs: &str) -> String {
    doc.replacen(
        "<md:EntityDescriptor ",
        &format!("<md:EntityDescriptor {attrs} "),
        1,
    )
}

// ---- a broker whose IdP comes from the server --------------------------------------------------

fn config_text(url: &str, extra_idp_keys: &str) -> String {
    format!(
        r#"[[saml.idps]]
name = "{IDP}"
metadata_url = "{url}"
{extra_idp_keys}

[[rules]]
name = "readers"
[rules.match]
provider = "{IDP}"
subject = {{ glob = "*@example.com" }}
[[rules.grants]]
role_arn = "{ROLE}"
mode = "assume-role"
"#
    )
}

struct Broker {
    state: AppState,
    refresher: Arc<MetadataRefresher>,
    clock: Arc<FixedClock>,
    cfg: Config,
}

/// Start as `fedbroker serve` does: metadata fetched over HTTP at start, then a refresher.
async fn start_at(server: &MetadataServer, now: DateTime<Utc>) -> Broker {
    let cfg = config::load_str(
        &config_text(&server.url, ""),
        Vec::<(String, String)>::new(),
    )
    .expect("config loads");
    let idps = load_idps_at(&cfg, now)
        .await
        .expect("metadata loads at start");
    let clock = Arc::new(FixedClock::new(now));
    let shared: SharedClock = clock.clone();
    let state = AppState::from_parts(
        &cfg,
        idps,
        Arc::new(SdkStsClient::new("us-east-1", Some("http://127.0.0.1:9"))),
        Arc::new(MemoryReplayGuard::new(shared.clone())),
        shared,
    );
    let refresher = Arc::new(MetadataRefresher::new(
        &cfg,
        state.live_handle(),
        state.metrics.clone(),
        Arc::new(HttpMetadataFetcher::new().expect("client")),
    ));
    Broker {
        state,
        refresher,
        clock,
        cfg,
    }
}

async fn start(server: &MetadataServer) -> Broker {
    start_at(server, t0()).await
}

/// A fresh Response signed with key A (RSA) or key B (EC), issued at the clock's time.
fn response(key_b: bool, at: DateTime<Utc>) -> String {
    let mut b = SamlResponseBuilder::new(at);
    b.assertion_id = format!("_a{}", uuid::Uuid::new_v4().simple());
    if key_b {
        b.key(KeyPair::test_idp_ec())
            .algorithms(SigAlg::EcdsaSha256, DigestAlg::Sha256)
            .build_base64()
    } else {
        b.build_base64()
    }
}

impl Broker {
    /// `POST /v1/explain` with a Response signed by key A or B: the role granted or the error code.
    async fn explain(&self, key_b: bool) -> (u16, String) {
        let (status, _, body) = support::http::send(
            &self.state,
            TestRequest::post()
                .uri("/v1/explain")
                .set_json(json!({ "saml_response": response(key_b, self.clock.now()) })),
        )
        .await;
        let what = body["role_arn"]
            .as_str()
            .or(body["error"]["code"].as_str())
            .unwrap_or_else(|| panic!("neither a role nor an error: {body}"))
            .to_owned();
        (status, what)
    }

    async fn accepts(&self, key_b: bool) -> bool {
        match self.explain(key_b).await {
            (200, role) if role == ROLE => true,
            (401, code) if code == "saml_signature_invalid" => false,
            other => panic!("unexpected answer {other:?}"),
        }
    }

    async fn metrics(&self) -> String {
        let (_, _, body) =
            support::http::send(&self.state, TestRequest::get().uri("/metrics")).await;
        body.as_str().expect("metrics text").to_owned()
    }

    fn signing_keys(&self) -> usize {
        self.state.exchange().saml.idps()[0].signing_certs.len()
    }
}

/// The value of the one series of `metrics` starting with `series` (name and labels).
fn metric(metrics: &str, series: &str) -> Option<i64> {
    metrics
        .lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .map(|v| v.parse().expect("integer sample"))
}

fn refreshes(metrics: &str, outcome: &str) -> i64 {
    metric(
        metrics,
        &format!("fedbroker_saml_metadata_refreshes_total{{idp=\"{IDP}\",outcome=\"{outcome}\"}}"),
    )
    .unwrap_or(0)
}

/// Log lines written while the guard lives (this thread: the actix test runtime is one thread).
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() -> (Arc<Mutex<Vec<u8>>>, tracing::subscriber::DefaultGuard) {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let b = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || Logs(b.clone()))
        .finish();
    (buf, tracing::subscriber::set_default(subscriber))
}

fn text(buf: &Arc<Mutex<Vec<u8>>>) -> String {
    String::from_utf8_lossy(&buf.lock().unwrap()).into_owned()
}

// ---- (1) rollover -----------------------------------------------------------------------------

#[actix_web::test]
async fn certificate_rollover_is_followed_without_a_restart() {
    let server = MetadataServer::start(key_a()).await;
    let broker = start(&server).await;
    assert!(broker.accepts(false).await, "key A is trusted at start");
    assert!(
        !broker.accepts(true).await,
        "key B is not published yet: a Response signed with it is refused"
    );

    // The IdP publishes its next certificate next to the current one.
    server.serve(200, keys_a_b());
    let held = broker.state.live();
    assert_eq!(
        broker.refresher.refresh_idp(IDP).await,
        RefreshOutcome::Updated
    );
    assert!(
        broker.accepts(true).await,
        "key B accepted after the refresh"
    );
    assert!(
        broker.accepts(false).await,
        "key A still accepted in the overlap"
    );
    // A request that took its snapshot before the swap keeps the trust it started with.
    assert_eq!(held.exchange.saml.idps()[0].signing_certs.len(), 1);
    assert_eq!(broker.signing_keys(), 2);

    // The IdP retires key A.
    server.serve(200, key_b());
    assert_eq!(
        broker.refresher.refresh_idp(IDP).await,
        RefreshOutcome::Updated
    );
    assert!(broker.accepts(true).await);
    assert!(!broker.accepts(false).await, "key A is no longer trusted");

    // The same document again: nothing changes.
    assert_eq!(
        broker.refresher.refresh_idp(IDP).await,
        RefreshOutcome::Unchanged
    );
    let m = broker.metrics().await;
    assert_eq!(refreshes(&m, "updated"), 2, "{m}");
    assert_eq!(refreshes(&m, "unchanged"), 1, "{m}");
    assert_eq!(
        metric(
            &m,
            &format!(
                "fedbroker_saml_metadata_last_refresh_success_timestamp_seconds{{idp=\"{IDP}\"}}"
            )
        ),
        Some(t0().timestamp())
    );
    // Only key B's certificate is exported now (key A's series went with it).
    let certs: Vec<&str> = m
        .lines()
        .filter(|l| l.starts_with("fedbroker_saml_idp_certificate_expiry_timestamp_seconds{"))
        .collect();
    assert_eq!(certs.len(), 1, "{m}");
    assert!(certs[0].contains(&fingerprint(&cert_der(true))), "{m}");
}

#[actix_web::test]
async fn the_background_task_refreshes_when_the_injected_clock_says_it_is_due() {
    let server = MetadataServer::start(key_a()).await;
    let broker = start(&server).await;
    let due = broker.refresher.next_due(IDP).expect("scheduled");
    let wait = due - t0();
    assert!(
        wait <= TimeDelta::hours(1) && wait >= TimeDelta::minutes(54),
        "default interval, up to 10 % jitter: {wait}"
    );
    let task = broker.refresher.spawn(Duration::from_millis(10));
    server.serve(200, keys_a_b());
    let fetched_at_start = server.hits();
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(server.hits(), fetched_at_start, "not due yet: no fetch");
    assert!(!broker.accepts(true).await);

    broker.clock.set(due + TimeDelta::seconds(1));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while broker.signing_keys() != 2 {
        assert!(std::time::Instant::now() < deadline, "no refresh happened");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(broker.accepts(true).await, "key B accepted, no restart");
    assert_eq!(server.hits(), fetched_at_start + 1, "one fetch when due");
    task.abort();
}

// ---- (2) failures keep the last good keys ---------------------------------------------------------

/// Serve `status`/`body`, refresh: refused with `outcome`, key A still trusted, the failure
/// counted, a retry scheduled a minute later, one warning logged without the document.
async fn assert_refresh_refused(status: u16, body: String, outcome: &str) {
    let server = MetadataServer::start(key_a()).await;
    let broker = start(&server).await;
    let (logs, _guard) = capture_logs();
    server.serve(status, body);
    match broker.refresher.refresh_idp(IDP).await {
        RefreshOutcome::Refused { outcome: got, why } => {
            assert_eq!(got, outcome, "{why}");
            assert!(!why.contains("SECRET-DOCUMENT-TEXT"), "{why}");
        }
        other => panic!("refresh not refused: {other:?}"),
    }
    assert!(broker.accepts(false).await, "the last good key A is kept");
    assert_eq!(broker.signing_keys(), 1);
    let m = broker.metrics().await;
    assert_eq!(refreshes(&m, outcome), 1, "{m}");
    let retry = broker.refresher.next_due(IDP).unwrap() - t0();
    assert!(
        (TimeDelta::seconds(54)..=TimeDelta::seconds(60)).contains(&retry),
        "first retry after about a minute: {retry}"
    );
    let logged = text(&logs);
    assert!(
        logged.contains("saml.metadata_refresh_failed") && logged.contains(outcome),
        "{logged}"
    );
    assert!(!logged.contains("SECRET-DOCUMENT-TEXT"), "{logged}");
    // The next good document is taken again.
    server.serve(200, keys_a_b());
    assert_eq!(
        broker.refresher.refresh_idp(IDP).await,
        RefreshOutcome::Updated
    );
    assert!(broker.accepts(true).await);
}

#[actix_web::test]
async fn metadata_refresh_server_error_keeps_the_last_good_keys() {
    assert_refresh_refused(500, "SECRET-DOCUMENT-TEXT".into(), "fetch_failed").await;
}

#[actix_web::test]
async fn metadata_refresh_garbage_document_is_refused() {
    assert_refresh_refused(200, "<<SECRET-DOCUMENT-TEXT not xml".into(), "invalid").await;
}

#[actix_web::test]
async fn metadata_refresh_with_dtd_is_refused() {
    let doc = keys_a_b().replacen(
        "<md:EntityDescriptor",
        "<!DOCTYPE x [<!ENTITY e \"SECRET-DOCUMENT-TEXT\">]>\n<md:EntityDescriptor",
        1,
    );
    assert_refresh_refused(200, doc, "invalid").await;
}

#[actix_web::test]
async fn metadata_refresh_with_changed_entity_id_is_refused() {
    // Whoever controls the URL must not turn the IdP into another issuer.
    let doc = keys_a_b().replace(
        "https://idp.test.fedbroker.local/metadata",
        "https://attacker.example/SECRET-DOCUMENT-TEXT",
    );
    assert_refresh_refused(200, doc, "entity_id_changed").await;
}

#[actix_web::test]
async fn metadata_refresh_without_signing_key_is_refused() {
    // Only an encryption key: trusting it would leave the IdP without a pinned signing key.
    let doc = key_b().replace("use=\"signing\"", "use=\"encryption\"");
    assert_refresh_refused(200, doc, "invalid").await;
}

#[actix_web::test]
async fn metadata_refresh_with_expired_valid_until_is_refused() {
    // A stale copy (a cache, or a replay of an old document) could bring a retired key back.
    let doc = with_root_attrs(&keys_a_b(), "validUntil=\"2029-12-31T00:00:00Z\"");
    assert_refresh_refused(200, doc, "expired").await;
}

#[actix_web::test]
async fn metadata_refresh_oversized_document_is_refused() {
    let doc = format!("{}<!-- {} -->", keys_a_b(), "x".repeat(1024 * 1024));
    assert_refresh_refused(200, doc, "fetch_failed").await;
}

#[actix_web::test]
async fn metadata_refresh_unreadable_cache_duration_is_refused() {
    let doc = with_root_attrs(&keys_a_b(), "cacheDuration=\"forever\"");
    assert_refresh_refused(200, doc, "invalid").await;
}

#[actix_web::test]
async fn failures_back_off_and_an_expired_document_in_use_stays_trusted_with_a_warning() {
    // The document in use says it is valid for two hours; then the IdP's endpoint fails.
    let doc = with_root_attrs(&key_a(), "validUntil=\"2030-01-02T05:04:05Z\"");
    let server = MetadataServer::start(doc).await;
    let broker = start(&server).await;
    let (logs, _guard) = capture_logs();
    server.serve(503, String::new());
    let mut waits = Vec::new();
    for _ in 0..3 {
        let before = broker.clock.now();
        assert!(matches!(
            broker.refresher.refresh_idp(IDP).await,
            RefreshOutcome::Refused { .. }
        ));
        let due = broker.refresher.next_due(IDP).unwrap();
        waits.push((due - before).num_seconds());
        broker.clock.set(due);
    }
    assert!(
        (54..=60).contains(&waits[0])
            && (108..=120).contains(&waits[1])
            && (216..=240).contains(&waits[2]),
        "exponential back-off: {waits:?}"
    );
    assert!(!text(&logs).contains("saml.metadata_expired"));
    // Past validUntil, still failing: the keys stay (no sign-in outage), with a loud warning.
    broker.clock.set(t0() + TimeDelta::hours(3));
    broker.refresher.refresh_idp(IDP).await;
    assert!(broker.accepts(false).await);
    let logged = text(&logs);
    assert!(logged.contains("saml.metadata_expired"), "{logged}");
    let m = broker.metrics().await;
    assert_eq!(refreshes(&m, "fetch_failed"), 4, "{m}");
    assert_eq!(
        metric(
            &m,
            &format!("fedbroker_saml_metadata_valid_until_timestamp_seconds{{idp=\"{IDP}\"}}")
        ),
        Some(
            Utc.with_ymd_and_hms(2030, 1, 2, 5, 4, 5)
                .unwrap()
                .timestamp()
        )
    );
}

// ---- (3) the schedule follows the document ------------------------------------------------------

#[actix_web::test]
async fn served_cache_duration_and_valid_until_drive_the_schedule() {
    let server = MetadataServer::start(with_root_attrs(&key_a(), "cacheDuration=\"PT10M\"")).await;
    let broker = start(&server).await;
    let wait = broker.refresher.next_due(IDP).unwrap() - t0();
    assert!(
        (TimeDelta::seconds(540)..=TimeDelta::seconds(600)).contains(&wait),
        "cacheDuration PT10M at start: {wait}"
    );

    // validUntil 20 minutes ahead, cacheDuration a day: validUntil comes first.
    server.serve(
        200,
        with_root_attrs(
            &key_a(),
            "cacheDuration=\"P1D\" validUntil=\"2030-01-02T03:24:05Z\"",
        ),
    );
    broker.refresher.refresh_idp(IDP).await;
    let wait = broker.refresher.next_due(IDP).unwrap() - t0();
    assert!(
        (TimeDelta::seconds(1_080)..=TimeDelta::seconds(1_200)).contains(&wait),
        "{wait}"
    );

    // A hostile cacheDuration cannot make the broker hammer the IdP...
    server.serve(200, with_root_attrs(&key_a(), "cacheDuration=\"PT0S\""));
    broker.refresher.refresh_idp(IDP).await;
    let wait = broker.refresher.next_due(IDP).unwrap() - t0();
    assert_eq!(wait, TimeDelta::seconds(300));
}

#[actix_web::test]
async fn metadata_refresh_year_long_cache_duration_is_clamped_to_the_interval() {
    // ...nor freeze trust for a year.
    let server = MetadataServer::start(with_root_attrs(&key_a(), "cacheDuration=\"P1Y\"")).await;
    let broker = start(&server).await;
    let wait = broker.refresher.next_due(IDP).unwrap() - t0();
    assert!(wait <= TimeDelta::hours(1), "{wait}");
}

// ---- (4) certificate expiry -----------------------------------------------------------------------

fn cert_der(ec: bool) -> Vec<u8> {
    let name = if ec {
        "test-idp-ec.crt.der"
    } else {
        "test-idp.crt.der"
    };
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("certs")
            .join(name),
    )
    .expect("test certificate")
}

fn fingerprint(der: &[u8]) -> String {
    let digest = openssl::hash::hash(openssl::hash::MessageDigest::sha256(), der).unwrap();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// notAfter as Unix time, read with OpenSSL (an independent parser).
fn not_after(der: &[u8]) -> i64 {
    let cert = openssl::x509::X509::from_der(der).unwrap();
    let epoch = openssl::asn1::Asn1Time::from_unix(0).unwrap();
    let d = epoch.diff(cert.not_after()).unwrap();
    i64::from(d.days) * 86_400 + i64::from(d.secs)
}

#[actix_web::test]
async fn certificate_expiry_is_exported_per_idp_and_certificate() {
    let server = MetadataServer::start(keys_a_b()).await;
    let (logs, _guard) = capture_logs();
    let broker = start(&server).await;
    let m = broker.metrics().await;
    for ec in [false, true] {
        let der = cert_der(ec);
        let series = format!(
            "fedbroker_saml_idp_certificate_expiry_timestamp_seconds{{idp=\"{IDP}\",fingerprint=\"{}\"}}",
            fingerprint(&der)
        );
        assert_eq!(metric(&m, &series), Some(not_after(&der)), "{m}");
    }
    // Years before expiry: no warning.
    assert!(!text(&logs).contains("saml.certificate_expiring"));
}

#[actix_web::test]
async fn a_certificate_close_to_expiry_is_warned_about_once_per_refresh() {
    let server = MetadataServer::start(key_a()).await;
    let a = cert_der(false);
    let expires = DateTime::from_timestamp(not_after(&a), 0).unwrap();
    let (logs, _guard) = capture_logs();
    // 40 days before: quiet.
    let broker = start_at(&server, expires - TimeDelta::days(40)).await;
    assert!(!text(&logs).contains("saml.certificate_expiring"));
    // 20 days before, at the next refresh: one warning naming the certificate.
    broker.clock.set(expires - TimeDelta::days(20));
    broker.refresher.refresh_idp(IDP).await;
    let logged = text(&logs);
    let warnings: Vec<&str> = logged
        .lines()
        .filter(|l| l.contains("saml.certificate_expiring"))
        .collect();
    assert_eq!(warnings.len(), 1, "{logged}");
    assert!(warnings[0].contains(&fingerprint(&a)), "{}", warnings[0]);
    assert!(warnings[0].contains("\"days_left\":20"), "{}", warnings[0]);
    // Requests do not log it again (it is not enforced: the key still verifies).
    assert!(broker.accepts(false).await);
    assert!(broker.accepts(false).await);
    let again = text(&logs);
    assert_eq!(
        again.matches("saml.certificate_expiring").count(),
        1,
        "{again}"
    );
}

// ---- reload and refresh share the snapshot ----------------------------------------------------------

#[actix_web::test]
async fn a_reload_swaps_through_the_refresher_which_then_follows_the_new_url() {
    let first = MetadataServer::start(key_a()).await;
    let second = MetadataServer::start(keys_a_b()).await;
    let broker = start(&first).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fedbroker.toml");
    std::fs::write(&path, config_text(&first.url, "")).unwrap();
    let reloader = Reloader::new(
        path.display().to_string(),
        broker.cfg.clone(),
        broker.state.live_handle(),
        broker.state.metrics.clone(),
    )
    .with_metadata_refresher(broker.refresher.clone());

    std::fs::write(
        &path,
        config_text(&second.url, "metadata_refresh_secs = 600"),
    )
    .unwrap();
    reloader.reload().await.expect("reload applies");
    assert!(
        broker.accepts(true).await,
        "the reload fetched the second URL"
    );
    let wait = broker.refresher.next_due(IDP).unwrap() - t0();
    assert!(
        wait <= TimeDelta::seconds(600),
        "rescheduled with the new interval: {wait}"
    );

    second.serve(200, key_b());
    let hits_first = first.hits();
    assert_eq!(
        broker.refresher.refresh_idp(IDP).await,
        RefreshOutcome::Updated
    );
    assert_eq!(
        first.hits(),
        hits_first,
        "the old URL is not fetched any more"
    );
    assert!(!broker.accepts(false).await);
}

#[test]
fn metadata_refresh_secs_is_bounded_and_needs_a_metadata_url() {
    let load = |extra: &str, source: &str| {
        config::load_str(
            &format!("[[saml.idps]]\nname = \"corp\"\n{source}\n{extra}\n"),
            Vec::<(String, String)>::new(),
        )
    };
    let url = "metadata_url = \"https://idp.example.com/metadata\"";
    assert!(load("metadata_refresh_secs = 600", url).is_ok());
    for bad in [
        "metadata_refresh_secs = 10",
        "metadata_refresh_secs = 31536000",
    ] {
        let e = load(bad, url).expect_err(bad).0;
        assert!(e.iter().any(|p| p.contains("300 to 86400")), "{e:?}");
    }
    let e = load("metadata_refresh_secs = 600", "metadata_file = \"x.xml\"")
        .expect_err("file")
        .0;
    assert!(
        e.iter().any(|p| p.contains("only applies to metadata_url")),
        "{e:?}"
    );
}

// ---- start-up and metadata files ----------------------------------------------------------------

#[actix_web::test]
async fn metadata_url_with_expired_valid_until_is_refused_at_start() {
    let server = MetadataServer::start(with_root_attrs(
        &key_a(),
        "validUntil=\"2029-12-31T00:00:00Z\"",
    ))
    .await;
    let cfg = config::load_str(
        &config_text(&server.url, ""),
        Vec::<(String, String)>::new(),
    )
    .expect("config loads");
    let problems = load_idps_at(&cfg, t0()).await.expect_err("expired").0;
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("saml.idps \"test-idp\":") && problems[0].contains("validUntil"),
        "{problems:?}"
    );
}

#[actix_web::test]
async fn metadata_file_past_valid_until_loads_and_is_watched_daily() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("idp.xml");
    std::fs::write(
        &file,
        with_root_attrs(&key_a(), "validUntil=\"2029-12-31T00:00:00Z\""),
    )
    .unwrap();
    let toml = config_text("http://127.0.0.1:9/unused", "").replace(
        "metadata_url = \"http://127.0.0.1:9/unused\"",
        &format!("metadata_file = \"{}\"", file.display()),
    );
    let cfg = config::load_str(&toml, Vec::<(String, String)>::new()).expect("config loads");
    let a = cert_der(false);
    let now = DateTime::from_timestamp(not_after(&a), 0).unwrap() - TimeDelta::days(5);
    let (logs, _guard) = capture_logs();
    let idps = load_idps_at(&cfg, now)
        .await
        .expect("a file is the operator's pin");
    assert!(text(&logs).contains("saml.metadata_expired"));
    let clock = Arc::new(FixedClock::new(now));
    let shared: SharedClock = clock.clone();
    let state = AppState::from_parts(
        &cfg,
        idps,
        Arc::new(SdkStsClient::new("us-east-1", Some("http://127.0.0.1:9"))),
        Arc::new(MemoryReplayGuard::new(shared.clone())),
        shared,
    );
    let refresher = MetadataRefresher::new(
        &cfg,
        state.live_handle(),
        state.metrics.clone(),
        Arc::new(HttpMetadataFetcher::new().expect("client")),
    );
    assert_eq!(text(&logs).matches("saml.certificate_expiring").count(), 1);
    assert_eq!(refresher.next_due(IDP), Some(now + TimeDelta::days(1)));
    clock.set(now + TimeDelta::days(1));
    assert_eq!(refresher.refresh_due().await, 1);
    assert_eq!(refresher.next_due(IDP), Some(now + TimeDelta::days(2)));
    let logged = text(&logs);
    assert_eq!(
        logged.matches("saml.certificate_expiring").count(),
        2,
        "{logged}"
    );
    assert!(logged.contains("\"days_left\":4"), "{logged}");
}
