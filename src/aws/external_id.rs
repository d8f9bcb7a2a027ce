//! `ExternalId` for AssumeRole (reference §5.3): 2 to 1,224 characters, alphanumerics without
//! whitespace plus `+ = , . @ : / -`.
//!
//! Invariant: an `ExternalId` satisfies that rule. It is a shared value, not a credential, but it
//! is still kept out of `Debug` output so it does not end up in logs by accident.

use super::AwsNameError;

/// Shortest external ID AWS accepts.
pub const EXTERNAL_ID_MIN_LEN: usize = 2;
/// Longest external ID AWS accepts.
pub const EXTERNAL_ID_MAX_LEN: usize = 1_224;

/// A valid AssumeRole `ExternalId`.
#[derive(Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct ExternalId(String);

impl ExternalId {
    pub fn parse(s: &str) -> Result<Self, AwsNameError> {
        const WHAT: &str = "ExternalId";
        let len = s.chars().count();
        if !(EXTERNAL_ID_MIN_LEN..=EXTERNAL_ID_MAX_LEN).contains(&len) {
            return Err(AwsNameError::new(
                WHAT,
                format!("must be {EXTERNAL_ID_MIN_LEN} to {EXTERNAL_ID_MAX_LEN} characters long (got {len})"),
            ));
        }
        if let Some(bad) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "+=,.@:/-".contains(*c)))
        {
            return Err(AwsNameError::new(
                WHAT,
                format!("character {bad:?} is not allowed ([A-Za-z0-9+=,.@:/-], no whitespace)"),
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ExternalId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExternalId(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_and_charset() {
        assert!(ExternalId::parse("ab").is_ok());
        assert!(ExternalId::parse("Example987:/+=,.@-").is_ok());
        assert!(ExternalId::parse("a").is_err());
        assert!(ExternalId::parse(&"a".repeat(1_224)).is_ok());
        assert!(ExternalId::parse(&"a".repeat(1_225)).is_err());
        assert!(ExternalId::parse("has space").is_err());
        assert!(ExternalId::parse("under_score").is_err());
    }
}
