//! Issuer mode's public documents: `GET /.well-known/openid-configuration` and
//! `GET /.well-known/jwks.json`. Thin: the bodies are precomputed by `crate::issuer::Issuer`.
//!
//! Both are public and cacheable (`Cache-Control: public, max-age=300`,
//! [`crate::issuer::PUBLIC_DOCS_MAX_AGE_SECS`]). With issuer mode disabled both answer 404 with
//! the usual JSON error body, code `issuer_disabled` (built here so that it is logged at debug
//! level only: probing a disabled issuer is not a refusal worth a warning).

use crate::http::openapi::{ErrorBody, Jwks, OpenIdConfiguration};
use crate::http::AppState;
use crate::issuer::{Issuer, PUBLIC_DOCS_MAX_AGE_SECS};
use actix_web::http::header;
use actix_web::{web, HttpResponse};

fn public_json(body: &str) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((
            header::CACHE_CONTROL,
            format!("public, max-age={PUBLIC_DOCS_MAX_AGE_SECS}"),
        ))
        .content_type("application/json")
        .body(body.to_owned())
}

fn disabled() -> HttpResponse {
    tracing::debug!(error.code = "issuer_disabled", "issuer document requested");
    HttpResponse::NotFound()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({"error": {
            "code": "issuer_disabled",
            "message": "issuer mode is not enabled on this broker (set [issuer] enabled = true)"
        }}))
}

fn serve(state: &AppState, doc: fn(&Issuer) -> &str) -> HttpResponse {
    match &state.issuer {
        Some(issuer) => public_json(doc(issuer)),
        None => disabled(),
    }
}

/// `GET /.well-known/openid-configuration`
#[utoipa::path(
    get,
    path = "/.well-known/openid-configuration",
    tag = "issuer",
    operation_id = "openidConfiguration",
    summary = "Issuer mode's OpenID Provider metadata",
    responses(
        (status = 200, description = "The metadata (`Cache-Control: public, max-age=300`)", body = OpenIdConfiguration),
        (status = 404, description = "Issuer mode is off (`issuer_disabled`)", body = ErrorBody),
        (status = 429, description = "Rate limited (`rate_limited_client`, with `Retry-After`)", body = ErrorBody),
    )
)]
pub async fn openid_configuration(state: web::Data<AppState>) -> HttpResponse {
    serve(&state, Issuer::discovery_json)
}

/// `GET /.well-known/jwks.json`
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "issuer",
    operation_id = "jwks",
    summary = "Issuer mode's public signing keys",
    responses(
        (status = 200, description = "The JWK set (`Cache-Control: public, max-age=300`)", body = Jwks),
        (status = 404, description = "Issuer mode is off (`issuer_disabled`)", body = ErrorBody),
        (status = 429, description = "Rate limited (`rate_limited_client`, with `Retry-After`)", body = ErrorBody),
    )
)]
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    serve(&state, Issuer::jwks_json)
}
