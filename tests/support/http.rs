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
