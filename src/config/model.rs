//! The configuration schema (serde). Field names are a contract (ARCHITECTURE.md): rename nothing.

use secrecy::SecretString;
use serde::Deserialize;

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Largest request body accepted (checklist S23: cap before base64 decoding). A 100,000-character
/// SAMLResponse form-encodes to well under this.
pub const DEFAULT_MAX_BODY_BYTES: usize = 256 * 1024;
/// How long in-flight requests may finish after SIGTERM.
pub const DEFAULT_SHUTDOWN_TIMEOUT_SECS: u64 = 30;

#[derive(Debug, Clone, Default)]
pub struct Config {
    pub server: ServerConfig,
    pub aws: AwsConfig,
    pub cache: CacheConfig,
    pub log: LogConfig,
    pub saml: SamlConfig,
    pub oidc: OidcConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: String,
    pub public_url: String,
    pub max_body_bytes: usize,
    pub shutdown_timeout_secs: u64,
    /// Worker threads; 0 = one per core.
    pub workers: usize,
    /// Let `GET /v1/thumbprint` connect to any https issuer, not only those of `[[oidc.providers]]`.
    /// Off by default: the endpoint makes the broker open connections where the caller says (SSRF).
    pub thumbprint_any_issuer: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.into(),
            public_url: format!("http://{DEFAULT_LISTEN}"),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            shutdown_timeout_secs: DEFAULT_SHUTDOWN_TIMEOUT_SECS,
            workers: 0,
            thumbprint_any_issuer: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AwsConfig {
    pub region: String,
    /// Override of the STS endpoint (tests, VPC endpoints). Default: `https://sts.<region>.amazonaws.com`.
    pub sts_endpoint: Option<String>,
    pub federation_endpoint: String,
}

impl Default for AwsConfig {
    fn default() -> Self {
        Self {
            region: "us-east-1".into(),
            sts_endpoint: None,
            federation_endpoint: "https://signin.aws.amazon.com/federation".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Redis URL (may hold a password: kept secret). Absent: in-process stores.
    pub redis_url: Option<SecretString>,
    /// Prefix of every Redis key fedbroker writes.
    pub key_prefix: String,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            redis_url: None,
            key_prefix: "fedbroker:".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Json,
    Text,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// `tracing` filter directive, e.g. `info` or `fedbroker=debug,info`.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Json,
            level: "info".into(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SamlConfig {
    pub idps: Vec<SamlIdpConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamlIdpConfig {
    pub name: String,
    pub metadata_file: Option<String>,
    pub metadata_url: Option<String>,
    /// Accepted `Audience` values. Default: AWS's (`urn:amazon:webservices`,
    /// `https://signin.aws.amazon.com/saml`, and the regional endpoint of `aws.region`).
    pub audiences: Option<Vec<String>>,
    /// Accepted `Recipient`/`Destination` values. Default: AWS's global and regional sign-in
    /// endpoints for `aws.region`.
    pub recipients: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OidcConfig {
    pub providers: Vec<OidcProviderConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcProviderConfig {
    pub name: String,
    pub issuer: String,
    pub audiences: Vec<String>,
    pub ca_file: Option<String>,
}
