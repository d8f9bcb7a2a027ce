//! Refusals that do not echo the request, and the broker's own answers where actix would write
//! its plain-text ones: unknown routes, wrong methods, query strings and forms its extractors
//! cannot parse. Also the headers on every answer (HSTS on https) and the request-id form.

use crate::support;

use actix_web::http::header;
use actix_web::{test, web};
use fedbroker::config::DEFAULT_BODY_TIMEOUT_SECS;
use fedbroker::http::server::public_app;
use fedbroker::http::AppState;
use serde_json::Value;
use support::app::test_app;
use support::http::send;

/// A forged log line carried in a JSON field name.
const FORGED_NAME: &str =
    "x\\n2026-12-06T15:00:00Z  INFO fedbroker: issued temporary credentials role/Admin";

fn state() -> AppState {
    test_app(
        "[[saml.idps]]\nname = \"test-idp\"\nmetadata_file = \"config/test-idp-metadata.xml\"\n",
    )
    .state
}

fn json_post(path: &str, body: String) -> test::TestRequest {
    test::TestRequest::post()
        .uri(path)
        .insert_header((header::CONTENT_TYPE, "application/json"))
        .set_payload(body)
}

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

#[actix_web::test]
async fn unknown_json_field_name_is_not_echoed_in_the_error_body() {
    let state = state();
    for path in ["/v1/saml/credentials", "/v1/explain", "/v1/roles"] {
        let body = format!("{{\"saml_response\":\"PHg+\",\"{FORGED_NAME}\":1}}");
        let (status, _, body) = send(&state, json_post(path, body)).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["error"]["code"], "bad_json", "{path}: {body}");
        let m = message(&body);
        for echoed in ["issued", "Admin", "\n", "x\\n", "unknown field `"] {
            assert!(!m.contains(echoed), "{path} echoes {echoed:?}: {m}");
        }
        assert!(
            m.contains("a field that is not accepted (at line 1, column"),
            "{path}: {m}"
        );
        assert!(m.contains("accepted fields: saml_response"), "{path}: {m}");
    }
}

#[actix_web::test]
async fn serde_type_error_does_not_echo_the_value() {
    let state = state();
    let (status, _, body) = send(
        &state,
        json_post(
            "/v1/saml/credentials",
            "{\"saml_response\":987654321}".into(),
        ),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    let m = message(&body);
    assert!(
        !m.contains("987654321") && !m.contains("integer"),
        "value echoed: {m}"
    );
    assert!(
        m.starts_with("the JSON body has a value of the wrong type (at line 1, column 26)"),
        "{m}"
    );
    // An unknown form field is refused without its name either.
    let req = test::TestRequest::post()
        .uri("/v1/saml/credentials")
        .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
        .set_payload("SAMLResponse=PHg%2B&%3Cscript%3Eforged=1");
    let (status, _, body) = send(&state, req).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("bad_form"))
    );
    assert!(!message(&body).contains("script"), "{body}");
}

#[actix_web::test]
async fn unknown_route_gets_the_json_envelope_with_security_headers() {
    let state = state();
    let (status, headers, body) = send(&state, test::TestRequest::get().uri("/v1/nope")).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "not_found", "{body}");
    assert_eq!(headers.get(header::CACHE_CONTROL).unwrap(), "no-store");
    assert_eq!(
        headers.get(header::X_CONTENT_TYPE_OPTIONS).unwrap(),
        "nosniff"
    );
    assert!(headers
        .get(header::CONTENT_TYPE)
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("application/json"));

    // A browser asking for a page outside the API gets the error page with its headers.
    let req = test::TestRequest::get()
        .uri("/no/such/%3Cb%3Epage?%3Cb%3Ex")
        .insert_header((header::ACCEPT, "text/html,application/xhtml+xml"));
    let (status, headers, body) = send(&state, req).await;
    assert_eq!(status, 404);
    let page = body.as_str().expect("an HTML page");
    assert!(page.contains("<code>not_found</code>"), "{page}");
    assert!(!page.contains("<b>") && !page.contains("%3Cb"), "{page}");
    assert!(headers.get(header::CONTENT_SECURITY_POLICY).is_some());
    assert_eq!(headers.get(header::X_FRAME_OPTIONS).unwrap(), "DENY");
}

#[actix_web::test]
async fn wrong_method_gets_405_in_the_json_envelope() {
    let state = state();
    let (status, _, body) =
        send(&state, test::TestRequest::get().uri("/v1/saml/credentials")).await;
    assert_eq!(status, 405, "{body}");
    assert_eq!(body["error"]["code"], "method_not_allowed", "{body}");
}

#[actix_web::test]
async fn query_string_actix_cannot_parse_gets_the_error_page_on_a_browser_path() {
    let state = state();
    let (status, headers, body) = send(
        &state,
        test::TestRequest::get().uri("/oidc/login?forged%0Aline=x"),
    )
    .await;
    assert_eq!(status, 400);
    let page = body.as_str().expect("an HTML page");
    assert!(page.contains("<code>bad_query</code>"), "{page}");
    assert!(
        page.contains("a required field missing (provider)"),
        "{page}"
    );
    assert!(
        !page.contains("Query deserialize") && !page.contains("forged"),
        "{page}"
    );
    assert!(headers.get(header::CONTENT_SECURITY_POLICY).is_some());
}

#[actix_web::test]
async fn oversized_browser_form_gets_413_on_the_error_page() {
    let state = state();
    let req = test::TestRequest::post()
        .uri("/logout")
        .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
        .set_payload(format!("csrf={}", "a".repeat(40_000)));
    let (status, headers, body) = send(&state, req).await;
    assert_eq!(status, 413);
    let page = body.as_str().expect("an HTML page");
    assert!(page.contains("<code>request_too_large</code>"), "{page}");
    assert!(headers.get(header::CONTENT_SECURITY_POLICY).is_some());
}

async fn headers_for(public_url: &str, req: test::TestRequest) -> header::HeaderMap {
    // The public listener's whole stack, as served (`http::server::public_app`).
    let app = test::init_service(public_app(
        web::Data::new(state()),
        std::time::Duration::from_secs(DEFAULT_BODY_TIMEOUT_SECS),
        public_url,
        true,
    ))
    .await;
    test::call_service(&app, req.to_request())
        .await
        .headers()
        .clone()
}

#[actix_web::test]
async fn hsts_only_when_public_url_is_https() {
    let req = |post: bool, path: &str| {
        if post {
            test::TestRequest::post()
        } else {
            test::TestRequest::get()
        }
        .uri(path)
    };
    for (post, path) in [
        (false, "/healthz"),
        (false, "/v1/nope"),
        (true, "/v1/saml/credentials"),
    ] {
        let https = headers_for("https://broker.example.com", req(post, path)).await;
        assert_eq!(
            https.get(header::STRICT_TRANSPORT_SECURITY).unwrap(),
            "max-age=31536000; includeSubDomains"
        );
        assert_eq!(
            https.get(header::X_CONTENT_TYPE_OPTIONS).unwrap(),
            "nosniff"
        );
        let http = headers_for("http://127.0.0.1:8080", req(post, path)).await;
        assert!(http.get(header::STRICT_TRANSPORT_SECURITY).is_none());
    }
}

#[actix_web::test]
async fn hostile_request_id_is_replaced() {
    let app = test::init_service(public_app(
        web::Data::new(state()),
        std::time::Duration::from_secs(DEFAULT_BODY_TIMEOUT_SECS),
        "http://127.0.0.1:8080",
        true,
    ))
    .await;
    let long = "a".repeat(100);
    let max = "A".repeat(64);
    let cases: [(&str, bool); 8] = [
        (&long, false),
        ("a b", false),
        ("<script>", false),
        ("id\"quoted", false),
        ("x;y", false),
        ("\u{e9}t\u{e9}", false),
        ("req-123_abc.def", true),
        (&max, true),
    ];
    for (sent, kept) in cases {
        let req = test::TestRequest::get()
            .uri("/healthz")
            .insert_header(("x-request-id", sent))
            .to_request();
        let resp = test::call_service(&app, req).await;
        let got = resp
            .headers()
            .get("x-request-id")
            .unwrap()
            .to_str()
            .unwrap();
        if kept {
            assert_eq!(got, sent);
        } else {
            assert_ne!(got, sent);
            assert!(uuid::Uuid::parse_str(got).is_ok(), "{sent:?} -> {got}");
        }
    }
}

#[actix_web::test]
async fn oidc_callback_error_parameter_is_not_echoed_unless_it_is_a_standard_code() {
    let state = state();
    let (status, _, body) = send(
        &state,
        test::TestRequest::get()
            .uri("/oidc/callback?error=Your_account_is_locked:_call_+1-555-0100&state=x"),
    )
    .await;
    assert_eq!(status, 403);
    let page = body.as_str().expect("an HTML page");
    assert!(!page.contains("locked") && !page.contains("555"), "{page}");
    assert!(page.contains("an unrecognised error"), "{page}");
    let (_, _, body) = send(
        &state,
        test::TestRequest::get().uri("/oidc/callback?error=access_denied&state=x"),
    )
    .await;
    assert!(body.as_str().unwrap().contains("access_denied"));
}

#[actix_web::test]
async fn unknown_sign_in_provider_name_is_not_echoed() {
    let state = state();
    for path in [
        "/oidc/login?provider=Call_the_helpdesk_at_555-0100",
        "/saml/login?idp=Call_the_helpdesk_at_555-0100",
    ] {
        let (status, _, body) = send(&state, test::TestRequest::get().uri(path)).await;
        let page = body.as_str().expect("an HTML page");
        assert_eq!(status, 400, "{path}: {page}");
        assert!(page.contains("login_unknown_provider"), "{path}: {page}");
        assert!(!page.contains("helpdesk"), "{path}: {page}");
    }
}
