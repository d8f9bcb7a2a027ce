//! Every integration test, in one test binary (one link of the crate instead of one per file).
//!
//! Modules are grouped by subject (`http`, `saml`, `oidc`, `cache`, ...); the helpers they share
//! (test IdPs, the in-process app, brokers as child processes, Redis topologies, the STS double,
//! config fixtures) are in `support`. Run one group with `cargo test --test all http::`.
//!
//! Invariants: nothing here changes process-wide state a test in another module could observe
//! (environment variables, the working directory, a tracing subscriber other than the one in
//! `support::logs`), and no test changes a server another test uses (a test that fails a
//! Sentinel group over or restarts an IdP has one of its own): tests take no locks on each other,
//! so any number of them can run side by side, in threads or in processes.

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
