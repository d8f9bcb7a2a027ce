//! Web identity: a workload's JWT → AssumeRoleWithWebIdentity → credentials.
//!
//! Same ordering rule as SAML: caller-fixable input is checked first (the session plan,
//! `exchange/plan.rs`), the token ID is consumed in the replay store immediately before the one STS
//! call. The session name is the rule's, the caller's where the grant accepts it, or is derived
//! from `sub` by [`derive_session_name`]: deterministic (never random) and collision-free (never a
//! bare truncation).

use super::plan::PlanRequest;
use super::{
    bad, issued, parse_duration, parse_role_arn, role_arn_required, Exchange, ExchangeError,
    IssuedCredentials,
};
use crate::aws::RoleSessionName;
use crate::oidc::claims::LEEWAY;
use secrecy::{ExposeSecret, SecretString};

/// A caller's request for credentials from a web-identity token (fields unverified).
#[derive(Debug)]
pub struct WebIdentityRequest {
    pub token: SecretString,
    pub role_arn: Option<String>,
    pub duration_seconds: Option<String>,
    pub session_name: Option<String>,
    /// `/v1/console-url`: the console `SessionDuration` the credentials must cover.
    pub console_session_seconds: Option<u32>,
}

/// Whether a token may be presented again before it expires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TokenUse {
    /// `/v1/web-identity/credentials`: each token is exchanged once (replay protection).
    OneTime,
    /// `/v1/container-credentials`: the SDKs re-send the same token on every refresh.
    Reusable,
}

pub use crate::mapping::derive_session_name;

pub(super) fn parse_session_name(
    raw: Option<&str>,
) -> Result<Option<RoleSessionName>, ExchangeError> {
    raw.map(RoleSessionName::parse)
        .transpose()
        .map_err(|e| bad("invalid_session_name", e.to_string()))
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
        let plan = self.plan(
            identity,
            PlanRequest {
                role: requested_role,
                duration: requested_duration,
                session_name: requested_name,
                console_session_seconds: req.console_session_seconds,
            },
        )?;
        // A one-time token is consumed between the block check and the cache read (see
        // `check_and_read`); a reusable one is not, so both take one store call.
        let checked = match token_use {
            TokenUse::OneTime => {
                self.check_not_revoked(&plan).await?;
                None
            }
            TokenUse::Reusable => self.check_and_read(&plan).await?,
        };
        let identity = &plan.identity;
        self.limits.check_subject(&identity.subject_hash())?;

        if token_use == TokenUse::OneTime {
            let replay_key = format!("oidc:{}", identity.token_id());
            self.consume_once(identity, &replay_key, identity.expires_at() + LEEWAY)
                .await?;
        }
        let (credentials, cache) = self.obtain(&plan, checked).await?;
        Ok(issued(plan, credentials, cache))
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
