//! Browser sign-in routes (HTTP side): cookies, pages and redirects here, the flows and sessions
//! in `sign_in` (no HTTP types there), the credentials of a signed-in session in
//! `exchange::signed_in`.
//!
//! - `mod.rs`: what every browser page shares (security headers, HTML, the error page, cookies);
//! - `oidc.rs`: `GET /oidc/login`, `GET /oidc/callback`;
//! - `saml.rs`: `GET /saml/metadata`, `GET /saml/login`, `POST /saml/acs`;
//! - `session.rs`: the session behind the cookie, starting one, `POST /logout`;
//! - `picker.rs`: `GET /roles` (the role picker, HTML or JSON);
//! - `console.rs`: `GET /console` (the AWS console redirect);
//! - `audit.rs`: the audit records of sign-in outcomes.
//!
//! Invariants: every page is `Cache-Control: no-store` with a strict CSP (`default-src 'none'`,
//! `frame-ancestors 'none'`, forms to self only) and `Referrer-Policy: no-referrer`; links and forms
//! that change state carry the session's CSRF token; no token, assertion, credential or sign-in URL
//! is ever written into a page, a log line or an error; with an https `public_url` the session
//! and login cookies are `__Host-`; a new sign-in ends the browser's previous session; a sign-in
//! started from a command-line approval page (`/device`, `/oauth/authorize`) returns there
//! ([`RETURN_COOKIE`], checked by [`is_return_path`] when set and when read), nowhere else.

pub mod audit;
pub mod console;
pub mod oidc;
pub mod picker;
pub mod saml;
pub mod session;

use crate::error::ApiError;
use crate::http::errors::{client_message, status_for};
use crate::http::AppState;
use crate::sign_in::{LOGIN_TTL, SAML_LOGIN_COOKIE};
use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};

/// Content-Security-Policy of every browser page: nothing but inline styles, forms to self.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
                       frame-ancestors 'none'; base-uri 'none'";

/// The Content-Security-Policy of the pages whose form posts end in a redirect to the command
/// line's loopback listener (`/oauth/authorize`): browsers apply `form-action` to the redirects
/// that follow a form post, so the loopback origins must be allowed.
pub const LOOPBACK_FORM_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; \
                                     form-action 'self' http://127.0.0.1:* http://[::1]:*; \
                                     frame-ancestors 'none'; base-uri 'none'";

/// The cookie that brings a browser back to the command line's approval page after it signs in
/// (`/device?...`, `/oauth/authorize?...`). Like [`SAML_LOGIN_COOKIE`] it is
/// `__Host-`, `Secure` and `SameSite=None`, so it also survives a SAML IdP's cross-site POST.
pub const RETURN_COOKIE: &str = "__Host-fedbroker_return";

/// Whether `path` is a page a sign-in may return to: the CLI's approval pages, local, no
/// scheme, host or backslash.
pub fn is_return_path(path: &str) -> bool {
    let page = path.split('?').next().unwrap_or_default();
    (page == "/device" || page == "/oauth/authorize")
        && path.len() <= 2048
        && !path.contains('\\')
        && path.bytes().all(|b| b.is_ascii_graphic())
}

/// The sign-in choices (401), remembering `back` (a [`is_return_path`]) to come back to after
/// the sign-in.
pub fn sign_in_then(req: &HttpRequest, state: &AppState, back: &str) -> HttpResponse {
    let mut resp = picker::sign_in_page(req, state);
    if is_return_path(back) {
        let c = Cookie::build(RETURN_COOKIE, urlencode(back))
            .path("/")
            .http_only(true)
            .secure(true)
            .same_site(SameSite::None)
            .max_age(login_max_age())
            .finish();
        if let Err(e) = resp.add_cookie(&c) {
            tracing::warn!(error = %e, "could not set the return cookie");
        }
    }
    resp
}

/// Where a sign-in that started on a CLI approval page returns to (the [`RETURN_COOKIE`]).
pub fn return_path(req: &HttpRequest) -> Option<String> {
    let c = req.cookie(RETURN_COOKIE)?;
    // actix percent-decodes cookie values as it reads them (`Cookie::parse_encoded`), so the
    // value is normally the path itself; a value still encoded is decoded here.
    let path = if c.value().starts_with('/') {
        c.value().to_owned()
    } else {
        url::form_urlencoded::parse(format!("p={}", c.value()).as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())?
    };
    is_return_path(&path).then_some(path)
}

/// The [`RETURN_COOKIE`], expired.
fn return_cookie_cleared() -> Cookie<'static> {
    Cookie::build(RETURN_COOKIE, "")
        .path("/")
        .http_only(true)
        .secure(true)
        .same_site(SameSite::None)
        .max_age(CookieDuration::ZERO)
        .finish()
}

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
    if status.is_server_error() {
        tracing::error!(error.code = err.code(), error.message = %err, "browser request failed");
    } else {
        tracing::warn!(error.code = err.code(), error.message = %err, "browser request refused");
    }
    secure(HttpResponse::build(status))
        .content_type("text/html; charset=utf-8")
        .body(page(
            "Sign-in problem",
            &format!(
                "<p class=\"err\" role=\"alert\"><code>{}</code>: {}</p><p><a href=\"/roles\">Back to the start</a></p>",
                esc(err.code()),
                esc(&client_message(err))
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
    crate::http::middleware::client_addr::client_ip_string(req).unwrap_or_default()
}

fn login_max_age() -> CookieDuration {
    CookieDuration::seconds(LOGIN_TTL.num_seconds())
}

fn wants_json(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json") && !a.contains("text/html"))
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

#[cfg(test)]
mod tests {
    use super::is_return_path;

    #[test]
    fn a_sign_in_returns_only_to_the_cli_approval_pages() {
        assert!(is_return_path("/device"));
        assert!(is_return_path("/device?user_code=BCDF-GHJK"));
        assert!(is_return_path(
            "/oauth/authorize?response_type=code&state=x"
        ));
        for bad in [
            "//attacker.example/device",
            "https://attacker.example/device",
            "/devices",
            "/roles",
            "/device\\x",
            "/device?a=b c",
            "/oauth/authorize/../../x",
        ] {
            assert!(!is_return_path(bad), "{bad}");
        }
    }
}
