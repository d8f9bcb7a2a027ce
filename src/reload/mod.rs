//! Hot reload of the mapping rules and SAML IdP trust: the swappable snapshot.
//!
//! Invariant: what a reload swaps is one immutable [`Live`] snapshot (the exchange with its rules
//! and SAML validator, and the SAML browser sign-in). A request takes it once (a lock-free
//! `ArcSwap` load) and keeps it to its end, so an in-flight request never mixes old and new rules
//! or IdPs; requests that start after a swap see the new ones.

use crate::exchange::Exchange;
use crate::web::SamlBrowser;
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
