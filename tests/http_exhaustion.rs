//! Unauthenticated resource exhaustion over HTTP, one test per attack: metric series grown by
//! random methods and paths.

mod support;

use actix_web::http::Method;
use actix_web::middleware::from_fn;
use actix_web::test as atest;
use actix_web::{web, App};
use fedbroker::http::{limits, request_metrics, routes};
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

