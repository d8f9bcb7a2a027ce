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

/// A browser's cookie jar for in-process requests: sends `name=value` pairs, keeps what
/// `Set-Cookie` sets, drops what it clears (an empty value).
#[derive(Clone, Debug, Default)]
pub struct CookieJar(Vec<(String, String)>);

impl CookieJar {
    /// `req` with this jar's `Cookie` header (none when empty).
    pub fn apply(&self, req: test::TestRequest) -> test::TestRequest {
        if self.0.is_empty() {
            return req;
        }
        let v: Vec<String> = self.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
        req.insert_header(("cookie", v.join("; ")))
    }

    /// Take the response's `Set-Cookie` headers into the jar.
    pub fn keep(&mut self, headers: &actix_web::http::header::HeaderMap) {
        for h in headers.get_all("set-cookie") {
            let c = actix_web::cookie::Cookie::parse(h.to_str().unwrap().to_owned()).unwrap();
            self.0.retain(|(k, _)| k != c.name());
            if !c.value().is_empty() {
                self.0.push((c.name().to_owned(), c.value().to_owned()));
            }
        }
    }

    /// The value of cookie `name`, if the jar holds it.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The `error.code` of an error answer (empty when there is none).
pub fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}
