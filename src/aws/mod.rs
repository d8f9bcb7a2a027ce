//! AWS names and limits as checked newtypes.
//!
//! Invariant: a value of any type in this module satisfies the AWS rule it is named after
//! (`docs/AWS-RULES.md` §5.3, §4.2); it is checked once, at construction.

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

/// `Deserialize` through the type's own parser, so a stored value is checked again when read
/// back (e.g. a browser session restored from Redis): nothing bypasses the AWS rule.
macro_rules! deserialize_via_parse {
    ($($t:ty),* $(,)?) => {$(
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <String as serde::Deserialize>::deserialize(d)?;
                <$t>::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    )*};
}

deserialize_via_parse!(
    RoleArn,
    SamlProviderArn,
    RoleSessionName,
    SourceIdentity,
    TagKey,
    TagValue,
);

impl<'de> serde::Deserialize<'de> for SessionDuration {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let secs = <i64 as serde::Deserialize>::deserialize(d)?;
        SessionDuration::from_secs(secs).map_err(serde::de::Error::custom)
    }
}

impl<'de> serde::Deserialize<'de> for SessionTags {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        struct Raw {
            tags: std::collections::BTreeMap<TagKey, TagValue>,
            transitive: Vec<TagKey>,
        }
        let raw = Raw::deserialize(d)?;
        SessionTags::new(raw.tags.into_iter().collect(), raw.transitive)
            .map_err(serde::de::Error::custom)
    }
}

pub mod arn;
pub mod duration;
pub mod external_id;
pub mod names;
pub mod policy;
pub mod tags;

pub use arn::{RoleArn, RolePair, SamlProviderArn};
pub use duration::SessionDuration;
pub use external_id::ExternalId;
pub use names::{RoleSessionName, SourceIdentity};
pub use policy::{PolicyArn, SessionPolicy};
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
