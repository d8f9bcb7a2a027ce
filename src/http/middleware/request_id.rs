//! Request ids: reuse a well-formed incoming `x-request-id` (1 to 64 characters of
//! `[A-Za-z0-9._-]`), else mint a UUID; echo it in the response and put it on the tracing span of
//! the request, with the client's address (`client_addr`) and one access-log line per request. An
//! id outside that form (too long, spaces, control characters, quotes, non-ASCII) is replaced,
//! never truncated or escaped, so what reaches logs, audit lines and the response header is always
//! the bounded safe form.
//!
//! The id is also available to everything the request runs ([`current`]), so an answer can name it
//! (a 500 says only its code and this id: `errors`).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use tracing::Instrument;

pub const REQUEST_ID_HEADER: &str = "x-request-id";
/// Longest incoming request id we keep (longer ones are replaced, not truncated).
pub const MAX_REQUEST_ID_LEN: usize = 64;

tokio::task_local! {
    /// The id of the request being served (set by [`middleware`] around the rest of the chain).
    static REQUEST_ID: String;
}

/// The id of the request being served; `None` outside the request-id middleware (e.g. a test that
/// mounts the routes without it).
pub fn current() -> Option<String> {
    REQUEST_ID.try_with(String::clone).ok()
}

fn well_formed(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| well_formed(v))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    // The client address is computed here, once, for everything the request goes on to do
    // (rate limit, audit, pending logins): `client_addr`.
    let client = crate::http::middleware::client_addr::service_client_ip(&req);
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %req.method(),
        path = %req.path(),
        client_ip = tracing::field::Empty,
    );
    if let Some(ip) = client {
        span.record("client_ip", tracing::field::display(ip));
    }
    let started = crate::clock::Stopwatch::start();
    let result = REQUEST_ID
        .scope(id.clone(), next.call(req))
        .instrument(span.clone())
        .await;
    let _enter = span.enter();
    match result {
        Ok(mut res) => {
            tracing::info!(
                status = res.status().as_u16(),
                latency_ms = started.elapsed().as_millis() as u64,
                "request done"
            );
            if let Ok(v) = HeaderValue::from_str(&id) {
                res.headers_mut()
                    .insert(HeaderName::from_static(REQUEST_ID_HEADER), v);
            }
            Ok(res)
        }
        Err(e) => {
            tracing::warn!(
                latency_ms = started.elapsed().as_millis() as u64,
                "request error"
            );
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_safe_ids_are_reused() {
        assert!(super::well_formed("abc-123_x.y"));
        assert!(!super::well_formed("abc def"));
        assert!(!super::well_formed("a\nb"));
        assert!(super::well_formed(&"a".repeat(64)));
        assert!(!super::well_formed(&"a".repeat(65)));
        assert!(!super::well_formed(""));
    }
}
