//! Rate limits and request metrics through the real handlers and middleware: per subject (after verification, before the assertion
//! is consumed and before STS) and per client address (the middleware), both 429 + Retry-After;
//! probes are never limited.

use crate::support;

use actix_web::middleware::from_fn;
use actix_web::{test, web, App};
use fedbroker::http::middleware::rate_limit as limits;
use fedbroker::http::routes;
use support::app::{test_app, TestApp};
use support::http::post_form;

fn setup(limits: &str) -> TestApp {
    test_app(&format!(
        "[limits]\n{limits}\n[[saml.idps]]\nname = \"test-idp\"\nmetadata_file = \"config/test-idp-metadata.xml\"\n"
    ))
}

#[actix_web::test]
async fn a_subject_flooding_the_broker_is_throttled_before_sts_and_before_its_assertion_is_used() {
    let app = setup("per_subject_per_minute = 2\nper_client_per_minute = 0");
    for _ in 0..2 {
        let (status, body) = post_form(
            &app.state,
            "/v1/saml/credentials",
            &[("SAMLResponse", &app.saml(|_| {}))],
        )
        .await;
        assert_eq!(status, 200, "{body}");
    }
    let calls = app.sts.calls();
    let third = app.saml(|_| {});
    let (status, body) = post_form(
        &app.state,
        "/v1/saml/credentials",
        &[("SAMLResponse", &third)],
    )
    .await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(body["error"]["code"], "rate_limited_subject");
    assert_eq!(app.sts.calls(), calls, "no STS call");
    // Not consumed: the same assertion is refused as rate limited again, not as a replay.
    let (status, body) = post_form(
        &app.state,
        "/v1/saml/credentials",
        &[("SAMLResponse", &third)],
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("rate_limited_subject"))
    );
    // Both refusals are counted: by limit, and as refused credential requests by route and code.
    let m = app.state.metrics.render();
    for series in [
        r#"fedbroker_rate_limited_total{limit="subject"} 2"#,
        r#"fedbroker_rate_limited_total{limit="client"} 0"#,
        r#"fedbroker_credential_refusals_total{route="saml",code="rate_limited_subject"} 2"#,
    ] {
        assert!(m.contains(series), "{series} not in:\n{m}");
    }
}

#[actix_web::test]
async fn a_client_address_flooding_the_broker_is_throttled_and_probes_are_not() {
    let app = setup("per_client_per_minute = 2\nper_subject_per_minute = 0");
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(app.state))
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
    let app = setup("per_client_per_minute = 0\nper_subject_per_minute = 0");
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(app.state))
            .wrap(from_fn(
                fedbroker::http::middleware::request_metrics::middleware,
            ))
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
