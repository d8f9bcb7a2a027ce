//! [`IssuerGate`]: the thumbprint service as the HTTP endpoint sees it.
//!
//! `GET /v1/thumbprint?issuer=URL` makes the broker connect where the caller says, so by default
//! only the issuers of `[[oidc.providers]]` pass (compared ignoring one trailing slash), each
//! computed with that provider's `ca_file`. `server.thumbprint_any_issuer = true` lets any https
//! issuer through, trusting public and system roots only.
//!
//! Invariants: the issuer URL is checked (400) before the allow-list (403); trust stores are built
//! lazily, once per distinct set of CA files, so building `AppState` does no I/O.

use super::discovery::parse_issuer;
use super::{Thumbprint, ThumbprintError, ThumbprintService, TlsThumbprinter};
use crate::config::Config;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

#[derive(Debug, Default)]
pub struct IssuerGate {
    /// Configured issuer (no trailing slash) → its extra CA files.
    allowed: HashMap<String, Vec<PathBuf>>,
    any_issuer: bool,
    /// Thumbprinters already built, by CA file set.
    built: Mutex<HashMap<Vec<PathBuf>, Arc<TlsThumbprinter>>>,
}

fn key(issuer: &str) -> String {
    issuer.trim_end_matches('/').to_string()
}

impl IssuerGate {
    /// The gate for a configuration: its OIDC providers' issuers, and the any-issuer switch.
    pub fn from_config(cfg: &Config) -> Self {
        let allowed = cfg
            .oidc
            .providers
            .iter()
            .map(|p| {
                (
                    key(&p.issuer),
                    p.ca_file.iter().map(PathBuf::from).collect(),
                )
            })
            .collect();
        Self {
            allowed,
            any_issuer: cfg.server.thumbprint_any_issuer,
            built: Mutex::default(),
        }
    }

    fn thumbprinter(&self, ca_files: &[PathBuf]) -> Result<Arc<TlsThumbprinter>, ThumbprintError> {
        let mut built = self.built.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = built.get(ca_files) {
            return Ok(t.clone());
        }
        let t = Arc::new(TlsThumbprinter::new(ca_files)?);
        built.insert(ca_files.to_vec(), t.clone());
        Ok(t)
    }
}

#[async_trait::async_trait]
impl ThumbprintService for IssuerGate {
    async fn thumbprint(&self, issuer: &str) -> Result<Thumbprint, ThumbprintError> {
        parse_issuer(issuer)?;
        let ca_files = match self.allowed.get(&key(issuer)) {
            Some(ca) => ca.clone(),
            None if self.any_issuer => Vec::new(),
            None => {
                return Err(ThumbprintError::NotAllowed {
                    issuer: issuer.to_string(),
                })
            }
        };
        let thumbprinter = self.thumbprinter(&ca_files)?;
        thumbprinter.thumbprint(issuer).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::OidcProviderConfig;

    fn cfg(any: bool) -> Config {
        let mut cfg = Config::default();
        cfg.server.thumbprint_any_issuer = any;
        cfg.oidc.providers.push(OidcProviderConfig {
            name: "ci".into(),
            issuer: "https://token.example.com".into(),
            audiences: vec!["sts.amazonaws.com".into()],
            ca_file: None,
            allowed_algorithms: None,
            allow_insecure_http: false,
            claim_conditions: None,
            jwks_ttl_secs: None,
            ..Default::default()
        });
        cfg
    }

    #[tokio::test]
    async fn unconfigured_issuer_is_refused_without_any_connection() {
        let gate = IssuerGate::from_config(&cfg(false));
        let e = gate
            .thumbprint("https://169.254.169.254/latest")
            .await
            .unwrap_err();
        assert!(matches!(e, ThumbprintError::NotAllowed { .. }), "{e}");
        assert!(gate.built.lock().unwrap().is_empty());
    }

    #[test]
    fn any_issuer_switch_is_off_by_default_and_settable_by_toml_or_env() {
        let cfg = crate::config::load_str("", Vec::new()).unwrap();
        assert!(!cfg.server.thumbprint_any_issuer);
        let cfg = crate::config::load_str("[server]\nthumbprint_any_issuer = true\n", Vec::new())
            .unwrap();
        assert!(cfg.server.thumbprint_any_issuer);
        let env = vec![(
            "FEDBROKER_SERVER__THUMBPRINT_ANY_ISSUER".to_string(),
            "true".to_string(),
        )];
        assert!(
            crate::config::load_str("", env)
                .unwrap()
                .server
                .thumbprint_any_issuer
        );
    }

    #[tokio::test]
    async fn bad_issuer_is_400_before_403() {
        let gate = IssuerGate::from_config(&cfg(false));
        let e = gate
            .thumbprint("http://token.example.com")
            .await
            .unwrap_err();
        assert!(matches!(e, ThumbprintError::BadIssuer { .. }), "{e}");
    }
}
