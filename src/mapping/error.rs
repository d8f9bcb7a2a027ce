//! `MappingError`: why no grant (or no duration) could be derived from a verified identity.
//!
//! Variants are how the caller reacts; codes are stable and documented in `docs/MAPPING.md`.
//! Messages name the rule, the grant and the AWS rule that was broken, never a token or assertion,
//! and never the offending identity value itself (it may be personal data; logs get the subject hash).

use crate::aws::RoleArn;
use crate::error::{ApiError, ErrorKind};

#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    /// No rules are configured and the assertion offered no role.
    #[error("the identity provider offered no AWS role for this user")]
    NoRole,
    /// Rules are configured but none granted a role to this identity.
    #[error("no mapping rule grants an AWS role to this identity{}", reason_suffix(.reason))]
    NoMatchingRule { reason: Option<&'static str> },
    /// A SAML pass-through grant, but the assertion lacks the attribute AWS reads for it (`Role`
    /// offering this role with its provider, or `RoleSessionName`). Same code as the validator's
    /// refusal of an assertion without `Role` when no rules are configured.
    #[error("role {role} is granted in pass-through mode, where AWS reads the assertion's {missing} attribute, and the assertion has none; have the identity provider send https://aws.amazon.com/SAML/Attributes/Role (this role with its SAML provider) and RoleSessionName, or grant the role in mode \"assume-role\"")]
    PassThroughAttributeMissing {
        role: RoleArn,
        missing: &'static str,
    },
    #[error("the requested role is not among the roles granted to you")]
    RoleNotOffered { requested: RoleArn },
    #[error("several roles are available: choose one with role_arn")]
    ChooseRole { offered: Vec<RoleArn> },
    /// A template rendered from verified identity data breaks an AWS rule; never truncated.
    #[error("rule {rule:?} grant {grant} ({role}): {field} rendered from your identity is not valid for AWS: {why}")]
    TemplateValueInvalid {
        rule: String,
        grant: usize,
        role: RoleArn,
        field: String,
        why: String,
    },
    /// The requested or configured duration cannot be honoured.
    #[error("duration not allowed: {0}")]
    DurationNotAllowed(String),
    /// The SAML session (`SessionNotOnOrAfter`) ends in less than the 15-minute STS minimum.
    #[error("your identity provider's session ends in less than 15 minutes: sign in again")]
    SessionEnding,
}

fn reason_suffix(reason: &Option<&'static str>) -> String {
    reason.map(|r| format!(": {r}")).unwrap_or_default()
}

impl ApiError for MappingError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::NoRole
            | Self::NoMatchingRule { .. }
            | Self::RoleNotOffered { .. }
            | Self::PassThroughAttributeMissing { .. }
            | Self::TemplateValueInvalid { .. } => ErrorKind::Forbidden,
            Self::ChooseRole { .. } => ErrorKind::Conflict,
            Self::DurationNotAllowed(_) => ErrorKind::BadRequest,
            Self::SessionEnding => ErrorKind::Unauthenticated,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::NoRole => "no_role",
            Self::NoMatchingRule { .. } => "no_matching_rule",
            Self::RoleNotOffered { .. } => "role_not_offered",
            Self::PassThroughAttributeMissing { .. } => "saml_role_missing",
            Self::ChooseRole { .. } => "role_choice_required",
            Self::TemplateValueInvalid { .. } => "template_value_invalid",
            Self::DurationNotAllowed(_) => "duration_not_allowed",
            // Same code as `ExchangeError::SessionEnding`: one condition, one code.
            Self::SessionEnding => "saml_session_ending",
        }
    }
    fn detail(&self) -> Option<serde_json::Value> {
        match self {
            Self::ChooseRole { offered } => Some(serde_json::json!({ "roles": offered })),
            Self::RoleNotOffered { requested } => {
                Some(serde_json::json!({ "requested_role": requested }))
            }
            Self::PassThroughAttributeMissing { role, missing } => {
                Some(serde_json::json!({ "role": role, "missing_attribute": missing }))
            }
            Self::TemplateValueInvalid {
                rule, grant, field, ..
            } => Some(serde_json::json!({ "rule": rule, "grant": grant, "field": field })),
            _ => None,
        }
    }
}
