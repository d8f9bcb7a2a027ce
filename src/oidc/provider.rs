//! A configured OIDC provider: issuer, audiences, algorithm allowlist, claim conditions and its key
//! source. Built from `[[oidc.providers]]` at startup; every value is checked here once.

use super::alg::SigningAlg;
use super::fetch::HttpJwksFetcher;
use super::jwks::{JwksCache, KeySource, DEFAULT_JWKS_TTL, REFETCH_COOLDOWN};
use super::OidcConfigError;
use crate::clock::SharedClock;
use crate::config::OidcProviderConfig;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Shortest configurable JWKS TTL (below this the cooldown dominates anyway).
pub const MIN_JWKS_TTL_SECS: u64 = 30;
/// Longest configurable JWKS TTL: a removed key must stop verifying within a day.
pub const MAX_JWKS_TTL_SECS: u64 = 24 * 3600;
/// Shortest configurable refetch cooldown: at most one JWKS request per second per provider,
/// however many tokens with unknown kids arrive.
pub const MIN_JWKS_REFETCH_COOLDOWN_SECS: u64 = 1;
/// Longest configurable refetch cooldown: a rotated key is picked up within this time.
pub const MAX_JWKS_REFETCH_COOLDOWN_SECS: u64 = 3600;

/// One trusted OIDC provider.
#[derive(Debug, Clone)]
pub struct OidcProvider {
    pub name: String,
    /// Exact `iss` value (case-sensitive, trailing slash significant).
    pub issuer: String,
    pub audiences: Vec<String>,
    pub allowed_algorithms: Vec<SigningAlg>,
    /// claim → patterns; every claim listed must match (see `conditions`).
    pub claim_conditions: BTreeMap<String, Vec<String>>,
    pub keys: Arc<dyn KeySource>,
}

fn bad(cfg: &OidcProviderConfig, why: impl Into<String>) -> OidcConfigError {
    OidcConfigError::Invalid {
        provider: cfg.name.clone(),
        why: why.into(),
    }
}

/// Parse `allowed_algorithms` (default [`SigningAlg::DEFAULT_ALLOWED`]).
pub fn parse_algorithms(list: Option<&[String]>) -> Result<Vec<SigningAlg>, String> {
    let Some(list) = list else {
        return Ok(SigningAlg::DEFAULT_ALLOWED.to_vec());
    };
    if list.is_empty() {
        return Err("allowed_algorithms must not be empty".into());
    }
    list.iter()
        .map(|a| {
            SigningAlg::parse(a).ok_or_else(|| {
                format!("allowed_algorithms: {a:?} is not one of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384 (none and HMAC are never allowed)")
            })
        })
        .collect()
}

impl OidcProvider {
    /// Build a provider with the production HTTP fetcher and JWKS cache.
    pub fn from_config(
        cfg: &OidcProviderConfig,
        clock: SharedClock,
    ) -> Result<Self, OidcConfigError> {
        let ca = match &cfg.ca_file {
            Some(path) => {
                Some(std::fs::read(path).map_err(|e| bad(cfg, format!("ca_file {path}: {e}")))?)
            }
            None => None,
        };
        let fetcher = HttpJwksFetcher::new(&cfg.issuer, ca.as_deref(), cfg.allow_insecure_http)
            .map_err(|e| bad(cfg, e))?;
        let ttl = match cfg.jwks_ttl_secs {
            None => DEFAULT_JWKS_TTL,
            Some(s) if (MIN_JWKS_TTL_SECS..=MAX_JWKS_TTL_SECS).contains(&s) => {
                chrono::Duration::seconds(s as i64)
            }
            Some(_) => {
                return Err(bad(
                    cfg,
                    format!("jwks_ttl_secs must be {MIN_JWKS_TTL_SECS} to {MAX_JWKS_TTL_SECS}"),
                ))
            }
        };
        let cooldown = match cfg.jwks_refetch_cooldown_secs {
            None => REFETCH_COOLDOWN,
            Some(s)
                if (MIN_JWKS_REFETCH_COOLDOWN_SECS..=MAX_JWKS_REFETCH_COOLDOWN_SECS)
                    .contains(&s) =>
            {
                chrono::Duration::seconds(s as i64)
            }
            Some(_) => {
                return Err(bad(
                    cfg,
                    format!(
                        "jwks_refetch_cooldown_secs must be {MIN_JWKS_REFETCH_COOLDOWN_SECS} to \
                         {MAX_JWKS_REFETCH_COOLDOWN_SECS}"
                    ),
                ))
            }
        };
        let cache = JwksCache::new(&cfg.name, Arc::new(fetcher), clock, ttl)
            .with_refetch_cooldown(cooldown);
        Self::new(cfg, Arc::new(cache))
    }

    /// Build with any key source (tests, other fetchers).
    pub fn new(
        cfg: &OidcProviderConfig,
        keys: Arc<dyn KeySource>,
    ) -> Result<Self, OidcConfigError> {
        if cfg.audiences.is_empty() {
            return Err(bad(cfg, "audiences must not be empty"));
        }
        let allowed_algorithms =
            parse_algorithms(cfg.allowed_algorithms.as_deref()).map_err(|e| bad(cfg, e))?;
        let claim_conditions = cfg.claim_conditions.clone().unwrap_or_default();
        if let Some((c, _)) = claim_conditions.iter().find(|(_, p)| p.is_empty()) {
            return Err(bad(
                cfg,
                format!("claim_conditions.{c}: an empty list matches nothing"),
            ));
        }
        Ok(Self {
            name: cfg.name.clone(),
            issuer: cfg.issuer.clone(),
            audiences: cfg.audiences.clone(),
            allowed_algorithms,
            claim_conditions,
            keys,
        })
    }
}
