//! Read-only answers about an assertion or token; nothing is consumed, STS is not called.
//!
//! - `GET /v1/roles` with `Authorization: Bearer <token>`: the roles a web-identity token may
//!   assume. A SAML Response is too large for a header, so `POST /v1/roles` takes form
//!   `SAMLResponse` or JSON `{"saml_response"}` (or `{"token"}`, or the Bearer header).
//!   Answer: `{"protocol":"saml"|"oidc","provider","roles":[{"role_arn","alias","mode","rule"}]}`.
//! - `POST /v1/explain`: JSON `{saml_response? | token?, role_arn?, duration_seconds?,
//!   session_name?}` (the token may also come in `Authorization: Bearer`) → what a credentials
//!   request would do and every problem it would meet (see [`ExplainAnswer`]).
//!
//! Invariant: answers never contain the assertion, the token or any credential.

use crate::aws::{RoleArn, RoleSessionName};
use crate::exchange::{ExplainRequest, Explanation, PresentedCredential, RoleSummary};
use crate::http::errors::{error_response, RequestError};
use crate::http::handlers::body::{
    bad_json, content_type, json_or_default, parse_strict_form, read_parsed, NumberOrString,
};
use crate::http::handlers::web_identity::bearer;
use crate::http::openapi::{ErrorBody, RolesForm};
use crate::http::AppState;
use crate::identity::Protocol;
use crate::mapping::StsMode;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use secrecy::SecretString;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Form fields `POST /v1/roles` accepts (`RelayState` is ignored, as on the credentials endpoint).
const ROLES_FORM_FIELDS: &[&str] = &["SAMLResponse", "RelayState"];

/// `GET /v1/roles`: a bearer token's roles.
#[utoipa::path(
    get,
    path = "/v1/roles",
    tag = "introspection",
    operation_id = "rolesOfToken",
    summary = "The roles a web-identity token (or a CLI session's access token) may assume (nothing consumed, STS not called)",
    security(("workload_bearer" = [])),
    responses(
        (status = 200, description = "The roles (`Cache-Control: no-store`); for a CLI access token `{subject, session_expires_at, roles: [{role_arn, alias?, account_id, role_name, mode, region}]}`", body = RolesAnswer),
        (status = 400, description = "No or a malformed Authorization header or token (`missing_token`, `bad_authorization`, ...)", body = ErrorBody),
        (status = 401, description = "The token does not verify, or names no live CLI session (`cli_session_invalid`)", body = ErrorBody),
        (status = 403, description = "Verified, but refused by the rules", body = ErrorBody),
        (status = 413, description = "The token is too large (`oidc_token_too_large`)", body = ErrorBody),
        (status = 429, description = "Rate limited (`rate_limited_client`, with `Retry-After`)", body = ErrorBody),
        (status = 500, description = "A broker misconfiguration or internal failure", body = ErrorBody),
        (status = 502, description = "An upstream (the IdP's keys) failed", body = ErrorBody),
        (status = 503, description = "A dependency is unavailable (with `Retry-After`)", body = ErrorBody),
    )
)]
pub async fn roles_get(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let credential = match bearer(&req) {
        Ok(Some(token)) if crate::http::handlers::cli::is_cli_token(&token) => {
            return crate::http::handlers::cli::cli_roles(&state, &token).await
        }
        Ok(Some(token)) => PresentedCredential::WebIdentityToken(SecretString::from(token)),
        Ok(None) => {
            return error_response(&RequestError::bad(
                "missing_token",
                "GET /v1/roles takes Authorization: Bearer <token>; send a SAML response with POST /v1/roles",
            ))
        }
        Err(e) => return error_response(&e),
    };
    roles_answer(&state, credential).await
}

/// `POST /v1/roles`: the roles of a SAML Response (form or JSON) or a token.
#[utoipa::path(
    post,
    path = "/v1/roles",
    tag = "introspection",
    operation_id = "rolesOfAssertion",
    summary = "The roles a SAML Response (or a token) may assume (nothing consumed, STS not called)",
    security((), ("workload_bearer" = [])),
    request_body(
        content(
            (Option<RolesForm> = "application/x-www-form-urlencoded"),
            (Option<RolesJson> = "application/json"),
        ),
        description = "May be empty when the token is in `Authorization: Bearer`"
    ),
    responses(
        (status = 200, description = "The roles (`Cache-Control: no-store`)", body = RolesAnswer),
        (status = 400, description = "A malformed request, assertion or token (`missing_credential`, `ambiguous_credential`, `bad_json`, `bad_form`, `bad_authorization`, ...)", body = ErrorBody),
        (status = 401, description = "The assertion or token does not verify", body = ErrorBody),
        (status = 403, description = "Verified, but refused by the rules", body = ErrorBody),
        (status = 408, description = "The body did not arrive in time (`request_timeout`)", body = ErrorBody),
        (status = 413, description = "The body, assertion or token is too large", body = ErrorBody),
        (status = 429, description = "Rate limited (`rate_limited_client`, with `Retry-After`)", body = ErrorBody),
        (status = 500, description = "A broker misconfiguration or internal failure", body = ErrorBody),
        (status = 502, description = "An upstream (the IdP's keys) failed", body = ErrorBody),
        (status = 503, description = "A dependency is unavailable (with `Retry-After`)", body = ErrorBody),
    )
)]
pub async fn roles_post(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    match read_parsed(&req, payload, state.max_body_bytes, parse_roles).await {
        Ok(credential) => roles_answer(&state, credential).await,
        Err(e) => error_response(&e),
    }
}

/// `POST /v1/explain`.
#[utoipa::path(
    post,
    path = "/v1/explain",
    tag = "introspection",
    operation_id = "explain",
    summary = "What a credentials request would do, and every problem it would meet (nothing consumed, STS not called)",
    security((), ("workload_bearer" = [])),
    request_body(content = Option<ExplainJson>, content_type = "application/json", description = "May be empty when the token is in `Authorization: Bearer`"),
    responses(
        (status = 200, description = "The explanation (`Cache-Control: no-store`)", body = ExplainAnswer),
        (status = 400, description = "A malformed request, assertion or token (`missing_credential`, `ambiguous_credential`, `bad_json`, `bad_form`, `bad_authorization`, ...)", body = ErrorBody),
        (status = 401, description = "The assertion or token does not verify", body = ErrorBody),
        (status = 403, description = "Verified, but refused by the rules", body = ErrorBody),
        (status = 408, description = "The body did not arrive in time (`request_timeout`)", body = ErrorBody),
        (status = 413, description = "The body, assertion or token is too large", body = ErrorBody),
        (status = 429, description = "Rate limited (`rate_limited_client`, with `Retry-After`)", body = ErrorBody),
        (status = 500, description = "A broker misconfiguration or internal failure", body = ErrorBody),
        (status = 502, description = "An upstream (the IdP's keys) failed", body = ErrorBody),
        (status = 503, description = "A dependency is unavailable (with `Retry-After`)", body = ErrorBody),
    )
)]
pub async fn explain(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> HttpResponse {
    let input = match read_parsed(&req, payload, state.max_body_bytes, parse_explain).await {
        Ok(i) => i,
        Err(e) => return error_response(&e),
    };
    match state.exchange().explain(input).await {
        Ok(x) => no_store(ExplainAnswer::of(&x)),
        Err(e) => error_response(&e),
    }
}

async fn roles_answer(state: &AppState, credential: PresentedCredential) -> HttpResponse {
    match state.exchange().roles(credential).await {
        Ok(offered) => no_store(RolesAnswer {
            protocol: offered.protocol,
            provider: &offered.provider,
            roles: offered.roles.iter().map(OfferedRole::of).collect(),
        }),
        Err(e) => error_response(&e),
    }
}

fn no_store(body: impl serde::Serialize) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body)
}

/// One role an assertion or token may assume.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct OfferedRole<'a> {
    #[schema(value_type = String)]
    pub role_arn: &'a RoleArn,
    pub alias: Option<&'a str>,
    pub mode: StsMode,
    /// The rule that grants it.
    pub rule: &'a str,
}

impl<'a> OfferedRole<'a> {
    pub fn of(r: &'a RoleSummary) -> Self {
        Self {
            role_arn: &r.role_arn,
            alias: r.alias.as_deref(),
            mode: r.mode,
            rule: &r.rule,
        }
    }
}

/// The answer of `GET|POST /v1/roles` (`Cache-Control: no-store`).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct RolesAnswer<'a> {
    pub protocol: Protocol,
    /// The configured IdP or OIDC provider that verified the identity.
    pub provider: &'a str,
    pub roles: Vec<OfferedRole<'a>>,
}

/// `{"roles":[{"role_arn","alias","mode","rule"}]}`.
pub fn roles_body(roles: &[RoleSummary]) -> Value {
    let roles: Vec<OfferedRole> = roles.iter().map(OfferedRole::of).collect();
    json!({ "roles": roles })
}

/// One problem a credentials request would meet: `code` as the credentials endpoint would
/// answer it, plus that error's detail members (e.g. `roles` for `role_choice_required`).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ExplainProblem<'a> {
    pub code: &'a str,
    pub message: &'a str,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    #[schema(ignore)]
    pub detail: Option<&'a serde_json::Map<String, Value>>,
}

/// The answer of `POST /v1/explain` (`Cache-Control: no-store`): what a credentials request
/// would do and every problem it would meet; fields that depend on a chosen grant are `null`
/// when none could be chosen.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ExplainAnswer<'a> {
    pub protocol: Protocol,
    pub provider: &'a str,
    #[schema(value_type = Option<String>)]
    pub role_arn: Option<&'a RoleArn>,
    pub rule: Option<&'a str>,
    pub mode: Option<StsMode>,
    pub alias: Option<&'a str>,
    #[schema(value_type = Option<String>)]
    pub session_name: Option<&'a RoleSessionName>,
    /// The session tags AWS would receive.
    #[schema(value_type = BTreeMap<String, String>)]
    pub tags: BTreeMap<&'a str, &'a str>,
    pub transitive_tag_keys: Vec<&'a str>,
    pub source_identity: Option<&'a str>,
    pub duration_seconds: Option<u32>,
    pub duration_reason: Option<&'static str>,
    /// Empty: the request would pass every check the broker makes before calling STS.
    pub problems: Vec<ExplainProblem<'a>>,
}

impl<'a> ExplainAnswer<'a> {
    pub fn of(x: &'a Explanation) -> Self {
        let g = x.grant.as_ref();
        Self {
            protocol: x.protocol,
            provider: &x.provider,
            role_arn: g.map(|g| &g.role_arn),
            rule: g.map(|g| g.rule.as_str()),
            mode: g.map(|g| g.mode),
            alias: g.and_then(|g| g.alias.as_deref()),
            session_name: x.session_name.as_ref(),
            tags: x
                .tags
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
            transitive_tag_keys: x
                .tags
                .transitive_keys()
                .iter()
                .map(|k| k.as_str())
                .collect(),
            source_identity: x.source_identity.as_deref(),
            duration_seconds: x.duration.map(|d| d.seconds()),
            duration_reason: x.duration.map(|d| d.reason.explain()),
            problems: x
                .problems
                .iter()
                .map(|p| ExplainProblem {
                    code: p.code,
                    message: &p.message,
                    detail: p.detail.as_ref().and_then(Value::as_object),
                })
                .collect(),
        }
    }
}

/// `POST /v1/roles` as JSON: exactly one of the two.
#[derive(serde::Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RolesJson {
    saml_response: Option<String>,
    token: Option<String>,
}

/// `POST /v1/explain`: exactly one of `saml_response`, `token` and `Authorization: Bearer`.
#[derive(serde::Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExplainJson {
    saml_response: Option<String>,
    token: Option<String>,
    role_arn: Option<String>,
    duration_seconds: Option<NumberOrString>,
    session_name: Option<String>,
}

fn parse_roles(req: &HttpRequest, body: &[u8]) -> Result<PresentedCredential, RequestError> {
    let header_token = bearer(req)?;
    let (saml, token) = if body.iter().all(u8::is_ascii_whitespace) {
        (None, None)
    } else {
        match content_type(req).as_str() {
            "application/x-www-form-urlencoded" => {
                let saml = parse_strict_form(body, ROLES_FORM_FIELDS)?
                    .into_iter()
                    .find(|(name, _)| *name == "SAMLResponse")
                    .map(|(_, v)| v);
                (saml, None)
            }
            "application/json" => {
                let j: RolesJson = serde_json::from_slice(body).map_err(|e| {
                    bad_json::<RolesJson>(
                        &e,
                        "{\"saml_response\": \"<base64>\"} or {\"token\": \"<JWT>\"}",
                    )
                })?;
                (j.saml_response, j.token)
            }
            _ => return Err(unsupported_media_type()),
        }
    };
    one_credential(header_token, saml, token)
}

fn parse_explain(req: &HttpRequest, body: &[u8]) -> Result<ExplainRequest, RequestError> {
    let header_token = bearer(req)?;
    let j: ExplainJson = json_or_default(
        body,
        "{\"saml_response\" or \"token\": \"...\", \"role_arn\"?: \"...\", \"duration_seconds\"?: 3600, \"session_name\"?: \"...\"}",
    )?;
    Ok(ExplainRequest {
        credential: one_credential(header_token, j.saml_response, j.token)?,
        role_arn: j.role_arn.filter(|r| !r.is_empty()),
        duration_seconds: j.duration_seconds.map(NumberOrString::into_string),
        session_name: j.session_name,
    })
}

/// Exactly one of: a Bearer header, a SAML response, a token in the body.
pub(super) fn one_credential(
    header_token: Option<String>,
    saml: Option<String>,
    token: Option<String>,
) -> Result<PresentedCredential, RequestError> {
    match (header_token, saml, token) {
        (Some(t), None, None) | (None, None, Some(t)) => Ok(PresentedCredential::WebIdentityToken(
            SecretString::from(t),
        )),
        (None, Some(s), None) => Ok(PresentedCredential::SamlResponse(SecretString::from(s))),
        (None, None, None) => Err(RequestError::bad(
            "missing_credential",
            "send a SAML response (saml_response / SAMLResponse) or a web-identity token (token / Authorization: Bearer)",
        )),
        _ => Err(RequestError::bad(
            "ambiguous_credential",
            "send exactly one SAML response or web-identity token",
        )),
    }
}

fn unsupported_media_type() -> RequestError {
    RequestError::bad(
        "unsupported_media_type",
        "send application/x-www-form-urlencoded (SAMLResponse=...) or application/json ({\"saml_response\": ...} or {\"token\": ...})",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;
    use actix_web::test::TestRequest;
    use secrecy::ExposeSecret;

    fn json_req() -> HttpRequest {
        TestRequest::default()
            .insert_header((header::CONTENT_TYPE, "application/json"))
            .to_http_request()
    }

    #[test]
    fn roles_accepts_form_json_or_bearer_and_exactly_one_credential() {
        let form = TestRequest::default()
            .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
            .to_http_request();
        match parse_roles(&form, b"SAMLResponse=PD94%2B&RelayState=x").unwrap() {
            PresentedCredential::SamlResponse(s) => assert_eq!(s.expose_secret(), "PD94+"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            parse_roles(&form, b"SAMLResponse=a&role_arn=b")
                .unwrap_err()
                .code(),
            "bad_form"
        );
        assert!(matches!(
            parse_roles(&json_req(), br#"{"token":"a.b.c"}"#).unwrap(),
            PresentedCredential::WebIdentityToken(_)
        ));
        assert_eq!(
            parse_roles(&json_req(), br#"{"token":"a","saml_response":"b"}"#)
                .unwrap_err()
                .code(),
            "ambiguous_credential"
        );
        assert_eq!(
            parse_roles(&json_req(), b"").unwrap_err().code(),
            "missing_credential"
        );
    }

    #[test]
    fn explain_takes_json_fields_and_refuses_unknown_ones() {
        let r = parse_explain(
            &json_req(),
            br#"{"saml_response":"x","role_arn":"arn","duration_seconds":900}"#,
        )
        .unwrap();
        assert!(matches!(r.credential, PresentedCredential::SamlResponse(_)));
        assert_eq!(r.duration_seconds.as_deref(), Some("900"));
        assert_eq!(
            parse_explain(&json_req(), br#"{"token":"a","evil":1}"#)
                .unwrap_err()
                .code(),
            "bad_json"
        );
        let bearer = TestRequest::default()
            .insert_header((header::AUTHORIZATION, "Bearer a.b.c"))
            .to_http_request();
        assert!(matches!(
            parse_explain(&bearer, br#"{"role_arn":"x"}"#)
                .unwrap()
                .credential,
            PresentedCredential::WebIdentityToken(_)
        ));
    }
}
