//! The ECS container-credentials answer format (what `AWS_CONTAINER_CREDENTIALS_FULL_URI` /
//! `..._RELATIVE_URI` endpoints return and the AWS SDKs' container provider parses):
//! `{"AccessKeyId","SecretAccessKey","Token","Expiration","RoleArn"}`, `Expiration` in RFC 3339
//! UTC with a `Z`, served at `GET /v1/container-credentials`.
//!
//! The caller presents its workload token in `Authorization` (the SDKs send the value of
//! `AWS_CONTAINER_AUTHORIZATION_TOKEN` as is; `Bearer <token>` is accepted too). The role is the
//! `role_arn` query parameter (put it in `AWS_CONTAINER_CREDENTIALS_FULL_URI`) or the one role the
//! rules grant. Invariant: the body holds live credentials: `Cache-Control: no-store`, never logged.
//!
//! With `server.tls_client_ca_file`, the connection must also carry a client certificate that
//! verified against that CA during the TLS handshake (`http::tls` marks such connections);
//! without one the answer is 401 `client_certificate_required`, before the token is looked at.

use crate::aws::RoleArn;
use crate::error::ErrorKind;
use crate::exchange::WebIdentityRequest;
use crate::http::errors::{error_response, RequestError};
use crate::http::handlers::answer::cache_header;
use crate::http::openapi::ErrorBody;
use crate::http::tls::VerifiedClientCertificate;
use crate::http::AppState;
use crate::sts::StsCredentials;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::SecondsFormat;
use secrecy::{ExposeSecret, SecretString};

#[derive(serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct Query {
    /// The role to assume; optional when the rules grant exactly one.
    role_arn: Option<String>,
    /// Session length in seconds (900 to 43200, within the rule's and IdP's limits).
    duration_seconds: Option<String>,
}

/// `GET /v1/container-credentials`.
#[utoipa::path(
    get,
    path = "/v1/container-credentials",
    tag = "credentials",
    operation_id = "containerCredentials",
    summary = "AWS credentials in the ECS container-credentials format, for unchanged AWS SDKs",
    security(("container_authorization" = [])),
    params(Query),
    responses(
        (status = 200, description = "Credentials (`Cache-Control: no-store`)", body = ContainerCredentials, headers(("x-fedbroker-cache" = String, description = "How the credential cache answered: hit, miss, refreshed, coalesced or off"))),
        (status = 400, description = "No or a malformed Authorization header, token, role or duration, or a query string that does not parse (`bad_query`)", body = ErrorBody),
        (status = 401, description = "The token does not verify, or (with `server.tls_client_ca_file`) the connection has no verified client certificate (`client_certificate_required`)", body = ErrorBody),
        (status = 403, description = "Verified, but no such role for this identity, access revoked, or AWS refused", body = ErrorBody),
        (status = 409, description = "Several roles match: choose one with `role_arn` (`role_choice_required`, with `roles`)", body = ErrorBody),
        (status = 413, description = "The token is too large (`oidc_token_too_large`)", body = ErrorBody),
        (status = 429, description = "Rate limited or STS throttled (with `Retry-After`)", body = ErrorBody),
        (status = 500, description = "A broker misconfiguration or internal failure", body = ErrorBody),
        (status = 502, description = "An upstream (STS, the IdP's keys) failed", body = ErrorBody),
        (status = 503, description = "A dependency (STS, audit log) is unavailable (with `Retry-After`)", body = ErrorBody),
    )
)]
pub async fn credentials(
    req: HttpRequest,
    query: web::Query<Query>,
    state: web::Data<AppState>,
) -> HttpResponse {
    if state.container_client_certificates && req.conn_data::<VerifiedClientCertificate>().is_none()
    {
        let e = client_certificate_required();
        state.record_refused(&req, "container", &e);
        return error_response(&e);
    }
    let token = match authorization_token(&req) {
        Ok(t) => t,
        Err(e) => return error_response(&e),
    };
    let query = query.into_inner();
    let input = WebIdentityRequest {
        token: SecretString::from(token),
        role_arn: query.role_arn,
        duration_seconds: query.duration_seconds,
        session_name: None,
        console_session_seconds: None,
    };
    let result = state.exchange().container_credentials(input).await;
    match state.record_outcome(&req, "container", result) {
        Ok(issued) => HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header(cache_header(&issued))
            .json(container_credentials_body(
                &issued.credentials,
                &issued.role_arn,
            )),
        Err(e) => error_response(&*e),
    }
}

/// What a caller without a verified client certificate is told (it never echoes the request).
const CLIENT_CERTIFICATE_REQUIRED: &str = "this endpoint needs a TLS client certificate issued by \
     the workload CA this broker trusts (server.tls_client_ca_file): configure the workload's \
     client certificate and key in its HTTPS client";

/// No verified client certificate on a connection that needs one.
fn client_certificate_required() -> RequestError {
    RequestError {
        kind: ErrorKind::Unauthenticated,
        code: "client_certificate_required",
        message: CLIENT_CERTIFICATE_REQUIRED.into(),
    }
}

/// The token from `Authorization: <token>` (ECS style) or `Authorization: Bearer <token>`.
fn authorization_token(req: &HttpRequest) -> Result<String, RequestError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| {
            RequestError::bad(
                "missing_token",
                "send the workload token in Authorization (AWS_CONTAINER_AUTHORIZATION_TOKEN)",
            )
        })?
        .to_str()
        .map_err(|_| {
            RequestError::bad("bad_authorization", "the Authorization header is not ASCII")
        })?
        .trim();
    let token = match value.split_once(' ') {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
        Some(_) => {
            return Err(RequestError::bad(
                "bad_authorization",
                "use Authorization: <token> or Authorization: Bearer <token>",
            ))
        }
        None => value,
    };
    if token.is_empty() {
        return Err(RequestError::bad(
            "missing_token",
            "the Authorization header is empty",
        ));
    }
    Ok(token.to_owned())
}

/// The container-credentials answer: exactly the five fields the AWS SDKs' container provider
/// reads (`Cache-Control: no-store`).
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerCredentials<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    pub token: &'a str,
    /// RFC 3339 UTC with a `Z`.
    pub expiration: String,
    pub role_arn: &'a str,
}

/// The container-credentials JSON for `creds`, obtained for the role `role_arn`.
pub fn container_credentials_body(creds: &StsCredentials, role_arn: &RoleArn) -> serde_json::Value {
    serde_json::to_value(ContainerCredentials {
        access_key_id: &creds.access_key_id,
        secret_access_key: creds.secret_access_key.expose_secret(),
        token: creds.session_token.expose_secret(),
        expiration: creds.expiration.to_rfc3339_opts(SecondsFormat::Secs, true),
        role_arn: role_arn.as_str(),
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use secrecy::SecretString;

    #[test]
    fn ecs_container_credentials_shape() {
        let creds = StsCredentials {
            access_key_id: "ASIAIOSFODNN7EXAMPLE".into(),
            secret_access_key: SecretString::from("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"),
            session_token: SecretString::from("FwoGZXIvYXdzEXAMPLETOKEN"),
            expiration: Utc.with_ymd_and_hms(2030, 1, 2, 3, 4, 5).unwrap()
                + chrono::TimeDelta::milliseconds(678),
            assumed_role_arn: "arn:aws:sts::123456789012:assumed-role/Admin/alice".into(),
            assumed_role_id: "AROAEXAMPLE:alice".into(),
            subject: None,
            provider: None,
            audience: None,
            source_identity: Some("alice".into()),
            packed_policy_size: Some(6),
            chained: true,
            request_id: None,
        };
        let role = RoleArn::parse("arn:aws:iam::123456789012:role/Admin").unwrap();
        let body = container_credentials_body(&creds, &role);
        assert_eq!(
            body,
            serde_json::json!({
                "AccessKeyId": "ASIAIOSFODNN7EXAMPLE",
                "SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                "Token": "FwoGZXIvYXdzEXAMPLETOKEN",
                "Expiration": "2030-01-02T03:04:05Z",
                "RoleArn": "arn:aws:iam::123456789012:role/Admin",
            })
        );
        // Exactly the five fields the SDK container provider reads; nothing else leaks in.
        assert_eq!(body.as_object().unwrap().len(), 5);
    }
}
