//! `[oauth]`: the bounds of CLI sessions (`fedbroker login`), their access tokens and user-code
//! guesses. Every out-of-range key is reported, none stops the others.

use crate::config::errors::ConfigErrors;
use crate::config::model::OauthConfig;

/// Shortest and longest `oauth.cli_session_seconds` (5 minutes, 7 days: `oauth::MAX_CLI_SESSION_TTL`).
pub const CLI_SESSION_SECONDS: (u64, u64) = (300, 604_800);
/// Shortest `oauth.access_token_seconds`.
pub const MIN_ACCESS_TOKEN_SECONDS: u64 = 60;
/// Largest `oauth.user_code_guesses_per_minute`.
pub const MAX_GUESSES_PER_MINUTE: u32 = 600;

pub(super) fn check(errors: &mut ConfigErrors, c: &OauthConfig) {
    let (lo, hi) = CLI_SESSION_SECONDS;
    if !(lo..=hi).contains(&c.cli_session_seconds) {
        errors.push(format!(
            "oauth.cli_session_seconds = {}: must be {lo}..={hi} (5 minutes to 7 days)",
            c.cli_session_seconds
        ));
    }
    if c.access_token_seconds < MIN_ACCESS_TOKEN_SECONDS
        || c.access_token_seconds > c.cli_session_seconds
    {
        errors.push(format!(
            "oauth.access_token_seconds = {}: must be {MIN_ACCESS_TOKEN_SECONDS}..=oauth.cli_session_seconds ({})",
            c.access_token_seconds, c.cli_session_seconds
        ));
    }
    if !(1..=MAX_GUESSES_PER_MINUTE).contains(&c.user_code_guesses_per_minute) {
        errors.push(format!(
            "oauth.user_code_guesses_per_minute = {}: must be 1..={MAX_GUESSES_PER_MINUTE} (it bounds guesses of device user codes)",
            c.user_code_guesses_per_minute
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_and_every_bad_key_is_reported() {
        let mut errors = ConfigErrors::default();
        check(&mut errors, &OauthConfig::default());
        assert!(errors.0.is_empty(), "{errors:?}");
        let bad = OauthConfig {
            cli_session_seconds: 10,
            access_token_seconds: 30,
            user_code_guesses_per_minute: 0,
        };
        check(&mut errors, &bad);
        assert_eq!(errors.0.len(), 3, "{errors:?}");
        assert!(errors.0[0].contains("oauth.cli_session_seconds"));
        assert!(errors.0[1].contains("oauth.access_token_seconds"));
        assert!(errors.0[2].contains("oauth.user_code_guesses_per_minute"));
    }

    #[test]
    fn an_access_token_may_not_outlive_its_session() {
        let mut errors = ConfigErrors::default();
        let c = OauthConfig {
            cli_session_seconds: 600,
            access_token_seconds: 3_600,
            ..OauthConfig::default()
        };
        check(&mut errors, &c);
        assert_eq!(errors.0.len(), 1, "{errors:?}");
    }
}
