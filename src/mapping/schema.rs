//! The `[mapping]` and `[[rules]]` configuration schema as written in TOML (serde, unchecked).
//!
//! Key names are a contract (docs/MAPPING.md). These types are only an intermediate form:
//! `compile` turns them into checked `Rules`, collecting every problem at once.

use serde::Deserialize;
use std::collections::BTreeMap;

/// `[mapping]`: where the rules live.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MappingConfig {
    /// A separate TOML file holding the `[[rules]]` tables (instead of, not in addition to, rules
    /// in the main config). Relative paths are relative to the working directory, like
    /// `metadata_file`.
    pub rules_file: Option<String>,
}

/// How the broker obtains credentials for a granted role.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize, utoipa::ToSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum StsMode {
    /// The IdP's own assertion/token goes to AssumeRoleWithSAML / AssumeRoleWithWebIdentity.
    PassThrough,
    /// The broker calls AssumeRole with its own credentials (tags, source identity, ExternalId).
    AssumeRole,
    /// The broker mints a JWT as its own OIDC issuer and calls AssumeRoleWithWebIdentity.
    Issuer,
}

impl StsMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PassThrough => "pass-through",
            Self::AssumeRole => "assume-role",
            Self::Issuer => "issuer",
        }
    }
}

/// One `[[rules]]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub name: String,
    #[serde(rename = "match")]
    pub match_: MatchConfig,
    pub grants: Vec<GrantConfig>,
}

/// `[rules.match]`: every condition given must hold.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MatchConfig {
    /// Configured IdP/provider name (`[[saml.idps]]` or `[[oidc.providers]]`), exact.
    #[serde(alias = "idp")]
    pub provider: Option<String>,
    /// Matchers are a string (equals) or `{ equals | one_of | glob | regex | contains = ... }`.
    pub issuer: Option<toml::Value>,
    pub subject: Option<toml::Value>,
    /// OIDC claim name → matcher (reads the same verified map as `attributes`).
    pub claims: BTreeMap<String, toml::Value>,
    /// SAML attribute name → matcher.
    pub attributes: BTreeMap<String, toml::Value>,
}

/// One `[[rules.grants]]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantConfig {
    pub role_arn: String,
    pub mode: StsMode,
    pub alias: Option<String>,
    pub session_name: Option<String>,
    /// `assume-role` / `issuer`: accept the caller's `session_name` (web identity) instead of
    /// refusing it (`session_name_not_accepted`). Off by default: in these modes the session name
    /// is the identity CloudTrail records and `aws:userid` matches.
    #[serde(default)]
    pub allow_caller_session_name: bool,
    /// `assume-role` / `issuer`: where the verified subject reaches AWS: `"tag"` (default, session
    /// tag `fedbroker:subject`) or `"source_identity"`.
    pub record_subject: Option<super::subject::RecordSubject>,
    pub duration_seconds: Option<i64>,
    pub source_identity: Option<String>,
    /// Literal tag key → value template.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default)]
    pub transitive_tag_keys: Vec<String>,
    pub policy: Option<String>,
    #[serde(default)]
    pub policy_arns: Vec<String>,
    pub external_id: Option<String>,
}
