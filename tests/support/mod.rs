//! Shared test support: an in-process broker (`app`), the test IdP (`saml_idp`), post-signing attack mutators (`mutate`) and the
//! validator harness (`harness`), the in-process HTTP caller (`http`), the STS recorder
//! (`recording_sts`) and the federation endpoint double (`federation`). Included by the SAML
//! integration tests with `mod support;`.
#![allow(dead_code)]

pub mod app;
pub mod encrypt;
pub mod federation;
pub mod harness;
pub mod http;
pub mod mutate;
pub mod recording_sts;
pub mod saml_idp;
