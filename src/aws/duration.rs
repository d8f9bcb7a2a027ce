//! Session durations: STS `DurationSeconds` and the SAML `SessionDuration` attribute, 900–43200 s.

use super::AwsNameError;

/// Shortest session STS grants (15 minutes).
pub const MIN_SESSION_SECONDS: u32 = 900;
/// Longest role session (12 hours; a role's MaxSessionDuration cannot exceed it).
pub const MAX_SESSION_SECONDS: u32 = 43_200;
/// Role-chained sessions are capped at one hour; larger requests fail (docs/AWS-RULES.md §5.2).
pub const CHAINED_MAX_SESSION_SECONDS: u32 = 3_600;
/// STS's default when `DurationSeconds` is omitted.
pub const DEFAULT_SESSION_SECONDS: u32 = 3_600;

/// A duration in 900..=43200 seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct SessionDuration(u32);

impl SessionDuration {
    pub fn from_secs(secs: i64) -> Result<Self, AwsNameError> {
        if !(i64::from(MIN_SESSION_SECONDS)..=i64::from(MAX_SESSION_SECONDS)).contains(&secs) {
            return Err(AwsNameError::new(
                "duration_seconds",
                format!("must be between 900 and 43200 seconds (got {secs})"),
            ));
        }
        Ok(Self(secs as u32))
    }

    /// Parse a decimal string strictly (no sign, no spaces, no fraction).
    pub fn parse(s: &str) -> Result<Self, AwsNameError> {
        if s.is_empty() || s.len() > 6 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(AwsNameError::new(
                "duration_seconds",
                "must be a whole number of seconds between 900 and 43200",
            ));
        }
        Self::from_secs(s.parse::<i64>().unwrap_or(-1))
    }

    pub fn secs(self) -> u32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        assert!(SessionDuration::from_secs(899).is_err());
        assert!(SessionDuration::from_secs(900).is_ok());
        assert!(SessionDuration::from_secs(43_200).is_ok());
        assert!(SessionDuration::from_secs(43_201).is_err());
        assert!(SessionDuration::parse("+900").is_err());
        assert!(SessionDuration::parse(" 900").is_err());
        assert!(SessionDuration::parse("1800").is_ok());
    }
}
