//! Command-line tools that reuse the server's code (the clap wiring stays in `main.rs`).
//!
//! - [`saml_check`]: `fedbroker saml-check`, "would the broker accept this SAML Response, and if
//!   not, why?", with the report in [`saml_report`].
//! - [`probe`]: `fedbroker check-config --probe`, contacting every configured service.
//! - Sign-in for people at a terminal ([`commands`] holds the verbs): `login` ([`login`],
//!   [`loopback`], [`device`], [`pkce`]), `credentials` ([`credentials`]), `profiles`
//!   ([`profiles`]), `console`, `logout`, `whoami`; the broker calls in [`broker_client`], the
//!   stored session in [`session`] and [`state`].

pub mod broker_client;
pub mod browser;
#[cfg(test)]
mod client_tests;
pub mod commands;
pub mod console;
pub mod credentials;
pub mod device;
pub mod login;
pub mod loopback;
pub mod pkce;
pub mod probe;
pub mod profiles;
pub mod saml_check;
pub mod saml_report;
pub mod session;
pub mod state;
pub mod whoami;
