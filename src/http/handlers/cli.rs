//! The CLI session's bearer token on the API routes (HTTP side): `POST /v1/credentials`, and
//! the helpers `GET /v1/roles` (`explain`) and `POST /v1/console-url` (`console_url`) use to take
//! a CLI access token instead of a web-identity JWT. The session itself is `crate::oauth`.
//!
//! Invariants: a CLI token names its session or the answer is 401 `cli_session_invalid` (the
//! CLI then tells the person to run `fedbroker login`); credentials go through the same
//! exchange as every credential route (rules, duration negotiation, revocation, cache, rate
//! limits, the audit record before the answer); a pass-through role is served only while the
//! sign-in's own assertion or token is valid, as in the role picker; no token reaches a log.

use crate::http::errors::{error_response, RequestError};
use crate::http::handlers::answer::credentials_response;
use crate::http::handlers::body::{bad_json, read_parsed, NumberOrString};
use crate::http::openapi::ErrorBody;
use crate::http::AppState;
use crate::oauth::{CliSession, CliSessionInvalid, TokenError};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

/// A bearer token that is a CLI access token rather than a web-identity JWT: 32 random bytes
/// in base64url without padding, 43 characters (a JWT always has dots). Any other malformed
/// token keeps the web-identity answer it always had.
pub fn is_cli_token(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The live CLI session `token` stands for; `Err`: the answer (401 `cli_session_invalid`, or
/// 503 when the store failed).
pub async fn cli_session(state: &AppState, token: &str) -> Result<CliSession, HttpResponse> {
    match state.oauth.authenticate(token).await {
        Ok(Some(s)) => Ok(s),
        Ok(None) => Err(error_response(&CliSessionInvalid)),
        Err(e) => Err(error_response(&TokenError::Store(e))),
    }
}

/// The CLI session of the request's `Authorization: Bearer` (required).
async fn bearer_session(req: &HttpRequest, state: &AppState) -> Result<CliSession, HttpResponse> {
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    match crate::oauth::bearer(header) {
        Some(token) => cli_session(state, token).await,
        None => Err(error_response(&CliSessionInvalid)),
    }
}

/// The role a CLI names (`role_arn` or an alias) as an ARN among the session's roles; an unknown
/// alias stays as given (the exchange refuses it with its usual code).
pub fn resolve_role(state: &AppState, session: &CliSession, role: &str) -> String {
    if role.starts_with("arn:") {
        return role.to_owned();
    }
    state
        .exchange()
        .picker_for(&session.identity)
        .ok()
        .and_then(|(roles, _)| {
            roles
                .into_iter()
                .find(|r| r.alias.as_deref() == Some(role))
                .map(|r| r.role_arn.as_str().to_owned())
        })
        .unwrap_or_else(|| role.to_owned())
}

/// The refusal of a pass-through role whose original assertion or token has expired: a
/// pass-through session is AWS's own exchange of the IdP's message (AssumeRoleWithSAML /
/// AssumeRoleWithWebIdentity), so, as in the role picker, it is served only while that message
/// is valid, a few minutes after the sign-in; a CLI session outlives it.
pub fn pass_through_expired(
    state: &AppState,
    session: &CliSession,
    role_arn: &str,
) -> Option<RequestError> {
    let (roles, _) = state.exchange().picker_for(&session.identity).ok()?;
    let pass_through = roles
        .iter()
        .any(|r| r.role_arn.as_str() == role_arn && r.mode == crate::mapping::StsMode::PassThrough);
    let expired_at = session.identity.expires_at();
    (pass_through && expired_at <= state.now()).then(|| RequestError {
        kind: crate::error::ErrorKind::Forbidden,
        code: "pass_through_expired",
        message: format!(
            "{role_arn} is a pass-through grant: AWS exchanges the IdP's own assertion or token, \
             which expired at {}; pass-through roles are served only while it is valid (minutes \
             after signing in). Run fedbroker login again just before using it, or ask an \
             administrator for an assume-role grant",
            expired_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
    })
}

/// `GET /v1/roles` with a CLI access token: the session's roles (`explain::roles_get` calls this
/// for a token that is not a JWT).
pub async fn cli_roles(state: &AppState, token: &str) -> HttpResponse {
    let session = match cli_session(state, token).await {
        Ok(s) => s,
        Err(refusal) => return refusal,
    };
    let (roles, _) = match state.exchange().picker_for(&session.identity) {
        Ok(r) => r,
        Err(e) => return error_response(&e),
    };
    let entries = roles.iter().map(|r| crate::oauth::forms::RoleEntry {
        role_arn: r.role_arn.as_str(),
        alias: r.alias.as_deref(),
        mode: r.mode.as_str(),
    });
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(crate::oauth::forms::roles_body(
            &session,
            entries,
            Some(&state.aws_region),
        ))
}

/// `POST /v1/credentials` (JSON).
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CliCredentialsJson {
    /// A role ARN, or the alias of one of the session's roles.
    role_arn: String,
    duration_seconds: Option<NumberOrString>,
}

/// `POST /v1/credentials`.
#[utoipa::path(
    post,
    path = "/v1/credentials",
    tag = "cli",
    operation_id = "cliCredentials",
    summary = "AWS credentials for a role of the CLI session (`fedbroker credentials`, `credential_process`)",
    security(("cli_bearer" = [])),
    request_body(content = CliCredentialsJson, content_type = "application/json"),
    responses(
        (status = 200, description = "Credentials (`Cache-Control: no-store`)", body = crate::http::handlers::answer::CredentialsAnswer, headers(("x-fedbroker-cache" = String, description = "How the credential cache answered: hit, miss, refreshed, coalesced or off"))),
        (status = 400, description = "A malformed request, role or duration (`bad_json`, `invalid_role_arn`, `invalid_duration`, ...)", body = ErrorBody),
        (status = 401, description = "No, an unknown, expired, logged-out or revoked CLI session (`cli_session_invalid`: run `fedbroker login`), or a pass-through grant whose original assertion has expired", body = ErrorBody),
        (status = 403, description = "No such role for this identity, access revoked, AWS refused, or a pass-through role whose original assertion or token has expired (`pass_through_expired`: pass-through roles are served only while it is valid)", body = ErrorBody),
        (status = 408, description = "The body did not arrive in time (`request_timeout`)", body = ErrorBody),
        (status = 413, description = "The body is too large (`request_too_large`)", body = ErrorBody),
        (status = 429, description = "Rate limited or STS throttled (with `Retry-After`)", body = ErrorBody),
        (status = 500, description = "A broker misconfiguration or internal failure", body = ErrorBody),
        (status = 502, description = "An upstream (STS) failed", body = ErrorBody),
        (status = 503, description = "A dependency (session store, STS, audit log) is unavailable (with `Retry-After`)", body = ErrorBody),
    )
)]
pub async fn credentials(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let input = read_parsed(&req, payload, state.max_body_bytes, |_, body| {
        serde_json::from_slice::<CliCredentialsJson>(body).map_err(|e| {
            bad_json::<CliCredentialsJson>(
                &e,
                "{\"role_arn\": \"arn:aws:iam::...:role/... or an alias\", \"duration_seconds\"?: 3600}",
            )
        })
    })
    .await;
    let session = match bearer_session(&req, &state).await {
        Ok(s) => s,
        Err(refusal) => return refusal,
    };
    let input = match input {
        Ok(i) => i,
        Err(e) => return error_response(&e),
    };
    let role = resolve_role(&state, &session, &input.role_arn);
    if let Some(e) = pass_through_expired(&state, &session, &role) {
        state.record_refused(&req, "cli", &e);
        return error_response(&e);
    }
    let duration = input.duration_seconds.map(NumberOrString::into_string);
    let result = state
        .exchange()
        .session_credentials(&session.identity, &role, duration.as_deref(), None)
        .await;
    match state.record_outcome(&req, "cli", result) {
        Ok(issued) => credentials_response(&issued),
        Err(e) => error_response(&*e),
    }
}

#[cfg(test)]
mod tests {
    use super::is_cli_token;

    #[test]
    fn only_a_43_character_base64url_token_is_taken_for_a_cli_session() {
        let cli = crate::oauth::new_secret();
        assert!(is_cli_token(secrecy::ExposeSecret::expose_secret(&cli)));
        assert!(!is_cli_token("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"));
        assert!(!is_cli_token("short"));
        assert!(!is_cli_token(&"A".repeat(42)));
        assert!(!is_cli_token(&format!("{}.", "A".repeat(42))));
    }
}
