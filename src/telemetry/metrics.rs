//! Prometheus metrics (`GET /metrics`, OpenMetrics text) with `prometheus-client`, the Prometheus
//! project's own Rust client.
//!
//! - `fedbroker_sts_calls_total{api, outcome}`: every STS call (outcome `ok` or the stable error
//!   code), counted by [`MeteredSts`] around the real client, and
//!   `fedbroker_sts_call_duration_seconds{operation}`: how long each took (the broker's retries of
//!   one call included, so this is the wait a caller sees);
//! - `fedbroker_credential_refusals_total{route, code}`: refused credential requests and browser
//!   sign-ins by route and stable error code, counted where they are audited;
//! - `fedbroker_rate_limited_total{limit}`: requests answered 429 by the per-client or per-subject
//!   rate limit (`limit` = `client` or `subject`; both series exist from start-up at 0);
//! - `fedbroker_credentials_issued_total{protocol, mode, cache}` and
//!   `fedbroker_served_credential_ttl_seconds{cache}`: what was handed out and how much life it had
//!   left (never less than the refresh window when served from the cache);
//! - `fedbroker_credential_cache_*_total`: the cache's own counters (hits, misses, refreshes, lock
//!   waits, ...), read at scrape time;
//! - `fedbroker_saml_legacy_signatures_total{idp}`: credentials issued on a SAML signature that
//!   was accepted only through that IdP's `legacy_algorithms` opt-in (RSA-SHA1, a SHA-1 digest or
//!   an RSA key under 2048 bits), so an operator sees when the opt-in can be removed;
//! - `fedbroker_config_reloads_total{outcome}`, `fedbroker_config_last_reload_successful` and
//!   `fedbroker_config_last_reload_success_timestamp_seconds`: configuration reloads (SIGHUP,
//!   `POST /v1/admin/reload`); the start-up load counts as the first success;
//! - `fedbroker_saml_metadata_refreshes_total{idp, outcome}`,
//!   `fedbroker_saml_metadata_last_refresh_success_timestamp_seconds{idp}`,
//!   `fedbroker_saml_metadata_valid_until_timestamp_seconds{idp}` and
//!   `fedbroker_saml_idp_certificate_expiry_timestamp_seconds{idp, fingerprint}`: IdP metadata
//!   refresh and the `notAfter` of every pinned signing certificate (what is trusted now);
//! - `fedbroker_tls_listener_certificate_expiry_timestamp_seconds` and
//!   `fedbroker_tls_listener_certificate_reloads_total{outcome}`: the `notAfter` of the leaf
//!   certificate the TLS listener serves now (set at start and by each successful reload;
//!   absent without `server.tls_cert_file`), and every reload attempt by outcome.
//! - `fedbroker_redis_up` (1/0, the shared Redis answered the last health PING, sent every 10 s)
//!   and `fedbroker_redis_errors_total{store}` (`replay`, `cache`, `browser`: failed commands,
//!   including writes no replica acknowledged in time): read from the link at scrape time, only
//!   when Redis is configured.
//!
//! Invariant: labels carry only fixed vocabularies (API names, modes, error codes) or configured
//! names (IdP names, and the SHA-256 fingerprints of their pinned certificates, at most 10 each):
//! never a subject, role or token, so the series count stays bounded and nothing sensitive is
//! exported.

use crate::cache::CachingExchange;
use crate::error::ApiError;
use crate::exchange::IssuedCredentials;
use crate::redis_link::{RedisLink, Store};
use crate::sts::{
    AssumeRoleRequest, AssumeRoleWithSamlRequest, AssumeRoleWithWebIdentityRequest, StsClient,
    StsCredentials, StsError,
};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

/// Buckets of the served-credential lifetime histogram (seconds): the refresh window (15 min) up
/// to the longest session (12 h).
const TTL_BUCKETS: [f64; 9] = [
    300.0, 900.0, 1_200.0, 1_800.0, 3_600.0, 7_200.0, 14_400.0, 28_800.0, 43_200.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StsLabels {
    api: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabel {
    /// The STS API name (`AssumeRoleWithSAML`, `AssumeRoleWithWebIdentity`, `AssumeRole`).
    operation: &'static str,
}

/// Buckets of the STS call latency histogram (seconds): 10 ms up to the worst case of three
/// attempts under the 10 s operation timeout.
const STS_LATENCY_BUCKETS: [f64; 12] = [
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 35.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    /// The audit log's route name (`saml`, `web_identity`, `container`, `console_url`, `console`,
    /// `oidc_callback`, `saml_acs`): a constant of the handler, never the request path.
    route: String,
    /// The stable error code (`ApiError::code`).
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabel {
    /// `client` or `subject`.
    limit: &'static str,
}

/// The `fedbroker_rate_limited_total` counter, handed to `limits::RateLimits` (which has no
/// access to the registry) so every 429 of either limit is counted where it is decided.
#[derive(Clone, Debug, Default)]
pub struct RateLimitedCounter(Family<LimitLabel, Counter>);

impl RateLimitedCounter {
    /// Count one request refused by the `limit` (`client` or `subject`) rate limit.
    pub fn inc(&self, limit: &'static str) {
        self.0.get_or_create(&LimitLabel { limit }).inc();
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IssuedLabels {
    protocol: &'static str,
    mode: &'static str,
    cache: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    /// The matched route pattern (e.g. `/v1/saml/credentials`), `unmatched` otherwise: bounded.
    route: String,
    method: String,
    /// `2xx`, `3xx`, `4xx`, `5xx`.
    status: &'static str,
}

/// Buckets of the request latency histogram (seconds): 0.5 ms to 10 s.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    /// `success` or `failure`.
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IdpLabel {
    /// A configured IdP name (`[[saml.idps]] name`): bounded by the configuration.
    idp: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IdpOutcomeLabels {
    idp: String,
    /// `updated`, `unchanged`, `fetch_failed`, `invalid`, `expired`, `entity_id_changed`.
    outcome: &'static str,
}

/// Every `outcome` of `fedbroker_saml_metadata_refreshes_total`.
const METADATA_REFRESH_OUTCOMES: [&str; 6] = [
    "updated",
    "unchanged",
    "fetch_failed",
    "invalid",
    "expired",
    "entity_id_changed",
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IdpCertLabels {
    idp: String,
    /// SHA-256 (lowercase hex) of the certificate DER, as the audit log's `key_fingerprint`.
    fingerprint: String,
}

/// The per-IdP SAML trust series (refresh, metadata and certificate expiry).
#[derive(Debug, Default)]
struct SamlTrustMetrics {
    refreshes: Family<IdpOutcomeLabels, Counter>,
    last_success: Family<IdpLabel, Gauge>,
    valid_until: Family<IdpLabel, Gauge>,
    cert_expiry: Family<IdpCertLabels, Gauge>,
    /// The certificate series set per IdP, so a retired certificate's series goes away.
    certs: std::sync::Mutex<std::collections::HashMap<String, Vec<IdpCertLabels>>>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabel {
    cache: &'static str,
}

/// The broker's metrics registry (one per process, in `AppState`).
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    sts_calls: Family<StsLabels, Counter>,
    sts_duration: Family<OperationLabel, Histogram>,
    refusals: Family<RefusalLabels, Counter>,
    rate_limited: RateLimitedCounter,
    issued: Family<IssuedLabels, Counter>,
    saml_legacy: Family<IdpLabel, Counter>,
    served_ttl: Family<CacheLabel, Histogram>,
    requests: Family<RequestLabels, Histogram>,
    reloads: Family<OutcomeLabel, Counter>,
    last_reload_ok: Gauge,
    last_reload_success: Gauge,
    saml_trust: SamlTrustMetrics,
    /// notAfter of the listener's leaf (Unix time); [`NO_TLS_LISTENER`] until one reports.
    tls_expiry: Arc<AtomicI64>,
    tls_reloads: Family<OutcomeLabel, Counter>,
    cache: Arc<RwLock<Option<CachingExchange>>>,
    redis: Arc<RwLock<Option<RedisLink>>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("fedbroker");
        let sts_calls = Family::<StsLabels, Counter>::default();
        registry.register(
            "sts_calls",
            "Calls to AWS STS by API and outcome (ok or the stable error code)",
            sts_calls.clone(),
        );
        let sts_duration = Family::<OperationLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(STS_LATENCY_BUCKETS)
        });
        registry.register(
            "sts_call_duration_seconds",
            "Duration of calls to AWS STS by API (the broker's retries of one call included)",
            sts_duration.clone(),
        );
        let refusals = Family::<RefusalLabels, Counter>::default();
        registry.register(
            "credential_refusals",
            "Refused credential requests and browser sign-ins by route and stable error code",
            refusals.clone(),
        );
        let rate_limited = RateLimitedCounter::default();
        for limit in ["client", "subject"] {
            // Both series from the start, so rate() and alerts see 0 rather than no data.
            let _ = rate_limited.0.get_or_create(&LimitLabel { limit });
        }
        registry.register(
            "rate_limited",
            "Requests answered 429 by a rate limit (limits.per_client_per_minute: client, limits.per_subject_per_minute: subject)",
            rate_limited.0.clone(),
        );
        let issued = Family::<IssuedLabels, Counter>::default();
        registry.register(
            "credentials_issued",
            "Credentials handed out, by protocol, STS mode and how the cache answered",
            issued.clone(),
        );
        let saml_legacy = Family::<IdpLabel, Counter>::default();
        registry.register(
            "saml_legacy_signatures",
            "Credentials issued on a SAML signature accepted only through the IdP's legacy_algorithms opt-in (RSA-SHA1, SHA-1 digest or RSA key under 2048 bits)",
            saml_legacy.clone(),
        );
        let served_ttl =
            Family::<CacheLabel, Histogram>::new_with_constructor(|| Histogram::new(TTL_BUCKETS));
        registry.register(
            "served_credential_ttl_seconds",
            "Time left before expiry of the credentials handed out",
            served_ttl.clone(),
        );
        let requests = Family::<RequestLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(LATENCY_BUCKETS)
        });
        registry.register(
            "http_request_duration_seconds",
            "HTTP requests by route, method and status class, with their latency",
            requests.clone(),
        );
        let reloads = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "config_reloads",
            "Configuration reloads (SIGHUP or POST /v1/admin/reload) by outcome",
            reloads.clone(),
        );
        let last_reload_ok = Gauge::default();
        registry.register(
            "config_last_reload_successful",
            "1 if the last configuration load or reload succeeded, 0 if it was refused",
            last_reload_ok.clone(),
        );
        let last_reload_success = Gauge::default();
        registry.register(
            "config_last_reload_success_timestamp_seconds",
            "Unix time of the last successful configuration load (start-up) or reload",
            last_reload_success.clone(),
        );
        let saml_trust = SamlTrustMetrics::default();
        registry.register(
            "saml_metadata_refreshes",
            "Scheduled re-fetches of SAML IdP metadata (metadata_url) by IdP and outcome",
            saml_trust.refreshes.clone(),
        );
        registry.register(
            "saml_metadata_last_refresh_success_timestamp_seconds",
            "Unix time of the last metadata fetch of an IdP that passed every check",
            saml_trust.last_success.clone(),
        );
        registry.register(
            "saml_metadata_valid_until_timestamp_seconds",
            "validUntil of the IdP metadata in use (absent when the metadata has none)",
            saml_trust.valid_until.clone(),
        );
        registry.register(
            "saml_idp_certificate_expiry_timestamp_seconds",
            "notAfter of each pinned IdP signing certificate (expiry is not enforced: rotate before)",
            saml_trust.cert_expiry.clone(),
        );
        // The expiry series appears only once a TLS listener reports its certificate, so a
        // plain-http broker exports no expiry that an alert would read as 1970.
        let tls_expiry = Arc::new(AtomicI64::new(NO_TLS_LISTENER));
        registry.register_collector(Box::new(TlsExpiryCollector(tls_expiry.clone())));
        let tls_reloads = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "tls_listener_certificate_reloads",
            "Reloads of the TLS listener's certificate and key (SIGHUP or a change of the files) by outcome; a failure keeps the previous pair",
            tls_reloads.clone(),
        );
        let cache = Arc::new(RwLock::new(None));
        registry.register_collector(Box::new(CacheCollector(cache.clone())));
        let redis = Arc::new(RwLock::new(None));
        registry.register_collector(Box::new(RedisCollector(redis.clone())));
        Self {
            registry,
            sts_calls,
            sts_duration,
            refusals,
            rate_limited,
            issued,
            saml_legacy,
            served_ttl,
            requests,
            reloads,
            last_reload_ok,
            last_reload_success,
            saml_trust,
            tls_expiry,
            tls_reloads,
            cache,
            redis,
        }
    }

    /// The TLS listener serves a leaf certificate valid until `not_after` (Unix time): at start
    /// (`reloaded: None`) and after each reload attempt (`Some(true)`: the new pair is served;
    /// `Some(false)`: it was refused and the previous one is still served, `not_after` is then
    /// that previous one's).
    pub fn tls_certificate(&self, not_after: i64, reloaded: Option<bool>) {
        self.tls_expiry.store(not_after, Ordering::Relaxed);
        if let Some(ok) = reloaded {
            let outcome = if ok { "success" } else { "failure" };
            self.tls_reloads
                .get_or_create(&OutcomeLabel { outcome })
                .inc();
        }
    }

    /// Count one metadata refresh of `idp`; `updated` and `unchanged` also move its last-success
    /// timestamp to `now`.
    pub fn saml_metadata_refresh(
        &self,
        idp: &str,
        outcome: &'static str,
        now: chrono::DateTime<chrono::Utc>,
    ) {
        let t = &self.saml_trust;
        t.refreshes
            .get_or_create(&IdpOutcomeLabels {
                idp: idp.to_owned(),
                outcome,
            })
            .inc();
        if matches!(outcome, "updated" | "unchanged") {
            t.last_success
                .get_or_create(&IdpLabel {
                    idp: idp.to_owned(),
                })
                .set(now.timestamp());
        }
    }

    /// `idp`'s metadata was fetched from its `metadata_url` and passed every check at start-up or
    /// by a reload (`now`): the baseline of its refresh series. The last-success time starts
    /// here and every refresh outcome is counted from 0, so an IdP whose every scheduled
    /// re-fetch fails after the start still shows (and alerts) instead of having no series.
    pub fn saml_metadata_loaded(&self, idp: &str, now: chrono::DateTime<chrono::Utc>) {
        let t = &self.saml_trust;
        for outcome in METADATA_REFRESH_OUTCOMES {
            let _ = t.refreshes.get_or_create(&IdpOutcomeLabels {
                idp: idp.to_owned(),
                outcome,
            });
        }
        t.last_success
            .get_or_create(&IdpLabel {
                idp: idp.to_owned(),
            })
            .set(now.timestamp());
    }

    /// `idp` is configured with a `metadata_file` (nothing is fetched): no last-success time,
    /// e.g. after a reload that replaced its `metadata_url`.
    pub fn saml_metadata_from_file(&self, idp: &str) {
        self.saml_trust.last_success.remove(&IdpLabel {
            idp: idp.to_owned(),
        });
    }

    /// What `idp` trusts now: each signing certificate (fingerprint, notAfter as Unix time) and
    /// the metadata's validUntil. Replaces the IdP's previous series.
    pub fn saml_idp_trust(&self, idp: &str, certs: &[(String, i64)], valid_until: Option<i64>) {
        let t = &self.saml_trust;
        let label = IdpLabel {
            idp: idp.to_owned(),
        };
        match valid_until {
            Some(v) => {
                t.valid_until.get_or_create(&label).set(v);
            }
            None => {
                t.valid_until.remove(&label);
            }
        }
        let mut sets = t.certs.lock().unwrap_or_else(|p| p.into_inner());
        for old in sets.remove(idp).unwrap_or_default() {
            t.cert_expiry.remove(&old);
        }
        let labels: Vec<IdpCertLabels> = certs
            .iter()
            .map(|(fingerprint, not_after)| {
                let l = IdpCertLabels {
                    idp: idp.to_owned(),
                    fingerprint: fingerprint.clone(),
                };
                t.cert_expiry.get_or_create(&l).set(*not_after);
                l
            })
            .collect();
        sets.insert(idp.to_owned(), labels);
    }

    /// Drop the trust gauges of IdPs that are no longer configured (after a reload).
    pub fn saml_idps_retain(&self, names: &[&str]) {
        let t = &self.saml_trust;
        let mut sets = t.certs.lock().unwrap_or_else(|p| p.into_inner());
        let gone: Vec<String> = sets
            .keys()
            .filter(|k| !names.contains(&k.as_str()))
            .cloned()
            .collect();
        for idp in gone {
            for old in sets.remove(&idp).unwrap_or_default() {
                t.cert_expiry.remove(&old);
            }
            let label = IdpLabel { idp };
            t.valid_until.remove(&label);
            t.last_success.remove(&label);
        }
    }

    /// The configuration was loaded at start-up (`now`): the baseline of the reload metrics.
    pub fn config_loaded(&self, now: chrono::DateTime<chrono::Utc>) {
        self.last_reload_ok.set(1);
        self.last_reload_success.set(now.timestamp());
    }

    /// Count a configuration reload; a success also moves the last-success timestamp.
    pub fn config_reload(&self, succeeded: bool, now: chrono::DateTime<chrono::Utc>) {
        let outcome = if succeeded { "success" } else { "failure" };
        self.reloads.get_or_create(&OutcomeLabel { outcome }).inc();
        self.last_reload_ok.set(i64::from(succeeded));
        if succeeded {
            self.last_reload_success.set(now.timestamp());
        }
    }

    /// Count a request and its latency (`route`: the matched pattern, never the raw path).
    pub fn request(&self, route: Option<&str>, method: &str, status: u16, seconds: f64) {
        let status = match status {
            200..=299 => "2xx",
            300..=399 => "3xx",
            400..=499 => "4xx",
            _ => "5xx",
        };
        self.requests
            .get_or_create(&RequestLabels {
                route: route.unwrap_or("unmatched").to_owned(),
                method: method.to_owned(),
                status,
            })
            .observe(seconds);
    }

    /// Export this cache's counters (the cache is built after the registry).
    pub fn attach_cache(&self, cache: Option<CachingExchange>) {
        *self.cache.write().unwrap_or_else(|p| p.into_inner()) = cache;
    }

    /// Export the shared Redis link's health and error counts (`None`: no Redis, no series).
    pub fn attach_redis(&self, link: Option<RedisLink>) {
        *self.redis.write().unwrap_or_else(|p| p.into_inner()) = link;
    }

    /// Count one STS call of `api` that ended with `outcome` after `seconds`.
    pub fn sts_call(&self, api: &'static str, outcome: &'static str, seconds: f64) {
        self.sts_calls
            .get_or_create(&StsLabels { api, outcome })
            .inc();
        self.sts_duration
            .get_or_create(&OperationLabel { operation: api })
            .observe(seconds);
    }

    /// Count a refused credential request or sign-in on `route` (a handler's constant route
    /// name, as in the audit record) with its stable error `code`.
    pub fn refused(&self, route: &str, code: &'static str) {
        self.refusals
            .get_or_create(&RefusalLabels {
                route: route.to_owned(),
                code,
            })
            .inc();
    }

    /// The rate-limit counter, for `limits::RateLimits::with_counter`.
    pub fn rate_limited(&self) -> RateLimitedCounter {
        self.rate_limited.clone()
    }

    /// Count an answer and the life left on its credential.
    pub fn issued(&self, issued: &IssuedCredentials, now: chrono::DateTime<chrono::Utc>) {
        let cache = issued.cache.map_or("off", |c| c.as_str());
        let protocol = match issued.protocol {
            crate::identity::Protocol::Saml => "saml",
            crate::identity::Protocol::Oidc => "oidc",
        };
        self.issued
            .get_or_create(&IssuedLabels {
                protocol,
                mode: issued.mode.as_str(),
                cache,
            })
            .inc();
        if issued.legacy_algorithm {
            self.saml_legacy
                .get_or_create(&IdpLabel {
                    idp: issued.provider.clone(),
                })
                .inc();
        }
        let left = (issued.credentials.expiration - now).num_seconds().max(0);
        self.served_ttl
            .get_or_create(&CacheLabel { cache })
            .observe(left as f64);
    }

    /// The OpenMetrics text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreLabel {
    store: &'static str,
}

/// The shared Redis link's health and error counters, read at scrape time.
#[derive(Debug)]
struct RedisCollector(Arc<RwLock<Option<RedisLink>>>);

impl Collector for RedisCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let guard = self.0.read().unwrap_or_else(|p| p.into_inner());
        let Some(link) = guard.as_ref() else {
            return Ok(());
        };
        let up = prometheus_client::metrics::gauge::ConstGauge::new(i64::from(link.up()));
        let metric = encoder.encode_descriptor(
            "redis_up",
            "1 if the shared Redis answered the last health PING (every 10 s), else 0",
            None,
            up.metric_type(),
        )?;
        up.encode(metric)?;
        let mut family = encoder.encode_descriptor(
            "redis_errors",
            "Failed Redis commands (errors, timeouts, writes no replica acknowledged) by store",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for store in Store::ALL {
            let c = ConstCounter::new(link.errors(store));
            let labels = StoreLabel {
                store: store.as_str(),
            };
            let metric = family.encode_family(&labels)?;
            c.encode(metric)?;
        }
        Ok(())
    }
}

/// The cache's counters, read at scrape time.
#[derive(Debug)]
struct CacheCollector(Arc<RwLock<Option<CachingExchange>>>);

impl Collector for CacheCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let guard = self.0.read().unwrap_or_else(|p| p.into_inner());
        let Some(cache) = guard.as_ref() else {
            return Ok(());
        };
        let m = cache.metrics();
        let counters: [(&str, &str, u64); 14] = [
            (
                "credential_cache_hits",
                "Requests served from the cache",
                m.hits,
            ),
            (
                "credential_cache_misses",
                "Requests that fetched because nothing servable was cached",
                m.misses,
            ),
            (
                "credential_cache_refreshes",
                "Early refreshes made by a caller",
                m.refreshes,
            ),
            (
                "credential_cache_background_refreshes",
                "Hot entries renewed by the background refresher",
                m.background_refreshes,
            ),
            (
                "credential_cache_coalesced",
                "Requests that waited for another caller's fetch",
                m.coalesced,
            ),
            (
                "credential_cache_lock_waits",
                "Fetches that waited for another replica's lock",
                m.lock_waits,
            ),
            (
                "credential_cache_stale_served",
                "Entries served from inside the early-refresh window",
                m.stale_served,
            ),
            (
                "credential_cache_negative_hits",
                "Requests answered from the negative cache",
                m.negative_hits,
            ),
            (
                "credential_cache_fetches",
                "Fetches (STS calls) made through the cache",
                m.sts_calls,
            ),
            (
                "credential_cache_fetch_errors",
                "Fetches that failed",
                m.sts_errors,
            ),
            (
                "credential_cache_shared_errors",
                "Redis operations that failed",
                m.shared_errors,
            ),
            (
                "credential_cache_fallbacks",
                "Fetches made without Redis because it failed",
                m.fallbacks,
            ),
            (
                "credential_cache_revocations",
                "Revocations applied",
                m.revocations,
            ),
            (
                "credential_cache_blocked",
                "Requests refused after a revocation",
                m.blocked,
            ),
        ];
        for (name, help, value) in counters {
            let c = ConstCounter::new(value);
            let metric = encoder.encode_descriptor(name, help, None, c.metric_type())?;
            c.encode(metric)?;
        }
        Ok(())
    }
}

/// `tls_expiry` before any TLS listener reported a certificate: no series.
const NO_TLS_LISTENER: i64 = i64::MIN;

/// `fedbroker_tls_listener_certificate_expiry_timestamp_seconds`, only once it is known.
#[derive(Debug)]
struct TlsExpiryCollector(Arc<AtomicI64>);

impl Collector for TlsExpiryCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let not_after = self.0.load(Ordering::Relaxed);
        if not_after == NO_TLS_LISTENER {
            return Ok(());
        }
        let g = ConstGauge::new(not_after);
        let metric = encoder.encode_descriptor(
            "tls_listener_certificate_expiry_timestamp_seconds",
            "notAfter of the leaf certificate the TLS listener serves now (server.tls_cert_file)",
            None,
            g.metric_type(),
        )?;
        g.encode(metric)
    }
}

/// An [`StsClient`] that counts every call by API and outcome.
#[derive(Debug)]
pub struct MeteredSts {
    inner: Arc<dyn StsClient>,
    metrics: Arc<Metrics>,
}

impl MeteredSts {
    pub fn new(inner: Arc<dyn StsClient>, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics }
    }

    fn count(
        &self,
        api: &'static str,
        started: crate::clock::Stopwatch,
        out: Result<StsCredentials, StsError>,
    ) -> Result<StsCredentials, StsError> {
        let outcome = match &out {
            Ok(_) => "ok",
            Err(e) => e.code(),
        };
        self.metrics
            .sts_call(api, outcome, started.elapsed().as_secs_f64());
        out
    }
}

#[async_trait::async_trait]
impl StsClient for MeteredSts {
    async fn assume_role_with_saml(
        &self,
        req: AssumeRoleWithSamlRequest,
    ) -> Result<StsCredentials, StsError> {
        let started = crate::clock::Stopwatch::start();
        let out = self.inner.assume_role_with_saml(req).await;
        self.count("AssumeRoleWithSAML", started, out)
    }

    async fn assume_role_with_web_identity(
        &self,
        req: AssumeRoleWithWebIdentityRequest,
    ) -> Result<StsCredentials, StsError> {
        let started = crate::clock::Stopwatch::start();
        let out = self.inner.assume_role_with_web_identity(req).await;
        self.count("AssumeRoleWithWebIdentity", started, out)
    }

    async fn assume_role(&self, req: AssumeRoleRequest) -> Result<StsCredentials, StsError> {
        let started = crate::clock::Stopwatch::start();
        let out = self.inner.assume_role(req).await;
        self.count("AssumeRole", started, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_and_sts_latency_are_exported_by_route_code_and_operation() {
        let m = Metrics::new();
        m.refused("saml", "saml_replay");
        m.refused("saml", "saml_replay");
        m.refused("oidc_callback", "oidc_state_invalid");
        m.sts_call("AssumeRole", "ok", 0.3);
        m.sts_call("AssumeRole", "sts_unavailable", 12.0);
        let text = m.render();
        for series in [
            r#"fedbroker_credential_refusals_total{route="saml",code="saml_replay"} 2"#,
            r#"fedbroker_credential_refusals_total{route="oidc_callback",code="oidc_state_invalid"} 1"#,
            r#"fedbroker_sts_calls_total{api="AssumeRole",outcome="sts_unavailable"} 1"#,
            r#"fedbroker_sts_call_duration_seconds_bucket{le="0.25",operation="AssumeRole"} 0"#,
            r#"fedbroker_sts_call_duration_seconds_bucket{le="0.5",operation="AssumeRole"} 1"#,
            r#"fedbroker_sts_call_duration_seconds_bucket{le="20.0",operation="AssumeRole"} 2"#,
            r#"fedbroker_sts_call_duration_seconds_count{operation="AssumeRole"} 2"#,
        ] {
            assert!(text.contains(series), "{series} not in:\n{text}");
        }
    }
}
