//! Request count and latency by route pattern, method and status class
//! (`fedbroker_http_request_duration_seconds`).
//!
//! Invariant: every label comes from a fixed set, so the series count is bounded whatever clients
//! send. The route is the *registered pattern* that matched (`unmatched` when none did: a raw path
//! never becomes a label); the method is one of the standard methods or `other` (HTTP/1.1 lets a
//! client send any token as a method); the status is a class. Requests refused by the rate limiter
//! are counted too (this middleware wraps it), under the same bounded labels.

use crate::http::AppState;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::web;

/// The method label: a standard method's name, or `other` for any extension token.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "other",
    }
}

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = crate::clock::Stopwatch::start();
    let metrics = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.metrics.clone());
    let method = method_label(req.method());
    let res = next.call(req).await?;
    if let Some(m) = metrics {
        // `match_pattern` is the pattern a route was registered with (`None` when no resource
        // matched), never the path the client sent.
        let route = res.request().match_pattern();
        m.request(
            route.as_deref(),
            method,
            res.status().as_u16(),
            started.elapsed().as_secs_f64(),
        );
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extension_methods_share_one_label() {
        for m in ["XAB12", "get", "PROPFIND", "A"] {
            let m = Method::from_bytes(m.as_bytes()).unwrap();
            assert_eq!(method_label(&m), "other");
        }
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::PATCH), "PATCH");
    }
}
