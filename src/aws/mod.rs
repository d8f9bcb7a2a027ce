//! AWS names and limits as checked newtypes.
//!
//! Invariant: a value of any type in this module satisfies the AWS rule it is named after
//! (`../shared/reference/aws-federation-rules.md` §5.3, §4.2); it is checked once, at construction.

/// `Display` as the plain value; `Debug` as `Type("value")`, for string newtypes.
macro_rules! display_debug {
    ($t:ty) => {
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({:?})", stringify!($t), self.0)
            }
        }
    };
}

pub mod arn;
pub mod duration;
pub mod external_id;
pub mod names;
pub mod tags;

pub use arn::{RoleArn, RolePair, SamlProviderArn};
pub use duration::SessionDuration;
pub use external_id::ExternalId;
pub use names::{RoleSessionName, SourceIdentity};
pub use tags::{SessionTags, TagKey, TagValue};

/// Why a value is not a valid AWS name; the message says what AWS requires.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what}: {why}")]
pub struct AwsNameError {
    pub what: &'static str,
    pub why: String,
}

impl AwsNameError {
    pub(crate) fn new(what: &'static str, why: impl Into<String>) -> Self {
        Self {
            what,
            why: why.into(),
        }
    }
}
