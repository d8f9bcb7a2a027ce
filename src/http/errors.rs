//! The one table from error kind to HTTP status, and the JSON error body.
//!
//! Body: `{"error":{"code":"stable_snake_case","message":"what was wrong and what to do", ...}}`.
//! Errors are logged here, once, with their code — never with the request's secrets.
//!
//! A 500 (`ErrorKind::Internal`: a misconfiguration or a failure inside the broker) tells the
//! client only its code and a fixed message with the request id ([`client_message`]): the error's
//! own text can name files, upstream error messages or internal state, so it goes to the log line
//! (which carries the same request id), never into the answer.

use crate::error::{ApiError, ErrorKind};
use actix_web::http::{header, StatusCode};
use actix_web::HttpResponse;

/// The HTTP status for each kind of error. This is the only such table.
pub fn status_for(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::BadRequest => StatusCode::BAD_REQUEST,
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::Timeout => StatusCode::REQUEST_TIMEOUT,
        ErrorKind::Throttled => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::BadGateway => StatusCode::BAD_GATEWAY,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// What the client is told about `err`: its own message, except for a 500, whose message is fixed
/// and names the request id under which the log has the detail.
pub fn client_message(err: &dyn ApiError) -> String {
    if err.kind() != ErrorKind::Internal {
        return err.to_string();
    }
    match crate::http::middleware::request_id::current() {
        Some(id) => format!(
            "internal error: the broker could not complete this request; its log has the cause \
             under request id {id}"
        ),
        None => "internal error: the broker could not complete this request; its log has the \
                 cause"
            .to_owned(),
    }
}

/// Log `err` once, with its full message (a 500's detail lives only here).
pub fn log_error(err: &dyn ApiError, status: StatusCode) {
    if status.is_server_error() {
        tracing::error!(error.code = err.code(), error.message = %err, "request failed");
    } else {
        tracing::warn!(error.code = err.code(), error.message = %err, "request refused");
    }
}

/// Build the error response (and log it once).
pub fn error_response(err: &dyn ApiError) -> HttpResponse {
    let status = status_for(err.kind());
    log_error(err, status);
    let mut body = serde_json::json!({ "code": err.code(), "message": client_message(err) });
    if let (Some(serde_json::Value::Object(extra)), Some(obj)) =
        (err.detail(), body.as_object_mut())
    {
        for (k, v) in extra {
            obj.insert(k, v);
        }
    }
    let mut resp = HttpResponse::build(status);
    resp.insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"));
    if let Some(secs) = err.retry_after() {
        resp.insert_header((header::RETRY_AFTER, secs.to_string()));
    }
    resp.json(serde_json::json!({ "error": body }))
}

/// A request-level problem found by a handler before any exchange (bad form, wrong content type).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct RequestError {
    pub kind: ErrorKind,
    pub code: &'static str,
    pub message: String,
}

impl RequestError {
    pub fn bad(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::BadRequest,
            code,
            message: message.into(),
        }
    }
}

impl ApiError for RequestError {
    fn kind(&self) -> ErrorKind {
        self.kind
    }
    fn code(&self) -> &'static str {
        self.code
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_contract() {
        assert_eq!(status_for(ErrorKind::BadRequest), 400);
        assert_eq!(status_for(ErrorKind::Unauthenticated), 401);
        assert_eq!(status_for(ErrorKind::Forbidden), 403);
        assert_eq!(status_for(ErrorKind::NotFound), 404);
        assert_eq!(status_for(ErrorKind::MethodNotAllowed), 405);
        assert_eq!(status_for(ErrorKind::Conflict), 409);
        assert_eq!(status_for(ErrorKind::TooLarge), 413);
        assert_eq!(status_for(ErrorKind::Timeout), 408);
        assert_eq!(status_for(ErrorKind::Throttled), 429);
        assert_eq!(status_for(ErrorKind::BadGateway), 502);
        assert_eq!(status_for(ErrorKind::Unavailable), 503);
    }

    /// A 500 whose error text names a file and an internal failure, answered through the request-id
    /// middleware as JSON (API) and as the browser error page.
    #[actix_web::test]
    async fn internal_error_does_not_leak_detail_to_client() {
        use actix_web::{middleware::from_fn, test, web, App};
        const DETAIL: &str = "validation task failed: panicked at /srv/fedbroker/secret-key.pem";
        let failure = || crate::exchange::ExchangeError::Internal(DETAIL.into());
        let app = test::init_service(
            App::new()
                .wrap(from_fn(crate::http::middleware::request_id::middleware))
                .route(
                    "/api",
                    web::get().to(move || async move { error_response(&failure()) }),
                )
                .route(
                    "/page",
                    web::get().to(move || async move {
                        crate::http::handlers::sign_in::error_page(&failure())
                    }),
                ),
        )
        .await;
        for path in ["/api", "/page"] {
            let req = test::TestRequest::get()
                .uri(path)
                .insert_header(("x-request-id", "req-4711"))
                .to_request();
            let resp = test::call_service(&app, req).await;
            assert_eq!(resp.status(), 500, "{path}");
            let body = String::from_utf8(test::read_body(resp).await.to_vec()).unwrap();
            assert!(!body.contains("secret-key.pem"), "{path}: {body}");
            assert!(!body.contains("validation task failed"), "{path}: {body}");
            assert!(body.contains("internal_error"), "{path}: {body}");
            assert!(body.contains("req-4711"), "{path}: the request id: {body}");
        }
    }
}
