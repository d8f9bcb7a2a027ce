//! The console `SessionDuration` (docs/AWS-RULES.md §6.2, §6.4): how long the console session lasts,
//! separate from the credentials' STS `DurationSeconds`.
//!
//! Rules: 900–43,200 s for AssumeRole / AssumeRoleWithSAML / AssumeRoleWithWebIdentity
//! credentials; at most 3,600 s when the credentials are role-chained; omitted by default (the
//! console session then lasts as long as the credentials). Out-of-range requests are refused,
//! never clamped. GetFederationToken credentials must never carry `SessionDuration` (AWS fails
//! the call); the broker never obtains such credentials, so the parameter is sent whenever the
//! caller asks for it.

use super::ConsoleError;
use crate::aws::duration::{CHAINED_MAX_SESSION_SECONDS, MAX_SESSION_SECONDS, MIN_SESSION_SECONDS};
use crate::sts::StsCredentials;

/// A console session length the federation endpoint accepts, checked against the credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConsoleSessionDuration(u32);

impl ConsoleSessionDuration {
    /// Parse a decimal number of seconds strictly (no sign, spaces or fraction), 900–43,200.
    pub fn parse(raw: &str) -> Result<Self, ConsoleError> {
        if raw.is_empty() || raw.len() > 6 || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ConsoleError::InvalidSessionDuration);
        }
        let secs: u32 = raw
            .parse()
            .map_err(|_| ConsoleError::InvalidSessionDuration)?;
        if !(MIN_SESSION_SECONDS..=MAX_SESSION_SECONDS).contains(&secs) {
            return Err(ConsoleError::InvalidSessionDuration);
        }
        Ok(Self(secs))
    }

    /// Refuse more than one hour for role-chained credentials (AWS fails the sign-in otherwise).
    pub fn for_credentials(self, c: &StsCredentials) -> Result<Self, ConsoleError> {
        if c.chained && self.0 > CHAINED_MAX_SESSION_SECONDS {
            return Err(ConsoleError::ChainedSessionDuration { requested: self.0 });
        }
        Ok(self)
    }

    pub fn secs(self) -> u32 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn creds(chained: bool) -> StsCredentials {
        StsCredentials {
            access_key_id: "ASIA".into(),
            secret_access_key: SecretString::from(String::new()),
            session_token: SecretString::from(String::new()),
            expiration: chrono::Utc::now(),
            assumed_role_arn: String::new(),
            assumed_role_id: String::new(),
            subject: None,
            provider: None,
            audience: None,
            source_identity: None,
            packed_policy_size: None,
            chained,
            request_id: None,
        }
    }

    #[test]
    fn bounds_are_refused_not_clamped() {
        for bad in [
            "899", "43201", "0", "-900", "+900", " 900", "900.0", "", "9999999",
        ] {
            assert!(
                matches!(
                    ConsoleSessionDuration::parse(bad),
                    Err(ConsoleError::InvalidSessionDuration)
                ),
                "{bad:?}"
            );
        }
        assert_eq!(ConsoleSessionDuration::parse("900").unwrap().secs(), 900);
        assert_eq!(
            ConsoleSessionDuration::parse("43200").unwrap().secs(),
            43_200
        );
    }

    #[test]
    fn chained_credentials_cannot_open_a_console_session_longer_than_an_hour() {
        let d = ConsoleSessionDuration::parse("3601").unwrap();
        assert!(matches!(
            d.for_credentials(&creds(true)),
            Err(ConsoleError::ChainedSessionDuration { requested: 3601 })
        ));
        assert!(d.for_credentials(&creds(false)).is_ok());
        let hour = ConsoleSessionDuration::parse("3600").unwrap();
        assert!(hour.for_credentials(&creds(true)).is_ok());
    }
}
