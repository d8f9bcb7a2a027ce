//! Shared test support for every module of the integration-test binary:
//! - the SAML test IdP (`saml_idp`), post-signing attack mutators (`mutate`), the validator
//!   harness (`harness`), test encryption (`encrypt`), the metadata-refresh fixtures
//!   (`metadata_refresh`);
//! - JWTs from a test OIDC IdP (`jwt_idp`), the real test OIDC IdP (`oidc_idp`), issuer mode
//!   (`issuer`), a TLS test PKI (`tls_pki`);
//! - the in-process broker (`app`) and HTTP caller (`http`), the STS recorder (`recording_sts`),
//!   the federation endpoint double (`federation`), the broker as a child process (`broker`),
//!   the config fragments several tests share (`fixtures`);
//! - credential-cache fixtures (`cache`), the Redis topologies and the Sentinel group
//!   (`topology`), the one process-wide log capture (`logs`).
#![allow(dead_code)]

pub mod app;
pub mod broker;
pub mod cache;
pub mod encrypt;
pub mod federation;
pub mod fixtures;
pub mod harness;
pub mod http;
pub mod issuer;
pub mod jwt_idp;
pub mod logs;
pub mod metadata_refresh;
pub mod mutate;
pub mod oidc_idp;
pub mod recording_sts;
pub mod saml_idp;
pub mod tls_pki;
pub mod topology;
