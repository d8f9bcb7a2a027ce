//! AWS STS behind a small trait, so exchange logic is tested against moto and production talks to AWS
//! through the same code path (`aws-sdk-sts`, see `sdk.rs`).
//!
//! Invariant: no request or response type here prints a secret: the assertion, token and returned
//! keys are `SecretString`s.

pub mod retry;
pub mod sdk;

pub use sdk::SdkStsClient;

use crate::aws::{RoleArn, RoleSessionName, SamlProviderArn, SessionDuration};
use crate::error::{ApiError, ErrorKind};
use chrono::{DateTime, Utc};
use secrecy::SecretString;

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
}

/// Why STS did not return credentials. Variants follow how the caller reacts.
#[derive(Debug, thiserror::Error)]
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
}

impl StsError {
    /// The AWS error code behind this error, when AWS sent one.
    pub fn aws_code(&self) -> Option<&str> {
        match self {
            Self::IdentityRejected { aws_code, .. }
            | Self::Refused { aws_code, .. }
            | Self::InvalidRequest { aws_code, .. } => Some(aws_code),
            Self::Throttled | Self::IdpUnreachable | Self::Unavailable(_) => None,
        }
    }
}

impl ApiError for StsError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::IdentityRejected { .. } | Self::Refused { .. } => ErrorKind::Forbidden,
            Self::InvalidRequest { .. } => ErrorKind::BadRequest,
            Self::Throttled => ErrorKind::Throttled,
            Self::IdpUnreachable => ErrorKind::BadGateway,
            Self::Unavailable(_) => ErrorKind::Unavailable,
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
}
