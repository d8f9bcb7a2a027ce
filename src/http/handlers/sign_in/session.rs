//! The broker session of a signed-in browser: the session a request's cookie refers to, starting
//! one after a verified sign-in (ending the browser's previous one), and `POST /logout`.

use super::audit;
use super::{
    cookie, error_page, expired, return_cookie_cleared, return_path, saml_binding_cookie, secure,
    CsrfError,
};
use crate::http::openapi::ErrorBody;
use crate::http::AppState;
use crate::sign_in::{login_cookie_name, session_cookie_name, BrowserSession, SESSION_TTL};
use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

/// The session the request's cookie refers to (a store failure reads as no session: the person
/// is asked to sign in again rather than shown an error).
pub async fn current_session(req: &HttpRequest, state: &AppState) -> Option<BrowserSession> {
    let cookie = req.cookie(session_cookie_name(state.secure_cookies))?;
    match state.sessions.get(cookie.value()).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "browser session store failed");
            None
        }
    }
}

/// Start the broker session for a verified identity and send the browser to the role picker.
pub async fn signed_in(
    req: &HttpRequest,
    state: &AppState,
    identity: crate::identity::VerifiedIdentity,
) -> HttpResponse {
    signed_in_to(req, state, identity, "/roles").await
}

/// End the session the browser held before this sign-in, if any: its token no longer works, and
/// the audit stream records it as a sign-out.
async fn end_previous_session(req: &HttpRequest, state: &AppState) {
    let Some(old) = req.cookie(session_cookie_name(state.secure_cookies)) else {
        return;
    };
    let previous = current_session(req, state).await;
    match state.sessions.end(old.value()).await {
        Err(e) => tracing::warn!(error = %e, "could not end the previous browser session"),
        Ok(()) => {
            if let Some(session) = previous {
                audit::signed_out(state, req, &session.identity);
            }
        }
    }
}

/// Start the broker session and send the browser to `next` (a checked local path), or back to
/// the command line's approval page the sign-in started from (`RETURN_COOKIE`) when `next` is
/// the role picker; a session the browser held before ends.
pub async fn signed_in_to(
    req: &HttpRequest,
    state: &AppState,
    identity: crate::identity::VerifiedIdentity,
    next: &str,
) -> HttpResponse {
    end_previous_session(req, state).await;
    tracing::info!(
        event = "browser.signed_in",
        protocol = identity.protocol().as_str(),
        provider = identity.provider(),
        subject = %identity.subject_hash(),
        "browser session started"
    );
    let audited = identity.clone();
    match state.sessions.create(identity).await {
        Ok((value, _)) => {
            if let Some(refusal) = audit::signed_in(state, req, &audited, &value).await {
                return refusal;
            }
            let next = match return_path(req) {
                Some(back) if next == "/roles" => back,
                _ => next.to_owned(),
            };
            secure(HttpResponse::SeeOther())
                .insert_header((header::LOCATION, next))
                .cookie(return_cookie_cleared())
                .cookie(cookie(
                    state,
                    session_cookie_name(state.secure_cookies),
                    value,
                    CookieDuration::seconds(SESSION_TTL.num_seconds()),
                ))
                .cookie(expired(state, login_cookie_name(state.secure_cookies)))
                .cookie(saml_binding_cookie(String::new(), CookieDuration::ZERO))
                .finish()
        }
        Err(_) => {
            let route = crate::audit::sign_in_route(&audited);
            let busy = crate::sign_in::OidcBrowserError::Busy;
            audit::refused(state, req, route, &busy, Some(&audited))
        }
    }
}

/// `POST /logout`.
#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct LogoutForm {
    /// The session's CSRF token (from the role picker's form).
    csrf: String,
}

/// `POST /logout` (form with the CSRF token): end the session.
#[utoipa::path(
    post,
    path = "/logout",
    tag = "browser",
    operation_id = "logout",
    summary = "End the browser session",
    security((), ("browser_session" = [])),
    request_body(content = LogoutForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed out (or was not signed in): to /roles, the session cookie cleared", headers(("Location" = String, description = "Where the browser goes next"), ("Set-Cookie" = String, description = "The expired session cookie"))),
        (status = 400, description = "A form that does not parse (`bad_form`, `unsupported_media_type`) (HTML error page)", content_type = "text/html", body = String),
        (status = 403, description = "Wrong CSRF token (`csrf_token_invalid`) (HTML error page)", content_type = "text/html", body = String),
        (status = 413, description = "The form is too large (`request_too_large`) (HTML error page)", content_type = "text/html", body = String),
        (status = 429, description = "Rate limited (`rate_limited_client`, with `Retry-After`)", body = ErrorBody),
    )
)]
pub async fn logout(
    req: HttpRequest,
    form: web::Form<LogoutForm>,
    state: web::Data<AppState>,
) -> HttpResponse {
    if let (Some(c), Some(session)) = (
        req.cookie(session_cookie_name(state.secure_cookies)),
        current_session(&req, &state).await,
    ) {
        if !session.csrf_ok(&form.csrf) {
            return error_page(&CsrfError);
        }
        if let Err(e) = state.sessions.end(c.value()).await {
            tracing::warn!(error = %e, "could not end the browser session");
        }
        audit::signed_out(&state, &req, &session.identity);
    }
    secure(HttpResponse::SeeOther())
        .insert_header((header::LOCATION, "/roles"))
        .cookie(expired(&state, session_cookie_name(state.secure_cookies)))
        .finish()
}
