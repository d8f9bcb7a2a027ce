//! `/healthz` (the process answers), `/readyz` (its dependencies answer) and `/metrics`.
//!
//! Readiness (contract: "Redis reachable when configured"): the body always lists the checks and a
//! `status` of `ready` or `degraded`.
//! - the replay store (Redis when configured) not answering is 503 `degraded`: SAML and one-time
//!   tokens fail closed without it, although reusable-token requests are still served;
//! - the credential cache alone failing (e.g. a Redis Cluster for credentials) is 200 `degraded`:
//!   requests fall back to the in-process cache and STS, nothing fails;
//! - `?allow_degraded=true` answers 200 for `degraded` too: for a readiness probe in deployments
//!   whose traffic is mostly reusable workload tokens, which keep working without Redis (every
//!   replica shares the Redis, so a strict probe takes all of them out at once).

use crate::cache::CacheHealth;
use crate::error::ApiError;
use crate::http::openapi::{ErrorBody, Health, Readiness};
use crate::http::AppState;
use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde_json::json;

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "operations",
    operation_id = "healthz",
    summary = "200 while the process runs",
    responses((status = 200, description = "The process answers", body = Health))
)]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReadyQuery {
    /// Answer 200 for `degraded` too (probes of deployments serving mostly reusable tokens).
    #[serde(default)]
    allow_degraded: bool,
}

#[utoipa::path(
    get,
    path = "/readyz",
    tag = "operations",
    operation_id = "readyz",
    summary = "Whether the dependencies answer (the replay store, the credential cache)",
    params(ReadyQuery),
    responses(
        (status = 200, description = "`ready`, or `degraded` when only the credential cache fails (or with `allow_degraded=true`)", body = Readiness),
        (status = 400, description = "The query string does not parse (`bad_query`); an HTML page when the client asks for text/html", content(
            (ErrorBody = "application/json"),
            (String = "text/html"),
        )),
        (status = 503, description = "The replay store does not answer (`degraded`, with `Retry-After`)", body = Readiness),
    )
)]
pub async fn readyz(state: web::Data<AppState>, query: web::Query<ReadyQuery>) -> HttpResponse {
    let exchange = state.exchange();
    let replay = exchange.replay.ping().await;
    let cache = match &exchange.cache {
        None => "disabled",
        Some(c) => match c.check().await {
            CacheHealth::Ok if c.is_shared() => "redis",
            CacheHealth::Ok => "in-process",
            CacheHealth::Degraded => "degraded",
        },
    };
    let checks = json!({
        "replay_store": if replay.is_ok() { "ok" } else { "unavailable" },
        "credential_cache": cache,
    });
    match replay {
        Err(e) => (if query.allow_degraded {
            HttpResponse::Ok()
        } else {
            HttpResponse::ServiceUnavailable()
        })
        .insert_header((header::RETRY_AFTER, "2"))
        .json(json!({
            "status": "degraded",
            "checks": checks,
            "error": { "code": e.code(), "message": e.to_string() },
        })),
        Ok(()) => HttpResponse::Ok().json(json!({
            "status": if cache == "degraded" { "degraded" } else { "ready" },
            "checks": checks,
        })),
    }
}

/// `GET /metrics`: Prometheus / OpenMetrics text.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    operation_id = "metrics",
    summary = "Prometheus metrics (OpenMetrics text)",
    responses((status = 200, description = "The metrics", content_type = "application/openmetrics-text", body = String))
)]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(state.metrics.render())
}
