//! `ExternalId` for AssumeRole (docs/AWS-RULES.md §5.3, §8.3): 2–1,224 characters from
//! `[A-Za-z0-9_+=,.@:/-]`, no whitespace. AWS does not treat it as a secret, so it prints as is; the
//! broker operator (the deputy) chooses one per customer, never the caller.
//!
//! The digest's list (`+ = , . @ : / -`) leaves out `_`; AWS's API pattern for this parameter is
//! `[\w+=,.@:/-]*`, and `\w` includes the underscore, so `_` is accepted here rather than refusing
//! an ID AWS takes. Anything AWS still refuses comes back as `StsError::InvalidRequest`.

use super::AwsNameError;

/// Shortest external ID AWS accepts.
pub const EXTERNAL_ID_MIN_LEN: usize = 2;
/// Longest external ID AWS accepts.
pub const EXTERNAL_ID_MAX_LEN: usize = 1_224;

fn is_external_id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '=' | ',' | '.' | '@' | ':' | '/' | '-')
}

/// A valid AssumeRole `ExternalId`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct ExternalId(String);

impl ExternalId {
    pub fn parse(s: &str) -> Result<Self, AwsNameError> {
        const WHAT: &str = "ExternalId";
        let len = s.chars().count();
        if !(EXTERNAL_ID_MIN_LEN..=EXTERNAL_ID_MAX_LEN).contains(&len) {
            return Err(AwsNameError::new(
                WHAT,
                format!("must be 2 to 1224 characters long (got {len})"),
            ));
        }
        if let Some(bad) = s.chars().find(|c| !is_external_id_char(*c)) {
            return Err(AwsNameError::new(
                WHAT,
                format!("must match [A-Za-z0-9_+=,.@:/-]; character {bad:?} is not allowed"),
            ));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

display_debug!(ExternalId);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_and_charset() {
        assert!(ExternalId::parse("a").is_err());
        assert!(ExternalId::parse("ab").is_ok());
        assert!(ExternalId::parse(&"x".repeat(1_224)).is_ok());
        assert!(ExternalId::parse(&"x".repeat(1_225)).is_err());
        assert!(ExternalId::parse("Example987+=,.@:/-_").is_ok());
        assert!(ExternalId::parse("3f1c9a2e-7b4d-4e6f-9a1b-2c3d4e5f6a7b").is_ok());
        for bad in ["has space", "tab\tx", "jürgen", "semi;colon"] {
            assert!(ExternalId::parse(bad).is_err(), "{bad}");
        }
    }
}
