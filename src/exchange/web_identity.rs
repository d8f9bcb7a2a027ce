//! Web identity: a workload's JWT → AssumeRoleWithWebIdentity → credentials.
//!
//! Same ordering rule as SAML: caller-fixable input is checked first, the token ID is consumed in
//! the replay store immediately before the one STS call. The session name is the caller's, or is
//! derived from `sub` by [`derive_session_name`]: deterministic (never random) and collision-free
//! (never a bare truncation).

use super::{
    bad, issued, parse_duration, parse_role_arn, revocation_labels, role_arn_required, Exchange,
    ExchangeError, IssuedCredentials,
};
use crate::aws::RoleSessionName;
use crate::identity::VerifiedIdentity;
use crate::mapping::Grant;
use crate::oidc::claims::LEEWAY;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

/// A caller's request for credentials from a web-identity token (fields unverified).
#[derive(Debug)]
pub struct WebIdentityRequest {
    pub token: SecretString,
    pub role_arn: Option<String>,
    pub duration_seconds: Option<String>,
    pub session_name: Option<String>,
}

/// Whether a token may be presented again before it expires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TokenUse {
    /// `/v1/web-identity/credentials`: each token is exchanged once (replay protection).
    OneTime,
    /// `/v1/container-credentials`: the SDKs re-send the same token on every refresh.
    Reusable,
}

/// Characters of a sanitised subject kept before the hash suffix (47 + '.' + 16 hex = 64).
const DERIVED_PREFIX_LEN: usize = 47;
/// Hex characters of SHA-256(issuer, subject) appended when `sub` had to be changed.
const DERIVED_HASH_LEN: usize = 16;

/// The session name for a subject: `sub` itself when it already matches AWS's
/// `[a-zA-Z_0-9+=,.@-]{2,64}`; otherwise its allowed characters (others become `-`), cut to 47,
/// then `.` and 16 hex of SHA-256(issuer NUL subject), so distinct subjects never collide.
pub fn derive_session_name(issuer: &str, subject: &str) -> RoleSessionName {
    if let Ok(name) = RoleSessionName::parse(subject) {
        return name;
    }
    let sanitised: String = subject
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '=' | ',' | '.' | '@' | '-') {
                c
            } else {
                '-'
            }
        })
        .take(DERIVED_PREFIX_LEN)
        .collect();
    let mut h = Sha256::new();
    h.update(issuer.as_bytes());
    h.update([0u8]);
    h.update(subject.as_bytes());
    let digest = hex::encode(h.finalize());
    let name = format!("{sanitised}.{}", &digest[..DERIVED_HASH_LEN]);
    RoleSessionName::parse(&name).unwrap_or_else(|_| {
        // Unreachable by construction (charset and length are guaranteed); keep a valid fallback.
        RoleSessionName::parse(&format!("s.{}", &digest[..DERIVED_HASH_LEN]))
            .expect("hex session name is valid")
    })
}

pub(super) fn parse_session_name(
    raw: Option<&str>,
) -> Result<Option<RoleSessionName>, ExchangeError> {
    raw.map(RoleSessionName::parse)
        .transpose()
        .map_err(|e| bad("invalid_session_name", e.to_string()))
}

/// The rule's session name wins (it is the operator's audit trail), then the caller's, then one
/// derived from the subject.
pub(crate) fn web_identity_session_name(
    identity: &VerifiedIdentity,
    grant: &Grant,
    requested: Option<RoleSessionName>,
) -> RoleSessionName {
    grant
        .session_name
        .clone()
        .or(requested)
        .unwrap_or_else(|| derive_session_name(identity.issuer(), identity.subject()))
}

impl Exchange {
    /// Web-identity token → temporary credentials through AssumeRoleWithWebIdentity.
    pub async fn web_identity_credentials(
        &self,
        req: WebIdentityRequest,
    ) -> Result<IssuedCredentials, ExchangeError> {
        self.web_identity(req, TokenUse::OneTime).await
    }

    /// The container-credentials endpoint: the AWS SDKs present the same workload token on every
    /// refresh (as with EKS Pod Identity), so a repeat is not a replay there; the token is still
    /// fully verified each time, and expires on its own `exp`.
    pub async fn container_credentials(
        &self,
        req: WebIdentityRequest,
    ) -> Result<IssuedCredentials, ExchangeError> {
        self.web_identity(req, TokenUse::Reusable).await
    }

    async fn web_identity(
        &self,
        req: WebIdentityRequest,
        token_use: TokenUse,
    ) -> Result<IssuedCredentials, ExchangeError> {
        let requested_role = parse_role_arn(req.role_arn.as_deref())?;
        let requested_duration = parse_duration(req.duration_seconds.as_deref())?;
        let requested_name = parse_session_name(req.session_name.as_deref())?;
        if self.rules.is_empty() && requested_role.is_none() {
            return Err(role_arn_required());
        }

        let identity = self.oidc.validate(req.token.expose_secret()).await?;
        let grant = self.select_grant(&identity, requested_role.as_ref())?;
        let duration = self.negotiate(&identity, grant.duration, requested_duration)?;
        let session_name = web_identity_session_name(&identity, &grant, requested_name);
        let labels = revocation_labels(&identity, &grant);
        // A one-time token is consumed between the block check and the cache read (see
        // `check_and_read`); a reusable one is not, so both take one store call.
        let checked = match token_use {
            TokenUse::OneTime => {
                self.check_not_revoked(&labels).await?;
                None
            }
            TokenUse::Reusable => {
                self.check_and_read(&identity, &grant, Some(&session_name), &duration, &labels)
                    .await?
            }
        };
        self.limits.check_subject(&identity.subject_hash())?;

        if token_use == TokenUse::OneTime {
            let replay_key = format!("oidc:{}", identity.token_id());
            self.consume_once(&identity, &replay_key, identity.expires_at() + LEEWAY)
                .await?;
        }
        let (credentials, cache) = self
            .obtain(
                &identity,
                &grant,
                Some(&session_name),
                &duration,
                &labels,
                checked,
            )
            .await?;
        Ok(issued(
            &identity,
            credentials,
            grant,
            Some(session_name),
            duration,
            cache,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_subject_is_used_as_is() {
        assert_eq!(
            derive_session_name("https://i", "alice@example.com").as_str(),
            "alice@example.com"
        );
    }

    #[test]
    fn invalid_subject_is_sanitised_with_a_hash_suffix() {
        let n = derive_session_name("https://i", "repo:org/app:ref:refs/heads/main");
        assert!(
            n.as_str().starts_with("repo-org-app-ref-refs-heads-main."),
            "{n}"
        );
        assert_eq!(
            n.as_str().len(),
            "repo-org-app-ref-refs-heads-main.".len() + 16
        );
    }

    #[test]
    fn long_subjects_sharing_a_prefix_do_not_collide() {
        let base = "system:serviceaccount:some-very-long-namespace-name:";
        let a = derive_session_name("https://i", &format!("{base}builder-a"));
        let b = derive_session_name("https://i", &format!("{base}builder-b"));
        assert_ne!(a, b);
        assert!(a.as_str().len() <= 64 && b.as_str().len() <= 64);
    }

    #[test]
    fn derivation_is_deterministic_and_short_subjects_are_extended() {
        assert_eq!(
            derive_session_name("https://i", "x"),
            derive_session_name("https://i", "x")
        );
        assert!(derive_session_name("https://i", "x").as_str().len() >= 2);
        assert_ne!(
            derive_session_name("https://i", "a b"),
            derive_session_name("https://j", "a b")
        );
    }
}
