//! Choosing the role for a verified identity. Pure: no I/O, no async.
//!
//! Issue-2 scope: the SAML `Role` attribute offers role/provider pairs; the caller may name one.
//! One offered and none named → that one; several and none named → 409 listing them; a named role
//! that is not offered → 403. (Declarative mapping rules arrive with issue 4.)

use crate::aws::{RoleArn, RolePair};
use crate::error::{ApiError, ErrorKind};

#[derive(Debug, thiserror::Error)]
pub enum MappingError {
    #[error("the identity provider offered no AWS role for this user")]
    NoRole,
    #[error("the requested role is not among the roles your identity provider offered")]
    RoleNotOffered { requested: RoleArn },
    #[error("several roles are available: choose one with role_arn")]
    ChooseRole { offered: Vec<RoleArn> },
}

impl ApiError for MappingError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::NoRole | Self::RoleNotOffered { .. } => ErrorKind::Forbidden,
            Self::ChooseRole { .. } => ErrorKind::Conflict,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::NoRole => "no_role",
            Self::RoleNotOffered { .. } => "role_not_offered",
            Self::ChooseRole { .. } => "role_choice_required",
        }
    }
    fn detail(&self) -> Option<serde_json::Value> {
        match self {
            Self::ChooseRole { offered } => Some(serde_json::json!({ "roles": offered })),
            Self::RoleNotOffered { requested } => {
                Some(serde_json::json!({ "requested_role": requested }))
            }
            Self::NoRole => None,
        }
    }
}

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
mod tests {
    use super::*;

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
