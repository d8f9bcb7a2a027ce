//! Offline command-line tools that reuse the server's code (the clap wiring stays in `main.rs`).
//!
//! - [`saml_check`]: `fedbroker saml-check`, "would the broker accept this SAML Response, and if
//!   not, why?", with the report in [`saml_report`].
//! - [`probe`]: `fedbroker check-config --probe`, contacting every configured service.

pub mod probe;
pub mod saml_check;
pub mod saml_report;
