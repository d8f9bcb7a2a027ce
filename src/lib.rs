//! fedbroker: an identity federation broker from SAML 2.0 / OIDC to AWS STS temporary credentials.
//!
//! Layout and contracts: `README.md` and `docs/`. Data flows protocol validator → `VerifiedIdentity`
//! → mapping → `exchange` → STS; HTTP handlers in `http/` stay thin; `app/` builds the running
//! broker (stores, validators, background tasks) from the `Config`, `trust` loads what it trusts.
#![forbid(unsafe_code)]
// Time decisions read the injected `clock::Clock` (`clippy.toml`, `disallowed-methods`); unit tests
// may read the wall clock.
#![cfg_attr(not(test), warn(clippy::disallowed_methods))]
// An exception to a lint says why (`#[expect(…, reason = "…")]`, see `[lints]` in Cargo.toml).
#![warn(clippy::allow_attributes_without_reason)]

pub mod app;
pub mod audit;
pub mod aws;
pub mod cache;
pub mod cli;
pub mod clock;
pub mod config;
pub mod console;
pub mod error;
pub mod exchange;
pub mod http;
pub mod identity;
pub mod issuer;
pub mod limits;
pub mod mapping;
pub mod oauth;
pub mod oidc;
pub mod redis_link;
pub mod reload;
pub mod replay;
pub mod saml;
pub mod sign_in;
pub mod sts;
pub mod telemetry;
pub mod thumbprint;
pub mod trust;
