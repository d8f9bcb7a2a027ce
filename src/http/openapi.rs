//! `GET /openapi.json`: the OpenAPI 3.1 document of every route, and the answer shapes it names.
//!
//! Generated from the code, never written by hand: the route table in `http/mod.rs` lists each
//! route once (it registers the route and names the handler whose `#[utoipa::path]` annotation
//! describes it), request and answer types derive `utoipa::ToSchema`, query strings
//! `utoipa::IntoParams`. [`Describe`] adds what no handler owns: the API's description and the
//! security schemes. The document is built and serialized once, on first use, and served as
//! the same bytes afterwards.
//!
//! Invariants (checked by `tests/all/openapi.rs` and by `scripts/check-openapi.sh` against a live
//! broker): the document lists exactly the routes of the route table, every operation has an
//! `operationId` and at least one answer, every JSON error answer is [`ErrorBody`] (the one
//! envelope of `errors.rs`), and every answer the broker gives matches it.
//!
//! Most answers are serialized from the very types the document names (`CredentialsAnswer`,
//! `ContainerCredentials`, `RolesAnswer`, `ExplainAnswer`, `ConsoleUrlAnswer`, `Revocation`,
//! `Thumbprint`, `ReloadAnswer`, `PickerAnswer`, ...). The other types below describe the few
//! answers handlers still build as JSON values (health, readiness, the error envelope); the live
//! schemathesis run checks those answers against them.

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::HttpResponse;
use std::sync::LazyLock;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::ToSchema;

/// The security scheme of the admin endpoints (`server.admin_token_file`).
pub const ADMIN_BEARER: &str = "admin_bearer";
/// A web-identity token (JWT) in `Authorization: Bearer` (optional where a body may carry it).
pub const WORKLOAD_BEARER: &str = "workload_bearer";
/// The container-credentials endpoint's `Authorization` header (the token as is, or `Bearer`).
pub const CONTAINER_AUTHORIZATION: &str = "container_authorization";
/// A CLI session's access token (`fedbroker login`) in `Authorization: Bearer`.
pub const CLI_BEARER: &str = "cli_bearer";
/// The browser session cookie set by a sign-in.
pub const BROWSER_SESSION: &str = "browser_session";

/// The document, as a value (for tests and tools).
pub fn document() -> utoipa::openapi::OpenApi {
    <crate::http::ApiDoc as utoipa::OpenApi>::openapi()
}

/// The document's bytes, built once.
static DOCUMENT: LazyLock<Bytes> = LazyLock::new(|| {
    // Serializing a tree of strings, maps and numbers cannot fail; an empty object would make
    // every check of the document fail loudly rather than crash the broker.
    Bytes::from(serde_json::to_vec(&document()).unwrap_or_else(|_| b"{}".to_vec()))
});

/// `GET /openapi.json`.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    operation_id = "openapi",
    summary = "This document: the OpenAPI 3.1 description of every route",
    responses(
        (status = 200, description = "The OpenAPI document", content_type = "application/json", body = Object),
        (status = 429, description = "Rate limited (`rate_limited_client`)", body = ErrorBody),
    )
)]
pub async fn openapi_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, "public, max-age=300"))
        .body(DOCUMENT.clone())
}

/// The API description and the security schemes.
pub struct Describe;

impl utoipa::Modify for Describe {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi.info.title = "fedbroker".into();
        openapi.info.description = Some(
            "Identity federation broker: SAML 2.0 Responses and OIDC tokens in, AWS STS \
             temporary credentials out. Every JSON refusal is `{\"error\":{\"code\",\"message\"}}` \
             (`ErrorBody`) with a stable code (the README lists every code with its status); \
             browser routes refuse with an HTML page instead. Every answer carries \
             `x-request-id` and `X-Content-Type-Options: nosniff`. Every route but /healthz, \
             /readyz and /metrics is subject to the per-client rate limit (429 with \
             `Retry-After`)."
                .into(),
        );
        optional_bodies_are_not_null(openapi);
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = |what: &str| {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(what.to_owned()))
                    .build(),
            )
        };
        components.add_security_scheme(
            ADMIN_BEARER,
            bearer("The admin token (`server.admin_token_file`); with none configured every admin call is 403 `admin_disabled`"),
        );
        let mut workload = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "A web-identity token (JWT) of a configured OIDC provider".to_owned(),
            ))
            .build();
        workload.bearer_format = Some("JWT".into());
        components.add_security_scheme(WORKLOAD_BEARER, SecurityScheme::Http(workload));
        components.add_security_scheme(
            CLI_BEARER,
            bearer("A CLI session's access token from `POST /oauth/token` (`fedbroker login`); also accepted by `GET /v1/roles` and `POST /v1/console-url`"),
        );
        components.add_security_scheme(
            CONTAINER_AUTHORIZATION,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "The workload token as is (what the AWS SDKs send from \
                 AWS_CONTAINER_AUTHORIZATION_TOKEN), or `Bearer <token>`",
            ))),
        );
        components.add_security_scheme(
            BROWSER_SESSION,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::sign_in::SESSION_COOKIE,
                "The broker session set by a browser sign-in; named `__Host-fedbroker_session` \
                 when `server.public_url` is https",
            ))),
        );
    }
}

/// A request body that may be left out (`request_body(content = Option<T>)`: the JSON body of a
/// request whose token is in `Authorization`) is "not required", not "may be JSON `null`": the
/// handlers refuse a `null` body like any other non-object. Keep the body optional and its schema
/// the object alone.
fn optional_bodies_are_not_null(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::schema::{Schema, SchemaType, Type};
    use utoipa::openapi::RefOr;
    let is_null = |s: &RefOr<Schema>| matches!(s, RefOr::T(Schema::Object(o)) if o.schema_type == SchemaType::Type(Type::Null));
    for item in openapi.paths.paths.values_mut() {
        for op in [&mut item.get, &mut item.post].into_iter().flatten() {
            let Some(body) = op.request_body.as_mut() else {
                continue;
            };
            for content in body.content.values_mut() {
                if let Some(RefOr::T(Schema::OneOf(one_of))) = &content.schema {
                    if let [a, b] = one_of.items.as_slice() {
                        let kept = if is_null(a) {
                            Some(b.clone())
                        } else if is_null(b) {
                            Some(a.clone())
                        } else {
                            None
                        };
                        if kept.is_some() {
                            content.schema = kept;
                        }
                    }
                }
            }
        }
    }
}

/// Every JSON refusal: `{"error": {"code", "message", ...detail}}`.
#[derive(ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

/// One refusal. Some codes add detail members (e.g. `roles` on `role_choice_required`,
/// `problems` on `config_reload_failed`, `providers` on `not_signed_in`).
#[derive(ToSchema)]
pub struct ErrorDetail {
    /// Stable snake_case code; the README lists every code with its HTTP status.
    #[schema(pattern = "^[a-z][a-z0-9_]*$", example = "bad_json")]
    pub code: String,
    /// What was wrong and what to do; never quotes the request.
    pub message: String,
}

/// The answer of `GET /healthz`.
#[derive(ToSchema)]
pub struct Health {
    #[schema(inline)]
    pub status: HealthStatus,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum HealthStatus {
    Ok,
}

/// The answer of `GET /readyz`.
#[derive(ToSchema)]
pub struct Readiness {
    #[schema(inline)]
    pub status: ReadinessStatus,
    pub checks: ReadinessChecks,
    /// Why the replay store is unavailable (only when it is).
    pub error: Option<ErrorDetail>,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum ReadinessStatus {
    Ready,
    Degraded,
}

/// The state of each dependency.
#[derive(ToSchema)]
pub struct ReadinessChecks {
    #[schema(inline)]
    pub replay_store: ReplayStoreCheck,
    #[schema(inline)]
    pub credential_cache: CredentialCacheCheck,
}

#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum ReplayStoreCheck {
    Ok,
    Unavailable,
}

#[derive(ToSchema)]
#[schema(rename_all = "kebab-case")]
pub enum CredentialCacheCheck {
    Disabled,
    Redis,
    InProcess,
    Degraded,
}

/// `POST /v1/saml/credentials` as a form (parameter names exactly these, unencoded, each at most
/// once).
#[derive(ToSchema)]
#[expect(
    non_snake_case,
    reason = "the field names are the form's parameter names on the wire"
)]
pub struct SamlCredentialsForm {
    /// The base64 SAML Response.
    pub SAMLResponse: String,
    pub role_arn: Option<String>,
    pub duration_seconds: Option<String>,
    /// Accepted and ignored (IdP-initiated POSTs carry it).
    pub RelayState: Option<String>,
}

/// `POST /v1/roles` as a form.
#[derive(ToSchema)]
#[expect(
    non_snake_case,
    reason = "the field names are the form's parameter names on the wire"
)]
pub struct RolesForm {
    /// The base64 SAML Response.
    pub SAMLResponse: String,
    /// Accepted and ignored.
    pub RelayState: Option<String>,
}

/// `POST /saml/acs`: what the IdP posts.
#[derive(ToSchema)]
#[expect(
    non_snake_case,
    reason = "the field names are the form's parameter names on the wire"
)]
pub struct SamlAcsForm {
    /// The base64 SAML Response.
    pub SAMLResponse: String,
    /// The local path to go to after the sign-in (checked).
    pub RelayState: Option<String>,
}

/// The answer of `POST /v1/admin/reload` (`Cache-Control: no-store`).
#[derive(serde::Serialize, ToSchema)]
pub struct ReloadAnswer {
    #[schema(inline)]
    pub status: ReloadStatus,
    pub applied: crate::reload::ReloadSummary,
}

#[derive(serde::Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReloadStatus {
    Reloaded,
}

/// A role of the signed-in browser's picker (`GET /roles` as JSON).
#[derive(serde::Serialize, ToSchema)]
pub struct PickerRole {
    pub role_arn: String,
    pub account: String,
    pub role_name: String,
    pub alias: Option<String>,
    pub mode: crate::mapping::StsMode,
    /// The link that opens the console as this role (`GET /console`, with the CSRF token).
    pub console_url: String,
}

/// A role the rules name but that cannot be used now, and why.
#[derive(serde::Serialize, ToSchema)]
pub struct UnavailablePickerRole {
    pub role_arn: String,
    pub account: String,
    pub role_name: String,
    pub alias: Option<String>,
    /// The error code the credentials endpoint would answer.
    pub code: String,
    pub reason: String,
}

/// `GET /roles` with `Accept: application/json`.
#[derive(serde::Serialize, ToSchema)]
pub struct PickerAnswer {
    pub subject: String,
    pub provider: String,
    pub roles: Vec<PickerRole>,
    pub unavailable: Vec<UnavailablePickerRole>,
}

/// Issuer mode's OpenID Provider metadata (`issuer`, `jwks_uri`, ...).
#[derive(ToSchema)]
pub struct OpenIdConfiguration {
    pub issuer: String,
    pub jwks_uri: String,
}

/// Issuer mode's public signing keys.
#[derive(ToSchema)]
pub struct Jwks {
    /// JSON Web Keys (RFC 7517).
    #[schema(value_type = Vec<Object>)]
    pub keys: Vec<serde_json::Value>,
}
