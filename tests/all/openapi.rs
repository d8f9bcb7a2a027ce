//! The OpenAPI document (`GET /openapi.json`) against the router: it parses, is OpenAPI 3.1,
//! lists exactly the route table's routes (method and path, both ways), every operation has an
//! `operationId` and answers, every JSON error answer is the one error envelope, and the
//! authenticated routes name their security scheme. The live checks (openapi-spec-validator,
//! schemathesis against a running broker) are `scripts/check-openapi.sh`.

use actix_web::test as atest;
use actix_web::{http::Method, App};
use fedbroker::http::{openapi, routes, ROUTES};
use serde_json::Value;
use std::collections::BTreeSet;

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn doc() -> Value {
    serde_json::to_value(openapi::document()).expect("the document serializes")
}

/// Every operation of the document: (method, path, operation).
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let paths = doc["paths"].as_object().expect("paths is an object");
    let mut out = Vec::new();
    for (path, item) in paths {
        for (key, op) in item.as_object().expect("a path item is an object") {
            if METHODS.contains(&key.as_str()) {
                out.push((key.clone(), path.clone(), op.clone()));
            }
        }
    }
    out
}

fn schema_refs(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("$ref", Value::String(r)) => {
                        out.insert(r.clone());
                    }
                    _ => schema_refs(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| schema_refs(x, out)),
        _ => {}
    }
}

#[test]
fn document_is_openapi_3_1_with_info() {
    let doc = doc();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "fedbroker");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn document_lists_exactly_the_routers_routes() {
    let table: Vec<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    let table_set: BTreeSet<_> = table.iter().cloned().collect();
    assert_eq!(table.len(), table_set.len(), "a route is listed twice");
    let documented: BTreeSet<(String, String)> = operations(&doc())
        .into_iter()
        .map(|(m, p, _)| (m, p))
        .collect();
    let undocumented: Vec<_> = table_set.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&table_set).collect();
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "routes without a document entry: {undocumented:?}; document entries without a route: {unrouted:?}"
    );
    // The routes every deployment relies on are there (a table that lost one fails here too).
    for route in [
        ("get", "/openapi.json"),
        ("get", "/healthz"),
        ("get", "/v1/container-credentials"),
        ("post", "/v1/admin/revoke"),
        ("get", fedbroker::issuer::DISCOVERY_PATH),
        ("get", fedbroker::issuer::JWKS_PATH),
    ] {
        assert!(
            table_set.contains(&(route.0.to_owned(), route.1.to_owned())),
            "{route:?} missing"
        );
    }
}

#[test]
fn every_operation_has_a_unique_operation_id_and_answers() {
    let mut ids = BTreeSet::new();
    for (method, path, op) in operations(&doc()) {
        let id = op["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path}: no operationId"));
        assert!(ids.insert(id.to_owned()), "operationId {id} used twice");
        let responses = op["responses"].as_object().expect("responses");
        assert!(!responses.is_empty(), "{method} {path}: no answer");
        for (status, r) in responses {
            assert!(
                status.len() == 3 && status.parse::<u16>().is_ok(),
                "{method} {path}: status {status}"
            );
            assert!(
                r["description"].as_str().is_some_and(|d| !d.is_empty()),
                "{method} {path} {status}: no description"
            );
        }
    }
}

#[test]
fn every_json_error_answer_is_the_error_envelope() {
    let doc = doc();
    let body = &doc["components"]["schemas"]["ErrorBody"];
    assert_eq!(
        body["properties"]["error"]["$ref"],
        "#/components/schemas/ErrorDetail"
    );
    let detail = &doc["components"]["schemas"]["ErrorDetail"];
    let required: BTreeSet<&str> = detail["required"]
        .as_array()
        .expect("required")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(required, BTreeSet::from(["code", "message"]));
    let mut errors = 0;
    for (method, path, op) in operations(&doc) {
        for (status, r) in op["responses"].as_object().expect("responses") {
            if !status.starts_with('4') && !status.starts_with('5') {
                continue;
            }
            let Some(json) = r["content"].get("application/json") else {
                // Browser routes refuse with an HTML page.
                assert!(
                    r["content"].get("text/html").is_some(),
                    "{method} {path} {status}: neither JSON nor HTML"
                );
                continue;
            };
            errors += 1;
            let schema = &json["schema"]["$ref"];
            if (path.as_str(), status.as_str()) == ("/readyz", "503") {
                // Readiness carries the replay store's error as an ErrorDetail.
                assert_eq!(schema, "#/components/schemas/Readiness");
                assert_eq!(
                    doc["components"]["schemas"]["Readiness"]["properties"]["error"]["oneOf"][1]
                        ["$ref"],
                    "#/components/schemas/ErrorDetail"
                );
            } else if path.starts_with("/oauth/") && (status == "400" || status == "401") {
                // The authorization server's refusals are RFC 6749 §5.2's own shape.
                assert_eq!(schema, "#/components/schemas/OauthError", "{method} {path}");
            } else {
                assert_eq!(
                    schema, "#/components/schemas/ErrorBody",
                    "{method} {path} {status}"
                );
            }
        }
    }
    assert!(errors > 50, "only {errors} JSON error answers documented");
}

#[test]
fn every_schema_reference_resolves() {
    let doc = doc();
    let mut refs = BTreeSet::new();
    schema_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected reference {r}"));
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "{r} does not resolve"
        );
    }
}

#[test]
fn authenticated_routes_name_their_security_scheme() {
    let doc = doc();
    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .expect("securitySchemes");
    for name in [
        openapi::ADMIN_BEARER,
        openapi::WORKLOAD_BEARER,
        openapi::CONTAINER_AUTHORIZATION,
        openapi::BROWSER_SESSION,
    ] {
        assert!(schemes.contains_key(name), "scheme {name} missing");
    }
    assert_eq!(schemes[openapi::ADMIN_BEARER]["scheme"], "bearer");
    assert_eq!(schemes[openapi::CONTAINER_AUTHORIZATION]["in"], "header");
    assert_eq!(
        schemes[openapi::CONTAINER_AUTHORIZATION]["name"],
        "Authorization"
    );
    let security_of = |method: &str, path: &str| -> Vec<String> {
        doc["paths"][path][method]["security"]
            .as_array()
            .unwrap_or_else(|| panic!("{method} {path}: no security"))
            .iter()
            .flat_map(|req| req.as_object().expect("requirement").keys().cloned())
            .collect()
    };
    for path in ["/v1/admin/revoke", "/v1/admin/reload"] {
        assert_eq!(security_of("post", path), [openapi::ADMIN_BEARER]);
    }
    assert_eq!(
        security_of("get", "/v1/container-credentials"),
        [openapi::CONTAINER_AUTHORIZATION]
    );
    assert_eq!(security_of("get", "/v1/roles"), [openapi::WORKLOAD_BEARER]);
}

#[test]
fn request_bodies_are_documented_as_form_and_json_where_accepted() {
    let doc = doc();
    let content = |path: &str| -> BTreeSet<String> {
        doc["paths"][path]["post"]["requestBody"]["content"]
            .as_object()
            .unwrap_or_else(|| panic!("{path}: no request body"))
            .keys()
            .cloned()
            .collect()
    };
    let both = BTreeSet::from([
        "application/json".to_owned(),
        "application/x-www-form-urlencoded".to_owned(),
    ]);
    assert_eq!(content("/v1/saml/credentials"), both);
    assert_eq!(content("/v1/roles"), both);
    let form = BTreeSet::from(["application/x-www-form-urlencoded".to_owned()]);
    assert_eq!(content("/saml/acs"), form);
    assert_eq!(content("/logout"), form);
    let json = BTreeSet::from(["application/json".to_owned()]);
    for path in [
        "/v1/web-identity/credentials",
        "/v1/explain",
        "/v1/console-url",
        "/v1/admin/revoke",
    ] {
        assert_eq!(content(path), json, "{path}");
    }
    // The strict JSON bodies refuse unknown fields, and the document says so.
    let saml_json = &doc["components"]["schemas"]["SamlCredentialsJson"];
    assert_eq!(saml_json["additionalProperties"], false);
    assert_eq!(saml_json["required"][0], "saml_response");
}

#[actix_web::test]
async fn openapi_json_is_served_as_the_document() {
    let app = atest::init_service(App::new().configure(routes)).await;
    let resp = atest::call_service(
        &app,
        atest::TestRequest::get().uri("/openapi.json").to_request(),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers().get("content-type").unwrap(),
        "application/json"
    );
    let body = atest::read_body(resp).await;
    let served: Value = serde_json::from_slice(&body).expect("the served document is JSON");
    assert_eq!(served, doc());
}

#[actix_web::test]
async fn every_documented_route_is_routed() {
    // The app without state: handlers that need it fail their extractor (500), which still shows
    // the route exists; only the fallback answers 404 `not_found` / 405 `method_not_allowed`.
    let app = atest::init_service(App::new().configure(routes)).await;
    for (method, path, _) in operations(&doc()) {
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let req = atest::TestRequest::default()
            .method(method.clone())
            .uri(&path)
            .to_request();
        let resp = atest::call_service(&app, req).await;
        assert!(
            resp.status() != 404 && resp.status() != 405,
            "{method} {path}: {}",
            resp.status()
        );
    }
    // And the fallback still answers what is not in the table.
    let resp = atest::call_service(
        &app,
        atest::TestRequest::delete()
            .uri("/openapi.json")
            .to_request(),
    )
    .await;
    assert_eq!(resp.status(), 405);
}

#[actix_web::test]
async fn routes_where_leaves_out_only_the_routes_it_is_told_to() {
    let app = atest::init_service(
        App::new()
            .configure(|cfg| fedbroker::http::routes_where(cfg, |_, path| path != "/metrics")),
    )
    .await;
    let get = |uri: &'static str| atest::TestRequest::get().uri(uri).to_request();
    let metrics = atest::call_service(&app, get("/metrics")).await;
    assert_eq!(metrics.status(), 404);
    let healthz = atest::call_service(&app, get("/healthz")).await;
    assert_eq!(healthz.status(), 200);
}

#[test]
fn optional_json_bodies_are_optional_objects_not_null() {
    // The token may come in Authorization instead, so the body may be absent; a JSON `null` body
    // is refused like any non-object, and the document must not offer it.
    let doc = doc();
    for path in [
        "/v1/web-identity/credentials",
        "/v1/explain",
        "/v1/console-url",
    ] {
        let body = &doc["paths"][path]["post"]["requestBody"];
        assert_ne!(body["required"], true, "{path}");
        let schema = &body["content"]["application/json"]["schema"];
        assert!(
            schema["$ref"].as_str().is_some(),
            "{path}: {schema} is not the body object"
        );
    }
    assert_eq!(
        doc["paths"]["/v1/saml/credentials"]["post"]["requestBody"]["required"],
        true
    );
}

#[test]
fn api_routes_refuse_in_json_and_browser_routes_with_a_page() {
    // The fallback's split (src/http/fallback.rs): refusals on /v1/ are the JSON envelope, on the
    // browser routes the HTML error page; the rate limiter's 429 is JSON everywhere.
    const BROWSER: [&str; 7] = [
        "/roles",
        "/console",
        "/logout",
        "/oidc/login",
        "/oidc/callback",
        "/saml/login",
        "/saml/acs",
    ];
    for (method, path, op) in operations(&doc()) {
        for (status, r) in op["responses"].as_object().expect("responses") {
            if !(status.starts_with('4') || status.starts_with('5')) {
                continue;
            }
            let has = |media: &str| r["content"].get(media).is_some();
            if path.starts_with("/v1/") || status == "429" {
                assert!(has("application/json"), "{method} {path} {status}");
            } else if BROWSER.contains(&path.as_str()) && path != "/roles" {
                assert!(has("text/html"), "{method} {path} {status}");
                assert!(!has("application/json"), "{method} {path} {status}");
            }
        }
    }
}
