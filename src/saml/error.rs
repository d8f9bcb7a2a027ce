//! Errors of SAML validation; each has a stable code and a message that says what to fix.

use crate::error::{ApiError, ErrorKind};

#[derive(Debug, thiserror::Error)]
pub enum SamlError {
    #[error("SAML validation is not implemented yet")]
    NotImplemented,
}

impl ApiError for SamlError {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Internal
    }
    fn code(&self) -> &'static str {
        "saml_not_implemented"
    }
}
