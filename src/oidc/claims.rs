//! Claim checks on a verified payload, with the injected clock (docs/SECURITY.md J07-J12, J20).
//!
//! Invariants: `iss` is one JSON string equal to the provider's issuer byte for byte; `aud` is a
//! string or a non-empty array of strings, every one of them a configured audience (a token minted
//! for several relying parties could be replayed by any of them); `exp` is required, `exp`/`nbf`/
//! `iat` are JSON integers in 0..=[`MAX_TIMESTAMP`] (strings, floats, negatives refused:
//! CVE-2026-25537); times are compared with [`LEEWAY`]; `sub` is a non-empty string; interactive
//! ID tokens (`nonce`, `at_hash`, `c_hash`) and logout tokens (`events`) are refused here.

use super::OidcError;
use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value};

/// Clock leeway on exp/nbf/iat. 60 s is jsonwebtoken's default and covers NTP-synced IdPs while
/// keeping expired tokens usable for at most a minute (docs/SECURITY.md J07: "small leeway").
pub const LEEWAY: Duration = Duration::seconds(60);

/// Longest accepted token lifetime (`exp - iat`, or `exp - now` without `iat`). EKS and Kubernetes
/// projected tokens default to at most 24 h; longer lifetimes only widen the replay window.
pub const MAX_TOKEN_LIFETIME: Duration = Duration::hours(24);

/// Largest accepted NumericDate: 9999-12-31T23:59:59Z (what chrono and AWS can represent).
pub const MAX_TIMESTAMP: i64 = 253_402_300_799;

/// Longest accepted `sub` / `jti`.
pub const MAX_SUB_LEN: usize = 1024;

/// The claims the rest of the validator needs.
#[derive(Debug)]
pub struct CheckedClaims {
    pub issuer: String,
    pub subject: String,
    pub expires_at: DateTime<Utc>,
    pub jti: Option<String>,
}

fn numeric(claims: &Map<String, Value>, name: &str) -> Result<Option<DateTime<Utc>>, OidcError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .filter(|v| (0..=MAX_TIMESTAMP).contains(v))
            .and_then(|v| DateTime::from_timestamp(v, 0))
            .map(Some)
            .ok_or_else(|| {
                OidcError::ClaimInvalid(format!(
                    "{name} must be an integer number of seconds between 0 and {MAX_TIMESTAMP}"
                ))
            }),
        Some(_) => Err(OidcError::ClaimInvalid(format!(
            "{name} must be a JSON number (seconds since the epoch), not a string or other type"
        ))),
    }
}

/// Check every standard claim against the provider and `now`.
pub fn check(
    claims: &Map<String, Value>,
    issuer: &str,
    audiences: &[String],
    now: DateTime<Utc>,
) -> Result<CheckedClaims, OidcError> {
    match claims.get("iss") {
        Some(Value::String(s)) if s == issuer => {}
        Some(Value::String(_)) => {
            return Err(OidcError::IssuerMismatch(format!(
                "iss does not exactly equal the configured issuer {issuer}"
            )))
        }
        _ => {
            return Err(OidcError::IssuerMismatch(
                "iss must be a single JSON string".into(),
            ))
        }
    }
    check_audience(claims.get("aud"), audiences)?;

    let exp =
        numeric(claims, "exp")?.ok_or_else(|| OidcError::ClaimInvalid("exp is required".into()))?;
    let nbf = numeric(claims, "nbf")?;
    let iat = numeric(claims, "iat")?;
    if now >= exp + LEEWAY {
        return Err(OidcError::Expired);
    }
    if nbf.is_some_and(|nbf| nbf > now + LEEWAY) {
        return Err(OidcError::NotYetValid);
    }
    if iat.is_some_and(|iat| iat > now + LEEWAY) {
        return Err(OidcError::IssuedInFuture);
    }
    let lifetime = exp - iat.unwrap_or(now);
    if lifetime
        > MAX_TOKEN_LIFETIME
            + if iat.is_some() {
                Duration::zero()
            } else {
                LEEWAY
            }
    {
        return Err(OidcError::ClaimInvalid(format!(
            "token lifetime exceeds {} hours; issue shorter-lived tokens",
            MAX_TOKEN_LIFETIME.num_hours()
        )));
    }

    let subject = match claims.get("sub") {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_SUB_LEN => s.clone(),
        Some(Value::String(s)) if !s.is_empty() => {
            return Err(OidcError::ClaimInvalid(format!(
                "sub is longer than {MAX_SUB_LEN} bytes"
            )))
        }
        _ => return Err(OidcError::SubjectMissing),
    };

    for claim in ["nonce", "at_hash", "c_hash"] {
        if claims.contains_key(claim) {
            return Err(OidcError::InteractiveToken { claim });
        }
    }
    if claims.contains_key("events") {
        return Err(OidcError::TokenTypeForbidden(
            "the token carries events (a logout or security-event token); send an ID or access token".into(),
        ));
    }

    let jti = match claims.get("jti") {
        None => None,
        Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_SUB_LEN => Some(s.clone()),
        Some(_) => {
            return Err(OidcError::ClaimInvalid(format!(
                "jti must be a non-empty string of at most {MAX_SUB_LEN} bytes"
            )))
        }
    };

    Ok(CheckedClaims {
        issuer: issuer.to_owned(),
        subject,
        expires_at: exp,
        jti,
    })
}

fn check_audience(aud: Option<&Value>, audiences: &[String]) -> Result<(), OidcError> {
    let values: Vec<&str> =
        match aud {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(a)) if !a.is_empty() => a
                .iter()
                .map(|v| v.as_str())
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    OidcError::AudienceMismatch("aud array must hold only strings".into())
                })?,
            None => return Err(OidcError::AudienceMismatch(
                "the token has no aud claim; request a token for one of the configured audiences"
                    .into(),
            )),
            Some(_) => {
                return Err(OidcError::AudienceMismatch(
                    "aud must be a string or a non-empty array of strings".into(),
                ))
            }
        };
    if let Some(bad) = values.iter().find(|v| !audiences.iter().any(|a| a == *v)) {
        let _ = bad;
        return Err(OidcError::AudienceMismatch(
            "aud names an audience that is not configured for this provider; request a token for the configured audience only".into(),
        ));
    }
    Ok(())
}

/// Every string or array-of-strings claim, by name (objects, numbers and booleans are left out).
pub fn attributes(claims: &Map<String, Value>) -> std::collections::BTreeMap<String, Vec<String>> {
    claims
        .iter()
        .filter_map(|(k, v)| {
            let vals = match v {
                Value::String(s) => vec![s.clone()],
                Value::Array(a) => a
                    .iter()
                    .map(|x| x.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()?,
                _ => return None,
            };
            Some((k.clone(), vals))
        })
        .collect()
}
