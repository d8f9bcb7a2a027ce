//! Browser routes: `GET /oidc/login`, `GET /oidc/callback`, `GET /roles` (the role picker, HTML or
//! JSON), `POST /logout`. Thin: cookies and HTML here, the flow in `web::`, credentials in
//! `exchange`. The console redirect (`GET /console`) lives in `http::console_browser`.
//!
//! Invariants: every page is `Cache-Control: no-store` with a strict CSP (`default-src 'none'`,
//! `frame-ancestors 'none'`, forms to self only) and `Referrer-Policy: no-referrer`; links and forms
//! that change state carry the session's CSRF token; no token, assertion, credential or sign-in URL
//! is ever written into a page, a log line or an error; with an https `public_url` the session
//! and login cookies are `__Host-`; a new sign-in ends the browser's previous session.

use super::browser_audit as audit;
use super::errors::status_for;
use super::openapi::{ErrorBody, PickerAnswer, PickerRole, SamlAcsForm, UnavailablePickerRole};
use super::AppState;
use crate::error::ApiError;
use crate::web::{
    login_cookie_name, session_cookie_name, BrowserSession, LOGIN_TTL, SAML_LOGIN_COOKIE,
    SESSION_TTL,
};
use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse, HttpResponseBuilder};
use serde_json::json;

/// Content-Security-Policy of every browser page: nothing but inline styles, forms to self.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
                       frame-ancestors 'none'; base-uri 'none'";

/// A response builder with the browser security headers.
pub fn secure(mut b: HttpResponseBuilder) -> HttpResponseBuilder {
    b.insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    b
}

/// HTML-escape text for element content and quoted attributes.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A small accessible page.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t} · fedbroker</title><style>body{{font-family:system-ui,sans-serif;max-width:48rem;\
         margin:2rem auto;padding:0 1rem;color:#111}}table{{border-collapse:collapse;width:100%}}\
         th,td{{text-align:left;padding:.5rem;border-bottom:1px solid #ccc}}a.console{{font-weight:600}}\
         .err{{color:#a00}}</style></head><body><main><h1>{t}</h1>\n{body}\n</main></body></html>",
        t = esc(title)
    )
}

/// An error as a browser page, with the status from the one error table.
pub fn error_page(err: &dyn ApiError) -> HttpResponse {
    let status = status_for(err.kind());
    tracing::warn!(error.code = err.code(), error.message = %err, "browser request refused");
    secure(HttpResponse::build(status))
        .content_type("text/html; charset=utf-8")
        .body(page(
            "Sign-in problem",
            &format!(
                "<p class=\"err\" role=\"alert\"><code>{}</code>: {}</p><p><a href=\"/roles\">Back to the start</a></p>",
                esc(err.code()),
                esc(&err.to_string())
            ),
        ))
}

fn cookie<'a>(
    state: &AppState,
    name: &'a str,
    value: String,
    max_age: CookieDuration,
) -> Cookie<'a> {
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .secure(state.secure_cookies)
        .same_site(SameSite::Lax)
        .max_age(max_age)
        .finish()
}

fn expired(state: &AppState, name: &'static str) -> Cookie<'static> {
    cookie(state, name, String::new(), CookieDuration::ZERO)
}

/// The cookie binding a SAML sign-in to its browser. The IdP answers with a cross-site POST to
/// `/saml/acs`, which browsers send `SameSite=Lax` cookies with only when IdP and broker are one
/// site; so this one is `SameSite=None`, which browsers accept only with `Secure`. It is `Secure`
/// even on a plain-http loopback `public_url`: Chromium treats `http://127.0.0.1` and
/// `http://localhost` as secure for cookies (it stores and sends `Secure` and `__Host-` cookies
/// there). Login CSRF stays closed because the cookie only proves which browser started the
/// login: the response must still answer (InResponseTo) a request started with this very cookie.
fn saml_binding_cookie(value: String, max_age: CookieDuration) -> Cookie<'static> {
    Cookie::build(SAML_LOGIN_COOKIE, value)
        .path("/")
        .http_only(true)
        .secure(true)
        .same_site(SameSite::None)
        .max_age(max_age)
        .finish()
}

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

/// A redirect to the IdP that sets `binding`, the cookie binding the sign-in to this browser.
fn to_idp(url: String, binding: Cookie<'_>) -> HttpResponse {
    secure(HttpResponse::Found())
        .insert_header((header::LOCATION, url))
        .cookie(binding)
        .finish()
}

/// The client a pending login is counted against: its address (`client_addr`, as for rate
/// limits).
fn client_of(req: &HttpRequest) -> String {
    super::client_addr::client_ip_string(req).unwrap_or_default()
}

fn login_max_age() -> CookieDuration {
    CookieDuration::seconds(LOGIN_TTL.num_seconds())
}

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
    use crate::web::OidcBrowserError as E;
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

/// Start the broker session and send the browser to `next` (a checked local path); a session
/// the browser held before ends.
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
            secure(HttpResponse::SeeOther())
                .insert_header((header::LOCATION, next.to_owned()))
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
            let busy = crate::web::OidcBrowserError::Busy;
            audit::refused(state, req, route, &busy, Some(&audited))
        }
    }
}

fn wants_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json") && !a.contains("text/html"))
}

/// `GET /roles`: the role picker for the signed-in browser (HTML, or JSON on request); without a
/// session, the sign-in choices (401).
#[utoipa::path(
    get,
    path = "/roles",
    tag = "browser",
    operation_id = "rolePicker",
    summary = "The role picker of the signed-in browser (HTML, or JSON with `Accept: application/json`)",
    security((), ("browser_session" = [])),
    responses(
        (status = 200, description = "The roles the person may use", content(
            (String = "text/html"),
            (PickerAnswer = "application/json"),
        )),
        (status = 401, description = "Not signed in: the sign-in choices (HTML), or `not_signed_in` with `providers` and `saml_idps` (JSON)", content(
            (String = "text/html"),
            (ErrorBody = "application/json"),
        )),
        (status = 403, description = "The rules refuse the identity (HTML error page)", content_type = "text/html", body = String),
        (status = 429, description = "Rate limited (`rate_limited_client`, with `Retry-After`)", body = ErrorBody),
        (status = 500, description = "A broker misconfiguration (HTML error page)", content_type = "text/html", body = String),
    )
)]
pub async fn roles(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let Some(session) = current_session(&req, &state).await else {
        return sign_in_page(&req, &state);
    };
    let (roles, unavailable) = match state.exchange().picker_for(&session.identity) {
        Ok(r) => r,
        Err(e) => return error_page(&e),
    };
    let account = |arn: &str| arn.split(':').nth(4).unwrap_or_default().to_owned();
    let role_name = |arn: &str| arn.rsplit('/').next().unwrap_or_default().to_owned();
    let unavailable: Vec<UnavailablePickerRole> = unavailable
        .iter()
        .map(|u| {
            let arn = u.role_arn.as_str();
            UnavailablePickerRole {
                role_arn: arn.to_owned(),
                account: account(arn),
                role_name: role_name(arn),
                alias: u.alias.clone(),
                code: u.code.to_owned(),
                reason: u.reason.clone(),
            }
        })
        .collect();
    let rows: Vec<PickerRole> = roles
        .iter()
        .map(|r| {
            let arn = r.role_arn.as_str();
            PickerRole {
                role_arn: arn.to_owned(),
                account: account(arn),
                role_name: role_name(arn),
                alias: r.alias.clone(),
                mode: r.mode,
                console_url: format!(
                    "/console?role={}&csrf={}",
                    urlencode(arn),
                    session.csrf_token
                ),
            }
        })
        .collect();
    if wants_json(&req) {
        return secure(HttpResponse::Ok()).json(PickerAnswer {
            subject: session.identity.subject().to_owned(),
            provider: session.identity.provider().to_owned(),
            roles: rows,
            unavailable,
        });
    }
    let mut table = String::from(
        "<table><caption>Roles you may use</caption><thead><tr><th scope=\"col\">Account</th>\
         <th scope=\"col\">Role</th><th scope=\"col\">Account ID</th><th scope=\"col\"></th></tr></thead><tbody>",
    );
    for r in &rows {
        table.push_str(&format!(
            "<tr><td>{alias}</td><td>{name}</td><td>{acct}</td><td><a class=\"console\" href=\"{href}\" \
             aria-label=\"Open the AWS console as {name} in {acct}\">Open console</a></td></tr>",
            alias = esc(r.alias.as_deref().unwrap_or(&r.account)),
            name = esc(&r.role_name),
            acct = esc(&r.account),
            href = esc(&r.console_url),
        ));
    }
    for u in &unavailable {
        table.push_str(&format!(
            "<tr><td>{alias}</td><td>{name}</td><td>{acct}</td><td>Unavailable: {reason} \
             (<code>{code}</code>)</td></tr>",
            alias = esc(u.alias.as_deref().unwrap_or(&u.account)),
            name = esc(&u.role_name),
            acct = esc(&u.account),
            reason = esc(&u.reason),
            code = esc(&u.code),
        ));
    }
    table.push_str("</tbody></table>");
    if rows.is_empty() && unavailable.is_empty() {
        table =
            "<p>No role is granted to you. Ask an administrator to check the mapping rules.</p>"
                .into();
    }
    let body = format!(
        "<p>Signed in as <strong>{who}</strong> ({provider}).</p>{table}\
         <form method=\"post\" action=\"/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
         <button type=\"submit\">Sign out</button></form>",
        who = esc(session.identity.subject()),
        provider = esc(session.identity.provider()),
        csrf = esc(&session.csrf_token),
    );
    secure(HttpResponse::Ok())
        .content_type("text/html; charset=utf-8")
        .body(page("AWS roles", &body))
}

fn sign_in_page(req: &HttpRequest, state: &AppState) -> HttpResponse {
    let saml_browser = state.saml_browser();
    if wants_json(req) {
        return secure(HttpResponse::Unauthorized()).json(json!({"error": {
            "code": "not_signed_in",
            "message": "sign in first: GET /oidc/login?provider=NAME",
            "providers": state.oidc_browser.provider_names(),
            "saml_idps": saml_browser.idp_names(),
        }}));
    }
    let oidc = state.oidc_browser.provider_names().into_iter().map(|p| {
        format!(
            "<li><a href=\"/oidc/login?provider={}\">Sign in with {}</a></li>",
            esc(&urlencode(p)),
            esc(p)
        )
    });
    let saml = saml_browser.idp_names().into_iter().map(|p| {
        format!(
            "<li><a href=\"/saml/login?idp={}\">Sign in with {} (SAML)</a></li>",
            esc(&urlencode(p)),
            esc(p)
        )
    });
    let links: String = oidc.chain(saml).collect();
    secure(HttpResponse::Unauthorized())
        .content_type("text/html; charset=utf-8")
        .body(page("Sign in", &format!("<ul>{links}</ul>")))
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

/// A state-changing browser request without the session's CSRF token.
#[derive(Debug, thiserror::Error)]
#[error("this request did not come from a fedbroker page (missing or wrong CSRF token); reload the role list and try again")]
pub struct CsrfError;

impl ApiError for CsrfError {
    fn kind(&self) -> crate::error::ErrorKind {
        crate::error::ErrorKind::Forbidden
    }
    fn code(&self) -> &'static str {
        "csrf_token_invalid"
    }
}

/// Percent-encode a query value.
pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SamlLoginQuery {
    /// A configured SAML IdP (`[[saml.idps]]` with `sso_url`).
    idp: String,
}

/// `GET /saml/metadata`: the broker's SP metadata.
#[utoipa::path(
    get,
    path = "/saml/metadata",
    tag = "browser",
    operation_id = "samlMetadata",
    summary = "The broker's SAML SP metadata (entity ID, ACS, signing and encryption keys)",
    responses(
        (status = 200, description = "The metadata", content_type = "application/samlmetadata+xml", body = String),
        (status = 429, description = "Rate limited (`rate_limited_client`, with `Retry-After`)", body = ErrorBody),
    )
)]
pub async fn saml_metadata(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/samlmetadata+xml")
        .body(state.saml_browser().metadata_xml())
}

/// `GET /saml/login?idp=NAME`: an AuthnRequest to the IdP (HTTP-Redirect), bound to this browser.
#[utoipa::path(
    get,
    path = "/saml/login",
    tag = "browser",
    operation_id = "samlLogin",
    summary = "Start a SAML browser sign-in: an AuthnRequest to the IdP (HTTP-Redirect binding)",
    params(SamlLoginQuery),
    responses(
        (status = 302, description = "To the IdP's SSO URL, with the cookie binding the sign-in to this browser", headers(("Location" = String, description = "Where the browser goes next"), ("Set-Cookie" = String, description = "The cookies of the sign-in"))),
        (status = 400, description = "Unknown IdP (`login_unknown_provider`) or a query string that does not parse (`bad_query`) (HTML error page)", content_type = "text/html", body = String),
        (status = 429, description = "Rate limited (`rate_limited_client`, with `Retry-After`)", body = ErrorBody),
        (status = 500, description = "No SP signing key (`saml_sp_key_missing`) (HTML error page)", content_type = "text/html", body = String),
        (status = 503, description = "Too many sign-ins in progress (`login_busy`) (HTML error page)", content_type = "text/html", body = String),
    )
)]
pub async fn saml_login(
    req: HttpRequest,
    query: web::Query<SamlLoginQuery>,
    state: web::Data<AppState>,
) -> HttpResponse {
    match state
        .saml_browser()
        .start(&query.idp, &client_of(&req))
        .await
    {
        Ok((url, binding)) => to_idp(url, saml_binding_cookie(binding, login_max_age())),
        Err(e) => error_page(&e),
    }
}

/// `POST /saml/acs`: form `SAMLResponse` (+ `RelayState`): verify, match the request (or the
/// IdP-initiated rule), consume the assertion, start the session.
#[utoipa::path(
    post,
    path = "/saml/acs",
    tag = "browser",
    operation_id = "samlAcs",
    summary = "The SAML assertion consumer: verify the IdP's POST and start the broker session",
    request_body(content = SamlAcsForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 303, description = "Signed in: to the RelayState's local path or the role picker, with the session cookie", headers(("Location" = String, description = "Where the browser goes next"), ("Set-Cookie" = String, description = "The cookies of the sign-in"))),
        (status = 400, description = "A form or assertion that does not parse (HTML error page)", content_type = "text/html", body = String),
        (status = 401, description = "The assertion does not verify, answers no sign-in of this browser, or was used before (HTML error page)", content_type = "text/html", body = String),
        (status = 403, description = "The rules refuse the identity (HTML error page)", content_type = "text/html", body = String),
        (status = 408, description = "The body did not arrive in time (`request_timeout`) (HTML error page)", content_type = "text/html", body = String),
        (status = 413, description = "The body or assertion is too large (HTML error page)", content_type = "text/html", body = String),
        (status = 429, description = "Rate limited (`rate_limited_client`, with `Retry-After`)", body = ErrorBody),
        (status = 500, description = "A broker misconfiguration or internal failure (HTML error page)", content_type = "text/html", body = String),
        (status = 502, description = "An upstream failed (HTML error page)", content_type = "text/html", body = String),
        (status = 503, description = "The replay, session or audit store is unavailable (HTML error page)", content_type = "text/html", body = String),
    )
)]
pub async fn saml_acs(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    use super::body::{parse_strict_form, read_parsed};
    const ROUTE: &str = "saml_acs";
    let form = |_: &HttpRequest, body: &[u8]| {
        let mut response = None;
        let mut relay = None;
        for (name, value) in parse_strict_form(body, &["SAMLResponse", "RelayState"])? {
            match name {
                "SAMLResponse" => response = Some(value),
                "RelayState" => relay = Some(value),
                _ => {}
            }
        }
        Ok((response, relay))
    };
    let (response, relay) = match read_parsed(&req, payload, state.max_body_bytes, form).await {
        Ok(fields) => fields,
        Err(e) => return audit::refused(&state, &req, ROUTE, &e, None),
    };
    let Some(response) = response else {
        let e = super::errors::RequestError::bad(
            "missing_saml_response",
            "the identity provider posted no SAMLResponse",
        );
        return audit::refused(&state, &req, ROUTE, &e, None);
    };
    // One snapshot for the whole sign-in: the IdP that verified it is the one whose rules apply.
    let live = state.live();
    let identity = match live
        .exchange
        .verify_saml_sign_in(secrecy::SecretString::from(response))
        .await
    {
        Ok(i) => i,
        Err(e) => return audit::refused(&state, &req, ROUTE, &e, None),
    };
    let binding = req.cookie(SAML_LOGIN_COOKIE).map(|c| c.value().to_owned());
    if let Err(e) = live
        .saml_browser
        .accept(&identity, binding.as_deref())
        .await
    {
        return audit::refused(&state, &req, ROUTE, &e, Some(&identity));
    }
    if let Err(e) = live.exchange.consume_sign_in(&identity).await {
        return audit::refused(&state, &req, ROUTE, &e, Some(&identity));
    }
    let next = live.saml_browser.next_location(relay.as_deref());
    signed_in_to(&req, &state, identity, &next).await
}
