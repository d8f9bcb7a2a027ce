//! Mapping a verified identity to AWS grants. Pure: no I/O, no async.
//!
//! - `schema`: the `[mapping]` / `[[rules]]` config as written; `compile`: checked `Rules`, every
//!   problem collected at config load; `matcher` and `template`: the match and value languages;
//!   `evaluate`: identity → grants (`evaluate`, `select`); `duration`: the duration negotiator.
//! - Without rules, the SAML `Role` attribute offers role/provider pairs and the caller may name one
//!   (`select_saml_role`): one offered and none named → that one; several and none named →
//!   409 listing them; a named role that is not offered → 403.
//!
//! Rules and keys: docs/MAPPING.md.

mod compile;
pub mod duration;
mod error;
mod evaluate;
pub mod matcher;
pub mod schema;
pub mod subject;
pub mod template;
#[cfg(test)]
mod tests;

pub use compile::{compile, Rules};
pub use duration::{check_console_duration, negotiate, DurationReason, Negotiated};
pub use error::MappingError;
pub use evaluate::{evaluate, evaluate_each, select, FailedGrant, Grant, IMPLICIT_RULE};
pub use schema::{GrantConfig, MappingConfig, MatchConfig, RuleConfig, StsMode};
pub use subject::{
    derive_session_name, subject_source_identity, subject_tag_value, RecordSubject, SUBJECT_TAG_KEY,
};

use crate::aws::{RoleArn, RolePair};

/// Select one role pair from those offered, honouring an explicit request.
pub fn select_saml_role(
    offered: &[RolePair],
    requested: Option<&RoleArn>,
) -> Result<RolePair, MappingError> {
    match requested {
        Some(want) => offered
            .iter()
            .find(|p| &p.role == want)
            .cloned()
            .ok_or_else(|| MappingError::RoleNotOffered {
                requested: want.clone(),
            }),
        None => {
            let mut distinct: Vec<&RolePair> = Vec::new();
            for p in offered {
                if !distinct.iter().any(|d| d.role == p.role) {
                    distinct.push(p);
                }
            }
            match distinct.as_slice() {
                [] => Err(MappingError::NoRole),
                [one] => Ok((*one).clone()),
                many => Err(MappingError::ChooseRole {
                    offered: many.iter().map(|p| p.role.clone()).collect(),
                }),
            }
        }
    }
}

#[cfg(test)]
mod select_saml_role_tests {
    use super::*;
    use crate::error::{ApiError, ErrorKind};

    fn pair(role: &str) -> RolePair {
        RolePair::parse(&format!(
            "arn:aws:iam::123456789012:role/{role},arn:aws:iam::123456789012:saml-provider/Corp"
        ))
        .unwrap()
    }

    #[test]
    fn single_role_is_chosen() {
        assert_eq!(select_saml_role(&[pair("A")], None).unwrap(), pair("A"));
    }

    #[test]
    fn several_roles_need_a_choice() {
        let err = select_saml_role(&[pair("A"), pair("B")], None).unwrap_err();
        assert_eq!(err.code(), "role_choice_required");
        assert_eq!(err.kind(), ErrorKind::Conflict);
        let d = err.detail().unwrap();
        assert_eq!(d["roles"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn requested_role_must_be_offered() {
        let b = pair("B").role;
        assert_eq!(
            select_saml_role(&[pair("A"), pair("B")], Some(&b)).unwrap(),
            pair("B")
        );
        let c = pair("C").role;
        let err = select_saml_role(&[pair("A")], Some(&c)).unwrap_err();
        assert_eq!(err.code(), "role_not_offered");
        assert_eq!(err.kind(), ErrorKind::Forbidden);
    }

    #[test]
    fn no_roles_is_forbidden() {
        assert_eq!(select_saml_role(&[], None).unwrap_err().code(), "no_role");
    }
}
