//! The answers actix would otherwise write itself, and the headers on every answer.
//!
//! actix answers an unknown route, a wrong method and a query string or form its extractor cannot
//! parse with a plain-text body that quotes the parser's message (and with it the caller's
//! input). Here each becomes the broker's own refusal: the JSON error envelope
//! `{"error":{"code","message"}}` on API paths, the browser error page (with its CSP and
//! companions) on browser paths, both through the one status table in `errors.rs` and with a
//! message that never echoes the request (see `bad_input`).
//!
//! Every answer also carries `X-Content-Type-Options: nosniff`, and `Strict-Transport-Security`
//! when `server.public_url` is https (never on http: a browser would pin a host that cannot
//! answer over TLS). A request line actix cannot parse at all is refused by actix-http before any
//! of this runs (400, empty body).

use crate::error::ErrorKind;
use crate::http::errors::{error_response, RequestError};
use crate::http::handlers::bad_input::urlencoded_message;
use crate::http::handlers::sign_in::error_page;
use actix_web::error::{InternalError, JsonPayloadError, QueryPayloadError, UrlencodedError};
use actix_web::http::header;
use actix_web::middleware::DefaultHeaders;
use actix_web::{web, HttpRequest, HttpResponse};

/// The HSTS value sent when `server.public_url` is https: one year, subdomains included.
pub const HSTS: &str = "max-age=31536000; includeSubDomains";

/// Browser routes: their refusals are the error page, not JSON.
const BROWSER_PATHS: [&str; 9] = [
    "/roles",
    "/device",
    "/oauth/authorize",
    "/console",
    "/logout",
    "/oidc/login",
    "/oidc/callback",
    "/saml/login",
    "/saml/acs",
];

/// Register the extractor error handlers and the answer for unmatched requests.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::QueryConfig::default().error_handler(|e, req| {
        let err = query_error(&e);
        InternalError::from_response(e, refuse(req, &err)).into()
    }))
    .app_data(web::FormConfig::default().error_handler(|e, req| {
        let err = form_error(&e);
        InternalError::from_response(e, refuse(req, &err)).into()
    }))
    .app_data(web::JsonConfig::default().error_handler(|e, req| {
        let err = json_error(&e);
        InternalError::from_response(e, refuse(req, &err)).into()
    }))
    .default_service(web::to(unmatched));
}

/// Whether `server.public_url` calls for HSTS.
pub fn hsts_for(public_url: &str) -> bool {
    public_url
        .get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
}

/// Headers added to every answer that does not set them itself, for a broker answering at
/// `public_url` (`server.public_url`); wrap the whole app in this.
pub fn every_answer_headers(public_url: &str) -> DefaultHeaders {
    let headers = DefaultHeaders::new().add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    if hsts_for(public_url) {
        headers.add((header::STRICT_TRANSPORT_SECURITY, HSTS))
    } else {
        headers
    }
}

/// The refusal for `req`: the browser error page on browser paths (and for a browser asking for
/// HTML anywhere outside `/v1/`), the JSON envelope otherwise.
pub fn refuse(req: &HttpRequest, err: &RequestError) -> HttpResponse {
    if wants_page(req) {
        error_page(err)
    } else {
        error_response(err)
    }
}

fn wants_page(req: &HttpRequest) -> bool {
    let path = req.path();
    if BROWSER_PATHS.contains(&path) {
        return true;
    }
    let html = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    html && !path.starts_with("/v1/") && !path.starts_with("/.well-known/")
}

/// An unknown path (404 `not_found`), or a known one with another method (405
/// `method_not_allowed`).
async fn unmatched(req: HttpRequest) -> HttpResponse {
    let err = if req.resource_map().has_resource(req.path()) {
        RequestError {
            kind: ErrorKind::MethodNotAllowed,
            code: "method_not_allowed",
            message: "this route does not accept this HTTP method (the routes and their methods \
                      are listed in the README)"
                .into(),
        }
    } else {
        RequestError {
            kind: ErrorKind::NotFound,
            code: "not_found",
            message: "there is no such route (the routes are listed in the README)".into(),
        }
    };
    refuse(&req, &err)
}

fn too_large(limit: usize) -> RequestError {
    RequestError {
        kind: ErrorKind::TooLarge,
        code: "request_too_large",
        message: format!("the request body exceeds {limit} bytes"),
    }
}

fn query_error(e: &QueryPayloadError) -> RequestError {
    let message = match e {
        QueryPayloadError::Deserialize(inner) => urlencoded_message("query string", inner, &[]),
        _ => "the query string is not valid".to_owned(),
    };
    RequestError::bad("bad_query", message)
}

fn form_error(e: &UrlencodedError) -> RequestError {
    match e {
        UrlencodedError::Overflow { limit, .. } => too_large(*limit),
        UrlencodedError::ContentType => RequestError::bad(
            "unsupported_media_type",
            "send the form as application/x-www-form-urlencoded",
        ),
        UrlencodedError::Parse(inner) => {
            RequestError::bad("bad_form", urlencoded_message("form body", inner, &[]))
        }
        _ => RequestError::bad("bad_form", "the form body could not be read"),
    }
}

fn json_error(e: &JsonPayloadError) -> RequestError {
    match e {
        JsonPayloadError::OverflowKnownLength { limit, .. }
        | JsonPayloadError::Overflow { limit } => too_large(*limit),
        JsonPayloadError::ContentType => RequestError::bad(
            "unsupported_media_type",
            "send the body as application/json",
        ),
        JsonPayloadError::Deserialize(inner) => RequestError::bad(
            "bad_json",
            crate::http::handlers::bad_input::json_message(inner, &[]),
        ),
        _ => RequestError::bad("bad_json", "the JSON body could not be read"),
    }
}
