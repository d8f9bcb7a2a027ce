//! `GET /console?role=ARN&csrf=TOKEN[&destination=URL][&region=R][&session_duration=S]`: the role
//! picker's click. Signed-in browser only; the CSRF token is required (a cross-site link cannot
//! sign the person into a console role); console options are checked before any credential is
//! obtained; then credentials (cache included) → federation endpoint → `302` to the sign-in URL.
//!
//! Invariants: the URL is only ever a `Location` header of a `Cache-Control: no-store`,
//! `Referrer-Policy: no-referrer` response; it is never logged or rendered.

use super::session::current_session;
use super::{error_page, secure, CsrfError};
use crate::console::ConsoleRequest;
use crate::http::openapi::ErrorBody;
use crate::http::AppState;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use secrecy::ExposeSecret;

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsoleQuery {
    /// The role ARN (one of the picker's).
    role: String,
    /// The session's CSRF token (the picker's links carry it).
    csrf: Option<String>,
    destination: Option<String>,
    region: Option<String>,
    session_duration: Option<String>,
}

/// `GET /console`.
#[utoipa::path(
    get,
    path = "/console",
    tag = "browser",
    operation_id = "console",
    summary = "The role picker's click: a redirect to the AWS console, signed in as the role",
    security((), ("browser_session" = [])),
    params(ConsoleQuery),
    responses(
        (status = 302, description = "To the AWS console sign-in URL (`Cache-Control: no-store`, `Referrer-Policy: no-referrer`)", headers(("Location" = String, description = "The console sign-in URL"))),
        (status = 303, description = "Not signed in: to /roles", headers(("Location" = String, description = "/roles"))),
        (status = 400, description = "A bad role, console option or query string (HTML error page)", content_type = "text/html", body = String),
        (status = 401, description = "The session's identity no longer verifies (HTML error page)", content_type = "text/html", body = String),
        (status = 403, description = "Wrong CSRF token (`csrf_token_invalid`), no such role, or AWS refused (HTML error page)", content_type = "text/html", body = String),
        (status = 429, description = "Rate limited (`rate_limited_client`, with `Retry-After`)", body = ErrorBody),
        (status = 500, description = "A broker misconfiguration or internal failure (HTML error page)", content_type = "text/html", body = String),
        (status = 502, description = "STS or the federation endpoint failed (HTML error page)", content_type = "text/html", body = String),
        (status = 503, description = "A dependency is unavailable (HTML error page)", content_type = "text/html", body = String),
    )
)]
pub async fn console(
    req: HttpRequest,
    query: web::Query<ConsoleQuery>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let q = query.into_inner();
    let Some(session) = current_session(&req, &state).await else {
        return secure(HttpResponse::SeeOther())
            .insert_header((header::LOCATION, "/roles"))
            .finish();
    };
    if !q.csrf.as_deref().is_some_and(|t| session.csrf_ok(t)) {
        return error_page(&CsrfError);
    }
    let options = ConsoleRequest {
        destination: q.destination,
        region: q.region,
        session_duration: q.session_duration,
    };
    let partition = crate::aws::RoleArn::parse(&q.role)
        .ok()
        .and_then(|r| crate::console::Partition::of_role(&r).ok());
    let console_session_seconds = match state.console.check(&options, partition) {
        Ok(checked) => checked.session_duration_secs(),
        Err(e) => return error_page(&e),
    };
    let result = state
        .exchange()
        .session_credentials(&session.identity, &q.role, None, console_session_seconds)
        .await;
    let issued = match state.record_outcome(&req, "console", result) {
        Ok(issued) => issued,
        Err(e) => return error_page(&*e),
    };
    let signin = match state.console.signin_url(&issued, &options).await {
        Ok(u) => u,
        Err(e) => return error_page(&e),
    };
    let audited = state
        .audit
        .console_url_issued("console", &issued, &signin, state.now());
    if let Err(e) = audited {
        return error_page(&e);
    }
    tracing::info!(
        event = "console.signin",
        provider = session.identity.provider(),
        subject = %session.identity.subject_hash(),
        role_arn = issued.role_arn.as_str(),
        session_duration = signin.session_duration,
        expires_at = %signin.expires_at.to_rfc3339(),
        "console sign-in URL handed to the browser"
    );
    secure(HttpResponse::Found())
        .insert_header((header::LOCATION, signin.url.expose_secret().to_owned()))
        .finish()
}
