//! Why the issuer did not mint a token. Variants follow how the caller reacts.

use crate::error::{ApiError, ErrorKind};

/// A minting failure. Messages never contain the token or key material.
#[derive(Debug, thiserror::Error)]
pub enum IssuerError {
    /// The verified subject cannot be put in `sub` (empty, too long, control characters).
    #[error("the subject cannot be used as the sub of an issued token: {0}")]
    InvalidSubject(String),
    /// The requested audience is empty or malformed (a mapping/configuration bug).
    #[error("the audience of an issued token is invalid: {0}")]
    InvalidAudience(String),
    /// The signing library failed (a bug or a broken key).
    #[error("signing the issued token failed: {0}")]
    Signing(String),
}

impl ApiError for IssuerError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidSubject(_) => ErrorKind::Forbidden,
            Self::InvalidAudience(_) | Self::Signing(_) => ErrorKind::Internal,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            Self::InvalidSubject(_) => "issuer_subject_invalid",
            Self::InvalidAudience(_) => "issuer_audience_invalid",
            Self::Signing(_) => "issuer_signing_failed",
        }
    }
}
