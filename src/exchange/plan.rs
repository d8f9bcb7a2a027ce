//! The session plan: what a credentials request will do, decided once from the verified identity
//! and its grant, before any store is asked, anything is consumed or STS is called.
//!
//! Issuing (`exchange/mod.rs`, `web_identity.rs`, `signed_in.rs`), the credential cache
//! (`caching.rs`: key and labels) and `/v1/explain` (`explain.rs`) read their answers from here,
//! so they cannot disagree:
//! - [`SessionTerms`]: the session name, tags and source identity the session carries;
//! - [`StsCall`]: the STS call, one variant per mode with exactly the fields that mode needs, so
//!   `dispatch.rs` sends it without re-checking anything;
//! - [`SessionPlan`]: both, with the identity, the grant, the negotiated duration (and its reason),
//!   the revocation labels and the cache key.
//!
//! Invariants:
//! - pass-through sessions carry the tags and source identity inside the assertion or token (AWS
//!   reads them there; mapping refuses both on pass-through grants); the other modes carry the
//!   grant's;
//! - the session name is the rule's, then the assertion's `RoleSessionName` (SAML) or the caller's
//!   accepted `session_name` (web identity), then one derived from the subject. SAML pass-through
//!   derives none: AWS takes the name from the assertion;
//! - outside pass-through a caller's `session_name` is accepted only where the grant allows it
//!   (AWS records the session name as the caller's identity there);
//! - a plan exists only if its STS call can be made: issuer mode is enabled and accepts the
//!   subject, a SAML pass-through grant names its SAML provider, every other mode has a session
//!   name.

use super::caching::{cache_key, revocation_labels};
use super::{bad, Exchange, ExchangeError};
use crate::aws::{
    ExternalId, PolicyArn, RoleArn, RoleSessionName, SamlProviderArn, SessionDuration,
    SessionPolicy, SessionTags, SourceIdentity,
};
use crate::cache::{CacheKey, Label};
use crate::identity::{OriginalCredential, Protocol, VerifiedIdentity};
use crate::issuer::Issuer;
use crate::mapping::{derive_session_name, Grant, Negotiated, StsMode};
use secrecy::SecretString;
use std::sync::Arc;

/// What the caller asked for, parsed but not yet checked against the grant.
#[derive(Debug, Default)]
pub(super) struct PlanRequest {
    pub role: Option<RoleArn>,
    pub duration: Option<SessionDuration>,
    /// Web identity only: the caller's `session_name`.
    pub session_name: Option<RoleSessionName>,
    /// `/v1/console-url`, `GET /console`: the console `SessionDuration` the credentials must cover.
    pub console_session_seconds: Option<u32>,
}

/// What the session carries, as AWS will record it (see the module invariants).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionTerms {
    /// `None` only for SAML pass-through without a name from the rule or the assertion.
    pub session_name: Option<RoleSessionName>,
    pub tags: SessionTags,
    pub source_identity: Option<SourceIdentity>,
}

impl SessionTerms {
    /// The terms for `grant`; `caller_session_name` is what `accept_caller_session_name` let
    /// through.
    pub fn decide(
        identity: &VerifiedIdentity,
        grant: &Grant,
        caller_session_name: Option<RoleSessionName>,
    ) -> Self {
        let (tags, source_identity) = if grant.mode == StsMode::PassThrough {
            let aws = identity.aws();
            (aws.tags.clone(), aws.source_identity.clone())
        } else {
            (grant.tags.clone(), grant.source_identity.clone())
        };
        Self {
            session_name: session_name(identity, grant, caller_session_name),
            tags,
            source_identity,
        }
    }
}

/// The rule's name wins (it is the operator's audit trail), then the assertion's (SAML) or the
/// caller's (web identity), then one derived from the subject, except in SAML pass-through.
fn session_name(
    identity: &VerifiedIdentity,
    grant: &Grant,
    caller: Option<RoleSessionName>,
) -> Option<RoleSessionName> {
    let saml = identity.protocol() == Protocol::Saml;
    let named = grant.session_name.clone().or(if saml {
        identity.aws().session_name.clone()
    } else {
        caller
    });
    if named.is_some() || (saml && grant.mode == StsMode::PassThrough) {
        return named;
    }
    Some(derive_session_name(identity.issuer(), identity.subject()))
}

/// The caller's `session_name` if the grant accepts one: outside pass-through AWS sees only the
/// broker as the caller, so the session name is the identity CloudTrail records (and `aws:userid`
/// matches); a caller may choose it only where the grant says `allow_caller_session_name = true`.
pub(super) fn accept_caller_session_name(
    grant: &Grant,
    requested: Option<RoleSessionName>,
) -> Result<Option<RoleSessionName>, ExchangeError> {
    if requested.is_none() || grant.mode == StsMode::PassThrough || grant.allow_caller_session_name
    {
        return Ok(requested);
    }
    Err(bad(
        "session_name_not_accepted",
        format!(
            "the granted role uses mode \"{}\", where AWS records the session name as the caller's identity: the broker names the session from the mapping rule or your verified subject; omit session_name (an operator may allow it per grant with allow_caller_session_name = true)",
            grant.mode.as_str()
        ),
    ))
}

/// The STS call of a plan: one variant per mode, each with exactly what its call needs (the
/// duration is the plan's). `Debug` never shows the assertion or token.
#[derive(Clone, Debug)]
pub enum StsCall {
    /// Pass-through of a SAML assertion: AssumeRoleWithSAML. AWS takes the session name, tags and
    /// source identity from the assertion.
    SamlPassThrough {
        role_arn: RoleArn,
        principal_arn: SamlProviderArn,
        assertion: SecretString,
    },
    /// Pass-through of a web-identity token: AssumeRoleWithWebIdentity with the caller's token
    /// (tags and source identity come from the token).
    WebIdentityPassThrough {
        role_arn: RoleArn,
        session_name: RoleSessionName,
        token: SecretString,
    },
    /// AssumeRole, signed with the broker's own credentials.
    AssumeRole {
        role_arn: RoleArn,
        session_name: RoleSessionName,
        tags: SessionTags,
        source_identity: Option<SourceIdentity>,
        external_id: Option<ExternalId>,
        policy: Option<SessionPolicy>,
        policy_arns: Vec<PolicyArn>,
    },
    /// Issuer mode: the broker mints a token for the subject with the tags and source identity,
    /// then calls AssumeRoleWithWebIdentity with it (a fresh token for every call).
    Issuer {
        issuer: Arc<Issuer>,
        subject: String,
        role_arn: RoleArn,
        session_name: RoleSessionName,
        tags: SessionTags,
        source_identity: Option<SourceIdentity>,
    },
}

impl StsCall {
    /// The call for `grant` with `terms`; fails, with the caller-facing error, when the call
    /// cannot be made (issuer mode off or refusing the subject, a broken grant).
    pub fn new(
        identity: &VerifiedIdentity,
        grant: &Grant,
        terms: &SessionTerms,
        issuer: Option<&Arc<Issuer>>,
    ) -> Result<Self, ExchangeError> {
        let role_arn = grant.role_arn.clone();
        let session_name = || {
            terms.session_name.clone().ok_or_else(|| {
                ExchangeError::Internal("no session name for a mode that needs one".into())
            })
        };
        Ok(match (grant.mode, identity.original()) {
            (StsMode::PassThrough, OriginalCredential::SamlResponse(saml)) => {
                Self::SamlPassThrough {
                    role_arn,
                    principal_arn: grant.principal_arn.clone().ok_or_else(|| {
                        ExchangeError::Internal(
                            "SAML pass-through grant without its provider".into(),
                        )
                    })?,
                    assertion: saml.clone(),
                }
            }
            (StsMode::PassThrough, OriginalCredential::WebIdentityToken(token)) => {
                Self::WebIdentityPassThrough {
                    role_arn,
                    session_name: session_name()?,
                    token: token.clone(),
                }
            }
            (StsMode::AssumeRole, _) => Self::AssumeRole {
                role_arn,
                session_name: session_name()?,
                tags: terms.tags.clone(),
                source_identity: terms.source_identity.clone(),
                external_id: grant.external_id.clone(),
                policy: grant.policy.clone(),
                policy_arns: grant.policy_arns.clone(),
            },
            (StsMode::Issuer, _) => {
                let issuer = issuer.ok_or(ExchangeError::IssuerDisabled)?;
                issuer.check_subject(identity.subject())?;
                Self::Issuer {
                    issuer: Arc::clone(issuer),
                    subject: identity.subject().to_owned(),
                    role_arn,
                    session_name: session_name()?,
                    tags: terms.tags.clone(),
                    source_identity: terms.source_identity.clone(),
                }
            }
        })
    }

    /// The mode this call implements.
    pub fn mode(&self) -> StsMode {
        match self {
            Self::SamlPassThrough { .. } | Self::WebIdentityPassThrough { .. } => {
                StsMode::PassThrough
            }
            Self::AssumeRole { .. } => StsMode::AssumeRole,
            Self::Issuer { .. } => StsMode::Issuer,
        }
    }

    /// The role the call assumes.
    pub fn role_arn(&self) -> &RoleArn {
        match self {
            Self::SamlPassThrough { role_arn, .. }
            | Self::WebIdentityPassThrough { role_arn, .. }
            | Self::AssumeRole { role_arn, .. }
            | Self::Issuer { role_arn, .. } => role_arn,
        }
    }
}

/// Everything one credentials request will do, built once by `Exchange::plan` (see the module
/// doc). The call is shared with the cache, which may repeat it to renew the session.
#[derive(Clone, Debug)]
pub struct SessionPlan {
    pub identity: VerifiedIdentity,
    pub grant: Grant,
    pub terms: SessionTerms,
    /// The negotiated `DurationSeconds` and why it is that value.
    pub duration: Negotiated,
    /// What an administrator can revoke the session by: its subject and its role.
    pub labels: Vec<Label>,
    /// The credential cache's key for this session (`caching.rs` says what it covers).
    pub cache_key: CacheKey,
    pub call: Arc<StsCall>,
}

impl SessionPlan {
    /// The plan for a chosen grant and negotiated duration; `caller_session_name` is what
    /// `accept_caller_session_name` let through; `sts_scope` is the Region and STS endpoint.
    pub fn build(
        identity: VerifiedIdentity,
        grant: Grant,
        caller_session_name: Option<RoleSessionName>,
        duration: Negotiated,
        issuer: Option<&Arc<Issuer>>,
        sts_scope: &str,
    ) -> Result<Self, ExchangeError> {
        let terms = SessionTerms::decide(&identity, &grant, caller_session_name);
        let call = StsCall::new(&identity, &grant, &terms, issuer)?;
        let labels = revocation_labels(&identity, &grant);
        let cache_key = cache_key(&identity, &grant, &terms, &duration, sts_scope);
        Ok(Self {
            identity,
            grant,
            terms,
            duration,
            labels,
            cache_key,
            call: Arc::new(call),
        })
    }
}

impl Exchange {
    /// The plan for a credentials request from a verified identity, refusing what the caller can
    /// fix (role choice, duration, console duration, session name) and what no STS call could
    /// carry: grant → negotiated duration → console duration → caller's session name → plan.
    pub(super) fn plan(
        &self,
        identity: VerifiedIdentity,
        req: PlanRequest,
    ) -> Result<SessionPlan, ExchangeError> {
        let grant = self.select_grant(&identity, req.role.as_ref())?;
        let duration = self.negotiate(&identity, grant.duration, req.duration)?;
        self.check_console(&identity, &grant, &duration, req.console_session_seconds)?;
        let caller_session_name = accept_caller_session_name(&grant, req.session_name)?;
        SessionPlan::build(
            identity,
            grant,
            caller_session_name,
            duration,
            self.issuer.as_ref(),
            &self.sts_scope,
        )
    }
}
