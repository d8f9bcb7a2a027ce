//! AWS SAML attributes (docs/AWS-RULES.md §2.5) into checked newtypes.
//!
//! Invariants: input is the verified attribute map from `profile`; names are matched exactly and
//! case-sensitively; any value of an AWS attribute with leading or trailing whitespace is refused
//! (AWS's own rule, docs/AWS-RULES.md §2.12); single-valued attributes must have exactly one value; nothing
//! is truncated or trimmed (reject rather than repair, docs/SECURITY.md B02). Error messages carry the
//! attribute name and the AWS rule, never the value.
//!
//! `Role` and `RoleSessionName` are required when the assertion itself names the role (no mapping
//! rules: [`AwsAttributes::Required`]). With mapping rules ([`AwsAttributes::Optional`]) an IdP
//! application set up for the broker may send only its own attributes; the rules then decide, and
//! a pass-through grant (where AWS reads both attributes) is refused by mapping when they are
//! missing. Present values are checked the same way in both cases.

use super::SamlError;
use crate::aws::{
    AwsNameError, RolePair, RoleSessionName, SessionDuration, SessionTags, SourceIdentity, TagKey,
    TagValue,
};
use crate::identity::AwsClaims;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// Prefix shared by every AWS SAML attribute name.
pub const AWS_ATTR_PREFIX: &str = "https://aws.amazon.com/SAML/Attributes/";
/// `Role`: one or more `role-ARN,provider-ARN` pairs (required).
pub const ATTR_ROLE: &str = "https://aws.amazon.com/SAML/Attributes/Role";
/// `RoleSessionName`: exactly one value, `[a-zA-Z_0-9+=,.@-]{2,64}` (required).
pub const ATTR_ROLE_SESSION_NAME: &str = "https://aws.amazon.com/SAML/Attributes/RoleSessionName";
/// `SessionDuration`: one integer 900..=43200 (optional).
pub const ATTR_SESSION_DURATION: &str = "https://aws.amazon.com/SAML/Attributes/SessionDuration";
/// `PrincipalTag:<Key>`: one value per tag (optional).
pub const ATTR_PRINCIPAL_TAG_PREFIX: &str = "https://aws.amazon.com/SAML/Attributes/PrincipalTag:";
/// `TransitiveTagKeys`: tag keys to mark transitive (optional).
pub const ATTR_TRANSITIVE_TAG_KEYS: &str =
    "https://aws.amazon.com/SAML/Attributes/TransitiveTagKeys";
/// `SourceIdentity`: one value (optional).
pub const ATTR_SOURCE_IDENTITY: &str = "https://aws.amazon.com/SAML/Attributes/SourceIdentity";

/// Whether `Role` and `RoleSessionName` must be present.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AwsAttributes {
    /// No mapping rules: the assertion's `Role` attribute offers the roles (as AWS reads it).
    Required,
    /// Mapping rules decide the role; the attributes are needed only by pass-through grants.
    Optional,
}

impl AwsAttributes {
    /// `Optional` when mapping rules are configured, `Required` otherwise.
    pub fn for_rules(rules_configured: bool) -> Self {
        if rules_configured {
            Self::Optional
        } else {
            Self::Required
        }
    }
}

fn invalid(name: &str, e: AwsNameError) -> SamlError {
    SamlError::AttributeInvalid(format!("{name}: {e}"))
}

fn single<'a>(
    attrs: &'a BTreeMap<String, Vec<String>>,
    name: &str,
) -> Result<Option<&'a str>, SamlError> {
    match attrs.get(name).map(Vec::as_slice) {
        None => Ok(None),
        Some([one]) => Ok(Some(one.as_str())),
        Some(v) => Err(SamlError::AttributeInvalid(format!(
            "{name} must have exactly one AttributeValue (found {})",
            v.len()
        ))),
    }
}

/// Extract and check every AWS attribute (`need`: whether `Role`/`RoleSessionName` must be present).
pub fn aws_claims(
    attrs: &BTreeMap<String, Vec<String>>,
    session_not_on_or_after: Option<DateTime<Utc>>,
    need: AwsAttributes,
) -> Result<AwsClaims, SamlError> {
    let required = need == AwsAttributes::Required;
    // AWS's whitespace rule applies to every AWS attribute value.
    for (name, values) in attrs.range(AWS_ATTR_PREFIX.to_owned()..) {
        if !name.starts_with(AWS_ATTR_PREFIX) {
            break;
        }
        if values
            .iter()
            .any(|v| v.starts_with(char::is_whitespace) || v.ends_with(char::is_whitespace))
        {
            return Err(SamlError::AttributeInvalid(format!(
                "{name}: values must not have leading or trailing whitespace (AWS rejects them)"
            )));
        }
    }

    let role_values = attrs.get(ATTR_ROLE).filter(|v| !v.is_empty());
    if role_values.is_none() && required {
        return Err(SamlError::RoleMissing);
    }
    let role_values = role_values.map(Vec::as_slice).unwrap_or_default();
    let mut roles: Vec<RolePair> = Vec::with_capacity(role_values.len());
    for v in role_values {
        let pair = RolePair::parse(v).map_err(|e| invalid(ATTR_ROLE, e))?;
        if !roles.contains(&pair) {
            roles.push(pair);
        }
    }

    let session_name = match single(attrs, ATTR_ROLE_SESSION_NAME)? {
        Some(v) => {
            Some(RoleSessionName::parse(v).map_err(|e| invalid(ATTR_ROLE_SESSION_NAME, e))?)
        }
        None if required => {
            return Err(SamlError::AttributeInvalid(format!(
                "{ATTR_ROLE_SESSION_NAME} is required (AWS: RoleSessionName is required in AuthnResponse)"
            )))
        }
        None => None,
    };

    let session_duration = single(attrs, ATTR_SESSION_DURATION)?
        .map(|v| SessionDuration::parse(v).map_err(|e| invalid(ATTR_SESSION_DURATION, e)))
        .transpose()?;

    let source_identity = single(attrs, ATTR_SOURCE_IDENTITY)?
        .map(|v| SourceIdentity::parse(v).map_err(|e| invalid(ATTR_SOURCE_IDENTITY, e)))
        .transpose()?;

    let mut tags = Vec::new();
    for (name, _) in attrs.range(ATTR_PRINCIPAL_TAG_PREFIX.to_owned()..) {
        let Some(key) = name.strip_prefix(ATTR_PRINCIPAL_TAG_PREFIX) else {
            break;
        };
        let value = single(attrs, name)?.unwrap_or_default();
        let key = TagKey::parse(key).map_err(|e| invalid(ATTR_PRINCIPAL_TAG_PREFIX, e))?;
        let value = TagValue::parse(value).map_err(|e| invalid(name, e))?;
        tags.push((key, value));
    }
    let mut transitive = Vec::new();
    for v in attrs.get(ATTR_TRANSITIVE_TAG_KEYS).into_iter().flatten() {
        transitive.push(TagKey::parse(v).map_err(|e| invalid(ATTR_TRANSITIVE_TAG_KEYS, e))?);
    }
    let tags =
        SessionTags::new(tags, transitive).map_err(|e| invalid("PrincipalTag attributes", e))?;

    Ok(AwsClaims {
        roles,
        session_name,
        session_duration,
        session_not_on_or_after,
        tags,
        source_identity,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiError;

    const PAIR: &str =
        "arn:aws:iam::123456789012:role/Admin,arn:aws:iam::123456789012:saml-provider/Corp";

    fn base() -> BTreeMap<String, Vec<String>> {
        let mut m = BTreeMap::new();
        m.insert(ATTR_ROLE.to_owned(), vec![PAIR.to_owned()]);
        m.insert(
            ATTR_ROLE_SESSION_NAME.to_owned(),
            vec!["alice@example.com".to_owned()],
        );
        m
    }

    fn code(r: Result<AwsClaims, SamlError>) -> &'static str {
        r.map(|_| "ok").unwrap_or_else(|e| e.code())
    }

    #[test]
    fn accepts_minimal_and_full_sets() {
        let mut m = base();
        assert_eq!(code(aws_claims(&m, None, AwsAttributes::Required)), "ok");
        m.insert(ATTR_SESSION_DURATION.into(), vec!["3600".into()]);
        m.insert(ATTR_SOURCE_IDENTITY.into(), vec!["alice".into()]);
        m.insert(
            format!("{ATTR_PRINCIPAL_TAG_PREFIX}Project"),
            vec!["Blue".into()],
        );
        m.insert(ATTR_TRANSITIVE_TAG_KEYS.into(), vec!["Project".into()]);
        let c = aws_claims(&m, None, AwsAttributes::Required).unwrap();
        assert_eq!(c.tags.len(), 1);
        assert_eq!(c.session_duration.unwrap().secs(), 3600);
        assert_eq!(c.roles.len(), 1);
    }

    #[test]
    fn rejects_missing_role_as_forbidden() {
        let mut m = base();
        m.remove(ATTR_ROLE);
        assert_eq!(
            code(aws_claims(&m, None, AwsAttributes::Required)),
            "saml_role_missing"
        );
        m.insert(ATTR_ROLE.into(), vec![]);
        assert_eq!(
            code(aws_claims(&m, None, AwsAttributes::Required)),
            "saml_role_missing"
        );
    }

    /// With mapping rules an assertion may carry only the IdP's own attributes; without rules the
    /// same assertion is refused exactly as before.
    #[test]
    fn role_and_session_name_are_optional_only_with_rules() {
        let mut m = BTreeMap::new();
        m.insert("groups".to_owned(), vec!["aws-admins".to_owned()]);
        let c = aws_claims(&m, None, AwsAttributes::Optional).unwrap();
        assert!(c.roles.is_empty());
        assert!(c.session_name.is_none());
        assert_eq!(
            code(aws_claims(&m, None, AwsAttributes::Required)),
            "saml_role_missing"
        );
        let mut only_role = base();
        only_role.remove(ATTR_ROLE_SESSION_NAME);
        assert_eq!(
            code(aws_claims(&only_role, None, AwsAttributes::Required)),
            "saml_attribute_invalid"
        );
        assert!(aws_claims(&only_role, None, AwsAttributes::Optional)
            .unwrap()
            .session_name
            .is_none());
    }

    /// Optional does not mean unchecked: a present but invalid value is still refused.
    #[test]
    fn present_aws_values_are_checked_even_when_optional() {
        let mut m = base();
        m.insert(ATTR_ROLE.into(), vec!["not-a-pair".into()]);
        assert_eq!(
            code(aws_claims(&m, None, AwsAttributes::Optional)),
            "saml_attribute_invalid"
        );
        let mut m = base();
        m.insert(ATTR_ROLE_SESSION_NAME.into(), vec!["has space".into()]);
        assert_eq!(
            code(aws_claims(&m, None, AwsAttributes::Optional)),
            "saml_attribute_invalid"
        );
    }

    #[test]
    fn rejects_whitespace_padded_aws_values() {
        let mut m = base();
        m.insert(ATTR_ROLE_SESSION_NAME.into(), vec!["alice ".into()]);
        assert_eq!(
            code(aws_claims(&m, None, AwsAttributes::Required)),
            "saml_attribute_invalid"
        );
        let mut m = base();
        m.insert(
            format!("{ATTR_PRINCIPAL_TAG_PREFIX}Team"),
            vec![" x".into()],
        );
        assert_eq!(
            code(aws_claims(&m, None, AwsAttributes::Required)),
            "saml_attribute_invalid"
        );
    }

    #[test]
    fn rejects_two_session_names_and_missing_session_name() {
        let mut m = base();
        m.insert(
            ATTR_ROLE_SESSION_NAME.into(),
            vec!["alice".into(), "bob".into()],
        );
        assert_eq!(
            code(aws_claims(&m, None, AwsAttributes::Required)),
            "saml_attribute_invalid"
        );
        m.remove(ATTR_ROLE_SESSION_NAME);
        assert_eq!(
            code(aws_claims(&m, None, AwsAttributes::Required)),
            "saml_attribute_invalid"
        );
    }

    #[test]
    fn rejects_role_injection_with_extra_pair_in_one_value() {
        let mut m = base();
        m.insert(ATTR_ROLE.into(), vec![format!("{PAIR},{PAIR}")]);
        assert_eq!(
            code(aws_claims(&m, None, AwsAttributes::Required)),
            "saml_attribute_invalid"
        );
    }

    #[test]
    fn rejects_transitive_key_without_tag_and_aws_prefixed_source_identity() {
        let mut m = base();
        m.insert(ATTR_TRANSITIVE_TAG_KEYS.into(), vec!["Nope".into()]);
        assert_eq!(
            code(aws_claims(&m, None, AwsAttributes::Required)),
            "saml_attribute_invalid"
        );
        let mut m = base();
        m.insert(ATTR_SOURCE_IDENTITY.into(), vec!["aws:root".into()]);
        assert_eq!(
            code(aws_claims(&m, None, AwsAttributes::Required)),
            "saml_attribute_invalid"
        );
    }

    #[test]
    fn several_roles_either_order_deduplicated() {
        let mut m = base();
        let rev =
            "arn:aws:iam::123456789012:saml-provider/Corp,arn:aws:iam::123456789012:role/Admin";
        let other =
            "arn:aws:iam::123456789012:role/Dev,arn:aws:iam::123456789012:saml-provider/Corp";
        m.insert(
            ATTR_ROLE.into(),
            vec![PAIR.into(), rev.into(), other.into()],
        );
        assert_eq!(
            aws_claims(&m, None, AwsAttributes::Required)
                .unwrap()
                .roles
                .len(),
            2
        );
    }
}
