//! `GET /v1/thumbprint?issuer=URL`: the IAM OIDC provider thumbprint of an issuer, with the
//! certificate it is of. Thin: read the query, call the state's `ThumbprintService` (an
//! `IssuerGate`: configured issuers only unless `server.thumbprint_any_issuer`), map the result.

use crate::http::errors::{error_response, RequestError};
use crate::http::openapi::ErrorBody;
use crate::http::AppState;
use actix_web::{web, HttpResponse};
use serde::Deserialize;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ThumbprintQuery {
    /// The OIDC issuer URL (https); a configured issuer unless `server.thumbprint_any_issuer`.
    issuer: Option<String>,
}

/// `GET /v1/thumbprint`.
#[utoipa::path(
    get,
    path = "/v1/thumbprint",
    tag = "introspection",
    operation_id = "thumbprint",
    summary = "The IAM OIDC provider thumbprint of an issuer, with the certificate it is of",
    params(ThumbprintQuery),
    responses(
        (status = 200, description = "The thumbprint", body = crate::thumbprint::Thumbprint),
        (status = 400, description = "No or a malformed issuer (`thumbprint_bad_issuer`)", body = ErrorBody),
        (status = 403, description = "Not a configured issuer (`thumbprint_issuer_not_allowed`)", body = ErrorBody),
        (status = 429, description = "Rate limited (`rate_limited_client`, with `Retry-After`)", body = ErrorBody),
        (status = 500, description = "The broker's trust store could not be read", body = ErrorBody),
        (status = 502, description = "The issuer's discovery or TLS failed", body = ErrorBody),
        (status = 503, description = "The issuer did not answer in time", body = ErrorBody),
    )
)]
pub async fn thumbprint(
    state: web::Data<AppState>,
    query: Result<web::Query<ThumbprintQuery>, actix_web::Error>,
) -> HttpResponse {
    let issuer = match query.ok().and_then(|q| q.into_inner().issuer) {
        Some(i) if !i.is_empty() => i,
        _ => {
            return error_response(&RequestError::bad(
                "thumbprint_bad_issuer",
                "the query parameter issuer is required: GET /v1/thumbprint?issuer=https://...",
            ))
        }
    };
    match state.thumbprint.thumbprint(&issuer).await {
        Ok(t) => {
            tracing::info!(
                thumbprint.issuer = %issuer,
                thumbprint.jwks_host = %t.jwks_host,
                thumbprint.value = %t.thumbprint,
                "thumbprint computed"
            );
            HttpResponse::Ok().json(t)
        }
        Err(e) => error_response(&e),
    }
}
