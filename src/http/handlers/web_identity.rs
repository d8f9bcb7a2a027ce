//! `POST /v1/web-identity/credentials`: JSON `{token, role_arn?, duration_seconds?, session_name?}`
//! or the token in `Authorization: Bearer` (then the JSON body, if any, carries no token) →
//! credential JSON.

use crate::exchange::WebIdentityRequest;
use crate::http::errors::{error_response, RequestError};
use crate::http::handlers::answer::credentials_response;
use crate::http::handlers::body::{json_or_default, read_parsed, NumberOrString};
use crate::http::openapi::ErrorBody;
use crate::http::AppState;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use secrecy::SecretString;

/// `POST /v1/web-identity/credentials`: the token here or in `Authorization: Bearer`, not both.
#[derive(serde::Deserialize, Default, utoipa::ToSchema)]
#[schema(as = WebIdentityCredentialsJson)]
#[serde(deny_unknown_fields)]
pub struct JsonBody {
    /// The web-identity token (JWT), unless it is in `Authorization: Bearer`.
    token: Option<String>,
    role_arn: Option<String>,
    duration_seconds: Option<NumberOrString>,
    session_name: Option<String>,
}

/// `POST /v1/web-identity/credentials`.
#[utoipa::path(
    post,
    path = "/v1/web-identity/credentials",
    tag = "credentials",
    operation_id = "webIdentityCredentials",
    summary = "Exchange a web-identity token (JWT) for AWS credentials",
    security((), ("workload_bearer" = [])),
    request_body(content = Option<JsonBody>, content_type = "application/json", description = "May be empty when the token is in `Authorization: Bearer`"),
    responses(
        (status = 200, description = "Credentials (`Cache-Control: no-store`)", body = crate::http::handlers::answer::CredentialsAnswer, headers(("x-fedbroker-cache" = String, description = "How the credential cache answered: hit, miss, refreshed, coalesced or off"))),
        (status = 400, description = "A malformed request, assertion or token, or a bad role, duration or session name", body = ErrorBody),
        (status = 401, description = "The assertion or token does not verify (signature, issuer, audience, lifetime, replay)", body = ErrorBody),
        (status = 403, description = "Verified, but no such role for this identity, access revoked, or AWS refused", body = ErrorBody),
        (status = 408, description = "The body did not arrive in time (`request_timeout`)", body = ErrorBody),
        (status = 409, description = "Several roles match: choose one with `role_arn` (`role_choice_required`, with `roles`)", body = ErrorBody),
        (status = 413, description = "The body, assertion or token is too large", body = ErrorBody),
        (status = 429, description = "Rate limited or STS throttled (with `Retry-After`)", body = ErrorBody),
        (status = 500, description = "A broker misconfiguration or internal failure", body = ErrorBody),
        (status = 502, description = "An upstream (STS, the IdP's keys) failed", body = ErrorBody),
        (status = 503, description = "A dependency (replay store, STS, audit log) is unavailable (with `Retry-After`)", body = ErrorBody),
    )
)]
pub async fn credentials(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let input = match read_parsed(&req, payload, state.max_body_bytes, parse).await {
        Ok(i) => i,
        Err(e) => return error_response(&e),
    };
    let result = state.exchange().web_identity_credentials(input).await;
    match state.record_outcome(&req, "web_identity", result) {
        Ok(issued) => credentials_response(&issued),
        Err(e) => error_response(&*e),
    }
}

/// The token in `Authorization: Bearer`, if that header is present (any other scheme is refused).
pub(super) fn bearer(req: &HttpRequest) -> Result<Option<String>, RequestError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| {
        RequestError::bad("bad_authorization", "the Authorization header is not ASCII")
    })?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim().to_owned()))
        }
        _ => Err(RequestError::bad(
            "bad_authorization",
            "use Authorization: Bearer <token>",
        )),
    }
}

fn parse(req: &HttpRequest, body: &[u8]) -> Result<WebIdentityRequest, RequestError> {
    let header_token = bearer(req)?;
    let parsed: JsonBody = json_or_default(
        body,
        "{\"token\": \"<JWT>\", \"role_arn\": \"arn:aws:iam::...:role/...\", \"duration_seconds\"?: 3600, \"session_name\"?: \"...\"}",
    )?;
    let token = match (header_token, parsed.token) {
        (Some(_), Some(_)) => {
            return Err(RequestError::bad(
                "ambiguous_token",
                "send the token either in Authorization: Bearer or in the JSON body, not both",
            ))
        }
        (Some(t), None) | (None, Some(t)) => t,
        (None, None) => {
            return Err(RequestError::bad(
                "missing_token",
                "send the web-identity token as {\"token\": ...} or Authorization: Bearer",
            ))
        }
    };
    Ok(WebIdentityRequest {
        token: SecretString::from(token),
        role_arn: parsed.role_arn,
        duration_seconds: parsed.duration_seconds.map(NumberOrString::into_string),
        session_name: parsed.session_name,
        console_session_seconds: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;
    use actix_web::test::TestRequest;
    use secrecy::ExposeSecret;

    #[test]
    fn token_from_body_or_bearer_but_not_both() {
        let req = TestRequest::default().to_http_request();
        let r = parse(
            &req,
            br#"{"token":"a.b.c","role_arn":"x","duration_seconds":900}"#,
        )
        .unwrap();
        assert_eq!(r.token.expose_secret(), "a.b.c");
        assert_eq!(r.duration_seconds.as_deref(), Some("900"));

        let req = TestRequest::default()
            .insert_header((header::AUTHORIZATION, "Bearer a.b.c"))
            .to_http_request();
        assert_eq!(parse(&req, b"").unwrap().token.expose_secret(), "a.b.c");
        assert_eq!(
            parse(&req, br#"{"token":"d.e.f"}"#).unwrap_err().code(),
            "ambiguous_token"
        );

        let req = TestRequest::default().to_http_request();
        assert_eq!(parse(&req, b"{}").unwrap_err().code(), "missing_token");
        assert_eq!(
            parse(&req, br#"{"token":"a","evil":1}"#)
                .unwrap_err()
                .code(),
            "bad_json"
        );
    }

    #[test]
    fn non_bearer_authorization_is_refused() {
        let req = TestRequest::default()
            .insert_header((header::AUTHORIZATION, "Basic dXNlcjpwYXNz"))
            .to_http_request();
        assert_eq!(parse(&req, b"").unwrap_err().code(), "bad_authorization");
    }
}
