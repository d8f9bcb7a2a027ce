//! IAM role and SAML provider ARNs, and the `role,provider` pairs of the SAML `Role` attribute.
//!
//! Grammar (docs/AWS-RULES.md §2.5, §5.3): `arn:<partition>:iam::<12-digit account>:role/<path/><name>` with a
//! role name of at most 64 characters from `[A-Za-z0-9+=,.@_-]` and a path of at most 512;
//! `arn:<partition>:iam::<account>:saml-provider/<name>`. A pair is classified by resource type, not
//! by position, so both orders are read (docs/AWS-RULES.md §2.5 "Role-pair order"). Comparison is exact and
//! case-sensitive (reference C10).

use super::AwsNameError;

/// Longest IAM role name.
pub const ROLE_NAME_MAX_LEN: usize = 64;
/// Longest IAM path.
pub const IAM_PATH_MAX_LEN: usize = 512;
/// Longest SAML provider name AWS allows (IAM names: 128).
pub const SAML_PROVIDER_NAME_MAX_LEN: usize = 128;

fn is_iam_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '=' | ',' | '.' | '@' | '_' | '-')
}

/// Parsed `arn:<partition>:iam::<account>:<resource>` prefix.
fn split_iam_arn<'a>(
    what: &'static str,
    s: &'a str,
) -> Result<(&'a str, &'a str, &'a str), AwsNameError> {
    let parts: Vec<&str> = s.splitn(6, ':').collect();
    if parts.len() != 6 || parts[0] != "arn" || parts[2] != "iam" || !parts[3].is_empty() {
        return Err(AwsNameError::new(
            what,
            "must look like arn:aws:iam::123456789012:<resource>",
        ));
    }
    let partition = parts[1];
    let partition_ok = partition == "aws"
        || (partition.starts_with("aws-")
            && partition[4..]
                .split('-')
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase())));
    if !partition_ok {
        return Err(AwsNameError::new(
            what,
            format!("unknown partition {partition:?} (expected aws, aws-cn, aws-us-gov, ...)"),
        ));
    }
    let account = parts[4];
    if account.len() != 12 || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AwsNameError::new(
            what,
            "account id must be exactly 12 digits",
        ));
    }
    Ok((partition, account, parts[5]))
}

/// An IAM role ARN.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct RoleArn(String);

impl RoleArn {
    pub fn parse(s: &str) -> Result<Self, AwsNameError> {
        const WHAT: &str = "role ARN";
        let (_, _, resource) = split_iam_arn(WHAT, s)?;
        let Some(path_and_name) = resource.strip_prefix("role/") else {
            return Err(AwsNameError::new(WHAT, "resource must be role/<name>"));
        };
        let (path, name) = match path_and_name.rfind('/') {
            Some(i) => (&path_and_name[..=i], &path_and_name[i + 1..]),
            None => ("", path_and_name),
        };
        if name.is_empty() || name.len() > ROLE_NAME_MAX_LEN || !name.chars().all(is_iam_name_char)
        {
            return Err(AwsNameError::new(
                WHAT,
                "role name must be 1 to 64 characters from [A-Za-z0-9+=,.@_-]",
            ));
        }
        if path.len() + 1 > IAM_PATH_MAX_LEN
            || path.contains("//")
            || !path.chars().all(|c| c == '/' || is_iam_name_char(c))
        {
            return Err(AwsNameError::new(WHAT, "role path is not a valid IAM path"));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The partition (`aws`, `aws-us-gov`, `aws-cn`, ...): which AWS the role lives in.
    pub fn partition(&self) -> &str {
        self.0.split(':').nth(1).unwrap_or_default()
    }

    /// The 12-digit account that owns the role.
    pub fn account_id(&self) -> &str {
        self.0.split(':').nth(4).unwrap_or_default()
    }

    /// The role name (last path segment).
    pub fn role_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or_default()
    }
}

/// An IAM SAML provider ARN.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct SamlProviderArn(String);

impl SamlProviderArn {
    pub fn parse(s: &str) -> Result<Self, AwsNameError> {
        const WHAT: &str = "SAML provider ARN";
        let (_, _, resource) = split_iam_arn(WHAT, s)?;
        let Some(name) = resource.strip_prefix("saml-provider/") else {
            return Err(AwsNameError::new(
                WHAT,
                "resource must be saml-provider/<name>",
            ));
        };
        if name.is_empty()
            || name.len() > SAML_PROVIDER_NAME_MAX_LEN
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return Err(AwsNameError::new(
                WHAT,
                "provider name must be 1 to 128 characters from [A-Za-z0-9._-]",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One value of the SAML `Role` attribute: the role to assume and the provider that vouches for it.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct RolePair {
    pub role: RoleArn,
    pub provider: SamlProviderArn,
}

impl RolePair {
    /// Parse `role-ARN,provider-ARN` (either order). Whitespace anywhere is refused, as AWS does.
    pub fn parse(value: &str) -> Result<Self, AwsNameError> {
        const WHAT: &str = "Role attribute value";
        if value.chars().any(char::is_whitespace) {
            return Err(AwsNameError::new(
                WHAT,
                "must not contain whitespace (AWS rejects leading/trailing spaces)",
            ));
        }
        let parts: Vec<&str> = value.split(',').collect();
        if parts.len() != 2 {
            return Err(AwsNameError::new(
                WHAT,
                "must be exactly two comma-separated ARNs: role ARN and SAML provider ARN",
            ));
        }
        let is_role = |s: &str| s.split(':').nth(5).is_some_and(|r| r.starts_with("role/"));
        let (role, provider) = match (is_role(parts[0]), is_role(parts[1])) {
            (true, false) => (parts[0], parts[1]),
            (false, true) => (parts[1], parts[0]),
            _ => {
                return Err(AwsNameError::new(
                    WHAT,
                    "must pair one role ARN with one saml-provider ARN",
                ))
            }
        };
        let role = RoleArn::parse(role)?;
        let provider = SamlProviderArn::parse(provider)?;
        if role.account_id() != provider.as_str().split(':').nth(4).unwrap_or_default() {
            return Err(AwsNameError::new(
                WHAT,
                "role and SAML provider must be in the same AWS account",
            ));
        }
        Ok(Self { role, provider })
    }
}

display_debug!(RoleArn);
display_debug!(SamlProviderArn);

#[cfg(test)]
mod tests {
    use super::*;

    const ROLE: &str = "arn:aws:iam::123456789012:role/Admin";
    const PROV: &str = "arn:aws:iam::123456789012:saml-provider/Corp";

    #[test]
    fn role_arn_with_path_and_partition() {
        let r = RoleArn::parse("arn:aws-cn:iam::123456789012:role/team/a/Dev").unwrap();
        assert_eq!(r.role_name(), "Dev");
        assert_eq!(r.account_id(), "123456789012");
    }

    #[test]
    fn role_arn_rejects_bad_shapes() {
        for bad in [
            "arn:aws::iam::123456789012:role/x",
            "arn:aws:iam::12345678901:role/x",
            "arn:aws:iam::123456789012:user/x",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:iam::123456789012:role/a b",
            "arn:evil:iam::123456789012:role/x",
            "arn:aws:sts::123456789012:role/x",
        ] {
            assert!(RoleArn::parse(bad).is_err(), "{bad}");
        }
        assert!(RoleArn::parse(&format!(
            "arn:aws:iam::123456789012:role/{}",
            "a".repeat(65)
        ))
        .is_err());
    }

    #[test]
    fn role_pair_either_order() {
        let a = RolePair::parse(&format!("{ROLE},{PROV}")).unwrap();
        let b = RolePair::parse(&format!("{PROV},{ROLE}")).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.role.as_str(), ROLE);
    }

    #[test]
    fn role_pair_rejects_whitespace_and_cross_account() {
        assert!(RolePair::parse(&format!(" {ROLE},{PROV}")).is_err());
        assert!(RolePair::parse(&format!("{ROLE}, {PROV}")).is_err());
        assert!(RolePair::parse(&format!("{ROLE},{ROLE}")).is_err());
        assert!(RolePair::parse(&format!("{ROLE},{PROV},{PROV}")).is_err());
        assert!(RolePair::parse(&format!(
            "{ROLE},arn:aws:iam::999999999999:saml-provider/Corp"
        ))
        .is_err());
    }
}
