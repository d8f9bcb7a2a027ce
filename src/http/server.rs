//! The two applications the listeners serve, with their middleware in the one order production
//! uses: `main.rs` puts them behind `HttpServer` (workers, connection limits, TLS, binding), and
//! tests can build the same stack with `actix_web::test::init_service`.
//!
//! Order (actix runs the last `wrap` first, so a request meets them bottom-up): the broker's
//! headers on every answer (`fallback::every_answer_headers`), the request id and access log, the
//! request metrics, then (public listener only) the per-client rate limit and the request-body
//! deadline, then the routes. So every answer, a 429 or a body timeout included, carries the
//! headers, a request id and a metrics sample.
//!
//! Invariants: no route is added here (the route table is `router.rs`); the metrics listener
//! serves `/metrics` only and is not rate limited.

use super::middleware::{fallback, rate_limit, request_id, request_metrics};
use super::{connections, router, AppState};
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::{middleware::from_fn, web, App, Error};
use std::time::Duration;

/// The public listener's application: every route (`/metrics` only when `serve_metrics`, i.e.
/// no `server.metrics_listen`), behind the body deadline, the rate limit, request metrics, request
/// ids and the broker's headers (`public_url` decides HSTS).
pub fn public_app(
    data: web::Data<AppState>,
    body_timeout: Duration,
    public_url: &str,
    serve_metrics: bool,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(data)
        .wrap(from_fn(move |req, next| {
            connections::body_deadline(body_timeout, req, next)
        }))
        .wrap(from_fn(rate_limit::middleware))
        .wrap(from_fn(request_metrics::middleware))
        .wrap(from_fn(request_id::middleware))
        .wrap(fallback::every_answer_headers(public_url))
        .configure(|c| router::public_routes(c, serve_metrics))
}

/// The `server.metrics_listen` listener's application: `GET /metrics` only, with request metrics,
/// request ids and the broker's headers; no rate limit (a scraper on an internal port).
pub fn metrics_app(
    data: web::Data<AppState>,
    public_url: &str,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(data)
        .wrap(from_fn(request_metrics::middleware))
        .wrap(from_fn(request_id::middleware))
        .wrap(fallback::every_answer_headers(public_url))
        .configure(router::metrics_routes)
}
