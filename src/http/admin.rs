//! `/v1/admin/*`: operator endpoints behind a bearer token (`server.admin_token[_file]`).
//!
//! `POST /v1/admin/revoke` `{"subject": "..."} | {"role_arn": "..."}`, optional `block_seconds`:
//! purges cached credentials, blocks re-issue, and returns the `aws:TokenIssueTime` deny policy
//! (see `exchange::revoke`). `POST /v1/admin/reload`: reload rules and SAML IdPs (see `reload`). Invariants: the token is compared in constant time (as SHA-256
//! digests, so the length leaks nothing either); a missing or wrong token is 401 and is logged
//! without the token; with no token configured every admin call is 403 `admin_disabled`.

use super::bad_input::{fields_of, json_message};
use super::body::read_parsed;
use super::errors::{error_response, RequestError};
use super::AppState;
use crate::error::ErrorKind;
use crate::exchange::RevokeRequest;
use crate::reload::ReloadError;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use secrecy::ExposeSecret;

/// `POST /v1/admin/revoke`.
pub async fn revoke(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    if let Some(refusal) = refuse_unauthorized(&req, &state) {
        return refusal;
    }
    let parse = |_: &HttpRequest, body: &[u8]| {
        serde_json::from_slice::<RevokeRequest>(body).map_err(|e| {
            RequestError::bad(
                "invalid_json",
                format!(
                    "send a JSON object {{\"subject\": ...}} or {{\"role_arn\": ...}}, \
                     optionally with \"block_seconds\": {}",
                    json_message(&e, fields_of::<RevokeRequest>())
                ),
            )
        })
    };
    let input = match read_parsed(&req, payload, state.max_body_bytes, parse).await {
        Ok(r) => r,
        Err(e) => return error_response(&e),
    };
    match state.exchange().revoke(input, state.revocation_block).await {
        Ok(r) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(r),
        Err(e) => error_response(&e),
    }
}

/// `POST /v1/admin/reload`: the same reload as SIGHUP (mapping rules and SAML IdPs from the file
/// given at start); 200 with what was applied, or 500 `config_reload_failed` listing every problem
/// (the running configuration is kept).
pub async fn reload(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Some(refusal) = refuse_unauthorized(&req, &state) {
        return refusal;
    }
    let Some(reloader) = state.reloader.clone() else {
        return error_response(&ReloadError::NotReloadable);
    };
    tracing::info!(
        event = "config.reload_requested",
        source = "admin",
        "reloading the configuration"
    );
    match reloader.reload().await {
        Ok(summary) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(serde_json::json!({ "status": "reloaded", "applied": summary })),
        Err(problems) => error_response(&ReloadError::Refused(problems)),
    }
}

/// The refusal for a request without the admin token (`None`: authorized).
fn refuse_unauthorized(req: &HttpRequest, state: &AppState) -> Option<HttpResponse> {
    let Some(expected) = &state.admin_token else {
        return Some(error_response(&RequestError {
            kind: ErrorKind::Forbidden,
            code: "admin_disabled",
            message: "admin endpoints are disabled: set server.admin_token_file (or \
                      server.admin_token) to enable them"
                .into(),
        }));
    };
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if presented.is_empty() || !crate::web::secrets_equal(presented, expected.expose_secret()) {
        let mut resp = error_response(&RequestError {
            kind: ErrorKind::Unauthenticated,
            code: "admin_unauthorized",
            message: "send Authorization: Bearer <admin token> (server.admin_token_file)".into(),
        });
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer realm=\"fedbroker-admin\""),
        );
        return Some(resp);
    }
    None
}
