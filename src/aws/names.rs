//! `RoleSessionName` and `SourceIdentity`: `[a-zA-Z_0-9+=,.@-]{2,64}`; a source identity must not
//! begin with `aws:` (AWS error texts: docs/AWS-RULES.md §2.12).

use super::AwsNameError;

/// Shortest session name / source identity AWS accepts.
pub const NAME_MIN_LEN: usize = 2;
/// Longest session name / source identity AWS accepts.
pub const NAME_MAX_LEN: usize = 64;

fn is_sts_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '=' | ',' | '.' | '@' | '-')
}

fn check_sts_name(what: &'static str, s: &str) -> Result<(), AwsNameError> {
    let len = s.chars().count();
    if !(NAME_MIN_LEN..=NAME_MAX_LEN).contains(&len) {
        return Err(AwsNameError::new(
            what,
            format!("must be 2 to 64 characters long (got {len})"),
        ));
    }
    if let Some(bad) = s.chars().find(|c| !is_sts_name_char(*c)) {
        return Err(AwsNameError::new(
            what,
            format!(
                "must match [a-zA-Z_0-9+=,.@-]{{2,64}}; character {:?} is not allowed",
                bad
            ),
        ));
    }
    Ok(())
}

/// A valid `RoleSessionName`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct RoleSessionName(String);

impl RoleSessionName {
    pub fn parse(s: &str) -> Result<Self, AwsNameError> {
        check_sts_name("RoleSessionName", s)?;
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A valid `SourceIdentity`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct SourceIdentity(String);

impl SourceIdentity {
    pub fn parse(s: &str) -> Result<Self, AwsNameError> {
        check_sts_name("SourceIdentity", s)?;
        if s.to_ascii_lowercase().starts_with("aws:") {
            return Err(AwsNameError::new(
                "SourceIdentity",
                "must not begin with \"aws:\"",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

display_debug!(RoleSessionName);
display_debug!(SourceIdentity);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_name_accepts_aws_charset_and_bounds() {
        assert!(RoleSessionName::parse("ab").is_ok());
        assert!(RoleSessionName::parse(&"a".repeat(64)).is_ok());
        assert!(RoleSessionName::parse("alice@example.com,+=.-_").is_ok());
    }

    #[test]
    fn session_name_rejects_space_unicode_and_length() {
        assert!(RoleSessionName::parse("a").is_err());
        assert!(RoleSessionName::parse(&"a".repeat(65)).is_err());
        assert!(RoleSessionName::parse("John Doe").is_err());
        assert!(RoleSessionName::parse("jürgen").is_err());
        assert!(RoleSessionName::parse("a/b").is_err());
    }

    #[test]
    fn source_identity_rejects_aws_prefix_any_case() {
        assert!(SourceIdentity::parse("aws:admin").is_err());
        assert!(SourceIdentity::parse("AWS:admin").is_err());
        assert!(SourceIdentity::parse("DiegoRamirez").is_ok());
    }
}
