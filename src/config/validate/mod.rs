//! Semantic checks on a deserialized `Config`, one validator per section; every failure is
//! collected, none stops the others. (IdP metadata is loaded and checked when the application
//! state is built.)
//!
//! Invariants: each validator only pushes into the shared [`ConfigErrors`] (never returns early
//! for the whole config), and [`validate`] runs them in a fixed order, so the list of problems is
//! the same from one run to the next.

mod aws;
mod cache;
mod common;
mod console;
mod issuer;
mod oauth;
mod observability;
mod oidc;
mod saml;
mod server;
#[cfg(test)]
mod tests;

use super::errors::ConfigErrors;
use super::model::Config;

pub use common::is_region;
pub use server::{read_admin_token, MIN_ADMIN_TOKEN_LEN};

/// Every semantic check, section by section, into `errors`.
pub(super) fn validate(cfg: &Config, errors: &mut ConfigErrors) {
    server::check(errors, &cfg.server);
    aws::check(errors, &cfg.aws);
    console::check(errors, &cfg.console);
    cache::check(errors, &cfg.cache);
    server::check_admin_token(errors, &cfg.server);
    saml::check_relay_states(errors, &cfg.saml);
    observability::check(errors, &cfg.audit, &cfg.log);
    saml::check_idps(errors, &cfg.saml);
    oidc::check(errors, &cfg.oidc, &cfg.saml);
    issuer::check(errors, cfg);
    oauth::check(errors, &cfg.oauth);
}
