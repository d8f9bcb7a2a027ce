//! Minting: a verified subject plus the mapped session tags and source identity in, a short-lived
//! compact JWS for AssumeRoleWithWebIdentity out (docs/AWS-RULES.md §3.5).
//!
//! Token: header `{alg, kid, typ: "JWT"}` of the active key; claims `iss`, `sub`, `aud`, `iat`,
//! `nbf` (= `iat`), `exp` (= `iat` + lifetime), `jti` (random UUID), `https://aws.amazon.com/tags`
//! = `{"principal_tags": {K: [V]}, "transitive_tag_keys": [K...]}` (each value a single-element
//! array, as AWS requires; omitted when there are no tags), `https://aws.amazon.com/source_identity`
//! (omitted when none). Time comes from the injected clock.
//!
//! Invariants: tags and source identity arrive as checked AWS newtypes, so a minted token always
//! passes the broker's own `oidc::aws_claims`; the token exists only as a `SecretString`.

use super::{Issuer, IssuerError};
use crate::aws::{SessionTags, SourceIdentity};
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde_json::{json, Map, Value};

pub use crate::oidc::aws_claims::{CLAIM_SOURCE_IDENTITY, CLAIM_TAGS};

/// Longest `sub` signed. The STS API reference bounds `SubjectFromWebIdentityToken` (the `sub`
/// STS echoes back) at 255 characters; a longer subject would be refused or truncated by AWS.
pub const MAX_SUBJECT_LEN: usize = 255;
/// Longest `aud` signed (IAM OIDC provider client IDs are at most 255 characters).
pub const MAX_AUDIENCE_LEN: usize = 255;

/// What to put in a token.
#[derive(Clone, Copy, Debug)]
pub struct MintRequest<'a> {
    /// The verified subject (`VerifiedIdentity::subject`).
    pub subject: &'a str,
    pub session_tags: &'a SessionTags,
    pub source_identity: Option<&'a SourceIdentity>,
    /// Overrides the configured `issuer.audience` for this token.
    pub audience: Option<&'a str>,
}

/// A minted token. `Debug` never shows the token.
#[derive(Clone, Debug)]
pub struct MintedToken {
    /// The compact JWS, for `AssumeRoleWithWebIdentityRequest::web_identity_token`.
    pub token: SecretString,
    pub jti: String,
    pub kid: String,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

fn check_text(what: &str, s: &str, max: usize) -> Result<(), String> {
    if s.is_empty() {
        return Err(format!("{what} is empty"));
    }
    if s.chars().count() > max {
        return Err(format!("{what} is longer than {max} characters"));
    }
    if s.chars().any(char::is_control) {
        return Err(format!("{what} contains control characters"));
    }
    Ok(())
}

/// The `https://aws.amazon.com/tags` claim value, or `None` when there are no tags.
pub fn tags_claim(tags: &SessionTags) -> Option<Value> {
    if tags.is_empty() {
        return None;
    }
    let principal: Map<String, Value> = tags
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), json!([v.as_str()])))
        .collect();
    let transitive: Vec<&str> = tags.transitive_keys().iter().map(|k| k.as_str()).collect();
    Some(json!({ "principal_tags": principal, "transitive_tag_keys": transitive }))
}

impl Issuer {
    /// Whether `subject` can be the `sub` of a minted token (checked before a cached call whose
    /// mint may run later).
    pub fn check_subject(&self, subject: &str) -> Result<(), IssuerError> {
        check_text("subject", subject, MAX_SUBJECT_LEN).map_err(IssuerError::InvalidSubject)
    }

    /// Mint a token signed by the active key, valid from now for the configured lifetime.
    pub fn mint(&self, req: MintRequest<'_>) -> Result<MintedToken, IssuerError> {
        check_text("subject", req.subject, MAX_SUBJECT_LEN).map_err(IssuerError::InvalidSubject)?;
        let audience = req.audience.unwrap_or(&self.audience);
        check_text("audience", audience, MAX_AUDIENCE_LEN).map_err(IssuerError::InvalidAudience)?;
        if audience.trim() != audience {
            return Err(IssuerError::InvalidAudience(
                "audience has surrounding whitespace".into(),
            ));
        }

        let issued_at = self.clock.now();
        let iat = issued_at.timestamp();
        let expires_at = issued_at + self.lifetime;
        let jti = uuid::Uuid::new_v4().to_string();
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(self.issuer_url));
        claims.insert("sub".into(), json!(req.subject));
        claims.insert("aud".into(), json!(audience));
        claims.insert("iat".into(), json!(iat));
        claims.insert("nbf".into(), json!(iat));
        claims.insert("exp".into(), json!(expires_at.timestamp()));
        claims.insert("jti".into(), json!(jti));
        if let Some(tags) = tags_claim(req.session_tags) {
            claims.insert(CLAIM_TAGS.into(), tags);
        }
        if let Some(si) = req.source_identity {
            claims.insert(CLAIM_SOURCE_IDENTITY.into(), json!(si.as_str()));
        }

        let key = self.keys.active();
        let mut header = jsonwebtoken::Header::new(key.alg().to_jsonwebtoken());
        header.kid = Some(key.kid().to_owned());
        header.typ = Some("JWT".into());
        let token = jsonwebtoken::encode(&header, &claims, key.encoding())
            .map_err(|e| IssuerError::Signing(e.to_string()))?;
        Ok(MintedToken {
            token: SecretString::from(token),
            jti,
            kid: key.kid().to_owned(),
            issued_at: DateTime::from_timestamp(iat, 0).unwrap_or(issued_at),
            expires_at: DateTime::from_timestamp(expires_at.timestamp(), 0).unwrap_or(expires_at),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::{TagKey, TagValue};

    #[test]
    fn tags_claim_is_the_documented_aws_shape() {
        assert_eq!(tags_claim(&SessionTags::default()), None);
        let kv = |k: &str, v: &str| (TagKey::parse(k).unwrap(), TagValue::parse(v).unwrap());
        let tags = SessionTags::new(
            vec![kv("Project", "Automation"), kv("CostCenter", "987654")],
            vec![TagKey::parse("Project").unwrap()],
        )
        .unwrap();
        let claim = tags_claim(&tags).unwrap();
        assert_eq!(
            claim,
            json!({"principal_tags": {"Project": ["Automation"], "CostCenter": ["987654"]},
                   "transitive_tag_keys": ["Project"]})
        );
        // and the broker's own reader accepts it back unchanged.
        let back =
            crate::oidc::aws_claims::aws_claims(json!({ CLAIM_TAGS: claim }).as_object().unwrap())
                .unwrap();
        assert_eq!(back.tags, tags);
    }
}
