//! Per-provider JWKS cache behind [`KeySource`]: TTL, refetch on unknown `kid` with a cooldown,
//! single flight, stale-while-error.
//!
//! Invariants: time comes from the injected clock; at most one fetch per provider runs at a time
//! and callers that waited for it use its result instead of fetching again; no fetch starts within
//! the provider's refetch cooldown ([`REFETCH_COOLDOWN`] unless configured) of the previous attempt
//! (successful or not), so a flood of tokens with unknown kids or a down IdP costs at most one
//! request per cooldown; cached keys keep serving for
//! up to [`MAX_STALE`] after their last successful fetch when refreshing fails; a fetched JWKS
//! without any usable key does not replace the cached one.

use super::alg::SigningAlg;
use super::fetch::{FetchError, JwksFetcher};
use super::keys::{KeySet, LookupError, TrustedKey};
use super::OidcError;
use crate::clock::SharedClock;
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use std::sync::{Arc, Mutex};

/// Default time a fetched JWKS is used before it is refreshed. IdPs publish new keys ahead of use,
/// and an unknown kid triggers a refetch anyway, so 10 minutes only bounds how long a *removed*
/// (compromised) key keeps verifying.
pub const DEFAULT_JWKS_TTL: Duration = Duration::minutes(10);

/// Default minimum time between two fetches of one provider's keys (panva/jose uses 30 s): bounds
/// the requests an attacker can cause with made-up kids, and the retry rate against a down IdP.
pub const REFETCH_COOLDOWN: Duration = Duration::seconds(30);

/// Longest time cached keys keep serving while the IdP cannot be reached. One day rides out an
/// outage; beyond that a removed key could verify forever, so fail closed.
pub const MAX_STALE: Duration = Duration::hours(24);

/// Where a provider's verification keys come from.
#[async_trait]
pub trait KeySource: Send + Sync + std::fmt::Debug {
    /// The key for a token with this `kid` (if any) and `alg`.
    async fn key_for(
        &self,
        kid: Option<&str>,
        alg: SigningAlg,
    ) -> Result<Arc<TrustedKey>, OidcError>;
}

#[derive(Debug, Default)]
struct State {
    keys: Option<Arc<KeySet>>,
    fetched_at: Option<DateTime<Utc>>,
    last_attempt: Option<DateTime<Utc>>,
    last_error: Option<FetchError>,
    /// Bumped after every fetch attempt: waiters compare it to skip a redundant fetch.
    generation: u64,
}

/// The caching [`KeySource`] of one provider.
#[derive(Debug)]
pub struct JwksCache {
    provider: String,
    fetcher: Arc<dyn JwksFetcher>,
    clock: SharedClock,
    ttl: Duration,
    /// Minimum time between two fetch attempts ([`REFETCH_COOLDOWN`] unless configured).
    cooldown: Duration,
    state: Mutex<State>,
    flight: tokio::sync::Mutex<()>,
}

impl JwksCache {
    pub fn new(
        provider: &str,
        fetcher: Arc<dyn JwksFetcher>,
        clock: SharedClock,
        ttl: Duration,
    ) -> Self {
        Self {
            provider: provider.to_owned(),
            fetcher,
            clock,
            ttl,
            cooldown: REFETCH_COOLDOWN,
            state: Mutex::new(State::default()),
            flight: tokio::sync::Mutex::new(()),
        }
    }

    /// The same with another refetch cooldown than [`REFETCH_COOLDOWN`]
    /// (`[[oidc.providers]] jwks_refetch_cooldown_secs`).
    pub fn with_refetch_cooldown(mut self, cooldown: Duration) -> Self {
        self.cooldown = cooldown;
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Fetch unless another caller fetched since `seen_generation` or the cooldown forbids it.
    async fn refresh(&self, seen_generation: u64) {
        let _flight = self.flight.lock().await;
        {
            let st = self.lock();
            if st.generation != seen_generation {
                return;
            }
            if st
                .last_attempt
                .is_some_and(|t| self.clock.now() - t < self.cooldown)
            {
                return;
            }
        }
        let result = match self.fetcher.fetch_jwks().await {
            Ok(bytes) => KeySet::usable_from_jwks(&bytes).map_err(FetchError::Jwks),
            Err(e) => Err(e),
        };
        let now = self.clock.now();
        let mut st = self.lock();
        st.generation += 1;
        st.last_attempt = Some(now);
        match result {
            Ok(set) => {
                if !set.skipped.is_empty() {
                    tracing::warn!(oidc.provider = %self.provider, oidc.skipped_keys = ?set.skipped, "JWKS keys skipped");
                }
                st.keys = Some(Arc::new(set));
                st.fetched_at = Some(now);
                st.last_error = None;
            }
            Err(e) => {
                tracing::warn!(oidc.provider = %self.provider, oidc.error = ?e, "JWKS refresh failed");
                st.last_error = Some(e);
            }
        }
    }

    fn unavailable(&self, st: &State) -> OidcError {
        let now = self.clock.now();
        let retry_after = st
            .last_attempt
            .map(|t| (self.cooldown - (now - t)).num_seconds())
            .unwrap_or(1)
            .max(1) as u64;
        let provider = self.provider.clone();
        match &st.last_error {
            Some(FetchError::Discovery(why)) => OidcError::DiscoveryFailed {
                provider,
                why: why.clone(),
                retry_after,
            },
            Some(FetchError::Jwks(why)) => OidcError::JwksUnavailable {
                provider,
                why: why.clone(),
                retry_after,
            },
            None => OidcError::JwksUnavailable {
                provider,
                why: "no keys have been fetched yet".into(),
                retry_after,
            },
        }
    }

    fn lookup(
        &self,
        keys: &KeySet,
        kid: Option<&str>,
        alg: SigningAlg,
    ) -> Result<Arc<TrustedKey>, OidcError> {
        keys.select(kid, alg).map_err(|e| match e {
            LookupError::NotFound => OidcError::KeyNotFound {
                provider: self.provider.clone(),
            },
            LookupError::Ambiguous => OidcError::KeyAmbiguous {
                provider: self.provider.clone(),
            },
        })
    }
}

#[async_trait]
impl KeySource for JwksCache {
    async fn key_for(
        &self,
        kid: Option<&str>,
        alg: SigningAlg,
    ) -> Result<Arc<TrustedKey>, OidcError> {
        let (keys, fetched_at, generation) = {
            let st = self.lock();
            (st.keys.clone(), st.fetched_at, st.generation)
        };
        let now = self.clock.now();
        if let (Some(keys), Some(at)) = (&keys, fetched_at) {
            if now - at < self.ttl {
                match keys.select(kid, alg) {
                    Ok(k) => return Ok(k),
                    Err(LookupError::Ambiguous) => return self.lookup(keys, kid, alg),
                    Err(LookupError::NotFound) => {} // maybe rotated: refetch (cooldown applies)
                }
            }
        }
        self.refresh(generation).await;
        let st = self.lock();
        let now = self.clock.now();
        match (&st.keys, st.fetched_at) {
            (Some(keys), Some(at)) if now - at <= MAX_STALE => self.lookup(keys, kid, alg),
            _ => Err(self.unavailable(&st)),
        }
    }
}
