//! From a chosen grant to STS, by the grant's mode (ARCHITECTURE "STS modes"):
//! - pass-through: the IdP's own assertion/token → AssumeRoleWithSAML / AssumeRoleWithWebIdentity;
//! - assume-role: the broker's own credentials → AssumeRole with tags, transitive keys, source
//!   identity, ExternalId and session policies;
//! - issuer: the broker mints a short-lived JWT carrying the tags and source identity →
//!   AssumeRoleWithWebIdentity.
//!
//! Invariant: nothing the caller sent reaches STS except through the verified identity and the
//! grant rendered from it (the duration is negotiated; the role is one the rules granted).

use super::{Exchange, ExchangeError};
use crate::aws::{RoleSessionName, SessionDuration};
use crate::identity::{OriginalCredential, VerifiedIdentity};
use crate::issuer::MintRequest;
use crate::mapping::{Grant, StsMode};
use crate::sts::{
    AssumeRoleRequest, AssumeRoleWithSamlRequest, AssumeRoleWithWebIdentityRequest, StsCredentials,
    StsError,
};

impl Exchange {
    /// Everything about the STS call that can fail before it is made, with the caller-facing error
    /// (the call itself may run later, inside the cache's single flight, where only [`StsError`]s
    /// travel).
    pub(super) fn check_sts_call(
        &self,
        identity: &VerifiedIdentity,
        grant: &Grant,
        session_name: Option<&RoleSessionName>,
    ) -> Result<(), ExchangeError> {
        let saml = matches!(identity.original(), OriginalCredential::SamlResponse(_));
        match grant.mode {
            StsMode::PassThrough if saml => {
                if grant.principal_arn.is_none() {
                    return Err(ExchangeError::Internal(
                        "SAML pass-through grant without its provider".into(),
                    ));
                }
                return Ok(());
            }
            StsMode::Issuer => {
                let issuer = self.issuer.as_ref().ok_or(ExchangeError::IssuerDisabled)?;
                issuer.check_subject(identity.subject())?;
            }
            _ => {}
        }
        if session_name.is_none() {
            return Err(ExchangeError::Internal(
                "no session name for a mode that needs one".into(),
            ));
        }
        Ok(())
    }

    /// Call STS for `grant`. `session_name` is required for every mode but SAML pass-through
    /// (where AWS takes it from the assertion); [`Self::check_sts_call`] has checked the rest.
    pub(super) async fn call_sts(
        &self,
        identity: &VerifiedIdentity,
        grant: &Grant,
        session_name: Option<&RoleSessionName>,
        duration: SessionDuration,
    ) -> Result<StsCredentials, StsError> {
        let need_name = || {
            session_name
                .cloned()
                .ok_or_else(|| StsError::Broker("no session name for a mode that needs one".into()))
        };
        match (grant.mode, identity.original()) {
            (StsMode::PassThrough, OriginalCredential::SamlResponse(saml)) => {
                let principal_arn = grant.principal_arn.clone().ok_or_else(|| {
                    StsError::Broker("SAML pass-through grant without its provider".into())
                })?;
                Ok(self
                    .sts
                    .assume_role_with_saml(AssumeRoleWithSamlRequest {
                        role_arn: grant.role_arn.clone(),
                        principal_arn,
                        saml_assertion: saml.clone(),
                        duration: Some(duration),
                    })
                    .await?)
            }
            (StsMode::PassThrough, OriginalCredential::WebIdentityToken(token)) => Ok(self
                .sts
                .assume_role_with_web_identity(AssumeRoleWithWebIdentityRequest {
                    role_arn: grant.role_arn.clone(),
                    role_session_name: need_name()?,
                    web_identity_token: token.clone(),
                    duration: Some(duration),
                })
                .await?),
            (StsMode::AssumeRole, _) => Ok(self
                .sts
                .assume_role(AssumeRoleRequest {
                    role_arn: grant.role_arn.clone(),
                    role_session_name: need_name()?,
                    duration: Some(duration),
                    tags: grant.tags.clone(),
                    source_identity: grant.source_identity.clone(),
                    external_id: grant.external_id.clone(),
                    policy: grant.policy.as_ref().map(|p| p.as_str().to_owned()),
                    policy_arns: grant
                        .policy_arns
                        .iter()
                        .map(|a| a.as_str().to_owned())
                        .collect(),
                })
                .await?),
            (StsMode::Issuer, _) => {
                let issuer = self.issuer.as_ref().ok_or_else(|| {
                    StsError::Broker("the grant uses issuer mode, which is not enabled".into())
                })?;
                let minted = issuer
                    .mint(MintRequest {
                        subject: identity.subject(),
                        session_tags: &grant.tags,
                        source_identity: grant.source_identity.as_ref(),
                        audience: None,
                    })
                    .map_err(|e| StsError::Broker(e.to_string()))?;
                tracing::info!(
                    event = "issuer.minted",
                    jti = %minted.jti,
                    kid = %minted.kid,
                    role_arn = grant.role_arn.as_str(),
                    "minted a web-identity token for the grant"
                );
                Ok(self
                    .sts
                    .assume_role_with_web_identity(AssumeRoleWithWebIdentityRequest {
                        role_arn: grant.role_arn.clone(),
                        role_session_name: need_name()?,
                        web_identity_token: minted.token,
                        duration: Some(duration),
                    })
                    .await?)
            }
        }
    }
}
