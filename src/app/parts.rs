//! Application state: every external service behind its trait, built once from the `Config`.
//!
//! `build` also loads and checks each IdP's metadata, collecting every problem, so
//! `fedbroker check-config` reports config and trust problems together.
//!
//! The exchange (mapping rules, SAML validator) and SAML browser sign-in sit in one swappable
//! snapshot (`reload::Live`): handlers take it with [`AppState::exchange`] / [`AppState::live`]
//! once per request; a `Reloader` (SIGHUP) swaps in a new one for later requests.

use crate::cache::{CachingExchange, Keyring, RedisCredentialCache, REFRESHER_EVERY};
use crate::clock::{SharedClock, SystemClock};
use crate::config::{read_admin_token, Config, ConfigErrors};
use crate::console::ConsoleService;
use crate::exchange::Exchange;
use crate::issuer::Issuer;
use crate::oidc::OidcValidator;
use crate::redis_link::{LinkSettings, RedisLink};
use crate::reload::{Live, Reloader, SharedLive};
use crate::replay::memory::MemoryReplayGuard;
use crate::replay::redis::RedisReplayGuard;
use crate::replay::ReplayGuard;
use crate::saml::{SamlValidator, TrustedIdp};
use crate::sts::sdk::SdkStsClient;
use crate::sts::StsClient;
use crate::telemetry::metrics::{MeteredSts, Metrics};
use crate::thumbprint::{IssuerGate, ThumbprintService};
use crate::web::{BrowserKv, MemoryKv, OidcBrowser, RedisKv, SamlBrowser, SessionStore};
use arc_swap::ArcSwap;
use secrecy::SecretString;
use std::sync::Arc;
use std::time::Duration;

pub use super::trust::{
    default_audiences, default_recipients, legacy_algorithms_warning, load_idps, load_issuer,
    load_oidc,
};

/// Shared state of a running broker (immutable but for the reloadable snapshot).
#[derive(Debug, Clone)]
pub struct AppState {
    /// Exchange and SAML browser sign-in, swapped as one by a reload (see [`Self::live`]).
    live: SharedLive,
    /// Reloads `live` from the config file (`None`: not started from a file, e.g. tests).
    pub reloader: Option<Arc<Reloader>>,
    pub max_body_bytes: usize,
    /// `GET /v1/thumbprint` (an `IssuerGate` built from the config; tests may replace it).
    pub thumbprint: Arc<dyn ThumbprintService>,
    /// Issuer mode (`[issuer] enabled`): keys and public documents; `None` when disabled.
    pub issuer: Option<Arc<Issuer>>,
    /// Bearer token for `/v1/admin/*`; `None`: admin endpoints disabled.
    pub admin_token: Option<SecretString>,
    /// Default block after a revocation.
    pub revocation_block: Duration,
    /// Prometheus registry behind `GET /metrics`.
    pub metrics: Arc<Metrics>,
    /// The audit log (`[audit]`).
    pub audit: crate::audit::Audit,
    /// Browser sign-in (OIDC code flow) and broker sessions.
    pub oidc_browser: Arc<OidcBrowser>,
    pub sessions: Arc<SessionStore>,
    /// `Secure` cookies: everywhere except a plain-http loopback `public_url` (development, tests).
    pub secure_cookies: bool,
    /// `GET /v1/container-credentials` needs a verified TLS client certificate on the connection
    /// (`server.tls_client_ca_file` is set; see `http::tls`).
    pub container_client_certificates: bool,
    /// Console sign-in URLs (`POST /v1/console-url`).
    pub console: Arc<ConsoleService>,
    /// `server.trusted_proxies`: which peers may name the client (`http::client_addr`).
    pub trusted_proxies: Arc<super::client_addr::TrustedProxies>,
}

impl AppState {
    /// Build the production state: system clock, SDK STS client, Redis or in-process replay store.
    pub async fn build(cfg: &Config) -> Result<Self, ConfigErrors> {
        let clock: SharedClock = Arc::new(SystemClock);
        let idps = load_idps(cfg).await?;
        let sts: Arc<dyn StsClient> = Arc::new(SdkStsClient::new(
            &cfg.aws.region,
            cfg.aws.sts_endpoint.as_deref(),
        ));
        let link = build_link(cfg).await?;
        let replay: Arc<dyn ReplayGuard> = match &link {
            Some(link) => Arc::new(
                RedisReplayGuard::new(link.clone(), &cfg.cache.key_prefix)
                    .with_clock(clock.clone()),
            ),
            None => Arc::new(MemoryReplayGuard::new(clock.clone())),
        };
        let oidc = load_oidc(cfg, clock.clone())?;
        let issuer = load_issuer(cfg, clock.clone())?;
        let cache = build_cache(cfg, clock.clone(), link.as_ref()).await?;
        if let Some(c) = &cache {
            c.spawn_background(REFRESHER_EVERY);
        }
        let admin_token = match (&cfg.server.admin_token, &cfg.server.admin_token_file) {
            (Some(t), _) => Some(t.clone()),
            (None, Some(path)) => Some(read_admin_token(path).map_err(|e| ConfigErrors(vec![e]))?),
            (None, None) => None,
        };
        let kv = build_browser_store(cfg, clock.clone(), link.as_ref()).await?;
        let browser = OidcBrowser::from_config(cfg, clock.clone(), kv.clone())
            .map_err(|e| ConfigErrors(vec![e]))?;
        let mut state = Self::from_parts_with_store(cfg, idps, sts, replay, clock, kv)
            .with_oidc(oidc)
            .with_oidc_browser(browser)
            .with_issuer(issuer)
            .with_cache(cache);
        state.admin_token = admin_token;
        if let Some(link) = &link {
            link.spawn_health();
        }
        state.metrics.attach_redis(link);
        let limits = state.exchange().limits.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(60));
            loop {
                every.tick().await;
                limits.sweep();
            }
        });
        state.audit =
            crate::audit::Audit::from_config(&cfg.audit).map_err(|e| ConfigErrors(vec![e]))?;
        Ok(state)
    }

    /// Audit and count an answer about to be handed out on `route`; an `Err` (audit fail-closed)
    /// means the credentials must be withheld.
    pub fn record_issued(
        &self,
        req: &actix_web::HttpRequest,
        route: &str,
        issued: &crate::exchange::IssuedCredentials,
    ) -> Result<(), crate::audit::AuditUnavailable> {
        let now = self.live.load().exchange.clock.now();
        let client = super::client_addr::client_ip_string(req);
        self.audit.issued(route, issued, client.as_deref(), now)?;
        self.metrics.issued(issued, now);
        Ok(())
    }

    /// The broker's clock (the exchange snapshot's), for audit records.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.live.load().exchange.clock.now()
    }

    /// Audit and count (`fedbroker_credential_refusals_total`) a refused credential request on
    /// `route`.
    pub fn record_refused(
        &self,
        req: &actix_web::HttpRequest,
        route: &str,
        err: &dyn crate::error::ApiError,
    ) {
        let client = super::client_addr::client_ip_string(req);
        self.audit.refused(
            route,
            err,
            client.as_deref(),
            self.live.load().exchange.clock.now(),
        );
        self.metrics.refused(route, err.code());
    }

    /// The snapshot one request works with from start to end: a reload swaps in a new one for
    /// later requests and never changes it under a request (lock-free load).
    pub fn live(&self) -> Arc<Live> {
        self.live.load_full()
    }

    /// The current exchange (rules, IdPs and services): see [`Self::live`].
    pub fn exchange(&self) -> Arc<Exchange> {
        Arc::clone(&self.live.load().exchange)
    }

    /// The current SAML browser sign-in: see [`Self::live`].
    pub fn saml_browser(&self) -> Arc<SamlBrowser> {
        Arc::clone(&self.live.load().saml_browser)
    }

    /// The handle a [`Reloader`] swaps (shared by every clone of this state).
    pub fn live_handle(&self) -> SharedLive {
        Arc::clone(&self.live)
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

    /// Assemble state from explicit parts (tests inject fakes and fixed clocks here).
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
        let metrics = Arc::new(Metrics::new());
        let saml_browser = Arc::new(SamlBrowser::new(cfg, &idps, clock.clone(), kv.clone()));
        let sts: Arc<dyn StsClient> = Arc::new(MeteredSts::new(sts, metrics.clone()));
        let cache = cfg
            .cache
            .enabled
            .then(|| CachingExchange::in_process(clock.clone()));
        metrics.attach_cache(cache.clone());
        let console = Arc::new(ConsoleService::from_config(cfg, clock.clone()));
        let exchange = Exchange {
            saml: Arc::new(SamlValidator::new(idps, clock.clone())),
            oidc: Arc::new(OidcValidator::without_providers(clock.clone())),
            rules: Arc::new(cfg.rules.clone()),
            issuer: None,
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
        Self {
            live: Arc::new(ArcSwap::from_pointee(Live {
                exchange: Arc::new(exchange),
                saml_browser,
            })),
            reloader: None,
            max_body_bytes: cfg.server.max_body_bytes,
            thumbprint: Arc::new(IssuerGate::from_config(cfg)),
            issuer: None,
            admin_token: cfg.server.admin_token.clone(),
            revocation_block: Duration::from_secs(cfg.cache.revocation_block_seconds),
            metrics,
            audit: crate::audit::Audit::off(),
            oidc_browser: Arc::new(
                OidcBrowser::from_config(cfg, clock.clone(), kv.clone())
                    .unwrap_or_else(|_| OidcBrowser::none(clock.clone())),
            ),
            sessions: Arc::new(SessionStore::new(clock.clone(), kv)),
            // A TLS listener makes every answer https, whatever `public_url` says.
            secure_cookies: !is_loopback_http(&cfg.server.public_url)
                || cfg.server.tls_cert_file.is_some(),
            container_client_certificates: cfg.server.tls_client_ca_file.is_some(),
            console,
            // Loading the config already refused invalid entries (`config::validate`).
            trusted_proxies: Arc::new(
                super::client_addr::TrustedProxies::from_config(&cfg.server).unwrap_or_default(),
            ),
        }
    }
}

/// `http://` on a loopback host: the one place cookies may go without `Secure`.
fn is_loopback_http(url: &str) -> bool {
    url::Url::parse(url)
        .is_ok_and(|u| u.scheme() == "http" && crate::oidc::discovery::is_loopback(&u))
}

/// The shared Redis link `[cache]` configures (standalone, Cluster or Sentinel, with TLS), or
/// `None` for in-process stores. Every shared store uses this one link: a config that shares one
/// store must share them all (`check-config` refuses anything else, e.g. Redis without an
/// encryption key).
pub async fn build_link(cfg: &Config) -> Result<Option<RedisLink>, ConfigErrors> {
    let Some(settings) = LinkSettings::from_config(&cfg.cache) else {
        return Ok(None);
    };
    RedisLink::connect(&settings)
        .await
        .map(Some)
        .map_err(|e| ConfigErrors(vec![e.to_string()]))
}

fn keyring(cfg: &Config) -> Result<Option<Keyring>, ConfigErrors> {
    Keyring::from_config(
        &cfg.cache.encryption_keys,
        cfg.cache.encryption_key_file.as_deref(),
    )
    .map_err(|e| ConfigErrors(vec![e]))
}

/// The config key that needs an encryption key when Redis is configured.
fn shared_without_key(cfg: &Config) -> ConfigErrors {
    ConfigErrors(vec![format!(
        "{} needs cache.encryption_keys or cache.encryption_key_file: the credential cache and \
         browser sessions are stored encrypted in Redis, and every shared store must be shared \
         (no store may stay per-replica while another is in Redis)",
        LinkSettings::from_config(&cfg.cache).map_or("cache.redis_url", |s| s.config_key())
    )])
}

/// Where browser state lives: the shared Redis `link` (sealed with the cache keyring), so any
/// replica can finish a login or serve a session; without a link, in-process (use session
/// affinity with several replicas). A link without an encryption key is an error.
pub async fn build_browser_store(
    cfg: &Config,
    clock: SharedClock,
    link: Option<&RedisLink>,
) -> Result<Arc<dyn BrowserKv>, ConfigErrors> {
    let keyring = keyring(cfg)?;
    match (link, keyring) {
        (Some(link), Some(keyring)) => Ok(Arc::new(RedisKv::new(
            link.clone(),
            &cfg.cache.key_prefix,
            keyring,
        ))),
        (Some(_), None) => Err(shared_without_key(cfg)),
        (None, _) => Ok(Arc::new(MemoryKv::new(clock))),
    }
}

/// The Region and STS endpoint sessions come from (part of every cache key).
fn sts_scope(cfg: &Config) -> String {
    format!(
        "{}|{}",
        cfg.aws.region,
        cfg.aws.sts_endpoint.as_deref().unwrap_or("")
    )
}

/// The credential cache the config asks for: on the shared Redis `link` (with an encryption key),
/// else in-process; `None` when `cache.enabled = false`. A link without an encryption key is an
/// error (credentials never reach Redis unencrypted, and never stay per-replica while the other
/// stores are shared).
pub async fn build_cache(
    cfg: &Config,
    clock: SharedClock,
    link: Option<&RedisLink>,
) -> Result<Option<CachingExchange>, ConfigErrors> {
    if !cfg.cache.enabled {
        return Ok(None);
    }
    let keyring = keyring(cfg)?;
    match (link, keyring) {
        (Some(link), Some(keyring)) => {
            let store = RedisCredentialCache::new(link.clone(), &cfg.cache.key_prefix, keyring);
            Ok(Some(CachingExchange::shared(Arc::new(store), clock)))
        }
        (Some(_), None) => Err(shared_without_key(cfg)),
        (None, _) => Ok(Some(CachingExchange::in_process(clock))),
    }
}
