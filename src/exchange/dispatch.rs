//! From a plan's [`StsCall`] to STS, by mode:
//! - pass-through: the IdP's own assertion/token → AssumeRoleWithSAML / AssumeRoleWithWebIdentity;
//! - assume-role: the broker's own credentials → AssumeRole with tags, transitive keys, source
//!   identity, ExternalId and session policies;
//! - issuer: the broker mints a short-lived JWT carrying the tags and source identity →
//!   AssumeRoleWithWebIdentity.
//!
//! Invariants: nothing the caller sent reaches STS except through the verified identity and the
//! grant rendered from it (the duration is negotiated; the role is one the rules granted). Every
//! precondition was checked when the plan was built (`plan.rs`): each variant carries exactly
//! what its call needs, so nothing here can be missing. A call may be sent more than once (the
//! cache renews assume-role and issuer sessions); issuer mode mints a fresh token each time.

use super::plan::StsCall;
use crate::aws::SessionDuration;
use crate::issuer::MintRequest;
use crate::sts::{
    AssumeRoleRequest, AssumeRoleWithSamlRequest, AssumeRoleWithWebIdentityRequest, StsClient,
    StsCredentials, StsError,
};

impl StsCall {
    /// Make the call for a session of `duration`.
    pub async fn send(
        &self,
        sts: &dyn StsClient,
        duration: SessionDuration,
    ) -> Result<StsCredentials, StsError> {
        let duration = Some(duration);
        match self {
            Self::SamlPassThrough {
                role_arn,
                principal_arn,
                assertion,
            } => {
                sts.assume_role_with_saml(AssumeRoleWithSamlRequest {
                    role_arn: role_arn.clone(),
                    principal_arn: principal_arn.clone(),
                    saml_assertion: assertion.clone(),
                    duration,
                })
                .await
            }
            Self::WebIdentityPassThrough {
                role_arn,
                session_name,
                token,
            } => {
                sts.assume_role_with_web_identity(AssumeRoleWithWebIdentityRequest {
                    role_arn: role_arn.clone(),
                    role_session_name: session_name.clone(),
                    web_identity_token: token.clone(),
                    duration,
                })
                .await
            }
            Self::AssumeRole {
                role_arn,
                session_name,
                tags,
                source_identity,
                external_id,
                policy,
                policy_arns,
            } => {
                sts.assume_role(AssumeRoleRequest {
                    role_arn: role_arn.clone(),
                    role_session_name: session_name.clone(),
                    duration,
                    tags: tags.clone(),
                    source_identity: source_identity.clone(),
                    external_id: external_id.clone(),
                    policy: policy.as_ref().map(|p| p.as_str().to_owned()),
                    policy_arns: policy_arns.iter().map(|a| a.as_str().to_owned()).collect(),
                })
                .await
            }
            Self::Issuer {
                issuer,
                subject,
                role_arn,
                session_name,
                tags,
                source_identity,
            } => {
                let minted = issuer
                    .mint(MintRequest {
                        subject,
                        session_tags: tags,
                        source_identity: source_identity.as_ref(),
                        audience: None,
                    })
                    .map_err(|e| StsError::Broker(e.to_string()))?;
                tracing::info!(
                    event = "issuer.minted",
                    jti = %minted.jti,
                    kid = %minted.kid,
                    role_arn = role_arn.as_str(),
                    "minted a web-identity token for the grant"
                );
                sts.assume_role_with_web_identity(AssumeRoleWithWebIdentityRequest {
                    role_arn: role_arn.clone(),
                    role_session_name: session_name.clone(),
                    web_identity_token: minted.token,
                    duration,
                })
                .await
            }
        }
    }
}
