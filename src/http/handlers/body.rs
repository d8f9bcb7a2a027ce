//! Request bodies: bounded reading, the strict form parser and small JSON helpers shared by the
//! credential and explain handlers.

use crate::error::ErrorKind;
use crate::http::connections::BodyDeadline;
use crate::http::errors::RequestError;
use actix_web::{web, HttpRequest};
use futures_util::StreamExt;

/// [`read_body`], then `parse` it: the one way handlers turn a request body into their input.
pub async fn read_parsed<T>(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
    parse: impl FnOnce(&HttpRequest, &[u8]) -> Result<T, RequestError>,
) -> Result<T, RequestError> {
    let body = read_body(payload, limit).await?;
    parse(req, &body)
}

/// Read the body, refusing more than `limit` bytes without buffering them. A body that does not
/// arrive within the server's body deadline (the `connections::body_deadline` middleware) is 408
/// `request_timeout`.
pub async fn read_body(mut payload: web::Payload, limit: usize) -> Result<Vec<u8>, RequestError> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| match BodyDeadline::of(&e) {
            // Cut off by the body deadline (`connections::body_deadline`): a slow or stalled
            // client.
            Some(d) => RequestError {
                kind: ErrorKind::Timeout,
                code: "request_timeout",
                message: format!("{d}; send the whole body at once (server.body_timeout_secs)"),
            },
            None => RequestError::bad(
                "bad_request_body",
                format!("could not read the request body: {e}"),
            ),
        })?;
        if body.len() + chunk.len() > limit {
            return Err(RequestError {
                kind: ErrorKind::TooLarge,
                code: "request_too_large",
                message: format!("the request body exceeds {limit} bytes"),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[derive(serde::Deserialize)]
#[serde(untagged)]
pub enum NumberOrString {
    Number(serde_json::Number),
    String(String),
}

/// In the OpenAPI document: a JSON number or a string (the checked parsers decide what is valid).
impl utoipa::PartialSchema for NumberOrString {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Number))
            .item(ObjectBuilder::new().schema_type(Type::String))
            .description(Some("Seconds, as a JSON number or a string"))
            .into()
    }
}

impl utoipa::ToSchema for NumberOrString {}

impl NumberOrString {
    /// The value as text, for the checked parsers (`SessionDuration::parse`).
    pub fn into_string(self) -> String {
        match self {
            Self::Number(n) => n.to_string(),
            Self::String(s) => s,
        }
    }
}

/// A JSON body as `T`, or `T::default()` when the body is empty (all whitespace). A body that does
/// not parse is 400 `bad_json`: what kind of problem, where, `T`'s fields and `expected` — never
/// serde_json's own message, which quotes the caller's field names and values.
pub fn json_or_default<T: serde::de::DeserializeOwned + Default>(
    body: &[u8],
    expected: &str,
) -> Result<T, RequestError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| bad_json::<T>(&e, expected))
}

/// 400 `bad_json` for a body that did not parse as `T` (see `bad_input`): nothing of the body
/// is quoted.
pub fn bad_json<'de, T: serde::Deserialize<'de>>(
    e: &serde_json::Error,
    expected: &str,
) -> RequestError {
    RequestError::bad(
        "bad_json",
        format!(
            "{}; expected {expected}",
            crate::http::handlers::bad_input::json_message(
                e,
                crate::http::handlers::bad_input::fields_of::<T>()
            )
        ),
    )
}

/// The request's media type, lowercased, without parameters (`""` when absent).
pub fn content_type(req: &HttpRequest) -> String {
    req.headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// Parse an `application/x-www-form-urlencoded` body strictly: every name must be one of
/// `allowed`, exactly (unencoded), and appear at most once. Returns (name, decoded value). The
/// refusal names the accepted fields, never the one that was sent.
pub fn parse_strict_form<'a>(
    body: &[u8],
    allowed: &[&'a str],
) -> Result<Vec<(&'a str, String)>, RequestError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| RequestError::bad("bad_form", "the form body is not UTF-8"))?;
    let mut out: Vec<(&'a str, String)> = Vec::new();
    for part in text.split('&').filter(|p| !p.is_empty()) {
        let (raw_name, raw_value) = part.split_once('=').unwrap_or((part, ""));
        let Some(name) = allowed.iter().copied().find(|f| *f == raw_name) else {
            return Err(RequestError::bad(
                "bad_form",
                format!(
                    "the form has a field that is not accepted: send only {} (names unencoded)",
                    allowed.join(", ")
                ),
            ));
        };
        if out.iter().any(|(n, _)| *n == name) {
            return Err(RequestError::bad(
                "bad_form",
                format!("form field {name} appears more than once"),
            ));
        }
        let value = decode_form_value(raw_value).ok_or_else(|| {
            RequestError::bad(
                "bad_form",
                format!("form field {name} is not valid URL encoding"),
            )
        })?;
        out.push((name, value));
    }
    Ok(out)
}

fn decode_form_value(raw: &str) -> Option<String> {
    let plus = raw.replace('+', " ");
    let bytes = plus.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let s = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(s, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}
