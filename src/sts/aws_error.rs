//! AWS and SDK errors → [`StsError`], and the scrubbing of every message kept from them.
//!
//! Invariants: every error is mapped by AWS error code to the variant that says how the caller
//! reacts ([`classify`]; the HTTP status decides only for unknown codes); every message kept from
//! AWS or the SDK passes [`scrub`], which removes the assertion or token, anything that looks like
//! a chunk of one, and bounds the length, so a secret never reaches an error, a log or a response.

use super::{StsError, OPERATION_TIMEOUT};
use aws_sdk_sts::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

/// Longest AWS/SDK message kept in an [`StsError`]; AWS messages are one sentence, and a longer one
/// may be echoing request data.
pub const MAX_MESSAGE_CHARS: usize = 512;
/// Runs of base64 characters at least this long are redacted from messages: AWS validation errors
/// echo parameter values (`Value '…' at 'SAMLAssertion' failed to satisfy constraint`), and no
/// legitimate message part (ARN, code, request ID) is that long without a `:`/`-` break.
pub const REDACT_BASE64_RUN: usize = 40;
/// Runs of base64url/JWT characters (`A-Za-z0-9-_.`) starting with `eyJ` (base64url of `{"`, the
/// start of every JWS header and JSON payload) at least this long are redacted from messages: a
/// truncated echo of a web-identity token is broken by `-`/`_` into runs the base64 rule misses.
pub const REDACT_JWT_RUN: usize = 16;

/// Map any SDK error to an [`StsError`], scrubbing `assertion` (the SAML assertion or web-identity
/// token) out of every message.
pub(crate) fn map_sdk_error<E>(err: &SdkError<E, HttpResponse>, assertion: &str) -> StsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        SdkError::ServiceError(ctx) => {
            let status = Some(ctx.raw().status().as_u16());
            let message = ctx.err().message().unwrap_or("").to_owned();
            classify(ctx.err().code(), status, &scrub(&message, assertion))
        }
        SdkError::TimeoutError(_) => {
            StsError::Unavailable(format!("no answer within {OPERATION_TIMEOUT:?}"))
        }
        SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            StsError::Unavailable(scrub(&DisplayErrorContext(err).to_string(), assertion))
        }
        // Includes SdkError::ConstructionFailure: the request could not be built at all.
        _ => StsError::InvalidRequest {
            aws_code: "RequestConstruction".into(),
            message: scrub(&DisplayErrorContext(err).to_string(), assertion),
        },
    }
}

/// The AWS error code → variant table. `status` decides only for codes not in the table.
pub fn classify(code: Option<&str>, status: Option<u16>, message: &str) -> StsError {
    let aws = |code: &str| (code.to_owned(), message.to_owned());
    match code {
        Some(
            c @ ("InvalidIdentityToken"
            | "ExpiredTokenException"
            | "ExpiredToken"
            | "IDPRejectedClaim"),
        ) => {
            let (aws_code, message) = aws(c);
            StsError::IdentityRejected { aws_code, message }
        }
        Some(
            c @ ("AccessDenied"
            | "AccessDeniedException"
            | "RegionDisabledException"
            | "NotAuthorized"
            | "OptInRequired"),
        ) => {
            let (aws_code, message) = aws(c);
            StsError::Refused { aws_code, message }
        }
        Some(
            c @ ("ValidationError"
            | "MalformedPolicyDocument"
            | "PackedPolicyTooLarge"
            | "InvalidParameterValue"
            | "InvalidParameterCombination"
            | "MissingParameter"
            | "InvalidQueryParameter"
            | "MalformedQueryString"
            | "InvalidAction"),
        ) => {
            let (aws_code, message) = aws(c);
            StsError::InvalidRequest { aws_code, message }
        }
        Some("Throttling" | "ThrottlingException" | "RequestLimitExceeded") => StsError::Throttled,
        Some("IDPCommunicationError") => StsError::IdpUnreachable,
        Some(c @ ("InternalFailure" | "InternalError" | "ServiceUnavailable")) => {
            StsError::Unavailable(format!("{c}: {message}"))
        }
        other => {
            let c = other.unwrap_or("unknown");
            match status {
                Some(429) => StsError::Throttled,
                Some(s) if s >= 500 => StsError::Unavailable(format!("HTTP {s} ({c}): {message}")),
                // An unknown client error: AWS said no; never retried.
                _ => StsError::Refused {
                    aws_code: c.to_owned(),
                    message: message.to_owned(),
                },
            }
        }
    }
}

/// Remove the assertion or token (and anything that looks like a chunk of one) from `message`, and
/// bound its length.
pub fn scrub(message: &str, assertion: &str) -> String {
    let mut text = if assertion.len() >= 8 {
        message.replace(assertion, "[redacted]")
    } else {
        message.to_owned()
    };
    text = redact_jwt_runs(&text);
    text = redact_base64_runs(&text);
    if text.chars().count() > MAX_MESSAGE_CHARS {
        text = text.chars().take(MAX_MESSAGE_CHARS).collect::<String>() + "…";
    }
    text
}

fn redact_jwt_runs(text: &str) -> String {
    redact_runs(
        text,
        |c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'),
        |run| run.starts_with("eyJ") && run.len() >= REDACT_JWT_RUN,
    )
}

fn redact_base64_runs(text: &str) -> String {
    redact_runs(
        text,
        |c| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '='),
        |run| run.chars().count() >= REDACT_BASE64_RUN,
    )
}

/// Replace every maximal run of `in_run` characters for which `secret` holds by `[redacted]`.
fn redact_runs(text: &str, in_run: impl Fn(char) -> bool, secret: impl Fn(&str) -> bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if secret(run) {
            out.push_str("[redacted]");
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if in_run(c) {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_how_the_caller_reacts() {
        let c = |code| classify(Some(code), Some(400), "msg");
        for code in [
            "InvalidIdentityToken",
            "ExpiredTokenException",
            "ExpiredToken",
            "IDPRejectedClaim",
        ] {
            assert!(
                matches!(c(code), StsError::IdentityRejected { .. }),
                "{code}"
            );
        }
        for code in ["AccessDenied", "RegionDisabledException"] {
            assert!(matches!(c(code), StsError::Refused { .. }), "{code}");
        }
        for code in [
            "ValidationError",
            "MalformedPolicyDocument",
            "PackedPolicyTooLarge",
        ] {
            assert!(matches!(c(code), StsError::InvalidRequest { .. }), "{code}");
        }
        for code in ["Throttling", "ThrottlingException", "RequestLimitExceeded"] {
            assert!(matches!(c(code), StsError::Throttled), "{code}");
        }
        assert!(matches!(
            c("IDPCommunicationError"),
            StsError::IdpUnreachable
        ));
        assert!(matches!(
            classify(Some("InternalFailure"), Some(500), "x"),
            StsError::Unavailable(_)
        ));
        // Unknown codes: by status.
        assert!(matches!(
            classify(Some("Weird"), Some(503), "x"),
            StsError::Unavailable(_)
        ));
        assert!(matches!(
            classify(None, Some(429), "x"),
            StsError::Throttled
        ));
        assert!(matches!(
            classify(Some("Weird"), Some(400), "x"),
            StsError::Refused { .. }
        ));
        // AWS's message and code are kept.
        match c("AccessDenied") {
            StsError::Refused { aws_code, message } => {
                assert_eq!(aws_code, "AccessDenied");
                assert_eq!(message, "msg");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn scrub_removes_the_assertion_and_long_base64() {
        let assertion = "PHNhbWxwOlJlc3BvbnNlIHhtbG5zOnNhbWxwPSJ1cm46b2FzaXM6bmFtZXM6dGM6U0FNTDoyLjA6cHJvdG9jb2wiPg==";
        let msg =
            format!("1 validation error detected: Value '{assertion}' at 'SAMLAssertion' failed");
        let out = scrub(&msg, assertion);
        assert!(!out.contains(&assertion[..20]), "{out}");
        assert!(out.contains("at 'SAMLAssertion' failed"));
        // A truncated echo is caught by the base64-run rule.
        let partial = format!("Value '{}...' is too long", &assertion[..60]);
        assert!(!scrub(&partial, assertion).contains(&assertion[..20]));
        // Ordinary messages pass unchanged.
        let arn = "Not authorized to perform sts:AssumeRoleWithSAML on arn:aws:iam::123456789012:role/Admin-Role";
        assert_eq!(scrub(arn, assertion), arn);
        // Length is bounded.
        assert!(scrub(&"word ".repeat(1000), assertion).chars().count() <= MAX_MESSAGE_CHARS + 1);
    }

    #[test]
    fn scrub_removes_a_web_identity_token_even_truncated() {
        // Header and payload of a JWT whose base64url is full of `-`/`_` (short base64 runs).
        let token = "eyJhbGciOiJSUzI1NiIsImtpZCI6Ims_Pj8-fn5-Pz4ifQ.eyJzdWIiOiJyZXBvOm8vcj8-Pz5-fn5-Pz4_PiIsImF1ZCI6InN0cy5hbWF6b25hd3MuY29tIn0.c2ln-_-_bmF0dXJl";
        let full = format!("Value '{token}' at 'webIdentityToken' failed");
        let out = scrub(&full, token);
        assert!(!out.contains(&token[..12]), "{out}");
        assert!(out.contains("at 'webIdentityToken' failed"), "{out}");
        let truncated = format!("Value '{}...' at 'webIdentityToken' failed", &token[..70]);
        let out = scrub(&truncated, token);
        assert!(!out.contains(&token[..12]), "{out}");
        assert!(!out.contains("eyJzdWIi"), "{out}");
        // A message merely mentioning a short `eyJ` word is kept.
        assert_eq!(
            scrub("eyJ is base64 for {\"", token),
            "eyJ is base64 for {\""
        );
    }
}
