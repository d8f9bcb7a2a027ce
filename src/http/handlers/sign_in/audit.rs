//! Audit records of the browser sign-in routes (`/saml/acs`, `/oidc/callback`, `/logout`), kept
//! out of the handlers so each handler only calls one function per outcome.
//!
//! Invariants: a refusal is recorded (and counted in `fedbroker_credential_refusals_total`) with
//! its stable code (never the message, which may name the IdP's own error text); a started session is recorded before the browser learns of it, and under
//! `audit.fail_closed` a session whose record cannot be written is ended again.

use super::error_page;
use crate::error::ApiError;
use crate::http::middleware::client_addr::client_ip_string;
use crate::http::AppState;
use crate::identity::VerifiedIdentity;
use actix_web::{HttpRequest, HttpResponse};

/// Record a refused sign-in on `route` (`identity`: when it had been verified) and answer with
/// the error page.
pub fn refused(
    state: &AppState,
    req: &HttpRequest,
    route: &str,
    err: &dyn ApiError,
    identity: Option<&VerifiedIdentity>,
) -> HttpResponse {
    let client = client_ip_string(req);
    state
        .audit
        .sign_in_refused(route, err, identity, client.as_deref(), state.now());
    state.metrics.refused(route, err.code());
    error_page(err)
}

/// Record the session just started for `identity` (stored under `cookie`); `Some`: the record
/// could not be written under `fail_closed`, the session was ended and this is the answer.
pub async fn signed_in(
    state: &AppState,
    req: &HttpRequest,
    identity: &VerifiedIdentity,
    cookie: &str,
) -> Option<HttpResponse> {
    let client = client_ip_string(req);
    let e = state
        .audit
        .signed_in(identity, client.as_deref(), state.now())
        .err()?;
    if let Err(end) = state.sessions.end(cookie).await {
        tracing::warn!(error = %end, "could not end the unaudited browser session");
    }
    Some(error_page(&e))
}

/// Record the end of `identity`'s session.
pub fn signed_out(state: &AppState, req: &HttpRequest, identity: &VerifiedIdentity) {
    let client = client_ip_string(req);
    state
        .audit
        .signed_out(identity, client.as_deref(), state.now());
}
