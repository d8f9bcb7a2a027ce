//! `GET /console?role=ARN&csrf=TOKEN[&destination=URL][&region=R][&session_duration=S]`: the role
//! picker's click. Signed-in browser only; the CSRF token is required (a cross-site link cannot
//! sign the person into a console role); console options are checked before any credential is
//! obtained; then credentials (cache included) → federation endpoint → `302` to the sign-in URL.
//!
//! Invariants: the URL is only ever a `Location` header of a `Cache-Control: no-store`,
//! `Referrer-Policy: no-referrer` response; it is never logged or rendered.

use super::browser::{current_session, error_page, secure, CsrfError};
use super::AppState;
use crate::console::ConsoleRequest;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use secrecy::ExposeSecret;

#[derive(serde::Deserialize)]
pub struct ConsoleQuery {
    role: String,
    csrf: Option<String>,
    destination: Option<String>,
    region: Option<String>,
    session_duration: Option<String>,
}

/// `GET /console`.
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
    let issued = match state
        .exchange()
        .session_credentials(&session.identity, &q.role, None, console_session_seconds)
        .await
    {
        Ok(i) => i,
        Err(e) => {
            state.record_refused(&req, "console", &e);
            return error_page(&e);
        }
    };
    if let Err(e) = state.record_issued(&req, "console", &issued) {
        return error_page(&e);
    }
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
