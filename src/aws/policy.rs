//! Session policies (docs/AWS-RULES.md §5.4): one inline JSON policy document and up to 10 managed policy
//! ARNs, whose combined plaintext AWS caps at 2,048 characters. Policy documents may only contain
//! U+0009, U+000A, U+000D and U+0020–U+00FF (docs/AWS-RULES.md §5.3).
//!
//! Invariant: a `SessionPolicy` is a JSON object within the length and character limits; a
//! `PolicyArn` is an IAM managed policy ARN (`arn:<partition>:iam::<account|aws>:policy/...`).

use super::AwsNameError;

/// Longest session-policy plaintext (inline policy and managed policy ARNs combined).
pub const SESSION_POLICY_MAX_CHARS: usize = 2_048;
/// Most managed policy ARNs one session may pass (`PolicyArns`).
pub const MAX_POLICY_ARNS: usize = 10;
/// Longest IAM managed policy name.
pub const POLICY_NAME_MAX_LEN: usize = 128;

fn is_policy_char(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{a}' | '\u{d}' | '\u{20}'..='\u{ff}')
}

/// An inline session policy document.
#[derive(Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct SessionPolicy(String);

impl SessionPolicy {
    pub fn parse(s: &str) -> Result<Self, AwsNameError> {
        const WHAT: &str = "session policy";
        let len = s.chars().count();
        if len > SESSION_POLICY_MAX_CHARS {
            return Err(AwsNameError::new(
                WHAT,
                format!(
                    "{len} characters (AWS allows at most {SESSION_POLICY_MAX_CHARS}, policy ARNs included)"
                ),
            ));
        }
        if let Some(bad) = s.chars().find(|c| !is_policy_char(*c)) {
            return Err(AwsNameError::new(
                WHAT,
                format!("character {bad:?} is not allowed (tab, newline, carriage return and U+0020 to U+00FF only)"),
            ));
        }
        match serde_json::from_str::<serde_json::Value>(s) {
            Ok(serde_json::Value::Object(_)) => Ok(Self(s.to_owned())),
            Ok(_) => Err(AwsNameError::new(WHAT, "must be a JSON object")),
            Err(e) => Err(AwsNameError::new(WHAT, format!("is not valid JSON: {e}"))),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Length in characters, as AWS counts the plaintext limit.
    pub fn char_len(&self) -> usize {
        self.0.chars().count()
    }
}

/// An IAM managed policy ARN (AWS-managed `arn:aws:iam::aws:policy/...` or customer-managed).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct PolicyArn(String);

impl PolicyArn {
    pub fn parse(s: &str) -> Result<Self, AwsNameError> {
        const WHAT: &str = "policy ARN";
        let shape = "must look like arn:aws:iam::aws:policy/ReadOnlyAccess or arn:aws:iam::123456789012:policy/Name";
        let parts: Vec<&str> = s.splitn(6, ':').collect();
        if parts.len() != 6 || parts[0] != "arn" || parts[2] != "iam" || !parts[3].is_empty() {
            return Err(AwsNameError::new(WHAT, shape));
        }
        let partition = parts[1];
        if !(partition == "aws"
            || partition.strip_prefix("aws-").is_some_and(|p| {
                !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase() || c == '-')
            }))
        {
            return Err(AwsNameError::new(
                WHAT,
                format!("unknown partition {partition:?}"),
            ));
        }
        let account = parts[4];
        if !(account == "aws"
            || (account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit())))
        {
            return Err(AwsNameError::new(
                WHAT,
                "account must be \"aws\" or 12 digits",
            ));
        }
        let Some(path_and_name) = parts[5].strip_prefix("policy/") else {
            return Err(AwsNameError::new(WHAT, shape));
        };
        let name = path_and_name.rsplit('/').next().unwrap_or_default();
        let iam_char = |c: char| {
            c.is_ascii_alphanumeric() || matches!(c, '+' | '=' | ',' | '.' | '@' | '_' | '-')
        };
        if name.is_empty()
            || name.len() > POLICY_NAME_MAX_LEN
            || path_and_name.contains("//")
            || !path_and_name.chars().all(|c| c == '/' || iam_char(c))
        {
            return Err(AwsNameError::new(
                WHAT,
                "policy name must be 1 to 128 characters from [A-Za-z0-9+=,.@_-] (path segments likewise)",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

display_debug!(PolicyArn);

impl std::fmt::Debug for SessionPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SessionPolicy({} chars)", self.char_len())
    }
}

/// Check the combined plaintext limit and the ARN count of one session's policies.
pub fn check_session_policies(
    policy: Option<&SessionPolicy>,
    arns: &[PolicyArn],
) -> Result<(), AwsNameError> {
    if arns.len() > MAX_POLICY_ARNS {
        return Err(AwsNameError::new(
            "policy ARNs",
            format!(
                "{} policy ARNs (AWS allows at most {MAX_POLICY_ARNS})",
                arns.len()
            ),
        ));
    }
    let total = policy.map_or(0, SessionPolicy::char_len)
        + arns.iter().map(|a| a.as_str().len()).sum::<usize>();
    if total > SESSION_POLICY_MAX_CHARS {
        return Err(AwsNameError::new(
            "session policies",
            format!("inline policy and policy ARNs together are {total} characters (AWS allows at most {SESSION_POLICY_MAX_CHARS})"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_limits() {
        assert!(SessionPolicy::parse(r#"{"Version":"2012-10-17","Statement":[]}"#).is_ok());
        assert!(SessionPolicy::parse("[]").is_err());
        assert!(SessionPolicy::parse("{").is_err());
        assert!(SessionPolicy::parse("{\"a\":\"\u{2028}\"}").is_err());
        let pad = |n: usize| format!("{{\"a\":\"{}\"}}", "x".repeat(n - 8));
        assert!(SessionPolicy::parse(&pad(2_048)).is_ok());
        assert!(SessionPolicy::parse(&pad(2_049)).is_err());
    }

    #[test]
    fn policy_arns() {
        assert!(PolicyArn::parse("arn:aws:iam::aws:policy/ReadOnlyAccess").is_ok());
        assert!(PolicyArn::parse("arn:aws:iam::123456789012:policy/team/Deploy").is_ok());
        assert!(PolicyArn::parse("arn:aws:iam::123456789012:role/Deploy").is_err());
        assert!(PolicyArn::parse("arn:aws:iam::12:policy/x").is_err());
        let arn = PolicyArn::parse("arn:aws:iam::aws:policy/ReadOnlyAccess").unwrap();
        assert!(check_session_policies(None, &vec![arn.clone(); 10]).is_ok());
        assert!(check_session_policies(None, &vec![arn; 11]).is_err());
    }
}
