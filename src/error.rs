//! How a caller should react to an error, shared by every module's error enum.
//!
//! Each module has its own `thiserror` enum; each implements [`ApiError`] to say which
//! [`ErrorKind`] it is and which stable snake_case code it carries. The single table that turns a
//! kind into an HTTP status lives in `http/errors.rs`. Messages must never contain a token,
//! assertion, credential or sign-in URL.

/// What the caller should do; one HTTP status per kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request is malformed: fix it (400).
    BadRequest,
    /// The identity could not be verified (401).
    Unauthenticated,
    /// Verified, but not allowed: no such role, or AWS refused (403).
    Forbidden,
    /// No such route (404).
    NotFound,
    /// The route exists, but not with this HTTP method (405).
    MethodNotAllowed,
    /// Several roles match: choose one (409).
    Conflict,
    /// The request body or message is too large (413).
    TooLarge,
    /// The request body did not arrive in time (408).
    Timeout,
    /// Slow down (429).
    Throttled,
    /// An upstream (STS, IdP) failed: retry later (502).
    BadGateway,
    /// A dependency (Redis, STS) is unavailable: retry later (503).
    Unavailable,
    /// A bug or misconfiguration on our side (500).
    Internal,
}

/// Implemented by every module error that can reach an HTTP caller.
pub trait ApiError: std::error::Error {
    fn kind(&self) -> ErrorKind;
    /// Stable, snake_case, documented in README.
    fn code(&self) -> &'static str;
    /// Seconds to suggest in `Retry-After` for 429/502/503.
    fn retry_after(&self) -> Option<u64> {
        None
    }
    /// Extra JSON detail (for instance the list of roles on a 409).
    fn detail(&self) -> Option<serde_json::Value> {
        None
    }
}
