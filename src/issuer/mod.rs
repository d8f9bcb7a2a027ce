//! Issuer mode: the broker as its own OIDC issuer (docs/ARCHITECTURE.md "STS modes").
//!
//! The broker signs a short-lived JWT for its own IAM OIDC provider, carrying the mapped session
//! tags and source identity (which AssumeRoleWithWebIdentity can only take from inside the token),
//! and publishes what AWS needs to verify it: `GET /.well-known/openid-configuration` and
//! `GET /.well-known/jwks.json` (served by `http::handlers::issuer`).
//!
//! - `keys`: PEM signing keys → checked [`KeyRing`] (one active key, all published; rotation).
//! - `jwks`, `discovery`: the two public documents.
//! - `mint`: [`Issuer::mint`] with the injected clock.
//!
//! Invariants: everything is checked once, in [`Issuer::from_config`] (also run by
//! `fedbroker check-config`, all problems reported together); the issuer URL is https without
//! port or path (plain http or a port only on loopback, for tests); minted tokens live at most
//! [`MAX_TOKEN_LIFETIME_SECS`]; nothing here does I/O after startup.

pub mod discovery;
pub mod error;
pub mod jwks;
pub mod keys;
pub mod mint;

pub use error::IssuerError;
pub use keys::{IssuerKey, KeyRing, PublicJwk};
pub use mint::{MintRequest, MintedToken};

use crate::clock::{SharedClock, SystemClock};
use crate::config::IssuerConfig;
use std::sync::Arc;

/// Path of the discovery document (relative to the issuer URL).
pub const DISCOVERY_PATH: &str = crate::oidc::discovery::WELL_KNOWN_PATH;
/// Path of the JWKS (relative to the issuer URL).
pub const JWKS_PATH: &str = "/.well-known/jwks.json";
/// Longest token lifetime. A minted token is a bearer credential: whoever captures it can call
/// AssumeRoleWithWebIdentity for any role trusting the broker's provider until `exp`, and get up
/// to 12-hour sessions. It is used seconds after minting, so one hour is a generous ceiling; it is
/// also how long a rotated-out key must stay published before it may be removed.
pub const MAX_TOKEN_LIFETIME_SECS: u64 = 3600;
/// Shortest token lifetime: below a minute, ordinary clock skew between the broker and AWS STS
/// (and STS retries) would make fresh tokens arrive expired.
pub const MIN_TOKEN_LIFETIME_SECS: u64 = 60;
/// Longest issuer URL: AWS limits an IAM OIDC provider URL to 255 characters.
pub const MAX_ISSUER_URL_LEN: usize = 255;
/// `Cache-Control: max-age` of the two public documents: verifiers (AWS, other relying parties)
/// may cache them this long, so a new key must be published at least this long before use.
pub const PUBLIC_DOCS_MAX_AGE_SECS: u64 = 300;

/// A configured issuer: URL, audience, lifetime, keys, and the two public documents.
#[derive(Debug)]
pub struct Issuer {
    issuer_url: String,
    audience: String,
    lifetime: chrono::Duration,
    keys: KeyRing,
    clock: SharedClock,
    discovery_json: String,
    jwks_json: String,
}

/// Every problem with `[issuer]` (key files included), for config validation.
pub fn config_problems(cfg: &IssuerConfig, public_url: &str) -> Vec<String> {
    match Issuer::from_config(cfg, public_url, Arc::new(SystemClock)) {
        Ok(_) => Vec::new(),
        Err(errors) => errors,
    }
}

/// Check an issuer URL: https, no port/path/query/fragment/userinfo, no trailing slash; plain http
/// and a port are accepted only on loopback (tests, local demos).
pub fn check_issuer_url(s: &str) -> Result<(), String> {
    let u = url::Url::parse(s).map_err(|e| format!("not a URL ({e})"))?;
    if s.len() > MAX_ISSUER_URL_LEN {
        return Err(format!(
            "longer than {MAX_ISSUER_URL_LEN} characters (AWS limit)"
        ));
    }
    let loopback = crate::oidc::discovery::is_loopback(&u);
    match u.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err("must be https:// (AWS requires it; plain http only on loopback)".into()),
    }
    // The url crate drops a default port (`:443`), so look at the text as written too.
    let authority = s
        .split_once("://")
        .map_or("", |(_, rest)| rest)
        .split(['/', '?', '#'])
        .next()
        .unwrap_or("");
    let after_host = authority.rsplit_once(']').map_or(authority, |(_, r)| r);
    if (u.port().is_some() || after_host.contains(':')) && !loopback {
        return Err("must not contain a port (AWS: the provider URL should not have one)".into());
    }
    if u.path() != "/" || s.ends_with('/') {
        return Err(
            "must be scheme and host only, without path or trailing slash (the well-known documents are served at the root)".into(),
        );
    }
    if u.query().is_some() || u.fragment().is_some() || !u.username().is_empty() {
        return Err("must not contain a query, fragment or user info".into());
    }
    Ok(())
}

impl Issuer {
    /// Build from `[issuer]`; `public_url` is `server.public_url` (the default issuer URL).
    /// Reads the key files. Every problem is returned, each naming its key.
    pub fn from_config(
        cfg: &IssuerConfig,
        public_url: &str,
        clock: SharedClock,
    ) -> Result<Self, Vec<String>> {
        let mut errors = Vec::new();
        let issuer_url = cfg
            .issuer_url
            .clone()
            .unwrap_or_else(|| public_url.to_owned());
        if let Err(why) = check_issuer_url(&issuer_url) {
            let key = if cfg.issuer_url.is_some() {
                "issuer.issuer_url"
            } else {
                "issuer.issuer_url (defaulted from server.public_url)"
            };
            errors.push(format!("{key} = {issuer_url:?}: {why}"));
        }
        if cfg.audience.is_empty()
            || cfg.audience.trim() != cfg.audience
            || cfg.audience.len() > mint::MAX_AUDIENCE_LEN
        {
            errors.push(format!(
                "issuer.audience = {:?}: must be 1-{} characters without surrounding spaces",
                cfg.audience,
                mint::MAX_AUDIENCE_LEN
            ));
        }
        if !(MIN_TOKEN_LIFETIME_SECS..=MAX_TOKEN_LIFETIME_SECS).contains(&cfg.token_lifetime_secs) {
            errors.push(format!(
                "issuer.token_lifetime_secs = {}: must be {MIN_TOKEN_LIFETIME_SECS} to {MAX_TOKEN_LIFETIME_SECS} (a minted token is a bearer credential)",
                cfg.token_lifetime_secs
            ));
        }
        let keys = KeyRing::load(&cfg.keys).map_err(|e| errors.extend(e)).ok();
        let Some(keys) = keys.filter(|_| errors.is_empty()) else {
            return Err(errors);
        };
        let discovery_json = discovery::discovery_document(&issuer_url, &keys).to_string();
        let jwks_json = jwks::jwks_document(&keys).to_string();
        Ok(Self {
            issuer_url,
            audience: cfg.audience.clone(),
            lifetime: chrono::Duration::seconds(cfg.token_lifetime_secs as i64),
            keys,
            clock,
            discovery_json,
            jwks_json,
        })
    }

    /// The `iss` of minted tokens (also the IAM OIDC provider URL).
    pub fn issuer_url(&self) -> &str {
        &self.issuer_url
    }
    /// The default `aud`.
    pub fn audience(&self) -> &str {
        &self.audience
    }
    pub fn lifetime(&self) -> chrono::Duration {
        self.lifetime
    }
    pub fn keys(&self) -> &KeyRing {
        &self.keys
    }
    /// `GET /.well-known/openid-configuration` body.
    pub fn discovery_json(&self) -> &str {
        &self.discovery_json
    }
    /// `GET /.well-known/jwks.json` body.
    pub fn jwks_json(&self) -> &str {
        &self.jwks_json
    }
}

#[cfg(test)]
mod tests {
    use super::check_issuer_url;

    #[test]
    fn issuer_url_rules() {
        for ok in [
            "https://broker.example.com",
            "http://127.0.0.1:8080",
            "https://localhost:8443",
            "http://[::1]:9000",
        ] {
            assert!(check_issuer_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://broker.example.com",
            "https://broker.example.com:443",
            "https://broker.example.com/",
            "https://broker.example.com/issuer",
            "https://broker.example.com?x=1",
            "https://user@broker.example.com",
            "ftp://broker.example.com",
            "broker.example.com",
        ] {
            assert!(check_issuer_url(bad).is_err(), "{bad}");
        }
    }
}
