//! Calling the broker's routes in process (actix test utilities).
#![allow(dead_code)]

use actix_web::{test, web, App};
use fedbroker::http::{routes, AppState};
use serde_json::Value;

/// POST a form to `path`; (status, JSON body).
pub async fn post_form(state: &AppState, path: &str, fields: &[(&str, &str)]) -> (u16, Value) {
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(state.clone()))
            .configure(routes),
    )
    .await;
    let req = test::TestRequest::post()
        .uri(path)
        .set_form(fields)
        .to_request();
    let resp = test::call_service(&app, req).await;
    let status = resp.status().as_u16();
    (status, test::read_body_json(resp).await)
}

/// Send any request to the routes; (status, headers, body as JSON or `Value::String` of the text).
pub async fn send(
    state: &AppState,
    req: test::TestRequest,
) -> (u16, actix_web::http::header::HeaderMap, Value) {
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(state.clone()))
            .configure(routes),
    )
    .await;
    let resp = test::call_service(&app, req.to_request()).await;
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = test::read_body(resp).await;
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    (status, headers, body)
}
