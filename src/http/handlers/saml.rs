//! `POST /v1/saml/credentials`: a SAML Response (form `SAMLResponse` or JSON `saml_response`),
//! optional `role_arn` and `duration_seconds` → credential JSON.
//!
//! Form parsing is strict (docs/SECURITY.md S24): parameter names must be exactly the documented ones,
//! unencoded, each at most once.

use crate::error::ErrorKind;
use crate::exchange::SamlCredentialsRequest;
use crate::http::errors::{error_response, RequestError};
use crate::http::handlers::answer::credentials_response;
use crate::http::handlers::body::{
    bad_json, content_type, parse_strict_form, read_parsed, NumberOrString,
};
use crate::http::openapi::{ErrorBody, SamlCredentialsForm};
use crate::http::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use secrecy::SecretString;

/// Form fields accepted; `RelayState` is accepted and ignored (IdP-initiated POSTs carry it).
const FORM_FIELDS: &[&str] = &["SAMLResponse", "role_arn", "duration_seconds", "RelayState"];

/// `POST /v1/saml/credentials`.
#[utoipa::path(
    post,
    path = "/v1/saml/credentials",
    tag = "credentials",
    operation_id = "samlCredentials",
    summary = "Exchange a SAML Response for AWS credentials",
    request_body(content(
        (SamlCredentialsForm = "application/x-www-form-urlencoded"),
        (JsonBody = "application/json"),
    )),
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
    let result = state.exchange().saml_credentials(input).await;
    match state.record_outcome(&req, "saml", result) {
        Ok(issued) => credentials_response(&issued),
        Err(e) => error_response(&*e),
    }
}

/// The request by its content type: a form (`SAMLResponse=...`) or JSON.
fn parse(req: &HttpRequest, body: &[u8]) -> Result<SamlCredentialsRequest, RequestError> {
    match content_type(req).as_str() {
        "application/x-www-form-urlencoded" => parse_form(body),
        "application/json" => parse_json(body),
        _ => Err(RequestError {
            kind: ErrorKind::BadRequest,
            code: "unsupported_media_type",
            message: "send application/x-www-form-urlencoded (SAMLResponse=...) or application/json ({\"saml_response\": ...})".into(),
        }),
    }
}

fn parse_form(body: &[u8]) -> Result<SamlCredentialsRequest, RequestError> {
    let mut saml = None;
    let mut role = None;
    let mut duration = None;
    for (name, value) in parse_strict_form(body, FORM_FIELDS)? {
        match name {
            "SAMLResponse" => saml = Some(value),
            "role_arn" => role = Some(value),
            "duration_seconds" => duration = Some(value),
            _ => {}
        }
    }
    let saml = saml.ok_or_else(|| {
        RequestError::bad(
            "missing_saml_response",
            "the form has no SAMLResponse field",
        )
    })?;
    Ok(SamlCredentialsRequest {
        saml_response: SecretString::from(saml),
        role_arn: role.filter(|r| !r.is_empty()),
        duration_seconds: duration.filter(|d| !d.is_empty()),
        console_session_seconds: None,
    })
}

/// `POST /v1/saml/credentials` as JSON.
#[derive(serde::Deserialize, utoipa::ToSchema)]
#[schema(as = SamlCredentialsJson)]
#[serde(deny_unknown_fields)]
pub struct JsonBody {
    /// The base64 SAML Response.
    saml_response: String,
    role_arn: Option<String>,
    duration_seconds: Option<NumberOrString>,
}

fn parse_json(body: &[u8]) -> Result<SamlCredentialsRequest, RequestError> {
    let parsed: JsonBody = serde_json::from_slice(body).map_err(|e| {
        bad_json::<JsonBody>(
            &e,
            "{\"saml_response\": \"<base64>\", \"role_arn\"?: \"...\", \"duration_seconds\"?: 3600}",
        )
    })?;
    Ok(SamlCredentialsRequest {
        saml_response: SecretString::from(parsed.saml_response),
        role_arn: parsed.role_arn,
        duration_seconds: parsed.duration_seconds.map(NumberOrString::into_string),
        console_session_seconds: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;
    use secrecy::ExposeSecret;

    #[test]
    fn form_fields_are_decoded() {
        let r =
            parse_form(b"SAMLResponse=PD94%2B+&role_arn=arn%3Aaws&duration_seconds=900").unwrap();
        assert_eq!(r.saml_response.expose_secret(), "PD94+ ");
        assert_eq!(r.role_arn.as_deref(), Some("arn:aws"));
        assert_eq!(r.duration_seconds.as_deref(), Some("900"));
    }

    #[test]
    fn duplicate_saml_response_parameter_is_rejected() {
        let e = parse_form(b"SAMLResponse=a&SAMLResponse=b").unwrap_err();
        assert_eq!(e.code(), "bad_form");
    }

    #[test]
    fn percent_encoded_parameter_name_is_rejected() {
        let e = parse_form(b"%53AMLResponse=a").unwrap_err();
        assert_eq!(e.code(), "bad_form");
    }

    #[test]
    fn json_unknown_and_duplicate_fields_are_rejected() {
        assert!(parse_json(br#"{"saml_response":"a","evil":1}"#).is_err());
        assert!(parse_json(br#"{"saml_response":"a","saml_response":"b"}"#).is_err());
        let ok = parse_json(br#"{"saml_response":"a","duration_seconds":1800}"#).unwrap();
        assert_eq!(ok.duration_seconds.as_deref(), Some("1800"));
    }
}
