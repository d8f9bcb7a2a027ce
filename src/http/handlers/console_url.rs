//! `POST /v1/console-url`: JSON `{saml_response | token, role_arn?, duration_seconds?,
//! session_name?, destination?, region?, session_duration?}` (the token may also come in
//! `Authorization: Bearer`) → `{"url","expires_at","session_duration"}` (200, `no-store`).
//!
//! A CLI session's access token (`fedbroker login`) in `Authorization: Bearer` is accepted too:
//! the body then names only the role (ARN or alias) and the console options.
//!
//! Invariant: the URL is a bearer credential for the AWS console: it goes into this one answer
//! and nowhere else (no log line, no error message). Checks, exchange and sign-in:
//! `console::ConsoleService::sign_in`.

use crate::console::{ConsoleRequest, ConsoleUrl, ConsoleUrlRequest};
use crate::http::errors::{error_response, RequestError};
use crate::http::handlers::body::{json_or_default, read_parsed, NumberOrString};
use crate::http::handlers::explain::one_credential;
use crate::http::handlers::web_identity::bearer;
use crate::http::openapi::ErrorBody;
use crate::http::AppState;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::SecondsFormat;
use secrecy::ExposeSecret;

/// `POST /v1/console-url`: exactly one of `saml_response`, `token` and `Authorization: Bearer`,
/// and the console options.
#[derive(serde::Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsoleJson {
    saml_response: Option<String>,
    token: Option<String>,
    role_arn: Option<String>,
    duration_seconds: Option<NumberOrString>,
    session_name: Option<String>,
    destination: Option<String>,
    region: Option<String>,
    session_duration: Option<NumberOrString>,
}

/// `POST /v1/console-url`.
#[utoipa::path(
    post,
    path = "/v1/console-url",
    tag = "credentials",
    operation_id = "consoleUrl",
    summary = "An AWS console sign-in URL for the credentials the same request would get",
    security((), ("workload_bearer" = [])),
    request_body(content = Option<ConsoleJson>, content_type = "application/json", description = "May carry no credential when the token is in `Authorization: Bearer`"),
    responses(
        (status = 200, description = "The sign-in URL (`Cache-Control: no-store`)", body = ConsoleUrlAnswer),
        (status = 400, description = "A malformed request, assertion or token, or bad console options", body = ErrorBody),
        (status = 401, description = "The assertion or token does not verify, or the CLI session is invalid (`cli_session_invalid`)", body = ErrorBody),
        (status = 403, description = "Verified, but no such role, access revoked, or AWS refused", body = ErrorBody),
        (status = 408, description = "The body did not arrive in time (`request_timeout`)", body = ErrorBody),
        (status = 409, description = "Several roles match: choose one with `role_arn` (`role_choice_required`, with `roles`)", body = ErrorBody),
        (status = 413, description = "The body, assertion or token is too large", body = ErrorBody),
        (status = 429, description = "Rate limited or STS throttled (with `Retry-After`)", body = ErrorBody),
        (status = 500, description = "A broker misconfiguration or internal failure", body = ErrorBody),
        (status = 502, description = "An upstream (STS, the federation endpoint) failed", body = ErrorBody),
        (status = 503, description = "A dependency is unavailable (with `Retry-After`)", body = ErrorBody),
    )
)]
pub async fn console_url(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    if let Ok(Some(token)) = bearer(&req) {
        if crate::http::handlers::cli::is_cli_token(&token) {
            return cli_console_url(req, payload, state, &token).await;
        }
    }
    let input = match read_parsed(&req, payload, state.max_body_bytes, parse).await {
        Ok(i) => i,
        Err(e) => return error_response(&e),
    };
    let result = state.console.sign_in(&state.exchange(), input).await;
    let signin = match state.record_outcome(&req, "console_url", result) {
        Ok(signin) => signin,
        Err(e) => return error_response(&*e),
    };
    let audited =
        state
            .audit
            .console_url_issued("console_url", &signin.issued, &signin.url, state.now());
    match audited {
        Ok(()) => answer(&signin.url),
        Err(e) => error_response(&e),
    }
}

/// `POST /v1/console-url` with a CLI session's access token: the session's identity, the role
/// (ARN or alias) and the console options from the body; then as the role picker's console.
async fn cli_console_url(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    token: &str,
) -> HttpResponse {
    use crate::http::handlers::cli::{cli_session, resolve_role};
    let j = read_parsed(&req, payload, state.max_body_bytes, |_, body| {
        json_or_default::<ConsoleJson>(
            body,
            "{\"role_arn\": ARN or alias, \"duration_seconds\"?, \"destination\"?, \"region\"?, \"session_duration\"?}",
        )
    })
    .await;
    let session = match cli_session(&state, token).await {
        Ok(s) => s,
        Err(refusal) => return refusal,
    };
    let j = match j {
        Ok(j) => j,
        Err(e) => return error_response(&e),
    };
    if j.saml_response.is_some() || j.token.is_some() || j.session_name.is_some() {
        return error_response(&RequestError::bad(
            "ambiguous_credential",
            "with a CLI session in Authorization: Bearer, send no saml_response, token or session_name",
        ));
    }
    let Some(role) = j.role_arn.filter(|r| !r.is_empty()) else {
        return error_response(&RequestError::bad(
            "role_arn_required",
            "name the role with role_arn (an ARN or an alias from GET /v1/roles)",
        ));
    };
    let role = resolve_role(&state, &session, &role);
    if let Some(e) = crate::http::handlers::cli::pass_through_expired(&state, &session, &role) {
        state.record_refused(&req, "console_url", &e);
        return error_response(&e);
    }
    let options = ConsoleRequest {
        destination: j.destination,
        region: j.region,
        session_duration: j.session_duration.map(NumberOrString::into_string),
    };
    let partition = crate::aws::RoleArn::parse(&role)
        .ok()
        .and_then(|r| crate::console::Partition::of_role(&r).ok());
    let console_session_seconds = match state.console.check(&options, partition) {
        Ok(checked) => checked.session_duration_secs(),
        Err(e) => return error_response(&e),
    };
    let duration = j.duration_seconds.map(NumberOrString::into_string);
    let result = state
        .exchange()
        .session_credentials(
            &session.identity,
            &role,
            duration.as_deref(),
            console_session_seconds,
        )
        .await;
    let issued = match state.record_outcome(&req, "console_url", result) {
        Ok(issued) => issued,
        Err(e) => return error_response(&*e),
    };
    let url = match state.console.signin_url(&issued, &options).await {
        Ok(u) => u,
        Err(e) => return error_response(&e),
    };
    match state
        .audit
        .console_url_issued("console_url", &issued, &url, state.now())
    {
        Ok(()) => answer(&url),
        Err(e) => error_response(&e),
    }
}

/// The answer of `POST /v1/console-url` (`Cache-Control: no-store`).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ConsoleUrlAnswer<'a> {
    /// The AWS console sign-in URL: a bearer credential, valid 15 minutes.
    pub url: &'a str,
    /// RFC 3339 UTC.
    pub expires_at: String,
    /// The console session's length in seconds; `null`: the credentials' lifetime.
    pub session_duration: Option<u32>,
}

/// `{"url","expires_at" (RFC 3339),"session_duration" (null: the credentials' lifetime)}`.
fn answer(u: &ConsoleUrl) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(ConsoleUrlAnswer {
            url: u.url.expose_secret(),
            expires_at: u.expires_at.to_rfc3339_opts(SecondsFormat::Secs, true),
            session_duration: u.session_duration,
        })
}

fn parse(req: &HttpRequest, body: &[u8]) -> Result<ConsoleUrlRequest, RequestError> {
    let header_token = bearer(req)?;
    let j: ConsoleJson = json_or_default(
        body,
        "{\"saml_response\" or \"token\": \"...\", \"role_arn\"?, \"duration_seconds\"?, \"session_name\"?, \"destination\"?, \"region\"?, \"session_duration\"?}",
    )?;
    Ok(ConsoleUrlRequest {
        credential: one_credential(header_token, j.saml_response, j.token)?,
        role_arn: j.role_arn.filter(|r| !r.is_empty()),
        duration_seconds: j.duration_seconds.map(NumberOrString::into_string),
        session_name: j.session_name,
        console: ConsoleRequest {
            destination: j.destination,
            region: j.region,
            session_duration: j.session_duration.map(NumberOrString::into_string),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;
    use crate::exchange::PresentedCredential;
    use actix_web::test::TestRequest;

    fn json_req() -> HttpRequest {
        TestRequest::default()
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .to_http_request()
    }

    #[test]
    fn takes_the_explain_fields_plus_console_options_and_refuses_unknown_ones() {
        let r = parse(
            &json_req(),
            br#"{"saml_response":"x","destination":"https://console.aws.amazon.com/s3/","session_duration":1800}"#,
        )
        .unwrap();
        assert!(matches!(r.credential, PresentedCredential::SamlResponse(_)));
        assert_eq!(r.console.session_duration.as_deref(), Some("1800"));
        assert_eq!(
            parse(&json_req(), br#"{"token":"a","Destination":"x"}"#)
                .unwrap_err()
                .code(),
            "bad_json"
        );
        assert_eq!(
            parse(&json_req(), br#"{"token":"a","saml_response":"b"}"#)
                .unwrap_err()
                .code(),
            "ambiguous_credential"
        );
    }
}
