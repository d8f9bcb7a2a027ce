//! Request bodies: bounded reading and small JSON helpers shared by the credential handlers.

use super::errors::RequestError;
use crate::error::ErrorKind;
use actix_web::web;
use futures_util::StreamExt;

/// Read the body, refusing more than `limit` bytes without buffering them.
pub async fn read_body(mut payload: web::Payload, limit: usize) -> Result<Vec<u8>, RequestError> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| {
            RequestError::bad(
                "bad_request_body",
                format!("could not read the request body: {e}"),
            )
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

impl NumberOrString {
    /// The value as text, for the checked parsers (`SessionDuration::parse`).
    pub fn into_string(self) -> String {
        match self {
            Self::Number(n) => n.to_string(),
            Self::String(s) => s,
        }
    }
}
