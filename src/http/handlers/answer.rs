//! The credentials answer: a superset of the AWS `credential_process` JSON (Version 1).

use crate::aws::{RoleArn, RoleSessionName};
use crate::exchange::IssuedCredentials;
use crate::mapping::StsMode;
use actix_web::http::header;
use actix_web::HttpResponse;
use chrono::SecondsFormat;
use secrecy::ExposeSecret;

/// The credentials answer (200, `Cache-Control: no-store`): the AWS `credential_process` JSON
/// (Version 1) plus what the broker decided and why.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct CredentialsAnswer<'a> {
    /// Always 1 (the `credential_process` format version).
    #[schema(minimum = 1, maximum = 1)]
    pub version: u8,
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    pub session_token: &'a str,
    /// RFC 3339 UTC with a `Z`.
    pub expiration: String,
    pub assumed_role_arn: &'a str,
    #[schema(value_type = String)]
    pub role_arn: &'a RoleArn,
    pub subject: &'a str,
    #[schema(value_type = Option<String>)]
    pub session_name: Option<&'a RoleSessionName>,
    pub source_identity: Option<&'a str>,
    pub issuer: &'a str,
    pub provider: &'a str,
    pub mode: StsMode,
    pub alias: Option<&'a str>,
    pub rule: &'a str,
    pub duration_seconds: u32,
    pub duration_reason: &'static str,
    /// The broker's own AWS credentials are temporary: AWS caps the session at 1 hour.
    pub role_chaining: bool,
    /// Present with role chaining.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<&'static str>,
}

impl<'a> CredentialsAnswer<'a> {
    pub fn of(issued: &'a IssuedCredentials) -> Self {
        let c = &issued.credentials;
        Self {
            version: 1,
            access_key_id: &c.access_key_id,
            secret_access_key: c.secret_access_key.expose_secret(),
            session_token: c.session_token.expose_secret(),
            expiration: c.expiration.to_rfc3339_opts(SecondsFormat::Secs, true),
            assumed_role_arn: &c.assumed_role_arn,
            role_arn: &issued.role_arn,
            subject: &issued.subject,
            session_name: issued.session_name.as_ref(),
            source_identity: issued.source_identity.as_deref(),
            issuer: &issued.issuer,
            provider: &issued.provider,
            mode: issued.mode,
            alias: issued.alias.as_deref(),
            rule: &issued.rule,
            duration_seconds: issued.duration.seconds(),
            duration_reason: issued.duration.reason.explain(),
            role_chaining: c.chained,
            note: c.chained.then_some(
                "role chaining: the broker's own AWS credentials are temporary, so AWS caps this session at 1 hour",
            ),
        }
    }
}

/// 200 with the credential JSON and `Cache-Control: no-store`.
pub fn credentials_response(issued: &IssuedCredentials) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .insert_header(cache_header(issued))
        .json(CredentialsAnswer::of(issued))
}

/// `X-Fedbroker-Cache: hit|miss|refreshed|coalesced|off`: how the credential cache answered (for
/// operators and tests; no secret).
pub fn cache_header(issued: &IssuedCredentials) -> (&'static str, &'static str) {
    (
        "x-fedbroker-cache",
        issued.cache.map_or("off", |c| c.as_str()),
    )
}
