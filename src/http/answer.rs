//! The credentials answer: a superset of the AWS `credential_process` JSON (Version 1).

use crate::exchange::IssuedCredentials;
use actix_web::http::header;
use actix_web::HttpResponse;
use chrono::SecondsFormat;
use secrecy::ExposeSecret;

/// 200 with the credential JSON and `Cache-Control: no-store`.
pub fn credentials_response(issued: &IssuedCredentials) -> HttpResponse {
    let c = &issued.credentials;
    let mut body = serde_json::json!({
        "Version": 1,
        "AccessKeyId": c.access_key_id,
        "SecretAccessKey": c.secret_access_key.expose_secret(),
        "SessionToken": c.session_token.expose_secret(),
        "Expiration": c.expiration.to_rfc3339_opts(SecondsFormat::Secs, true),
        "AssumedRoleArn": c.assumed_role_arn,
        "RoleArn": issued.role_arn,
        "Subject": issued.subject,
        "SessionName": issued.session_name,
        "SourceIdentity": issued.source_identity,
        "Issuer": issued.issuer,
        "Provider": issued.provider,
        "Mode": issued.mode,
        "Alias": issued.alias,
        "Rule": issued.rule,
        "DurationSeconds": issued.duration.seconds(),
        "DurationReason": issued.duration.reason.explain(),
        "RoleChaining": c.chained,
    });
    if c.chained {
        body["Note"] = serde_json::json!(
            "role chaining: the broker's own AWS credentials are temporary, so AWS caps this session at 1 hour"
        );
    }
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .insert_header(cache_header(issued))
        .json(body)
}

/// `X-Fedbroker-Cache: hit|miss|refreshed|coalesced|off`: how the credential cache answered (for
/// operators and tests; no secret).
pub fn cache_header(issued: &IssuedCredentials) -> (&'static str, &'static str) {
    (
        "x-fedbroker-cache",
        issued.cache.map_or("off", |c| c.as_str()),
    )
}
