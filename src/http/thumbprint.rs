//! `GET /v1/thumbprint?issuer=URL`: the IAM OIDC provider thumbprint of an issuer, with the
//! certificate it is of. Thin: read the query, call the state's `ThumbprintService` (an
//! `IssuerGate`: configured issuers only unless `server.thumbprint_any_issuer`), map the result.

use super::errors::{error_response, RequestError};
use super::AppState;
use actix_web::{web, HttpResponse};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct ThumbprintQuery {
    issuer: Option<String>,
}

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
