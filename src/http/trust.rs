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

async fn load_idp(cfg: &Config, idp: &SamlIdpConfig) -> Result<TrustedIdp, String> {
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
    let mut trusted = TrustedIdp::from_metadata_xml(&idp.name, &xml, audiences, recipients)
        .map_err(|e| e.to_string())?;
    trusted.decryption = load_decryption(idp)?;
    Ok(trusted)
}

/// The IdP's decryption keys (`decryption_key_files`) and CBC policy; key material never leaves
/// this function in a message or log.
fn load_decryption(idp: &SamlIdpConfig) -> Result<saml::Decryption, String> {
    let keys = saml::DecryptionKey::load_files(&idp.decryption_key_files)?;
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
