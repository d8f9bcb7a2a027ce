//! [`AppState`] from its parts: the one place its fields are filled in, for the server
//! (`app::build`, from the config) and for tests (`AppState::from_parts` with fakes and fixed
//! clocks, then the `with_*` replacements).
//!
//! Invariant: each part is built once; a `with_*` call replaces a part before the state is shared
//! (it makes a new snapshot cell, so build a `Reloader` last).

use crate::cache::CachingExchange;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::config::TrustedProxies;
use crate::console::ConsoleService;
use crate::exchange::Exchange;
use crate::http::AppState;
use crate::issuer::Issuer;
use crate::oidc::OidcValidator;
use crate::reload::{Live, Reloader};
use crate::replay::ReplayGuard;
use crate::saml::{SamlValidator, TrustedIdp};
use crate::sign_in::{BrowserKv, MemoryKv, OidcBrowser, SamlBrowser, SessionStore};
use crate::sts::StsClient;
use crate::telemetry::metrics::{MeteredSts, Metrics};
use crate::thumbprint::IssuerGate;
use arc_swap::ArcSwap;
use std::sync::Arc;
use std::time::Duration;

/// What differs between the server's state and a test's: the services behind traits and the
/// parts built from the config with checks (`app::build`) or with test defaults (`from_parts`).
pub(super) struct Parts {
    pub idps: Vec<TrustedIdp>,
    pub sts: Arc<dyn StsClient>,
    pub replay: Arc<dyn ReplayGuard>,
    pub clock: SharedClock,
    pub browser_store: Arc<dyn BrowserKv>,
    pub oidc: OidcValidator,
    pub oidc_browser: OidcBrowser,
    pub cache: Option<CachingExchange>,
    pub issuer: Option<Arc<Issuer>>,
}

/// The state from `parts` and the config: the one place an [`AppState`] is assembled.
pub(super) fn assemble(cfg: &Config, parts: Parts) -> AppState {
    let Parts {
        idps,
        sts,
        replay,
        clock,
        browser_store,
        oidc,
        oidc_browser,
        cache,
        issuer,
    } = parts;
    let metrics = Arc::new(Metrics::new());
    let saml_browser = Arc::new(SamlBrowser::new(
        cfg,
        &idps,
        clock.clone(),
        browser_store.clone(),
    ));
    let sts: Arc<dyn StsClient> = Arc::new(MeteredSts::new(sts, metrics.clone()));
    metrics.attach_cache(cache.clone());
    let exchange = Exchange {
        saml: Arc::new(SamlValidator::new(idps, clock.clone())),
        oidc: Arc::new(oidc),
        rules: Arc::new(cfg.rules.clone()),
        issuer: issuer.clone(),
        sts,
        replay,
        cache,
        sts_scope: sts_scope(cfg).into(),
        browser_sp: Arc::new(crate::exchange::BrowserSp::from_config(cfg)),
        limits: Arc::new(
            crate::limits::RateLimits::from_config(&cfg.limits)
                .with_counter(metrics.rate_limited()),
        ),
        clock: clock.clone(),
    };
    AppState {
        live: Arc::new(ArcSwap::from_pointee(Live {
            exchange: Arc::new(exchange),
            saml_browser,
        })),
        reloader: None,
        max_body_bytes: cfg.server.max_body_bytes,
        thumbprint: Arc::new(IssuerGate::from_config(cfg)),
        issuer,
        admin_token: cfg.server.admin_token.clone(),
        revocation_block: Duration::from_secs(cfg.cache.revocation_block_seconds),
        metrics,
        audit: crate::audit::Audit::off(),
        oidc_browser: Arc::new(oidc_browser),
        sessions: Arc::new(SessionStore::new(clock.clone(), browser_store.clone())),
        oauth: Arc::new(crate::oauth::Oauth::new(
            clock.clone(),
            browser_store,
            cfg.oauth.settings(),
        )),
        public_url: cfg.server.public_url.trim_end_matches('/').into(),
        aws_region: cfg.aws.region.as_str().into(),
        // A TLS listener makes every answer https, whatever `public_url` says.
        secure_cookies: !is_loopback_http(&cfg.server.public_url)
            || cfg.server.tls_cert_file.is_some(),
        container_client_certificates: cfg.server.tls_client_ca_file.is_some(),
        console: Arc::new(ConsoleService::from_config(cfg, clock)),
        // Loading the config already refused invalid entries (`config::validate`).
        trusted_proxies: Arc::new(TrustedProxies::from_config(&cfg.server).unwrap_or_default()),
    }
}

impl AppState {
    /// Assemble state from explicit parts (tests inject fakes and fixed clocks here): in-process
    /// browser store, no OIDC providers, no issuer, the in-process cache when `cache.enabled`.
    pub fn from_parts(
        cfg: &Config,
        idps: Vec<TrustedIdp>,
        sts: Arc<dyn StsClient>,
        replay: Arc<dyn ReplayGuard>,
        clock: SharedClock,
    ) -> Self {
        let kv: Arc<dyn BrowserKv> = Arc::new(MemoryKv::new(clock.clone()));
        Self::from_parts_with_store(cfg, idps, sts, replay, clock, kv)
    }

    /// [`Self::from_parts`] with the store for browser state (pending logins, sessions).
    pub fn from_parts_with_store(
        cfg: &Config,
        idps: Vec<TrustedIdp>,
        sts: Arc<dyn StsClient>,
        replay: Arc<dyn ReplayGuard>,
        clock: SharedClock,
        kv: Arc<dyn BrowserKv>,
    ) -> Self {
        // Tests without OIDC browser providers (or with an incomplete section) get none; the
        // server checks the section (`app::build`).
        let oidc_browser = OidcBrowser::from_config(cfg, clock.clone(), kv.clone())
            .unwrap_or_else(|_| OidcBrowser::none(clock.clone()));
        let parts = Parts {
            idps,
            sts,
            replay,
            oidc: OidcValidator::without_providers(clock.clone()),
            cache: cfg
                .cache
                .enabled
                .then(|| CachingExchange::in_process(clock.clone())),
            clock,
            browser_store: kv,
            oidc_browser,
            issuer: None,
        };
        assemble(cfg, parts)
    }

    /// Reload from the config file on request (`Reloader`, built with [`Self::live_handle`]).
    pub fn with_reloader(mut self, reloader: Arc<Reloader>) -> Self {
        self.reloader = Some(reloader);
        self
    }

    /// Change the exchange while building the state. The result is a new snapshot cell, as
    /// before an `AppState` clone was independent of its builder calls: build a `Reloader` last.
    fn update_exchange(&mut self, edit: impl FnOnce(&mut Exchange)) {
        let live = self.live.load_full();
        let mut exchange = Exchange::clone(&live.exchange);
        edit(&mut exchange);
        self.live = Arc::new(ArcSwap::from_pointee(Live {
            exchange: Arc::new(exchange),
            saml_browser: Arc::clone(&live.saml_browser),
        }));
    }

    /// Replace the browser sign-in side of the OIDC providers.
    pub fn with_oidc_browser(mut self, browser: OidcBrowser) -> Self {
        self.oidc_browser = Arc::new(browser);
        self
    }

    /// Replace the credential cache (`None`: every request calls STS).
    pub fn with_cache(mut self, cache: Option<CachingExchange>) -> Self {
        self.metrics.attach_cache(cache.clone());
        self.update_exchange(|e| e.cache = cache);
        self
    }

    /// Set (or clear) issuer mode (tests build one with their own keys and clock).
    pub fn with_issuer(mut self, issuer: Option<Arc<Issuer>>) -> Self {
        let for_exchange = issuer.clone();
        self.update_exchange(|e| e.issuer = for_exchange);
        self.issuer = issuer;
        self
    }

    /// Replace the console service (tests point it at their own federation endpoint).
    pub fn with_console(mut self, console: Arc<ConsoleService>) -> Self {
        self.console = console;
        self
    }

    /// Replace the OIDC validator (tests build one against their own issuer).
    pub fn with_oidc(mut self, oidc: OidcValidator) -> Self {
        self.update_exchange(|e| e.oidc = Arc::new(oidc));
        self
    }
}

/// `http://` on a loopback host: the one place cookies may go without `Secure`.
fn is_loopback_http(url: &str) -> bool {
    url::Url::parse(url)
        .is_ok_and(|u| u.scheme() == "http" && crate::oidc::discovery::is_loopback(&u))
}

/// The Region and STS endpoint sessions come from (part of every cache key).
fn sts_scope(cfg: &Config) -> String {
    format!(
        "{}|{}",
        cfg.aws.region,
        cfg.aws.sts_endpoint.as_deref().unwrap_or("")
    )
}
