//! Rate limits and request metrics through the real handlers and middleware: per subject (after verification, before the assertion
//! is consumed and before STS) and per client address (the middleware), both 429 + Retry-After;
//! probes are never limited.

mod support;

use actix_web::middleware::from_fn;
use actix_web::{test, web, App};
use chrono::{SubsecRound, Utc};
use fedbroker::clock::{FixedClock, SharedClock};
use fedbroker::config::load_str;
use fedbroker::http::{limits, routes, AppState};
use fedbroker::replay::memory::MemoryReplayGuard;
use std::sync::Arc;
use support::harness::test_idp;
use support::http::post_form;
use support::recording_sts::{moto_endpoint, RecordingSts};
use support::saml_idp::SamlResponseBuilder;

fn setup(limits: &str) -> (AppState, Arc<RecordingSts>, Arc<FixedClock>) {
    let cfg = load_str(
        &format!(
            "[limits]\n{limits}\n[[saml.idps]]\nname = \"test-idp\"\nmetadata_file = \"config/test-idp-metadata.xml\"\n"
        ),
        Vec::<(String, String)>::new(),
    )
    .unwrap();
    let clock = Arc::new(FixedClock::new(Utc::now().trunc_subsecs(0)));
    let shared: SharedClock = clock.clone();
    let sts = RecordingSts::wrapping(fedbroker::sts::sdk::SdkStsClient::new(
        "us-east-1",
        Some(&moto_endpoint()),
    ));
    let state = AppState::from_parts(
        &cfg,
        vec![test_idp()],
        sts.clone(),
        Arc::new(MemoryReplayGuard::new(shared.clone())),
        shared,
    );
    (state, sts, clock)
}

fn saml(clock: &FixedClock) -> String {
    let mut b = SamlResponseBuilder::new(fedbroker::clock::Clock::now(clock));
    b.assertion_id = format!("_a{}", uuid::Uuid::new_v4().simple());
    b.build_base64()
}

#[actix_web::test]
async fn a_subject_flooding_the_broker_is_throttled_before_sts_and_before_its_assertion_is_used() {
    let (state, sts, clock) = setup("per_subject_per_minute = 2\nper_client_per_minute = 0");
    for _ in 0..2 {
        let (status, body) = post_form(
            &state,
            "/v1/saml/credentials",
            &[("SAMLResponse", &saml(&clock))],
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let calls = sts.calls();
    let third = saml(&clock);
    let (status, body) =
        post_form(&state, "/v1/saml/credentials", &[("SAMLResponse", &third)]).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "rate_limited_subject");
    assert_eq!(sts.calls(), calls, "no STS call");
    // Not consumed: the same assertion is refused as rate limited again, not as a replay.
    let (status, body) =
        post_form(&state, "/v1/saml/credentials", &[("SAMLResponse", &third)]).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("rate_limited_subject"))
    );
}

#[actix_web::test]
async fn a_client_address_flooding_the_broker_is_throttled_and_probes_are_not() {
    let (state, _, _) = setup("per_client_per_minute = 2\nper_subject_per_minute = 0");
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(state))
            .wrap(from_fn(limits::middleware))
            .configure(routes),
    )
    .await;
    let from = |ip: &str| {
        format!("{ip}:40000")
            .parse::<std::net::SocketAddr>()
            .unwrap()
    };
    let get = |ip: &'static str| {
        test::TestRequest::get()
            .uri("/v1/thumbprint?issuer=x")
            .peer_addr(from(ip))
    };
    for _ in 0..2 {
        let resp = test::call_service(&app, get("198.51.100.7").to_request()).await;
        assert_ne!(resp.status(), 429);
    }
    let resp = test::call_service(&app, get("198.51.100.7").to_request()).await;
    assert_eq!(resp.status(), 429);
    assert!(resp.headers().get("retry-after").is_some());
    let body: serde_json::Value = test::read_body_json(resp).await;
    assert_eq!(body["error"]["code"], "rate_limited_client");
    let other = test::call_service(&app, get("198.51.100.8").to_request()).await;
    assert_ne!(other.status(), 429, "another client is unaffected");
    for _ in 0..5 {
        let probe = test::TestRequest::get()
            .uri("/healthz")
            .peer_addr(from("198.51.100.7"))
            .to_request();
        assert_eq!(test::call_service(&app, probe).await.status(), 200);
    }
}

#[actix_web::test]
async fn requests_are_counted_by_route_pattern_method_and_status_class() {
    let (state, _, _) = setup("per_client_per_minute = 0\nper_subject_per_minute = 0");
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(state))
            .wrap(from_fn(fedbroker::http::request_metrics::middleware))
            .configure(routes),
    )
    .await;
    for _ in 0..2 {
        let r = test::TestRequest::get().uri("/healthz").to_request();
        assert_eq!(test::call_service(&app, r).await.status(), 200);
    }
    let r = test::TestRequest::get()
        .uri("/no/such/path/alice@example.com")
        .to_request();
    assert_eq!(test::call_service(&app, r).await.status(), 404);
    let r = test::TestRequest::get().uri("/metrics").to_request();
    let text = String::from_utf8(
        test::read_body(test::call_service(&app, r).await)
            .await
            .to_vec(),
    )
    .unwrap();
    for line in [
        "fedbroker_http_request_duration_seconds_count{route=\"/healthz\",method=\"GET\",status=\"2xx\"} 2",
        "fedbroker_http_request_duration_seconds_count{route=\"unmatched\",method=\"GET\",status=\"4xx\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line:?} in:\n{text}");
    }
    assert!(!text.contains("alice"), "raw paths never become labels");
}
