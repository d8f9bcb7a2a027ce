//! AWS STS behind a small trait, so exchange logic is tested against moto and production talks to AWS
//! through the same code path (`aws-sdk-sts`, see `sdk.rs`).
//!
//! Layout (imports go one way, from the client down): `sdk.rs` (the client) uses `assume_role.rs`
//! (the signed request), `broker.rs` (the broker's own credentials) and `retry.rs`; all of them
//! share `answer.rs` (answer → [`StsCredentials`]) and `aws_error.rs` (error → [`StsError`],
//! message scrubbing), which use nothing but this module's types.
//!
//! Invariant: no request or response type here prints a secret: the assertion, token and returned
//! keys are `SecretString`s.

mod answer;
mod assume_role;
pub mod aws_error;
pub mod broker;
pub mod retry;
pub mod sdk;

pub use sdk::SdkStsClient;

use crate::aws::duration::CHAINED_MAX_SESSION_SECONDS;
use crate::aws::{
    ExternalId, RoleArn, RoleSessionName, SamlProviderArn, SessionDuration, SessionTags,
    SourceIdentity,
};
use crate::error::{ApiError, ErrorKind};
use chrono::{DateTime, Utc};
use secrecy::SecretString;
use std::time::Duration;

/// Time allowed to open a connection (TCP + TLS) to STS. Regional endpoints answer in milliseconds;
/// waiting longer only delays the retry.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Time allowed for one STS call, from sending to the parsed answer. STS itself may wait on the IdP
/// (web identity), so this is generous; a login waits at most `MAX_ATTEMPTS` times this.
pub const OPERATION_TIMEOUT: Duration = Duration::from_secs(10);

/// Input to AssumeRoleWithSAML.
#[derive(Clone, Debug)]
pub struct AssumeRoleWithSamlRequest {
    pub role_arn: RoleArn,
    pub principal_arn: SamlProviderArn,
    /// The base64 SAML Response, as received from the IdP.
    pub saml_assertion: SecretString,
    pub duration: Option<SessionDuration>,
}

/// Input to AssumeRoleWithWebIdentity (pass-through and issuer modes). Unsigned, like the SAML call:
/// the token is the only proof of identity AWS gets.
#[derive(Clone, Debug)]
pub struct AssumeRoleWithWebIdentityRequest {
    pub role_arn: RoleArn,
    pub role_session_name: RoleSessionName,
    /// The OIDC ID token or OAuth 2.0 JWT access token, as issued by the IdP (or by the broker in
    /// issuer mode).
    pub web_identity_token: SecretString,
    pub duration: Option<SessionDuration>,
}

/// Input to AssumeRole (assume-role mode): a call SIGNED with the broker's own AWS credentials,
/// which may carry session tags, a source identity and an external ID (unlike the unsigned calls,
/// where those can only come from inside the assertion or token).
#[derive(Clone, Debug)]
pub struct AssumeRoleRequest {
    pub role_arn: RoleArn,
    pub role_session_name: RoleSessionName,
    /// `None`: STS's default (1 hour), also the role-chaining cap, so nothing is sent.
    pub duration: Option<SessionDuration>,
    /// `Tags.member.N` and `TransitiveTagKeys.member.N`.
    pub tags: SessionTags,
    pub source_identity: Option<SourceIdentity>,
    /// Set by the broker operator per customer account (confused deputy, docs/AWS-RULES.md §8.3).
    pub external_id: Option<ExternalId>,
    /// Inline session policy (JSON); checked by AWS (≤ 2,048 plaintext characters with the ARNs).
    pub policy: Option<String>,
    /// Managed session policy ARNs (`PolicyArns.member.N.arn`, at most 10; checked by AWS).
    pub policy_arns: Vec<String>,
}

/// Temporary credentials returned by STS.
#[derive(Clone, Debug)]
pub struct StsCredentials {
    pub access_key_id: String,
    pub secret_access_key: SecretString,
    pub session_token: SecretString,
    pub expiration: DateTime<Utc>,
    /// `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`
    pub assumed_role_arn: String,
    pub assumed_role_id: String,
    /// SAML `Subject` / web-identity `SubjectFromWebIdentityToken`, when STS returns it.
    pub subject: Option<String>,
    /// The identity provider as STS names it: SAML `Issuer` / web-identity `Provider` (the IAM OIDC
    /// provider's issuer host, or the `ProviderId` of a built-in provider), when STS returns it.
    pub provider: Option<String>,
    /// SAML `Audience` / web-identity `Audience` (the token's `aud`, or `azp` when set), when STS
    /// returns it.
    pub audience: Option<String>,
    pub source_identity: Option<String>,
    pub packed_policy_size: Option<i32>,
    /// Role chaining: AssumeRole was called with temporary broker credentials, so AWS capped the
    /// session at [`CHAINED_MAX_SESSION_SECONDS`] (1 hour). Always `false` for the unsigned calls.
    /// The answer should say so (a caller asking for more got at most one hour).
    pub chained: bool,
    /// The STS request ID (`x-amzn-RequestId`), for joining the audit log with CloudTrail.
    pub request_id: Option<String>,
}

/// Why STS did not return credentials. Variants follow how the caller reacts.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StsError {
    /// STS rejected the assertion/token (`InvalidIdentityToken`, `ExpiredToken`, `IDPRejectedClaim`).
    #[error("AWS STS rejected the identity token ({aws_code}): {message}")]
    IdentityRejected { aws_code: String, message: String },
    /// STS refused the role (`AccessDenied`, bad DurationSeconds for the role, region disabled...).
    #[error("AWS STS refused the request ({aws_code}): {message}")]
    Refused { aws_code: String, message: String },
    /// The request we built was invalid (`ValidationError`, `MalformedPolicyDocument`,
    /// `PackedPolicyTooLarge`).
    #[error("AWS STS found the request invalid ({aws_code}): {message}")]
    InvalidRequest { aws_code: String, message: String },
    /// Throttled after retries.
    #[error("AWS STS is throttling requests; retry later")]
    Throttled,
    /// STS could not reach the IdP (`IDPCommunicationError`) after retries.
    #[error("AWS STS could not reach the identity provider; retry later")]
    IdpUnreachable,
    /// Network failure, timeout or 5xx from STS after retries.
    #[error("AWS STS is unavailable: {0}")]
    Unavailable(String),
    /// Refused before calling AWS: the broker's own credentials are temporary, so AssumeRole is
    /// role chaining, and AWS fails (does not clamp) any `DurationSeconds` above one hour.
    #[error(
        "role chaining: the broker's own AWS credentials are temporary, and AWS limits role-chained \
         sessions to {max} seconds (1 hour), failing any DurationSeconds above it; {requested} seconds \
         were requested: ask for {max} seconds or less",
        max = CHAINED_MAX_SESSION_SECONDS
    )]
    ChainingLimit { requested: u32 },
    /// The broker has no usable AWS credentials of its own for AssumeRole (nothing found by the
    /// default credential chain, or its configuration is invalid): an operator must fix it.
    #[error("the broker has no usable AWS credentials for AssumeRole: {0}")]
    BrokerCredentials(String),
    /// The broker could not prepare the call (e.g. minting its issuer-mode token failed): a bug or
    /// a broken key, for an operator to fix.
    #[error("the broker could not prepare the STS call: {0}")]
    Broker(String),
}

impl StsError {
    /// The AWS error code behind this error, when AWS sent one.
    pub fn aws_code(&self) -> Option<&str> {
        match self {
            Self::IdentityRejected { aws_code, .. }
            | Self::Refused { aws_code, .. }
            | Self::InvalidRequest { aws_code, .. } => Some(aws_code),
            Self::Throttled
            | Self::IdpUnreachable
            | Self::Unavailable(_)
            | Self::ChainingLimit { .. }
            | Self::BrokerCredentials(_)
            | Self::Broker(_) => None,
        }
    }
}

impl ApiError for StsError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::IdentityRejected { .. } | Self::Refused { .. } => ErrorKind::Forbidden,
            Self::InvalidRequest { .. } | Self::ChainingLimit { .. } => ErrorKind::BadRequest,
            Self::Throttled => ErrorKind::Throttled,
            Self::IdpUnreachable => ErrorKind::BadGateway,
            Self::Unavailable(_) => ErrorKind::Unavailable,
            Self::BrokerCredentials(_) | Self::Broker(_) => ErrorKind::Internal,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::IdentityRejected { .. } => "sts_identity_rejected",
            Self::Refused { .. } => "sts_access_denied",
            Self::InvalidRequest { .. } => "sts_invalid_request",
            Self::Throttled => "sts_throttled",
            Self::IdpUnreachable => "sts_idp_unreachable",
            Self::Unavailable(_) => "sts_unavailable",
            Self::ChainingLimit { .. } => "sts_chaining_limit",
            Self::BrokerCredentials(_) => "sts_broker_credentials",
            Self::Broker(_) => "broker_internal_error",
        }
    }
    fn retry_after(&self) -> Option<u64> {
        match self {
            Self::Throttled | Self::IdpUnreachable | Self::Unavailable(_) => Some(5),
            _ => None,
        }
    }
}

/// The STS operations fedbroker uses.
#[async_trait::async_trait]
pub trait StsClient: Send + Sync + std::fmt::Debug {
    async fn assume_role_with_saml(
        &self,
        req: AssumeRoleWithSamlRequest,
    ) -> Result<StsCredentials, StsError>;

    async fn assume_role_with_web_identity(
        &self,
        req: AssumeRoleWithWebIdentityRequest,
    ) -> Result<StsCredentials, StsError>;

    /// AssumeRole signed with the broker's own credentials; `chained` in the answer says whether
    /// the 1-hour role-chaining cap applied.
    async fn assume_role(&self, req: AssumeRoleRequest) -> Result<StsCredentials, StsError>;
}

/// Refuse, before calling AWS, a chained AssumeRole asking for more than one hour: AWS would fail
/// it anyway (docs/AWS-RULES.md §5.2: DurationSeconds above 1 hour on a chained call FAILS, it is not
/// clamped). Without a duration nothing is sent: STS's default is 1 hour, the cap itself.
pub fn check_chaining(chained: bool, duration: Option<SessionDuration>) -> Result<(), StsError> {
    match duration {
        Some(d) if chained && d.secs() > CHAINED_MAX_SESSION_SECONDS => {
            Err(StsError::ChainingLimit {
                requested: d.secs(),
            })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: i64) -> Option<SessionDuration> {
        Some(SessionDuration::from_secs(s).unwrap())
    }

    #[test]
    fn chaining_caps_at_one_hour_and_only_when_chained() {
        assert!(check_chaining(true, None).is_ok());
        assert!(check_chaining(true, secs(3_600)).is_ok());
        assert!(check_chaining(true, secs(900)).is_ok());
        let err = check_chaining(true, secs(3_601)).unwrap_err();
        assert!(matches!(err, StsError::ChainingLimit { requested: 3_601 }));
        assert_eq!(err.code(), "sts_chaining_limit");
        assert_eq!(err.kind(), ErrorKind::BadRequest);
        let text = err.to_string();
        assert!(
            text.contains("role chaining") && text.contains("3600"),
            "{text}"
        );
        assert!(check_chaining(false, secs(43_200)).is_ok());
    }

    #[test]
    fn missing_broker_credentials_is_our_misconfiguration() {
        let err = StsError::BrokerCredentials("no credentials in the chain".into());
        assert_eq!(err.kind(), ErrorKind::Internal);
        assert_eq!(err.code(), "sts_broker_credentials");
        assert!(err.retry_after().is_none());
    }
}
