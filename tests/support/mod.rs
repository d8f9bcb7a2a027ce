//! Shared test support: the test IdP (`saml_idp`), post-signing attack mutators (`mutate`) and the
//! validator harness (`harness`). Included by the SAML integration tests with `mod support;`.
#![allow(dead_code)]

pub mod harness;
pub mod mutate;
pub mod saml_idp;
