//! Why no console sign-in URL was built. Variants follow how the caller reacts; the one table in
//! `http/errors.rs` turns their kind into an HTTP status.
//!
//! Invariant: no message carries the session JSON, a credential, the sign-in token, the login URL
//! or the caller's destination (only the rule it broke).

use crate::aws::duration::CHAINED_MAX_SESSION_SECONDS;
use crate::error::{ApiError, ErrorKind};
use crate::exchange::ExchangeError;

/// Seconds to suggest in `Retry-After` when the federation endpoint failed or was unreachable.
pub const ENDPOINT_RETRY_AFTER_SECS: u64 = 5;

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// The destination is not an https URL under an allowed prefix.
    #[error("destination is not allowed: {0}; send an https URL of the AWS console (e.g. https://console.aws.amazon.com/s3/) or omit it for the console home")]
    DestinationNotAllowed(&'static str),
    #[error("region must be an AWS Region name like us-east-1")]
    InvalidRegion,
    #[error("send either destination or region, not both (put ?region=... into the destination)")]
    RegionWithDestination,
    #[error("session_duration must be a whole number of seconds between 900 and 43200 (the console's limits); it is never clamped")]
    InvalidSessionDuration,
    /// Role-chained credentials open console sessions of at most one hour (docs/AWS-RULES.md §6.4).
    #[error(
        "these credentials are role-chained (the broker's own AWS credentials are temporary), and AWS \
         allows console sessions of at most {CHAINED_MAX_SESSION_SECONDS} seconds for them; \
         {requested} were requested: ask for {CHAINED_MAX_SESSION_SECONDS} or less, or omit session_duration"
    )]
    ChainedSessionDuration { requested: u32 },
    #[error("SAML sessions are named by the mapping rule or the assertion's RoleSessionName; send session_name only with a web-identity token")]
    SessionNameNotAccepted,
    #[error("the role's partition {0:?} has no console sign-in support in this broker (aws, aws-us-gov, aws-cn)")]
    UnsupportedPartition(String),
    /// Connection refused, DNS failure or timeout.
    #[error("the AWS federation endpoint is unreachable; retry later")]
    EndpointUnavailable,
    /// A 5xx or another status the endpoint should not answer.
    #[error("the AWS federation endpoint failed (HTTP {status}); retry later")]
    EndpointFailed { status: u16 },
    /// AWS refused the credentials (400/401/403): e.g. credentials from a call that cannot open a
    /// console session, or a SessionDuration the credentials do not allow.
    #[error("the AWS federation endpoint refused these credentials (HTTP {status}); they cannot open a console session with this session_duration")]
    SigninRefused { status: u16 },
    /// 200, but not `{"SigninToken": "..."}` within the size cap.
    #[error("the AWS federation endpoint gave an unexpected answer ({0}); retry later")]
    BadAnswer(&'static str),
    #[error("internal error: {0}")]
    Internal(String),
    #[error(transparent)]
    Exchange(#[from] ExchangeError),
}

impl ApiError for ConsoleError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::DestinationNotAllowed(_)
            | Self::InvalidRegion
            | Self::RegionWithDestination
            | Self::InvalidSessionDuration
            | Self::ChainedSessionDuration { .. }
            | Self::SessionNameNotAccepted
            | Self::UnsupportedPartition(_) => ErrorKind::BadRequest,
            Self::SigninRefused { .. } => ErrorKind::Forbidden,
            Self::EndpointUnavailable => ErrorKind::Unavailable,
            Self::EndpointFailed { .. } | Self::BadAnswer(_) => ErrorKind::BadGateway,
            Self::Internal(_) => ErrorKind::Internal,
            Self::Exchange(e) => e.kind(),
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::DestinationNotAllowed(_) => "console_destination_not_allowed",
            Self::InvalidRegion => "console_invalid_region",
            Self::RegionWithDestination => "console_region_with_destination",
            Self::InvalidSessionDuration => "console_invalid_session_duration",
            Self::ChainedSessionDuration { .. } => "console_session_duration_chained",
            Self::SessionNameNotAccepted => "session_name_not_accepted",
            Self::UnsupportedPartition(_) => "console_partition_unsupported",
            Self::EndpointUnavailable => "console_endpoint_unavailable",
            Self::EndpointFailed { .. } => "console_endpoint_failed",
            Self::SigninRefused { .. } => "console_signin_refused",
            Self::BadAnswer(_) => "console_endpoint_bad_answer",
            Self::Internal(_) => "internal_error",
            Self::Exchange(e) => e.code(),
        }
    }
    fn retry_after(&self) -> Option<u64> {
        match self {
            Self::EndpointUnavailable | Self::EndpointFailed { .. } | Self::BadAnswer(_) => {
                Some(ENDPOINT_RETRY_AFTER_SECS)
            }
            Self::Exchange(e) => e.retry_after(),
            _ => None,
        }
    }
    fn detail(&self) -> Option<serde_json::Value> {
        match self {
            Self::Exchange(e) => e.detail(),
            _ => None,
        }
    }
}
