//! `GET /oidc/login` and `GET /oidc/callback`: the OIDC authorization-code sign-in (the flow itself
//! is `sign_in::oidc`): a redirect to the IdP bound to this browser, then its answer turned into
//! a broker session.

use super::audit;
use super::error_page;
use super::session::signed_in;
use super::{client_of, cookie, login_max_age, to_idp};
use crate::http::openapi::ErrorBody;
use crate::http::AppState;
use crate::sign_in::login_cookie_name;
use actix_web::{web, HttpRequest, HttpResponse};

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LoginQuery {
    /// A configured OIDC provider (`[[oidc.providers]]` with browser sign-in).
    provider: String,
}

/// `GET /oidc/login?provider=NAME`: to the IdP, with a login cookie binding it to this browser.
#[utoipa::path(
    get,
    path = "/oidc/login",
    tag = "browser",
    operation_id = "oidcLogin",
    summary = "Start an OIDC browser sign-in (authorization code + PKCE): a redirect to the IdP",
    params(LoginQuery),
    responses(
        (status = 302, description = "To the IdP's authorization endpoint, with the login cookie", headers(("Location" = String, description = "Where the browser goes next"), ("Set-Cookie" = String, description = "The cookies of the sign-in"))),
        (status = 400, description = "Unknown provider (`login_unknown_provider`) or a query string that does not parse (`bad_query`) (HTML error page)", content_type = "text/html", body = String),
        (status = 429, description = "Rate limited (`rate_limited_client`, with `Retry-After`)", body = ErrorBody),
        (status = 502, description = "The IdP's discovery failed (`login_idp_unavailable`) (HTML error page)", content_type = "text/html", body = String),
        (status = 503, description = "Too many sign-ins in progress (`login_busy`) (HTML error page)", content_type = "text/html", body = String),
    )
)]
pub async fn oidc_login(
    req: HttpRequest,
    query: web::Query<LoginQuery>,
    state: web::Data<AppState>,
) -> HttpResponse {
    match state
        .oidc_browser
        .start(&query.provider, &client_of(&req))
        .await
    {
        Ok((url, binding)) => to_idp(
            url,
            cookie(
                &state,
                login_cookie_name(state.secure_cookies),
                binding,
                login_max_age(),
            ),
        ),
        Err(e) => error_page(&e),
    }
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// The `error` codes of an OAuth 2.0 / OpenID Connect authorization response.
const OAUTH_ERRORS: [&str; 12] = [
    "invalid_request",
    "unauthorized_client",
    "access_denied",
    "unsupported_response_type",
    "invalid_scope",
    "server_error",
    "temporarily_unavailable",
    "interaction_required",
    "login_required",
    "account_selection_required",
    "consent_required",
    "request_not_supported",
];

/// `GET /oidc/callback`: finish the login, start a broker session, go to the role picker.
#[utoipa::path(
    get,
    path = "/oidc/callback",
    tag = "browser",
    operation_id = "oidcCallback",
    summary = "The IdP's answer to an OIDC sign-in: start the broker session",
    params(CallbackQuery),
    responses(
        (status = 303, description = "Signed in: to the role picker, with the session cookie", headers(("Location" = String, description = "Where the browser goes next"), ("Set-Cookie" = String, description = "The cookies of the sign-in"))),
        (status = 400, description = "A query string that does not parse (`bad_query`) (HTML error page)", content_type = "text/html", body = String),
        (status = 401, description = "Unknown or expired login state, another browser, or an ID token that does not verify (HTML error page)", content_type = "text/html", body = String),
        (status = 403, description = "The IdP refused the sign-in (`login_refused`) (HTML error page)", content_type = "text/html", body = String),
        (status = 429, description = "Rate limited (`rate_limited_client`, with `Retry-After`)", body = ErrorBody),
        (status = 500, description = "An internal failure (HTML error page)", content_type = "text/html", body = String),
        (status = 502, description = "The IdP failed (`login_idp_unavailable`) (HTML error page)", content_type = "text/html", body = String),
        (status = 503, description = "The session or audit store is unavailable (HTML error page)", content_type = "text/html", body = String),
    )
)]
pub async fn oidc_callback(
    req: HttpRequest,
    query: web::Query<CallbackQuery>,
    state: web::Data<AppState>,
) -> HttpResponse {
    use crate::sign_in::OidcBrowserError as E;
    const ROUTE: &str = "oidc_callback";
    let q = query.into_inner();
    let (code, login_state) = match (q.code, q.state, q.error) {
        (_, _, Some(err)) => {
            // Anyone can send a browser here with any `error`: only a standard code is shown.
            let shown = OAUTH_ERRORS
                .iter()
                .find(|c| **c == err)
                .map_or("an unrecognised error", |c| c);
            return audit::refused(&state, &req, ROUTE, &E::IdpRefused(shown.to_owned()), None);
        }
        (Some(c), Some(s), None) => (c, s),
        _ => return audit::refused(&state, &req, ROUTE, &E::UnknownState, None),
    };
    let binding = req
        .cookie(login_cookie_name(state.secure_cookies))
        .map(|c| c.value().to_owned());
    let identity = match state
        .oidc_browser
        .finish(&login_state, &code, binding.as_deref())
        .await
    {
        Ok(i) => i,
        Err(e) => return audit::refused(&state, &req, ROUTE, &e, None),
    };
    signed_in(&req, &state, identity).await
}
