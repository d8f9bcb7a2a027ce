//! `GET /device` and `POST /device`: where a person approves or denies a device sign-in of the
//! command line (`fedbroker login --device`). The grant itself is `crate::oauth::device`; the
//! pages' bodies are `crate::oauth::pages`.
//!
//! Invariants: nothing is looked up before the person is signed in at the broker (so every
//! user-code lookup counts against the signed-in subject's guess bound as well as the client
//! address's); a decision is a POST carrying the browser session's CSRF token and an explicit
//! `approve` or `deny`; the approval page names what asks (client, address, time, code) and
//! what approving does; the user code never reaches a log line.

use crate::http::errors::RequestError;
use crate::http::handlers::sign_in::session::current_session;
use crate::http::handlers::sign_in::{error_page, page, secure, sign_in_then, CsrfError};
use crate::http::middleware::client_addr::client_ip_string;
use crate::http::openapi::ErrorBody;
use crate::http::AppState;
use crate::oauth::{browser_signed_in_at, pages, DeviceDecision, LookupError, TokenError};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

#[derive(Default, serde::Deserialize)]
struct DeviceQuery {
    user_code: Option<String>,
}

fn html(status: actix_web::http::StatusCode, title: &str, body: &str) -> HttpResponse {
    secure(HttpResponse::build(status))
        .content_type("text/html; charset=utf-8")
        .body(page(title, body))
}

/// A lookup or decision that found nothing to show: the code form again, or the refusal page.
fn lookup_refusal(e: LookupError) -> HttpResponse {
    match e {
        LookupError::Unknown => html(
            actix_web::http::StatusCode::OK,
            "Sign in the command line",
            &pages::user_code_form(Some(&e.to_string())),
        ),
        LookupError::TooManyGuesses(limited) => {
            let mut resp = error_page(&limited);
            if let Some(secs) = crate::error::ApiError::retry_after(&limited) {
                if let Ok(v) = header::HeaderValue::from_str(&secs.to_string()) {
                    resp.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
            resp
        }
        LookupError::Store(s) => error_page(&TokenError::Store(s)),
    }
}

/// `GET /device[?user_code=XXXX-XXXX]`.
#[utoipa::path(
    get,
    path = "/device",
    tag = "cli",
    operation_id = "devicePage",
    summary = "The device sign-in page: enter the code shown by `fedbroker login --device`, then approve or deny",
    params(("user_code" = Option<String>, Query, description = "The code (`XXXX-XXXX`; case, dashes and spaces do not matter)")),
    security((), ("browser_session" = [])),
    responses(
        (status = 200, description = "Signed in: the code form (again, with the problem, for an unknown code), or the approval page", content_type = "text/html", body = String),
        (status = 401, description = "Not signed in: the sign-in choices; the browser comes back here after signing in", content_type = "text/html", body = String),
        (status = 429, description = "Too many codes tried from this address or by this person (`rate_limited_client` / `rate_limited_subject`, with `Retry-After`)", content(
            (ErrorBody = "application/json"),
            (String = "text/html"),
        )),
        (status = 503, description = "The session store is unavailable (HTML error page)", content_type = "text/html", body = String),
    )
)]
pub async fn device_page(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let query: DeviceQuery = serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let Some(session) = current_session(&req, &state).await else {
        let back = match &query.user_code {
            Some(c) => format!(
                "/device?user_code={}",
                crate::http::handlers::sign_in::urlencode(c)
            ),
            None => "/device".to_owned(),
        };
        return sign_in_then(&req, &state, &back);
    };
    let Some(code) = query.user_code.filter(|c| !c.trim().is_empty()) else {
        return html(
            actix_web::http::StatusCode::OK,
            "Sign in the command line",
            &pages::user_code_form(None),
        );
    };
    let client = client_ip_string(&req).unwrap_or_default();
    let subject = session.identity.subject_hash();
    match state
        .oauth
        .device_lookup(&code, &client, Some(&subject))
        .await
    {
        Ok(pending) => html(
            actix_web::http::StatusCode::OK,
            "Approve the command line?",
            &pages::device_approval(&pending, session.identity.subject(), &session.csrf_token),
        ),
        Err(e) => lookup_refusal(e),
    }
}

/// `POST /device` (form).
#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct DeviceDecisionForm {
    /// The browser session's CSRF token.
    csrf: String,
    user_code: String,
    /// `approve` or `deny`.
    decision: String,
}

/// `POST /device`.
#[utoipa::path(
    post,
    path = "/device",
    tag = "cli",
    operation_id = "deviceDecision",
    summary = "The person's explicit approval or denial of a device sign-in",
    security(("browser_session" = [])),
    request_body(content = DeviceDecisionForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Decided (the page says which), or the code form again for an unknown, expired or decided code", content_type = "text/html", body = String),
        (status = 303, description = "Not signed in: back to the device page", headers(("Location" = String, description = "/device"))),
        (status = 400, description = "A form that does not parse (HTML error page)", content_type = "text/html", body = String),
        (status = 403, description = "Wrong CSRF token (`csrf_token_invalid`) (HTML error page)", content_type = "text/html", body = String),
        (status = 413, description = "The form is too large (`request_too_large`) (HTML error page)", content_type = "text/html", body = String),
        (status = 429, description = "Too many codes tried (`rate_limited_client` / `rate_limited_subject`, with `Retry-After`)", content(
            (ErrorBody = "application/json"),
            (String = "text/html"),
        )),
        (status = 503, description = "The session store is unavailable (HTML error page)", content_type = "text/html", body = String),
    )
)]
pub async fn device_decision(
    req: HttpRequest,
    form: web::Form<DeviceDecisionForm>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let Some(session) = current_session(&req, &state).await else {
        return secure(HttpResponse::SeeOther())
            .insert_header((header::LOCATION, "/device"))
            .finish();
    };
    if !session.csrf_ok(&form.csrf) {
        return error_page(&CsrfError);
    }
    let decision = match form.decision.as_str() {
        "approve" => DeviceDecision::Approve,
        "deny" => DeviceDecision::Deny,
        _ => {
            return error_page(&RequestError::bad(
                "bad_form",
                "decision must be approve or deny",
            ))
        }
    };
    let approver = client_ip_string(&req).unwrap_or_default();
    let decided = state
        .oauth
        .device_decide(
            &form.user_code,
            decision,
            &session.identity,
            browser_signed_in_at(&session),
            &approver,
        )
        .await;
    match decided {
        Ok((_, event)) => {
            // The decision is stored: the record cannot take it back (the token issue it leads
            // to is audited and refused under `audit.fail_closed`).
            let _ = state.audit.oauth(&event);
            let approved = decision == DeviceDecision::Approve;
            html(
                actix_web::http::StatusCode::OK,
                if approved { "Approved" } else { "Denied" },
                &pages::device_done(approved),
            )
        }
        Err(e) => lookup_refusal(e),
    }
}
