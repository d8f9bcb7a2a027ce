//! Scheduled re-fetch of SAML IdP metadata (`metadata_url`) and certificate-expiry watch, so an IdP
//! that rolls its signing certificate over (publishing the next one in its metadata weeks ahead)
//! is followed without a restart or a reload.
//!
//! Invariants:
//! - a fetched document is loaded by `trust::load_idp`, exactly as at start-up (same parser, at
//!   least one usable signing key, `validUntil` not passed), and must keep the entity ID the IdP
//!   runs with: a different one is refused (the IdP's identity is configuration, changed by an
//!   operator through a reload, never by whoever controls the metadata URL);
//! - the new trust is swapped in through the reload snapshot (`Live`): one IdP replaced, every
//!   other part kept; requests in flight finish with the snapshot they took. Swaps by a reload and
//!   by this refresher are serialised by one lock, and a fetch that started before a reload is
//!   dropped (the reload fetched everything again);
//! - any failure keeps the last good metadata, logs one warning (file or URL and the reason, never
//!   the document) and counts it; the retry backs off (`schedule`). Metadata kept past its
//!   `validUntil` because fetches fail stays trusted (like certificate expiry, AWS IAM does not
//!   enforce it, and dropping trust would turn an IdP outage into a sign-in outage) with a warning
//!   at every failed attempt;
//! - every pinned certificate's `notAfter` is exported as a gauge and logged as a warning when
//!   within [`EXPIRY_WARNING`], once per refresh (metadata files: at start, at each reload and
//!   daily), never per request; all times come from the injected clock.

use super::schedule;
use super::{changed_idps, Live, SharedLive};
use crate::clock::SharedClock;
use crate::config::Config;
use crate::saml::validity::certificate_not_after;
use crate::saml::TrustedIdp;
use crate::telemetry::metrics::Metrics;
use crate::trust::{load_idp, MetadataFetcher};
use chrono::{DateTime, TimeDelta, Utc};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

/// Warn this long before a pinned certificate's `notAfter`.
pub const EXPIRY_WARNING: TimeDelta = TimeDelta::days(30);
/// How often the certificates of an IdP configured with a `metadata_file` are looked at again.
pub const FILE_CHECK_EVERY: TimeDelta = TimeDelta::days(1);
/// How often the background task looks for IdPs due (the schedule itself is in clock time).
pub const TICK: Duration = Duration::from_secs(15);

/// What one refresh of one IdP did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshOutcome {
    /// A new document passed every check and was swapped in; its trust differs from the old.
    Updated,
    /// A new document passed every check and carries the same trust.
    Unchanged,
    /// Refused; the last good metadata stays. The reason names no document content.
    Refused { outcome: &'static str, why: String },
    /// An IdP with a `metadata_file`: nothing fetched, its certificates were looked at.
    Checked,
    /// Nothing done: the IdP is not configured any more, or a reload replaced trust meanwhile.
    Skipped,
}

/// Per-IdP schedule.
#[derive(Debug, Clone)]
struct Due {
    at: DateTime<Utc>,
    failures: u32,
}

/// The configuration the IdPs were loaded with, bumped by each reload.
#[derive(Debug)]
struct State {
    cfg: Arc<Config>,
    generation: u64,
    due: HashMap<String, Due>,
}

/// Re-fetches each IdP's metadata when due; built once per process (see `fedbroker serve`).
#[derive(Debug)]
pub struct MetadataRefresher {
    live: SharedLive,
    fetcher: Arc<dyn MetadataFetcher>,
    metrics: Arc<Metrics>,
    clock: SharedClock,
    /// Also the lock every swap of `live` by a refresh or a reload is made under.
    state: Mutex<State>,
}

impl MetadataRefresher {
    /// A refresher for the IdPs of `live` as loaded from `cfg` (start-up), with the clock of the
    /// snapshot. Exports the certificates' expiry (and warns) right away.
    pub fn new(
        cfg: &Config,
        live: SharedLive,
        metrics: Arc<Metrics>,
        fetcher: Arc<dyn MetadataFetcher>,
    ) -> Self {
        let clock = live.load().exchange.clock.clone();
        let me = Self {
            live,
            fetcher,
            metrics,
            clock,
            state: Mutex::new(State {
                cfg: Arc::new(cfg.clone()),
                generation: 0,
                due: HashMap::new(),
            }),
        };
        let mut state = me.lock();
        me.reset(&mut state);
        drop(state);
        me
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Schedule every IdP of the current snapshot afresh and export its trust (start, reload).
    fn reset(&self, state: &mut State) {
        let now = self.clock.now();
        let live = self.live.load_full();
        let idps = live.exchange.saml.idps();
        state.due = idps
            .iter()
            .map(|idp| {
                let at = match idp_config(&state.cfg, &idp.name) {
                    Some(c) if c.metadata_url.is_some() => schedule::next_after_success(
                        &idp.metadata_validity,
                        schedule::interval(c.metadata_refresh_secs),
                        now,
                        schedule::random_jitter(),
                    ),
                    _ => now + FILE_CHECK_EVERY,
                };
                (idp.name.clone(), Due { at, failures: 0 })
            })
            .collect();
        let names: Vec<&str> = idps.iter().map(|i| i.name.as_str()).collect();
        self.metrics.saml_idps_retain(&names);
        for idp in idps {
            // The snapshot's metadata_url documents were just fetched and checked (start, reload).
            if idp_config(&state.cfg, &idp.name).is_some_and(|c| c.metadata_url.is_some()) {
                self.metrics.saml_metadata_loaded(&idp.name, now);
            } else {
                self.metrics.saml_metadata_from_file(&idp.name);
            }
            self.observe(idp, now);
        }
    }

    /// Swap in a reloaded snapshot (`Reloader`), under the swap lock: `cfg` is the configuration
    /// its IdPs were loaded with. Refreshes in progress are dropped; every IdP is rescheduled.
    pub fn install_reloaded(&self, cfg: &Config, live: Arc<Live>) {
        let mut state = self.lock();
        self.live.store(live);
        state.cfg = Arc::new(cfg.clone());
        state.generation += 1;
        self.reset(&mut state);
    }

    /// When `idp` is next due (tests, diagnostics).
    pub fn next_due(&self, idp: &str) -> Option<DateTime<Utc>> {
        self.lock().due.get(idp).map(|d| d.at)
    }

    /// Refresh every IdP that is due at the clock's time; returns how many were looked at.
    pub async fn refresh_due(&self) -> usize {
        let now = self.clock.now();
        let mut names: Vec<String> = self
            .lock()
            .due
            .iter()
            .filter(|(_, d)| d.at <= now)
            .map(|(n, _)| n.clone())
            .collect();
        names.sort();
        for name in &names {
            self.refresh_idp(name).await;
        }
        names.len()
    }

    /// Refresh one IdP now, whatever its schedule.
    pub async fn refresh_idp(&self, name: &str) -> RefreshOutcome {
        let (cfg, generation) = {
            let s = self.lock();
            (Arc::clone(&s.cfg), s.generation)
        };
        let Some(idp_cfg) = idp_config(&cfg, name) else {
            return self.forget(name);
        };
        let Some(current) = self.current(name) else {
            return self.forget(name);
        };
        let interval = schedule::interval(idp_cfg.metadata_refresh_secs);
        if idp_cfg.metadata_url.is_none() {
            let now = self.clock.now();
            self.observe(&current, now);
            if let Some(d) = self.lock().due.get_mut(name) {
                d.at = now + FILE_CHECK_EVERY;
            }
            return RefreshOutcome::Checked;
        }
        let loaded = load_idp(&cfg, idp_cfg, self.fetcher.as_ref(), self.clock.now()).await;
        let now = self.clock.now();
        let mut state = self.lock();
        if state.generation != generation {
            return RefreshOutcome::Skipped;
        }
        let outcome = match loaded {
            Ok(new) if new.entity_id != current.entity_id => RefreshOutcome::Refused {
                outcome: "entity_id_changed",
                why: "the metadata names another entityID than the IdP runs with; the IdP's \
                      identity changes only through the configuration (edit it and reload)"
                    .into(),
            },
            Ok(new) => {
                let changed =
                    !changed_idps(std::slice::from_ref(&current), std::slice::from_ref(&new))
                        .is_empty();
                self.swap(&state.cfg, new.clone());
                self.observe(&new, now);
                log_accepted(&current, &new, changed);
                state.due.insert(
                    name.to_owned(),
                    Due {
                        at: schedule::next_after_success(
                            &new.metadata_validity,
                            interval,
                            now,
                            schedule::random_jitter(),
                        ),
                        failures: 0,
                    },
                );
                if changed {
                    RefreshOutcome::Updated
                } else {
                    RefreshOutcome::Unchanged
                }
            }
            Err(e) => RefreshOutcome::Refused {
                outcome: e.outcome(),
                why: e.to_string(),
            },
        };
        match &outcome {
            RefreshOutcome::Updated => self.metrics.saml_metadata_refresh(name, "updated", now),
            RefreshOutcome::Unchanged => self.metrics.saml_metadata_refresh(name, "unchanged", now),
            RefreshOutcome::Refused { outcome, why } => {
                let d = state.due.entry(name.to_owned()).or_insert(Due {
                    at: now,
                    failures: 0,
                });
                d.failures = d.failures.saturating_add(1);
                d.at = schedule::next_after_failure(
                    d.failures,
                    interval,
                    now,
                    schedule::random_jitter(),
                );
                self.metrics.saml_metadata_refresh(name, outcome, now);
                log_refused(&current, outcome, why, d, now);
            }
            RefreshOutcome::Checked | RefreshOutcome::Skipped => {}
        }
        outcome
    }

    fn current(&self, name: &str) -> Option<TrustedIdp> {
        let live = self.live.load();
        live.exchange
            .saml
            .idps()
            .iter()
            .find(|i| i.name == name)
            .cloned()
    }

    /// Replace IdP `new.name` in the current snapshot (caller holds the swap lock).
    fn swap(&self, cfg: &Config, new: TrustedIdp) {
        let current = self.live.load_full();
        let idps: Vec<TrustedIdp> = current
            .exchange
            .saml
            .idps()
            .iter()
            .map(|i| {
                if i.name == new.name {
                    new.clone()
                } else {
                    i.clone()
                }
            })
            .collect();
        self.live
            .store(Arc::new(current.with_saml_idps(cfg, idps, |_| {})));
    }

    /// Forget the schedule of an IdP that is no longer configured or running.
    fn forget(&self, name: &str) -> RefreshOutcome {
        self.lock().due.remove(name);
        RefreshOutcome::Skipped
    }

    /// Export `idp`'s certificates and metadata validity; warn about certificates near expiry.
    fn observe(&self, idp: &TrustedIdp, now: DateTime<Utc>) {
        let mut certs = Vec::new();
        for cert in &idp.signing_certs {
            let fingerprint = hex::encode(Sha256::digest(cert.der_data()));
            let Some(not_after) = certificate_not_after(cert.der_data()) else {
                continue;
            };
            let left = not_after - now;
            if left <= EXPIRY_WARNING {
                tracing::warn!(
                    event = "saml.certificate_expiring",
                    idp = %idp.name,
                    fingerprint = %fingerprint,
                    not_after = %not_after.to_rfc3339(),
                    days_left = left.num_days(),
                    "IdP {}: pinned signing certificate {fingerprint} {} ({}); the broker does \
                     not enforce certificate expiry, but the IdP must publish its successor in \
                     its metadata before it rotates",
                    idp.name,
                    if left <= TimeDelta::zero() { "has expired" } else { "expires soon" },
                    not_after.to_rfc3339(),
                );
            }
            certs.push((fingerprint, not_after.timestamp()));
        }
        self.metrics.saml_idp_trust(
            &idp.name,
            &certs,
            idp.metadata_validity.valid_until.map(|t| t.timestamp()),
        );
    }

    /// Run [`Self::refresh_due`] every `tick` until the refresher is dropped.
    pub fn spawn(self: &Arc<Self>, tick: Duration) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(tick);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            every.tick().await;
            loop {
                every.tick().await;
                let Some(me) = weak.upgrade() else { return };
                me.refresh_due().await;
            }
        })
    }
}

fn idp_config<'a>(cfg: &'a Config, name: &str) -> Option<&'a crate::config::SamlIdpConfig> {
    cfg.saml.idps.iter().find(|i| i.name == name)
}

fn fingerprints(idp: &TrustedIdp) -> Vec<String> {
    idp.signing_certs
        .iter()
        .map(|c| hex::encode(Sha256::digest(c.der_data())))
        .collect()
}

fn log_accepted(old: &TrustedIdp, new: &TrustedIdp, changed: bool) {
    if !changed {
        tracing::debug!(
            event = "saml.metadata_refreshed",
            idp = %new.name,
            "IdP {}: metadata refreshed, trust unchanged",
            new.name
        );
        return;
    }
    let (before, after) = (fingerprints(old), fingerprints(new));
    let added: Vec<&str> = after
        .iter()
        .filter(|f| !before.contains(f))
        .map(String::as_str)
        .collect();
    let removed: Vec<&str> = before
        .iter()
        .filter(|f| !after.contains(f))
        .map(String::as_str)
        .collect();
    tracing::info!(
        event = "saml.metadata_updated",
        idp = %new.name,
        signing_keys = after.len(),
        added = %added.join(","),
        removed = %removed.join(","),
        "IdP {}: refreshed metadata applied: {} signing certificate(s), {} added, {} removed",
        new.name,
        after.len(),
        added.len(),
        removed.len()
    );
}

fn log_refused(current: &TrustedIdp, outcome: &str, why: &str, due: &Due, now: DateTime<Utc>) {
    tracing::warn!(
        event = "saml.metadata_refresh_failed",
        idp = %current.name,
        outcome,
        failures = due.failures,
        retry_at = %due.at.to_rfc3339(),
        "IdP {}: metadata refresh refused ({outcome}), the last good metadata stays in use: {why}",
        current.name
    );
    if let Some(until) = current
        .metadata_validity
        .valid_until
        .filter(|_| current.metadata_validity.expired_at(now))
    {
        tracing::warn!(
            event = "saml.metadata_expired",
            idp = %current.name,
            valid_until = %until.to_rfc3339(),
            "IdP {}: the metadata in use expired at {} (validUntil) and cannot be refreshed; its \
             keys stay trusted until a fetch succeeds: check the IdP's metadata_url",
            current.name,
            until.to_rfc3339()
        );
    }
}
