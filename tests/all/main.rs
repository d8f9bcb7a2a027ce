//! Every integration test, in one test binary (one link of the crate instead of one per file).
//!
//! Modules are grouped by subject (`http`, `saml`, `oidc`, `cache`, ...); the helpers they share
//! (test IdPs, the in-process app, brokers as child processes, Redis topologies, the STS double,
//! config fixtures) are in `support`. Run one group with `cargo test --test all http::`.
//!
//! Invariants: nothing here changes process-wide state a test in another module could observe
//! (environment variables, the working directory, a tracing subscriber other than the one in
//! `support::logs`); tests that reconfigure a shared server (the Sentinel group's master) hold
//! `support::topology::SENTINEL_GROUP` exclusively and every other user of it holds it shared
//! (the failover-under-load tests each fail over a Sentinel group of their own).

mod browser;
mod cache;
mod check_config;
mod e2e;
mod fuzz_corpus;
mod http;
mod identity_attribution;
mod issuer;
mod layout;
mod mapping_rules;
mod oauth;
mod observability_names;
mod oidc;
mod openapi;
mod redis;
mod replay_conformance;
mod saml;
mod sts;
mod support;
mod thumbprint;
