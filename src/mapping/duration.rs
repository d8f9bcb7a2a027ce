//! The duration negotiator: the effective `DurationSeconds` for one grant, and why.
//!
//! Inputs, all already parsed: the caller's request, the grant's configured `duration_seconds`
//! (the default and the maximum the operator allows), the SAML `SessionDuration` attribute (the
//! IdP's maximum; in an API call it "can be used to shorten the duration", docs/AWS-RULES.md §2.5), the time
//! left before SAML `SessionNotOnOrAfter`, and whether the call is role chaining.
//!
//! Rules: an explicit request above the grant's or the IdP's maximum is refused; above one hour
//! when chaining it is refused too, because AWS fails such calls rather than clamping (reference
//! §5.2). Without a request the smallest configured limit is used (the chaining cap included).
//! The result is then shortened to the IdP session's remaining time, which credentials must not
//! outlive; under 15 minutes left is refused. Pure: the caller computes the remaining time.

use super::MappingError;
use crate::aws::duration::{
    CHAINED_MAX_SESSION_SECONDS, DEFAULT_SESSION_SECONDS, MIN_SESSION_SECONDS,
};
use crate::aws::SessionDuration;

/// Where the effective duration came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DurationReason {
    /// The caller's `duration_seconds`, within every limit.
    Requested,
    /// The grant's `duration_seconds` (no request).
    Rule,
    /// The IdP's SAML `SessionDuration` (no request, smaller than the rule's).
    IdpSessionDuration,
    /// One hour: role chaining caps sessions (no request, larger limits configured).
    ChainedCap,
    /// Shortened to the time left before the IdP's `SessionNotOnOrAfter`.
    IdpSessionEnds,
    /// Nothing configured or requested: STS's default of one hour.
    StsDefault,
}

impl DurationReason {
    /// A sentence for answers and logs.
    pub fn explain(self) -> &'static str {
        match self {
            Self::Requested => "as requested",
            Self::Rule => "the mapping rule's duration_seconds",
            Self::IdpSessionDuration => "the identity provider's SessionDuration",
            Self::ChainedCap => {
                "capped at 1 hour: the broker's own credentials are temporary, so this is role chaining"
            }
            Self::IdpSessionEnds => {
                "shortened to end with the identity provider's session (SessionNotOnOrAfter)"
            }
            Self::StsDefault => "STS's default of 1 hour",
        }
    }
}

/// The negotiated duration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Negotiated {
    pub duration: SessionDuration,
    pub reason: DurationReason,
}

impl Negotiated {
    pub fn seconds(&self) -> u32 {
        self.duration.secs()
    }
}

/// Negotiate the effective `DurationSeconds`; see the module doc for the rules.
pub fn negotiate(
    requested: Option<SessionDuration>,
    rule: Option<SessionDuration>,
    saml_session_duration: Option<SessionDuration>,
    session_remaining_secs: Option<i64>,
    chained: bool,
) -> Result<Negotiated, MappingError> {
    let (mut secs, mut reason) = match requested {
        Some(r) => {
            if let Some(max) = rule.filter(|m| r > *m) {
                return Err(MappingError::DurationNotAllowed(format!(
                    "duration_seconds {} exceeds the {} seconds the mapping rule allows for this role",
                    r.secs(),
                    max.secs()
                )));
            }
            if let Some(max) = saml_session_duration.filter(|m| r > *m) {
                return Err(MappingError::DurationNotAllowed(format!(
                    "duration_seconds {} exceeds the {} seconds your identity provider allows (SessionDuration)",
                    r.secs(),
                    max.secs()
                )));
            }
            if chained && r.secs() > CHAINED_MAX_SESSION_SECONDS {
                return Err(MappingError::DurationNotAllowed(format!(
                    "duration_seconds {} exceeds 3600: the broker's own credentials are temporary, so this is role chaining, and AWS limits role chaining to 1 hour and fails longer DurationSeconds; ask for 3600 or less",
                    r.secs()
                )));
            }
            (r.secs(), DurationReason::Requested)
        }
        None => [
            (rule.map(SessionDuration::secs), DurationReason::Rule),
            (
                saml_session_duration.map(SessionDuration::secs),
                DurationReason::IdpSessionDuration,
            ),
            (
                chained.then_some(CHAINED_MAX_SESSION_SECONDS),
                DurationReason::ChainedCap,
            ),
        ]
        .into_iter()
        .filter_map(|(limit, why)| limit.map(|l| (l, why)))
        // The first smallest wins ties: rule, then IdP, then the chaining cap.
        .min_by_key(|(l, _)| *l)
        .unwrap_or((DEFAULT_SESSION_SECONDS, DurationReason::StsDefault)),
    };
    if let Some(remaining) = session_remaining_secs {
        if remaining < i64::from(MIN_SESSION_SECONDS) {
            return Err(MappingError::SessionEnding);
        }
        if i64::from(secs) > remaining {
            secs = remaining as u32;
            reason = DurationReason::IdpSessionEnds;
        }
    }
    let duration = SessionDuration::from_secs(i64::from(secs))
        .map_err(|e| MappingError::DurationNotAllowed(e.to_string()))?;
    Ok(Negotiated { duration, reason })
}

/// A console `SessionDuration` may not outlast what the credentials were negotiated for: refused
/// (never clamped) above the grant's `duration_seconds`, the time left before the IdP's
/// `SessionNotOnOrAfter`, or the negotiated `DurationSeconds` (which is within the IdP's
/// `SessionDuration` too). Same code as a `duration_seconds` above a limit: `duration_not_allowed`.
pub fn check_console_duration(
    console_secs: u32,
    negotiated: &Negotiated,
    rule: Option<SessionDuration>,
    session_remaining_secs: Option<i64>,
) -> Result<(), MappingError> {
    let refuse = |limit: i64, what: &str| {
        MappingError::DurationNotAllowed(format!(
            "session_duration {console_secs} exceeds {what} ({limit} seconds); a console session may not outlast its credentials: ask for {limit} or less, or omit session_duration"
        ))
    };
    if let Some(max) = rule.filter(|m| console_secs > m.secs()) {
        return Err(refuse(
            i64::from(max.secs()),
            "what the mapping rule allows for this role (duration_seconds)",
        ));
    }
    if let Some(left) = session_remaining_secs.filter(|l| i64::from(console_secs) > *l) {
        return Err(refuse(
            left.max(0),
            "the time left in your identity provider's session (SessionNotOnOrAfter)",
        ));
    }
    if console_secs > negotiated.seconds() {
        return Err(refuse(
            i64::from(negotiated.seconds()),
            "the credentials' negotiated duration (duration_seconds, the rule and the identity provider's SessionDuration)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: i64) -> Option<SessionDuration> {
        Some(SessionDuration::from_secs(s).unwrap())
    }
    fn ok(n: Result<Negotiated, MappingError>) -> (u32, DurationReason) {
        let n = n.unwrap();
        (n.seconds(), n.reason)
    }

    #[test]
    fn request_within_limits_is_used() {
        assert_eq!(
            ok(negotiate(d(1800), d(7200), d(3600), None, false)),
            (1800, DurationReason::Requested)
        );
    }

    #[test]
    fn request_above_a_limit_is_refused_not_clamped() {
        for (rule, idp, chained, needle) in [
            (d(3600), None, false, "mapping rule"),
            (None, d(3600), false, "SessionDuration"),
            (None, None, true, "role chaining"),
        ] {
            let e = negotiate(d(7200), rule, idp, None, chained).unwrap_err();
            assert_eq!(e.code(), "duration_not_allowed");
            assert_eq!(e.kind(), crate::error::ErrorKind::BadRequest);
            assert!(e.to_string().contains(needle), "{e}");
        }
    }

    #[test]
    fn default_is_the_smallest_limit_with_its_reason() {
        assert_eq!(
            ok(negotiate(None, None, None, None, false)),
            (3600, DurationReason::StsDefault)
        );
        assert_eq!(
            ok(negotiate(None, d(7200), None, None, false)),
            (7200, DurationReason::Rule)
        );
        assert_eq!(
            ok(negotiate(None, d(7200), d(1800), None, false)),
            (1800, DurationReason::IdpSessionDuration)
        );
        assert_eq!(
            ok(negotiate(None, d(43_200), None, None, true)),
            (3600, DurationReason::ChainedCap)
        );
        assert_eq!(
            ok(negotiate(None, None, None, None, true)),
            (3600, DurationReason::ChainedCap)
        );
        assert_eq!(
            ok(negotiate(None, d(900), None, None, true)),
            (900, DurationReason::Rule)
        );
    }

    #[test]
    fn idp_session_end_shortens_and_refuses_under_fifteen_minutes() {
        assert_eq!(
            ok(negotiate(d(3600), None, None, Some(1000), false)),
            (1000, DurationReason::IdpSessionEnds)
        );
        assert_eq!(
            ok(negotiate(None, None, None, Some(86_400), false)),
            (3600, DurationReason::StsDefault)
        );
        let e = negotiate(None, None, None, Some(899), false).unwrap_err();
        assert_eq!(e.code(), "saml_session_ending");
    }

    use crate::error::ApiError;

    #[test]
    fn console_duration_may_not_outlast_the_negotiated_limits() {
        let n = negotiate(None, d(1800), None, None, false).unwrap();
        assert!(check_console_duration(1800, &n, d(1800), None).is_ok());
        let e = check_console_duration(1801, &n, d(1800), None).unwrap_err();
        assert_eq!(crate::error::ApiError::code(&e), "duration_not_allowed");
        assert!(e.to_string().contains("mapping rule"), "{e}");
        let e = check_console_duration(1200, &n, None, Some(960)).unwrap_err();
        assert!(e.to_string().contains("SessionNotOnOrAfter"), "{e}");
        let short = negotiate(d(900), None, None, None, false).unwrap();
        let e = check_console_duration(43200, &short, None, None).unwrap_err();
        assert!(e.to_string().contains("negotiated"), "{e}");
    }
}
