//! IdP metadata refresh: a loopback HTTP server plays the IdP's `metadata_url` and changes what it
//! serves. Certificate rollover (key A, then A+B, then B) is followed without a restart; every kind
//! of bad document or failed fetch keeps the last good keys, logs a warning without the document
//! and counts a failure; `cacheDuration` drives the schedule, which runs on the injected clock;
//! certificate expiry is exported per IdP and certificate, and warned about ahead of time.
//!
//! Key A is the test IdP's RSA key, key B its EC key (`config/test-idp-metadata.xml` pins both).

use crate::support;
use crate::support::metadata_refresh as md;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use fedbroker::clock::{Clock, FixedClock, SharedClock};
use fedbroker::config;
use fedbroker::http::AppState;
use fedbroker::reload::{MetadataRefresher, RefreshOutcome, Reloader};
use fedbroker::replay::memory::MemoryReplayGuard;
use fedbroker::sts::sdk::SdkStsClient;
use fedbroker::trust::{load_idps_at, HttpMetadataFetcher};
use md::*;
use std::sync::Arc;
use std::time::Duration;
use support::harness::t0;

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
async fn start_up_fetch_is_the_refresh_baseline_so_an_idp_whose_refetches_all_fail_shows() {
    let server = MetadataServer::start(key_a()).await;
    let broker = start(&server).await;
    let last_success =
        format!("fedbroker_saml_metadata_last_refresh_success_timestamp_seconds{{idp=\"{IDP}\"}}");
    let m = broker.metrics().await;
    assert_eq!(metric(&m, &last_success), Some(t0().timestamp()), "{m}");
    for outcome in [
        "updated",
        "unchanged",
        "fetch_failed",
        "invalid",
        "expired",
        "entity_id_changed",
    ] {
        let series = format!(
            "fedbroker_saml_metadata_refreshes_total{{idp=\"{IDP}\",outcome=\"{outcome}\"}}"
        );
        assert_eq!(metric(&m, &series), Some(0), "{outcome} from 0:\n{m}");
    }
    // Every later fetch fails: the start-up time stays the last success, so its age grows
    // (what the refresh-failing alert watches), and the failures are counted.
    broker.clock.set(t0() + TimeDelta::hours(7));
    server.serve(503, String::new());
    assert!(matches!(
        broker.refresher.refresh_idp(IDP).await,
        RefreshOutcome::Refused { .. }
    ));
    let m = broker.metrics().await;
    assert_eq!(metric(&m, &last_success), Some(t0().timestamp()), "{m}");
    assert_eq!(refreshes(&m, "fetch_failed"), 1, "{m}");
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
