//! Hot reload of the mapping rules and SAML IdP trust (`SIGHUP`, `POST /v1/admin/reload`).
//!
//! Invariants:
//! - a reload applies only what start-up would accept: the file goes through `config::load` (the
//!   same checks and wording as `fedbroker check-config`), every SAML IdP's metadata is loaded again
//!   (`load_idps`: file re-read, URL re-fetched), and the new rules are checked against what this
//!   process runs (issuer mode, OIDC providers). Any problem keeps the running snapshot; every
//!   problem is reported at once, in one log line, and counted;
//! - what is swapped is one immutable [`Live`] snapshot (the exchange with its rules and SAML
//!   validator, and the SAML browser sign-in). A request takes it once (a lock-free `ArcSwap`
//!   load) and keeps it to its end, so an in-flight request never mixes old and new rules or
//!   IdPs; requests that start after the swap see the new ones;
//! - only `[saml]`, `[mapping]` and `[[rules]]` change live; every other section keeps its
//!   start-up value everywhere (IdPs are rebuilt with the running `server.public_url` and
//!   `aws.region`). When the file changes such a section the reload still applies and a warning
//!   names the sections that need a restart (`diff::restart_needed`);
//! - reloads run one at a time (a mutex held by the reloader only, never by requests); logs carry
//!   counts and names, never a value from the file;
//! - between reloads, the [`MetadataRefresher`] re-fetches each `metadata_url` on its schedule
//!   (`schedule`) and swaps one IdP at a time through the same snapshot; a reload swaps through
//!   the refresher when there is one, so the two never overwrite each other.

mod diff;
pub mod refresh;
pub mod schedule;

pub use diff::{changed_idps, restart_needed, rules_against_running, RELOADABLE};
pub use refresh::{MetadataRefresher, RefreshOutcome};

use crate::config::{self, Config, ConfigErrors};
use crate::error::{ApiError, ErrorKind};
use crate::exchange::Exchange;
use crate::saml::{SamlValidator, TrustedIdp};
use crate::sign_in::SamlBrowser;
use crate::telemetry::metrics::Metrics;
use crate::trust::load_idps_at;
use arc_swap::ArcSwap;
use std::sync::Arc;

/// What one request works with, from start to end: a reload replaces the whole snapshot.
#[derive(Debug)]
pub struct Live {
    /// The exchange with the current mapping rules and SAML validator (its other services are
    /// shared by every snapshot: cache, replay store, STS, OIDC, issuer, limits).
    pub exchange: Arc<Exchange>,
    /// SAML browser sign-in for the current IdPs.
    pub saml_browser: Arc<SamlBrowser>,
}

/// The swappable snapshot shared by every worker.
pub type SharedLive = Arc<ArcSwap<Live>>;

impl Live {
    /// A snapshot like this one with the SAML IdPs `idps` (loaded from `cfg`): the validator and
    /// the browser sign-in are rebuilt, `edit` may change the exchange further, every other part
    /// is shared. The one place a reload and a metadata refresh build the next snapshot.
    pub fn with_saml_idps(
        &self,
        cfg: &Config,
        idps: Vec<TrustedIdp>,
        edit: impl FnOnce(&mut Exchange),
    ) -> Live {
        let mut exchange = Exchange::clone(&self.exchange);
        let saml_browser = self.saml_browser.reloaded(cfg, &idps);
        exchange.saml = Arc::new(SamlValidator::new(idps, exchange.clock.clone()));
        exchange.browser_sp = Arc::new(crate::exchange::BrowserSp::from_config(cfg));
        edit(&mut exchange);
        Live {
            exchange: Arc::new(exchange),
            saml_browser: Arc::new(saml_browser),
        }
    }
}

/// What a successful reload applied (logged, and the admin endpoint's answer).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ReloadSummary {
    pub rules: usize,
    pub rules_before: usize,
    /// The compiled rules differ from the previous ones.
    pub rules_changed: bool,
    pub saml_idps: usize,
    pub saml_idps_before: usize,
    /// Pinned signing certificates over all SAML IdPs.
    pub signing_keys: usize,
    /// IdPs added, removed, or with other keys, entity ID, audiences, recipients or SSO URL.
    pub idps_changed: Vec<String>,
    /// Sections of the file that differ from the running ones and apply only after a restart.
    pub restart_needed: Vec<&'static str>,
}

/// Re-reads the configuration file and swaps the reloadable parts in.
pub struct Reloader {
    config_path: String,
    /// The configuration the process started with: the values of every section that does not
    /// reload, and the baseline for `restart_needed`.
    running: Config,
    live: SharedLive,
    metrics: Arc<Metrics>,
    serial: tokio::sync::Mutex<()>,
    /// The metadata refresher swapping the same snapshot (`None`: no scheduled refresh, tests).
    refresher: Option<Arc<MetadataRefresher>>,
}

impl std::fmt::Debug for Reloader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reloader")
            .field("config_path", &self.config_path)
            .finish_non_exhaustive()
    }
}

impl Reloader {
    /// A reloader for the process started from `config_path` with `running`, swapping `live`
    /// (`AppState::live_handle`). Records the start-up load as the first successful one.
    pub fn new(
        config_path: impl Into<String>,
        running: Config,
        live: SharedLive,
        metrics: Arc<Metrics>,
    ) -> Self {
        metrics.config_loaded(live.load().exchange.clock.now());
        Self {
            config_path: config_path.into(),
            running,
            live,
            metrics,
            serial: tokio::sync::Mutex::new(()),
            refresher: None,
        }
    }

    /// Swap through `refresher` (one lock for both, and it reschedules after each reload).
    pub fn with_metadata_refresher(mut self, refresher: Arc<MetadataRefresher>) -> Self {
        self.refresher = Some(refresher);
        self
    }

    /// The file given at start.
    pub fn config_path(&self) -> &str {
        &self.config_path
    }

    /// Reload from the file given at start (SIGHUP, `POST /v1/admin/reload`).
    pub async fn reload(&self) -> Result<ReloadSummary, ConfigErrors> {
        self.reload_from(&self.config_path).await
    }

    /// Load, check and apply `path`; on any problem keep the running snapshot. Logged once and
    /// counted either way.
    pub async fn reload_from(&self, path: &str) -> Result<ReloadSummary, ConfigErrors> {
        let _one_at_a_time = self.serial.lock().await;
        let result = self.apply(path).await;
        let now = self.live.load().exchange.clock.now();
        self.metrics.config_reload(result.is_ok(), now);
        match &result {
            Ok(summary) => log_applied(path, summary),
            Err(problems) => log_refused(path, problems),
        }
        result
    }

    async fn apply(&self, path: &str) -> Result<ReloadSummary, ConfigErrors> {
        let new = config::load(Some(path))?;
        let current = self.live.load_full();
        let old = &current.exchange;
        // Start-up values for everything that does not reload; the new file's for the rest.
        let mut effective = self.running.clone();
        effective.saml = new.saml.clone();
        effective.mapping = new.mapping.clone();
        effective.rules = new.rules.clone();

        let mut problems = ConfigErrors::default();
        let idps = load_idps_at(&effective, old.clock.now())
            .await
            .map_err(|e| problems.0.extend(e.0))
            .ok();
        problems.0.extend(rules_against_running(
            &self.running,
            &new,
            old.issuer.is_some(),
        ));
        let idps = match idps {
            Some(idps) if problems.is_empty() => idps,
            _ => return Err(problems),
        };

        let summary = ReloadSummary {
            rules: effective.rules.len(),
            rules_before: old.rules.len(),
            rules_changed: format!("{:?}", effective.rules) != format!("{:?}", old.rules),
            saml_idps: idps.len(),
            saml_idps_before: old.saml.idps().len(),
            signing_keys: idps.iter().map(|i| i.signing_certs.len()).sum(),
            idps_changed: changed_idps(old.saml.idps(), &idps),
            restart_needed: restart_needed(&self.running, &new),
        };
        let rules = Arc::new(effective.rules.clone());
        let live = Arc::new(current.with_saml_idps(&effective, idps, |e| e.rules = rules));
        match &self.refresher {
            Some(refresher) => refresher.install_reloaded(&effective, live),
            None => self.live.store(live),
        }
        Ok(summary)
    }
}

fn log_applied(path: &str, s: &ReloadSummary) {
    tracing::info!(
        event = "config.reloaded",
        config = path,
        rules = s.rules,
        rules_before = s.rules_before,
        rules_changed = s.rules_changed,
        saml_idps = s.saml_idps,
        saml_idps_before = s.saml_idps_before,
        signing_keys = s.signing_keys,
        idps_changed = %s.idps_changed.join(","),
        restart_needed = %s.restart_needed.join(","),
        "configuration reloaded: {} rule(s), {} SAML IdP(s), {} signing key(s)",
        s.rules,
        s.saml_idps,
        s.signing_keys
    );
    if !s.restart_needed.is_empty() {
        tracing::warn!(
            event = "config.restart_needed",
            config = path,
            sections = %s.restart_needed.join(","),
            "configuration reloaded, but [{}] changed and take(s) effect only after a restart \
             (live: [saml], [mapping], [[rules]])",
            s.restart_needed.join("], [")
        );
    }
}

fn log_refused(path: &str, problems: &ConfigErrors) {
    tracing::error!(
        event = "config.reload_failed",
        config = path,
        problems = problems.0.len(),
        "configuration reload refused, the running configuration is kept: {} configuration \
         problem(s) in {path}: {}",
        problems.0.len(),
        problems.0.join("; ")
    );
}

/// Reload on every SIGHUP for as long as the returned future runs. The handler is installed by
/// this call (before the future is first polled), so a SIGHUP that arrives once it returned never
/// takes the process down (the default action of SIGHUP is to terminate).
#[cfg(unix)]
pub fn on_sighup(
    reloader: Arc<Reloader>,
) -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangups = signal(SignalKind::hangup())?;
    Ok(async move {
        while hangups.recv().await.is_some() {
            tracing::info!(
                event = "config.reload_requested",
                source = "SIGHUP",
                "reloading the configuration"
            );
            // Logged and counted by the reloader; the running configuration stays on failure.
            let _ = reloader.reload().await;
        }
    })
}

/// Why `POST /v1/admin/reload` did not apply a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("configuration reload refused ({} problem(s)); the running configuration is kept", .0.0.len())]
    Refused(ConfigErrors),
    #[error("this instance was not started from a configuration file; there is nothing to reload")]
    NotReloadable,
}

impl ApiError for ReloadError {
    fn kind(&self) -> ErrorKind {
        // A broken file on the server is a misconfiguration on our side, not a bad request.
        ErrorKind::Internal
    }
    fn code(&self) -> &'static str {
        match self {
            Self::Refused(_) => "config_reload_failed",
            Self::NotReloadable => "reload_unavailable",
        }
    }
    fn detail(&self) -> Option<serde_json::Value> {
        match self {
            Self::Refused(e) => Some(serde_json::json!({ "problems": e.0 })),
            Self::NotReloadable => None,
        }
    }
}
