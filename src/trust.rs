//! Loading what the broker trusts from the `Config`: each SAML IdP's metadata (file or URL,
//! fetched with a size cap and a timeout) into pinned `TrustedIdp`s, the OIDC providers, and the
//! optional issuer. Used by `app` (start-up), `reload` (a reload and the metadata refresher) and
//! `cli` (`check-config`, `saml-check`, the probe); it builds no state of its own.
//!
//! Invariants: every problem is collected, not just the first (`ConfigErrors`), so start-up,
//! `fedbroker check-config` and a reload report them all at once; nothing here logs a secret or
//! echoes a metadata document; start-up, a reload and the metadata refresher load an IdP through
//! the one [`load_idp`], so a refreshed document passes exactly the checks a start-up load does.

use crate::clock::{Clock, SharedClock, SystemClock};
use crate::config::{Config, ConfigErrors, SamlIdpConfig};
use crate::issuer::Issuer;
use crate::oidc::{OidcProvider, OidcValidator};
use crate::saml::{self, TrustedIdp};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;

/// The default audiences for an IdP: AWS's SP entity ID and sign-in endpoints.
pub fn default_audiences(region: &str) -> Vec<String> {
    let mut v: Vec<String> = saml::AWS_DEFAULT_AUDIENCES
        .iter()
        .map(|s| s.to_string())
        .collect();
    v.push(saml::aws_regional_saml_endpoint(region));
    v
}

/// The default recipients: AWS's global and regional SAML sign-in endpoints.
pub fn default_recipients(region: &str) -> Vec<String> {
    vec![
        saml::AWS_GLOBAL_SAML_ENDPOINT.to_string(),
        saml::aws_regional_saml_endpoint(region),
    ]
}

/// Load every configured IdP's metadata; all failures are collected. (Start-up, `check-config`;
/// `metadata_url` over HTTP, `validUntil` judged by the system clock.)
pub async fn load_idps(cfg: &Config) -> Result<Vec<TrustedIdp>, ConfigErrors> {
    load_idps_at(cfg, SystemClock.now()).await
}

/// [`load_idps`] with `validUntil` judged at `now` (a reload passes its injected clock's time).
pub async fn load_idps_at(
    cfg: &Config,
    now: DateTime<Utc>,
) -> Result<Vec<TrustedIdp>, ConfigErrors> {
    let fetcher = HttpMetadataFetcher::new().map_err(|e| ConfigErrors(vec![e]))?;
    let loaded = load_each_idp(cfg, &fetcher, now).await;
    idps_or_errors(cfg, loaded)
}

/// Load every configured IdP's metadata concurrently (so N slow metadata URLs cost one timeout,
/// not N); one result per `[[saml.idps]]` entry, in configuration order.
pub async fn load_each_idp(
    cfg: &Config,
    fetcher: &dyn MetadataFetcher,
    now: DateTime<Utc>,
) -> Vec<Result<TrustedIdp, MetadataLoadError>> {
    futures_util::future::join_all(
        cfg.saml
            .idps
            .iter()
            .map(|idp| load_idp(cfg, idp, fetcher, now)),
    )
    .await
}

/// The IdPs of [`load_each_idp`]'s results, or every problem: each failed IdP's (named), then,
/// when all loaded, the signed-AuthnRequest key checks.
pub fn idps_or_errors(
    cfg: &Config,
    loaded: Vec<Result<TrustedIdp, MetadataLoadError>>,
) -> Result<Vec<TrustedIdp>, ConfigErrors> {
    let mut errors = ConfigErrors::default();
    let mut idps = Vec::new();
    for (idp, result) in cfg.saml.idps.iter().zip(loaded) {
        match result {
            Ok(t) => idps.push(t),
            Err(e) => errors.push(format!("saml.idps {:?}: {e}", idp.name)),
        }
    }
    if errors.is_empty() {
        // Signed AuthnRequests: the SP key pair, and an SP key for every IdP that wants them.
        errors
            .0
            .extend(crate::sign_in::saml_sign::sp_signing_problems(cfg, &idps));
    }
    if errors.is_empty() {
        Ok(idps)
    } else {
        Err(errors)
    }
}

/// Build the OIDC validator from `[[oidc.providers]]` (reads each `ca_file`; no network).
pub fn load_oidc(cfg: &Config, clock: SharedClock) -> Result<OidcValidator, ConfigErrors> {
    let mut errors = ConfigErrors::default();
    let mut providers = Vec::new();
    for p in &cfg.oidc.providers {
        match OidcProvider::from_config(p, clock.clone()) {
            Ok(provider) => providers.push(provider),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    OidcValidator::new(providers, clock).map_err(|e| ConfigErrors(vec![e.to_string()]))
}

/// Build issuer mode from `[issuer]` when enabled (reads the key files).
pub fn load_issuer(cfg: &Config, clock: SharedClock) -> Result<Option<Arc<Issuer>>, ConfigErrors> {
    if !cfg.issuer.enabled {
        return Ok(None);
    }
    Issuer::from_config(&cfg.issuer, &cfg.server.public_url, clock)
        .map(|i| Some(Arc::new(i)))
        .map_err(ConfigErrors)
}

/// Longest metadata document fetched or read (a sane IdP's is a few KiB).
pub const MAX_METADATA_BYTES: usize = 1024 * 1024;
/// Whole-request timeout of a metadata fetch.
pub const METADATA_FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Connect timeout of a metadata fetch.
pub const METADATA_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why an IdP's metadata could not be (re)loaded. The messages name the file or URL and what is
/// wrong, never the document's contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataLoadError {
    /// The file could not be read, or the URL not fetched (network, status, size, encoding).
    Fetch(String),
    /// The document fails the checks (XML, shape, signing keys, attributes).
    Invalid(String),
    /// A fetched document whose `validUntil` has passed.
    Expired(String),
}

impl MetadataLoadError {
    /// The metric outcome of this failure (a fixed vocabulary).
    pub fn outcome(&self) -> &'static str {
        match self {
            Self::Fetch(_) => "fetch_failed",
            Self::Invalid(_) => "invalid",
            Self::Expired(_) => "expired",
        }
    }
}

impl std::fmt::Display for MetadataLoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Fetch(m) | Self::Invalid(m) | Self::Expired(m) => f.write_str(m),
        }
    }
}

/// Fetches a metadata document from its `metadata_url` (a trait: tests inject their own).
#[async_trait]
pub trait MetadataFetcher: Send + Sync + std::fmt::Debug {
    /// The document as UTF-8 text, at most [`MAX_METADATA_BYTES`]; `Err` says why not.
    async fn fetch(&self, url: &str) -> Result<String, String>;
}

/// The production fetcher: reqwest (rustls), no redirects, timeouts, size cap while streaming.
#[derive(Debug, Clone)]
pub struct HttpMetadataFetcher {
    client: reqwest::Client,
}

impl HttpMetadataFetcher {
    pub fn new() -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .connect_timeout(METADATA_CONNECT_TIMEOUT)
            .timeout(METADATA_FETCH_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build HTTP client: {e}"))?;
        Ok(Self { client })
    }
}

#[async_trait]
impl MetadataFetcher for HttpMetadataFetcher {
    async fn fetch(&self, full_url: &str) -> Result<String, String> {
        // Errors name the URL without its query: it may carry a token (`shown_url`).
        let url = crate::oidc::fetch::shown_url(full_url);
        let mut resp = self.client.get(full_url).send().await.map_err(|e| {
            format!(
                "cannot fetch metadata_url {url}: {}",
                crate::oidc::fetch::describe(&e)
            )
        })?;
        if !resp.status().is_success() {
            return Err(format!("metadata_url {url} answered {}", resp.status()));
        }
        let too_large = || format!("metadata_url {url} returned more than 1 MiB");
        if resp
            .content_length()
            .is_some_and(|n| n > MAX_METADATA_BYTES as u64)
        {
            return Err(too_large());
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| {
            format!(
                "cannot read metadata_url {url}: {}",
                crate::oidc::fetch::describe(&e)
            )
        })? {
            if bytes.len() + chunk.len() > MAX_METADATA_BYTES {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        String::from_utf8(bytes).map_err(|_| format!("metadata_url {url} is not UTF-8"))
    }
}

/// Load one IdP's metadata (file or URL through `fetcher`) and check it exactly as start-up does;
/// the metadata refresher calls this too. A fetched document whose `validUntil` has passed at
/// `now` is refused (a stale copy could bring back a retired key); a `metadata_file` is the
/// operator's own pin and loads with a warning, as AWS IAM takes an uploaded document.
pub async fn load_idp(
    cfg: &Config,
    idp: &SamlIdpConfig,
    fetcher: &dyn MetadataFetcher,
    now: DateTime<Utc>,
) -> Result<TrustedIdp, MetadataLoadError> {
    let xml = if let Some(path) = &idp.metadata_file {
        let bytes = std::fs::read(path).map_err(|e| {
            MetadataLoadError::Fetch(format!("cannot read metadata_file {path}: {e}"))
        })?;
        if bytes.len() > MAX_METADATA_BYTES {
            return Err(MetadataLoadError::Fetch(format!(
                "metadata_file {path} is larger than 1 MiB"
            )));
        }
        String::from_utf8(bytes)
            .map_err(|_| MetadataLoadError::Fetch(format!("metadata_file {path} is not UTF-8")))?
    } else if let Some(url) = &idp.metadata_url {
        fetcher.fetch(url).await.map_err(MetadataLoadError::Fetch)?
    } else {
        return Err(MetadataLoadError::Invalid(
            "no metadata_file or metadata_url".into(),
        ));
    };
    // Browser sign-in: assertions may also be addressed to the broker itself (its SP entity ID
    // and ACS), as well as to AWS (pass-through from the browser).
    let mut audiences = idp
        .audiences
        .clone()
        .unwrap_or_else(|| default_audiences(&cfg.aws.region));
    audiences.push(crate::sign_in::saml::sp_entity_id(cfg));
    let mut recipients = idp
        .recipients
        .clone()
        .unwrap_or_else(|| default_recipients(&cfg.aws.region));
    recipients.push(crate::sign_in::saml::acs_url(&cfg.server.public_url));
    if let Some(warning) = legacy_algorithms_warning(idp) {
        tracing::warn!(idp = %idp.name, "{warning}");
    }
    let mut trusted = TrustedIdp::from_metadata_xml_with_policy(
        &idp.name,
        &xml,
        audiences,
        recipients,
        saml::keys::AlgorithmPolicy::from_legacy_flag(idp.legacy_algorithms),
    )
    .map_err(|e| MetadataLoadError::Invalid(e.to_string()))?;
    if let Some(secs) = idp.max_assertion_age_seconds {
        // Range-checked by config validation (60..=3600), so the conversion cannot overflow.
        trusted.max_assertion_age = chrono::Duration::seconds(secs.min(i64::MAX as u64) as i64);
    }
    if let Some(until) = trusted
        .metadata_validity
        .valid_until
        .filter(|_| trusted.metadata_validity.expired_at(now))
    {
        let until = until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        match idp
            .metadata_url
            .as_deref()
            .map(crate::oidc::fetch::shown_url)
        {
            Some(url) => {
                return Err(MetadataLoadError::Expired(format!(
                    "metadata_url {url} serves metadata whose validUntil ({until}) has passed; \
                     the IdP (or a cache in front of it) must publish current metadata"
                )))
            }
            None => tracing::warn!(
                event = "saml.metadata_expired",
                idp = %idp.name,
                valid_until = %until,
                "IdP {}: metadata_file's validUntil ({until}) has passed; its keys are still \
                 trusted (a file is an explicit pin): download current metadata",
                idp.name
            ),
        }
    }
    trusted.decryption = load_decryption(cfg, idp).map_err(MetadataLoadError::Invalid)?;
    Ok(trusted)
}

/// The IdP's decryption keys (`decryption_key_files`, then the broker's own SP key when
/// `[saml] sp_key_file` is set, since `/saml/metadata` publishes its certificate for encryption)
/// and CBC policy; key material never leaves this function in a message or log.
fn load_decryption(cfg: &Config, idp: &SamlIdpConfig) -> Result<saml::Decryption, String> {
    let mut keys = saml::DecryptionKey::load_files(&idp.decryption_key_files)?;
    if let (Some(path), Some(_)) = (&cfg.saml.sp_key_file, &cfg.saml.sp_cert_file) {
        // A broken SP key is reported (once, as a config error) by `sp_signing_problems`.
        if let Ok(key) = saml::DecryptionKey::from_file(path) {
            keys.push(key);
        }
    }
    if idp.allow_cbc {
        tracing::warn!(
            idp = %idp.name,
            "allow_cbc = true: AES-CBC encrypted assertions are decrypted even when no Response signature covers them (padding-oracle exposure); prefer AES-GCM or a signed Response"
        );
    }
    Ok(saml::Decryption {
        keys,
        allow_cbc: idp.allow_cbc,
    })
}

/// The load-time warning for an IdP with `legacy_algorithms = true` (none for a strict IdP);
/// logged when the IdP is loaded and printed by `fedbroker check-config`.
pub fn legacy_algorithms_warning(idp: &SamlIdpConfig) -> Option<String> {
    idp.legacy_algorithms.then(|| {
        format!(
            "saml.idps {:?}: legacy_algorithms = true accepts RSA-SHA1 signatures, SHA-1 digests \
             and RSA keys of 1024 bits or more from this IdP; move the IdP to SHA-256 and a \
             2048-bit key and remove the setting",
            idp.name
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Attack: an IdP whose metadata URL carries an access token in its query (`?token=…`); a
    /// failed fetch must not copy the token into the error, which reaches the log and
    /// `check-config`'s report.
    #[tokio::test]
    async fn metadata_url_token_does_not_reach_fetch_errors() {
        let fetcher = HttpMetadataFetcher::new().unwrap();
        let err = fetcher
            .fetch("http://127.0.0.1:1/federationmetadata.xml?token=s3cr3t-metadata-token")
            .await
            .unwrap_err();
        assert!(!err.contains("s3cr3t"), "{err}");
        assert!(
            err.contains("metadata_url http://127.0.0.1:1/federationmetadata.xml?…"),
            "{err}"
        );
    }

    #[test]
    fn shown_url_drops_query_user_info_and_fragment() {
        use crate::oidc::fetch::shown_url;
        assert_eq!(
            shown_url("https://user:pw@idp.example.com:8443/app/md.xml?sig=abc#frag"),
            "https://idp.example.com:8443/app/md.xml?…"
        );
        assert_eq!(
            shown_url("https://idp.example.com/md.xml"),
            "https://idp.example.com/md.xml"
        );
        assert_eq!(shown_url("not a url ?token=x"), "(an unparsable URL)");
    }
}
