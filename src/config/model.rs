//! The configuration schema (serde). Field names are a contract (docs/ARCHITECTURE.md "Contracts"): rename nothing.

use secrecy::SecretString;
use serde::Deserialize;

/// Default listen address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Largest request body accepted (docs/SECURITY.md S23: cap before base64 decoding). A 100,000-character
/// SAMLResponse form-encodes to well under this.
pub const DEFAULT_MAX_BODY_BYTES: usize = 256 * 1024;
/// How long a request body may take to arrive after its headers.
pub const DEFAULT_BODY_TIMEOUT_SECS: u64 = 10;
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
    /// `[mapping]`: where the rules live (inline `[[rules]]` or `rules_file`).
    pub mapping: crate::mapping::MappingConfig,
    /// The `[[rules]]` (or `mapping.rules_file`), compiled and checked at load (docs/MAPPING.md).
    /// Empty: no rules, the SAML `Role` attribute decides as before.
    pub rules: crate::mapping::Rules,
    pub issuer: IssuerConfig,
    pub console: ConsoleConfig,
    pub audit: AuditConfig,
    pub limits: LimitsConfig,
    /// `[oauth]`: the command line's sign-in (`fedbroker login`). See `crate::oauth`.
    pub oauth: OauthConfig,
}

/// `[oauth]`: lifetimes and bounds of CLI sessions and device codes (see `crate::oauth`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OauthConfig {
    /// The longest a CLI session lasts from sign-in (300..=604800; never beyond the IdP session).
    pub cli_session_seconds: u64,
    /// How long one access token is accepted (60..=`cli_session_seconds`).
    pub access_token_seconds: u64,
    /// User-code lookups per client address and per signed-in subject per minute (1..=600).
    pub user_code_guesses_per_minute: u32,
}

impl Default for OauthConfig {
    fn default() -> Self {
        Self {
            cli_session_seconds: 43_200,
            access_token_seconds: 3_600,
            user_code_guesses_per_minute: 10,
        }
    }
}

impl OauthConfig {
    /// The authorization server's settings (after validation).
    pub fn settings(&self) -> crate::oauth::OauthSettings {
        let secs = |s: u64| chrono::TimeDelta::seconds(i64::try_from(s).unwrap_or(i64::MAX / 1000));
        crate::oauth::OauthSettings {
            cli_session_ttl: secs(self.cli_session_seconds),
            access_token_ttl: secs(self.access_token_seconds),
            user_code_guesses_per_minute: self.user_code_guesses_per_minute,
        }
    }
}

/// `[limits]`: requests per minute (0 = no limit). See `crate::limits`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Per client address (`http::middleware::client_addr`), every route but health and metrics.
    pub per_client_per_minute: u32,
    /// Per verified subject, credential requests.
    pub per_subject_per_minute: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        // Generous: a CI fleet behind one NAT address, or one workload identity shared by many
        // jobs, must not be throttled in normal use; the point is to stop floods.
        Self {
            per_client_per_minute: 6_000,
            per_subject_per_minute: 600,
        }
    }
}

/// Where audit records go.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum AuditSinkKind {
    /// Standard output, one JSON line per record (the diagnostic log is on stderr).
    #[default]
    Stdout,
    /// Appended to `audit.file`.
    File,
    /// No audit log.
    Off,
}

/// `[audit]`: one JSON line per issuance and refusal (see `crate::audit`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    pub sink: AuditSinkKind,
    /// The file for `sink = "file"` (opened for appending at start).
    pub file: Option<String>,
    /// Withhold credentials (503 `audit_unavailable`) when a record cannot be written.
    pub fail_closed: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: String,
    pub public_url: String,
    pub max_body_bytes: usize,
    /// Seconds a request body may take to arrive after its headers (1 to 300); slower → 408
    /// `request_timeout` and the connection closes.
    pub body_timeout_secs: u64,
    /// Most client connections held at once (all workers); 0 = derived from the open-file limit
    /// (`ulimit -n` minus 256, at most 4,096). More wait in the listen backlog.
    pub max_connections: usize,
    pub shutdown_timeout_secs: u64,
    /// Worker threads; 0 = one per core.
    pub workers: usize,
    /// Let `GET /v1/thumbprint` connect to any https issuer, not only those of `[[oidc.providers]]`.
    /// Off by default: the endpoint makes the broker open connections where the caller says (SSRF).
    pub thumbprint_any_issuer: bool,
    /// Bearer token for `/v1/admin/*` (at least 32 characters). Absent (and no file): the admin
    /// endpoints answer 403 `admin_disabled`.
    pub admin_token: Option<SecretString>,
    /// A file holding the admin token (first line), instead of `admin_token`.
    pub admin_token_file: Option<String>,
    /// TLS listener: the certificate chain (PEM, leaf first). With `tls_key_file`, `listen`
    /// serves HTTPS (TLS 1.2 and 1.3); SIGHUP (and a change of their contents, checked every
    /// minute) re-reads both files. Both or neither.
    pub tls_cert_file: Option<String>,
    /// TLS listener: the private key of the leaf (PEM: PKCS#8, PKCS#1 RSA or SEC1 EC).
    pub tls_key_file: Option<String>,
    /// CA certificate(s) (PEM) that client certificates must chain to. Needs the TLS listener.
    /// Handshakes ask for a client certificate (optional for every route), and
    /// `GET /v1/container-credentials` then refuses requests without a verified one.
    pub tls_client_ca_file: Option<String>,
    /// Proxies (CIDR ranges or addresses) whose forwarding header names the client; empty: the
    /// client is always the TCP peer (see `http::middleware::client_addr`).
    pub trusted_proxies: Vec<String>,
    /// The one header read from a trusted proxy.
    pub trusted_proxy_header: ProxyHeader,
    /// A second address (e.g. `0.0.0.0:9090`) serving `GET /metrics` only. Set: the public
    /// listener answers `/metrics` as any unknown route (404). Absent: `/metrics` is on `listen`.
    pub metrics_listen: Option<String>,
}

/// Which forwarding header a trusted proxy's requests name the client in (the other is ignored).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(try_from = "String")]
pub enum ProxyHeader {
    /// `X-Forwarded-For` (what AWS, GCP and Azure load balancers, nginx and Envoy write).
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded` (`for=` parameters).
    Forwarded,
}

impl TryFrom<String> for ProxyHeader {
    type Error = &'static str;
    fn try_from(v: String) -> Result<Self, Self::Error> {
        match v.to_ascii_lowercase().as_str() {
            "x-forwarded-for" => Ok(Self::XForwardedFor),
            "forwarded" => Ok(Self::Forwarded),
            _ => Err("server.trusted_proxy_header must be \"x-forwarded-for\" or \"forwarded\""),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.into(),
            public_url: format!("http://{DEFAULT_LISTEN}"),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            body_timeout_secs: DEFAULT_BODY_TIMEOUT_SECS,
            max_connections: 0,
            shutdown_timeout_secs: DEFAULT_SHUTDOWN_TIMEOUT_SECS,
            workers: 0,
            thumbprint_any_issuer: false,
            admin_token: None,
            admin_token_file: None,
            trusted_proxies: Vec::new(),
            trusted_proxy_header: ProxyHeader::default(),
            tls_cert_file: None,
            tls_key_file: None,
            tls_client_ca_file: None,
            metrics_listen: None,
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
    /// Redis Cluster seed nodes (`redis://` or `rediss://host:port`, secret like `redis_url`);
    /// alone enough for every shared store. Not together with `redis_url` or `sentinel_urls`.
    pub redis_cluster_urls: Vec<SecretString>,
    /// Redis Sentinel addresses (`redis://` or `rediss://host:port`, secret: may hold the
    /// sentinels' password). The master is resolved through them and again after a failover.
    pub sentinel_urls: Vec<SecretString>,
    /// The master name the sentinels monitor (required with `sentinel_urls`, only with it).
    pub sentinel_master: Option<String>,
    /// ACL user of the master/replicas with Sentinel (with `sentinel_master_password`).
    pub sentinel_master_username: Option<String>,
    /// Password of the master/replicas with Sentinel. Absent: the sentinel URL's user/password.
    pub sentinel_master_password: Option<SecretString>,
    /// Extra trust anchors (PEM) for `rediss://` servers, besides the system's roots.
    pub tls_ca_file: Option<String>,
    /// Client certificate chain (PEM) for Redis servers that require mutual TLS.
    pub tls_cert_file: Option<String>,
    /// Private key (PEM) of `tls_cert_file`; both or neither.
    pub tls_key_file: Option<String>,
    /// Credential-cache encryption keys, `"<id>:<base64 of 32 bytes>"`, newest first: the first
    /// encrypts, all decrypt (rotation). See docs/CACHE.md.
    pub encryption_keys: Vec<SecretString>,
    /// A file with more keys, one `"<id>:<base64>"` per line (after `encryption_keys`).
    pub encryption_key_file: Option<String>,
    /// Cache STS credentials (default). `false`: every request calls STS (Redis, if configured,
    /// still serves replay protection).
    pub enabled: bool,
    /// How long `POST /v1/admin/revoke` blocks re-issue by default (seconds; a request may ask
    /// for another value up to [`MAX_REVOCATION_BLOCK_SECONDS`]).
    pub revocation_block_seconds: u64,
    /// Time the credential cache gives one Redis command, in milliseconds (default 500): past
    /// it the request goes to STS directly rather than wait. Raise it for a Redis far away (its
    /// p99 round trip well above 100 ms); the replay and browser stores keep their own budgets.
    pub credential_cache_timeout_ms: u64,
}

/// Longest block a revocation may set: a day (after that, fix the IdP or the rules instead).
pub const MAX_REVOCATION_BLOCK_SECONDS: u64 = 86_400;

/// Bounds of `cache.credential_cache_timeout_ms`: below 50 ms a cross-zone round trip on a
/// busy network times out; above 30 s a stuck Redis would hold requests longer than STS takes.
pub const CREDENTIAL_CACHE_TIMEOUT_MS: std::ops::RangeInclusive<u64> = 50..=30_000;

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            redis_url: None,
            key_prefix: "fedbroker:".into(),
            redis_cluster_urls: Vec::new(),
            sentinel_urls: Vec::new(),
            sentinel_master: None,
            sentinel_master_username: None,
            sentinel_master_password: None,
            tls_ca_file: None,
            tls_cert_file: None,
            tls_key_file: None,
            encryption_keys: Vec::new(),
            encryption_key_file: None,
            enabled: true,
            revocation_block_seconds: 3_600,
            credential_cache_timeout_ms: crate::cache::redis::OP_TIMEOUT_MS,
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
    /// The broker's SAML entity ID as a service provider (browser sign-in). Default:
    /// `<server.public_url>/saml/metadata`.
    pub sp_entity_id: Option<String>,
    /// Where an IdP-initiated `RelayState` may send the browser after sign-in: local path prefixes
    /// (default `/roles`, `/console`). Anything else is ignored (the role picker is shown).
    pub allowed_relay_states: Option<Vec<String>>,
    /// The broker's own SP private key (PEM, RSA >= 2048 bits, PKCS#8 or PKCS#1): signs every
    /// AuthnRequest (RSA-SHA256, HTTP-Redirect binding). Required when an IdP's metadata says
    /// `WantAuthnRequestsSigned="true"`. A secret: the key itself is never logged.
    pub sp_key_file: Option<String>,
    /// The certificate of `sp_key_file` (PEM), published in `/saml/metadata` for signing and
    /// encryption. Both or neither.
    pub sp_cert_file: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SamlIdpConfig {
    pub name: String,
    pub metadata_file: Option<String>,
    pub metadata_url: Option<String>,
    /// With `metadata_url`: the longest wait, in seconds, between two fetches of the metadata
    /// (300 to 86400; default 3600). The metadata's `cacheDuration` and `validUntil` can only
    /// shorten it (never below 300 s).
    pub metadata_refresh_secs: Option<u64>,
    /// Accepted `Audience` values. Default: AWS's (`urn:amazon:webservices`,
    /// `https://signin.aws.amazon.com/saml`, and the regional endpoint of `aws.region`).
    pub audiences: Option<Vec<String>>,
    /// Accepted `Recipient`/`Destination` values. Default: AWS's global and regional sign-in
    /// endpoints for `aws.region`.
    pub recipients: Option<Vec<String>>,
    /// Browser sign-in: the IdP's SSO URL for AuthnRequests (HTTP-Redirect). Default: the
    /// metadata's `SingleSignOnService` with that binding.
    pub sso_url: Option<String>,
    /// Accept IdP-initiated responses (no InResponseTo) at `POST /saml/acs`. Off by default: they
    /// cannot be bound to the browser (login CSRF).
    #[serde(default)]
    pub allow_idp_initiated: bool,
    /// How long after its IssueInstant an assertion from this IdP may be used (plus the clock
    /// skew), 60..=3600. Default: 300 (`saml::DEFAULT_MAX_ASSERTION_AGE`).
    pub max_assertion_age_seconds: Option<u64>,
    /// Also accept, from this IdP only, RSA-SHA1 signatures, SHA-1 digests and RSA signing keys
    /// of 1024 to 2047 bits (what AWS accepts). Off by default; logged as a warning at load, and
    /// each acceptance that needs it is marked in the audit record and counted in
    /// `fedbroker_saml_legacy_signatures_total{idp}`.
    #[serde(default)]
    pub legacy_algorithms: bool,
    /// RSA private keys (PKCS#8 or PKCS#1 PEM, at least 2048 bits) that decrypt this IdP's
    /// encrypted assertions, tried in turn (several for rotation). Empty: encrypted assertions are
    /// refused.
    #[serde(default)]
    pub decryption_key_files: Vec<String>,
    /// Accept AES-CBC encrypted assertions that no verified Response signature covers (padding-
    /// oracle exposure). Off by default; AES-GCM, and CBC inside a signed Response, need no opt-in.
    #[serde(default)]
    pub allow_cbc: bool,
}

/// Shortest wait between two metadata fetches after a success, whatever the metadata asks (the
/// least `metadata_refresh_secs` may be; `reload::schedule` applies it).
pub const MIN_REFRESH_SECS: u64 = 300;
/// Longest `metadata_refresh_secs` (a day).
pub const MAX_REFRESH_SECS: u64 = 86_400;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OidcConfig {
    pub providers: Vec<OidcProviderConfig>,
}

/// One `[[oidc.providers]]` entry (web-identity token validation).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcProviderConfig {
    pub name: String,
    /// Exact `iss` value (case-sensitive; trailing slash significant). https only, except a
    /// loopback issuer with `allow_insecure_http = true`.
    pub issuer: String,
    /// Accepted `aud` values (1 to 100, as AWS allows); every `aud` in a token must be one of them.
    pub audiences: Vec<String>,
    /// Extra PEM trust anchors for discovery and JWKS (private CAs, tests).
    pub ca_file: Option<String>,
    /// JWS algorithms accepted from this provider. Default: RS256, RS384, RS512, PS256, ES256,
    /// ES384. `none` and HS* are never accepted.
    pub allowed_algorithms: Option<Vec<String>>,
    /// Allow plain `http://` discovery/JWKS; honoured only for a loopback issuer (127.0.0.1,
    /// ::1, localhost). Default false.
    #[serde(default)]
    pub allow_insecure_http: bool,
    /// Claim → allowed patterns (`*`, `?` as in IAM StringLike); every listed claim must match,
    /// e.g. `sub = ["repo:my-org/*"]`.
    pub claim_conditions: Option<std::collections::BTreeMap<String, Vec<String>>>,
    /// Seconds a fetched JWKS is used before refreshing (30 to 86400; default 600).
    pub jwks_ttl_secs: Option<u64>,
    /// Minimum seconds between two JWKS fetches, e.g. on tokens with an unknown `kid` (1 to 3600;
    /// default 30): bounds the requests made-up kids can cause, and delays picking up a rotated key.
    pub jwks_refetch_cooldown_secs: Option<u64>,
    /// Browser sign-in (`/oidc/login?provider=NAME`): the broker's client ID at this provider.
    /// Absent: the provider serves tokens only (API, workloads).
    pub client_id: Option<String>,
    /// The client secret (confidential client, `client_secret_basic`); or `client_secret_file`.
    pub client_secret: Option<SecretString>,
    /// A file holding the client secret (first line).
    pub client_secret_file: Option<String>,
    /// Scopes asked at sign-in besides `openid` (default: `email`, `profile`).
    pub scopes: Option<Vec<String>>,
}

/// Default `aud` of tokens minted in issuer mode: the audience AWS STS expects.
pub const DEFAULT_ISSUER_AUDIENCE: &str = "sts.amazonaws.com";
/// Default lifetime of a minted token: the token is used once, seconds after minting, for one
/// AssumeRoleWithWebIdentity call; five minutes absorbs clock skew and STS retries.
pub const DEFAULT_ISSUER_TOKEN_LIFETIME_SECS: u64 = 300;

/// `[issuer]`: the broker as its own OIDC issuer (issuer mode). Checks: `crate::issuer::load`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IssuerConfig {
    /// Serve `/.well-known/openid-configuration` and `/.well-known/jwks.json` and mint tokens.
    pub enabled: bool,
    /// The `iss` of minted tokens and the IAM OIDC provider URL. Default: `server.public_url`.
    /// https (no port, no path) except a loopback URL for tests.
    pub issuer_url: Option<String>,
    /// `aud` of minted tokens (the IAM OIDC provider's client ID).
    pub audience: String,
    /// Seconds a minted token is valid (60 to `issuer::MAX_TOKEN_LIFETIME_SECS`).
    pub token_lifetime_secs: u64,
    /// Signing keys: exactly one `active` signs; all are published in the JWKS.
    pub keys: Vec<IssuerKeyConfig>,
}

impl Default for IssuerConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            issuer_url: None,
            audience: DEFAULT_ISSUER_AUDIENCE.into(),
            token_lifetime_secs: DEFAULT_ISSUER_TOKEN_LIFETIME_SECS,
            keys: Vec::new(),
        }
    }
}

/// One `[[issuer.keys]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerKeyConfig {
    /// JWS `kid`: 1-64 characters from `[A-Za-z0-9._-]`, unique.
    pub kid: String,
    /// Unencrypted PKCS#8 (or PKCS#1 for RSA) PEM private key file.
    pub file: String,
    /// `RS256` (RSA >= 2048 bits) or `ES256` (P-256).
    pub alg: String,
    /// The one key that signs new tokens.
    #[serde(default)]
    pub active: bool,
}

/// `[console]`: AWS console sign-in URLs (`POST /v1/console-url`; docs/CONSOLE.md).
/// The `aws` partition's federation endpoint is `aws.federation_endpoint`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// URL prefixes a `destination` may start with (https, no userinfo, query or fragment).
    /// Setting it replaces the default: the role's partition console, global and regional
    /// (`https://console.aws.amazon.com/`, `https://<region>.console.aws.amazon.com/`).
    pub allowed_destinations: Option<Vec<String>>,
    /// The login URL's `Issuer` (where the console sends users whose session ended).
    /// Default: `server.public_url`.
    pub issuer_url: Option<String>,
    /// Federation endpoints of other partitions, by partition (`aws-us-gov`, `aws-cn`), e.g. for
    /// tests. Default: AWS's; the `aws` partition's is `aws.federation_endpoint`.
    pub federation_endpoints: std::collections::BTreeMap<String, String>,
}
