//! Trust configuration from the `Config`: each SAML IdP's metadata (file or URL, fetched with a size
//! cap and a timeout) into pinned `TrustedIdp`s, the OIDC providers, and the optional issuer.
//!
//! Invariants: every problem is collected, not just the first (`ConfigErrors`), so start-up,
//! `fedbroker check-config` and a reload report them all at once; nothing here logs a secret.

use crate::clock::SharedClock;
use crate::config::{Config, ConfigErrors, SamlIdpConfig};
use crate::issuer::Issuer;
use crate::oidc::{OidcProvider, OidcValidator};
use crate::saml::{self, TrustedIdp};
use std::sync::Arc;

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

/// Load every configured IdP's metadata; all failures are collected.
pub async fn load_idps(cfg: &Config) -> Result<Vec<TrustedIdp>, ConfigErrors> {
    let mut errors = ConfigErrors::default();
    let mut idps = Vec::new();
    for idp in &cfg.saml.idps {
        match load_idp(cfg, idp).await {
            Ok(t) => idps.push(t),
            Err(e) => errors.push(format!("saml.idps {:?}: {e}", idp.name)),
        }
    }
    if errors.is_empty() {
        // Signed AuthnRequests: the SP key pair, and an SP key for every IdP that wants them.
        errors
            .0
            .extend(crate::web::saml_sign::sp_signing_problems(cfg, &idps));
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
const MAX_METADATA_BYTES: usize = 1024 * 1024;

/// Load one IdP's metadata (file, or `metadata_url` fetched once) with the audiences and
/// recipients the server accepts for it (also `fedbroker saml-check`).
pub async fn load_idp(cfg: &Config, idp: &SamlIdpConfig) -> Result<TrustedIdp, String> {
    let xml = if let Some(path) = &idp.metadata_file {
        let bytes =
            std::fs::read(path).map_err(|e| format!("cannot read metadata_file {path}: {e}"))?;
        if bytes.len() > MAX_METADATA_BYTES {
            return Err(format!("metadata_file {path} is larger than 1 MiB"));
        }
        String::from_utf8(bytes).map_err(|_| format!("metadata_file {path} is not UTF-8"))?
    } else if let Some(url) = &idp.metadata_url {
        fetch_metadata(url).await?
    } else {
        return Err("no metadata_file or metadata_url".into());
    };
    // Browser sign-in: assertions may also be addressed to the broker itself (its SP entity ID
    // and ACS), as well as to AWS (pass-through from the browser).
    let mut audiences = idp
        .audiences
        .clone()
        .unwrap_or_else(|| default_audiences(&cfg.aws.region));
    audiences.push(crate::web::saml::sp_entity_id(cfg));
    let mut recipients = idp
        .recipients
        .clone()
        .unwrap_or_else(|| default_recipients(&cfg.aws.region));
    recipients.push(crate::web::saml::acs_url(&cfg.server.public_url));
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
    .map_err(|e| e.to_string())?;
    if let Some(secs) = idp.max_assertion_age_seconds {
        // Range-checked by config validation (60..=3600), so the conversion cannot overflow.
        trusted.max_assertion_age = chrono::Duration::seconds(secs.min(i64::MAX as u64) as i64);
    }
    Ok(trusted)
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

async fn fetch_metadata(url: &str) -> Result<String, String> {
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("cannot build HTTP client: {e}"))?;
    let resp = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("cannot fetch metadata_url {url}: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("metadata_url {url} answered {}", resp.status()));
    }
    let bytes = resp
        .bytes()
        .await
        .map_err(|e| format!("cannot read metadata_url {url}: {e}"))?;
    if bytes.len() > MAX_METADATA_BYTES {
        return Err(format!("metadata_url {url} returned more than 1 MiB"));
    }
    String::from_utf8(bytes.to_vec()).map_err(|_| format!("metadata_url {url} is not UTF-8"))
}
