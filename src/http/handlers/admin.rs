//! `/v1/admin/*`: operator endpoints behind a bearer token (`server.admin_token[_file]`).
//!
//! `POST /v1/admin/revoke` `{"subject": "..."} | {"role_arn": "..."}`, optional `block_seconds`:
//! purges cached credentials, blocks re-issue, and returns the `aws:TokenIssueTime` deny policy
//! (see `exchange::revoke`). `POST /v1/admin/reload`: reload rules and SAML IdPs (see `reload`). Invariants: the token is compared in constant time (as SHA-256
//! digests, so the length leaks nothing either); a missing or wrong token is 401 and is logged
//! without the token; with no token configured every admin call is 403 `admin_disabled`. Every
//! call is audited: `admin.unauthorized` (the code and the client address, nothing presented),
//! or `admin.revoke` / `admin.reload` naming the admin by the token's fingerprint, the target and
//! the outcome (see `audit::schema`).

use crate::audit::{token_fingerprint, RevokeTarget};
use crate::error::{ApiError, ErrorKind};
use crate::exchange::RevokeRequest;
use crate::http::errors::{error_response, RequestError};
use crate::http::handlers::bad_input::{fields_of, json_message};
use crate::http::handlers::body::read_parsed;
use crate::http::middleware::client_addr::client_ip_string;
use crate::http::openapi::{ErrorBody, ReloadAnswer, ReloadStatus};
use crate::http::AppState;
use crate::reload::ReloadError;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use secrecy::ExposeSecret;

/// `POST /v1/admin/revoke`.
#[utoipa::path(
    post,
    path = "/v1/admin/revoke",
    tag = "admin",
    operation_id = "adminRevoke",
    summary = "Purge cached credentials of a subject or role, block re-issue, return the deny policy",
    security(("admin_bearer" = [])),
    request_body(content = RevokeRequest, content_type = "application/json", description = "`subject` or `role_arn` (exactly one), optional `block_seconds`"),
    responses(
        (status = 200, description = "Revoked (`Cache-Control: no-store`)", body = crate::exchange::Revocation),
        (status = 400, description = "Not one target, a bad ARN or block, or no credential cache (`invalid_json`, `invalid_revocation_target`, `invalid_block_seconds`, `credential_cache_disabled`)", body = ErrorBody),
        (status = 401, description = "No or a wrong admin token (`admin_unauthorized`, with `WWW-Authenticate: Bearer`)", body = ErrorBody),
        (status = 403, description = "No admin token configured (`admin_disabled`)", body = ErrorBody),
        (status = 408, description = "The body did not arrive in time (`request_timeout`)", body = ErrorBody),
        (status = 413, description = "The body is too large (`request_too_large`)", body = ErrorBody),
        (status = 429, description = "Rate limited (`rate_limited_client`, with `Retry-After`)", body = ErrorBody),
        (status = 500, description = "An internal failure", body = ErrorBody),
        (status = 503, description = "The shared cache did not answer: the revocation is incomplete (`revocation_incomplete`)", body = ErrorBody),
    )
)]
pub async fn revoke(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let admin = match authorize(&req, &state, "admin_revoke") {
        Ok(fingerprint) => fingerprint,
        Err(refusal) => return unauthorized(&refusal),
    };
    let client = client_ip_string(&req);
    let audit_refusal = |e: &dyn ApiError, target: &RevokeTarget| {
        state
            .audit
            .admin_revoke(&admin, client.as_deref(), target, Err(e), state.now());
    };
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
        Err(e) => {
            audit_refusal(&e, &RevokeTarget::default());
            return error_response(&e);
        }
    };
    let target = revoke_target(&input);
    // A subject's CLI sessions end with every revocation of the subject, `block_seconds = 0`
    // included: the marker refuses every session signed in until now, on every replica.
    if let (Some(subject), None) = (input.subject.as_deref(), input.role_arn.as_deref()) {
        if !subject.is_empty() {
            if let Err(e) = state.oauth.revoke_subject(subject).await {
                let e = RequestError {
                    kind: crate::error::ErrorKind::Unavailable,
                    code: "revocation_incomplete",
                    message: format!(
                        "the CLI sessions of the subject could not be ended (the session store failed: {e}); retry the revocation"
                    ),
                };
                audit_refusal(&e, &target);
                return error_response(&e);
            }
        }
    }
    match state.exchange().revoke(input, state.revocation_block).await {
        Ok(r) => {
            let outcome = Ok((r.purged, r.blocked_until.as_deref()));
            state
                .audit
                .admin_revoke(&admin, client.as_deref(), &target, outcome, state.now());
            HttpResponse::Ok()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .json(r)
        }
        Err(e) => {
            audit_refusal(&e, &target);
            error_response(&e)
        }
    }
}

/// What a revocation request names, as the audit log writes it: a role ARN in clear (when it is
/// one), a subject only as its revocation label (a hash); nothing when it names neither or both.
fn revoke_target(r: &RevokeRequest) -> RevokeTarget {
    match (r.subject.as_deref(), r.role_arn.as_deref()) {
        (Some(s), None) if !s.is_empty() => RevokeTarget {
            kind: Some("subject"),
            target: Some(crate::cache::Label::subject(s).to_string()),
        },
        (None, Some(role)) => RevokeTarget {
            kind: Some("role"),
            target: crate::aws::RoleArn::parse(role)
                .ok()
                .map(|r| r.as_str().to_owned()),
        },
        _ => RevokeTarget::default(),
    }
}

/// `POST /v1/admin/reload`: the same reload as SIGHUP (mapping rules and SAML IdPs from the file
/// given at start); 200 with what was applied, or 500 `config_reload_failed` listing every problem
/// (the running configuration is kept).
#[utoipa::path(
    post,
    path = "/v1/admin/reload",
    tag = "admin",
    operation_id = "adminReload",
    summary = "Reload mapping rules and SAML IdPs from the configuration file (as SIGHUP)",
    security(("admin_bearer" = [])),
    responses(
        (status = 200, description = "Reloaded (`Cache-Control: no-store`)", body = ReloadAnswer),
        (status = 401, description = "No or a wrong admin token (`admin_unauthorized`, with `WWW-Authenticate: Bearer`)", body = ErrorBody),
        (status = 403, description = "No admin token configured (`admin_disabled`)", body = ErrorBody),
        (status = 429, description = "Rate limited (`rate_limited_client`, with `Retry-After`)", body = ErrorBody),
        (status = 500, description = "The new configuration is refused (`config_reload_failed`, with `problems`; the running one is kept) or reloading is unavailable (`reload_unavailable`)", body = ErrorBody),
    )
)]
pub async fn reload(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let admin = match authorize(&req, &state, "admin_reload") {
        Ok(fingerprint) => fingerprint,
        Err(refusal) => return unauthorized(&refusal),
    };
    let client = client_ip_string(&req);
    let audit = |result: Result<(), &dyn ApiError>| {
        state
            .audit
            .admin_reload(&admin, client.as_deref(), result, state.now());
    };
    let Some(reloader) = state.reloader.clone() else {
        let e = ReloadError::NotReloadable;
        audit(Err(&e));
        return error_response(&e);
    };
    tracing::info!(
        event = "config.reload_requested",
        source = "admin",
        "reloading the configuration"
    );
    match reloader.reload().await {
        Ok(summary) => {
            audit(Ok(()));
            HttpResponse::Ok()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .json(ReloadAnswer {
                    status: ReloadStatus::Reloaded,
                    applied: summary,
                })
        }
        Err(problems) => {
            let e = ReloadError::Refused(problems);
            audit(Err(&e));
            error_response(&e)
        }
    }
}

/// The admin token's fingerprint when the request carries the token; otherwise the refusal
/// (audited as `admin.unauthorized` on `route`), answered by [`unauthorized`].
fn authorize(req: &HttpRequest, state: &AppState, route: &str) -> Result<String, RequestError> {
    check_token(req, state).inspect_err(|e| {
        let client = client_ip_string(req);
        state
            .audit
            .admin_unauthorized(route, e.code, client.as_deref(), state.now());
    })
}

/// The answer to a request without the admin token (401 with `WWW-Authenticate`, or 403).
fn unauthorized(e: &RequestError) -> HttpResponse {
    let mut resp = error_response(e);
    if e.kind == ErrorKind::Unauthenticated {
        resp.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer realm=\"fedbroker-admin\""),
        );
    }
    resp
}

/// The token's fingerprint, or why the request is not authorized.
fn check_token(req: &HttpRequest, state: &AppState) -> Result<String, RequestError> {
    let Some(expected) = &state.admin_token else {
        return Err(RequestError {
            kind: ErrorKind::Forbidden,
            code: "admin_disabled",
            message: "admin endpoints are disabled: set server.admin_token_file (or \
                      server.admin_token) to enable them"
                .into(),
        });
    };
    let presented = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if presented.is_empty() || !crate::sign_in::secrets_equal(presented, expected.expose_secret()) {
        return Err(RequestError {
            kind: ErrorKind::Unauthenticated,
            code: "admin_unauthorized",
            message: "send Authorization: Bearer <admin token> (server.admin_token_file)".into(),
        });
    }
    Ok(token_fingerprint(expected.expose_secret()))
}
