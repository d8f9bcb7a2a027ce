//! The one table from error kind to HTTP status, and the JSON error body.
//!
//! Body: `{"error":{"code":"stable_snake_case","message":"what was wrong and what to do", ...}}`.
//! Errors are logged here, once, with their code — never with the request's secrets.

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

/// Build the error response (and log it once).
pub fn error_response(err: &dyn ApiError) -> HttpResponse {
    let status = status_for(err.kind());
    let message = err.to_string();
    if status.is_server_error() {
        tracing::error!(error.code = err.code(), error.message = %message, "request failed");
    } else {
        tracing::warn!(error.code = err.code(), error.message = %message, "request refused");
    }
    let mut body = serde_json::json!({ "code": err.code(), "message": message });
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
}
