//! Credentials for an identity signed in through the browser (the sign-in pages live in `sign_in/`):
//! the identity was verified (and its assertion consumed in the replay store, or its login
//! `state`/`nonce` used up) when the person signed in, so a click in the role picker goes straight
//! to the session plan → revocation check → cache → STS.
//!
//! Invariant: the grant comes from the rules for the *session's* verified identity; the caller only
//! chooses among the granted roles (an ungranted role is `role_not_offered`, as on the API).

use super::plan::PlanRequest;
use super::{
    issued, offered_roles, parse_duration, parse_role_arn, Exchange, ExchangeError,
    IssuedCredentials, RoleSummary,
};
use crate::aws::RoleArn;
use crate::error::ApiError;
use crate::identity::{Protocol, VerifiedIdentity};
use crate::mapping::{evaluate_each, FailedGrant, MappingError};
use crate::saml::CLOCK_SKEW;
use secrecy::SecretString;

impl Exchange {
    /// Verify a SAML Response posted to the browser ACS (as strictly as on the API); the caller
    /// checks InResponseTo, then [`Self::consume_sign_in`].
    pub async fn verify_saml_sign_in(
        &self,
        response: SecretString,
    ) -> Result<VerifiedIdentity, ExchangeError> {
        self.validate_saml(response).await
    }

    /// Record the sign-in assertion as used (replay protection, as on the API).
    pub async fn consume_sign_in(&self, identity: &VerifiedIdentity) -> Result<(), ExchangeError> {
        let key = format!("saml:{}:{}", identity.issuer(), identity.token_id());
        self.consume_once(identity, &key, identity.expires_at() + CLOCK_SKEW)
            .await
    }

    /// The roles a signed-in identity may pick (the role picker).
    pub fn roles_for(
        &self,
        identity: &VerifiedIdentity,
    ) -> Result<Vec<RoleSummary>, ExchangeError> {
        Ok(offered_roles(&self.rules, identity)?)
    }

    /// The role picker's lists: the grants that render for this identity, and the others (a
    /// template that gives no valid AWS value for it) with the error code and a reason that
    /// names the field, never the value. One failing grant hides no other.
    pub fn picker_for(
        &self,
        identity: &VerifiedIdentity,
    ) -> Result<(Vec<RoleSummary>, Vec<UnavailableRole>), ExchangeError> {
        if identity.protocol() == Protocol::Oidc && self.rules.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        let mut usable = Vec::new();
        let mut unavailable = Vec::new();
        for grant in evaluate_each(&self.rules, identity)? {
            match grant {
                Ok(g) => usable.push(RoleSummary::from(&g)),
                Err(f) => unavailable.push(UnavailableRole::from(*f)),
            }
        }
        Ok((usable, unavailable))
    }

    /// Credentials for a role picked in a browser session; `console_session_seconds`: the console
    /// `SessionDuration` they must cover (`GET /console`), checked before STS is called.
    pub async fn session_credentials(
        &self,
        identity: &VerifiedIdentity,
        role_arn: &str,
        duration_seconds: Option<&str>,
        console_session_seconds: Option<u32>,
    ) -> Result<IssuedCredentials, ExchangeError> {
        let requested_role = parse_role_arn(Some(role_arn))?;
        let requested_duration = parse_duration(duration_seconds)?;
        let plan = self.plan(
            identity.clone(),
            PlanRequest {
                role: requested_role,
                duration: requested_duration,
                session_name: None,
                console_session_seconds,
            },
        )?;
        let checked = self.check_and_read(&plan).await?;
        self.limits.check_subject(&identity.subject_hash())?;
        let (credentials, cache) = self.obtain(&plan, checked).await?;
        Ok(issued(plan, credentials, cache))
    }
}

/// A grant the role picker lists as unusable for this identity.
#[derive(Clone, Debug)]
pub struct UnavailableRole {
    pub role_arn: RoleArn,
    pub alias: Option<String>,
    /// The error code the credentials endpoint would answer (`template_value_invalid`).
    pub code: &'static str,
    /// What fails, without the rendered value (it comes from the identity).
    pub reason: String,
}

impl From<FailedGrant> for UnavailableRole {
    fn from(f: FailedGrant) -> Self {
        let reason = match &f.error {
            MappingError::TemplateValueInvalid { field, .. } => format!(
                "its {field} template does not give a valid AWS value for your identity; an administrator must change the rule or your attributes"
            ),
            _ => "it cannot be used with your identity".to_owned(),
        };
        Self {
            role_arn: f.role_arn,
            alias: f.alias,
            code: f.error.code(),
            reason,
        }
    }
}
