//! Builds the application: from a checked `Config` to the running broker's [`AppState`], with
//! every store, validator and background task, in one place outside `http`.
//!
//! - `mod.rs`: [`build`] (the state the server and `check-config` need) and [`build_for_serving`]
//!   (plus the metadata refresher and the reloader of `fedbroker serve`);
//! - `stores.rs`: the shared Redis link and the stores on it (replay, browser state, credential
//!   cache), sealed with the one keyring;
//! - `parts.rs`: the one function that fills in an [`AppState`], and the test entry points
//!   (`AppState::from_parts`, `with_*`).
//!
//! What the broker trusts (IdP metadata, OIDC providers, issuer keys) is loaded by `trust`, which
//! the reloader uses too. Invariants: start-up reports every configuration and trust problem it
//! can (`ConfigErrors`), so `fedbroker check-config` and a failed start say the same; each part is
//! built once; nothing here logs a secret.

mod parts;
mod stores;

pub use stores::Stores;

use crate::cache::REFRESHER_EVERY;
use crate::clock::{SharedClock, SystemClock};
use crate::config::{read_admin_token, Config, ConfigErrors};
use crate::http::AppState;
use crate::reload::{refresh, MetadataRefresher, Reloader};
use crate::sign_in::OidcBrowser;
use crate::sts::sdk::SdkStsClient;
use crate::sts::StsClient;
use crate::trust::{load_idps, load_issuer, load_oidc, HttpMetadataFetcher};
use parts::{assemble, Parts};
use std::sync::Arc;
use std::time::Duration;

/// Build the production state: system clock, SDK STS client, the stores `[cache]` asks for, every
/// IdP's metadata loaded and checked, the OIDC providers, issuer mode and the audit log; starts
/// the cache refresher, the Redis health check and the rate-limit sweeper (the user-code guess
/// counters of `oauth` included).
pub async fn build(cfg: &Config) -> Result<AppState, ConfigErrors> {
    let clock: SharedClock = Arc::new(SystemClock);
    let idps = load_idps(cfg).await?;
    let sts: Arc<dyn StsClient> = Arc::new(SdkStsClient::new(
        &cfg.aws.region,
        cfg.aws.sts_endpoint.as_deref(),
    ));
    let stores = Stores::build(cfg, clock.clone()).await?;
    let oidc = load_oidc(cfg, clock.clone())?;
    let issuer = load_issuer(cfg, clock.clone())?;
    let admin_token = match (&cfg.server.admin_token, &cfg.server.admin_token_file) {
        (Some(t), _) => Some(t.clone()),
        (None, Some(path)) => Some(read_admin_token(path).map_err(|e| ConfigErrors(vec![e]))?),
        (None, None) => None,
    };
    let oidc_browser = OidcBrowser::from_config(cfg, clock.clone(), stores.browser.clone())
        .map_err(|e| ConfigErrors(vec![e]))?;
    let audit = crate::audit::Audit::from_config(&cfg.audit).map_err(|e| ConfigErrors(vec![e]))?;
    let Stores {
        link,
        replay,
        browser,
        cache,
    } = stores;
    if let Some(c) = &cache {
        c.spawn_background(REFRESHER_EVERY);
    }
    let parts = Parts {
        idps,
        sts,
        replay,
        clock,
        browser_store: browser,
        oidc,
        oidc_browser,
        cache,
        issuer,
    };
    let mut state = assemble(cfg, parts);
    state.admin_token = admin_token;
    state.audit = audit;
    if let Some(link) = &link {
        link.spawn_health();
    }
    state.metrics.attach_redis(link);
    let limits = state.exchange().limits.clone();
    let oauth = state.oauth.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(60));
        loop {
            every.tick().await;
            limits.sweep();
            oauth.sweep();
        }
    });
    Ok(state)
}

/// [`build`], plus what `fedbroker serve` adds for the file at `config_path`: the metadata
/// refresher (started: each `metadata_url` fetched again on its schedule, certificate expiry
/// exported and warned about) and the reloader (`SIGHUP`, `POST /v1/admin/reload`) swapping the
/// rules and SAML IdPs through it.
pub async fn build_for_serving(cfg: &Config, config_path: &str) -> Result<AppState, ConfigErrors> {
    let state = build(cfg).await?;
    let fetcher = HttpMetadataFetcher::new().map_err(|e| ConfigErrors(vec![e]))?;
    let refresher = Arc::new(MetadataRefresher::new(
        cfg,
        state.live_handle(),
        state.metrics.clone(),
        Arc::new(fetcher),
    ));
    refresher.spawn(refresh::TICK);
    let reloader = Reloader::new(
        config_path,
        cfg.clone(),
        state.live_handle(),
        state.metrics.clone(),
    )
    .with_metadata_refresher(refresher);
    Ok(state.with_reloader(Arc::new(reloader)))
}
