//! The broker as the authorization server of its own command line (`fedbroker login`), HTTP side:
//! `POST /oauth/device_authorization`, `POST /oauth/token`, `POST /oauth/revoke`,
//! `GET|POST /oauth/authorize` (the loopback grant's approval). The grants and sessions are
//! `crate::oauth` (no HTTP types there); these handlers parse, call it once, audit the event it
//! hands back and answer. The device approval pages are `device.rs`; the CLI token on
//! `/v1/credentials`, `GET /v1/roles` and `POST /v1/console-url` is `cli.rs`.
//!
//! Invariants: every `/oauth/token` answer is `Cache-Control: no-store`; its refusals are the
//! RFC 6749 §5.2 body (`{"error","error_description"}`, [`OauthError`]) except a body that cannot
//! be read and a dependency failure (the broker's envelope); a token is handed out only after its
//! `oauth.token_issued` / `oauth.token_refreshed` record is written (under `audit.fail_closed`
//! the new session is ended instead); no token, code or verifier reaches a log line or an error.

use crate::error::ApiError;
use crate::http::errors::{error_response, RequestError};
use crate::http::handlers::body::read_parsed;
use crate::http::handlers::sign_in::session::current_session;
use crate::http::handlers::sign_in::{
    error_page, page, secure, sign_in_then, CsrfError, LOOPBACK_FORM_CSP,
};
use crate::http::middleware::client_addr::client_ip_string;
use crate::http::openapi::ErrorBody;
use crate::http::AppState;
use crate::oauth::forms::{
    device_authorization_body, error_body, AuthorizeQuery, DeviceAuthorizationForm, RevokeForm,
    TokenForm,
};
use crate::oauth::{browser_signed_in_at, AuthorizeError, TokenError, TokenSet, ValidAuthorize};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use secrecy::ExposeSecret;

/// An OAuth 2.0 error answer (RFC 6749 §5.2, RFC 8628 §3.5): `error` is one of
/// `invalid_request`, `invalid_client`, `invalid_grant`, `unsupported_grant_type`,
/// `authorization_pending`, `slow_down`, `access_denied`, `expired_token`.
#[derive(utoipa::ToSchema)]
pub struct OauthError {
    #[schema(example = "authorization_pending")]
    pub error: String,
    pub error_description: String,
    /// `slow_down` only: the polling interval from now on, in seconds.
    pub interval: Option<i64>,
}

/// The answer of `POST /oauth/device_authorization` (RFC 8628 §3.2).
#[derive(utoipa::ToSchema)]
pub struct DeviceAuthorizationAnswer {
    pub device_code: String,
    /// `XXXX-XXXX`, letters without vowels or look-alikes.
    pub user_code: String,
    /// `<public_url>/device`.
    pub verification_uri: String,
    /// `<public_url>/device?user_code=XXXX-XXXX`.
    pub verification_uri_complete: String,
    /// Seconds (600).
    pub expires_in: i64,
    /// Seconds between polls (5).
    pub interval: i64,
}

/// The token answer of `POST /oauth/token` (RFC 6749 §5.1).
#[derive(utoipa::ToSchema)]
pub struct TokenAnswer {
    pub access_token: String,
    /// `Bearer`.
    pub token_type: String,
    /// Seconds the access token is accepted.
    pub expires_in: i64,
    /// Gives new access tokens until the session ends.
    pub refresh_token: String,
    /// RFC 3339: the CLI session's hard end (never beyond the IdP session).
    pub session_expires_at: String,
}

/// `POST /oauth/device_authorization` (form).
#[derive(utoipa::ToSchema)]
pub struct DeviceAuthorizationFormDoc {
    /// `fedbroker-cli`.
    pub client_id: String,
    /// Accepted and ignored.
    pub scope: Option<String>,
}

/// `POST /oauth/token` (form): `grant_type` and that grant's parameters.
#[derive(utoipa::ToSchema)]
pub struct TokenFormDoc {
    /// `urn:ietf:params:oauth:grant-type:device_code`, `authorization_code` or `refresh_token`.
    pub grant_type: String,
    /// `fedbroker-cli`.
    pub client_id: String,
    pub device_code: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
}

/// `POST /oauth/revoke` (form, RFC 7009).
#[derive(utoipa::ToSchema)]
pub struct RevokeFormDoc {
    /// The access or the refresh token: either ends the CLI session.
    pub token: String,
    pub token_type_hint: Option<String>,
    pub client_id: Option<String>,
}

/// The approval `POST /oauth/authorize` (form, from the approval page).
#[derive(serde::Deserialize, utoipa::ToSchema)]
pub struct AuthorizeDecisionForm {
    /// The browser session's CSRF token.
    csrf: String,
    /// `approve` or `deny`.
    decision: String,
    redirect_uri: String,
    code_challenge: String,
    state: String,
}

/// A form body: `application/x-www-form-urlencoded` parsed into `T` (an RFC `invalid_request`
/// when it does not parse).
fn form<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, TokenError> {
    serde_urlencoded::from_bytes(body).map_err(|_| {
        TokenError::InvalidRequest(
            "the body must be an application/x-www-form-urlencoded form of the documented fields",
        )
    })
}

/// The refusal of an `/oauth/*` JSON endpoint: the RFC body for OAuth errors, the broker's
/// envelope (and status table) for a dependency failure.
fn oauth_refusal(e: &TokenError) -> HttpResponse {
    if let TokenError::Store(_) = e {
        return error_response(e);
    }
    tracing::warn!(error.code = e.error(), "oauth request refused");
    let mut b = HttpResponse::build(crate::http::errors::status_for(e.kind()));
    b.insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"));
    if matches!(e, TokenError::InvalidClient) {
        b.insert_header((header::WWW_AUTHENTICATE, "Basic realm=\"fedbroker\""));
    }
    b.json(error_body(e))
}

fn no_store_json(body: serde_json::Value) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(body)
}

/// `POST /oauth/device_authorization`.
#[utoipa::path(
    post,
    path = "/oauth/device_authorization",
    tag = "cli",
    operation_id = "deviceAuthorization",
    summary = "Start a device sign-in for the command line (RFC 8628): a device code and a user code",
    request_body(content = DeviceAuthorizationFormDoc, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The codes (`Cache-Control: no-store`)", body = DeviceAuthorizationAnswer),
        (status = 400, description = "A form that does not parse (`invalid_request`)", body = OauthError),
        (status = 401, description = "Another `client_id` than `fedbroker-cli` (`invalid_client`)", body = OauthError),
        (status = 408, description = "The body did not arrive in time (`request_timeout`)", body = ErrorBody),
        (status = 413, description = "The body is too large (`request_too_large`)", body = ErrorBody),
        (status = 429, description = "Rate limited (`rate_limited_client`, with `Retry-After`)", body = ErrorBody),
        (status = 503, description = "The session store or the audit log is unavailable", body = ErrorBody),
    )
)]
pub async fn device_authorization(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let body = match read_parsed(&req, payload, state.max_body_bytes, |_, b| Ok(b.to_vec())).await {
        Ok(b) => b,
        Err(e) => return error_response(&e),
    };
    let form: DeviceAuthorizationForm = match form(&body) {
        Ok(f) => f,
        Err(e) => return oauth_refusal(&e),
    };
    let client = client_ip_string(&req).unwrap_or_default();
    let d = match state
        .oauth
        .device_authorize(form.client_id.as_deref(), &client)
        .await
    {
        Ok(d) => d,
        Err(e) => return oauth_refusal(&e),
    };
    if let Err(e) = state.audit.oauth(&d.event) {
        return error_response(&e);
    }
    no_store_json(device_authorization_body(&d, &state.public_url))
}

/// `POST /oauth/token`.
#[utoipa::path(
    post,
    path = "/oauth/token",
    tag = "cli",
    operation_id = "token",
    summary = "The command line's tokens: device-code poll, authorization code + PKCE, or refresh",
    request_body(content = TokenFormDoc, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The tokens (`Cache-Control: no-store`)", body = TokenAnswer),
        (status = 400, description = "RFC 6749 §5.2 / RFC 8628 §3.5: `authorization_pending`, `slow_down`, `access_denied`, `expired_token`, `invalid_grant` (used, unknown or revoked code or session; wrong PKCE verifier or redirect URI), `invalid_request`, `unsupported_grant_type`", body = OauthError),
        (status = 401, description = "Another `client_id` than `fedbroker-cli` (`invalid_client`)", body = OauthError),
        (status = 408, description = "The body did not arrive in time (`request_timeout`)", body = ErrorBody),
        (status = 413, description = "The body is too large (`request_too_large`)", body = ErrorBody),
        (status = 429, description = "Rate limited (`rate_limited_client`, with `Retry-After`)", body = ErrorBody),
        (status = 503, description = "The session store (`temporarily_unavailable`) or the audit log (`audit_unavailable`) is unavailable", body = ErrorBody),
    )
)]
pub async fn token(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let body = match read_parsed(&req, payload, state.max_body_bytes, |_, b| Ok(b.to_vec())).await {
        Ok(b) => b,
        Err(e) => return error_response(&e),
    };
    let form: TokenForm = match form(&body) {
        Ok(f) => f,
        Err(e) => return oauth_refusal(&e),
    };
    match state.oauth.token(&form).await {
        Ok(tokens) => hand_out(&state, &tokens).await,
        Err(TokenError::CodeReplayed(event)) => {
            let _ = state.audit.oauth(&event);
            oauth_refusal(&TokenError::InvalidGrant(
                "the authorization code was already used; its session was ended",
            ))
        }
        Err(e) => oauth_refusal(&e),
    }
}

/// Audit, then answer `tokens`; under `audit.fail_closed` a new session whose record cannot be
/// written is ended and the tokens withheld.
async fn hand_out(state: &AppState, tokens: &TokenSet) -> HttpResponse {
    if let Err(e) = state.audit.oauth(&tokens.event) {
        if tokens.event.kind == crate::oauth::EventKind::TokenIssued {
            if let Err(end) = state
                .oauth
                .logout(tokens.refresh_token.expose_secret())
                .await
            {
                tracing::warn!(error = %end, "could not end the unaudited CLI session");
            }
        }
        return error_response(&e);
    }
    no_store_json(tokens.to_json())
}

/// `POST /oauth/revoke`.
#[utoipa::path(
    post,
    path = "/oauth/revoke",
    tag = "cli",
    operation_id = "revokeToken",
    summary = "End a CLI session (`fedbroker logout`, RFC 7009): always 200",
    request_body(content = RevokeFormDoc, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The session the token named (if any) has ended"),
        (status = 400, description = "A form that does not parse (`invalid_request`)", body = OauthError),
        (status = 401, description = "A `client_id` other than `fedbroker-cli` (`invalid_client`)", body = OauthError),
        (status = 408, description = "The body did not arrive in time (`request_timeout`)", body = ErrorBody),
        (status = 413, description = "The body is too large (`request_too_large`)", body = ErrorBody),
        (status = 429, description = "Rate limited (`rate_limited_client`, with `Retry-After`)", body = ErrorBody),
        (status = 503, description = "The session store is unavailable: retry (the session may still be live)", body = ErrorBody),
    )
)]
pub async fn revoke(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let body = match read_parsed(&req, payload, state.max_body_bytes, |_, b| Ok(b.to_vec())).await {
        Ok(b) => b,
        Err(e) => return error_response(&e),
    };
    let form: RevokeForm = match form(&body) {
        Ok(f) => f,
        Err(e) => return oauth_refusal(&e),
    };
    if form
        .client_id
        .as_deref()
        .is_some_and(|c| c != crate::oauth::CLIENT_ID)
    {
        return oauth_refusal(&TokenError::InvalidClient);
    }
    let Some(token) = form.token.filter(|t| !t.is_empty()) else {
        return oauth_refusal(&TokenError::InvalidRequest("token is required"));
    };
    match state.oauth.logout(&token).await {
        Ok(event) => {
            if let Some(event) = event {
                let _ = state.audit.oauth(&event);
            }
            HttpResponse::Ok()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish()
        }
        Err(e) => error_response(&TokenError::Store(e)),
    }
}

/// `GET /oauth/authorize`.
#[utoipa::path(
    get,
    path = "/oauth/authorize",
    tag = "cli",
    operation_id = "authorize",
    summary = "The loopback sign-in of the command line (RFC 8252, PKCE S256): the approval page",
    params(
        ("response_type" = String, Query, description = "`code`"),
        ("client_id" = String, Query, description = "`fedbroker-cli`"),
        ("redirect_uri" = String, Query, description = "`http://127.0.0.1:<port>/<path>` or `http://[::1]:<port>/<path>`"),
        ("code_challenge" = String, Query, description = "BASE64URL(SHA256(verifier)), 43 characters"),
        ("code_challenge_method" = String, Query, description = "`S256`"),
        ("state" = String, Query, description = "Returned to the redirect"),
    ),
    security((), ("browser_session" = [])),
    responses(
        (status = 200, description = "Signed in: the approval page", content_type = "text/html", body = String),
        (status = 302, description = "A request error the CLI may learn (`error` and `state` on its loopback redirect)", headers(("Location" = String, description = "The CLI's loopback redirect"))),
        (status = 400, description = "Unknown client or a redirect URI that is not loopback: an error page, never a redirect", content_type = "text/html", body = String),
        (status = 401, description = "Not signed in: the sign-in choices; the browser comes back here after signing in", content_type = "text/html", body = String),
        (status = 429, description = "Rate limited (`rate_limited_client`, with `Retry-After`)", body = ErrorBody),
    )
)]
pub async fn authorize(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let query: AuthorizeQuery = serde_urlencoded::from_str(req.query_string()).unwrap_or_default();
    let valid = match state.oauth.validate_authorize(&query.as_request()) {
        Ok(v) => v,
        Err(e) => return authorize_refusal(e),
    };
    let Some(session) = current_session(&req, &state).await else {
        let back = format!("/oauth/authorize?{}", req.query_string());
        return sign_in_then(&req, &state, &back);
    };
    let body = crate::oauth::pages::loopback_approval(
        &valid,
        session.identity.subject(),
        &session.csrf_token,
    );
    secure(HttpResponse::Ok())
        .insert_header((header::CONTENT_SECURITY_POLICY, LOOPBACK_FORM_CSP))
        .content_type("text/html; charset=utf-8")
        .body(page("Sign in the command line", &body))
}

/// An invalid authorization request: a page (client, redirect URI) or a redirect to the CLI.
fn authorize_refusal(e: AuthorizeError) -> HttpResponse {
    match e {
        AuthorizeError::NoRedirect(why) => error_page(&RequestError::bad("invalid_request", why)),
        AuthorizeError::Redirect { location, .. } => secure(HttpResponse::Found())
            .insert_header((header::CONTENT_SECURITY_POLICY, LOOPBACK_FORM_CSP))
            .insert_header((header::LOCATION, location))
            .finish(),
    }
}

/// `POST /oauth/authorize`.
#[utoipa::path(
    post,
    path = "/oauth/authorize",
    tag = "cli",
    operation_id = "authorizeDecision",
    summary = "The person's approval or denial of a loopback sign-in: a redirect to the CLI",
    security(("browser_session" = [])),
    request_body(content = AuthorizeDecisionForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 302, description = "To the CLI's loopback redirect with `code` and `state` (approved) or `error=access_denied` (denied)", headers(("Location" = String, description = "The CLI's loopback redirect"))),
        (status = 303, description = "Not signed in: to the role picker", headers(("Location" = String, description = "/roles"))),
        (status = 400, description = "A form or request that does not parse or validate (HTML error page)", content_type = "text/html", body = String),
        (status = 403, description = "Wrong CSRF token (`csrf_token_invalid`) (HTML error page)", content_type = "text/html", body = String),
        (status = 413, description = "The form is too large (`request_too_large`) (HTML error page)", content_type = "text/html", body = String),
        (status = 429, description = "Rate limited (`rate_limited_client`, with `Retry-After`)", body = ErrorBody),
        (status = 503, description = "The session store or the audit log is unavailable (HTML error page)", content_type = "text/html", body = String),
    )
)]
pub async fn authorize_decision(
    req: HttpRequest,
    form: web::Form<AuthorizeDecisionForm>,
    state: web::Data<AppState>,
) -> HttpResponse {
    let Some(session) = current_session(&req, &state).await else {
        return secure(HttpResponse::SeeOther())
            .insert_header((header::LOCATION, "/roles"))
            .finish();
    };
    if !session.csrf_ok(&form.csrf) {
        return error_page(&CsrfError);
    }
    let request = crate::oauth::AuthorizeRequest {
        response_type: Some("code"),
        client_id: Some(crate::oauth::CLIENT_ID),
        redirect_uri: Some(&form.redirect_uri),
        code_challenge: Some(&form.code_challenge),
        code_challenge_method: Some("S256"),
        state: Some(&form.state),
    };
    let valid: ValidAuthorize = match state.oauth.validate_authorize(&request) {
        Ok(v) => v,
        Err(e) => return authorize_refusal(e),
    };
    let approver = client_ip_string(&req).unwrap_or_default();
    let location = match form.decision.as_str() {
        "approve" => {
            let issued = state
                .oauth
                .issue_code(
                    &valid,
                    &session.identity,
                    browser_signed_in_at(&session),
                    &approver,
                )
                .await;
            let (_, location, event) = match issued {
                Ok(i) => i,
                Err(e) => return error_page(&TokenError::Store(e)),
            };
            if let Err(e) = state.audit.oauth(&event) {
                return error_page(&e);
            }
            location.expose_secret().to_owned()
        }
        "deny" => {
            let (location, event) = state.oauth.deny_code(&valid, &session.identity, &approver);
            let _ = state.audit.oauth(&event);
            location
        }
        _ => {
            return error_page(&RequestError::bad(
                "bad_form",
                "decision must be approve or deny",
            ))
        }
    };
    secure(HttpResponse::Found())
        .insert_header((header::CONTENT_SECURITY_POLICY, LOOPBACK_FORM_CSP))
        .insert_header((header::LOCATION, location))
        .finish()
}
